// Stage 2 of the rules pipeline: lists are text substitutions, exceptions are
// condition text, macros are AST substitutions (falco rule_loader_compiler.cpp,
// filter_macro_resolver.cpp).
import type { ExceptionInfo, ListInfo, MacroInfo, RuleCollector } from './collect.js';
import { SourceText } from './source-text.js';
import { locOf } from './yaml-source.js';
import { cloneExpr, type Expr, type Pos } from './condition-ast.js';

export interface ResolvedList {
  name: string;
  items: string[];
  used: boolean;
  info: ListInfo;
}

/** quote_item: an item with a blank gets double quotes unless already quoted. */
function quoteItem(e: string): string {
  return e.includes(' ') && e[0] !== '"' && e[0] !== "'" ? `"${e}"` : e;
}

function parenItem(e: string): string {
  return e[0] !== '(' ? `(${e})` : e;
}

/** compile_list_infos: one level of list-in-list expansion, by definition order. */
export function resolveLists(col: RuleCollector): ResolvedList[] {
  const infos = [...col.lists.values()].sort((a, b) => a.index - b.index);
  const out: ResolvedList[] = [];
  const usedNames = new Set<string>();
  for (const l of infos) {
    const items: string[] = [];
    for (const item of l.items) {
      const ref = col.lists.get(item);
      if (ref && ref.index < l.visibility) {
        usedNames.add(ref.name);
        items.push(...ref.items);
      } else {
        items.push(item);
      }
    }
    out.push({ name: l.name, items, used: false, info: l });
  }
  for (const l of out) if (usedNames.has(l.name)) l.used = true;
  return out;
}

const BLANKS = ' \t\n\r';
const DELIMS = BLANKS + '(),=';

/** resolve_list: substitutes every delimited occurrence of the list's name. */
export function substituteList(cnd: SourceText, list: ResolvedList): { text: SourceText; used: boolean } {
  const name = list.name;
  let used = false;
  let text = cnd;
  let s = text.text;
  let start = s.indexOf(name);
  while (start !== -1) {
    let end = start + name.length;
    if ((start === 0 || DELIMS.includes(s[start - 1])) && (end >= s.length || DELIMS.includes(s[end]))) {
      while (start > 0 && BLANKS.includes(s[start - 1])) start--;
      while (end < s.length && BLANKS.includes(s[end])) end++;
      const sub = list.items.map(quoteItem).join(', ');
      if (sub === '') {
        if (start > 0 && s[start - 1] === ',') start--;
        else if (end < s.length && s[end] === ',') end++;
      }
      const replacement = (start > 0 ? ' ' : '') + sub + ' ';
      text = text.splice(start, end, replacement);
      s = text.text;
      // As Falco does: the search resumes two characters past the items.
      start += sub.length + 1;
      used = true;
    }
    start = s.indexOf(name, start + 1);
  }
  return { text, used };
}

export function substituteLists(cnd: SourceText, lists: ResolvedList[]): SourceText {
  let text = cnd;
  for (const l of lists) {
    const r = substituteList(text, l);
    if (r.used) {
      l.used = true;
      text = r.text;
    }
  }
  return text;
}

export class ExceptionError extends Error {
  constructor(message: string, readonly ex: ExceptionInfo) {
    super(message);
  }
}

const LIST_OPS = new Set(['in', 'intersects', 'pmatch']);

function isOperatorForList(op: string, isModifierOp: (op: string) => boolean): boolean {
  return LIST_OPS.has(op) || isModifierOp(op);
}

/** build_rule_exception_infos: `(cond) and not (ex1) and not (ex2) ...` */
export function buildExceptionCondition(cond: SourceText, exceptions: ExceptionInfo[], isModifierOp: (op: string) => boolean): SourceText {
  const at = (s: string, ex: ExceptionInfo): SourceText => SourceText.synthetic(s, locOf(ex.node));
  let out = SourceText.synthetic('(', cond.loc(0)).concat(cond, SourceText.synthetic(')', cond.loc(cond.text.length)));
  for (const ex of exceptions) {
    let icond = '';
    const fields = ex.fields!;
    const comps = ex.comps!;
    if (!fields.isList) {
      for (const val of ex.values) {
        if (val.isList) throw new ExceptionError('Expected values array to contain a list of strings', ex);
        icond += icond === '' ? `(${fields.item} ${comps.item} (` : ', ';
        icond += quoteItem(val.item);
      }
      icond += icond === '' ? '' : '))';
    } else {
      icond = '(';
      for (const values of ex.values) {
        if (fields.items.length !== values.items.length) throw new ExceptionError('Fields and values lists must have equal length', ex);
        icond += icond === '(' ? '' : ' or ';
        icond += '(';
        fields.items.forEach((field, k) => {
          icond += k === 0 ? '' : ' and ';
          const v = values.items[k];
          let istr: string;
          if (v.isList) {
            istr = '(' + v.items.map((x) => quoteItem(x.item)).join(', ') + ')';
          } else {
            istr = isOperatorForList(comps.items[k].item, isModifierOp) ? parenItem(v.item) : quoteItem(v.item);
          }
          icond += ` ${field.item} ${comps.items[k].item} ${istr}`;
        });
        icond += ')';
      }
      icond += ')';
      if (icond === '()') icond = '';
    }
    if (icond !== '') out = out.concat(at(' and not ' + icond, ex));
  }
  return out;
}

export class MacroError extends Error {
  constructor(message: string, readonly pos: Pos) {
    super(message);
  }
}

/**
 * filter_macro_resolver: replaces identifiers with clones of the visible macros'
 * (already resolved) trees, recursively; an unknown identifier or a loop is an error.
 */
export function resolveMacros(ast: Expr, visible: Map<string, Expr>, resolved: Set<string>): Expr {
  const path: string[] = [];
  const errors: Array<{ msg: string; pos: Pos }> = [];
  const unknown: Array<{ name: string; pos: Pos }> = [];
  const visit = (e: Expr): Expr | undefined => {
    switch (e.type) {
      case 'and':
      case 'or':
        for (let i = 0; i < e.children.length; i++) {
          const s = visit(e.children[i]);
          if (s) e.children[i] = s;
        }
        return undefined;
      case 'not': {
        const s = visit(e.child);
        if (s) e.child = s;
        return undefined;
      }
      case 'identifier': {
        const macro = visible.get(e.name);
        if (macro === undefined) {
          unknown.push({ name: e.name, pos: e.pos });
          return undefined;
        }
        if (path.includes(e.name)) {
          errors.push({ msg: `reference loop in macro '${e.name}'`, pos: e.pos });
          unknown.push({ name: e.name, pos: e.pos });
          return undefined;
        }
        path.push(e.name);
        const node = cloneExpr(macro);
        const s = visit(node);
        resolved.add(e.name);
        path.pop();
        return s ?? node;
      }
      default:
        return undefined;
    }
  };
  const s = visit(ast);
  const res = s ?? ast;
  if (errors.length > 0) throw new MacroError(errors[0].msg, errors[0].pos);
  if (unknown.length > 0) throw new MacroError(`Undefined macro '${unknown[0].name}' used in filter.`, unknown[0].pos);
  return res;
}

export type { MacroInfo };
