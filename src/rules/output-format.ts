// Rule outputs: `%field` substitution parsed the way libsinsp's event formatter does it
// (longest parseable field at each `%`, optional width), rendered as Falco renders it.
import type { EventView, FieldValue } from '../events/view.js';
import type { TransformerArg, ValueSource } from './condition-ast.js';
import { sourceToString } from './condition-ast.js';
import { ConditionParser } from './condition-parser.js';
import { type ConditionCompiler, type Source, CompileError } from './compile-condition.js';

const NA = '<NA>';

interface Token {
  literal?: string;
  source?: Source;
  width: number;
  /** Printed zero-padded to 9 digits (libsinsp PF_10_PADDED_DEC). */
  padded?: boolean;
}

/** A field whose value goes into output_fields. */
interface Resolution {
  name: string;
  source: Source;
}

export class OutputFormatError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** Fields whose text is zero-padded to 9 digits (libsinsp PF_10_PADDED_DEC); JSON stays a number. */
const PADDED_FIELDS = new Set(['evt.rawtime.ns']);

/** Fields rendered in output_fields as the event time in nanoseconds. */
const TIME_FIELDS = new Set(['evt.time', 'evt.time.s', 'evt.time.iso8601', 'evt.datetime', 'evt.datetime.s']);

export class OutputFormat {
  private tokens: Token[] = [];
  readonly resolutions: Resolution[] = [];

  constructor(readonly text: string, compiler: ConditionCompiler) {
    // libsinsp's set_format refuses an empty format.
    if (text === '') throw new OutputFormatError('empty formatting token', 0);
    // Falco formats the message with "*" + output unless the output already starts with
    // '*'; the formatter then drops that one '*' (falco formats.cpp, libsinsp
    // eventformatter.cpp set_format). So a leading '*' of the output never shows.
    const base = text[0] === '*' ? 1 : 0;
    const fmt = text.slice(base);
    const len = fmt.length;
    let lastLiteral = 0;
    let j = 0;
    for (j = 0; j < len; j++) {
      if (fmt[j] !== '%') continue;
      if (lastLiteral !== j) this.tokens.push({ literal: fmt.slice(lastLiteral, j), width: 0 });
      const at = base + j;
      if (j === len - 1) throw new OutputFormatError('invalid formatting syntax: formatting cannot end with a %', at);
      let width = 0;
      if (/[0-9]/.test(fmt[j + 1])) {
        width = parseInt(fmt.slice(j + 1), 10);
        for (;;) {
          if (j === len - 1) throw new OutputFormatError('invalid formatting syntax: formatting cannot end with a number', at);
          if (/[0-9]/.test(fmt[j + 1])) { j++; continue; }
          break;
        }
      }
      // Longest parseable field or transformer at this point, as libsinsp tries it.
      let fsize = len - (j + 1);
      let ast: ValueSource | undefined;
      let source: Source | undefined;
      let firstErr = '';
      while (source === undefined) {
        const parser = new ConditionParser(fmt.substr(j + 1, fsize));
        try {
          ast = parser.parseFieldOrTransformer();
          source = compiler.source(ast);
          fsize = parser.getPos().idx;
        } catch (e) {
          if (!(e instanceof Error)) throw e;
          // libsinsp reports the error of its last (one-character) attempt; the first,
          // longest attempt says what is wrong.
          if (firstErr === '') firstErr = e.message;
          fsize--;
          if (fsize <= 0) {
            const token = fmt.slice(j, j + 1 + Math.min(40, len - j - 1)).split(/[ \t\n]/)[0];
            throw new OutputFormatError(`unknown filter: ${firstErr} (at '${token}')`, at);
          }
        }
      }
      this.collect(ast!, compiler);
      j += fsize;
      this.tokens.push({ source, width, padded: PADDED_FIELDS.has(sourceToString(ast!)) });
      lastLiteral = j + 1;
    }
    if (lastLiteral < len) this.tokens.push({ literal: fmt.slice(lastLiteral), width: 0 });
  }

  /** output_fields entries: plain fields only, transformed values are not listed. */
  private collect(e: TransformerArg, compiler: ConditionCompiler): void {
    if (e.type === 'field') {
      const name = sourceToString(e);
      if (!this.resolutions.some((r) => r.name === name)) this.resolutions.push({ name, source: compiler.source(e) });
    } else if (e.type === 'transformer') {
      for (const a of e.args) this.collect(a, compiler);
    } else if (e.type === 'tlist') {
      for (const c of e.children) this.collect(c, compiler);
    }
  }

  render(ev: EventView): string {
    let out = '';
    for (const t of this.tokens) {
      if (t.literal !== undefined) {
        out += t.literal;
        continue;
      }
      const v = t.source!.get(ev);
      const s = t.padded && typeof v === 'bigint' ? v.toString().padStart(9, '0') : valueToText(v);
      out += t.width === 0 ? s : fitBytes(s, t.width);
    }
    return out;
  }

  /** The JSON value of output field `i` (of `resolutions`); `timeNs` is the event time as output_fields prints it. */
  fieldJson(i: number, ev: EventView, timeNs: string): string {
    const r = this.resolutions[i];
    const v = r.source.get(ev);
    return TIME_FIELDS.has(r.name) && v !== undefined ? timeNs : valueToJson(v);
  }
}

export function valueToText(v: FieldValue): string {
  if (v === undefined) return NA;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return listText(v);
  return String(v);
}

/** libsinsp keeps a list's text in a 1024-byte buffer (sinsp_filtercheck.cpp, strlcpy). */
const LIST_TEXT_BYTES = 1023;

/**
 * A list as libsinsp's filtercheck tostring writes it: "(a,b)", a comma only once the
 * text holds more than "(" (so leading empty values leave none), cut at 1023 bytes.
 */
function listText(v: readonly string[]): string {
  let res = '(';
  for (let i = 0; i < v.length; i++) {
    if (res.length > 1) res += ',';
    res += v[i];
  }
  res += ')';
  // A UTF-16 unit is at most 3 UTF-8 bytes: most lists are short enough to skip counting.
  return res.length * 3 <= LIST_TEXT_BYTES ? res : cutBytes(res, LIST_TEXT_BYTES);
}

/**
 * The first `max` UTF-8 bytes of `s`. A character cut in two cannot be text: Falco's JSON
 * output (nlohmann, error_handler_t::replace) shows it as U+FFFD, and so does this.
 */
function cutBytes(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  return b.length <= max ? s : b.subarray(0, max).toString('utf8');
}

export function valueToJson(v: FieldValue): string {
  if (v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map((s) => JSON.stringify(s)).join(',') + ']';
  if (typeof v === 'bigint') return BigInt.asIntN(64, v).toString();
  return String(v);
}

export { CompileError };

/** std::string::resize(width, ' '): width counts bytes (UTF-8), not characters. */
function fitBytes(s: string, width: number): string {
  const n = Buffer.byteLength(s, 'utf8');
  if (n === width) return s;
  if (n < width) return s + ' '.repeat(width - n);
  return cutBytes(s, width);
}
