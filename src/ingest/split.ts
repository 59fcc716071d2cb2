// Splits a webhook body into the byte ranges of its events, on the main thread and
// without JSON.parse: a structural scan that decides whether the body is an audit
// document at all, and where each event starts and ends.
//
// What is accepted is what the k8saudit plugin accepts (src/events/audit.ts): an
// `Event`, an `EventList` (its `items`), or a JSON array of those, nested arrays
// included; `kind` and `items` are read first-wins like the rest of the engine.
//
// Division of the checking work, so that a malformed body is rejected before any of
// it is evaluated:
//  - here, the whole body must be valid UTF-8 (native `isUtf8`, GB/s) and everything
//    outside the events (the document skeleton: `kind`, `apiVersion`, `metadata`, …)
//    is validated as strict JSON, because no one else will parse it;
//  - the events themselves are only scanned for their extent (strings and matching
//    brackets); the worker that evaluates an event parses it strictly, and a syntax
//    error there rejects the whole request (see pipeline/batch.ts: its alerts are held
//    until every task of the request succeeded, then released or discarded).
//
// The native addon does the same walk over simdjson's structural indexes (GB/s instead
// of a byte loop in JavaScript). It accepts only bodies this code accepts, with the same
// ranges, and defers everything else here, so the reasons given are always these.
import { isUtf8 } from 'node:buffer';
import { decodeJsonString } from '../events/nodes.js';
import { chooseNative } from '../native/loader.js';

export type NativeSplit = (buf: Uint8Array, start: number, end: number, ranges: Uint32Array) => number;

/** Bodies above this go to the TypeScript walk: the native index costs 4 bytes per byte, kept. */
const NATIVE_MAX_BODY = 4 * 1024 * 1024;

/** The addon's splitter, chosen as the JSON backend is (src/native/loader.ts). */
export function nativeSplit(env: NodeJS.ProcessEnv = process.env): NativeSplit | undefined {
  const { addon } = chooseNative(env);
  return addon === undefined ? undefined : (buf, start, end, ranges) => addon.splitBody(buf, start, end, ranges);
}

export class SplitError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

export const NOT_AUDIT = 'data not recognized as a k8s audit event';

/** More events than limits.max_events_per_request: refused before any is evaluated. */
export class TooManyEvents extends SplitError {
  constructor(readonly max: number, offset: number) {
    super(`more than ${max} events in one request (limits.max_events_per_request)`, offset);
  }
}

/** Deepest nesting accepted, the same limit as the JSON parser (events/json-parse.ts). */
const MAX_DEPTH = 300;

const WS = new Uint8Array(256);
WS[0x20] = WS[0x0a] = WS[0x0d] = WS[0x09] = 1;

const Q = 0x22;
const BS = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACK = 0x5b;
const RBRACK = 0x5d;

const K_KIND = Buffer.from('kind');
const K_ITEMS = Buffer.from('items');
const V_EVENT = Buffer.from('Event');
const V_EVENT_LIST = Buffer.from('EventList');

function describe(buf: Buffer, i: number, end: number): string {
  if (i >= end) return 'end of input';
  const c = buf[i];
  if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/**
 * The event ranges of one body, as pairs [start, end) in `ranges[0 .. 2*count)`.
 * One instance per thread; its arrays are reused across bodies.
 */
export class BodySplitter {
  ranges = new Uint32Array(2 * 512);
  count = 0;
  private buf: Buffer = Buffer.alloc(0);
  private end = 0;
  private stack = new Uint8Array(MAX_DEPTH + 2);

  /**
   * `maxEvents` bounds what one body may cost beyond its bytes (8 bytes of ranges and a
   * task's share per event): tiny items cannot multiply the work of a body.
   */
  constructor(private readonly native?: NativeSplit, readonly maxEvents = 0x7fffffff) {}

  /** Fills `ranges`/`count`; throws SplitError with a reason for a body to reject. */
  split(buf: Buffer, start: number, end: number): number {
    if (this.native !== undefined && end - start <= NATIVE_MAX_BODY) {
      let n = this.native(buf, start, end, this.ranges);
      if (n > this.maxEvents) throw new TooManyEvents(this.maxEvents, start);
      if (n > this.ranges.length / 2) {
        this.ranges = new Uint32Array(2 * n);
        n = this.native(buf, start, end, this.ranges);
      }
      if (n >= 0) {
        this.count = n;
        return n;
      }
    }
    return this.walk(buf, start, end);
  }

  /** The TypeScript walk: the reference, and the one that explains rejections. */
  walk(buf: Buffer, start: number, end: number): number {
    this.buf = buf;
    this.end = end;
    this.count = 0;
    if (!isUtf8(buf.subarray(start, end))) throw new SplitError('invalid UTF-8', start);
    let i = this.ws(start);
    if (i >= end) throw new SplitError('empty body, expected a JSON Event or EventList', i);
    i = this.document(i, 0);
    i = this.ws(i);
    if (i < end) throw new SplitError(`unexpected ${describe(buf, i, end)} after the JSON document`, i);
    return this.count;
  }

  private push(s: number, e: number): void {
    if (this.count >= this.maxEvents) throw new TooManyEvents(this.maxEvents, s);
    if (2 * this.count + 2 > this.ranges.length) {
      const bigger = new Uint32Array(this.ranges.length * 2);
      bigger.set(this.ranges);
      this.ranges = bigger;
    }
    this.ranges[2 * this.count] = s;
    this.ranges[2 * this.count + 1] = e;
    this.count++;
  }

  private ws(i: number): number {
    const buf = this.buf;
    const end = this.end;
    while (i < end && WS[buf[i]]) i++;
    return i;
  }

  /** An audit document at `i`: Event, EventList, or an array of documents. */
  private document(i: number, depth: number): number {
    const buf = this.buf;
    // `depth` counts from 0 at the body's root: the plugin's parser refuses any value
    // below level 300 (root 1), scalars included.
    if (depth >= MAX_DEPTH) throw new SplitError(`nesting deeper than ${MAX_DEPTH} levels`, i);
    const c = buf[i];
    if (c === LBRACK) {
      i = this.ws(i + 1);
      if (buf[i] === RBRACK && i < this.end) return i + 1;
      for (;;) {
        if (i >= this.end) throw new SplitError('unexpected end of input inside an array', i);
        i = this.ws(this.document(i, depth + 1));
        if (i < this.end && buf[i] === 0x2c) { i = this.ws(i + 1); continue; }
        if (i < this.end && buf[i] === RBRACK) return i + 1;
        throw new SplitError(`expected ',' or ']' in array, found ${describe(buf, i, this.end)}`, i);
      }
    }
    if (c !== LBRACE) {
      // Valid JSON that is not an object or array is still not an audit event.
      this.value(i, depth);
      throw new SplitError(NOT_AUDIT, i);
    }
    // An object: validate its members strictly, except `items`, whose elements are only
    // delimited. Which ranges count depends on `kind`, which may come after `items`.
    const objStart = i;
    const firstRange = this.count;
    let kind: 'Event' | 'EventList' | 'other' | undefined;
    let itemsSeen = false;
    let itemsIsArray = false;
    i = this.ws(i + 1);
    if (buf[i] === RBRACE && i < this.end) {
      throw new SplitError(NOT_AUDIT, objStart);
    }
    for (;;) {
      if (buf[i] !== Q || i >= this.end) throw new SplitError(`expected a string key, found ${describe(buf, i, this.end)}`, i);
      const ks = i + 1;
      const ke = this.strictString(ks);
      const keyHasEscape = hasByte(buf, ks, ke, BS);
      i = this.ws(ke + 1);
      if (buf[i] !== 0x3a || i >= this.end) throw new SplitError(`expected ':' after object key, found ${describe(buf, i, this.end)}`, i);
      i = this.ws(i + 1);
      if (i >= this.end) throw new SplitError('unexpected end of input, expected a value', i);
      const key = keyHasEscape ? decodeString(buf, ks, ke) : undefined;
      const isKind = key !== undefined ? key === 'kind' : bytesEqual(buf, ks, ke, K_KIND);
      const isItems = key !== undefined ? key === 'items' : bytesEqual(buf, ks, ke, K_ITEMS);
      if (isKind && kind === undefined) {
        if (buf[i] === Q) {
          const vs = i + 1;
          const ve = this.strictString(vs);
          kind = bytesEqual(buf, vs, ve, V_EVENT_LIST) ? 'EventList' : bytesEqual(buf, vs, ve, V_EVENT) ? 'Event' : 'other';
          if (kind === 'other' && hasByte(buf, vs, ve, BS)) {
            const k = decodeString(buf, vs, ve);
            kind = k === 'EventList' ? 'EventList' : k === 'Event' ? 'Event' : 'other';
          }
          i = ve + 1;
        } else {
          kind = 'other';
          i = this.value(i, depth + 1);
        }
      } else if (isItems && !itemsSeen) {
        itemsSeen = true;
        if (buf[i] === LBRACK) {
          itemsIsArray = true;
          i = this.items(i, depth + 1);
        } else {
          i = this.value(i, depth + 1);
        }
      } else {
        i = this.value(i, depth + 1);
      }
      i = this.ws(i);
      if (i < this.end && buf[i] === 0x2c) { i = this.ws(i + 1); continue; }
      if (i < this.end && buf[i] === RBRACE) { i++; break; }
      throw new SplitError(`expected ',' or '}' in object, found ${describe(buf, i, this.end)}`, i);
    }
    if (kind === 'EventList' && itemsIsArray) return i;
    this.count = firstRange;
    if (kind === 'Event') {
      this.push(objStart, i);
      return i;
    }
    throw new SplitError(NOT_AUDIT, objStart);
  }

  /** The `items` array: records each element's extent (elements are checked by workers). */
  private items(i: number, depth: number): number {
    const buf = this.buf;
    i = this.ws(i + 1);
    if (buf[i] === RBRACK && i < this.end) return i + 1;
    for (;;) {
      if (i >= this.end) throw new SplitError('unexpected end of input in items', i);
      const s = i;
      const c = buf[i];
      if (c === LBRACE || c === LBRACK) i = this.skipContainer(i, depth + 1);
      else if (c === Q) i = this.string(i + 1) + 1;
      else if (c === 0x2c || c === RBRACK) throw new SplitError(`expected an item, found ${describe(buf, i, this.end)}`, i);
      else i = this.value(i, depth + 1);
      this.push(s, i);
      i = this.ws(i);
      if (i < this.end && buf[i] === 0x2c) { i = this.ws(i + 1); continue; }
      if (i < this.end && buf[i] === RBRACK) return i + 1;
      throw new SplitError(`expected ',' or ']' in items, found ${describe(buf, i, this.end)}`, i);
    }
  }

  /** Extent of an object/array: strings skipped, brackets matched by type. */
  private skipContainer(i: number, depth: number): number {
    const buf = this.buf;
    const end = this.end;
    const stack = this.stack;
    let sp = 0;
    while (i < end) {
      const c = buf[i];
      if (c === Q) {
        i = this.string(i + 1) + 1;
        continue;
      }
      if (c === LBRACE || c === LBRACK) {
        if (depth + sp >= MAX_DEPTH) throw new SplitError(`nesting deeper than ${MAX_DEPTH} levels`, i);
        stack[sp++] = c;
        // A container at the last level may hold nothing: whatever it held would be a value
        // below the limit.
        if (depth + sp === MAX_DEPTH) {
          const j = this.ws(i + 1);
          if (j < end && buf[j] !== c + 2) throw new SplitError(`nesting deeper than ${MAX_DEPTH} levels`, j);
        }
      } else if (c === RBRACE || c === RBRACK) {
        if (sp === 0 || stack[sp - 1] !== c - 2) throw new SplitError(`unexpected ${describe(buf, i, end)}: brackets do not match`, i);
        if (--sp === 0) return i + 1;
      }
      i++;
    }
    throw new SplitError('unexpected end of input inside an item', i);
  }

  /**
   * End (index of the closing quote) of the string whose content starts at `i`. A
   * plain loop: audit strings are short, and Buffer.indexOf's per-call cost (worse on
   * SharedArrayBuffer-backed buffers) is ten times the scan.
   */
  private string(i: number): number {
    const buf = this.buf;
    const end = this.end;
    while (i < end) {
      const c = buf[i];
      if (c === Q) return i;
      i += c === BS ? 2 : 1;
    }
    throw new SplitError('unterminated string', i);
  }

  /** A strictly valid JSON value at `i`; returns its end. */
  private value(i: number, depth: number): number {
    const buf = this.buf;
    const end = this.end;
    if (depth >= MAX_DEPTH) throw new SplitError(`nesting deeper than ${MAX_DEPTH} levels`, i);
    const c = buf[i];
    if (c === Q) return this.strictString(i + 1) + 1;
    if (c === LBRACE) {
      i = this.ws(i + 1);
      if (buf[i] === RBRACE && i < end) return i + 1;
      for (;;) {
        if (buf[i] !== Q || i >= end) throw new SplitError(`expected a string key, found ${describe(buf, i, end)}`, i);
        i = this.ws(this.strictString(i + 1) + 1);
        if (buf[i] !== 0x3a || i >= end) throw new SplitError(`expected ':' after object key, found ${describe(buf, i, end)}`, i);
        i = this.ws(i + 1);
        if (i >= end) throw new SplitError('unexpected end of input, expected a value', i);
        i = this.ws(this.value(i, depth + 1));
        if (i < end && buf[i] === 0x2c) { i = this.ws(i + 1); continue; }
        if (i < end && buf[i] === RBRACE) return i + 1;
        throw new SplitError(`expected ',' or '}' in object, found ${describe(buf, i, end)}`, i);
      }
    }
    if (c === LBRACK) {
      i = this.ws(i + 1);
      if (buf[i] === RBRACK && i < end) return i + 1;
      for (;;) {
        if (i >= end) throw new SplitError('unexpected end of input, expected a value', i);
        i = this.ws(this.value(i, depth + 1));
        if (i < end && buf[i] === 0x2c) { i = this.ws(i + 1); continue; }
        if (i < end && buf[i] === RBRACK) return i + 1;
        throw new SplitError(`expected ',' or ']' in array, found ${describe(buf, i, end)}`, i);
      }
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number(i);
    if (literal(buf, i, end, 'true')) return i + 4;
    if (literal(buf, i, end, 'false')) return i + 5;
    if (literal(buf, i, end, 'null')) return i + 4;
    throw new SplitError(`unexpected ${describe(buf, i, end)}, expected a value`, i);
  }

  private strictString(i: number): number {
    const buf = this.buf;
    const end = this.end;
    while (i < end) {
      const c = buf[i];
      if (c === Q) return i;
      if (c < 0x20) throw new SplitError(`control character 0x${c.toString(16).padStart(2, '0')} in string`, i);
      if (c === BS) {
        // Escapes are not validated (as in Falco's parser and the engine), only skipped.
        if (i + 1 < end && buf[i + 1] < 0x20) throw new SplitError(`control character 0x${buf[i + 1].toString(16).padStart(2, '0')} in string`, i + 1);
        i += 2;
        continue;
      }
      i++;
    }
    throw new SplitError('unterminated string', i);
  }

  private number(i: number): number {
    const buf = this.buf;
    const end = this.end;
    const s = i;
    if (buf[i] === 0x2d) i++;
    if (buf[i] === 0x30) i++;
    else if (buf[i] >= 0x31 && buf[i] <= 0x39) while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
    else throw new SplitError('invalid number', s);
    if (buf[i] === 0x2e && i < end) {
      i++;
      if (!(buf[i] >= 0x30 && buf[i] <= 0x39) || i >= end) throw new SplitError('invalid number', s);
      while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
    }
    if ((buf[i] === 0x65 || buf[i] === 0x45) && i < end) {
      i++;
      if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
      if (!(buf[i] >= 0x30 && buf[i] <= 0x39) || i >= end) throw new SplitError('invalid number', s);
      while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
    }
    return i;
  }
}

function literal(buf: Buffer, i: number, end: number, word: string): boolean {
  if (i + word.length > end) return false;
  for (let k = 0; k < word.length; k++) if (buf[i + k] !== word.charCodeAt(k)) return false;
  return true;
}

function hasByte(buf: Buffer, s: number, e: number, b: number): boolean {
  for (let k = s; k < e; k++) if (buf[k] === b) return true;
  return false;
}

function bytesEqual(buf: Buffer, s: number, e: number, want: Buffer): boolean {
  if (e - s !== want.length) return false;
  for (let k = 0; k < want.length; k++) if (buf[s + k] !== want[k]) return false;
  return true;
}

/** A short key or `kind` value with escapes (rare): decode it like the engine does. */
function decodeString(buf: Buffer, s: number, e: number): string {
  return decodeJsonString(buf, s, e);
}
