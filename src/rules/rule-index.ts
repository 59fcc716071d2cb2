// Candidate-rule index. Most rules require, as a top-level conjunct, that some scalar
// field equals one of a few constants (`ka.target.resource=pods`, `ka.verb in (...)`).
// For an event whose value for that field is not among them, the rule cannot match, so
// rules are bucketed by those values in a small decision tree built once per ruleset.
// Each bucket keeps the rules in their original order, so `rule_matching: first` and
// `all` give exactly the results of evaluating every rule.
import { type EventView, type FieldValue, SYM_UNKNOWN } from '../events/view.js';
import type { Expr, FieldExpr } from './condition-ast.js';
import { comparedConstants, sourceToString } from './condition-ast.js';

/** field key → the values the field must take for the rule to possibly match. */
export type Constraints = Map<string, Set<string>>;

const EQUALITY = new Set(['=', '==', 'in', 'intersects', '= anyof', '== anyof']);

/**
 * Necessary conditions of `e`: for each constrained field, the set its value must be
 * in. Only fields `accept` admits (plain scalar string fields) are considered; their
 * expressions are recorded in `fields` by key.
 */
export function constraintsOf(e: Expr, accept: (f: FieldExpr) => boolean, fields: Map<string, FieldExpr>): Constraints {
  switch (e.type) {
    case 'and': {
      const out: Constraints = new Map();
      for (const c of e.children) {
        for (const [k, s] of constraintsOf(c, accept, fields)) {
          const prev = out.get(k);
          out.set(k, prev ? new Set([...prev].filter((v) => s.has(v))) : s);
        }
      }
      return out;
    }
    case 'or': {
      const parts = e.children.map((c) => constraintsOf(c, accept, fields));
      const out: Constraints = new Map();
      for (const [k, s] of parts[0] ?? new Map<string, Set<string>>()) {
        if (parts.every((p) => p.has(k))) out.set(k, new Set(parts.flatMap((p) => [...p.get(k)!])));
      }
      return out;
    }
    case 'binary': {
      if (e.left.type !== 'field' || !EQUALITY.has(e.op)) return new Map();
      if (e.right.type !== 'value' && e.right.type !== 'list') return new Map();
      if (!accept(e.left)) return new Map();
      const key = sourceToString(e.left);
      fields.set(key, e.left);
      const values = comparedConstants(e.right);
      return new Map([[key, new Set(values)]]);
    }
    default:
      return new Map();
  }
}

export interface IndexedRule<R> {
  rule: R;
  constraints: Constraints;
}

/** How the index reads a field. */
export interface IndexField {
  get: (ev: EventView) => FieldValue;
  /** The plan slot whose symbols decide the field's value (see EventView.slotSym), or -1. */
  slot: number;
  /** Read the symbol with auditSym (a ka.* field). */
  gated: boolean;
  /** The symbol id of a constant in the slot's dictionary, or -1. */
  symbolOf: (value: string) => number;
}

export interface IndexNode<R> {
  get: (ev: EventView) => FieldValue;
  byValue: Map<string, IndexNode<R> | R[]>;
  /** Rules for values not listed, and for an absent or non-string value. */
  other: IndexNode<R> | R[];
  /** -1, or the slot whose symbol picks the branch: bySym[id] for the listed values. */
  slot: number;
  gated: boolean;
  bySym: Array<IndexNode<R> | R[] | undefined>;
}

const MAX_DEPTH = 6;
const LEAF_SIZE = 2;

/** Builds the decision tree; `getter(key)` returns the cached extractor of a field key. */
export function buildIndex<R>(rules: IndexedRule<R>[], getter: (key: string) => IndexField, depth = 0, used = new Set<string>()): IndexNode<R> | R[] {
  if (rules.length <= LEAF_SIZE || depth >= MAX_DEPTH) return rules.map((r) => r.rule);
  const fields = new Set<string>();
  for (const r of rules) for (const k of r.constraints.keys()) if (!used.has(k)) fields.add(k);
  let best: string | undefined;
  let bestCost = rules.length;
  for (const f of fields) {
    const values = new Set<string>();
    let free = 0;
    let memberships = 0;
    for (const r of rules) {
      const s = r.constraints.get(f);
      if (s === undefined) free++;
      else {
        memberships += s.size;
        for (const v of s) values.add(v);
      }
    }
    // Most events carry none of the constants rules name, so the rules left for
    // "other" values dominate the expected cost; the listed buckets count a little.
    // Summed over the listed values, each bucket holds the free rules plus those naming it.
    const listed = values.size * free + memberships;
    const cost = free + (0.25 * listed) / Math.max(1, values.size);
    if (cost < bestCost) {
      bestCost = cost;
      best = f;
    }
  }
  if (best === undefined) return rules.map((r) => r.rule);
  const f = best;
  const nextUsed = new Set(used).add(f);
  const values = new Set<string>();
  for (const r of rules) for (const v of r.constraints.get(f) ?? []) values.add(v);
  const byValue = new Map<string, IndexNode<R> | R[]>();
  for (const v of values) {
    const bucket = rules.filter((r) => { const s = r.constraints.get(f); return s === undefined || s.has(v); });
    byValue.set(v, buildIndex(bucket, getter, depth + 1, nextUsed));
  }
  const other = buildIndex(rules.filter((r) => !r.constraints.has(f)), getter, depth + 1, nextUsed);
  const field = getter(f);
  // Symbols can pick the branch only when every listed value is one of the slot's constants.
  let slot = field.slot;
  const bySym: Array<IndexNode<R> | R[] | undefined> = [];
  for (const [v, n] of byValue) {
    const id = slot < 0 ? -1 : field.symbolOf(v);
    if (id < 0) {
      slot = -1;
      break;
    }
    bySym[id] = n;
  }
  return { get: field.get, byValue, other, slot, gated: field.gated, bySym: slot < 0 ? [] : bySym };
}

/** The candidate rules for an event, in rule order. */
export function candidates<R>(node: IndexNode<R> | R[], ev: EventView): R[] {
  while (!Array.isArray(node)) {
    const s = node.slot < 0 ? SYM_UNKNOWN : node.gated ? ev.auditSym(node.slot) : ev.slotSym(node.slot);
    if (s >= 0) {
      node = (s < node.bySym.length ? node.bySym[s] : undefined) ?? node.other;
    } else if (s !== SYM_UNKNOWN) {
      node = node.other;
    } else {
      const v = node.get(ev);
      node = (typeof v === 'string' ? node.byValue.get(v) : undefined) ?? node.other;
    }
  }
  return node;
}
