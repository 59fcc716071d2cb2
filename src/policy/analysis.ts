// Which requests a rule can match, and what it reads of them, in the terms of an audit
// Policy. A Policy decides per request from a handful of attributes (user, groups, verb,
// the target's namespace, API group, resource, subresource and name, or the URL path)
// and the stage; a rule's condition is a boolean formula over comparisons. Comparisons
// on those attributes are evaluated for real (compiled by the rules compiler, run on a
// synthetic event holding just that attribute); comparisons on anything else are
// unknown, and those that read a request or response body are remembered as what the
// rule needs. Each attribute takes one value of each class the rule's and the policy's
// constants tell apart (plus a value none of them names), so a finite search covers
// every request: first the classes of the rule (condition not false), then, for each,
// which policy rules can be the first to match them.
import { NodeTable } from '../events/nodes.js';
import { EventView } from '../events/view.js';
import { jsBackend } from '../engine/backend.js';
import type { Expr } from '../rules/condition-ast.js';
import { comparedConstants } from '../rules/condition-ast.js';
import { ConditionCompiler, FieldSlots, NEVER, type Predicate } from '../rules/compile-condition.js';
import type { CompiledRule } from '../rules/ruleset.js';
import { findField } from '../fields/registry.js';
import { type FieldNeed, leafFields, leavesOf, outputNeeds } from './needs.js';
import {
  type Level, type Policy, type PolicyRule, type ResourceAttributes, type Stage, STAGES, levelRank,
} from './model.js';
import { BUILTIN_RESOURCE_GROUPS, BUILTIN_SUBRESOURCES, READ_ONLY_GROUPS } from './k8s-api.js';
import {
  configOf, groupsMatch, nonResourceMatches, resourceMatches, selectsResources, usersMatch, verbsMatch,
} from './evaluate.js';

export type A = 'stage' | 'isResource' | 'verb' | 'user' | 'groups' | 'namespace' | 'apiGroup' | 'resource' | 'subresource' | 'name' | 'path' | 'query';
/** The order attributes are decided in: the most selective first. */
export const ORDER: readonly A[] = ['stage', 'isResource', 'verb', 'resource', 'subresource', 'apiGroup', 'namespace', 'name', 'groups', 'user', 'path', 'query'];
const BIT: Record<A, number> = Object.fromEntries(ORDER.map((a, i) => [a, 1 << i])) as Record<A, number>;
const OBJ_ATTRS: readonly A[] = ['namespace', 'apiGroup', 'resource', 'subresource', 'name'];
/** Not applicable: the target attributes of a non-resource request, the path of a resource request. */
export const NA = '\u0000n/a';
/** The value no constant names, per attribute. */
export const FRESH: Record<A, string> = {
  stage: '', isResource: '', verb: 'peregrine-verb', user: 'peregrine-user', groups: '["peregrine-group"]', namespace: 'peregrine-ns',
  apiGroup: 'peregrine.example', resource: 'peregrineresources', subresource: 'peregrinesub', name: 'peregrine-name', path: '/peregrine', query: '',
};

export type Assign = Partial<Record<A, string>>;

/** Requests with a ResponseStarted stage: the apiserver's long-running ones. */
export const LONG_RUNNING_VERBS = new Set(['watch', 'proxy']);
export const LONG_RUNNING_SUBRESOURCES = new Set(['attach', 'exec', 'proxy', 'log', 'portforward']);
const STREAM_VERBS = new Map<string, string[]>([['exec', ['get', 'create']], ['attach', ['get', 'create']], ['portforward', ['get', 'create']], ['log', ['get']]]);
/** The verb of a non-resource request is its HTTP method, in lower case. */
export const HTTP_VERBS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'connect', 'trace']);

/** Group memberships the apiserver's authenticators give only to names of one shape. */
const GROUP_NAMES: Array<[(g: string) => boolean, (u: string) => boolean]> = [
  [(g) => g === 'system:nodes', (u) => u.startsWith('system:node:')],
  [(g) => g === 'system:serviceaccounts' || g.startsWith('system:serviceaccounts:'), (u) => u.startsWith('system:serviceaccount:')],
  [(g) => g === 'system:unauthenticated', (u) => u === 'system:anonymous'],
];

const GROUPS_CACHE = new Map<string, string[]>();

/** A groups value (a JSON array) as a list, parsed once. */
export function groupsOf(v: string): string[] {
  let g = GROUPS_CACHE.get(v);
  if (g === undefined) {
    g = JSON.parse(v) as string[];
    GROUPS_CACHE.set(v, g);
  }
  return g;
}

const F = 0;
const T = 1;
const U = 2;
type V = 0 | 1 | 2;

/** A body a rule reads: the leaf's fields and the level (and managed fields) they need. */
export interface BodyRead {
  level: Level;
  managedFields: boolean;
  fields: string[];
}

interface Leaf {
  kind: 'attr' | 'uri' | 'body' | 'true' | 'false' | 'other';
  /** attr: the attributes it reads (isResource included for target attributes). */
  attrs: A[];
  mask: number;
  body?: BodyRead;
  /** other: the one scalar field it compares (with its path), when it is one. */
  field?: { key: string; path: string[] };
  expr: Expr;
  memo: Map<string, boolean>;
  pred?: Predicate;
}

interface Result {
  v: V;
  /** Body leaves (indexes) the value still depends on. */
  deps: number[];
  /** Attributes of attribute leaves not yet decided that the value still depends on. */
  live: number;
}

const FALSE_R: Result = { v: F, deps: [], live: 0 };
const TRUE_R: Result = { v: T, deps: [], live: 0 };

/** Compiles leaves and evaluates them on synthetic events, shared by the rules of one run. */
export class LeafEvaluator {
  private readonly slots = new FieldSlots();
  private readonly compiler = new ConditionCompiler(this.slots, { legacyListOperators: true });
  private readonly table = new NodeTable(64);
  private readonly leaves = new Map<Expr, Leaf>();

  leaf(e: Expr): Leaf {
    let l = this.leaves.get(e);
    if (l === undefined) {
      l = classify(e);
      this.leaves.set(e, l);
    }
    return l;
  }

  /** The leaf's value on an event whose field (leaf.field) is `value` (undefined: absent). */
  testField(l: Leaf, value: string | undefined): boolean {
    const key = `\u0003${value ?? '\u0004'}`;
    const hit = l.memo.get(key);
    if (hit !== undefined) return hit;
    if (l.pred === undefined) l.pred = this.compiler.compile(l.expr);
    const ev: Record<string, unknown> = { kind: 'Event', auditID: 'peregrine-policy-check' };
    if (value !== undefined) {
      let o = ev;
      const path = l.field!.path;
      for (let i = 0; i < path.length - 1; i++) o = (o[path[i]] ??= {}) as Record<string, unknown>;
      o[path[path.length - 1]] = value;
    }
    const buf = Buffer.from(JSON.stringify(ev));
    const root = jsBackend.parse(this.table, buf, 0, buf.length);
    const view = new EventView(this.table, this.slots.count + 1);
    view.load(this.table, root, 1_700_000_000, 0, 1);
    const r = l.pred(view);
    l.memo.set(key, r);
    return r;
  }

  /** The leaf's value on a request whose attributes (those it reads) are `a`. */
  test(l: Leaf, a: Assign): boolean {
    let key: string;
    if (l.attrs.length === 1) key = a[l.attrs[0]] ?? '';
    else {
      key = '';
      for (const x of l.attrs) key += (a[x] ?? '') + '\u0001';
    }
    const hit = l.memo.get(key);
    if (hit !== undefined) return hit;
    if (l.pred === undefined) l.pred = this.compiler.compile(l.expr);
    const json = JSON.stringify(syntheticEvent(a, l.attrs));
    const buf = Buffer.from(json);
    const root = jsBackend.parse(this.table, buf, 0, buf.length);
    const view = new EventView(this.table, this.slots.count + 1);
    view.load(this.table, root, 1_700_000_000, 0, 1);
    const r = l.pred(view);
    l.memo.set(key, r);
    return r;
  }
}

/** An event holding just the attributes `attrs` of `a`. */
function syntheticEvent(a: Assign, attrs: readonly A[]): Record<string, unknown> {
  const ev: Record<string, unknown> = { kind: 'Event', auditID: 'peregrine-policy-check' };
  const has = (x: A): boolean => attrs.includes(x);
  if (has('stage')) ev.stage = a.stage;
  if (has('verb')) ev.verb = a.verb;
  if (has('user') || has('groups')) {
    const user: Record<string, unknown> = {};
    if (has('user')) user.username = a.user;
    if (has('groups')) user.groups = JSON.parse(a.groups ?? '[]');
    ev.user = user;
  }
  if (a.isResource === '1') {
    const ref: Record<string, string> = {};
    for (const x of OBJ_ATTRS) if (has(x) && a[x] !== '' && a[x] !== undefined) ref[x] = a[x]!;
    ev.objectRef = ref;
  } else if (a.isResource === '0' && has('path')) {
    ev.requestURI = (a.path ?? '') + (a.query ?? '');
  }
  return ev;
}

const USUAL_TIME = /^[1-9][0-9]{9,}$/;
const UNSAMPLED_OPS = new Set(['regex', 'glob', 'iglob', '<', '<=', '>', '>=']);

function classify(e: Expr): Leaf {
  const base = { attrs: [] as A[], mask: 0, expr: e, memo: new Map<string, boolean>() };
  const fields = leafFields(e);
  if (fields.length === 0) return { ...base, kind: 'other' };
  const bodies = fields.filter((f) => levelRank(f.level) > levelRank('Metadata') || f.managedFields);
  if (bodies.length > 0) {
    let level: Level = 'Metadata';
    for (const f of bodies) if (levelRank(f.level) > levelRank(level)) level = f.level;
    return { ...base, kind: 'body', body: { level, managedFields: bodies.some((f) => f.managedFields), fields: [...new Set(bodies.map((f) => f.name))] } };
  }
  // Fields every event has (`jevt.rawtime exists`, Falco's "always true").
  if (e.type === 'unary' && e.left.type === 'field' && findField(e.left.name)?.always === true) return { ...base, kind: 'true' };
  // The event time equal to a constant that is no usual time (Falco's `jevt.rawtime = 0`: never true).
  if (e.type === 'binary' && fields.length === 1 && fields[0].time && e.left.type === 'field'
    && ['=', '==', 'in'].includes(e.op) && (e.right.type === 'value' || e.right.type === 'list')
    && comparedConstants(e.right).every((v) => !USUAL_TIME.test(v))) {
    return { ...base, kind: 'false' };
  }
  // A comparison with another field's value: its truth needs values of both that the
  // constants do not give (an unknown, never a false "never").
  if (e.type === 'binary' && (e.right.type === 'field' || e.right.type === 'transformer')) return { ...base, kind: 'other' };
  // Patterns and orderings the constants do not sample (a regex, a glob's ? or [...], a
  // value below a bound), and transformers other than case changes: unknown as well.
  if (e.type === 'binary' && UNSAMPLED_OPS.has(e.op.split(' ')[0])) return { ...base, kind: 'other' };
  if ((e.type === 'binary' || e.type === 'unary') && e.left.type === 'transformer' && !['tolower', 'toupper'].includes(e.left.name)) return { ...base, kind: 'other' };
  if (fields.some((f) => f.attrs === undefined)) {
    const f = fields.length === 1 && fields[0].path !== undefined && (e.type === 'unary' || (e.type === 'binary' && e.left.type === 'field'))
      ? { key: fields[0].name, path: fields[0].path } : undefined;
    return { ...base, kind: 'other', field: f };
  }
  const attrs = new Set<A>();
  for (const f of fields) {
    for (const x of f.attrs!) {
      if (x === 'uri') {
        attrs.add('isResource'); attrs.add('path'); attrs.add('query');
      } else {
        attrs.add(x);
        if ((OBJ_ATTRS as readonly string[]).includes(x)) attrs.add('isResource');
      }
    }
  }
  const list = ORDER.filter((x) => attrs.has(x));
  const uri = attrs.has('path');
  // A URI together with other attributes: left unknown (a resource request's URI is not modelled).
  if (uri && list.some((x) => x !== 'isResource' && x !== 'path' && x !== 'query')) return { ...base, kind: 'other' };
  return { ...base, kind: uri ? 'uri' : 'attr', attrs: list, mask: list.reduce((m, x) => m | BIT[x], 0) };
}

/** A rule prepared for analysis: its leaves, body reads and output needs. */
export class RuleModel {
  readonly leaves: Leaf[];
  readonly bodies: BodyRead[];
  readonly output: FieldNeed[];
  readonly never: boolean;
  private readonly ids = new Map<Expr, number>();

  constructor(readonly rule: CompiledRule, readonly ev: LeafEvaluator) {
    this.leaves = leavesOf(rule.ast).map((e) => ev.leaf(e));
    const bodies: BodyRead[] = [];
    this.leaves.forEach((l, i) => {
      this.ids.set(l.expr, i);
      bodies.push(l.body ?? { level: 'Metadata', managedFields: false, fields: [] });
    });
    this.bodies = bodies;
    this.output = outputNeeds(rule);
    this.never = rule.predicate === NEVER;
  }

  /** Three-valued value of the condition under a partial assignment (and leaves decided by `fixed`). */
  eval(a: Assign, fixed?: Map<Expr, boolean>): Result {
    this.fixed = fixed;
    try {
      return this.evalExpr(this.rule.ast, a);
    } finally {
      this.fixed = undefined;
    }
  }

  private fixed: Map<Expr, boolean> | undefined;

  private evalExpr(e: Expr, a: Assign): Result {
    switch (e.type) {
      case 'and': {
        let v: V = T;
        let deps: number[] = [];
        let live = 0;
        for (const c of e.children) {
          const r = this.evalExpr(c, a);
          if (r.v === F) return FALSE_R;
          if (r.v === U) v = U;
          if (r.deps.length) deps = deps.length ? deps.concat(r.deps) : r.deps;
          live |= r.live;
        }
        return v === T ? TRUE_R : { v, deps, live };
      }
      case 'or': {
        let v: V = F;
        let deps: number[] = [];
        let live = 0;
        for (const c of e.children) {
          const r = this.evalExpr(c, a);
          if (r.v === T) return TRUE_R;
          if (r.v === U) v = U;
          if (r.deps.length) deps = deps.length ? deps.concat(r.deps) : r.deps;
          live |= r.live;
        }
        return v === F ? FALSE_R : { v, deps, live };
      }
      case 'not': {
        const r = this.evalExpr(e.child, a);
        if (r.v === U) return r;
        return r.v === T ? FALSE_R : TRUE_R;
      }
      default:
        return this.evalLeaf(e, a);
    }
  }

  private evalLeaf(e: Expr, a: Assign): Result {
    const f = this.fixed?.get(e);
    if (f !== undefined) return f ? TRUE_R : FALSE_R;
    const l = this.ev.leaf(e);
    switch (l.kind) {
      case 'true': return TRUE_R;
      case 'false': return FALSE_R;
      case 'other': return { v: U, deps: [], live: 0 };
      case 'body': return { v: U, deps: [this.ids.get(e)!], live: 0 };
      case 'uri':
        if (a.isResource === '1') return { v: U, deps: [], live: 0 };
        if (a.isResource === undefined || a.path === undefined || a.query === undefined) return { v: U, deps: [], live: l.mask };
        return this.ev.test(l, a) ? TRUE_R : FALSE_R;
      case 'attr': {
        let missing = 0;
        for (const x of l.attrs) {
          if (a[x] !== undefined) continue;
          // Target attributes of a non-resource request are absent, not unknown.
          if (a.isResource === '0' && (OBJ_ATTRS as readonly string[]).includes(x)) continue;
          missing |= BIT[x];
        }
        if (missing !== 0) return { v: U, deps: [], live: missing };
        return this.ev.test(l, a) ? TRUE_R : FALSE_R;
      }
    }
  }

  /** A model of both rules' conditions together (`a and b`), to enumerate the requests both can match. */
  static conjunction(a: RuleModel, b: RuleModel): RuleModel {
    const ast: Expr = { type: 'and', children: [a.rule.ast, b.rule.ast], pos: a.rule.ast.pos };
    const never = a.never || b.never;
    return new RuleModel({ ...a.rule, name: `${a.rule.name} & ${b.rule.name}`, ast, predicate: never ? NEVER : a.rule.predicate }, a.ev);
  }

  /** The attributes this rule's condition reads. */
  get attrMask(): number {
    if (this.mask === undefined) {
      let m = BIT.stage;
      for (const l of this.leaves) if (l.kind === 'attr' || l.kind === 'uri') m |= l.mask;
      this.mask = m;
    }
    return this.mask;
  }

  private mask: number | undefined;

  /** The assignment restricted to the attributes in `mask`. */
  static project(a: Assign, mask: number): Assign {
    const out: Assign = {};
    for (const x of ORDER) if ((mask & BIT[x]) !== 0 && a[x] !== undefined) out[x] = a[x];
    return out;
  }

  /** Leaves of this rule on one attribute alone (for the classes of its values). */
  singleAttrLeaves(x: A): Leaf[] {
    return this.leaves.filter((l) => l.kind === 'attr' && l.attrs.every((y) => y === x || y === 'isResource'));
  }

  uriLeaves(): Leaf[] {
    return this.leaves.filter((l) => l.kind === 'uri');
  }
}

/** Values worth trying for each attribute: the constants of the rule and the policy, and a fresh one. */
export type Domains = Record<A, string[]>;

/** Per domain: each representative value's class (the values it stands for). */
const MEMBERS = new WeakMap<Domains, Partial<Record<A, Map<string, string[]>>>>();

/** The values a representative stands for in a domain (itself when not reduced). */
export function classMembers(d: Domains, x: A, rep: string): string[] {
  return MEMBERS.get(d)?.[x]?.get(rep) ?? [rep];
}

const VARIANT = 'peregrine-x';

/** Values made up around a constant (`c-peregrine-x`, `peregrine-x-c`): to satisfy startswith and alike, not equality. */
export function isVariant(v: string): boolean {
  return v.includes(VARIANT);
}

function addVariants(set: Set<string>, c: string): void {
  set.add(c);
  set.add(`${c}-${VARIANT}`);
  set.add(`${VARIANT}-${c}`);
}

/** Constants of a rule's leaves, per attribute they compare. */
const EXACT_OPS = new Set(['=', '==', '!=', 'in', 'intersects', 'exists']);

function ruleConstants(m: RuleModel): Map<A, Set<string>> {
  const out = new Map<A, Set<string>>();
  const get = (x: A): Set<string> => {
    let s = out.get(x);
    if (!s) out.set(x, (s = new Set()));
    return s;
  };
  // Constants of prefix, suffix and pattern comparisons, per attribute: also joined in
  // pairs, so a value can start with one and end with another.
  const patterns = new Map<A, Set<string>>();
  for (const l of m.leaves) {
    if (l.kind !== 'attr' && l.kind !== 'uri') continue;
    const e = l.expr;
    if (e.type !== 'binary') continue;
    const consts: string[] = e.right.type === 'value' || e.right.type === 'list' ? comparedConstants(e.right) : [];
    for (const c of consts) {
      if (l.kind === 'uri') {
        const q = c.indexOf('?');
        addVariants(get('path'), q < 0 ? c : c.slice(0, q));
        if (q >= 0) get('query').add(c.slice(q));
        get('path').add(c.replace(/\/?$/, `/${VARIANT}`));
        continue;
      }
      for (const x of l.attrs) {
        if (x === 'isResource') continue;
        if (x === 'groups') get('groups').add(JSON.stringify([c]));
        else {
          addVariants(get(x), c);
          if (!EXACT_OPS.has(e.op.split(' ')[0])) {
            let ps = patterns.get(x);
            if (!ps) patterns.set(x, (ps = new Set()));
            ps.add(c);
          }
        }
      }
    }
  }
  for (const [x, ps] of patterns) {
    const list = [...ps].slice(0, 24);
    for (const a of list) for (const b of list) if (a !== b) get(x).add(`${a}-${VARIANT}-${b}`);
  }
  return out;
}

function policyConstants(p: Policy | undefined): Map<A, Set<string>> {
  const out = new Map<A, Set<string>>(ORDER.map((x) => [x, new Set<string>()]));
  if (!p) return out;
  for (const r of p.rules) {
    for (const u of r.users) out.get('user')!.add(u);
    for (const g of r.userGroups) out.get('groups')!.add(JSON.stringify([g]));
    for (const v of r.verbs) out.get('verb')!.add(v);
    for (const n of r.namespaces) out.get('namespace')!.add(n);
    for (const gr of r.resources) {
      if (gr.group !== '*') out.get('apiGroup')!.add(gr.group);
      for (const spec of gr.resources) {
        const [res, sub] = spec.split('/', 2);
        if (res !== '*') out.get('resource')!.add(res);
        if (sub !== undefined && sub !== '*') out.get('subresource')!.add(sub);
      }
      for (const n of gr.resourceNames) out.get('name')!.add(n);
    }
    for (const u of r.nonResourceURLs) {
      if (u === '*') continue;
      const stem = u.replace(/\*+$/, '');
      out.get('path')!.add(stem);
      if (stem !== u) out.get('path')!.add(stem + VARIANT);
    }
  }
  return out;
}

const BUILTIN: Partial<Record<A, string[]>> = {
  stage: [...STAGES],
  isResource: ['1', '0'],
  verb: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'proxy', 'post'],
  user: ['system:anonymous', 'system:node:peregrine-node', 'system:serviceaccount:peregrine:peregrine', 'system:peregrine'],
  groups: ['[]', '["system:authenticated"]', '["system:nodes"]', '["system:serviceaccounts"]', '["system:unauthenticated"]'],
  namespace: [''],
  apiGroup: [''],
  subresource: ['', ...LONG_RUNNING_SUBRESOURCES],
  name: [''],
  query: ['', '?peregrine=1'],
};

/** Tests that tell values of an attribute apart, beside the rule's own leaves. */
function policyTests(x: A, p: Policy | undefined): Array<(v: string) => boolean> {
  const rules = p?.rules ?? [];
  switch (x) {
    case 'user':
      return [
        ...rules.filter((r) => r.users.length).map((r) => (v: string) => r.users.includes(v)),
        ...GROUP_NAMES.map(([, name]) => name),
      ];
    case 'groups':
      return [
        ...rules.filter((r) => r.userGroups.length).map((r) => (v: string) => groupsMatch(r, groupsOf(v))),
        ...GROUP_NAMES.map(([group]) => (v: string) => groupsOf(v).some(group)),
      ];
    case 'verb':
      return [
        ...rules.filter((r) => r.verbs.length).map((r) => (v: string) => r.verbs.includes(v)),
        (v) => LONG_RUNNING_VERBS.has(v), (v) => ['get', 'list', 'watch'].includes(v), (v) => HTTP_VERBS.has(v),
      ];
    case 'namespace':
      return [...rules.filter((r) => r.namespaces.length).map((r) => (v: string) => r.namespaces.includes(v)), (v) => v === ''];
    case 'apiGroup':
      return [
        ...rules.flatMap((r) => r.resources.map((gr) => (v: string) => gr.group === v)),
        ...[...new Set([...BUILTIN_RESOURCE_GROUPS.values()].flat())].map((g) => (v: string) => v === g),
      ];
    case 'resource':
      return [
        ...rules.flatMap((r) => r.resources.flatMap((gr) => gr.resources.map((spec) => (v: string) => spec.split('/')[0] === v))),
        ...[...BUILTIN_RESOURCE_GROUPS.keys()].map((k) => (v: string) => v === k),
      ];
    case 'subresource':
      return [
        ...rules.flatMap((r) => r.resources.flatMap((gr) => gr.resources.map((spec) => (v: string) => spec.split('/')[1] === v))),
        (v) => v === '', (v) => LONG_RUNNING_SUBRESOURCES.has(v),
        ...[...new Set([...BUILTIN_SUBRESOURCES.values()].flat())].map((x) => (v: string) => v === x),
      ];
    case 'name':
      return [...rules.flatMap((r) => r.resources.map((gr) => (v: string) => gr.resourceNames.includes(v))), (v) => v === ''];
    case 'path':
      return rules.filter((r) => r.nonResourceURLs.length).map((r) => (v: string) => nonResourceMatches(r, undefined, v));
    default:
      return [];
  }
}

/**
 * One value per class of each attribute: values that every leaf of the rule and every
 * selector of the policy treat alike are one class.
 */
export function domainsFor(m: RuleModel, p: Policy | undefined): Domains {
  const rc = ruleConstants(m);
  const pc = policyConstants(p);
  const out = {} as Domains;
  for (const x of ORDER) {
    if (x === 'stage' || x === 'isResource') {
      out[x] = [...BUILTIN[x]!];
      continue;
    }
    const cands = new Set<string>([...(rc.get(x) ?? []), ...pc.get(x)!, ...(BUILTIN[x] ?? [])]);
    if (x === 'groups') {
      // Pairs too: a rule's group beside a policy's (a user is in several groups).
      const singles = [...cands].map((s) => JSON.parse(s) as string[]).filter((g) => g.length === 1).map((g) => g[0]);
      for (let i = 0; i < singles.length; i++) {
        for (let j = i + 1; j < singles.length; j++) cands.add(JSON.stringify([singles[i], singles[j]]));
      }
    }
    cands.add(FRESH[x]);
    out[x] = [...cands];
  }
  // The groups of the built-in resources tried.
  const groups = new Set(out.apiGroup);
  for (const r of out.resource) for (const g of BUILTIN_RESOURCE_GROUPS.get(r) ?? []) groups.add(g);
  out.apiGroup = [...groups];
  const subs = new Set(out.subresource);
  for (const r of out.resource) for (const x of BUILTIN_SUBRESOURCES.get(r) ?? []) subs.add(x);
  out.subresource = [...subs];
  // Classes: one representative per signature.
  const members: Partial<Record<A, Map<string, string[]>>> = {};
  MEMBERS.set(out, members);
  const reduce = (x: A, tests: Array<(v: string) => boolean>): void => {
    const seen = new Map<string, string[]>();
    const byRep = new Map<string, string[]>();
    out[x] = out[x].filter((v) => {
      let sig = '';
      for (const t of tests) sig += t(v) ? '1' : '0';
      const cls = seen.get(sig);
      if (cls !== undefined) {
        cls.push(v);
        return false;
      }
      const own = [v];
      seen.set(sig, own);
      byRep.set(v, own);
      return true;
    });
    members[x] = byRep;
  };
  for (const x of ORDER) {
    if (x === 'stage' || x === 'isResource' || x === 'path' || x === 'query') continue;
    const leaves = m.singleAttrLeaves(x);
    const tests = [
      ...leaves.map((l) => (v: string) => m.ev.test(l, { isResource: '1', [x]: v })),
      ...policyTests(x, p),
    ];
    reduce(x, tests);
  }
  // The URI is the path and the query together.
  const uri = m.uriLeaves();
  const paths = out.path;
  const queries = out.query;
  reduce('path', [
    ...uri.flatMap((l) => queries.map((q) => (v: string) => m.ev.test(l, { isResource: '0', path: v, query: q }))),
    ...policyTests('path', p),
  ]);
  reduce('query', uri.flatMap((l) => paths.map((pa) => (v: string) => m.ev.test(l, { isResource: '0', path: pa, query: v }))));
  return out;
}

/** A class of requests the rule may match: some attributes fixed, the rest free. */
export interface RuleClass {
  assign: Assign;
  /** T: matches every request of the class (given its bodies); U: some, depending on what is unknown. */
  v: V;
  /** Body reads the outcome still depends on. */
  deps: number[];
}

/** Every class of requests the rule's condition may be true for. */
export function ruleClasses(m: RuleModel, d: Domains, budget = 200_000, init: Assign = {}, onClass?: (c: RuleClass) => boolean): RuleClass[] {
  const out: RuleClass[] = [];
  if (m.never) return out;
  let nodes = 0;
  let stop = false;
  const a: Assign = { ...init };
  const walk = (): void => {
    const r = m.eval(a);
    if (r.v === F) return;
    let pick: A | undefined;
    for (const x of ORDER) {
      if ((r.live & BIT[x]) !== 0 && a[x] === undefined) {
        pick = x;
        break;
      }
    }
    // Past the budget, what is left stays open: a wider class (it may match more, never less).
    if (pick === undefined || ++nodes > budget) {
      const c = { assign: { ...a }, v: r.v, deps: [...new Set(r.deps)] };
      if (onClass) stop = onClass(c);
      else out.push(c);
      return;
    }
    const values = domainOf(pick, a, d);
    for (const v of values) {
      a[pick] = v;
      walk();
      if (stop) break;
    }
    delete a[pick];
  };
  walk();
  return out;
}

/**
 * The values an attribute can take in a rule's classes, as far as they are named
 * constants: undefined when some class leaves it open or takes a value no constant names.
 */
export function namedValues(classes: RuleClass[], x: A, d: Domains): Set<string> | undefined {
  const out = new Set<string>();
  for (const c of classes) {
    const rep = c.assign[x];
    if (rep === undefined) return undefined;
    // A representative stands for its whole class of values.
    for (const v of classMembers(d, x, rep)) {
      if (v === FRESH[x] || isVariant(v)) return undefined;
      out.add(v);
    }
  }
  return out;
}

/** The values of `x` given the rest of the assignment. */
function domainOf(x: A, a: Assign, d: Domains): string[] {
  if ((OBJ_ATTRS as readonly string[]).includes(x)) {
    if (a.isResource === '0') return [NA];
  } else if (x === 'path' || x === 'query') {
    if (a.isResource === '1') return [NA];
  }
  return d[x];
}

const TARGET_READS = new WeakMap<PolicyRule, number>();

/** The target attributes a resource rule's match depends on. */
function targetReads(r: PolicyRule): number {
  let m = TARGET_READS.get(r);
  if (m === undefined) {
    m = 0;
    if (r.namespaces.length) m |= BIT.namespace;
    for (const gr of r.resources) {
      if (gr.group !== '*') m |= BIT.apiGroup;
      if (gr.resources.some((x) => x !== '*')) m |= BIT.resource | BIT.subresource;
      if (gr.resources.length > 0 && gr.resourceNames.length > 0) m |= BIT.name;
    }
    TARGET_READS.set(r, m);
  }
  return m;
}

/**
 * Three-valued match of a policy rule: -1 no, 0 yes, else the attributes (bits) that
 * would decide it.
 */
export function matchRule(r: PolicyRule, a: Assign): number {
  let need = 0;
  if (r.users.length) {
    if (a.user === undefined) need |= BIT.user;
    else if (!usersMatch(r, a.user)) return -1;
  }
  if (r.userGroups.length) {
    if (a.groups === undefined) need |= BIT.groups;
    else if (!groupsMatch(r, groupsOf(a.groups))) return -1;
  }
  if (r.verbs.length) {
    if (a.verb === undefined) need |= BIT.verb;
    else if (!verbsMatch(r, a.verb)) return -1;
  }
  if (selectsResources(r)) {
    if (a.isResource === undefined) return need | BIT.isResource;
    if (a.isResource === '0') return -1;
    // Only the target attributes the rule tests are needed.
    const reads = targetReads(r);
    if (r.namespaces.length && a.namespace !== undefined && !r.namespaces.includes(a.namespace)) return -1;
    let missing = 0;
    for (const x of OBJ_ATTRS) if ((reads & BIT[x]) !== 0 && a[x] === undefined) missing |= BIT[x];
    if (missing) return need | missing;
    const res: ResourceAttributes = {
      namespace: a.namespace ?? '', apiGroup: a.apiGroup ?? '', resource: a.resource ?? '', subresource: a.subresource ?? '', name: a.name ?? '',
    };
    if (!resourceMatches(r, res)) return -1;
  } else if (r.nonResourceURLs.length) {
    if (a.isResource === undefined) return need | BIT.isResource;
    if (a.isResource === '1') return -1;
    if (a.path === undefined) return need | BIT.path;
    if (!nonResourceMatches(r, undefined, a.path)) return -1;
  }
  return need;
}

/**
 * Constraints every real request meets: stages that exist for it, the groups of
 * built-in resources, group memberships. -1 no, 0 yes, else the bits that would decide.
 */
function plausible(a: Assign): number {
  let need = 0;
  if (a.stage === 'ResponseStarted') {
    const verbLong = a.verb === undefined ? undefined : LONG_RUNNING_VERBS.has(a.verb);
    const subLong = a.isResource === undefined ? undefined : a.isResource === '0' ? false
      : a.subresource === undefined ? undefined : LONG_RUNNING_SUBRESOURCES.has(a.subresource);
    if (verbLong === false && subLong === false) return -1;
    if (verbLong !== true && subLong !== true) {
      if (verbLong === undefined) need |= BIT.verb;
      if (subLong === undefined) need |= a.isResource === undefined ? BIT.isResource : BIT.subresource;
    }
  }
  if (a.isResource === '0') {
    if (a.verb === undefined) need |= BIT.verb;
    else if (!HTTP_VERBS.has(a.verb)) return -1;
  } else if (a.isResource === undefined && a.verb !== undefined && !HTTP_VERBS.has(a.verb)) {
    need |= BIT.isResource;
  }
  // Streaming subresources are reached with get (WebSocket) or create (SPDY) only; logs with get.
  if (a.isResource === '1' && a.subresource !== undefined && STREAM_VERBS.has(a.subresource)) {
    if (a.verb === undefined) need |= BIT.verb;
    else if (!STREAM_VERBS.get(a.subresource)!.includes(a.verb)) return -1;
  }
  // Built-in resources are served by their own groups, with their own subresources; some groups are read-only.
  if (a.isResource === '1' && a.resource !== undefined) {
    const groups = BUILTIN_RESOURCE_GROUPS.get(a.resource);
    if (groups !== undefined) {
      if (a.subresource === undefined) need |= BIT.subresource;
      else if (a.subresource !== '' && !(BUILTIN_SUBRESOURCES.get(a.resource) ?? []).includes(a.subresource)) return -1;
      if (a.apiGroup === undefined) need |= BIT.apiGroup;
      else if (!groups.includes(a.apiGroup)) return -1;
    }
  }
  if (a.isResource === '1' && a.apiGroup !== undefined && READ_ONLY_GROUPS.has(a.apiGroup)) {
    // Read-only groups (metrics): only reads, and no subresources.
    if (a.verb === undefined) need |= BIT.verb;
    else if (!READ_ONLY_GROUPS.get(a.apiGroup)!.includes(a.verb)) return -1;
    if (a.subresource === undefined) need |= BIT.subresource;
    else if (a.subresource !== '') return -1;
  }
  if (a.groups !== undefined) {
    const groups = groupsOf(a.groups);
    for (const [group, name] of GROUP_NAMES) {
      if (!groups.some(group)) continue;
      if (a.user === undefined) need |= BIT.user;
      else if (!name(a.user)) return -1;
    }
  }
  return need;
}

/** Whether some request of the (partial) assignment has policy rule `i` (-1: none) as its first match. */
export class RegionSolver {
  private readonly memo = new Map<string, boolean>();
  /** Searches given up at the budget (each then counted as possible). */
  exhausted = 0;

  constructor(readonly policy: Policy, readonly budget = 20_000) {}

  sat(i: number, a: Assign, d: Domains): boolean {
    return this.cover(i, a, d) > 0;
  }

  /** 0: no request of the assignment has rule `i` first; 2: all of them; 1: some. */
  cover(i: number, a: Assign, d: Domains): 0 | 1 | 2 {
    const rules = this.policy.rules;
    const last = i < 0 ? rules.length : i;
    // Most questions are decided by the assignment as it is: no search, no memo.
    const first = this.decide(i, last, a);
    if (first === true) return 2;
    if (first === false) return 0;
    return this.search(i, last, a, d) ? 1 : 0;
  }

  private search(i: number, last: number, a: Assign, d: Domains): boolean {
    let key = `${i}`;
    for (const x of ORDER) key += '\u0001' + (a[x] ?? '\u0002');
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    let nodes = 0;
    const cur: Assign = { ...a };
    const walk = (): boolean => {
      // Past the budget, assume it can (the report then errs toward a warning).
      if (++nodes > this.budget) {
        if (nodes === this.budget + 1) this.exhausted++;
        return true;
      }
      const r = this.decide(i, last, cur);
      if (r === true || r === false) return r;
      const pick = ORDER.find((x) => (r & BIT[x]) !== 0 && cur[x] === undefined);
      if (pick === undefined) return true;
      for (const v of domainOf(pick, cur, d)) {
        cur[pick] = v;
        if (walk()) {
          delete cur[pick];
          return true;
        }
      }
      delete cur[pick];
      return false;
    };
    const r = walk();
    this.memo.set(key, r);
    return r;
  }

  /** Decided (true or false), or the attributes (bits) that would decide it. */
  private decide(i: number, last: number, cur: Assign): boolean | number {
    const rules = this.policy.rules;
    let need = plausible(cur);
    if (need < 0) return false;
    for (let j = 0; j < last; j++) {
      const m = matchRule(rules[j], cur);
      if (m === 0) return false; // an earlier rule takes it
      if (m > 0) need |= m;
    }
    if (i >= 0) {
      const m = matchRule(rules[i], cur);
      if (m < 0) return false;
      need |= m;
    }
    return need === 0 ? true : need;
  }
}

export type Effect = 'ok' | 'none' | 'stage' | 'level' | 'output';

/** What happens to a class of a rule's requests under a policy. */
export interface Outcome {
  /** The policy rule that logs them (-1: none matches, the default None). */
  region: number;
  stage: Stage;
  assign: Assign;
  effect: Effect;
  /** For level and output: the fields the policy's level (or managed fields) drops. */
  fields: string[];
  /** The level those fields need. */
  need?: Level;
  level: Level;
}

function dropped(b: { level: Level; managedFields: boolean }, level: Level, omitManagedFields: boolean): boolean {
  return levelRank(b.level) > levelRank(level) || (b.managedFields && omitManagedFields);
}

/** The attributes a policy's selectors read, and those every plausibility check reads. */
export function policyMask(p: Policy): number {
  let m = BIT.stage | BIT.verb | BIT.isResource | BIT.resource | BIT.subresource | BIT.apiGroup;
  for (const r of p.rules) {
    if (r.users.length) m |= BIT.user | BIT.groups;
    if (r.userGroups.length) m |= BIT.groups | BIT.user;
    if (selectsResources(r)) for (const x of OBJ_ATTRS) m |= BIT[x];
    if (r.nonResourceURLs.length) m |= BIT.path;
  }
  return m;
}

/** The outcome of every class of a rule's requests under a policy. */
export function outcomes(m: RuleModel, classes: RuleClass[], p: Policy, d: Domains, solver: RegionSolver): Outcome[] {
  const out: Outcome[] = [];
  const mask = policyMask(p);
  // Classes that differ only in what the policy does not read share their regions.
  const regionsOf = new Map<string, number[]>();
  for (const c of classes) {
    // A user and groups no authenticator gives together: no such request.
    if (c.assign.groups !== undefined && c.assign.user !== undefined && plausible({ user: c.assign.user, groups: c.assign.groups }) < 0) continue;
    const stages = c.assign.stage !== undefined ? [c.assign.stage as Stage] : STAGES;
    for (const stage of stages) {
      const a = { ...c.assign, stage };
      let key = '';
      for (const x of ORDER) key += (mask & BIT[x]) !== 0 ? (a[x] ?? '\u0002') + '\u0001' : '\u0001';
      let regions = regionsOf.get(key);
      if (regions === undefined) {
        regions = [];
        for (let i = 0; i <= p.rules.length; i++) {
          const region = i === p.rules.length ? -1 : i;
          const cov = solver.cover(region, a, d);
          if (cov === 0) continue;
          regions.push(region);
          if (cov === 2) break; // every request of the class is this rule's: none left for later ones
        }
        regionsOf.set(key, regions);
      }
      for (const region of regions) {
        const cfg = configOf(p, region);
        const o: Outcome = { region, stage, assign: a, effect: 'ok', fields: [], level: cfg.level };
        if (cfg.level === 'None') o.effect = 'none';
        else if (cfg.omitStages.has(stage)) o.effect = 'stage';
        else {
          const cond = c.deps.map((k) => m.bodies[k]).filter((b) => dropped(b, cfg.level, cfg.omitManagedFields));
          const outp = m.output.filter((f) => dropped(f, cfg.level, cfg.omitManagedFields));
          const worst = (xs: Array<{ level: Level }>): Level => xs.reduce<Level>((l, x) => (levelRank(x.level) > levelRank(l) ? x.level : l), 'Metadata');
          if (cond.length) {
            o.effect = 'level';
            o.fields = [...new Set(cond.flatMap((b) => b.fields))];
            o.need = worst(cond);
          } else if (outp.length) {
            o.effect = 'output';
            o.fields = [...new Set(outp.map((f) => f.name))];
            o.need = worst(outp);
          }
        }
        out.push(o);
      }
    }
  }
  return out;
}

/**
 * Whether some request of the assignment can match both rules: their comparisons on the
 * same scalar fields outside the request attributes (the response code, the decision)
 * are evaluated together, over the values either rule names.
 */
export function canMatchBoth(a: RuleModel, b: RuleModel, assign: Assign, limit = 256, bMay = false): boolean {
  if (a.eval(assign).v === F || (!bMay && b.eval(assign).v === F)) return false;
  const byField = new Map<string, Leaf[]>();
  const keysA = new Set(a.leaves.filter((l) => l.field).map((l) => l.field!.key));
  for (const l of [...a.leaves, ...b.leaves]) {
    if (!l.field || !keysA.has(l.field.key)) continue;
    byField.set(l.field.key, [...(byField.get(l.field.key) ?? []), l]);
  }
  // Only fields both rules compare matter.
  const keysB = new Set(b.leaves.filter((l) => l.field).map((l) => l.field!.key));
  const shared = [...byField.entries()].filter(([k]) => keysB.has(k));
  if (shared.length === 0) return true;
  const values = shared.map(([, leaves]) => {
    const set = new Set<string | undefined>([undefined, 'peregrine-value']);
    for (const l of leaves) {
      const e = l.expr;
      if (e.type !== 'binary' || (e.right.type !== 'value' && e.right.type !== 'list')) continue;
      for (const c of comparedConstants(e.right)) {
        set.add(c);
        set.add(`${c}-${VARIANT}`);
        set.add(`${VARIANT}-${c}`);
      }
    }
    return [...set];
  });
  let combos = 1;
  for (const v of values) combos *= v.length;
  if (combos > limit) return true;
  const pick = new Array<number>(shared.length).fill(0);
  for (let n = 0; n < combos; n++) {
    let x = n;
    for (let i = 0; i < shared.length; i++) {
      pick[i] = x % values[i].length;
      x = Math.floor(x / values[i].length);
    }
    const fixed = new Map<Expr, boolean>();
    shared.forEach(([, leaves], i) => {
      for (const l of leaves) fixed.set(l.expr, a.ev.testField(l, values[i][pick[i]]));
    });
    if (a.eval(assign, fixed).v !== F && b.eval(assign, fixed).v !== F) return true;
  }
  return false;
}
