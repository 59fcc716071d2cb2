// The k8saudit plugin's value helpers (extract.go), over a NodeTable. Every failure of
// the plugin (value missing, wrong type) ends in "field not available" for Falco, so
// here a failure is `undefined`.
import {
  type NodeTable, ARR, STR, TYPE_MASK, F_VAL_ESC,
  childAt, getMember, compactOf, stringOf,
} from '../events/nodes.js';

export const key = (s: string): Buffer => Buffer.from(s, 'utf8');
export const keys = (...s: string[]): Buffer[] => s.map(key);

/** Falco hands plugin strings around as C strings: a NUL ends them. */
export function cString(s: string): string {
  const i = s.indexOf('\0');
  return i < 0 ? s : s.slice(0, i);
}

/** jsonValueAsString: strings unescaped, any other value as compact JSON; -1 fails. */
export function asString(t: NodeTable, n: number): string | undefined {
  const s = asGoString(t, n);
  // Only an escape (\u0000) can put a NUL in a string.
  return s !== undefined && (t.kind[n] & F_VAL_ESC) !== 0 ? cString(s) : s;
}

/** jsonValueAsString as Go code sees it, before a NUL ends it as a C string. */
export function asGoString(t: NodeTable, n: number): string | undefined {
  if (n === -1) return undefined;
  return (t.kind[n] & TYPE_MASK) === STR ? stringOf(t, n) : compactOf(t, n);
}

/**
 * getValuesRecursive: walks `path` from `n`; an array met before a key is fanned out
 * (every element, a missing one recorded as -1) or, with an index filter, indexed.
 * Returns false when the value is not available at all.
 */
export function valuesRecursive(
  t: NodeTable, n: number, indexFilter: number, path: readonly Buffer[], from: number, out: number[],
): boolean {
  for (let i = from; i < path.length; i++) {
    if ((t.kind[n] & TYPE_MASK) === ARR) {
      if (indexFilter < 0) {
        for (let c = t.first[n]; c !== -1; c = t.next[c]) {
          if (!valuesRecursive(t, c, indexFilter, path, i, out)) out.push(-1);
        }
        return true;
      }
      const c = childAt(t, n, indexFilter);
      if (c === -1) return false;
      n = c;
    }
    const k = path[i];
    if (k.length > 0) {
      n = getMember(t, n, k);
      if (n === -1) return false;
    }
  }
  out.push(n);
  return true;
}

export function values(t: NodeTable, n: number, indexFilter: number, path: readonly Buffer[]): number[] | undefined {
  const out: number[] = [];
  return valuesRecursive(t, n, indexFilter, path, 0, out) ? out : undefined;
}

/** arrayAsStrings: every value must convert, else the whole field fails. */
export function arrayAsStrings(t: NodeTable, nodes: readonly number[]): string[] | undefined {
  const res: string[] = [];
  for (const n of nodes) {
    const s = asString(t, n);
    if (s === undefined) return undefined;
    res.push(s);
  }
  return res;
}

/** arrayAsStringsSkipNil: missing values are skipped. */
export function arrayAsStringsSkipNil(t: NodeTable, nodes: readonly number[]): string[] {
  const res: string[] = [];
  for (const n of nodes) {
    const s = asString(t, n);
    if (s !== undefined) res.push(s);
  }
  return res;
}

/** A list result: Falco treats an empty list as no value. */
export function list(v: string[] | undefined): string[] | undefined {
  return v === undefined || v.length === 0 ? undefined : v;
}

/** Array elements of node n (n must be an array). */
export function elements(t: NodeTable, n: number): number[] {
  const out: number[] = [];
  for (let c = t.first[n]; c !== -1; c = t.next[c]) out.push(c);
  return out;
}

/** fastjson GetStringBytes: the string value, or '' when missing or not a string. */
export function stringOrEmpty(t: NodeTable, n: number): string {
  if (n === -1 || (t.kind[n] & TYPE_MASK) !== STR) return '';
  return stringOf(t, n);
}
