// YAML with positions. Rules files are read with every scalar kept as text (as
// yaml-cpp hands scalars to Falco's loader), plain `~`/`null`/empty as null, and each
// node remembers where it came from so that errors can point at file:line:col.
import yaml from 'js-yaml';

export interface Loc {
  file: string;
  line: number;
  col: number;
}

export interface YNode {
  kind: 'scalar' | 'mapping' | 'sequence';
  /** Scalars: the text, or null. Containers: unused. */
  value: string | null;
  /** Offset of the node's first character in the file text. */
  start: number;
  end: number;
  /** Mappings: key/value pairs in order. Sequences: items. */
  pairs: Array<[YNode, YNode]>;
  items: YNode[];
  doc: YamlDoc;
}

export class YamlDoc {
  private lineStarts: number[] = [0];
  constructor(readonly file: string, readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  loc(offset: number): Loc {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, col: offset - this.lineStarts[lo] + 1 };
  }
}

export class YamlError extends Error {
  constructor(message: string, readonly loc: Loc) {
    super(message);
  }
}

// Plain `~`, `null`, `Null`, `NULL` and empty scalars are null (as yaml-cpp's IsNull).
const NULL_TYPE = new yaml.Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (d: string | null) => d === null || d === '~' || d === 'null' || d === 'Null' || d === 'NULL',
  construct: () => null,
});
const SCHEMA = yaml.FAILSAFE_SCHEMA.extend({ implicit: [NULL_TYPE] });

interface Frame {
  start: number;
  children: YNode[];
}

/** Skips blanks, comments and block-scalar headers to the first content character. */
function contentStart(text: string, pos: number, end: number): number {
  let i = pos;
  while (i < end) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ':' || c === '-' && (text[i + 1] === ' ' || text[i + 1] === '\n')) {
      i++;
    } else if (c === '#') {
      while (i < end && text[i] !== '\n') i++;
    } else if (c === '|' || c === '>') {
      while (i < end && text[i] !== '\n') i++;
    } else {
      break;
    }
  }
  return i < end ? i : pos;
}

/** Parses every document of a YAML text into position-aware nodes. */
export function parseYaml(file: string, text: string): YNode[] {
  const doc = new YamlDoc(file, text);
  const docs: YNode[] = [];
  const stack: Frame[] = [];
  const results = new WeakMap<YNode, object>();
  let top: YNode | undefined;
  const listener = (ev: 'open' | 'close', state: { position: number; kind: string | null; result: unknown }): void => {
    if (ev === 'open') {
      stack.push({ start: state.position, children: [] });
      return;
    }
    const f = stack.pop();
    if (f === undefined) return;
    const r0 = state.result;
    // js-yaml reports some flow collections twice (an outer compose around the inner
    // one, same result object): keep the one node.
    if (f.children.length === 1 && r0 !== null && typeof r0 === 'object' && results.get(f.children[0]) === r0) {
      const only = f.children[0];
      if (stack.length > 0) stack[stack.length - 1].children.push(only);
      else top = only;
      return;
    }
    const kind = state.kind === 'mapping' ? 'mapping' : state.kind === 'sequence' ? 'sequence' : 'scalar';
    const node: YNode = {
      kind, value: null, start: contentStart(text, f.start, state.position), end: state.position,
      pairs: [], items: [], doc,
    };
    const r = state.result;
    if (kind === 'scalar') {
      node.value = r === null || r === undefined ? null : String(r);
    } else if (kind === 'sequence') {
      const arr = Array.isArray(r) ? r : [];
      node.items = f.children.length === arr.length ? f.children : arr.map((v) => synth(v, node));
    } else {
      const obj = (r ?? {}) as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (f.children.length === keys.length * 2) {
        for (let i = 0; i < f.children.length; i += 2) node.pairs.push([f.children[i], f.children[i + 1]]);
      } else {
        node.pairs = keys.map((k) => [synth(k, node), synth(obj[k], node)]);
      }
    }
    if (r !== null && typeof r === 'object') results.set(node, r);
    if (stack.length > 0) stack[stack.length - 1].children.push(node);
    else top = node;
  };
  try {
    yaml.loadAll(text, (d) => {
      docs.push(top ?? synth(d, { start: 0, end: 0, doc } as YNode));
      top = undefined;
    }, { schema: SCHEMA, filename: file, listener: listener as never });
  } catch (e) {
    if (e instanceof yaml.YAMLException) {
      const m = e.mark as { line?: number; column?: number } | undefined;
      throw new YamlError(e.reason || e.message, {
        file, line: (m?.line ?? 0) + 1, col: (m?.column ?? 0) + 1,
      });
    }
    throw e;
  }
  return docs;
}

/** A node for a value whose own position is unknown (aliases): placed at its parent. */
function synth(v: unknown, parent: Pick<YNode, 'start' | 'end' | 'doc'>): YNode {
  const base = { value: null, start: parent.start, end: parent.end, pairs: [], items: [], doc: parent.doc };
  if (Array.isArray(v)) return { ...base, kind: 'sequence', items: v.map((x) => synth(x, parent)) };
  if (v !== null && typeof v === 'object') {
    return { ...base, kind: 'mapping', pairs: Object.entries(v).map(([k, x]) => [synth(k, parent), synth(x, parent)]) };
  }
  return { ...base, kind: 'scalar', value: v === null || v === undefined ? null : String(v) };
}

export function locOf(n: YNode): Loc {
  return n.doc.loc(n.start);
}

/** Member of a mapping by key (first match, like yaml-cpp), or undefined. */
export function member(n: YNode, key: string): YNode | undefined {
  if (n.kind !== 'mapping') return undefined;
  for (const [k, v] of n.pairs) if (k.value === key) return v;
  return undefined;
}

export function isNull(n: YNode | undefined): boolean {
  return n !== undefined && n.kind === 'scalar' && n.value === null;
}

/**
 * Source location of character `idx` of a scalar's parsed value: aligns the value
 * with the source text, skipping what YAML folded away (quotes, indentation, escapes).
 */
export function scalarCharLoc(n: YNode, idx: number): Loc {
  const text = n.doc.text;
  const value = n.value ?? '';
  let s = n.start;
  const doubleQuoted = text[s] === '"';
  if (doubleQuoted || text[s] === "'") s++;
  const limit = Math.max(n.end, s);
  for (let i = 0; i <= idx && i < value.length; i++) {
    const c = value[i];
    let p = s;
    while (p < limit && text[p] !== c && !(c === ' ' && (text[p] === '\n'))) p++;
    if (p >= limit) return n.doc.loc(s);
    // An escaped character (`\"` in a double-quoted scalar) starts at its backslash.
    if (i === idx) return n.doc.loc(doubleQuoted && p > s && text[p - 1] === '\\' && c !== '\\' ? p - 1 : p);
    // `\\` is one character of the value, two of the source.
    s = doubleQuoted && c === '\\' && text[p + 1] === '\\' ? p + 2 : p + 1;
  }
  return n.doc.loc(Math.min(s, limit));
}
