// kube-apiserver's audit policy evaluation, enough to apply a Policy to recorded events
// (k8s.io/apiserver/pkg/audit/policy/checker.go): the first matching rule decides the
// level; users, userGroups, verbs, namespaces, resources and nonResourceURLs must all
// match when set; `pods` does not match `pods/exec`, `pods/*` and `*/exec` do.
const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'];

export interface PolicyRule {
  level: string;
  users?: string[];
  userGroups?: string[];
  verbs?: string[];
  namespaces?: string[];
  resources?: { group?: string; resources?: string[]; resourceNames?: string[] }[];
  nonResourceURLs?: string[];
  omitStages?: string[];
  omitManagedFields?: boolean;
}

export interface Policy {
  apiVersion: string;
  kind: string;
  rules: PolicyRule[];
  omitStages?: string[];
  omitManagedFields?: boolean;
}

export const RULE_KEYS = ['level', 'users', 'userGroups', 'verbs', 'namespaces', 'resources', 'nonResourceURLs', 'omitStages', 'omitManagedFields'];
export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'];
export { LEVELS };

function resourceMatches(rule: PolicyRule, ev: any): boolean {
  const ref = ev.objectRef;
  if (!ref) return false;
  const combined = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
  return rule.resources!.some((gr) => {
    if ((gr.group ?? '') !== '*' && (gr.group ?? '') !== (ref.apiGroup ?? '')) return false;
    if (gr.resourceNames?.length && !gr.resourceNames.includes(ref.name)) return false;
    if (!gr.resources?.length) return true;
    return gr.resources.some((r) => r === '*' || r === combined
      || (ref.subresource && (r === `${ref.resource}/*` || r === `*/${ref.subresource}`)));
  });
}

function pathMatches(patterns: string[], uri: string): boolean {
  const path = uri.split('?')[0];
  return patterns.some((p) => p === '*' || p === path || (p.endsWith('*') && path.startsWith(p.slice(0, -1))));
}

export function ruleFor(policy: Policy, ev: any): PolicyRule | undefined {
  return policy.rules.find((r) => {
    if (r.users && !r.users.includes(ev.user?.username)) return false;
    if (r.userGroups && !r.userGroups.some((g) => (ev.user?.groups ?? []).includes(g))) return false;
    if (r.verbs && !r.verbs.includes(ev.verb)) return false;
    if (r.namespaces && !(ev.objectRef && r.namespaces.includes(ev.objectRef.namespace ?? ''))) return false;
    if (r.resources && !resourceMatches(r, ev)) return false;
    if (r.nonResourceURLs && (ev.objectRef || !pathMatches(r.nonResourceURLs, ev.requestURI))) return false;
    return true;
  });
}

function stripManagedFields(o: any): any {
  if (!o || typeof o !== 'object' || !o.metadata) return o;
  const { managedFields: _drop, ...metadata } = o.metadata;
  return { ...o, metadata };
}

/** The event as an apiserver with this policy would have logged it, or undefined. */
export function applyPolicy(policy: Policy, ev: any): any | undefined {
  const rule = ruleFor(policy, ev);
  const level = rule?.level ?? 'None';
  if (level === 'None') return undefined;
  if ([...(policy.omitStages ?? []), ...(rule?.omitStages ?? [])].includes(ev.stage)) return undefined;
  const out = { ...ev, level };
  const omitMF = rule?.omitManagedFields ?? policy.omitManagedFields ?? false;
  if (level === 'Metadata') {
    delete out.requestObject;
    delete out.responseObject;
  } else if (level === 'Request') {
    delete out.responseObject;
  }
  if (omitMF) {
    if (out.requestObject) out.requestObject = stripManagedFields(out.requestObject);
    if (out.responseObject) out.responseObject = stripManagedFields(out.responseObject);
  }
  return out;
}
