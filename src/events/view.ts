// The event view: everything a compiled rule may read about one audit event.
// Field extractors read the event only through `t` (a NodeTable filled by either the
// TypeScript parser or the native extractor) and `root`; results are cached per event
// in slots assigned at compile time, so the per-event path allocates only the values
// that predicates or outputs actually touch.
import { type NodeTable, getPath } from './nodes.js';
import type { Rows } from './plan.js';
import { eventNanos } from './time.js';

/** Symbol codes (see slotSym; the native extractor writes the same values). */
export const SYM_NONE = -1;
export const SYM_UNKNOWN = -2;
export const SYM_ABSENT = -3;

/** One extracted field value: a string, a non-empty list, a number, or absent. */
export type FieldValue = string | string[] | bigint | boolean | undefined;

export class EventView {
  t: NodeTable;
  /** Root node of this event in `t`. */
  root = -1;
  /** Event time: seconds since the epoch and nanoseconds (see time()). */
  sec = 0;
  nsec = 0;
  private tsGen = 0;
  private tsValue = 0n;
  /** Events of a log mostly share their second: its text is kept. */
  private secTextOf = -1;
  private secText = '';
  /** 1-based number of the event in its stream (evt.num). */
  num = 0;
  /** Cluster name forced by the ingest credential (overrides annotations.cluster_name). */
  cluster: string | undefined = undefined;
  /** Slots recorded by the native extractor for this event, or row = -1. */
  rows: Rows | undefined = undefined;
  row = -1;
  private slotBase = 0;
  private symBase = 0;
  /** Per slot: 1 when the extractor records it (else found by key search). */
  recorded: Uint8Array = new Uint8Array(0);
  /** Symbol strings of the ruleset's plan. */
  symbols: string[] = [];
  /** The plan's slot of `auditID`, which gates every ka.* field; -1 when none. */
  auditSlot = -1;
  /** Whether the event has an auditID member (valid when auditIdGen === gen). */
  hasAuditId = false;
  auditIdGen = 0;
  /** Generation of the cache: bumped for every event. */
  gen = 1;
  cacheGen: Uint32Array;
  cacheVal: FieldValue[];

  constructor(t: NodeTable, slots: number) {
    this.t = t;
    this.cacheGen = new Uint32Array(Math.max(1, slots));
    this.cacheVal = new Array<FieldValue>(Math.max(1, slots)).fill(undefined);
  }

  /** Points the view at the next event. */
  load(t: NodeTable, root: number, sec: number, nsec: number, num: number, cluster?: string, rows?: Rows, row = -1): void {
    this.t = t;
    this.root = root;
    this.rows = rows;
    this.row = row;
    if (rows !== undefined && row >= 0) {
      this.slotBase = rows.slotBase(row);
      this.symBase = rows.symBase(row);
    }
    this.sec = sec;
    this.nsec = nsec;
    this.num = num;
    this.cluster = cluster;
    if (++this.gen === 0xffffffff) {
      this.cacheGen.fill(0);
      this.auditIdGen = 0;
      this.tsGen = 0;
      this.gen = 1;
    }
    // The extractor recorded whether there is an auditID: known before any field asks.
    const a = this.auditSlot;
    if (rows !== undefined && row >= 0 && a >= 0 && this.recorded[a] === 1) {
      this.hasAuditId = rows.data[this.slotBase + a] !== -1;
      this.auditIdGen = this.gen;
    }
  }

  /** Node of a Get-chain path (slot `slot`, keys `keys`) from the event root, or -1. */
  pathNode(slot: number, keys: readonly Buffer[]): number {
    if (this.row >= 0 && this.recorded[slot] === 1) return this.rows!.data[this.slotBase + slot];
    return getPath(this.t, this.root, keys);
  }

  /** Symbol of that path's string value when it equals one of the plan's constants, else -1. */
  pathSymbol(slot: number): number {
    if (this.row >= 0 && this.recorded[slot] === 1) return this.rows!.data[this.symBase + slot];
    return -1;
  }

  /**
   * What the extractor found at a recorded slot, so a predicate can compare constants
   * without reading the value: a symbol id (>= 0) when the value is the string of one of
   * the slot's constants, SYM_NONE when it is a plain string equal to none of them,
   * SYM_ABSENT when there is no value, SYM_UNKNOWN when only the field itself can tell.
   */
  slotSym(slot: number): number {
    if (this.row >= 0 && this.recorded[slot] === 1) return this.rows!.data[this.symBase + slot];
    return SYM_UNKNOWN;
  }

  /** slotSym for a ka.* field: absent unless the event has an auditID. */
  auditSym(slot: number): number {
    if (this.row < 0 || this.recorded[slot] !== 1 || this.auditIdGen !== this.gen) return SYM_UNKNOWN;
    return this.hasAuditId ? this.rows!.data[this.symBase + slot] : SYM_ABSENT;
  }

  /** Whether the plain string at a recorded slot (slotSym SYM_NONE) starts with `prefix` (UTF-8). */
  slotStartsWith(slot: number, prefix: Uint8Array): boolean {
    const n = this.rows!.data[this.slotBase + slot];
    const t = this.t;
    const s = t.vs[n];
    if (t.ve[n] - s < prefix.length) return false;
    const b = t.buf;
    for (let i = 0; i < prefix.length; i++) if (b[s + i] !== prefix[i]) return false;
    return true;
  }

  /** Whether the plain string at a recorded slot (slotSym SYM_NONE) ends with `suffix` (UTF-8). */
  slotEndsWith(slot: number, suffix: Uint8Array): boolean {
    const n = this.rows!.data[this.slotBase + slot];
    const t = this.t;
    const s = t.ve[n] - suffix.length;
    if (s < t.vs[n]) return false;
    const b = t.buf;
    for (let i = 0; i < suffix.length; i++) if (b[s + i] !== suffix[i]) return false;
    return true;
  }

  /** The event time in nanoseconds as decimal text (jevt.rawtime), without BigInt for usual times. */
  timeText(): string {
    const sec = this.sec;
    if (sec > 0 && sec < 9_000_000_000) {
      if (sec !== this.secTextOf) {
        this.secTextOf = sec;
        this.secText = String(sec);
      }
      return this.secText + String(1_000_000_000 + this.nsec).slice(1);
    }
    return this.time().toString();
  }

  /** Event time in nanoseconds since the epoch, as Falco stores it (Go UnixNano bits as uint64). */
  time(): bigint {
    if (this.tsGen !== this.gen) {
      this.tsGen = this.gen;
      this.tsValue = eventNanos(this.sec, this.nsec);
    }
    return this.tsValue;
  }
}

/** A compiled field read: pure function of the event, cached in its slot by the caller. */
export type Extractor = (ev: EventView) => FieldValue;
