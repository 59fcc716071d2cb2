// Stage 4 of the rules pipeline: a resolved condition AST becomes a plain predicate
// over an EventView. Everything here runs once per ruleset; the closures it returns
// are the per-event path. Semantics follow libsinsp's filter compiler and checks.
import { type EventView, type FieldValue, SYM_ABSENT, SYM_NONE, SYM_UNKNOWN } from '../events/view.js';
import type { Loc } from './yaml-source.js';
import { findField, resolveField, FieldError } from '../fields/registry.js';
import { supportedTransformers } from './condition-parser.js';
import { type BuildContext, type FieldType, TIME_EQUALS } from '../fields/types.js';
import { type PfNode, PF_FALSE, PF_TRUE, PF_UNKNOWN, pfAnd, pfNot, pfOr } from './prefilter.js';
import { FieldPlan } from '../events/plan.js';
import type { Expr, Operand, Pos, TransformerArg, ValueSource } from './condition-ast.js';
import { comparedConstants, sourceToString } from './condition-ast.js';
import {
  asciiLower, asciiUpper, byteLength, compileGlob, compilePathPrefixes, compileRegex, isSimpleRegex,
  RegexSyntaxError, strcmp,
} from './matchers.js';

export type Predicate = (ev: EventView) => boolean;

export class CompileError extends Error {
  constructor(message: string, readonly pos: Pos) {
    super(message);
  }
}

export interface CompileWarning {
  message: string;
  pos: Pos;
  /** Where in the rules files, once the caller knows which condition text it was. */
  loc?: Loc;
}

/** A compiled value source: a field, possibly transformed. */
export interface Source {
  get: (ev: EventView) => FieldValue;
  type: FieldType;
  list: boolean;
  name: string;
  /** Plan slot whose string is this (untransformed) field's value, or -1. */
  symbolSlot?: number;
  /** Absent without an auditID (read the slot's symbol with auditSym, not slotSym). */
  symbolGated?: boolean;
  /** The field has a value for every event. */
  always?: boolean;
  /** `= value` decided without the field's text (see FieldDef.textIs). */
  textIs?: (value: string) => Predicate;
  /** See FieldDef.listPath. */
  listPath?: { keys: string[]; index: number };
}

/** Shared across one ruleset: maps each distinct field read to its cache slot. */
export class FieldSlots {
  private slots = new Map<string, number>();
  private extractors = new Map<string, (ev: EventView) => FieldValue>();
  /** What the ruleset's fields read, for the native extractor. */
  readonly plan = new FieldPlan();
  readonly ctx: BuildContext = { plan: this.plan };

  get count(): number {
    return this.slots.size;
  }

  /** Names of the fields read, for the field plan. */
  names(): string[] {
    return [...this.slots.keys()];
  }

  cached(key: string, build: () => (ev: EventView) => FieldValue): (ev: EventView) => FieldValue {
    const existing = this.extractors.get(key);
    if (existing) return existing;
    const slot = this.slots.size;
    this.slots.set(key, slot);
    const ex = build();
    const get = (ev: EventView): FieldValue => {
      if (ev.cacheGen[slot] === ev.gen) return ev.cacheVal[slot];
      const v = ex(ev);
      ev.cacheGen[slot] = ev.gen;
      ev.cacheVal[slot] = v;
      return v;
    };
    this.extractors.set(key, get);
    return get;
  }
}

export interface CompileOptions {
  /** Accept Falco-pre-0.36 operators on list fields (any element matches) with a warning. */
  legacyListOperators: boolean;
}

/** How a compiled leaf check can be written inline by the code generator. */
interface LeafInfo {
  get: (ev: EventView) => FieldValue;
  /** `eq`: value === constant; `set`: constants.has(value); `test`: test(value) when present; `exists`. */
  form: 'eq' | 'set' | 'test' | 'exists';
  value?: string;
  set?: Set<string>;
  test?: (v: NonNullable<FieldValue>) => boolean;
  /** For `eq` and `set` on a symbol slot: compare the event's symbol first (see slotSym). */
  symbols?: SymbolTest;
  /** For `test` (startswith, endswith) on a symbol slot: compare a plain string's bytes. */
  bytes?: BytesTest;
  /** For `intersects` on a list field with a listPath: the walk and the constants. */
  listAny?: { keys: string[]; index: number; values: string[] };
}

interface BytesTest {
  slot: number;
  gated: boolean;
  end: boolean;
  bytes: Buffer;
}

interface SymbolTest {
  slot: number;
  gated: boolean;
  /** `eq`: the constant's symbol id. */
  id: number;
  /** `set`: 1 at the symbol id of each constant. */
  members: Uint8Array;
}

const LEAF = new WeakMap<Predicate, LeafInfo>();
/** Each generated predicate's prefilter program (see prefilter.ts). */
const PREFILTER = new WeakMap<Predicate, PfNode>();

/** The prefilter program of a predicate from compileGenerated (NEVER: false). */
export function prefilterOf(p: Predicate): PfNode {
  if (p === NEVER) return PF_FALSE;
  return PREFILTER.get(p) ?? PF_UNKNOWN;
}
/** Whether a constant names a field (libsinsp's new_filtercheck succeeding on it). */
function looksLikeField(s: string): boolean {
  const open = s.indexOf('[');
  if (open < 0) {
    const def = findField(s);
    return def !== undefined && !def.arg.required;
  }
  if (findField(s.slice(0, open)) === undefined) return false;
  try {
    resolveField(s.slice(0, open), s.endsWith(']') ? s.slice(open + 1, -1) : s.slice(open + 1));
    return true;
  } catch {
    return false;
  }
}

/** `exists` on a field every event has. */
const ALWAYS: Predicate = () => true;
/** A condition that is false for every event (see compileGenerated). */
export const NEVER: Predicate = () => false;

const LIST_OK = new Set(['in', 'intersects', 'exists']);
const NUMERIC_OK = new Set(['=', '==', '!=', '<', '<=', '>', '>=', 'in', 'intersects', 'exists']);
const BOOL_OK = new Set(['=', '==', '!=', 'in', 'intersects', 'exists']);
const STRING_BAD = new Set(['bcontains', 'bstartswith']);

export class ConditionCompiler {
  readonly warnings: CompileWarning[] = [];
  /** Legacy list-operator uses (for `rules check --strict`). */
  readonly legacy: CompileWarning[] = [];

  constructor(readonly slots: FieldSlots, readonly opts: CompileOptions) {}

  compile(e: Expr): Predicate {
    switch (e.type) {
      case 'and': {
        const cs = e.children.map((c) => this.compile(c));
        if (cs.length === 2) { const [a, b] = cs; return (ev) => a(ev) && b(ev); }
        if (cs.length === 3) { const [a, b, c] = cs; return (ev) => a(ev) && b(ev) && c(ev); }
        return (ev) => { for (let i = 0; i < cs.length; i++) if (!cs[i](ev)) return false; return true; };
      }
      case 'or': {
        const cs = e.children.map((c) => this.compile(c));
        if (cs.length === 2) { const [a, b] = cs; return (ev) => a(ev) || b(ev); }
        if (cs.length === 3) { const [a, b, c] = cs; return (ev) => a(ev) || b(ev) || c(ev); }
        return (ev) => { for (let i = 0; i < cs.length; i++) if (cs[i](ev)) return true; return false; };
      }
      case 'not': {
        const c = this.compile(e.child);
        return (ev) => !c(ev);
      }
      case 'identifier':
        throw new CompileError(`unexpected identifier '${e.name}'`, e.pos);
      case 'unary': {
        const src = this.source(e.left);
        if (e.op !== 'exists') throw new CompileError(`unrecognized filter comparison operator '${e.op}'`, e.pos);
        if (src.always === true) return ALWAYS;
        const get = src.get;
        const p: Predicate = (ev) => get(ev) !== undefined;
        LEAF.set(p, { get, form: 'exists' });
        return p;
      }
      case 'binary':
        return this.binary(e.left, e.op, e.right, e.pos);
    }
  }

  /**
   * Compiles `e` to one generated function: and/or/not become JavaScript operators and
   * simple comparisons are written inline, so each rule is a single function V8 can
   * optimize whole. Constants enter the source only through JSON.stringify; getters and
   * testers are passed as parameters, never as text.
   */
  compileGenerated(e: Expr): Predicate {
    const names: string[] = [];
    const args: unknown[] = [];
    const leaves = new Map<Expr, Predicate>();
    let temps = 0;
    let symbolReads = false;
    const ref = (v: unknown): string => {
      const name = `a${args.length}`;
      names.push(name);
      args.push(v);
      return name;
    };
    const gen = (x: Expr): string => {
      switch (x.type) {
        // Constant parts (exists on a field every event has) fold away: evaluation has
        // no side effects, so `a and not true` is simply false.
        case 'and': {
          const parts = x.children.map(gen).filter((c) => c !== 'true');
          if (parts.includes('false')) return 'false';
          return parts.length === 0 ? 'true' : '(' + parts.join(' && ') + ')';
        }
        case 'or': {
          const parts = x.children.map(gen).filter((c) => c !== 'false');
          if (parts.includes('true')) return 'true';
          return parts.length === 0 ? 'false' : '(' + parts.join(' || ') + ')';
        }
        case 'not': {
          const c = gen(x.child);
          return c === 'true' ? 'false' : c === 'false' ? 'true' : '!' + c;
        }
        case 'identifier':
          throw new CompileError(`unexpected identifier '${x.name}'`, x.pos);
        default: {
          const p = this.compile(x);
          leaves.set(x, p);
          if (p === ALWAYS) return 'true';
          const info = LEAF.get(p);
          if (info === undefined) return `${ref(p)}(ev)`;
          const g = ref(info.get);
          const sym = info.symbols;
          // From the extractor's symbol: a constant's id, SYM_NONE or SYM_ABSENT decide;
          // only SYM_UNKNOWN needs the field's value.
          const symOf = sym ? `(s = ev.${sym.gated ? 'auditSym' : 'slotSym'}(${sym.slot}))` : '';
          if (sym) symbolReads = true;
          switch (info.form) {
            case 'exists': return `(${g}(ev) !== undefined)`;
            case 'eq':
              if (sym) return `(${symOf} > ${SYM_UNKNOWN} ? s === ${sym.id} : s === ${SYM_UNKNOWN} && ${g}(ev) === ${JSON.stringify(info.value)})`;
              return `(${g}(ev) === ${JSON.stringify(info.value)})`;
            case 'set':
              if (sym) return `(${symOf} >= 0 ? s < ${sym.members.length} && ${ref(sym.members)}[s] === 1 : s === ${SYM_UNKNOWN} && ${ref(info.set)}.has(${g}(ev)))`;
              return `${ref(info.set)}.has(${g}(ev))`;
            default: {
              const v = `v${temps++}`;
              const generic = `((${v} = ${g}(ev)) !== undefined && ${ref(info.test)}(${v}))`;
              const b = info.bytes;
              if (b === undefined) return generic;
              // A plain string equal to no constant (SYM_NONE): its bytes decide, undecoded.
              symbolReads = true;
              const bySym = `(s = ev.${b.gated ? 'auditSym' : 'slotSym'}(${b.slot}))`;
              return `(${bySym} === ${SYM_NONE} ? ev.${b.end ? 'slotEndsWith' : 'slotStartsWith'}(${b.slot}, ${ref(b.bytes)}) : s !== ${SYM_ABSENT} && ${generic})`;
            }
          }
        }
      }
    };
    const body = gen(e);
    if (body === 'false') return NEVER;
    const vars = Array.from({ length: temps }, (_, i) => `v${i}`);
    if (symbolReads) vars.push('s');
    const locals = vars.length > 0 ? `let ${vars.join(', ')};` : '';
    const factory = new Function(...names, `return function predicate(ev) { ${locals} return ${body}; };`);
    const predicate = factory(...args) as Predicate;
    const pf = (x: Expr): PfNode => {
      switch (x.type) {
        case 'and': return pfAnd(x.children.map(pf));
        case 'or': return pfOr(x.children.map(pf));
        case 'not': return pfNot(pf(x.child));
        default: return this.prefilterLeaf(leaves.get(x)!);
      }
    };
    PREFILTER.set(predicate, pf(e));
    return predicate;
  }

  /**
   * A leaf as the prefilter sees it: decided from the extractor's symbols exactly where
   * the generated predicate decides it from them (and by the same rules), else unknown.
   */
  private prefilterLeaf(p: Predicate): PfNode {
    if (p === ALWAYS) return PF_TRUE;
    const plan = this.slots.plan;
    const audit = plan.recordedSlot(['auditID']);
    const readable = (slot: number, gated: boolean): boolean => plan.recorded[slot] === true && (!gated || audit >= 0);
    const info = LEAF.get(p);
    if (info === undefined) {
      const t = TIME_EQUALS.get(p);
      return t === undefined ? PF_UNKNOWN : { op: 'time', sec: t.sec, nsec: t.nsec };
    }
    const sym = info.symbols;
    if ((info.form === 'eq' || info.form === 'set') && sym !== undefined && readable(sym.slot, sym.gated)) {
      return { op: 'set', slot: sym.slot, gated: sym.gated, members: sym.members };
    }
    const b = info.bytes;
    if (info.form === 'test' && b !== undefined && readable(b.slot, b.gated)) {
      return { op: 'bytes', slot: b.slot, gated: b.gated, end: b.end, bytes: b.bytes };
    }
    const l = info.listAny;
    if (l !== undefined && audit >= 0) {
      const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');
      return { op: 'list', keys: l.keys.map(enc), index: l.index, values: l.values.map(enc) };
    }
    return PF_UNKNOWN;
  }

  /** A field or transformer expression as a value source. */
  source(e: TransformerArg, allowVal = false): Source {
    switch (e.type) {
      case 'field': {
        let resolved;
        try {
          resolved = resolveField(e.name, e.arg);
        } catch (err) {
          if (err instanceof FieldError) throw new CompileError(err.message, e.pos);
          throw err;
        }
        const { def, arg } = resolved;
        const name = sourceToString(e);
        const get = this.slots.cached(name, () => def.build(arg, this.slots.ctx));
        const symbolSlot = def.symbolSlot ? def.symbolSlot(arg, this.slots.ctx) : -1;
        return { get, type: def.type, list: def.list, name, symbolSlot, symbolGated: def.needsAuditId === true, always: def.always === true, textIs: def.textIs, listPath: def.listPath?.(arg) };
      }
      case 'value': {
        const v = e.value;
        return { get: () => v, type: 'string', list: false, name: JSON.stringify(v) };
      }
      case 'tlist': {
        const vals: string[] = [];
        for (const c of e.children) {
          if (c.type !== 'value') throw new CompileError('transformer lists may hold only constant values here', c.pos);
          vals.push(c.value);
        }
        return { get: () => (vals.length ? vals : undefined), type: 'string', list: true, name: sourceToString(e) };
      }
      case 'transformer':
        return this.transformer(e, allowVal);
    }
  }

  private transformer(e: Extract<TransformerArg, { type: 'transformer' }>, allowVal: boolean): Source {
    const name = e.name;
    if (name === 'val') {
      if (!allowVal) throw new CompileError("'val' may only be used on the right-hand side of a comparison", e.pos);
      if (e.arg !== undefined) throw new CompileError("transformer 'val' does not support field arguments", e.pos);
      return this.source(e.args[0]);
    }
    if (e.args.length === 1) {
      if (e.arg !== undefined) throw new CompileError(`transformer '${name}' does not support field arguments`, e.pos);
      const inner = this.source(e.args[0]);
      return this.singleTransformer(name, inner, e.pos);
    }
    const args = e.args.map((a) => this.source(a));
    if (e.arg !== undefined && name !== 'getopt') throw new CompileError(`transformer '${name}' does not support field arguments`, e.pos);
    if (name === 'join') {
      if (args.length !== 2) throw new CompileError('join() requires exactly 2 arguments: separator and list', e.pos);
      if (args[0].list) throw new CompileError('join() first argument (separator) must be a single value, not a list', e.pos);
      if (!args[1].list) throw new CompileError('join() second argument must be a list', e.pos);
      const [sepSrc, listSrc] = args;
      return {
        type: 'string', list: false, name: sourceToString(e),
        get: (ev) => {
          const sep = sepSrc.get(ev);
          if (sep === undefined) return undefined;
          const l = listSrc.get(ev);
          if (l === undefined) return undefined;
          return (l as string[]).join(String(sep));
        },
      };
    }
    if (name === 'concat') {
      if (args.length < 2) throw new CompileError('concat() requires at least 2 arguments', e.pos);
      for (const a of args) if (a.type !== 'string' || a.list) throw new CompileError('concat() arguments must be strings', e.pos);
      return {
        type: 'string', list: false, name: sourceToString(e),
        get: (ev) => {
          let out = '';
          for (const a of args) {
            const v = a.get(ev);
            if (v === undefined) return undefined;
            out += v as string;
          }
          return out;
        },
      };
    }
    if (name === 'getopt') throw new CompileError("transformer 'getopt' is not supported by Peregrine", e.pos);
    throw new CompileError(`transformer '${name}' takes exactly one argument`, e.pos);
  }

  private singleTransformer(name: string, inner: Source, pos: Pos): Source {
    const typeErr = (): never => {
      throw new CompileError(`can't add field transformer: type '${inner.type === 'string' ? 'charbuf' : inner.type}' is not supported by '${name}' transformer applied on ${inner.list ? 'list ' : ''}field '${inner.name}'`, pos);
    };
    const tname = `${name}(${inner.name})`;
    const stringWise = (fn: (s: string) => string | undefined): Source => {
      if (inner.type !== 'string') typeErr();
      const get = inner.get;
      if (inner.list) {
        return {
          type: 'string', list: true, name: tname,
          get: (ev) => {
            const v = get(ev) as string[] | undefined;
            if (v === undefined) return undefined;
            const out: string[] = [];
            for (const s of v) {
              const r = fn(s);
              if (r === undefined) return undefined;
              out.push(r);
            }
            return out;
          },
        };
      }
      return {
        type: 'string', list: false, name: tname,
        get: (ev) => {
          const v = get(ev);
          return v === undefined ? undefined : fn(v as string);
        },
      };
    };
    switch (name) {
      case 'tolower': return stringWise(asciiLower);
      case 'toupper': return stringWise(asciiUpper);
      case 'basename': return stringWise((s) => s.slice(s.lastIndexOf('/') + 1));
      case 'b64': return stringWise(base64Decode);
      case 'len': {
        const get = inner.get;
        if (inner.list) return { type: 'uint64', list: false, name: tname, get: (ev) => { const v = get(ev); return v === undefined ? undefined : BigInt((v as string[]).length); } };
        if (inner.type !== 'string') typeErr();
        return { type: 'uint64', list: false, name: tname, get: (ev) => { const v = get(ev); return v === undefined ? undefined : BigInt(byteLength(v as string)); } };
      }
      default:
        throw new CompileError(`transformer '${name}' is not supported`, pos);
    }
  }

  /** How `lhs` equal to one of `values` is decided from symbols, when it can be. */
  private symbolTest(lhs: Source, values: readonly string[]): SymbolTest | undefined {
    const slot = lhs.symbolSlot ?? -1;
    if (slot < 0 || values.length === 0) return undefined;
    const plan = this.slots.plan;
    const ids = values.map((v) => plan.symbolOf(slot, v));
    if (ids.some((id) => id < 0)) return undefined;
    let max = 0;
    for (const id of ids) max = Math.max(max, id);
    const members = new Uint8Array(max + 1);
    for (const id of ids) members[id] = 1;
    return { slot, gated: lhs.symbolGated === true, id: ids[0], members };
  }

  private binary(left: ValueSource, opText: string, right: Operand, pos: Pos): Predicate {
    const lhs = this.source(left);
    const sp = opText.indexOf(' ');
    const op = sp < 0 ? opText : opText.slice(0, sp);
    const mod = sp < 0 ? '' : opText.slice(sp + 1);
    let legacyList = false;
    // libsinsp names the operator by its comparator: `==` is `=`.
    const opName = op === '==' ? '=' : op;
    // Operator / type compatibility (flt_is_comparable).
    if (op !== 'exists') {
      if (lhs.list) {
        if (!LIST_OK.has(op) || mod !== '') {
          const falcoError = `filter error: '${opName}' operator not supported list filters`;
          if (lhs.type === 'string' && this.opts.legacyListOperators && mod === '' && !STRING_BAD.has(op)
            && right.type !== 'field' && right.type !== 'transformer') {
            legacyList = true;
            const w = { message: `'${opName}' on list field '${lhs.name}': current Falco rejects this rule (${falcoError}); evaluated as "any element ${opName}" as Falco < 0.36 did. Use 'intersects' or rewrite the condition.`, pos };
            this.warnings.push(w);
            this.legacy.push(w);
          } else {
            throw new CompileError(falcoError, pos);
          }
        }
      } else if (lhs.type === 'string') {
        if (STRING_BAD.has(op)) throw new CompileError(`filter error: '${opName}' operator not supported for string filters`, pos);
      } else if (lhs.type === 'bool') {
        if (!BOOL_OK.has(op)) throw new CompileError(`filter error: '${opName}' operator not supported for numeric filters`, pos);
      } else if (!NUMERIC_OK.has(op)) {
        throw new CompileError(`filter error: '${opName}' operator not supported for numeric filters`, pos);
      }
    }

    if (right.type === 'field' || right.type === 'transformer') {
      const rhs = this.source(right, true);
      if (op === 'pmatch' || op === 'regex') throw new CompileError(`operator '${op}' doesn't support right-hand side fields`, pos);
      if (rhs.type !== lhs.type || rhs.list !== lhs.list) {
        throw new CompileError(`field '${lhs.name}' has type '${lhs.type}${lhs.list ? ' (list)' : ''}' while the right-hand side field '${rhs.name}' has incompatible type '${rhs.type}${rhs.list ? ' (list)' : ''}'`, pos);
      }
      const lget = lhs.get;
      const rget = rhs.get;
      const cmp = this.comparator(lhs, op, mod, pos);
      return (ev) => {
        const l = lget(ev);
        if (l === undefined) return false;
        const r = rget(ev);
        if (r === undefined) return false;
        return cmp(l, Array.isArray(r) ? r : [r as string | bigint | boolean]);
      };
    }

    const values = comparedConstants(right);
    for (const v of values) this.valueWarnings(op, v, right.pos);
    // Let the extractor hand back these constants themselves when the value equals one.
    if (lhs.symbolSlot !== undefined && lhs.symbolSlot >= 0) this.slots.plan.addConstants(lhs.symbolSlot, values);
    const get = lhs.get;
    if (op === 'exists') {
      const p: Predicate = (ev) => get(ev) !== undefined;
      LEAF.set(p, { get, form: 'exists' });
      return p;
    }
    if (lhs.textIs !== undefined && !lhs.list && mod === '' && (op === '=' || op === '==')) return lhs.textIs(values[0]);
    const test = this.constComparator(lhs, op, mod, values, pos, legacyList);
    const p: Predicate = (ev) => {
      const v = get(ev);
      return v !== undefined && test(v);
    };
    const scalarString = lhs.type === 'string' && !lhs.list && mod === '';
    if (scalarString && (op === '=' || op === '==' || ((op === 'in' || op === 'intersects') && values.length === 1))) {
      LEAF.set(p, { get, form: 'eq', value: values[0], symbols: this.symbolTest(lhs, values) });
    } else if (scalarString && (op === 'in' || op === 'intersects')) {
      LEAF.set(p, { get, form: 'set', set: new Set(values), symbols: this.symbolTest(lhs, values) });
    } else {
      let bytes: BytesTest | undefined;
      const slot = lhs.symbolSlot ?? -1;
      if (scalarString && slot >= 0 && values.length === 1 && (op === 'startswith' || op === 'endswith')) {
        bytes = { slot, gated: lhs.symbolGated === true, end: op === 'endswith', bytes: Buffer.from(values[0], 'utf8') };
      }
      const listAny = lhs.list && lhs.listPath !== undefined && op === 'intersects' && mod === '' ? { ...lhs.listPath, values } : undefined;
      LEAF.set(p, { get, form: 'test', test, bytes, listAny });
    }
    return p;
  }

  private valueWarnings(op: string, v: string, pos: Pos): void {
    if (op === 'regex' && isSimpleRegex(v)) {
      this.warnings.push({ message: `regex check with '${v}' may be optimized with simpler operators such as '=', 'contains', 'startswith', 'endswith'`, pos });
    }
    const nospaces = v.replace(/[ \t\n\v\f\r]/g, '');
    if (looksLikeField(nospaces)) {
      this.warnings.push({ message: `'${v}' may be a valid field misused as a const string value`, pos });
      return;
    }
    for (const t of supportedTransformers(true)) {
      if (nospaces.length >= t.length + 2 && nospaces.startsWith(t) && nospaces[t.length] === '(' && nospaces.endsWith(')')) {
        this.warnings.push({ message: `'${v}' may be a valid field transformer misused as a const string value`, pos });
      }
    }
  }

  /** Comparison against constant values, compiled for the lhs type. */
  private constComparator(lhs: Source, op: string, mod: string, values: string[], pos: Pos, legacyList: boolean): (v: NonNullable<FieldValue>) => boolean {
    if (lhs.type === 'uint64' || lhs.type === 'abstime' || lhs.type === 'reltime') {
      const nums = values.map((s) => {
        const n = parseU64(s);
        if (n === undefined) throw new CompileError(`filter error: ${s} is not a valid number`, pos);
        return n;
      });
      return numericCompare(op, nums) as (v: NonNullable<FieldValue>) => boolean;
    }
    if (lhs.type === 'bool') {
      const bools = values.map((s) => {
        if (s !== 'true' && s !== 'false') throw new CompileError(`filter error: unrecognized boolean value ${s}`, pos);
        return s === 'true';
      });
      const set = new Set(bools);
      if (op === '!=') return (v) => v !== bools[0];
      if (op === 'in' || op === 'intersects') return (v) => set.has(v as boolean);
      return (v) => v === bools[0];
    }
    if (lhs.list) {
      const set = new Set(values);
      if (op === 'in') return (v) => { for (const s of v as string[]) if (!set.has(s)) return false; return true; };
      if (op === 'intersects') return (v) => { for (const s of v as string[]) if (set.has(s)) return true; return false; };
      if (legacyList) {
        const one = this.stringTest(op, values, pos);
        return (v) => { for (const s of v as string[]) if (one(s)) return true; return false; };
      }
    }
    if (mod !== '') {
      const tests = values.map((c) => this.stringTest(op, [c], pos));
      if (tests.length === 0) return () => false;
      if (mod === 'anyof') return (v) => { for (const t of tests) if (t(v as string)) return true; return false; };
      if (mod === 'allof') return (v) => { for (const t of tests) if (!t(v as string)) return false; return true; };
      return (v) => {
        let n = 0;
        for (const t of tests) if (t(v as string) && ++n > 1) return false;
        return n === 1;
      };
    }
    const t = this.stringTest(op, values, pos);
    return (v) => t(v as string);
  }

  private stringTest(op: string, values: string[], pos: Pos): (s: string) => boolean {
    const c = values[0] ?? '';
    switch (op) {
      case '=': case '==': return (s) => s === c;
      case '!=': return (s) => s !== c;
      case 'contains': return (s) => s.includes(c);
      case 'icontains': { const lc = asciiLower(c); return (s) => asciiLower(s).includes(lc); }
      case 'startswith': return (s) => s.startsWith(c);
      case 'endswith': return (s) => s.endsWith(c);
      case 'glob': return compileGlob(c, false);
      case 'iglob': return compileGlob(c, true);
      case 'regex': {
        try {
          return compileRegex(c);
        } catch (e) {
          if (e instanceof RegexSyntaxError) throw new CompileError(`invalid regex pattern: ${e.message}`, pos);
          throw e;
        }
      }
      case '<': return (s) => strcmp(s, c) < 0;
      case '<=': return (s) => strcmp(s, c) <= 0;
      case '>': return (s) => strcmp(s, c) > 0;
      case '>=': return (s) => strcmp(s, c) >= 0;
      case 'in': case 'intersects': {
        if (values.length === 1) return (s) => s === c;
        const set = new Set(values);
        return (s) => set.has(s);
      }
      case 'pmatch': return compilePathPrefixes(values);
      case 'bcontains': case 'bstartswith':
        throw new CompileError(`filter error: '${op}' operator not supported for string filters`, pos);
      default:
        throw new CompileError(`unrecognized filter comparison operator '${op}'`, pos);
    }
  }

  /** Comparison against values extracted from a right-hand side field. */
  private comparator(lhs: Source, op: string, mod: string, pos: Pos): (l: NonNullable<FieldValue>, r: Array<string | bigint | boolean>) => boolean {
    if (lhs.type !== 'string') {
      return (l, r) => numericCompare(op, r as bigint[])(l as bigint);
    }
    if (lhs.list) {
      return (l, r) => {
        const set = new Set(r as string[]);
        if (op === 'in') { for (const s of l as string[]) if (!set.has(s)) return false; return true; }
        for (const s of l as string[]) if (set.has(s)) return true;
        return false;
      };
    }
    return (l, r) => {
      if (mod !== '') {
        const tests = r.map((c) => this.stringTest(op, [c as string], pos));
        if (mod === 'anyof') return tests.some((t) => t(l as string));
        if (mod === 'allof') return tests.every((t) => t(l as string));
        return tests.filter((t) => t(l as string)).length === 1;
      }
      return this.stringTest(op, r as string[], pos)(l as string);
    };
  }
}

function numericCompare(op: string, nums: bigint[]): (v: bigint) => boolean {
  const c = nums[0];
  switch (op) {
    case '=': case '==': return (v) => v === c;
    case '!=': return (v) => v !== c;
    case '<': return (v) => v < c;
    case '<=': return (v) => v <= c;
    case '>': return (v) => v > c;
    case '>=': return (v) => v >= c;
    default: return (v) => nums.includes(v);
  }
}

/** sscanf("%lu") without trailing characters, as libsinsp parses uint64 values. */
export function parseU64(s: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)$/.exec(s);
  if (!m) return undefined;
  let v = BigInt(m[2]);
  if (v > 0xffffffffffffffffn) v = 0xffffffffffffffffn;
  return m[1] === '-' ? BigInt.asUintN(64, -v) : v;
}

const B64 = new Int16Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => { B64[c.charCodeAt(0)] = i; });

/** libsinsp Base64::decodeWithoutPadding; undefined when the input is not valid base64. */
export function base64Decode(s: string): string | undefined {
  const input = Buffer.from(s, 'utf8');
  if (input.length === 0) return '';
  let n = input.length;
  if (input[n - 1] === 0x3d) {
    n--;
    if (n > 0 && input[n - 1] === 0x3d) n--;
  }
  if (n === 0) return undefined;
  let max = Math.floor((n + 3) / 4) * 3;
  if (n % 4 === 3) max -= 1;
  if (n % 4 === 2) max -= 2;
  const out: number[] = [];
  const last = n - 1;
  for (let i = 0; i <= last; i++) {
    const c = B64[input[i]];
    if (c < 0) return undefined;
    const pos = i % 4;
    if (i < last) {
      if (pos === 0) out.push((c << 2) & 0xff);
      else if (pos === 1) { out[out.length - 1] |= c >> 4; out.push((c << 4) & 0xff); }
      else if (pos === 2) { out[out.length - 1] |= c >> 2; out.push((c << 6) & 0xff); }
      else out[out.length - 1] |= c;
    } else {
      if (pos === 0) return undefined;
      if (pos === 1) { out[out.length - 1] |= c >> 4; if ((c & 0xf) !== 0) return undefined; }
      else if (pos === 2) { out[out.length - 1] |= c >> 2; if ((c & 0x3) !== 0) return undefined; }
      else out[out.length - 1] |= c;
    }
  }
  if (out.length !== max) return undefined;
  const str = Buffer.from(out).toString('utf8');
  const nul = str.indexOf('\0');
  return nul < 0 ? str : str.slice(0, nul);
}
