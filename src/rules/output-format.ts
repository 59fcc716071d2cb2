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

/** Fields rendered in output_fields as the event time in nanoseconds. */
const TIME_FIELDS = new Set(['evt.time', 'evt.time.s', 'evt.time.iso8601', 'evt.datetime', 'evt.datetime.s']);

export class OutputFormat {
  private tokens: Token[] = [];
  readonly resolutions: Resolution[] = [];

  constructor(readonly text: string, compiler: ConditionCompiler) {
    const fmt = text;
    const len = fmt.length;
    let lastLiteral = 0;
    let j = 0;
    for (j = 0; j < len; j++) {
      if (fmt[j] !== '%') continue;
      if (lastLiteral !== j) this.tokens.push({ literal: fmt.slice(lastLiteral, j), width: 0 });
      if (j === len - 1) throw new OutputFormatError('invalid formatting syntax: formatting cannot end with a %', j);
      let width = 0;
      if (/[0-9]/.test(fmt[j + 1])) {
        width = parseInt(fmt.slice(j + 1), 10);
        for (;;) {
          if (j === len - 1) throw new OutputFormatError('invalid formatting syntax: formatting cannot end with a number', j);
          if (/[0-9]/.test(fmt[j + 1])) { j++; continue; }
          break;
        }
      }
      let fsize = len - (j + 1);
      let ast: ValueSource | undefined;
      let source: Source | undefined;
      let lastErr = '';
      while (source === undefined) {
        const parser = new ConditionParser(fmt.substr(j + 1, fsize));
        try {
          ast = parser.parseFieldOrTransformer();
          source = compiler.source(ast);
          fsize = parser.getPos().idx;
        } catch (e) {
          if (!(e instanceof Error)) throw e;
          lastErr = e.message;
          fsize--;
          if (fsize <= 0) throw new OutputFormatError(`unknown filter: ${lastErr}`, j);
        }
      }
      this.collect(ast!, compiler);
      j += fsize;
      this.tokens.push({ source, width });
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
      const s = valueToText(t.source!.get(ev));
      out += t.width === 0 ? s : s.length >= t.width ? s.slice(0, t.width) : s.padEnd(t.width, ' ');
    }
    return out;
  }

  /** Adds `"name":value` JSON members to `fields`. */
  collectJson(ev: EventView, fields: Map<string, string>): void {
    for (const r of this.resolutions) {
      const v = r.source.get(ev);
      fields.set(r.name, TIME_FIELDS.has(r.name) && v !== undefined ? BigInt.asIntN(64, ev.time()).toString() : valueToJson(v));
    }
  }
}

export function valueToText(v: FieldValue): string {
  if (v === undefined) return NA;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return '(' + v.join(',') + ')';
  return String(v);
}

export function valueToJson(v: FieldValue): string {
  if (v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map((s) => JSON.stringify(s)).join(',') + ']';
  if (typeof v === 'bigint') return BigInt.asIntN(64, v).toString();
  return String(v);
}

export { CompileError };
