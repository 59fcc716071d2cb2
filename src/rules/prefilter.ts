// The prefilter: events that no rule can match, found by the native extractor from the
// symbols it records, so that JavaScript never evaluates them. Each rule's condition
// becomes a three-valued program (false, true, unknown) over the leaves its generated
// predicate decides by symbols; every other leaf is unknown. An event is skipped only
// when every rule is false, so the prefilter never changes which alerts fire: it only
// spares the rules' evaluation for events that would raise none.

export type PfNode =
  | { op: 'true' }
  | { op: 'false' }
  | { op: 'unknown' }
  | { op: 'and' | 'or'; children: PfNode[] }
  | { op: 'not'; child: PfNode }
  /** A symbol slot's value is one of some constants: 1 at each of their symbol ids. */
  | { op: 'set'; slot: number; gated: boolean; members: Uint8Array }
  /** A plain string's bytes start (or end) with `bytes`. */
  | { op: 'bytes'; slot: number; gated: boolean; end: boolean; bytes: Uint8Array }
  /** The event time is `sec`.`nsec` (NaN: a value no usual time equals). */
  | { op: 'time'; sec: number; nsec: number }
  /**
   * A ka.* list field that is arrayAsStringsSkipNil(getValuesRecursive(keys, index))
   * holds one of `values` (intersects).
   */
  | { op: 'list'; keys: Uint8Array[]; index: number; values: Uint8Array[] };

export const PF_TRUE: PfNode = { op: 'true' };
export const PF_FALSE: PfNode = { op: 'false' };
export const PF_UNKNOWN: PfNode = { op: 'unknown' };

/** `and` / `or` of children, constants folded: `decides` ends it, the other one drops out. */
function pfJoin(op: 'and' | 'or', children: PfNode[], decides: PfNode, neutral: PfNode): PfNode {
  const kept: PfNode[] = [];
  for (const c of children) {
    if (c === decides) return decides;
    if (c !== neutral) kept.push(c);
  }
  if (kept.length === 0) return neutral;
  return kept.length === 1 ? kept[0] : { op, children: kept };
}

export function pfAnd(children: PfNode[]): PfNode {
  return pfJoin('and', children, PF_FALSE, PF_TRUE);
}

export function pfOr(children: PfNode[]): PfNode {
  return pfJoin('or', children, PF_TRUE, PF_FALSE);
}

export function pfNot(c: PfNode): PfNode {
  if (c === PF_TRUE) return PF_FALSE;
  if (c === PF_FALSE) return PF_TRUE;
  if (c === PF_UNKNOWN) return PF_UNKNOWN;
  return { op: 'not', child: c };
}

/** Opcodes; every node is [op, length in ints, ...] (see pf_eval in peregrine_json.cc). */
const OP = { true: 1, false: 2, unknown: 3, and: 4, or: 5, not: 6, set: 7, bytes: 8, time: 9, list: 10 } as const;

export interface EncodedPrefilter {
  /** [auditSlot, rule count, the rules' nodes..., the index (see candidateIndex)]. */
  program: Int32Array;
  /** Member tables and byte strings the nodes point into. */
  pool: Uint8Array;
}

/**
 * Encodes the rules' programs for the native extractor. `auditSlot` is the recorded slot
 * of `auditID` (which gates ka.* fields), or -1.
 */
export function encodePrefilter(rules: readonly PfNode[], auditSlot: number): EncodedPrefilter {
  const out: number[] = [auditSlot, rules.length];
  const pool: number[] = [];
  const bytes = (b: Uint8Array): number => {
    const at = pool.length;
    for (const x of b) pool.push(x);
    return at;
  };
  const emit = (n: PfNode): void => {
    const at = out.length;
    switch (n.op) {
      case 'true': case 'false': case 'unknown':
        out.push(OP[n.op], 2);
        return;
      case 'and': case 'or':
        out.push(OP[n.op], 0, n.children.length);
        for (const c of n.children) emit(c);
        break;
      case 'not':
        out.push(OP.not, 0);
        emit(n.child);
        break;
      case 'set':
        out.push(OP.set, 6, n.slot, n.gated ? 1 : 0, bytes(n.members), n.members.length);
        return;
      case 'bytes':
        out.push(OP.bytes, 7, n.slot, n.gated ? 1 : 0, n.end ? 1 : 0, bytes(n.bytes), n.bytes.length);
        return;
      case 'list':
        out.push(OP.list, 0, Math.min(n.index, 0x7fffffff), n.keys.length);
        for (const k of n.keys) out.push(bytes(k), k.length);
        out.push(n.values.length);
        for (const v of n.values) out.push(bytes(v), v.length);
        break;
      case 'time': {
        const usual = Number.isInteger(n.sec) && n.sec > 0 && n.sec < 9_000_000_000;
        const sec = usual ? n.sec : 0;
        out.push(OP.time, 6, usual ? 1 : 0, Math.floor(sec / 2 ** 24), sec % 2 ** 24, usual ? n.nsec : 0);
        return;
      }
    }
    out[at + 1] = out.length - at;
  };
  for (const r of rules) emit(r);
  out.push(...candidateIndex(rules));
  return { program: Int32Array.from(out), pool: Uint8Array.from(pool) };
}

/**
 * Most rules require, as a top-level conjunct, that some symbol slot holds one of a few
 * constants (`ka.target.resource=pods`). For each such slot the index has a row of
 * candidate bits per symbol code: rows 0, 1, 2 for SYM_ABSENT, SYM_UNKNOWN, SYM_NONE,
 * 3 + id for a symbol id below `ids`, 3 + ids for any other id; bit i is clear when rule
 * i is certainly false for that code. So the extractor evaluates only the rules every
 * indexed slot allows. Layout: [words per row, slot count, then per slot: slot, gated,
 * ids, (ids + 4) rows of words].
 */
function candidateIndex(rules: readonly PfNode[]): number[] {
  const words = Math.ceil(rules.length / 32);
  // Per slot, per constrained rule: the symbol ids all its conjuncts on the slot allow.
  const bySlot = new Map<string, { slot: number; gated: boolean; allow: Map<number, Uint8Array> }>();
  rules.forEach((r, i) => {
    for (const c of r.op === 'and' ? r.children : [r]) {
      if (c.op !== 'set') continue;
      const key = `${c.slot}/${c.gated}`;
      let e = bySlot.get(key);
      if (e === undefined) bySlot.set(key, (e = { slot: c.slot, gated: c.gated, allow: new Map() }));
      const prev = e.allow.get(i);
      e.allow.set(i, prev === undefined ? c.members : prev.map((v, k) => (k < c.members.length ? v & c.members[k] : 0)));
    }
  });
  const out = [words, bySlot.size];
  const all = new Int32Array(words);
  for (let i = 0; i < rules.length; i++) all[i >> 5] |= 1 << (i & 31);
  for (const { slot, gated, allow } of bySlot.values()) {
    let ids = 0;
    for (const m of allow.values()) ids = Math.max(ids, m.length);
    out.push(slot, gated ? 1 : 0, ids);
    // Rules with no conjunct on the slot pass every code; the others only SYM_UNKNOWN
    // (JavaScript decides) and the ids they allow.
    const free = all.slice();
    for (const i of allow.keys()) free[i >> 5] &= ~(1 << (i & 31));
    const rows = new Int32Array((ids + 4) * words);
    for (let row = 0; row < ids + 4; row++) rows.set(row === 1 ? all : free, row * words);
    for (const [i, m] of allow) {
      for (let id = 0; id < m.length; id++) if (m[id] === 1) rows[(3 + id) * words + (i >> 5)] |= 1 << (i & 31);
    }
    for (const w of rows) out.push(w);
  }
  return out;
}
