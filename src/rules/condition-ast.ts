// Condition AST, shaped like libsinsp's filter AST.
import type { Loc } from './yaml-source.js';

export interface Pos {
  /** 0-based offset in the condition text. */
  idx: number;
  line: number;
  col: number;
  /**
   * The text it was parsed from (set after parsing; survives macro substitution), so
   * its place in the rules files is worked out only for a message that needs it.
   */
  src?: { loc(i: number): Loc };
}

export type Expr =
  | { type: 'and'; children: Expr[]; pos: Pos }
  | { type: 'or'; children: Expr[]; pos: Pos }
  | { type: 'not'; child: Expr; pos: Pos }
  | { type: 'identifier'; name: string; pos: Pos }
  | { type: 'unary'; left: ValueSource; op: string; pos: Pos }
  | { type: 'binary'; left: ValueSource; op: string; right: Operand; pos: Pos };

export type FieldExpr = { type: 'field'; name: string; arg: string | undefined; pos: Pos };
export type TransformerExpr = { type: 'transformer'; name: string; args: TransformerArg[]; arg: string | undefined; pos: Pos };
export type ValueExpr = { type: 'value'; value: string; pos: Pos };
export type ListExpr = { type: 'list'; values: string[]; pos: Pos };
export type TransformerListExpr = { type: 'tlist'; children: TransformerArg[]; pos: Pos };

/**
 * The constants a comparison holds, as libsinsp reads them: C strings (value_parser.cpp,
 * strlen), so a NUL ends each. The compiled comparison and the rule index both use this.
 */
export function comparedConstants(right: ValueExpr | ListExpr): string[] {
  const raw = right.type === 'list' ? right.values : [right.value];
  return raw.map((v) => {
    const nul = v.indexOf('\0');
    return nul < 0 ? v : v.slice(0, nul);
  });
}

/** Something that yields field values: a field or a transformer over fields. */
export type ValueSource = FieldExpr | TransformerExpr;
export type TransformerArg = FieldExpr | TransformerExpr | ValueExpr | TransformerListExpr;
export type Operand = ValueExpr | ListExpr | ValueSource;

/**
 * A copy of the boolean structure (and/or/not/identifiers), which macro resolution
 * rewrites in place; comparisons and positions are never changed after parsing, so
 * they are shared.
 */
export function cloneExpr(e: Expr): Expr {
  switch (e.type) {
    case 'and':
    case 'or':
      return { type: e.type, children: e.children.map(cloneExpr), pos: e.pos };
    case 'not':
      return { type: 'not', child: cloneExpr(e.child), pos: e.pos };
    case 'identifier':
      return { type: 'identifier', name: e.name, pos: e.pos };
    default:
      return e;
  }
}

/** Textual form of a field or transformer, as libsinsp's ast::as_string prints it. */
export function sourceToString(e: TransformerArg): string {
  switch (e.type) {
    case 'field':
      return e.arg === undefined ? e.name : `${e.name}[${e.arg}]`;
    case 'transformer':
      return `${e.name}(${e.args.map(sourceToString).join(', ')})${e.arg === undefined ? '' : `[${e.arg}]`}`;
    case 'value':
      return JSON.stringify(e.value);
    case 'tlist':
      return `(${e.children.map(sourceToString).join(', ')})`;
  }
}

/** Calls `fn` on every position in the tree. */
export function forEachPos(e: Expr | TransformerArg | Operand, fn: (p: Pos) => void): void {
  fn(e.pos);
  switch (e.type) {
    case 'and':
    case 'or':
      for (const c of e.children) forEachPos(c, fn);
      return;
    case 'not':
      forEachPos(e.child, fn);
      return;
    case 'unary':
      forEachPos(e.left, fn);
      return;
    case 'binary':
      forEachPos(e.left, fn);
      forEachPos(e.right, fn);
      return;
    case 'transformer':
      for (const a of e.args) forEachPos(a, fn);
      return;
    case 'tlist':
      for (const c of e.children) forEachPos(c, fn);
      return;
    default:
  }
}
