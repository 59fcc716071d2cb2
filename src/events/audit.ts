// Which JSON documents are audit events, and each event's time, decided exactly as the
// k8saudit plugin's ParseAuditEventsJSON / parseSingleAuditEventJSON do.
import { ARR, OBJ, STR, TYPE_MASK, type NodeTable, getMember, stringOf, stringEquals, compactLength } from './nodes.js';
import { type EventTime, parseEventTime, parseEventTimeBytes, TimeParseError } from './time.js';
import { ErrorCode, type ErrorCodeValue } from '../errors.js';

/** stageTimeOf's answer when it has parsed the time itself. */
export const TIME_PARSED = -3;

/** The plugin's default maxEventSize: 256 KiB of compact JSON. */
export const DEFAULT_MAX_EVENT_SIZE = 262144;

export const NOT_RECOGNIZED = 'data not recognized as a k8s audit event';

const K_KIND = Buffer.from('kind');
const K_ITEMS = Buffer.from('items');
const K_STAGE_TS = Buffer.from('stageTimestamp');
const V_EVENT_LIST = Buffer.from('EventList');
const V_EVENT = Buffer.from('Event');

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
 * Splits documents into events. Reused for every document: event records are pooled,
 * so the per-event path allocates nothing.
 */
export class EventCollector {
  /** Event records; the first `count` are this document's. */
  readonly events: EventRef[] = [];
  count = 0;
  readonly issues: EventIssue[] = [];
  private item = 0;
  private max = DEFAULT_MAX_EVENT_SIZE;
  /**
   * Finds an event root's stageTimestamp faster than by key search, when it can: its
   * time already parsed into `out` (TIME_PARSED), its node, -1 when it has none, or -2.
   */
  stageTimeOf: ((root: number, out: EventTime) => number) | undefined;

  /**
   * Collects the audit events of the document rooted at `root`. A document that is not
   * an Event, an EventList or an array of those is rejected as a whole (nothing from it
   * is evaluated); single events with no usable time or over the size limit are rejected
   * alone. Returns false when the document is rejected.
   */
  collect(t: NodeTable, root: number, maxEventSize = DEFAULT_MAX_EVENT_SIZE): boolean {
    this.count = 0;
    this.issues.length = 0;
    this.item = 0;
    this.max = maxEventSize;
    if (!this.walk(t, root, true)) {
      this.count = 0;
      this.issues.length = 0;
      this.issues.push({ code: ErrorCode.INPUT_NOT_AUDIT, message: NOT_RECOGNIZED, item: -1 });
      return false;
    }
    return true;
  }

  /** Collects one EventList item (whatever its `kind`) if it has a usable time and size. */
  collectItem(t: NodeTable, root: number, maxEventSize = DEFAULT_MAX_EVENT_SIZE): boolean {
    this.count = 0;
    this.issues.length = 0;
    this.max = maxEventSize;
    this.single(t, root, 0);
    return this.count > 0;
  }

  private walk(t: NodeTable, n: number, top: boolean): boolean {
    const type = t.kind[n] & TYPE_MASK;
    if (type === ARR) {
      for (let c = t.first[n]; c !== -1; c = t.next[c]) if (!this.walk(t, c, false)) return false;
      return true;
    }
    if (type !== OBJ) return false;
    const kind = getMember(t, n, K_KIND);
    if (kind === -1 || (t.kind[kind] & TYPE_MASK) !== STR) return false;
    if (stringEquals(t, kind, V_EVENT_LIST)) {
      const items = getMember(t, n, K_ITEMS);
      if (items === -1 || (t.kind[items] & TYPE_MASK) !== ARR) return false;
      for (let c = t.first[items]; c !== -1; c = t.next[c]) this.single(t, c, this.item++);
      return true;
    }
    if (stringEquals(t, kind, V_EVENT)) {
      // A document that is one Event: its problems are the document's (no item number).
      this.single(t, n, top ? -1 : this.item++);
      return true;
    }
    return false;
  }

  private single(t: NodeTable, n: number, item: number): void {
    const time = SCRATCH;
    let st = this.stageTimeOf !== undefined ? this.stageTimeOf(n, time) : -2;
    if (st === -2) st = getMember(t, n, K_STAGE_TS);
    if (st === -1) {
      this.issues.push({ code: ErrorCode.INPUT_TIMESTAMP, message: "can't read stageTimestamp", item });
      return;
    }
    if (st !== TIME_PARSED && (t.kind[st] !== STR || !parseEventTimeBytes(t.buf, t.vs[st], t.ve[st], time))) {
      try {
        parseEventTime((t.kind[st] & TYPE_MASK) === STR ? stringOf(t, st) : '', time);
      } catch (e) {
        if (!(e instanceof TimeParseError)) throw e;
        this.issues.push({ code: ErrorCode.INPUT_TIMESTAMP, message: e.message, item });
        return;
      }
    }
    const raw = t.ve[n] - t.vs[n];
    if (raw > this.max) {
      const size = compactLength(t.buf, t.vs[n], t.ve[n]);
      if (size > this.max) {
        this.issues.push({ code: ErrorCode.INPUT_TOO_LARGE, message: `event larger than maxEventSize: size=${size}`, item });
        return;
      }
    }
    let ev = this.events[this.count];
    if (ev === undefined) {
      ev = { root: n, sec: 0, nsec: 0, item };
      this.events.push(ev);
    }
    ev.root = n;
    ev.sec = time.sec;
    ev.nsec = time.nsec;
    ev.item = item;
    this.count++;
  }
}

const SCRATCH: EventTime = { sec: 0, nsec: 0 };
