// What a rule needs from the audit log: for each field its condition or output reads,
// the level that keeps it. Derived from the field extractors themselves: each field is
// built against an empty field plan, and the event paths it declares there are what it
// reads (the same declarations the native extractor follows). Paths under requestObject
// need Request, under responseObject RequestResponse; the rest (user, verb, objectRef,
// requestURI, responseStatus, annotations, sourceIPs, userAgent, times) is in every
// logged event from Metadata up.
import { type PlanNode, FieldPlan } from '../events/plan.js';
import { resolveField } from '../fields/registry.js';
import type { Expr, Operand, TransformerArg } from '../rules/condition-ast.js';
import type { CompiledRule } from '../rules/ruleset.js';
import { type Level, levelRank } from './model.js';

/** The request attributes a policy can select on, as event paths. */
export const ATTRIBUTE_PATHS: Record<string, Attr> = {
  stage: 'stage',
  verb: 'verb',
  'user\0username': 'user',
  'user\0groups': 'groups',
  'objectRef\0namespace': 'namespace',
  'objectRef\0apiGroup': 'apiGroup',
  'objectRef\0resource': 'resource',
  'objectRef\0subresource': 'subresource',
  'objectRef\0name': 'name',
  requestURI: 'uri',
};

export type Attr = 'stage' | 'verb' | 'user' | 'groups' | 'namespace' | 'apiGroup' | 'resource' | 'subresource' | 'name' | 'uri';

export interface FieldNeed {
  /** As written: `ka.req.pod.containers.privileged`, `jevt.value[/requestObject/spec]`. */
  name: string;
  /** The lowest level at which the field has the value it has at RequestResponse. */
  level: Level;
  /** It reads managedFields (omitManagedFields changes it). */
  managedFields: boolean;
  /**
   * When the field reads only request attributes a policy selects on (user, groups,
   * verb, objectRef's namespace/apiGroup/resource/subresource/name, requestURI, stage):
   * which ones. Undefined otherwise.
   */
  attrs?: Attr[];
  /** The event time (jevt.rawtime and alike): for never-true checks. */
  time?: boolean;
  /** For a scalar outside the request attributes (ka.response.code): its path in the event. */
  path?: string[];
}

/** Fields that read the whole event text: everything a policy changes changes them. */
const WHOLE_EVENT = new Set(['jevt.obj', 'json.obj', 'evt.plugininfo']);
const TIME_FIELDS = new Set(['jevt.rawtime', 'json.rawtime', 'evt.rawtime']);

const BASELINE = pathsOf(new FieldPlan());

function pathsOf(plan: FieldPlan): string[][] {
  const out: string[][] = [];
  const walk = (n: PlanNode, path: string[]): void => {
    for (const [k, c] of n.children) {
      if (c === plan.root) continue; // `items`: the EventList loop back to events
      const p = [...path, k];
      if (c.full || c.slot >= 0) out.push(p);
      walk(c, p);
    }
  };
  walk(plan.root, []);
  return out;
}

const MANAGED = [['metadata', 'managedFields'], ['items', '*', 'metadata', 'managedFields'], ['items', 'metadata', 'managedFields'],
  ['rows', '*', 'object', 'metadata', 'managedFields'], ['rows', 'object', 'metadata', 'managedFields']];

/** Whether a read of `rest` (below requestObject or responseObject) sees managed fields. */
function readsManaged(rest: string[]): boolean {
  return MANAGED.some((m) => {
    const n = Math.min(m.length, rest.length);
    for (let i = 0; i < n; i++) if (m[i] !== '*' && m[i] !== rest[i]) return false;
    return true;
  });
}

function levelOfPath(p: string[]): Level {
  if (p[0] === 'requestObject') return 'Request';
  // The level itself is written in each event: only RequestResponse keeps it as recorded.
  if (p[0] === 'responseObject' || p[0] === 'level') return 'RequestResponse';
  return 'Metadata';
}

const cache = new Map<string, FieldNeed>();

/** What field `name` (with its argument, if any) needs; throws FieldError for unknown fields. */
export function fieldNeed(name: string, arg: string | undefined): FieldNeed {
  const key = arg === undefined ? name : `${name}[${arg}]`;
  const hit = cache.get(key);
  if (hit) return hit;
  const { def, arg: farg } = resolveField(name, arg);
  let need: FieldNeed;
  if (WHOLE_EVENT.has(name) || ((name === 'json.value' || name === 'jevt.value') && farg.key === '')) {
    need = { name: key, level: 'RequestResponse', managedFields: true };
  } else if (TIME_FIELDS.has(name) || name.startsWith('evt.')) {
    need = { name: key, level: 'Metadata', managedFields: false, time: TIME_FIELDS.has(name) };
  } else {
    const plan = new FieldPlan();
    def.build(farg, { plan });
    const base = new Set(BASELINE.map((p) => p.join('\0')));
    const paths = pathsOf(plan).filter((p) => !base.has(p.join('\0')));
    let level: Level = 'Metadata';
    let managedFields = false;
    const attrs = new Set<Attr>();
    let onlyAttrs = true;
    for (const p of paths) {
      const l = levelOfPath(p);
      if (levelRank(l) > levelRank(level)) level = l;
      if ((p[0] === 'requestObject' || p[0] === 'responseObject') && readsManaged(p.slice(1))) managedFields = true;
      const a = ATTRIBUTE_PATHS[p.join('\0')];
      if (a !== undefined) attrs.add(a);
      else if (!(p.length === 1 && p[0] === 'auditID')) {
        // A prefix of an attribute path (objectRef, user) declared as a container on the way is fine.
        const prefix = Object.keys(ATTRIBUTE_PATHS).some((k) => k.startsWith(p.join('\0') + '\0'));
        if (!prefix || plan.root.children.get(p[0]) === undefined || isFull(plan, p)) onlyAttrs = false;
      }
    }
    need = { name: key, level, managedFields, attrs: onlyAttrs ? [...attrs] : undefined };
    // A field of one scalar elsewhere in the event (responseStatus.code, an annotation):
    // where it is, so two rules' comparisons on it can be evaluated together.
    const own = paths.filter((p) => !(p.length === 1 && p[0] === 'auditID'));
    if (!onlyAttrs && own.length === 1 && def.symbolSlot !== undefined && level === 'Metadata') need.path = own[0];
  }
  cache.set(key, need);
  return need;
}

function isFull(plan: FieldPlan, p: string[]): boolean {
  let n: PlanNode | undefined = plan.root;
  for (const k of p) n = n?.children.get(k);
  return n?.full === true;
}

/** The fields of a value source (a field, or the fields inside a transformer). */
export function fieldsOf(e: TransformerArg | Operand): Array<{ name: string; arg: string | undefined }> {
  switch (e.type) {
    case 'field': return [{ name: e.name, arg: e.arg }];
    case 'transformer': return e.args.flatMap(fieldsOf);
    case 'tlist': return e.children.flatMap(fieldsOf);
    default: return [];
  }
}

/** The comparisons of a condition (its leaves), in order. */
export function leavesOf(e: Expr, out: Expr[] = []): Expr[] {
  switch (e.type) {
    case 'and': case 'or': for (const c of e.children) leavesOf(c, out); break;
    case 'not': leavesOf(e.child, out); break;
    default: out.push(e);
  }
  return out;
}

/** The fields a leaf reads. */
export function leafFields(e: Expr): FieldNeed[] {
  if (e.type === 'unary') return fieldsOf(e.left).map((f) => fieldNeed(f.name, f.arg));
  if (e.type === 'binary') return [...fieldsOf(e.left), ...fieldsOf(e.right)].map((f) => fieldNeed(f.name, f.arg));
  return [];
}

/** The fields a rule's output prints (output_fields and the message). */
export function outputNeeds(rule: CompiledRule): FieldNeed[] {
  return rule.output.resolutions.map((r) => {
    const open = r.name.indexOf('[');
    return open < 0 ? fieldNeed(r.name, undefined) : fieldNeed(r.name.slice(0, open), r.name.slice(open + 1, -1));
  });
}

