// The field plan: compiled once per ruleset from the fields its rules and outputs read.
// It tells the native extractor which members of an event to materialize (everything
// else is validated and skipped), which Get-chain values to record per event ("slots",
// so hot fields need no key search in JavaScript), and which constants each slot's
// string is compared against ("symbols", so equal values need no string decoding).
import { goAtoi } from './nodes.js';

export interface PlanNode {
  children: Map<string, PlanNode>;
  /** Materialize the whole subtree. */
  full: boolean;
  /** Objects here are events: they get a row of slots. */
  eventRoot: boolean;
  slot: number;
}

function node(): PlanNode {
  return { children: new Map(), full: false, eventRoot: false, slot: -1 };
}

/** The slot every plan records each event's stageTimestamp in. */
export const STAGE_TIMESTAMP_SLOT = 0;
/** The slot of each event's `kind`, with the constants Event and EventList. */
export const KIND_SLOT = 1;

export class FieldPlan {
  readonly root: PlanNode = node();
  /** Slot paths, by slot id. */
  readonly slotPaths: string[][] = [];
  /** Per slot: whether the extractor records it (else it is found by key search). */
  readonly recorded: boolean[] = [];
  /** Constants per slot (symbol strings). */
  private readonly slotConstants: Array<Set<string>> = [];
  private readonly slotIds = new Map<string, number>();
  /**
   * Symbol strings by id. Ids are fixed when a constant is first added, so compiled
   * predicates can compare an event's symbol with the constant's id.
   */
  readonly symbols: string[] = [];
  private readonly symbolIds = new Map<string, number>();
  /** Whether some field needs the whole event (no plan can be used). */
  everything = false;

  constructor() {
    this.root.eventRoot = true;
    // Documents are an Event, an EventList (items), or arrays of those.
    this.root.children.set('kind', { ...node(), full: true });
    this.root.children.set('items', this.root);
    // Every event needs its time (see events/audit.ts): slot STAGE_TIMESTAMP_SLOT.
    this.slot(['stageTimestamp']);
    // A document whose kind is the plain string Event is one event (see Processor).
    this.slot(['kind']);
    this.addConstants(KIND_SLOT, ['Event', 'EventList']);
  }

  /**
   * The subtree at `keys` is read: all of it (a fully materialized leaf), or with
   * `whole` false only what other reads below it declare.
   */
  need(keys: readonly string[], whole = true): void {
    if (keys[0] === 'items') {
      // Reads into an EventList's own items array: keep documents whole.
      this.root.full = true;
      return;
    }
    let n = this.root;
    for (let i = 0; i < keys.length; i++) {
      // A numeric key may index an array: keep that whole parent.
      if (goAtoi(keys[i]) !== undefined) {
        n.full = true;
        return;
      }
      let c = n.children.get(keys[i]);
      if (c === undefined) {
        c = node();
        n.children.set(keys[i], c);
      }
      n = c;
    }
    if (whole) n.full = true;
  }

  /** A Get-chain value read by a hot field (see need for `whole`): returns its slot id. */
  slot(keys: readonly string[], whole = true): number {
    const id = keys.join('\u0000');
    const existing = this.slotIds.get(id);
    if (existing !== undefined) {
      if (whole) this.need(keys);
      return existing;
    }
    this.need(keys, whole);
    let n: PlanNode | undefined = this.root;
    for (const k of keys) {
      n = n?.children.get(k);
      if (n === undefined || n === this.root) {
        n = undefined;
        break;
      }
    }
    const slotId = this.slotPaths.length;
    this.slotIds.set(id, slotId);
    this.slotPaths.push([...keys]);
    this.slotConstants.push(new Set());
    // Numeric keys end the trie early: such a slot is found by key search instead.
    const record = n !== undefined && n.slot === -1 && keys.length > 0 && keys.every((k) => goAtoi(k) === undefined);
    if (record) n!.slot = slotId;
    this.recorded.push(record);
    return slotId;
  }

  /** Constants some rule compares the slot's value with. */
  addConstants(slot: number, values: Iterable<string>): void {
    for (const v of values) {
      this.slotConstants[slot].add(v);
      if (!this.symbolIds.has(v)) {
        this.symbolIds.set(v, this.symbols.length);
        this.symbols.push(internalized(v));
      }
    }
  }

  /** The symbol id of `value` when it is one of the slot's constants, else -1. */
  symbolOf(slot: number, value: string): number {
    if (!this.slotConstants[slot]?.has(value)) return -1;
    return this.symbolIds.get(value)!;
  }

  /** The slot of a path if one was assigned and the extractor records it, else -1. */
  recordedSlot(keys: readonly string[]): number {
    const s = this.findSlot(keys);
    return s >= 0 && this.recorded[s] ? s : -1;
  }

  /** The slot of a path if one was assigned, else -1. */
  findSlot(keys: readonly string[]): number {
    return this.slotIds.get(keys.join('\u0000')) ?? -1;
  }

  get slotCount(): number {
    return this.slotPaths.length;
  }

  /**
   * Encodes the plan for the native extractor and returns the symbol strings (symbol id
   * = index). Layout: [nNodes, nDicts, nSlots, nodes..., dicts...], see peregrine_json.cc.
   */
  encode(): { program: Int32Array; strings: Buffer; symbols: string[] } {
    const nodes: PlanNode[] = [];
    const index = new Map<PlanNode, number>();
    const visit = (n: PlanNode): void => {
      if (index.has(n)) return;
      index.set(n, nodes.length);
      nodes.push(n);
      for (const c of n.children.values()) visit(c);
    };
    visit(this.root);
    const strings: Buffer[] = [];
    let strLen = 0;
    const str = (s: string): [number, number] => {
      const b = Buffer.from(s, 'utf8');
      strings.push(b);
      strLen += b.length;
      return [strLen - b.length, b.length];
    };
    const dictOf = new Map<number, number>();
    const dicts: number[][] = [];
    for (let s = 0; s < this.slotConstants.length; s++) {
      if (this.slotConstants[s].size === 0) continue;
      const entries: number[] = [];
      for (const v of this.slotConstants[s]) {
        const [off, len] = str(v);
        entries.push(off, len, this.symbolIds.get(v)!);
      }
      dictOf.set(s, dicts.length);
      dicts.push(entries);
    }
    const prog: number[] = [nodes.length, dicts.length, this.slotPaths.length];
    for (const n of nodes) {
      prog.push(n.full ? 1 : 0, n.eventRoot ? 1 : 0, n.slot, n.slot >= 0 ? (dictOf.get(n.slot) ?? -1) : -1, n.children.size);
      for (const [k, c] of n.children) {
        const [off, len] = str(k);
        prog.push(off, len, index.get(c)!);
      }
    }
    for (const d of dicts) prog.push(d.length / 3, ...d);
    return { program: Int32Array.from(prog), strings: Buffer.concat(strings), symbols: this.symbols };
  }
}

/** The same string, internalized: equal symbols then compare and hash by pointer. */
function internalized(s: string): string {
  return Object.keys({ [s]: 0 })[0] ?? s;
}

/** Per-document event rows filled by the native extractor (see peregrine_json.cc). */
export class Rows {
  data: Int32Array;
  cap: number;

  constructor(readonly slotsPerRow: number, cap = 64) {
    this.cap = cap;
    this.data = new Int32Array(4 + cap * (5 + 2 * slotsPerRow));
  }

  grow(cap: number): void {
    this.cap = cap;
    this.data = new Int32Array(4 + cap * (5 + 2 * this.slotsPerRow));
  }

  get count(): number {
    return this.data[0];
  }

  rowNode(r: number): number {
    return this.data[4 + r];
  }

  slotBase(r: number): number {
    return 4 + this.cap + r * this.slotsPerRow;
  }

  symBase(r: number): number {
    return 4 + this.cap + this.cap * this.slotsPerRow + r * this.slotsPerRow;
  }

  /**
   * Where row r's stageTimestamp, parsed by the extractor, is: nanoseconds (-1 when it
   * was not parsed there), days since the epoch, seconds into that day.
   */
  timeBase(r: number): number {
    return 4 + this.cap + 2 * this.cap * this.slotsPerRow + 3 * r;
  }

  /**
   * Where row r's prefilter verdict is: the position of the first rule that may match
   * the event, the rule count when none can (see prefilter.ts).
   */
  skipBase(r: number): number {
    return 4 + this.cap * (4 + 2 * this.slotsPerRow) + r;
  }
}
