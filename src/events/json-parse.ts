// Strict JSON (RFC 8259) parser that fills a NodeTable. It keeps byte offsets of every
// value so strings decode lazily and non-string values render from their source text.
import { isUtf8 } from 'node:buffer';
import { NodeTable, OBJ, ARR, STR, NUM, TRUE, FALSE, NULL, F_VAL_ESC, F_KEY_ESC } from './nodes.js';

/** Deepest nesting of objects and arrays accepted (the k8saudit plugin's parser limit). */
export const MAX_DEPTH = 300;

export class JsonSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

const WS = new Uint8Array(256);
WS[0x20] = WS[0x0a] = WS[0x0d] = WS[0x09] = 1;

function describe(buf: Buffer, i: number, end: number): string {
  if (i >= end) return 'end of input';
  const c = buf[i];
  if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/**
 * Parses exactly one JSON value from buf[start, end) (surrounding whitespace allowed)
 * into `t`, which is reset to `buf` first unless `append` is set. Returns the root node.
 */
export function parseJson(t: NodeTable, buf: Buffer, start: number, end: number, append = false): number {
  if (!append) t.reset(buf);
  else t.buf = buf;
  let i = start;
  while (i < end && WS[buf[i]]) i++;
  if (i >= end) throw new JsonSyntaxError('empty input, expected a JSON value', i);
  if (!isUtf8(buf.subarray(start, end))) throw new JsonSyntaxError('invalid UTF-8', firstInvalidUtf8(buf, start, end));
  const stack: number[] = [];
  const last: number[] = [];
  let root = -1;
  let cur = -1; // open container
  let lastChild = -1;

  for (;;) {
    // Here we expect a value (optionally preceded by a key when inside an object).
    let keyStart = 0;
    let keyEnd = 0;
    let keyEsc = 0;
    if (cur !== -1 && (t.kind[cur] & 0x0f) === OBJ) {
      while (i < end && WS[buf[i]]) i++;
      if (buf[i] !== 0x22 || i >= end) throw new JsonSyntaxError(`expected a string key, found ${describe(buf, i, end)}`, i);
      keyStart = i + 1;
      const r = scanString(buf, keyStart, end);
      keyEnd = r < 0 ? -r - 1 : r;
      keyEsc = r < 0 ? F_KEY_ESC : 0;
      i = keyEnd + 1;
      while (i < end && WS[buf[i]]) i++;
      if (buf[i] !== 0x3a || i >= end) throw new JsonSyntaxError(`expected ':' after object key, found ${describe(buf, i, end)}`, i);
      i++;
    }
    while (i < end && WS[buf[i]]) i++;
    if (i >= end) throw new JsonSyntaxError('unexpected end of input, expected a value', i);
    // fastjson counts every value toward its depth limit, scalars included (root: 1).
    if (cur !== -1 && stack.length + 2 > MAX_DEPTH) throw new JsonSyntaxError(`nesting deeper than ${MAX_DEPTH} levels`, i);
    const c = buf[i];
    let n: number;
    let opened = false;
    if (c === 0x7b || c === 0x5b) {
      n = t.add(c === 0x7b ? OBJ : ARR, i);
      opened = true;
      i++;
    } else if (c === 0x22) {
      const r = scanString(buf, i + 1, end);
      const e = r < 0 ? -r - 1 : r;
      n = t.add(r < 0 ? STR | F_VAL_ESC : STR, i + 1);
      t.ve[n] = e;
      i = e + 1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const e = scanNumber(buf, i, end);
      n = t.add(NUM, i);
      t.ve[n] = e;
      i = e;
    } else if (c === 0x74 && matchLiteral(buf, i, end, 'true')) {
      n = t.add(TRUE, i); t.ve[n] = i + 4; i += 4;
    } else if (c === 0x66 && matchLiteral(buf, i, end, 'false')) {
      n = t.add(FALSE, i); t.ve[n] = i + 5; i += 5;
    } else if (c === 0x6e && matchLiteral(buf, i, end, 'null')) {
      n = t.add(NULL, i); t.ve[n] = i + 4; i += 4;
    } else {
      throw new JsonSyntaxError(`unexpected ${describe(buf, i, end)}, expected a value`, i);
    }
    if (cur !== -1) {
      if ((t.kind[cur] & 0x0f) === OBJ) {
        t.kind[n] |= keyEsc;
        t.ks[n] = keyStart;
        t.ke[n] = keyEnd;
      }
      if (lastChild === -1) t.first[cur] = n;
      else t.next[lastChild] = n;
      lastChild = n;
      t.count[cur]++;
    } else {
      root = n;
    }
    if (opened) {
      if (cur !== -1) { stack.push(cur); last.push(lastChild); }
      cur = n;
      lastChild = -1;
      while (i < end && WS[buf[i]]) i++;
      const close = (t.kind[n] & 0x0f) === OBJ ? 0x7d : 0x5d;
      if (buf[i] === close && i < end) {
        i++;
        t.ve[n] = i;
      } else {
        continue;
      }
    }
    // After a value: close containers or continue with a comma.
    for (;;) {
      if (cur === -1) {
        while (i < end && WS[buf[i]]) i++;
        if (i < end) throw new JsonSyntaxError(`unexpected ${describe(buf, i, end)} after the JSON value`, i);
        return root;
      }
      if (t.ve[cur] !== t.vs[cur]) {
        // `cur` was just closed (empty container): pop it.
        const done = cur;
        cur = stack.length ? stack.pop()! : -1;
        lastChild = last.length ? last.pop()! : -1;
        if (cur === -1) { root = done; continue; }
        continue;
      }
      while (i < end && WS[buf[i]]) i++;
      const isObj = (t.kind[cur] & 0x0f) === OBJ;
      const b = buf[i];
      if (i < end && b === 0x2c) { i++; break; }
      if (i < end && b === (isObj ? 0x7d : 0x5d)) {
        i++;
        t.ve[cur] = i;
        continue;
      }
      throw new JsonSyntaxError(
        `expected ',' or '${isObj ? '}' : ']'}', found ${describe(buf, i, end)}`, i);
    }
  }
}

function matchLiteral(buf: Buffer, i: number, end: number, lit: string): boolean {
  if (i + lit.length > end) return false;
  for (let k = 0; k < lit.length; k++) if (buf[i + k] !== lit.charCodeAt(k)) return false;
  return true;
}

/**
 * Scans a string body starting after the opening quote. Returns the index of the
 * closing quote, negated minus one when the string contains escapes. Like Falco's
 * parser, escape sequences are not validated: an unknown one (`\x`) is kept verbatim
 * when decoded. Raw control characters are rejected.
 */
function scanString(buf: Buffer, i: number, end: number): number {
  const start = i;
  let esc = false;
  while (i < end) {
    const c = buf[i];
    if (c === 0x22) return esc ? -i - 1 : i;
    if (c === 0x5c) {
      esc = true;
      if (i + 1 >= end) break;
      const e = buf[i + 1];
      if (e < 0x20) throw new JsonSyntaxError(`unescaped control character 0x${e.toString(16).padStart(2, '0')} in string`, i + 1);
      i += 2;
      continue;
    }
    if (c < 0x20) throw new JsonSyntaxError(`unescaped control character 0x${c.toString(16).padStart(2, '0')} in string`, i);
    i++;
  }
  throw new JsonSyntaxError('unterminated string', start - 1);
}

function scanNumber(buf: Buffer, i: number, end: number): number {
  const start = i;
  if (buf[i] === 0x2d) i++;
  if (i >= end) throw new JsonSyntaxError('invalid number', start);
  if (buf[i] === 0x30) {
    i++;
  } else if (buf[i] >= 0x31 && buf[i] <= 0x39) {
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
  } else {
    throw new JsonSyntaxError('invalid number', start);
  }
  if (i < end && buf[i] === 0x2e) {
    i++;
    if (!(i < end && buf[i] >= 0x30 && buf[i] <= 0x39)) throw new JsonSyntaxError('invalid number: digit expected after the decimal point', start);
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
  }
  if (i < end && (buf[i] === 0x65 || buf[i] === 0x45)) {
    i++;
    if (i < end && (buf[i] === 0x2b || buf[i] === 0x2d)) i++;
    if (!(i < end && buf[i] >= 0x30 && buf[i] <= 0x39)) throw new JsonSyntaxError('invalid number: digit expected in the exponent', start);
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
  }
  if (i < end) {
    const c = buf[i];
    if ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d
      || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) {
      throw new JsonSyntaxError('invalid number', start);
    }
  }
  return i;
}

/** Offset of the first byte that breaks UTF-8 well-formedness (slow path, errors only). */
export function firstInvalidUtf8(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const c = buf[i];
    let n = 0;
    let min = 0;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const b = buf[i + k];
      if (i + k >= end || (b & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return end;
}
