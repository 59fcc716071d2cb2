// Audit policy evaluation exactly as kube-apiserver does it (k8s.io/apiserver
// pkg/audit/policy/checker.go; where its code and its documentation differ, the code):
// the first rule whose every set selector matches decides the level; no match is None.
// Each part of a rule's match is its own function, so the policy checker's
// three-valued evaluation (check.ts) applies the very same tests.
import {
  type AuditConfig, type Level, type Policy, type PolicyRule, type RequestAttributes, type ResourceAttributes, type Stage,
  levelRank,
} from './model.js';

export function usersMatch(r: PolicyRule, user: string): boolean {
  return r.users.length === 0 || r.users.includes(user);
}

/** A user matches when any of its groups is listed. */
export function groupsMatch(r: PolicyRule, groups: readonly string[]): boolean {
  return r.userGroups.length === 0 || groups.some((g) => r.userGroups.includes(g));
}

export function verbsMatch(r: PolicyRule, verb: string): boolean {
  return r.verbs.length === 0 || r.verbs.includes(verb);
}

/** Whether the rule selects resource requests (namespaces or resources set). */
export function selectsResources(r: PolicyRule): boolean {
  return r.namespaces.length > 0 || r.resources.length > 0;
}

/** ruleMatchesResource: undefined `res` is a non-resource request. */
export function resourceMatches(r: PolicyRule, res: ResourceAttributes | undefined): boolean {
  if (res === undefined) return false;
  if (r.namespaces.length > 0 && !r.namespaces.includes(res.namespace)) return false;
  if (r.resources.length === 0) return true;
  const combined = res.subresource !== '' ? `${res.resource}/${res.subresource}` : res.resource;
  for (const gr of r.resources) {
    if (gr.group !== res.apiGroup && gr.group !== '*') continue;
    // An empty resources list matches the whole group, names or not.
    if (gr.resources.length === 0) return true;
    for (const spec of gr.resources) {
      if (gr.resourceNames.length > 0 && !gr.resourceNames.includes(res.name)) continue;
      if (spec === combined || spec === '*') return true;
      if (res.subresource !== '' && spec.startsWith('*/') && res.subresource === spec.slice(2)) return true;
      // `pods/*` matches every subresource of pods, and pods itself.
      if (spec.endsWith('/*') && res.resource === spec.slice(0, -2)) return true;
    }
  }
  return false;
}

/** pathMatches: `*`, the exact path, or a trailing `*` as a prefix. */
export function pathMatches(path: string, spec: string): boolean {
  if (spec === '*' || spec === path) return true;
  // strings.TrimRight(spec, "*"): every trailing star goes.
  return spec.endsWith('*') && path.startsWith(spec.replace(/\*+$/, ''));
}

/** ruleMatchesNonResource: undefined `res` is a non-resource request. */
export function nonResourceMatches(r: PolicyRule, res: ResourceAttributes | undefined, path: string): boolean {
  if (res !== undefined) return false;
  return r.nonResourceURLs.some((spec) => pathMatches(path, spec));
}

/** The part of the match that is about the target: resources and namespaces, or URLs, or anything. */
export function targetMatches(r: PolicyRule, res: ResourceAttributes | undefined, path: string): boolean {
  if (selectsResources(r)) return resourceMatches(r, res);
  if (r.nonResourceURLs.length > 0) return nonResourceMatches(r, res, path);
  return true;
}

export function ruleMatches(r: PolicyRule, a: RequestAttributes): boolean {
  return usersMatch(r, a.user) && groupsMatch(r, a.groups) && verbsMatch(r, a.verb) && targetMatches(r, a.resource, a.path);
}

const configCache = new WeakMap<Policy, AuditConfig[]>();

/** The config of each rule, and of the default (last), computed once per policy. */
function configs(p: Policy): AuditConfig[] {
  let c = configCache.get(p);
  if (c === undefined) {
    c = p.rules.map((r, i) => ({
      rule: i, level: r.level,
      omitStages: new Set<Stage>([...p.omitStages, ...r.omitStages]),
      omitManagedFields: r.omitManagedFields ?? p.omitManagedFields,
    }));
    c.push({ rule: -1, level: 'None', omitStages: new Set(p.omitStages), omitManagedFields: p.omitManagedFields });
    configCache.set(p, c);
  }
  return c;
}

/** Forgets the configs computed for a policy (after changing it in place). */
export function forgetPolicy(p: Policy): void {
  configCache.delete(p);
}

/** The config of rule `i` (-1: the default). */
export function configOf(p: Policy, i: number): AuditConfig {
  const c = configs(p);
  return i < 0 ? c[c.length - 1] : c[i];
}

/** EvaluatePolicyRule: how the apiserver logs a request with these attributes. */
export function evaluatePolicy(p: Policy, a: RequestAttributes): AuditConfig {
  for (let i = 0; i < p.rules.length; i++) if (ruleMatches(p.rules[i], a)) return configOf(p, i);
  return configOf(p, -1);
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The attributes of a logged event (a parsed audit.k8s.io/v1 Event). */
export function attributesOfEvent(ev: any): RequestAttributes {
  const ref = ev?.objectRef;
  const groups = Array.isArray(ev?.user?.groups) ? ev.user.groups.filter((g: unknown) => typeof g === 'string') : [];
  const uri = str(ev?.requestURI);
  const q = uri.indexOf('?');
  return {
    user: str(ev?.user?.username),
    groups,
    verb: str(ev?.verb),
    resource: ref !== null && typeof ref === 'object'
      ? { namespace: str(ref.namespace), apiGroup: str(ref.apiGroup), resource: str(ref.resource), subresource: str(ref.subresource), name: str(ref.name) }
      : undefined,
    path: q < 0 ? uri : uri.slice(0, q),
  };
}

/** The first matching rule for a logged event, or undefined (the default: None). */
export function ruleFor(p: Policy, ev: unknown): PolicyRule | undefined {
  const c = evaluatePolicy(p, attributesOfEvent(ev));
  return c.rule < 0 ? undefined : p.rules[c.rule];
}

function withoutManagedFields(o: any): any {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return o;
  let out = o;
  if (o.metadata !== null && typeof o.metadata === 'object' && 'managedFields' in o.metadata) {
    const { managedFields: _drop, ...metadata } = o.metadata;
    out = { ...out, metadata };
  }
  // Lists and Tables (copyWithoutManagedFields): every item, every row's object.
  if (Array.isArray(o.items)) out = { ...out, items: o.items.map(withoutManagedFields) };
  if (o.kind === 'Table' && Array.isArray(o.rows)) {
    out = { ...out, rows: o.rows.map((r: any) => (r && typeof r === 'object' ? { ...r, object: withoutManagedFields(r.object) } : r)) };
  }
  return out;
}

/**
 * The event as an apiserver with this policy would have logged it, or undefined when it
 * would not have been: None, or an omitted stage. Bodies the level does not keep go;
 * managed fields go when the rule (or the policy) omits them, except from a patch's
 * request body, which is the patch itself. The level is never raised above the event's.
 */
export function applyPolicy(p: Policy, ev: any): any | undefined {
  const c = evaluatePolicy(p, attributesOfEvent(ev));
  if (c.level === 'None' || c.omitStages.has(ev?.stage)) return undefined;
  const had = typeof ev.level === 'string' && levelRank(ev.level as Level) >= 0 ? (ev.level as Level) : 'RequestResponse';
  const level = levelRank(had) < levelRank(c.level) ? had : c.level;
  const out = { ...ev, level };
  if (levelRank(level) < levelRank('Request')) delete out.requestObject;
  if (levelRank(level) < levelRank('RequestResponse')) delete out.responseObject;
  if (c.omitManagedFields) {
    if (out.requestObject !== undefined && ev.verb !== 'patch') out.requestObject = withoutManagedFields(out.requestObject);
    if (out.responseObject !== undefined) out.responseObject = withoutManagedFields(out.responseObject);
  }
  return out;
}
