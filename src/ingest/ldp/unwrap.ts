// One frame of an LDP WebSocket stream → the audit payload inside it, as k8saudit-ovh
// unwraps it (plugins/k8saudit-ovh, readLoop), run in the workers:
//  1. the frame is JSON; its `message` member (matched as Go's encoding/json matches a
//     struct field: case-insensitively, the last match winning; it must be a string,
//     null leaves it empty) is itself JSON;
//  2. that is an object (or null) of a GELF-like record, rendered through the template
//     `{{._appID}}> {{.short_message}}` and cut after the first "> ": for a string
//     `short_message` and an `_appID` without "> ", exactly short_message;
//  3. the payload is an Event, an EventList or an array of them (the caller parses it).
// A frame that fails a step is skipped with the reason, as the plugin logs and skips it.

export type FrameSkip = 'frame_not_json' | 'no_message' | 'message_not_json' | 'no_short_message';

export type Unwrapped = { ok: true; payload: string } | { ok: false; reason: FrameSkip };

/** How Go's text/template prints a value decoded from JSON (only "> " in it matters). */
function goText(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goText).join(' ')}]`;
  const o = v as Record<string, unknown>;
  return `map[${Object.keys(o).sort().map((k) => `${k}:${goText(o[k])}`).join(' ')}]`;
}

const SEPARATOR = '> ';

/** Go matches a struct field's name as Unicode folds case: the long s (U+017F) is an s. */
function isMessageKey(k: string): boolean {
  return k.length === 7 && k.replace(/\u017f/g, 's').toLowerCase() === 'message';
}

/** The end of the string token starting at `i` (its opening quote) of valid JSON `s`. */
function stringEnd(s: string, i: number): number {
  for (let q = s.indexOf('"', i + 1); ; q = s.indexOf('"', q + 1)) {
    let bs = 0;
    while (s.charCodeAt(q - 1 - bs) === 0x5c) bs++;
    if ((bs & 1) === 0) return q + 1;
  }
}

/** The end of the JSON value starting at `i` of valid JSON `s` (strings and brackets matched). */
function valueEnd(s: string, i: number): number {
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(s, i) - 1;
      if (depth === 0) return i + 1;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return i + 1;
      if (depth < 0) return i;
    } else if (depth === 0 && (c === 0x2c || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) {
      return i;
    }
  }
  return i;
}

/** A member key token that may decode to a spelling of `message` (7 characters, or escaped). */
function mayBeMessageKey(s: string, start: number, end: number): boolean {
  return end - start === 9 || s.lastIndexOf('\\', end) > start;
}

/**
 * The top-level members named like `message` of a valid JSON object, in order: each
 * one's value start and end. Values are skipped, not decoded.
 */
function messageMembers(s: string): number[] {
  const out: number[] = [];
  let i = s.indexOf('{') + 1;
  for (;;) {
    while (i < s.length && s.charCodeAt(i) !== 0x22 && s.charCodeAt(i) !== 0x7d) i++;
    if (i >= s.length || s.charCodeAt(i) === 0x7d) return out;
    const keyEnd = stringEnd(s, i);
    const isMessage = mayBeMessageKey(s, i, keyEnd) && isMessageKey(JSON.parse(s.slice(i, keyEnd)) as string);
    i = s.indexOf(':', keyEnd) + 1;
    while (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x0a || s.charCodeAt(i) === 0x0d || s.charCodeAt(i) === 0x09) i++;
    const end = valueEnd(s, i);
    if (isMessage) out.push(i, end);
    i = end;
  }
}

/**
 * The values of the members named like `message`, in order. With one such member (the
 * usual frame) its value is taken from `outer`, the frame JSON.parse already decoded;
 * several are decoded one by one (JSON.parse would have kept only the last of a name).
 */
function messageValues(s: string, outer: Record<string, unknown>): unknown[] {
  // The usual frame: one member, spelled `message`, the only "message" token anywhere
  // (a token in valid JSON opens with an unescaped quote, which no string holds): no
  // duplicate can hide behind JSON.parse, so skip the scan. A duplicate spelled with a
  // \u escape could: a frame with any \u goes through the scan.
  let only: string | undefined;
  let count = 0;
  for (const k in outer) {
    if (isMessageKey(k)) {
      only = k;
      count++;
    }
  }
  const first = s.indexOf('"message"');
  if (count === 1 && only === 'message' && first >= 0 && s.indexOf('"message"', first + 9) < 0 && s.indexOf('\\u') < 0) return [outer.message];
  if (count === 0 && first < 0 && !/\\/.test(s)) return [];
  const at = messageMembers(s);
  if (at.length === 0) return [];
  if (at.length === 2) {
    for (const k in outer) if (isMessageKey(k)) return [outer[k]];
  }
  const out: unknown[] = [];
  for (let j = 0; j < at.length; j += 2) out.push(JSON.parse(s.slice(at[j], at[j + 1])));
  return out;
}

export function unwrapFrame(frame: string): Unwrapped {
  let outer: unknown;
  try {
    outer = JSON.parse(frame);
  } catch {
    return { ok: false, reason: 'frame_not_json' };
  }
  // Go unmarshals into a struct: an array, string or number is an error; null is not.
  if (outer !== null && (typeof outer !== 'object' || Array.isArray(outer))) return { ok: false, reason: 'no_message' };
  let message = '';
  // Go decodes every member in order, duplicates included (JSON.parse keeps only the
  // last of a name): each `message` that is null changes nothing, one that is not a
  // string fails the frame.
  if (outer !== null) {
    for (const v of messageValues(frame, outer as Record<string, unknown>)) {
      if (v === null) continue;
      if (typeof v !== 'string') return { ok: false, reason: 'no_message' };
      message = v;
    }
  }
  let inner: unknown;
  try {
    inner = JSON.parse(message);
  } catch {
    return { ok: false, reason: message === '' ? 'no_message' : 'message_not_json' };
  }
  if (inner !== null && (typeof inner !== 'object' || Array.isArray(inner))) return { ok: false, reason: 'message_not_json' };
  const rec = (inner ?? {}) as Record<string, unknown>;
  const short = rec.short_message;
  if (typeof short !== 'string') return { ok: false, reason: 'no_short_message' };
  const rendered = `${goText(rec._appID)}${SEPARATOR}${short}`;
  return { ok: true, payload: rendered.slice(rendered.indexOf(SEPARATOR) + SEPARATOR.length) };
}

/** The addon's status codes of skipped frames (peregrine_json.cc, namespace ldp). */
const NATIVE_SKIP: readonly FrameSkip[] = ['frame_not_json', 'frame_not_json', 'no_message', 'message_not_json', 'no_short_message'];

export type NativeUnwrap = (buf: Uint8Array, ranges: Uint32Array, count: number, status: Int32Array) => Buffer;

export interface UnwrappedFrames {
  /** The payloads, one after the other. */
  buf: Buffer;
  /** [start, end) of each payload in `buf`. */
  ranges: Uint32Array;
  count: number;
  /** The frame of each payload. */
  frameOf: Uint32Array;
  skipped: Record<string, number>;
}

/**
 * The frames `ranges` of `buf` unwrapped: by the addon where it can (the usual frames:
 * simdjson, no JavaScript string), by unwrapFrame for the frames it defers, or all of
 * them without it. Both give the same payloads (tested against each other).
 */
export function unwrapFrames(buf: Buffer, ranges: Uint32Array, n: number, native?: NativeUnwrap): UnwrappedFrames {
  const skipped: Record<string, number> = {};
  const frameOf = new Uint32Array(n);
  const parts: Buffer[] = [];
  const rg = new Uint32Array(2 * n);
  let count = 0;
  let at = 0;
  const add = (frame: number, p: Buffer): void => {
    frameOf[count] = frame;
    rg[2 * count] = at;
    at += p.length;
    rg[2 * count + 1] = at;
    count++;
    parts.push(p);
  };
  const skip = (reason: FrameSkip): void => { skipped[reason] = (skipped[reason] ?? 0) + 1; };
  const byScript = (i: number): void => {
    const u = unwrapFrame(buf.toString('utf8', ranges[2 * i], ranges[2 * i + 1]));
    if (u.ok) add(i, Buffer.from(u.payload));
    else skip(u.reason);
  };
  if (native === undefined) {
    for (let i = 0; i < n; i++) byScript(i);
  } else {
    const status = new Int32Array(2 * n);
    const payloads = native(buf, ranges, n, status);
    let deferred = false;
    for (let i = 0; i < n; i++) if (status[i] < 0) deferred = true;
    if (!deferred) {
      // The addon's buffer is the payloads already, in order.
      for (let i = 0; i < n; i++) {
        const st = status[i];
        if (st > 0) {
          skip(NATIVE_SKIP[st]);
          continue;
        }
        frameOf[count] = i;
        rg[2 * count] = at;
        at += status[n + i];
        rg[2 * count + 1] = at;
        count++;
      }
      return { buf: payloads, ranges: rg.subarray(0, 2 * count), count, frameOf, skipped };
    }
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const st = status[i];
      if (st === 0) {
        add(i, payloads.subarray(pos, pos + status[n + i]));
        pos += status[n + i];
      } else if (st > 0) {
        skip(NATIVE_SKIP[st]);
      } else {
        byScript(i);
      }
    }
  }
  return { buf: Buffer.concat(parts, at), ranges: rg.subarray(0, 2 * count), count, frameOf, skipped };
}
