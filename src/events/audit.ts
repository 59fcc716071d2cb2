// Which JSON documents are audit events, and each event's time, decided exactly as the
// k8saudit plugin's ParseAuditEventsJSON / parseSingleAuditEventJSON do.
import { ARR, OBJ, STR, TYPE_MASK, type NodeTable, getMember, stringOf, compactLength } from './nodes.js';
import { type EventTime, parseEventTime, parseEventTimeBytes, TimeParseError } from './time.js';
import { ErrorCode, type ErrorCodeValue } from '../errors.js';

/** The plugin's default maxEventSize: 256 KiB of compact JSON. */
export const DEFAULT_MAX_EVENT_SIZE = 262144;

export const NOT_RECOGNIZED = 'data not recognized as a k8s audit event';

const K_KIND = Buffer.from('kind');
const K_ITEMS = Buffer.from('items');
const K_STAGE_TS = Buffer.from('stageTimestamp');

export interface EventRef {
  root: number;
  /** Event time (see EventTime). */
  sec: number;
  nsec: number;
  /** 0-based position among the document's events (items), for messages. */
  item: number;
}

export interface EventIssue {
  code: ErrorCodeValue;
  message: string;
  /** Index of the item within the document, or -1 when the whole document is rejected. */
  item: number;
}

/**
 * Appends the audit events of the document rooted at `root` to `events`. A document
 * that is not an Event, an EventList or an array of those is rejected as a whole
 * (nothing from it is evaluated); single events with no usable time or over the size
 * limit are rejected alone.
 */
export function collectEvents(
  t: NodeTable, root: number, events: EventRef[], issues: EventIssue[], maxEventSize = DEFAULT_MAX_EVENT_SIZE,
): boolean {
  const firstEvent = events.length;
  const firstIssue = issues.length;
  const counter = { n: 0 };
  if (!walk(t, root, events, issues, maxEventSize, counter, true)) {
    events.length = firstEvent;
    issues.length = firstIssue;
    issues.push({ code: ErrorCode.INPUT_NOT_AUDIT, message: NOT_RECOGNIZED, item: -1 });
    return false;
  }
  return true;
}

function walk(t: NodeTable, n: number, events: EventRef[], issues: EventIssue[], max: number, counter: { n: number }, top: boolean): boolean {
  const type = t.kind[n] & TYPE_MASK;
  if (type === ARR) {
    for (let c = t.first[n]; c !== -1; c = t.next[c]) if (!walk(t, c, events, issues, max, counter, false)) return false;
    return true;
  }
  if (type !== OBJ) return false;
  const kind = getMember(t, n, K_KIND);
  if (kind === -1 || (t.kind[kind] & TYPE_MASK) !== STR) return false;
  const k = stringOf(t, kind);
  if (k === 'EventList') {
    const items = getMember(t, n, K_ITEMS);
    if (items === -1 || (t.kind[items] & TYPE_MASK) !== ARR) return false;
    for (let c = t.first[items]; c !== -1; c = t.next[c]) single(t, c, events, issues, max, counter.n++);
    return true;
  }
  if (k === 'Event') {
    // A document that is one Event: its problems are the document's (no item number).
    single(t, n, events, issues, max, top ? -1 : counter.n++);
    return true;
  }
  return false;
}

/** Appends one EventList item (whatever its `kind`) if it has a usable time and size. */
export function collectItem(t: NodeTable, root: number, events: EventRef[], issues: EventIssue[], maxEventSize = DEFAULT_MAX_EVENT_SIZE): boolean {
  const before = events.length;
  single(t, root, events, issues, maxEventSize, 0);
  return events.length > before;
}

const SCRATCH: EventTime = { sec: 0, nsec: 0 };

function single(t: NodeTable, n: number, events: EventRef[], issues: EventIssue[], max: number, item: number): void {
  const st = getMember(t, n, K_STAGE_TS);
  if (st === -1) {
    issues.push({ code: ErrorCode.INPUT_TIMESTAMP, message: "can't read stageTimestamp", item });
    return;
  }
  const time = SCRATCH;
  if (t.kind[st] !== STR || !parseEventTimeBytes(t.buf, t.vs[st], t.ve[st], time)) {
    try {
      parseEventTime((t.kind[st] & TYPE_MASK) === STR ? stringOf(t, st) : '', time);
    } catch (e) {
      if (!(e instanceof TimeParseError)) throw e;
      issues.push({ code: ErrorCode.INPUT_TIMESTAMP, message: e.message, item });
      return;
    }
  }
  const raw = t.ve[n] - t.vs[n];
  if (raw > max) {
    const size = compactLength(t.buf, t.vs[n], t.ve[n]);
    if (size > max) {
      issues.push({ code: ErrorCode.INPUT_TOO_LARGE, message: `event larger than maxEventSize: size=${size}`, item });
      return;
    }
  }
  events.push({ root: n, sec: time.sec, nsec: time.nsec, item });
}
