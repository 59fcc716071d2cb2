// The rules pipeline end to end: collect → resolve (lists, exceptions, macros) →
// parse → compile. A Ruleset is immutable once built; evaluating an event is a loop
// over plain predicates in Falco's rule order.
import { ErrorCode, PeregrineError, type Warning } from '../errors.js';
import type { EventView } from '../events/view.js';
import { type RuleCollector, RuleCollector as Collector, isOperatorWithModifier, type RuleInfo } from './collect.js';
import { type Expr, type Pos, forEachPos } from './condition-ast.js';
import { ConditionParser, ConditionSyntaxError } from './condition-parser.js';
import { CompileError, ConditionCompiler, FieldSlots, NEVER, type Predicate, prefilterOf } from './compile-condition.js';
import { type EncodedPrefilter, encodePrefilter } from './prefilter.js';
import { OutputFormat, OutputFormatError } from './output-format.js';
import { strcmp } from './matchers.js';
import { priorityName } from './priority.js';
import {
  buildExceptionCondition, ExceptionError, MacroError, resolveLists, resolveMacros, substituteLists,
} from './resolve.js';
import type { SourceText } from './source-text.js';
import { type Loc, locOf } from './yaml-source.js';
import { buildIndex, candidates, constraintsOf, type IndexNode, type IndexedRule } from './rule-index.js';
import type { FieldExpr } from './condition-ast.js';
import { findField } from '../fields/registry.js';

export type RuleMatching = 'first' | 'all';

export interface RulesetOptions {
  /** Least severe priority kept (0 = Emergency … 7 = Debug). */
  minPriority: number;
  ruleMatching: RuleMatching;
  /** Accept operators on list fields that Falco ≥ 0.36 rejects (with a warning). */
  legacyListOperators: boolean;
  /** Evaluate only the rule of this name (`hunt`); the others are still checked. */
  only?: string;
  /** Give every alert its stable id (outputs/alert-id.ts): serve, with a network output. */
  alertIds?: boolean;
}

export const DEFAULT_OPTIONS: RulesetOptions = { minPriority: 7, ruleMatching: 'first', legacyListOperators: true };

export interface RuleFile {
  name: string;
  text: string;
}

export interface CompiledRule {
  name: string;
  index: number;
  priority: number;
  priorityName: string;
  source: string;
  /** Sorted, as Falco prints them. */
  tags: string[];
  description: string;
  predicate: Predicate;
  output: OutputFormat;
  /** The resolved condition (for the candidate index and reports). */
  ast: Expr;
  /** Position in its Ruleset's `rules` (-1 when not enabled there). */
  pos: number;
}

const CONDITION_MAX_DEPTH = 1000;
const LEGACY_LIST_OPERATOR = 'LOAD_LEGACY_LIST_OPERATOR';

function isUnknownFieldError(msg: string): boolean {
  return msg.startsWith('unknown field') || msg.startsWith('unknown filter');
}

function outputLoc(r: RuleInfo, e: Error): Loc {
  return e instanceof OutputFormatError ? r.outputText.loc(e.offset) : locOf(r.outputNode);
}

/** Where a position of a parsed condition is in the rules files. */
function posLoc(pos: Pos, text: SourceText): Loc {
  return (pos.src ?? text).loc(pos.idx);
}

function parseCondition(text: SourceText): Expr {
  const p = new ConditionParser(text.text, CONDITION_MAX_DEPTH);
  try {
    const ast = p.parse();
    // Macro bodies are pasted into rules as trees: each node keeps its own origin.
    forEachPos(ast, (pos) => { pos.src = text; });
    return ast;
  } catch (e) {
    if (e instanceof ConditionSyntaxError) {
      throw new PeregrineError(ErrorCode.COMPILE_CONDITION, `${e.message} (in condition: ${excerpt(text.text, e.pos.idx)})`, text.loc(e.pos.idx));
    }
    throw e;
  }
}

function excerpt(text: string, idx: number): string {
  const oneLine = text.replace(/\s+/g, ' ');
  if (oneLine.length <= 120) return JSON.stringify(oneLine);
  const from = Math.max(0, Math.min(idx, oneLine.length) - 60);
  return JSON.stringify((from > 0 ? '…' : '') + oneLine.slice(from, from + 120) + '…');
}

export class Ruleset {
  private readonly index: IndexNode<CompiledRule> | CompiledRule[];
  /** The rules' prefilter programs, for the native extractor (see prefilter.ts). */
  readonly prefilter: EncodedPrefilter;

  private constructor(
    readonly rules: CompiledRule[],
    /** Every compiled rule, enabled or not (for reports). */
    readonly allRules: CompiledRule[],
    readonly slots: FieldSlots,
    readonly warnings: Warning[],
    readonly options: RulesetOptions,
    readonly files: string[],
    /** Uses of list operators current Falco rejects. */
    readonly legacy: Warning[],
    compiler: ConditionCompiler,
  ) {
    const fields = new Map<string, FieldExpr>();
    const accept = (f: FieldExpr): boolean => {
      const def = findField(f.name);
      return def !== undefined && !def.list && def.type === 'string';
    };
    // A rule whose condition is constantly false is never a candidate.
    const indexed: IndexedRule<CompiledRule>[] = rules
      .filter((rule) => rule.predicate !== NEVER)
      .map((rule) => ({ rule, constraints: constraintsOf(rule.ast, accept, fields) }));
    rules.forEach((r, i) => { r.pos = i; });
    this.prefilter = encodePrefilter(rules.map((r) => prefilterOf(r.predicate)), slots.plan.recordedSlot(['auditID']));
    this.index = buildIndex(indexed, (key) => {
      const src = compiler.source(fields.get(key)!);
      const slot = src.symbolSlot ?? -1;
      return { get: src.get, slot, gated: src.symbolGated === true, symbolOf: (v) => (slot < 0 ? -1 : slots.plan.symbolOf(slot, v)) };
    });
  }

  /** Loads files in order; like Falco, the rules loaded so far must compile after each file. */
  static compile(files: RuleFile[], options: Partial<RulesetOptions> = {}): Ruleset {
    const opts = { ...DEFAULT_OPTIONS, ...options };
    const col = new Collector();
    let built: Ruleset | undefined;
    for (const f of files) {
      try {
        col.load(f.name, f.text);
        built = Ruleset.fromCollector(col, opts);
      } catch (e) {
        // The stack or an array's length ran out (macros nested thousands deep, conditions
        // or lists of hundreds of thousands of terms): an error to act on, not a crash.
        if (e instanceof RangeError) {
          throw new PeregrineError(ErrorCode.VALIDATE, `rules too large or too deeply nested to compile (${e.message}): `
            + 'nest macros less deeply, split very long conditions and lists', { file: f.name, line: 1, col: 1 });
        }
        throw e;
      }
    }
    if (built === undefined) built = Ruleset.fromCollector(col, opts);
    return built;
  }

  private static fromCollector(col: RuleCollector, opts: RulesetOptions): Ruleset {
    const warnings: Warning[] = [...col.warnings];
    const slots = new FieldSlots();
    const compiler = new ConditionCompiler(slots, { legacyListOperators: opts.legacyListOperators });
    const lists = resolveLists(col);

    // Macros: parse each, then resolve against the macros defined before it.
    const macroInfos = [...col.macros.values()].sort((a, b) => a.index - b.index);
    const macroAst = new Map<string, Expr>();
    const macroText = new Map<string, SourceText>();
    for (const m of macroInfos) {
      const text = substituteLists(m.cond, lists);
      macroText.set(m.name, text);
      macroAst.set(m.name, parseCondition(text));
    }
    const usedMacros = new Set<string>();
    for (const m of macroInfos) {
      const visible = new Map<string, Expr>();
      for (const o of macroInfos) if (o.index < m.visibility) visible.set(o.name, macroAst.get(o.name)!);
      const text = macroText.get(m.name)!;
      try {
        macroAst.set(m.name, resolveMacros(macroAst.get(m.name)!, visible, usedMacros));
      } catch (e) {
        if (e instanceof MacroError) throw new PeregrineError(ErrorCode.VALIDATE, e.message, posLoc(e.pos, text));
        throw e;
      }
    }

    const compiled: CompiledRule[] = [];
    const ruleInfos = [...col.rules.values()].sort((a, b) => a.index - b.index);
    const enabledByName = new Map<string, boolean>();
    for (const r of ruleInfos) {
      if (r.unknownSource) continue;
      const rule = Ruleset.compileRule(r, compiler, lists, macroAst, usedMacros, warnings);
      if (rule) {
        compiled.push(rule);
        enabledByName.set(r.name, r.enabled);
      }
    }
    const legacyUses = new Set(compiler.legacy);
    for (const w of compiler.warnings) {
      warnings.push({ code: legacyUses.has(w) ? LEGACY_LIST_OPERATOR : 'LOAD_COMPILE_CONDITION', message: w.message, loc: w.loc });
    }

    for (const m of macroInfos) {
      if (!usedMacros.has(m.name)) warnings.push({ code: 'LOAD_UNUSED_MACRO', message: `Macro '${m.name}' not referred to by any other rule/macro`, loc: locOf(m.node) });
    }
    for (const l of lists) {
      if (!l.used) warnings.push({ code: 'LOAD_UNUSED_LIST', message: `List '${l.name}' not referred to by any other rule/macro`, loc: locOf(l.info.node) });
    }
    const active = opts.only !== undefined
      ? compiled.filter((r) => r.name === opts.only)
      : compiled.filter((r) => enabledByName.get(r.name) && r.priority <= opts.minPriority);
    const legacy = compiler.legacy.map((w) => ({ code: LEGACY_LIST_OPERATOR, message: w.message, loc: w.loc }));
    return new Ruleset(active, compiled, slots, warnings, opts, [...col.files], legacy, compiler);
  }

  private static compileRule(
    r: RuleInfo, compiler: ConditionCompiler, lists: ReturnType<typeof resolveLists>,
    macroAst: Map<string, Expr>, usedMacros: Set<string>, warnings: Warning[],
  ): CompiledRule | undefined {
    let cond = r.cond;
    if (r.exceptions.length > 0) {
      try {
        cond = buildExceptionCondition(cond, r.exceptions, isOperatorWithModifier);
      } catch (e) {
        if (e instanceof ExceptionError) throw new PeregrineError(ErrorCode.VALIDATE, e.message, locOf(e.ex.node));
        throw e;
      }
    }
    let output: OutputFormat;
    try {
      output = new OutputFormat(r.output, compiler);
    } catch (e) {
      if (e instanceof OutputFormatError || e instanceof CompileError) {
        if (r.skipIfUnknownFilter && isUnknownFieldError(e.message)) {
          warnings.push({ code: 'LOAD_UNKNOWN_FILTER', message: `rule '${r.name}' skipped: ${e.message}`, loc: outputLoc(r, e) });
          return undefined;
        }
        throw new PeregrineError(ErrorCode.COMPILE_OUTPUT, `${e.message} (in output of rule '${r.name}')`, outputLoc(r, e));
      }
      throw e;
    }
    const text = substituteLists(cond, lists);
    let ast = parseCondition(text);
    try {
      ast = resolveMacros(ast, macroAst, usedMacros);
    } catch (e) {
      if (e instanceof MacroError) throw new PeregrineError(ErrorCode.VALIDATE, `${e.message} (rule '${r.name}')`, posLoc(e.pos, text));
      throw e;
    }
    let predicate: Predicate;
    const firstWarning = compiler.warnings.length;
    try {
      predicate = compiler.compileGenerated(ast);
      for (let i = firstWarning; i < compiler.warnings.length; i++) {
        const w = compiler.warnings[i];
        w.loc = posLoc(w.pos, text);
      }
    } catch (e) {
      if (e instanceof CompileError) {
        if (r.skipIfUnknownFilter && isUnknownFieldError(e.message)) {
          warnings.push({ code: 'LOAD_UNKNOWN_FILTER', message: `rule '${r.name}' skipped: ${e.message}`, loc: posLoc(e.pos, text) });
          return undefined;
        }
        throw new PeregrineError(ErrorCode.COMPILE_CONDITION, `${e.message} (rule '${r.name}')`, posLoc(e.pos, text));
      }
      throw e;
    }
    return {
      name: r.name,
      index: r.index,
      priority: r.priority,
      priorityName: priorityName(r.priority),
      source: r.source,
      // std::set<std::string> order: UTF-8 bytes, not UTF-16 code units.
      tags: [...r.tags].sort(strcmp),
      description: r.desc,
      predicate,
      output,
      ast,
      pos: -1,
    };
  }

  /**
   * Fills `out` with the rules the event matches; returns how many. Rules before
   * position `from` are known not to match (the prefilter found them false).
   */
  match(ev: EventView, out: CompiledRule[], from = 0): number {
    const rules = candidates(this.index, ev);
    let n = 0;
    if (this.options.ruleMatching === 'first') {
      for (let i = 0; i < rules.length; i++) {
        if (rules[i].pos >= from && rules[i].predicate(ev)) {
          out[0] = rules[i];
          return 1;
        }
      }
      return 0;
    }
    for (let i = 0; i < rules.length; i++) if (rules[i].pos >= from && rules[i].predicate(ev)) out[n++] = rules[i];
    return n;
  }
}
