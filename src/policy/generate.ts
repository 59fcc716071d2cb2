// `peregrine policy generate`: the smallest audit Policy that feeds every loaded rule.
// From each rule's request classes (analysis.ts): a rule that reads a body gets the
// level that keeps it for the verbs and resources it can match; a rule that can match
// the RequestReceived stage keeps that stage there; constant noise that no loaded rule
// can match is not logged; everything else is logged at Metadata. The result is then
// checked like any policy, and wherever a rule would still lose an alert the policy
// rule responsible is raised until none does.
import type { Ruleset } from '../rules/ruleset.js';
import {
  type GroupResources, type Level, type Policy, type PolicyRule, type Stage, emptyRule, levelRank,
} from './model.js';
import {
  type A, type Assign, type Domains, FRESH, NA, RegionSolver, type RuleClass, type RuleModel, classMembers, domainsFor, isVariant, outcomes,
  ruleClasses,
} from './analysis.js';
import { RulesetModel } from './check.js';
import { forgetPolicy } from './evaluate.js';
import { BUILTIN_RESOURCE_GROUPS, BUILTIN_SUBRESOURCES } from './k8s-api.js';

interface Need {
  level: Level;
  managedFields: boolean;
  /** The class can match the RequestReceived stage: keep it there. */
  early: boolean;
  /** Fields that ask for the level, for the comment. */
  fields: string[];
}

/** A selector asked for by some rules, for some of their fields. */
interface Item {
  sel: PolicyRule;
  names: Set<string>;
  fields: Set<string>;
}

/** Merges selectors that differ in one list only (verbs, or targets): exact, no cross product. */
function mergeItems(items: Item[]): Item[] {
  let out = items.map((it) => ({ sel: { ...it.sel }, names: new Set(it.names), fields: new Set(it.fields) }));
  const keyWithout = (r: PolicyRule, what: 'verbs' | 'target'): string => JSON.stringify({
    verbs: what === 'verbs' ? null : r.verbs, namespaces: r.namespaces,
    resources: what === 'target' ? r.resources.length > 0 : r.resources,
    urls: what === 'target' ? r.nonResourceURLs.length > 0 : r.nonResourceURLs,
  });
  for (const what of ['verbs', 'target', 'verbs'] as const) {
    const byKey = new Map<string, Item>();
    for (const it of out) {
      const k = keyWithout(it.sel, what);
      const prev = byKey.get(k);
      if (prev === undefined) {
        byKey.set(k, it);
        continue;
      }
      const r = it.sel;
      if (what === 'verbs') {
        prev.sel.verbs = prev.sel.verbs.length === 0 || r.verbs.length === 0 ? [] : sortedUnion(prev.sel.verbs, r.verbs);
      } else {
        prev.sel.nonResourceURLs = prev.sel.nonResourceURLs.includes('*') || r.nonResourceURLs.includes('*') ? ['*'] : sortedUnion(prev.sel.nonResourceURLs, r.nonResourceURLs);
        prev.sel.resources = mergeResources([...prev.sel.resources, ...r.resources]);
      }
      for (const n of it.names) prev.names.add(n);
      for (const f of it.fields) prev.fields.add(f);
    }
    out = [...byKey.values()];
  }
  return out;
}

/** Whether `a`'s selector matches every request `b`'s does (users and groups are never set here). */
function covers(a: PolicyRule, b: PolicyRule): boolean {
  const sub = (x: string[], y: string[]): boolean => x.length === 0 || (y.length > 0 && y.every((v) => x.includes(v)));
  if (!sub(a.verbs, b.verbs) || !sub(a.namespaces, b.namespaces)) return false;
  const aTarget = a.resources.length > 0 || a.nonResourceURLs.length > 0;
  if (!aTarget) return true;
  if (b.resources.length > 0) {
    return a.resources.length > 0 && b.resources.every((gb) => gb.resources.every((spec) => a.resources.some((ga) =>
      (ga.group === '*' || ga.group === gb.group) && ga.resourceNames.length === 0
      && (ga.resources.length === 0 || ga.resources.some((s) => specCovers(s, spec))))));
  }
  if (b.nonResourceURLs.length > 0) return a.nonResourceURLs.length > 0 && b.nonResourceURLs.every((u) => a.nonResourceURLs.some((s) => s === '*' || s === u || (s.endsWith('*') && u.startsWith(s.replace(/\*+$/, '')))));
  return false;
}

function specCovers(a: string, b: string): boolean {
  if (a === '*' || a === b) return true;
  const [ar, as] = a.split('/', 2);
  const [br, bs] = b.split('/', 2);
  if (as === '*' && ar === br) return true;
  return ar === '*' && as !== undefined && as === bs;
}

/** How narrow a selector is: broader ones go first among equals, and cover the narrower. */
function specificity(r: PolicyRule): number {
  return (r.verbs.length ? 1 : 0) + (r.namespaces.length ? 1 : 0) + (r.resources.length || r.nonResourceURLs.length ? 1 : 0);
}

interface Dedicated extends Draft {
  need: Need;
  fields: Set<string>;
}

/** A policy rule being built, with why it is there. */
interface Draft {
  rule: PolicyRule;
  comment: string[];
  /** Loaded rules that asked for it. */
  rules: string[];
  noise: boolean;
}

const maxLevel = (a: Level, b: Level): Level => (levelRank(a) >= levelRank(b) ? a : b);

/** What a class of a rule's requests needs logged. */
function needOf(m: RuleModel, c: RuleClass): Need {
  let level: Level = 'Metadata';
  let managedFields = false;
  const fields: Array<[string, Level]> = [];
  for (const k of c.deps) {
    const b = m.bodies[k];
    level = maxLevel(level, b.level);
    managedFields ||= b.managedFields;
    for (const f of b.fields) fields.push([f, b.level]);
  }
  for (const f of m.output) {
    if (levelRank(f.level) > levelRank('Metadata') || f.managedFields) fields.push([f.name, f.level]);
    level = maxLevel(level, f.level);
    managedFields ||= f.managedFields;
  }
  const early = c.assign.stage === undefined || c.assign.stage === 'RequestReceived';
  // The fields that ask for the highest level first: they say why the level is what it is.
  const names = fields.sort((x, y) => levelRank(y[1]) - levelRank(x[1])).map(([n]) => n);
  return { level, managedFields, early, fields: [...new Set(names)] };
}

/**
 * The values of an attribute a class covers: the representative's whole class, or
 * undefined for "any" (the attribute is free, or the class holds values no constant names).
 */
function valuesOf(d: Domains, x: A, a: Assign): string[] | undefined {
  const v = a[x];
  if (v === undefined || v === NA) return undefined;
  const all = classMembers(d, x, v);
  if (all.some((m) => m === FRESH[x] || isVariant(m))) return undefined;
  return [...new Set(all)].sort();
}

/** The narrowest policy selectors that cover a class (users and groups left open). */
function selectorsOf(d: Domains, a: Assign): PolicyRule[] {
  const r = emptyRule('Metadata');
  r.verbs = valuesOf(d, 'verb', a) ?? [];
  if (a.isResource === '0') {
    r.nonResourceURLs = valuesOf(d, 'path', a) ?? ['*'];
    return [r];
  }
  if (a.isResource !== '1') return [r];
  const namespaces = valuesOf(d, 'namespace', a);
  if (namespaces) r.namespaces = namespaces;
  const resources = valuesOf(d, 'resource', a) ?? ['*'];
  const subs = a.subresource === undefined ? undefined : valuesOf(d, 'subresource', a);
  const groups = valuesOf(d, 'apiGroup', a) ?? ['*'];
  const specs: string[] = [];
  for (const res of resources) {
    if (subs === undefined) {
      // A built-in resource without subresources is itself; others come with all theirs.
      specs.push(res !== '*' && BUILTIN_RESOURCE_GROUPS.has(res) && !BUILTIN_SUBRESOURCES.has(res) ? res : res === '*' ? '*' : `${res}/*`);
    } else {
      for (const sub of subs) specs.push(sub === '' ? res : `${res}/${sub}`);
    }
  }
  r.resources = groups.map((group) => ({ group, resources: [...new Set(specs)], resourceNames: [] }));
  return [r];
}

const sortedUnion = (a: string[], b: string[]): string[] => [...new Set([...a, ...b])].sort();

function mergeResources(items: GroupResources[]): GroupResources[] {
  const byGroup = new Map<string, Set<string>>();
  for (const gr of items) {
    const s = byGroup.get(gr.group) ?? new Set<string>();
    for (const r of gr.resources) s.add(r);
    byGroup.set(gr.group, s);
  }
  return [...byGroup.entries()].map(([group, s]) => {
    const list = s.has('*') ? ['*'] : [...s].sort();
    return { group, resources: list, resourceNames: [] };
  });
}

/** The noise worth not logging, each with the identities it may be restricted to. */
interface NoiseTarget {
  what: string;
  verbs?: string[];
  urls?: string[];
  resources?: GroupResources[];
  /** Fixed identity (the noise is that of these components only). */
  users?: string[];
  userGroups?: string[];
}

const PROBE_URLS = ['/healthz', '/healthz/*', '/livez', '/livez/*', '/readyz', '/readyz/*'];
const DISCOVERY_URLS = ['/version', '/version/*', '/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/metrics'];

const NOISE: NoiseTarget[] = [
  { what: 'Health probes, API discovery, version and metrics scrapes.', urls: [...PROBE_URLS, ...DISCOVERY_URLS] },
  {
    what: 'Node heartbeats: kubelets renew their lease and report node status every 10 s.',
    userGroups: ['system:nodes'], verbs: ['get', 'update', 'patch'],
    resources: [{ group: 'coordination.k8s.io', resources: ['leases'], resourceNames: [] }, { group: '', resources: ['nodes', 'nodes/status'], resourceNames: [] }],
  },
  {
    what: 'Leader election of the control plane\'s own components.',
    users: ['system:kube-controller-manager', 'system:kube-scheduler'], verbs: ['get', 'update'],
    resources: [{ group: 'coordination.k8s.io', resources: ['leases'], resourceNames: [] }],
  },
  {
    what: 'kube-proxy\'s watches of the service topology.',
    users: ['system:kube-proxy'], verbs: ['watch'],
    resources: [{ group: '', resources: ['endpoints', 'services', 'services/status'], resourceNames: [] }, { group: 'discovery.k8s.io', resources: ['endpointslices'], resourceNames: [] }],
  },
  {
    what: 'Kubernetes Event objects, written constantly by the cluster itself.',
    resources: [{ group: '', resources: ['events'], resourceNames: [] }, { group: 'events.k8s.io', resources: ['events'], resourceNames: [] }],
  },
];

/**
 * Who noise may be narrowed to when some rule matches it for everyone: each group lists
 * alternatives, broadest first, of which the first that no rule matches is taken.
 */
type Identity = { users?: string[]; userGroups?: string[] };
const EVERYONE: Identity = {};
const IDENTITY_GROUPS: Identity[][] = [
  [{ userGroups: ['system:nodes', 'system:serviceaccounts'] }, { userGroups: ['system:nodes'] }, { userGroups: ['system:serviceaccounts'] }],
  [{ users: ['system:kube-controller-manager', 'system:kube-scheduler', 'system:kube-proxy', 'system:apiserver'] }],
  [{ users: ['system:anonymous'] }],
];
const IDENTITIES: Identity[] = [EVERYONE, ...IDENTITY_GROUPS.flat()];

function noiseItems(t: NoiseTarget): Array<{ urls?: string[]; resources?: GroupResources[] }> {
  return t.urls
    ? t.urls.map((u) => ({ urls: [u] }))
    : t.resources!.flatMap((gr) => gr.resources.map((res) => ({ resources: [{ group: gr.group, resources: [res], resourceNames: [] }] })));
}

function noiseRule(t: NoiseTarget, id: Identity, urls?: string[], resources?: GroupResources[]): PolicyRule {
  const r = emptyRule('None');
  r.users = t.users ?? id.users ?? [];
  r.userGroups = t.userGroups ?? id.userGroups ?? [];
  r.verbs = t.verbs ?? [];
  if (urls) r.nonResourceURLs = urls;
  if (resources) r.resources = resources;
  return r;
}

interface Analysed {
  m: RuleModel;
  d: Domains;
  classes: RuleClass[];
}

export interface Generated {
  policy: Policy;
  text: string;
}

/** The policy for a ruleset, with its YAML text. */
export function generatePolicy(ruleset: Ruleset, sources: string[]): Generated {
  const rm = new RulesetModel(ruleset);
  // Domains that know every constant the candidate noise rules use.
  const catalog: Policy = { file: '<catalog>', omitStages: [], omitManagedFields: false, rules: [] };
  for (const t of NOISE) {
    for (const it of noiseItems(t)) for (const id of IDENTITIES) catalog.rules.push(noiseRule(t, id, it.urls, it.resources));
  }
  const analysed: Analysed[] = rm.models.map((m) => {
    const d = domainsFor(m, catalog);
    return { m, d, classes: ruleClasses(m, d) };
  });

  // ---- Noise: kept only where no loaded rule can match it.
  const clean = (r: PolicyRule): boolean => {
    const p: Policy = { file: '<noise>', omitStages: [], omitManagedFields: false, rules: [r] };
    const solver = new RegionSolver(p);
    for (const { d, classes } of analysed) {
      for (const c of classes) {
        const stages: Stage[] = c.assign.stage !== undefined ? [c.assign.stage as Stage] : ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'];
        for (const stage of stages) if (solver.sat(0, { ...c.assign, stage }, d)) return false;
      }
    }
    return true;
  };
  const noise: Draft[] = [];
  for (const t of NOISE) {
    const items = noiseItems(t);
    const fixedIdentity = t.users !== undefined || t.userGroups !== undefined;
    // Per identity, the items no rule can match when sent by it.
    const kept = new Map<Identity, number[]>();
    const keep = (id: Identity, k: number): void => {
      const l = kept.get(id) ?? [];
      l.push(k);
      kept.set(id, l);
    };
    items.forEach((it, k) => {
      if (clean(noiseRule(t, EVERYONE, it.urls, it.resources))) return keep(EVERYONE, k);
      if (fixedIdentity) return;
      for (const alternatives of IDENTITY_GROUPS) {
        const id = alternatives.find((a) => clean(noiseRule(t, a, it.urls, it.resources)));
        if (id) keep(id, k);
      }
    });
    for (const id of IDENTITIES) {
      const ks = kept.get(id);
      if (!ks) continue;
      const urls = t.urls ? ks.map((k) => items[k].urls![0]) : undefined;
      const resources = t.resources ? mergeResources(ks.flatMap((k) => items[k].resources!)) : undefined;
      const r = noiseRule(t, id, urls, resources);
      const comment = [t.what];
      if (!fixedIdentity && id !== EVERYONE) {
        const who = [...(id.users ?? []), ...(id.userGroups ?? []).map((g) => `group ${g}`)].join(', ');
        comment.push(`Only from ${who}: some loaded rule can match the same requests from others.`);
      } else if (ks.length < items.length) {
        comment.push('Some loaded rule can match the rest.');
      }
      noise.push({ rule: r, comment, rules: [], noise: true });
    }
  }

  // ---- What each rule needs beyond Metadata, or at the RequestReceived stage: one
  // selector per class, merged per need across rules, then dropped where an earlier
  // (broader, higher) one already covers it.
  const byNeed = new Map<string, { need: Need; items: Item[] }>();
  for (const { m, d, classes } of analysed) {
    for (const c of classes) {
      const need = needOf(m, c);
      if (need.level === 'Metadata' && !need.managedFields && !need.early) continue;
      const k = JSON.stringify([need.level, need.managedFields, need.early]);
      const g = byNeed.get(k) ?? { need: { ...need, fields: [] }, items: [] };
      for (const sel of selectorsOf(d, c.assign)) g.items.push({ sel, names: new Set([m.rule.name]), fields: new Set(need.fields) });
      byNeed.set(k, g);
    }
  }
  let dedicated: Dedicated[] = [];
  for (const g of byNeed.values()) {
    for (const it of mergeItems(g.items)) {
      it.sel.level = g.need.level;
      if (g.need.managedFields) it.sel.omitManagedFields = false;
      dedicated.push({ rule: it.sel, comment: [], rules: [...it.names], noise: false, need: g.need, fields: it.fields });
    }
  }
  dedicated.sort((x, y) => levelRank(y.rule.level) - levelRank(x.rule.level) || Number(y.need.managedFields) - Number(x.need.managedFields)
    || Number(y.need.early) - Number(x.need.early) || specificity(x.rule) - specificity(y.rule));
  const kept: Dedicated[] = [];
  for (const d of dedicated) {
    const by = kept.find((k) => levelRank(k.rule.level) >= levelRank(d.rule.level) && (k.need.managedFields || !d.need.managedFields)
      && (k.need.early || !d.need.early) && covers(k.rule, d.rule));
    if (by) {
      for (const n of d.rules) if (!by.rules.includes(n)) by.rules.push(n);
      for (const f of d.fields) by.fields.add(f);
    } else {
      kept.push(d);
    }
  }
  dedicated = kept;
  const anyEarly = dedicated.some((d) => d.need.early);
  for (const d of dedicated) {
    const names = d.rules.length > 6 ? `${d.rules.slice(0, 6).join(', ')} and ${d.rules.length - 6} more` : d.rules.join(', ');
    const fields = [...d.fields];
    if (d.rule.level !== 'Metadata' || d.need.managedFields) {
      const shown = fields.length > 4 ? `${fields.slice(0, 4).join(', ')} and ${fields.length - 4} more` : fields.join(', ');
      d.comment.push(`${d.rule.level}${d.need.managedFields ? ' with managed fields' : ''}: ${names} read${d.rules.length === 1 ? 's' : ''} ${shown}.`);
      if (d.need.early) d.comment.push('The RequestReceived stage is kept: one of them can match it.');
    } else {
      d.comment.push(`${names} can match the RequestReceived stage, which is kept here.`);
    }
  }

  const catchAll: Draft = { rule: emptyRule('Metadata'), comment: ['Everything else: who did what to which object, from where, and the answer.'], rules: [], noise: false };
  const drafts: Draft[] = [...noise, ...dedicated, catchAll];
  const policy: Policy = {
    file: '<generated>', omitManagedFields: true, omitStages: anyEarly ? [] : ['RequestReceived'],
    rules: drafts.map((d) => d.rule),
  };
  if (anyEarly) {
    for (const d of drafts) {
      if (d.noise) continue;
      const keep = 'need' in d && (d as { need: Need }).need.early;
      d.rule.omitStages = keep ? [] : ['RequestReceived'];
    }
  }
  repair(analysed, policy, drafts);
  policy.rules.forEach((r, i) => {
    const w = sensitive(r);
    if (w.length) drafts[i].comment.push(`Careful: ${w.join('; ')}.`);
  });
  return { policy, text: render(policy, drafts, sources, ruleset.rules.length) };
}

/**
 * Checks the policy and raises whatever still changes a rule's alerts (a level a broad
 * rule sets, a stage it omits, noise some rule matches after all), until nothing does.
 */
function repair(analysed: Analysed[], policy: Policy, drafts: Draft[]): void {
  for (let round = 0; round < 10; round++) {
    const solver = new RegionSolver(policy);
    const fixes = new Map<number, { level?: Level; managedFields?: boolean; stages: Set<Stage>; remove?: boolean; why: Set<string> }>();
    const fix = (i: number) => {
      let f = fixes.get(i);
      if (!f) fixes.set(i, (f = { stages: new Set(), why: new Set() }));
      return f;
    };
    for (const { m } of analysed) {
      const d = domainsFor(m, policy);
      for (const o of outcomes(m, ruleClasses(m, d), policy, d, solver)) {
        if (o.effect === 'ok' || o.region < 0) continue;
        const f = fix(o.region);
        if (o.effect === 'none') {
          f.remove = true;
        } else if (o.effect === 'stage') {
          f.stages.add(o.stage);
          f.why.add(`Keeps the ${o.stage} stage: ${m.rule.name} can match it.`);
        } else if (o.need !== undefined && levelRank(o.need) > levelRank(policy.rules[o.region].level)) {
          if (f.level === undefined || levelRank(o.need) > levelRank(f.level)) f.level = o.need;
          f.why.add(`${o.need}: ${m.rule.name} reads ${o.fields.join(', ')}.`);
        } else {
          f.managedFields = true;
          f.why.add(`Keeps managed fields: ${m.rule.name} reads them.`);
        }
      }
    }
    if (fixes.size === 0) return;
    for (const [i, f] of [...fixes.entries()].sort((x, y) => y[0] - x[0])) {
      const r = policy.rules[i];
      if (f.remove) {
        policy.rules.splice(i, 1);
        drafts.splice(i, 1);
        continue;
      }
      if (f.level) r.level = f.level;
      if (f.managedFields) r.omitManagedFields = false;
      for (const st of f.stages) {
        if (policy.omitStages.includes(st)) {
          // A policy-wide omission cannot be undone by a rule: it moves to each rule.
          policy.omitStages = policy.omitStages.filter((x) => x !== st);
          for (const x of policy.rules) if (x.level !== 'None') x.omitStages = [...new Set([...x.omitStages, st])];
        }
        r.omitStages = r.omitStages.filter((x) => x !== st);
      }
      drafts[i].comment.push(...f.why);
    }
    forgetPolicy(policy);
  }
  throw new Error('policy generate: the policy still starves some rule after 10 rounds of repair');
}

/** Bodies that hold credentials, which a rule logging them writes into the audit log. */
const SENSITIVE: Array<{ resource: string; level: Level; what: string }> = [
  { resource: 'secrets', level: 'Request', what: 'secret values (secrets) go into the audit log' },
  { resource: 'configmaps', level: 'Request', what: 'configmap data, credentials included if someone put them there, goes into the audit log' },
  { resource: 'tokenreviews', level: 'Request', what: 'the bearer tokens reviewed (tokenreviews) go into the audit log' },
  { resource: 'serviceaccounts/token', level: 'RequestResponse', what: 'issued service account tokens go into the audit log' },
];

function sensitive(r: PolicyRule): string[] {
  if (levelRank(r.level) < levelRank('Request') || r.nonResourceURLs.length > 0) return [];
  return SENSITIVE.filter((x) => levelRank(r.level) >= levelRank(x.level) && (r.resources.length === 0
    || r.resources.some((gr) => gr.resources.length === 0 || gr.resources.some((spec) => specCovers(spec, x.resource)))))
    .map((x) => x.what);
}

const q = (s: string): string => JSON.stringify(s);
const list = (xs: string[]): string => `[${xs.map(q).join(', ')}]`;

function render(p: Policy, drafts: Draft[], sources: string[], ruleCount: number): string {
  const out: string[] = [];
  out.push('# kube-apiserver audit Policy (--audit-policy-file), written by `peregrine policy generate`');
  out.push(`# for ${ruleCount} rules loaded from ${sources.join(', ')}.`);
  out.push('# It logs what those rules read and little else; `peregrine policy check --policy FILE`');
  out.push('# shows how each rule is fed. The first rule that matches a request decides its level:');
  out.push('#   None             not logged');
  out.push('#   Metadata         who, what, when, from where, the URI and the answer; no bodies');
  out.push('#   Request          + the request body (requestObject)');
  out.push('#   RequestResponse  + the response body (responseObject)');
  out.push('apiVersion: audit.k8s.io/v1');
  out.push('kind: Policy');
  if (p.omitStages.length) {
    out.push('# One event per request when it completes (plus ResponseStarted for long-running');
    out.push('# requests such as watch and exec): no loaded rule can match RequestReceived.');
    out.push(`omitStages: ${list(p.omitStages)}`);
  }
  out.push(p.omitManagedFields
    ? '# managedFields are bulky and read by no loaded rule (rules that do keep them below).'
    : '# Managed fields are kept: a loaded rule reads them.');
  out.push(`omitManagedFields: ${p.omitManagedFields}`);
  out.push('rules:');
  let section = '';
  p.rules.forEach((r, i) => {
    const d = drafts[i];
    const s = d.noise ? 'noise' : i === p.rules.length - 1 ? 'rest' : 'rules';
    if (s !== section) {
      section = s;
      out.push('');
      out.push(s === 'noise' ? '  # ---- Constant noise that no loaded rule can match: not logged ----------------'
        : s === 'rules' ? '  # ---- What the loaded rules read ----------------------------------------------'
          : '  # ---- Everything else ----------------------------------------------------------');
    }
    for (const c of d.comment) for (const line of wrap(c, 86)) out.push(`  # ${line}`);
    out.push(`  - level: ${r.level}`);
    if (r.users.length) out.push(`    users: ${list(r.users)}`);
    if (r.userGroups.length) out.push(`    userGroups: ${list(r.userGroups)}`);
    if (r.verbs.length) out.push(`    verbs: ${list(r.verbs)}`);
    if (r.namespaces.length) out.push(`    namespaces: ${list(r.namespaces)}`);
    if (r.resources.length) {
      out.push('    resources:');
      for (const gr of r.resources) {
        out.push(`      - group: ${q(gr.group)}`);
        if (gr.resources.length) out.push(`        resources: ${list(gr.resources)}`);
        if (gr.resourceNames.length) out.push(`        resourceNames: ${list(gr.resourceNames)}`);
      }
    }
    if (r.nonResourceURLs.length) out.push(`    nonResourceURLs: ${list(r.nonResourceURLs)}`);
    if (r.level !== 'None' && r.omitStages.length) out.push(`    omitStages: ${list(r.omitStages)}`);
    if (r.omitManagedFields !== undefined) out.push(`    omitManagedFields: ${r.omitManagedFields}`);
  });
  return out.join('\n') + '\n';
}

function wrap(text: string, width: number): string[] {
  const words = text.split(' ');
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else {
      cur = cur ? `${cur} ${w}` : w;
    }
  }
  if (cur) lines.push(cur);
  return lines;
}
