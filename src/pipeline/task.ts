// What crosses between the main thread and a worker. The body travels as the
// SharedArrayBuffer it was received into (shared, not copied); a task names its
// events as byte ranges in it. Rules travel the same way, once per generation.
import type { ErrorCodeValue } from '../errors.js';

export interface WorkerInit {
  /** One ring per worker (plus spares for replacements); a worker claims a free one. */
  rings: SharedArrayBuffer[];
  /** Shared counters (metrics/shared.ts). */
  metrics: SharedArrayBuffer;
  maxEventBytes: number;
  timeIso8601: boolean;
}

export interface RulesBundle {
  gen: number;
  /** UTF-8 JSON of {files: RuleFile[], options}: compiled by each worker on first use. */
  sab: SharedArrayBuffer;
}

export interface EvalTask {
  /** Request (batch) id: the tag of every alert record this task writes. */
  batch: number;
  /** Task index within the batch: alerts are released in task order. */
  seq: number;
  body: SharedArrayBuffer;
  /** [start, end) pairs into `body`. */
  ranges: Uint32Array;
  /** Index of the first range among the request's events (for messages). */
  firstItem: number;
  /** The authenticated cluster, forced as ka.cluster.name; undefined = from the event. */
  cluster: string | undefined;
  /**
   * The ranges are whole JSON documents, one per line of a followed file, not the items
   * of one EventList: each must be an Event (or EventList, or array of them), and one
   * that is malformed is an issue of its line like any other, not fatal to the task.
   * Every issue is reported in detail (each names a line). Default: items.
   */
  documents?: boolean;
  /**
   * The ranges are frames of an LDP WebSocket stream (ingest/ldp): each is unwrapped in
   * the worker to its audit payload, which is then a document as above; events that
   * alert are looked up in the shared `dedup` table (pipeline/dedup.ts) and a repeat
   * gives no alert.
   */
  ldp?: { dedup: SharedArrayBuffer };
  rulesGen: number;
  rules: SharedArrayBuffer;
  /** ms since the epoch (performance.timeOrigin-based) when queued. */
  queuedAt: number;
}

export interface EventIssueReport {
  code: ErrorCodeValue;
  message: string;
  /** Index of the event within the request. */
  item: number;
}

export interface EvalResult {
  ring: number;
  events: number;
  alerts: number;
  /** Per-event problems (no time, too large): counted, reported, not fatal. First few in detail. */
  issues: EventIssueReport[];
  issueCount: number;
  /** All of them by code (the details stop at MAX_ISSUE_DETAILS). */
  issueCodes: Record<string, number>;
  /** Malformed JSON in an event: the whole request is rejected and its alerts discarded. */
  fatal?: EventIssueReport;
  /** Alerts too large for the ring, referenced by overflow records. */
  overflow: string[];
  /** LDP tasks: frames skipped before parsing, by reason; repeats dropped; lookups the full table let through. */
  ldp?: { skipped: Record<string, number>; repeats: number; dedupFull: number };
  startedAt: number;
  evalSeconds: number;
}

/** Set on `seq` of a record whose alert is in EvalResult.overflow (payload = index). */
export const OVERFLOW_FLAG = 0x80000000;
/** Set on `seq` of a record whose alert text ends with its id (ALERT_ID_LENGTH bytes, outputs/alert-id.ts). */
export const ID_FLAG = 0x40000000;
export const MAX_ISSUE_DETAILS = 20;

/** A webhook body too large to split on the main thread (see ingest/server.ts). */
export interface SplitTask {
  body: SharedArrayBuffer;
  len: number;
  maxEvents: number;
}

/** The body's event ranges, or why it is refused (the main thread's SplitError, rebuilt). */
export type SplitResult =
  | { ok: true; count: number; ranges: Uint32Array }
  | { ok: false; message: string; offset: number; tooMany: boolean };
