// The seam between documents and node tables. The pure-TypeScript backend parses the
// whole document; the native backend (native-backend.ts) fills the same table with
// simdjson and can follow a field plan (materialize only what rules read).
import type { NodeTable } from '../events/nodes.js';
import type { FieldPlan, Rows } from '../events/plan.js';
import { JsonSyntaxError, parseJson } from '../events/json-parse.js';
import type { EncodedPrefilter } from '../rules/prefilter.js';

export class JsonInputError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** A field plan made ready for one backend (compiled once per ruleset and thread). */
export interface PreparedPlan {
  readonly handle: unknown;
  readonly slotCount: number;
  readonly symbols: string[];
  /** Per slot: 1 when the backend records it. */
  readonly recorded: Uint8Array;
  /** The slot of `auditID`, or -1. */
  readonly auditSlot: number;
  /** The symbol of a `kind` that is the plain string Event (KIND_SLOT), or -1. */
  readonly eventSym: number;
  /** The backend writes the prefilter's verdict per row. */
  readonly prefilter: boolean;
}

export interface JsonBackend {
  readonly name: string;
  /** Fills `t` from buf[start, end) completely; returns the root node. Throws JsonInputError. */
  parse(t: NodeTable, buf: Buffer, start: number, end: number): number;
  /**
   * Prepares a field plan, when the backend can follow one; with the ruleset's prefilter,
   * the backend also marks the events no rule can match (Rows.skipBase).
   */
  preparePlan?(plan: FieldPlan, prefilter?: EncodedPrefilter): PreparedPlan | undefined;
  /** Like parse, materializing only what the plan needs and filling per-event rows. */
  parsePlanned?(t: NodeTable, buf: Buffer, start: number, end: number, plan: PreparedPlan, rows: Rows): number;
  /**
   * Parses documents ranges[2k], ranges[2k+1] for k in [from, from+count) into one table,
   * following the plan; roots[k-from] is each root node or -1 (invalid JSON). Returns how
   * many were done (fewer when the table or rows filled up; rows.data[1] / [2] then say
   * what the next document needs). With a prefilter, a document that is plainly one
   * event (see Processor.plainEventRow, for `items` and `maxEventSize`) which no rule can
   * match gets the root -2.
   */
  parseBatch?(t: NodeTable, buf: Buffer, ranges: Uint32Array, from: number, count: number, plan: PreparedPlan, rows: Rows, roots: Int32Array,
    items: boolean, maxEventSize: number): number;
}

export const jsBackend: JsonBackend = {
  name: 'typescript',
  parse(t, buf, start, end) {
    try {
      return parseJson(t, buf, start, end);
    } catch (e) {
      if (e instanceof JsonSyntaxError) {
        throw new JsonInputError(`invalid JSON at byte ${e.offset - start}: ${e.message}`, e.offset);
      }
      throw e;
    }
  },
};
