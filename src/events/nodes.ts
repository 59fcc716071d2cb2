// A parsed JSON document as a flat table of nodes (typed arrays, no per-node objects).
// Both producers fill this same shape: the TypeScript parser (json-parse.ts) and the
// native extractor. Field extraction reads only through the functions below, so the
// two backends cannot disagree once their tables agree.

export const NONE = 0;
export const OBJ = 1;
export const ARR = 2;
export const STR = 3;
export const NUM = 4;
export const TRUE = 5;
export const FALSE = 6;
export const NULL = 7;
/** A subtree the producer did not materialize (outside the field plan). */
export const SKIPPED = 8;

export const TYPE_MASK = 0x0f;
/** The string value contains backslash escapes. */
export const F_VAL_ESC = 0x10;
/** The member key contains backslash escapes. */
export const F_KEY_ESC = 0x20;

/** Bytes of the table buffer for `cap` nodes; the native extractor uses the same layout. */
export function tableBytes(cap: number): number {
  return ((cap + 3) & ~3) + cap * 28;
}

export class NodeTable {
  /** One buffer holding every column (kind, vs, ve, ks, ke, first, next, count). */
  mem!: ArrayBuffer;
  capacity = 0;
  kind!: Uint8Array;
  /** Value start: strings after the opening quote, others at their first byte. */
  vs!: Uint32Array;
  /** Value end (exclusive): strings at the closing quote, containers after the bracket. */
  ve!: Uint32Array;
  /** Member key range inside the quotes (object members only). */
  ks!: Uint32Array;
  ke!: Uint32Array;
  first!: Int32Array;
  next!: Int32Array;
  count!: Uint32Array;
  size = 0;
  buf: Buffer = Buffer.alloc(0);

  constructor(capacity = 1024) {
    this.allocate(capacity);
  }

  /** (Re)allocates room for `cap` nodes, keeping the first `size` nodes. */
  allocate(cap: number): void {
    const mem = new ArrayBuffer(tableBytes(cap));
    const k = (cap + 3) & ~3;
    const kind = new Uint8Array(mem, 0, cap);
    const vs = new Uint32Array(mem, k, cap);
    const ve = new Uint32Array(mem, k + cap * 4, cap);
    const ks = new Uint32Array(mem, k + cap * 8, cap);
    const ke = new Uint32Array(mem, k + cap * 12, cap);
    const first = new Int32Array(mem, k + cap * 16, cap);
    const next = new Int32Array(mem, k + cap * 20, cap);
    const count = new Uint32Array(mem, k + cap * 24, cap);
    if (this.size > 0) {
      const n = this.size;
      kind.set(this.kind.subarray(0, n)); vs.set(this.vs.subarray(0, n)); ve.set(this.ve.subarray(0, n));
      ks.set(this.ks.subarray(0, n)); ke.set(this.ke.subarray(0, n)); first.set(this.first.subarray(0, n));
      next.set(this.next.subarray(0, n)); count.set(this.count.subarray(0, n));
    }
    this.mem = mem;
    this.capacity = cap;
    this.kind = kind; this.vs = vs; this.ve = ve; this.ks = ks; this.ke = ke;
    this.first = first; this.next = next; this.count = count;
  }

  reset(buf: Buffer): void {
    this.buf = buf;
    this.size = 0;
  }

  /** Appends a node and returns its index. */
  add(kind: number, vs: number): number {
    if (this.size === this.capacity) this.allocate(this.capacity * 2);
    const n = this.size++;
    this.kind[n] = kind;
    this.vs[n] = vs;
    this.ve[n] = vs;
    this.ks[n] = 0;
    this.ke[n] = 0;
    this.first[n] = -1;
    this.next[n] = -1;
    this.count[n] = 0;
    return n;
  }
}

interface FastSlices {
  utf8Slice(start: number, end: number): string;
}

/** UTF-8 text of buf[start, end): Buffer's own slice method, without toString's argument handling. */
export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as FastSlices).utf8Slice(start, end);
}

export function typeOf(t: NodeTable, n: number): number {
  return t.kind[n] & TYPE_MASK;
}

/** Child `i` of an array or object, or -1. */
export function childAt(t: NodeTable, n: number, i: number): number {
  if (i < 0 || i >= t.count[n]) return -1;
  let c = t.first[n];
  while (i-- > 0) c = t.next[c];
  return c;
}

function escapedKeyEquals(t: NodeTable, c: number, key: Buffer): boolean {
  return decodeJsonString(t.buf, t.ks[c], t.ke[c]) === key.toString('utf8');
}

/**
 * Member lookup with the semantics of the k8saudit plugin's JSON library (fastjson):
 * objects return the first member with that key; arrays accept a decimal index.
 */
export function getMember(t: NodeTable, n: number, key: Buffer): number {
  const k = t.kind[n] & TYPE_MASK;
  if (k === OBJ) {
    // One loop, no call per member: until V8 optimizes it, this runs in the interpreter,
    // where a call per member costs more than the comparison.
    const len = key.length;
    const { kind, ks, ke, next, buf } = t;
    for (let c = t.first[n]; c !== -1; c = next[c]) {
      if ((kind[c] & F_KEY_ESC) !== 0) {
        if (escapedKeyEquals(t, c, key)) return c;
        continue;
      }
      const s = ks[c];
      if (ke[c] - s !== len) continue;
      let i = 0;
      while (i < len && buf[s + i] === key[i]) i++;
      if (i === len) return c;
    }
    return -1;
  }
  if (k === ARR) {
    const idx = goAtoi(key.toString('latin1'));
    if (idx === undefined || idx < 0) return -1;
    return childAt(t, n, idx);
  }
  return -1;
}

export function getPath(t: NodeTable, n: number, keys: readonly Buffer[]): number {
  for (let i = 0; i < keys.length && n !== -1; i++) n = getMember(t, n, keys[i]);
  return n;
}

/** Go's strconv.Atoi for the index case: optional sign, decimal digits, nothing else. */
export function goAtoi(s: string): number | undefined {
  let i = 0;
  let neg = false;
  if (s.length > 0 && (s[0] === '+' || s[0] === '-')) {
    neg = s[0] === '-';
    i = 1;
  }
  if (i >= s.length) return undefined;
  let v = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    v = v * 10 + c;
    if (v > Number.MAX_SAFE_INTEGER) return undefined;
  }
  return neg ? -v : v;
}

/** Key of an object member, decoded. */
export function keyOf(t: NodeTable, c: number): string {
  if ((t.kind[c] & F_KEY_ESC) !== 0) return decodeJsonString(t.buf, t.ks[c], t.ke[c]);
  return utf8(t.buf, t.ks[c], t.ke[c]);
}

/** A string node's value, unescaped. */
export function stringOf(t: NodeTable, n: number): string {
  if ((t.kind[n] & F_VAL_ESC) !== 0) return decodeJsonString(t.buf, t.vs[n], t.ve[n]);
  return utf8(t.buf, t.vs[n], t.ve[n]);
}

/** Byte-wise equality of a string node with a constant (no decoding when unescaped). */
export function stringEquals(t: NodeTable, n: number, value: Buffer): boolean {
  if ((t.kind[n] & F_VAL_ESC) !== 0) return stringOf(t, n) === value.toString('utf8');
  const s = t.vs[n];
  const len = t.ve[n] - s;
  if (len !== value.length) return false;
  const b = t.buf;
  for (let i = 0; i < len; i++) if (b[s + i] !== value[i]) return false;
  return true;
}

/**
 * The value as the plugin renders it (fastjson MarshalTo): strings as their raw JSON
 * text with quotes, everything else as compact JSON with the source's own escapes
 * and number spellings kept.
 */
export function compactOf(t: NodeTable, n: number): string {
  const k = t.kind[n] & TYPE_MASK;
  if (k === STR) return utf8(t.buf, t.vs[n] - 1, t.ve[n] + 1);
  if (k !== OBJ && k !== ARR) return t.buf.toString('latin1', t.vs[n], t.ve[n]);
  return compactRaw(t.buf, t.vs[n], t.ve[n]);
}

/** Where the first whitespace outside strings of [start, end) is, or -1: compactRaw's question. */
export type WhitespaceScan = (buf: Uint8Array, start: number, end: number) => number;
let whitespaceScan: WhitespaceScan | undefined;

/**
 * Lets compactRaw ask the addon first (select-backend.ts, with the native backend): API
 * objects are compact already as the apiserver writes them, and the addon tells so about
 * ten times faster than the loop below on a pod spec.
 */
export function useWhitespaceScan(scan: WhitespaceScan | undefined): void {
  whitespaceScan = scan;
}

/** Removes insignificant whitespace from the raw JSON text in [start, end). */
export function compactRaw(buf: Buffer, start: number, end: number): string {
  if (whitespaceScan !== undefined && whitespaceScan(buf, start, end) < 0) return utf8(buf, start, end);
  let out: Buffer | undefined;
  let o = 0;
  let inStr = false;
  let runStart = start;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (inStr) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inStr = false;
      continue;
    }
    if (c === 0x22) {
      inStr = true;
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      if (out === undefined) out = Buffer.allocUnsafe(end - start);
      o += buf.copy(out, o, runStart, i);
      runStart = i + 1;
    }
  }
  if (out === undefined) return buf.toString('utf8', start, end);
  o += buf.copy(out, o, runStart, end);
  return out.toString('utf8', 0, o);
}

/** Length of the compact form of the raw JSON text in [start, end). */
export function compactLength(buf: Buffer, start: number, end: number): number {
  let n = 0;
  let inStr = false;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (inStr) {
      if (c === 0x5c) { i++; n += 2; continue; }
      if (c === 0x22) inStr = false;
      n++;
      continue;
    }
    if (c === 0x22) inStr = true;
    else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    n++;
  }
  return n;
}

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) { HEX[65 + i] = 10 + i; HEX[97 + i] = 10 + i; }

function hex4(buf: Buffer, i: number, end: number): number {
  if (i + 4 > end) return -1;
  const a = HEX[buf[i]], b = HEX[buf[i + 1]], c = HEX[buf[i + 2]], d = HEX[buf[i + 3]];
  if (a < 0 || b < 0 || c < 0 || d < 0) return -1;
  return (a << 12) | (b << 8) | (c << 4) | d;
}

/**
 * Unescapes the raw string bytes [start, end) the way fastjson does
 * (unescapeStringBestEffort): invalid or lone-surrogate escapes are kept as text,
 * a surrogate pair that does not combine becomes U+FFFD.
 */
export function decodeJsonString(buf: Buffer, start: number, end: number): string {
  let out = '';
  let run = start;
  let i = start;
  while (i < end) {
    if (buf[i] !== 0x5c) { i++; continue; }
    if (i > run) out += buf.toString('utf8', run, i);
    const e = buf[i + 1];
    i += 2;
    switch (e) {
      case 0x22: out += '"'; break;
      case 0x5c: out += '\\'; break;
      case 0x2f: out += '/'; break;
      case 0x62: out += '\b'; break;
      case 0x66: out += '\f'; break;
      case 0x6e: out += '\n'; break;
      case 0x72: out += '\r'; break;
      case 0x74: out += '\t'; break;
      case 0x75: {
        const x = hex4(buf, i, end);
        if (x < 0) { out += '\\u'; break; }
        const xs = buf.toString('latin1', i, i + 4);
        i += 4;
        if (x < 0xd800 || x > 0xdfff) { out += String.fromCharCode(x); break; }
        if (i + 6 > end || buf[i] !== 0x5c || buf[i + 1] !== 0x75) { out += '\\u' + xs; break; }
        const y = hex4(buf, i + 2, end);
        if (y < 0) { out += '\\u' + xs; break; }
        if (x <= 0xdbff && y >= 0xdc00 && y <= 0xdfff) out += String.fromCharCode(x, y);
        else out += '\ufffd';
        i += 6;
        break;
      }
      default:
        // Unknown escape: fastjson keeps the backslash and the character.
        out += '\\' + String.fromCharCode(e);
    }
    run = i;
  }
  if (run < end) out += buf.toString('utf8', run, end);
  return out;
}
