// String matching with libsinsp's semantics: C-locale byte comparisons, glibc fnmatch
// for glob/iglob, RE2 (POSIX syntax, full match) for regex, path-prefix sets for pmatch.

export function asciiLower(s: string): string {
  let out = '';
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) {
      out += s.slice(run, i) + String.fromCharCode(c + 32);
      run = i + 1;
    }
  }
  return run === 0 ? s : out + s.slice(run);
}

export function asciiUpper(s: string): string {
  let out = '';
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) {
      out += s.slice(run, i) + String.fromCharCode(c - 32);
      run = i + 1;
    }
  }
  return run === 0 ? s : out + s.slice(run);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** strcmp over the UTF-8 bytes: negative, zero or positive. */
export function strcmp(a: string, b: string): number {
  if (isAscii(a) && isAscii(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** UTF-8 length (strlen). */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** The string's UTF-8 bytes as one char each (for byte-exact regex matching). */
export function toBytes(s: string): string {
  return isAscii(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', blank: ' \\t', cntrl: '\\x00-\\x1f\\x7f', digit: '0-9',
  graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z', xdigit: '0-9A-Fa-f', word: '0-9A-Za-z_',
};

function escapeClassChar(c: string): string {
  return /[\\\]\[^-]/.test(c) ? '\\' + c : c;
}

function escapeChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? '\\' + c : c;
}

/**
 * glibc fnmatch(pattern, s, 0 or FNM_CASEFOLD) in the C locale. Matching is done on
 * the UTF-8 bytes, so `?` is one byte as in Falco.
 */
export function compileGlob(pattern: string, caseFold: boolean): (s: string) => boolean {
  const p = toBytes(caseFold ? asciiLower(pattern) : pattern);
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') { re += '[\\s\\S]*'; continue; }
    if (c === '?') { re += '[\\s\\S]'; continue; }
    if (c === '\\') {
      if (i + 1 >= p.length) return () => false;
      re += escapeChar(p[++i]);
      continue;
    }
    if (c === '[') {
      const cls = parseBracket(p, i);
      if (cls === undefined) { re += '\\['; continue; }
      re += cls.re;
      i = cls.end;
      continue;
    }
    re += escapeChar(c);
  }
  const rx = new RegExp(`^(?:${re})$`);
  return caseFold ? (s) => rx.test(toBytes(asciiLower(s))) : (s) => rx.test(toBytes(s));
}

/** A bracket expression starting at p[i] === '['; undefined if unterminated. */
function parseBracket(p: string, i: number): { re: string; end: number } | undefined {
  let j = i + 1;
  let neg = false;
  if (p[j] === '!' || p[j] === '^') { neg = true; j++; }
  let body = '';
  let first = true;
  while (j < p.length) {
    let c = p[j];
    if (c === ']' && !first) return { re: `[${neg ? '^' : ''}${body}]`, end: j };
    first = false;
    if (c === '[' && p[j + 1] === ':') {
      const close = p.indexOf(':]', j + 2);
      if (close > 0) {
        const name = p.slice(j + 2, close);
        if (POSIX_CLASSES[name] === undefined) return undefined;
        body += POSIX_CLASSES[name];
        j = close + 2;
        continue;
      }
    }
    if (c === '\\') {
      j++;
      if (j >= p.length) return undefined;
      c = p[j];
    }
    if (p[j + 1] === '-' && p[j + 2] !== undefined && p[j + 2] !== ']') {
      let hi = p[j + 2];
      let k = j + 2;
      if (hi === '\\') { k++; hi = p[k]; if (hi === undefined) return undefined; }
      if (hi >= c) body += escapeClassChar(c) + '-' + escapeClassChar(hi);
      j = k + 1;
      continue;
    }
    body += escapeClassChar(c);
    j++;
  }
  return undefined;
}

export class RegexSyntaxError extends Error {}

/**
 * RE2 with POSIX syntax (as libsinsp builds it), anchored at both ends. Perl-only
 * syntax (\d, \s, \w, \b, (?...), lazy quantifiers, \p{..}) is rejected as RE2 does.
 */
export function compileRegex(pattern: string): (s: string) => boolean {
  let re = '';
  let i = 0;
  const n = pattern.length;
  const bad = (msg: string): never => { throw new RegexSyntaxError(msg); };
  let lastWasRepeat = false;
  let canRepeat = false;
  while (i < n) {
    const c = pattern[i];
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) bad('trailing \\');
      if ('dDsSwWbBAzQECpPGZ'.includes(e)) bad(`invalid escape sequence: \\${e}`);
      if (e === 'x') {
        const m = /^\\x(\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2}))/.exec(pattern.slice(i));
        if (!m) bad('invalid escape sequence: \\x');
        re += `\\u{${(m![2] ?? m![3])}}`;
        i += m![0].length;
      } else if (e >= '0' && e <= '7') {
        const m = /^\\([0-7]{1,3})/.exec(pattern.slice(i))!;
        if (e !== '0' && m[1].length === 1) bad(`invalid escape sequence: \\${e}`);
        re += `\\u{${parseInt(m[1], 8).toString(16)}}`;
        i += m[0].length;
      } else if ('afnrtv'.includes(e)) {
        re += e === 'a' ? '\\x07' : `\\${e}`;
        i += 2;
      } else if (/[A-Za-z0-9_]/.test(e)) {
        bad(`invalid escape sequence: \\${e}`);
      } else {
        re += escapeChar(e);
        i += 2;
      }
      lastWasRepeat = false;
      canRepeat = true;
      continue;
    }
    if (c === '[') {
      const end = regexBracket(pattern, i);
      re += end.re;
      i = end.end + 1;
      lastWasRepeat = false;
      canRepeat = true;
      continue;
    }
    if (c === '(') {
      if (pattern[i + 1] === '?') bad('missing argument to repetition operator: ?');
      re += '(';
      i++;
      canRepeat = false;
      lastWasRepeat = false;
      continue;
    }
    if (c === '*' || c === '+' || c === '?') {
      if (lastWasRepeat) bad(`bad repetition operator: ${pattern.slice(i - 1, i + 1)}`);
      if (!canRepeat) bad(`missing argument to repetition operator: ${c}`);
      re += c;
      i++;
      lastWasRepeat = true;
      continue;
    }
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (m) {
        if (lastWasRepeat) bad(`bad repetition operator: ${m[0]}`);
        if (!canRepeat) bad(`missing argument to repetition operator: ${m[0]}`);
        if (Number(m[1]) > 1000 || (m[3] !== undefined && m[3] !== '' && Number(m[3]) > 1000)) bad(`bad repetition operator: ${m[0]}`);
        re += m[0];
        i += m[0].length;
        lastWasRepeat = true;
        continue;
      }
      re += '\\{';
      i++;
      lastWasRepeat = false;
      canRepeat = true;
      continue;
    }
    if (c === '.') { re += '[^\\n]'; i++; lastWasRepeat = false; canRepeat = true; continue; }
    if (c === '|' ) { re += '|'; i++; lastWasRepeat = false; canRepeat = false; continue; }
    if (c === ')' || c === '^' || c === '$') {
      re += c;
      i++;
      lastWasRepeat = false;
      canRepeat = c === ')';
      continue;
    }
    re += escapeChar(c);
    i++;
    lastWasRepeat = false;
    canRepeat = true;
  }
  let rx: RegExp;
  try {
    rx = new RegExp(`(?<![\\s\\S])(?:${re})(?![\\s\\S])`, 'mu');
  } catch (e) {
    throw new RegexSyntaxError((e as Error).message);
  }
  return (s) => rx.test(s);
}

/** RE2's POSIX classes as code point ranges (re2/perl_groups.cc). */
const RE2_POSIX_RANGES: Record<string, Array<[number, number]>> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]], alpha: [[0x41, 0x5a], [0x61, 0x7a]], ascii: [[0, 0x7f]],
  blank: [[9, 9], [0x20, 0x20]], cntrl: [[0, 0x1f], [0x7f, 0x7f]], digit: [[0x30, 0x39]], graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]], print: [[0x20, 0x7e]], punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[9, 0xd], [0x20, 0x20]], upper: [[0x41, 0x5a]], word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

const cpEsc = (cp: number): string => `\\u{${cp.toString(16)}}`;

function rangeText(lo: number, hi: number): string {
  return lo === hi ? cpEsc(lo) : `${cpEsc(lo)}-${cpEsc(hi)}`;
}

function complement(ranges: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

/** One class character at p[j] (RE2 ParseCCCharacter): its code point and length. */
function classChar(p: string, j: number, whole: string): { cp: number; len: number } {
  if (j >= p.length) throw new RegexSyntaxError(`missing closing ]: ${whole}`);
  if (p[j] !== '\\') {
    const cp = p.codePointAt(j)!;
    return { cp, len: cp > 0xffff ? 2 : 1 };
  }
  const e = p[j + 1];
  if (e === undefined) throw new RegexSyntaxError('trailing \\');
  const bad = (): never => { throw new RegexSyntaxError(`invalid escape sequence: \\${String.fromCodePoint(p.codePointAt(j + 1)!)}`); };
  if (e >= '0' && e <= '7') {
    const m = /^[0-7]{1,3}/.exec(p.slice(j + 1))!;
    if (e !== '0' && m[0].length === 1) bad();
    return { cp: parseInt(m[0], 8), len: 1 + m[0].length };
  }
  if (e === 'x') {
    const m = /^x(?:\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2}))/.exec(p.slice(j + 1));
    if (!m) bad();
    const cp = parseInt(m![1] ?? m![2], 16);
    if (cp > 0x10ffff) bad();
    return { cp, len: 1 + m![0].length };
  }
  const simple = 'afnrtv'.indexOf(e);
  if (simple >= 0) return { cp: [7, 12, 10, 13, 9, 11][simple], len: 2 };
  if (e.charCodeAt(0) >= 0x80 || /[A-Za-z0-9_]/.test(e)) bad();
  return { cp: e.charCodeAt(0), len: 2 };
}

/**
 * A bracket expression at p[i] === '[' with RE2's POSIX-syntax rules: `]` first is
 * literal, `-` only first or last, ranges must ascend, [:name:] and [:^name:]
 * classes. Negated classes match a newline (RE2 always sets ClassNL).
 */
function regexBracket(p: string, i: number): { re: string; end: number } {
  const whole = p.slice(i);
  let j = i + 1;
  let neg = false;
  if (p[j] === '^') { neg = true; j++; }
  let body = '';
  let first = true;
  while (j < p.length && (p[j] !== ']' || first)) {
    if (p[j] === '-' && !first && p[j + 1] !== ']') throw new RegexSyntaxError(`invalid character class range: ${p.slice(j)}`);
    first = false;
    if (p[j] === '[' && p[j + 1] === ':') {
      const close = p.indexOf(':]', j + 2);
      if (close > 0) {
        let name = p.slice(j + 2, close);
        const negClass = name.startsWith('^');
        if (negClass) name = name.slice(1);
        const cls = RE2_POSIX_RANGES[name];
        if (cls === undefined) throw new RegexSyntaxError(`invalid character class range: ${p.slice(j, close + 2)}`);
        for (const [lo, hi] of negClass ? complement(cls) : cls) body += rangeText(lo, hi);
        j = close + 2;
        continue;
      }
    }
    const lo = classChar(p, j, whole);
    let hi = lo;
    const start = j;
    j += lo.len;
    if (p[j] === '-' && j + 1 < p.length && p[j + 1] !== ']') {
      hi = classChar(p, j + 1, whole);
      j += 1 + hi.len;
      if (hi.cp < lo.cp) throw new RegexSyntaxError(`invalid character class range: ${p.slice(start, j)}`);
    }
    body += rangeText(lo.cp, hi.cp);
  }
  if (j >= p.length) throw new RegexSyntaxError(`missing closing ]: ${whole}`);
  // An empty negated class (`[^\x00-\x{10FFFF}]`) can never match, as in RE2.
  return { re: body === '' ? '[^\\s\\S]' : `[${neg ? '^' : ''}${body}]`, end: j };
}

/**
 * libsinsp path_prefix_search: each pattern is split on '/', components may hold glob
 * characters; a path matches when some pattern is a component-wise prefix of it.
 */
interface PrefixNode {
  dirs: Map<string, { sub: PrefixNode | null; terminal: boolean }>;
  globs: Map<string, { sub: PrefixNode | null; terminal: boolean; match: (s: string) => boolean }>;
}

function splitPath(p: string): string[] {
  return ['root', ...p.split('/').filter((c) => c.length > 0)];
}

function newNode(): PrefixNode {
  return { dirs: new Map(), globs: new Map() };
}

function addPath(node: PrefixNode, comps: string[], k: number): void {
  const comp = comps[k];
  const isGlob = /[?*[]/.test(comp);
  const map = isGlob ? node.globs : node.dirs;
  const existing = map.get(comp) as { sub: PrefixNode | null; terminal: boolean } | undefined;
  const last = k + 1 >= comps.length;
  if (existing === undefined) {
    let sub: PrefixNode | null = null;
    if (!last) {
      sub = newNode();
      addPath(sub, comps, k + 1);
    }
    const entry = { sub, terminal: last };
    if (isGlob) node.globs.set(comp, { ...entry, match: compileGlob(comp, false) });
    else node.dirs.set(comp, entry);
  } else if (last) {
    existing.sub = null;
    existing.terminal = true;
  } else if (existing.sub !== null) {
    addPath(existing.sub, comps, k + 1);
  }
}

function checkValue(v: { sub: PrefixNode | null; terminal: boolean }, comps: string[], k: number): boolean {
  if (k >= comps.length) return v.sub === null && v.terminal;
  if (v.sub === null) return v.terminal;
  return matchNode(v.sub, comps, k);
}

function matchNode(node: PrefixNode, comps: string[], k: number): boolean {
  const d = node.dirs.get(comps[k]);
  if (d !== undefined && checkValue(d, comps, k + 1)) return true;
  for (const g of node.globs.values()) {
    // libsinsp advances its component iterator on every glob hit, even a failed one.
    if (k < comps.length && g.match(comps[k])) {
      k++;
      if (checkValue(g, comps, k)) return true;
    }
  }
  return false;
}

export function compilePathPrefixes(patterns: readonly string[]): (s: string) => boolean {
  const root = newNode();
  for (const p of patterns) addPath(root, splitPath(p), 0);
  return (s) => matchNode(root, splitPath(s), 0);
}

/** libsinsp's warning for regexes that simpler operators could express. */
export function isSimpleRegex(v: string): boolean {
  const special = '.+*?^$()[]{}|\\';
  const occurrence = '+*?';
  const len = v.length;
  for (let i = 0; i < len; i++) {
    if ((i === 0 && v[i] === '^') || (i === len - 1 && v[i] === '$')) continue;
    if (((i === 0 && len > 1) || i === len - 2) && v[i] === '.' && occurrence.includes(v[i + 1])) {
      i++;
      continue;
    }
    if (special.includes(v[i])) return false;
  }
  return true;
}
