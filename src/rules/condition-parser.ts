// The Falco condition language parser. Grammar, precedence, lexing rules and error
// texts follow libsinsp's filter/parser.cpp (libs 0.25.4) so that a condition Falco
// accepts parses to the same tree here, and one it rejects fails here too.
import type {
  Expr, Pos, ValueSource, TransformerArg, Operand, ValueExpr, ListExpr, TransformerListExpr,
} from './condition-ast.js';

export class ConditionSyntaxError extends Error {
  constructor(message: string, readonly pos: Pos) {
    super(message);
  }
}

const RGX_NOT_BLANK = /^not[ \t\n\v\f\r]+/;
const RGX_IDENTIFIER = /^[a-zA-Z]+[a-zA-Z0-9_]*/;
const RGX_FIELDNAME = /^[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+/;
const RGX_FIELD_ARG_BARESTR = /^[^\][\"' \t\n\v\f\r]+/;
const RGX_HEXNUM = /^0[xX][0-9a-fA-F]+/;
const RGX_NUMBER = /^[+\-]?[0-9]+[.]?[0-9]*([eE][+\-][0-9]+)?/;
const RGX_BARESTR = /^[^()"' \t\n\v\f\r=,]+/;

const UNARY_OPS = ['exists'];
const NUM_OPS = ['<=', '<', '>=', '>'];
const STR_OPS = ['==', '=', '!=', 'glob ', 'iglob ', 'contains ', 'icontains ', 'bcontains ', 'startswith ', 'bstartswith ', 'endswith ', 'regex '];
const STR_MODIFIERS = ['oneof ', 'anyof ', 'allof '];
const LIST_OPS = ['intersects', 'in', 'pmatch'];
const TRANSFORMER_VAL = 'val(';
const TRANSFORMERS = ['tolower(', 'toupper(', 'b64(', 'basename(', 'len(', 'join(', 'concat(', 'getopt('];

export function supportedOperators(listOnly = false): string[] {
  if (listOnly) return [...LIST_OPS];
  return [...UNARY_OPS, ...NUM_OPS, ...STR_OPS, ...LIST_OPS].map((s) => s.trim());
}

export function supportedTransformers(includeVal: boolean): string[] {
  return [...(includeVal ? [TRANSFORMER_VAL] : []), ...TRANSFORMERS].map((s) => s.slice(0, -1));
}

function tokenList(v: string[]): string {
  return v.map((s) => `'${s}'`).join(', ');
}

/** libsinsp unescape_str: the token includes its quotes. */
export function unescapeQuoted(str: string): string {
  let res = '';
  const len = str.length - 1;
  let escaped = false;
  for (let i = 1; i < len; i++) {
    const c = str[i];
    if (!escaped) {
      if (c === '\\') escaped = true;
      else res += c;
      continue;
    }
    switch (c) {
      case 'b': res += '\b'; break;
      case 'f': res += '\f'; break;
      case 'n': res += '\n'; break;
      case 'r': res += '\r'; break;
      case 't': res += '\t'; break;
      // libsinsp accepts `\ ` and turns it into a backslash (kept for old rules).
      case ' ':
      case '\\': res += '\\'; break;
      case '/': res += '/'; break;
      case '"':
        if (str[0] !== c) throw new Error('invalid \\" escape in \'-quoted string');
        res += '"';
        break;
      case "'":
        if (str[0] !== c) throw new Error('invalid \\\' escape in "-quoted string');
        res += "'";
        break;
      default:
        throw new Error(`unsupported string escape sequence: \\${c}`);
    }
    escaped = false;
  }
  return res;
}

export class ConditionParser {
  private input: string;
  private pos: Pos = { idx: 0, line: 1, col: 1 };
  private lastToken = '';
  private depth = 0;
  maxDepth: number;

  constructor(input: string, maxDepth = 100) {
    this.input = input;
    this.maxDepth = maxDepth;
  }

  getPos(): Pos {
    return { ...this.pos };
  }

  /** Parses the whole input as a condition. */
  parse(): Expr {
    if (this.input.length === 0) throw this.error('filter input string is empty');
    this.pos = { idx: 0, line: 1, col: 1 };
    this.lastToken = '';
    this.depth = 0;
    const res = this.parseOr();
    if (this.pos.idx !== this.input.length) {
      throw this.error(`unexpected token after '${this.lastToken}', expecting 'or', 'and'`);
    }
    return res;
  }

  /** Parses a field or transformer at the start of the input, leaving the rest (outputs). */
  parseFieldOrTransformer(): ValueSource {
    return this.guard(() => {
      const pos = this.getPos();
      if (this.lexFieldName()) return this.parseFieldRemainder(this.lastToken, pos);
      if (this.lexTransformerType()) {
        this.lexBlank();
        return this.parseTransformerRemainder(this.lastToken.slice(0, -1), pos);
      }
      throw this.error(`unexpected token after '${this.lastToken}'`);
    });
  }

  private error(msg: string): ConditionSyntaxError {
    return new ConditionSyntaxError(msg, this.getPos());
  }

  private guard<T>(fn: () => T): T {
    this.depth++;
    try {
      if (this.depth >= this.maxDepth) throw this.error(`exceeded max depth limit of ${this.maxDepth}`);
      return fn();
    } finally {
      this.depth--;
    }
  }

  private rest(): string {
    return this.input.slice(this.pos.idx);
  }

  private advance(s: string): void {
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      this.pos.col++;
      if (c === '\r' || c === '\n') {
        this.pos.col = 1;
        this.pos.line++;
      }
      this.pos.idx++;
    }
  }

  private parseOr(): Expr {
    return this.guard(() => {
      const pos = this.getPos();
      const children: Expr[] = [];
      this.lexBlank();
      children.push(this.parseAnd());
      this.lexBlank();
      while (this.lexStr('or')) {
        let child: Expr;
        if (!this.lexBlank()) {
          if (this.lexStr('(')) child = this.parseEmbeddedRemainder();
          else throw this.error("expected blank or '(' after 'or'");
        } else {
          child = this.parseAnd();
        }
        children.push(child);
        this.lexBlank();
      }
      return children.length > 1 ? { type: 'or', children, pos } : children[0];
    });
  }

  private parseAnd(): Expr {
    return this.guard(() => {
      const pos = this.getPos();
      const children: Expr[] = [];
      this.lexBlank();
      children.push(this.parseNot());
      this.lexBlank();
      while (this.lexStr('and')) {
        let child: Expr;
        if (!this.lexBlank()) {
          if (this.lexStr('(')) child = this.parseEmbeddedRemainder();
          else throw this.error("expected blank or '(' after 'and'");
        } else {
          child = this.parseNot();
        }
        children.push(child);
        this.lexBlank();
      }
      return children.length > 1 ? { type: 'and', children, pos } : children[0];
    });
  }

  private parseNot(): Expr {
    return this.guard(() => {
      const pos = this.getPos();
      let isNot = false;
      this.lexBlank();
      while (this.lexRegex(RGX_NOT_BLANK)) isNot = !isNot;
      let child: Expr;
      if (this.lexStr('not(')) {
        isNot = !isNot;
        child = this.parseEmbeddedRemainder();
      } else {
        child = this.parseCheck();
      }
      return isNot ? { type: 'not', child, pos } : child;
    });
  }

  private parseEmbeddedRemainder(): Expr {
    return this.guard(() => {
      this.lexBlank();
      const child = this.parseOr();
      this.lexBlank();
      if (!this.lexStr(')')) throw this.error("expected a ')' token");
      return child;
    });
  }

  private parseCheck(): Expr {
    return this.guard(() => {
      const pos = this.getPos();
      this.lexBlank();
      if (this.lexStr('(')) return this.parseEmbeddedRemainder();
      if (this.lexFieldName()) {
        const left = this.parseFieldRemainder(this.lastToken, pos);
        return this.parseCondition(left, pos);
      }
      if (this.lexTransformerType()) {
        this.lexBlank();
        const left = this.parseTransformerRemainder(this.lastToken.slice(0, -1), pos);
        return this.parseCondition(left, pos);
      }
      if (this.lexRegex(RGX_IDENTIFIER)) return { type: 'identifier', name: this.lastToken, pos };
      throw this.error("expected a '(' token, a field check, or an identifier");
    });
  }

  private parseFieldRemainder(name: string, pos: Pos): ValueSource {
    return this.guard(() => ({ type: 'field', name, arg: this.parseOptionalFieldArg(), pos }));
  }

  private parseOptionalFieldArg(): string | undefined {
    if (!this.lexStr('[')) return undefined;
    if (!this.lexQuotedStr() && !this.lexRegex(RGX_FIELD_ARG_BARESTR)) {
      throw this.error('expected a valid field argument: a quoted string or a bare string');
    }
    const arg = this.lastToken;
    if (!this.lexStr(']')) throw this.error("expected a ']' token");
    return arg;
  }

  private parseTransformerRemainder(name: string, pos: Pos): ValueSource {
    return this.guard(() => {
      this.lexBlank();
      const args: TransformerArg[] = [];
      do {
        args.push(this.parseTransformerArg(this.getPos()));
        this.lexBlank();
      } while (this.lexStr(','));
      this.lexBlank();
      if (!this.lexStr(')')) throw this.error("expected a ')' token closing the transformer");
      return { type: 'transformer', name, args, arg: this.parseOptionalFieldArg(), pos };
    });
  }

  private parseTransformerArg(pos: Pos): TransformerArg {
    return this.guard(() => {
      this.lexBlank();
      if (this.lexRegex(RGX_HEXNUM) || this.lexRegex(RGX_NUMBER)) return { type: 'value', value: this.lastToken, pos };
      if (this.lexQuotedStr()) return { type: 'value', value: this.lastToken, pos };
      if (this.lexStr('(')) return this.parseTransformerList(pos);
      if (this.lexTransformerType()) return this.parseTransformerRemainder(this.lastToken.slice(0, -1), pos);
      if (this.lexFieldName()) return this.parseFieldRemainder(this.lastToken, pos);
      throw this.error('expected field transformer argument: field, transformer, quoted string, number, or transformer list');
    });
  }

  private parseTransformerList(pos: Pos): TransformerListExpr {
    const children: TransformerArg[] = [];
    this.lexBlank();
    if (this.lexStr(')')) return { type: 'tlist', children, pos };
    children.push(this.parseTransformerListArg(pos));
    this.lexBlank();
    while (this.lexStr(',')) {
      this.lexBlank();
      children.push(this.parseTransformerListArg(pos));
      this.lexBlank();
    }
    if (!this.lexStr(')')) throw this.error("expected ')'");
    return { type: 'tlist', children, pos };
  }

  private parseTransformerListArg(pos: Pos): TransformerArg {
    if (this.lexFieldName()) return this.parseFieldRemainder(this.lastToken, pos);
    if (this.lexTransformerType()) {
      this.lexBlank();
      return this.parseTransformerRemainder(this.lastToken.slice(0, -1), pos);
    }
    if (this.lexQuotedStr()) return { type: 'value', value: this.lastToken, pos };
    if (this.lexRegex(RGX_HEXNUM) || this.lexRegex(RGX_NUMBER)) return { type: 'value', value: this.lastToken, pos };
    throw this.error('expected transformer list argument: field, transformer, quoted string, or number');
  }

  private parseCondition(left: ValueSource, pos: Pos): Expr {
    return this.guard(() => {
      this.lexBlank();
      if (this.lexOperator(UNARY_OPS)) return { type: 'unary', left, op: this.lastToken.trim(), pos };
      let op: string;
      let right: Operand;
      this.lexBlank();
      if (this.lexOperator(NUM_OPS)) {
        op = this.lastToken;
        right = this.parseNumValueOrTransformer();
      } else if (this.lexOperator(STR_OPS)) {
        op = this.lastToken;
        const hadBlank = /^[a-zA-Z]/.test(op) || this.lexBlank();
        const savedPos = this.getPos();
        const savedToken = this.lastToken;
        if (hadBlank && this.lexOperator(STR_MODIFIERS) && this.listValueFollows() && !this.boolKeywordFollows()) {
          op = op.trim() + ' ' + this.lastToken.trim();
          right = this.parseListValue();
        } else {
          this.pos = savedPos;
          this.lastToken = savedToken;
          right = this.parseStrValueOrTransformer(false);
        }
      } else if (this.lexOperator(LIST_OPS)) {
        op = this.lastToken;
        right = this.parseListValueOrTransformer();
      } else {
        throw this.error(`expected a valid check operator: one of ${tokenList(supportedOperators())}`);
      }
      return { type: 'binary', left, op: op.trim(), right, pos };
    });
  }

  private parseNumValueOrTransformer(): Operand {
    return this.guard(() => {
      this.lexBlank();
      const pos = this.getPos();
      const t = this.tryParseTransformerOrVal();
      if (t) return t;
      if (this.lexRegex(RGX_HEXNUM) || this.lexRegex(RGX_NUMBER)) return { type: 'value', value: this.lastToken, pos };
      throw this.error(`expected a number value or a field with a valid transformer: ${tokenList(supportedTransformers(true))}`);
    });
  }

  private parseStrValueOrTransformer(noTransformer: boolean): Operand {
    return this.guard(() => {
      this.lexBlank();
      const pos = this.getPos();
      if (!noTransformer) {
        const t = this.tryParseTransformerOrVal();
        if (t) return t;
      }
      if (this.lexQuotedStr() || this.lexRegex(RGX_BARESTR)) return { type: 'value', value: this.lastToken, pos } as ValueExpr;
      if (noTransformer) throw this.error('expected a string value');
      throw this.error(`expected a string value or a field with a valid transformer: ${tokenList(supportedTransformers(true))}`);
    });
  }

  private tryParseListExpr(): ListExpr | undefined {
    const pos = this.getPos();
    if (!this.lexStr('(')) return undefined;
    const values: string[] = [];
    this.lexBlank();
    let first: Operand | undefined;
    try {
      first = this.parseStrValueOrTransformer(true);
    } catch (e) {
      if (!(e instanceof ConditionSyntaxError)) throw e;
      first = undefined;
    }
    if (first !== undefined) {
      values.push((first as ValueExpr).value);
      this.lexBlank();
      while (this.lexStr(',')) {
        const v = this.parseStrValueOrTransformer(true) as ValueExpr;
        values.push(v.value);
        this.lexBlank();
      }
    }
    if (!this.lexStr(')')) throw this.error("expected a ')' token");
    return { type: 'list', values, pos };
  }

  private parseListValue(): Operand {
    return this.guard(() => {
      this.lexBlank();
      const pos = this.getPos();
      const l = this.tryParseListExpr();
      if (l) return l;
      if (this.lexRegex(RGX_IDENTIFIER)) return { type: 'value', value: this.lastToken, pos };
      throw this.error('expected a list or an identifier');
    });
  }

  private parseListValueOrTransformer(): Operand {
    return this.guard(() => {
      this.lexBlank();
      const pos = this.getPos();
      const l = this.tryParseListExpr();
      if (l) return l;
      const t = this.tryParseTransformerOrVal();
      if (t) return t;
      if (this.lexRegex(RGX_IDENTIFIER)) return { type: 'value', value: this.lastToken, pos };
      throw this.error(`expected a list, an identifier, or a field with a valid transformer: ${tokenList(supportedTransformers(true))}`);
    });
  }

  private tryParseTransformerOrVal(): ValueSource | undefined {
    return this.guard(() => {
      this.lexBlank();
      const pos = this.getPos();
      if (this.lexStr(TRANSFORMER_VAL)) {
        this.lexBlank();
        const name = this.lastToken.slice(0, -1);
        const fieldPos = this.getPos();
        if (!this.lexFieldName()) throw this.error(`expected a field within '${name}' transformer`);
        const child = this.parseFieldRemainder(this.lastToken, fieldPos);
        this.lexBlank();
        if (!this.lexStr(')')) throw this.error("expected a ')' token closing the transformer");
        return { type: 'transformer', name, args: [child], arg: this.parseOptionalFieldArg(), pos };
      }
      if (this.lexTransformerType()) {
        this.lexBlank();
        return this.parseTransformerRemainder(this.lastToken.slice(0, -1), pos);
      }
      return undefined;
    });
  }

  // --- lexing

  private lexBlank(): boolean {
    let found = false;
    for (;;) {
      const c = this.input[this.pos.idx];
      if (c === ' ' || c === '\t' || c === '\b' || c === '\r' || c === '\n') {
        found = true;
        this.advance(c);
      } else {
        return found;
      }
    }
  }

  private lexRegex(re: RegExp): boolean {
    const m = re.exec(this.rest());
    if (!m) return false;
    this.lastToken = m[0];
    this.advance(m[0]);
    return true;
  }

  private lexFieldName(): boolean {
    return this.lexRegex(RGX_FIELDNAME);
  }

  private lexStr(s: string): boolean {
    if (!this.input.startsWith(s, this.pos.idx)) return false;
    this.lastToken = s;
    this.advance(s);
    return true;
  }

  private lexTransformerType(): boolean {
    for (const t of TRANSFORMERS) if (this.lexStr(t)) return true;
    return false;
  }

  private lexOperator(list: string[]): boolean {
    for (const op of list) {
      if (!op.endsWith(' ')) {
        if (this.lexStr(op)) return true;
        continue;
      }
      const savedPos = this.getPos();
      const savedToken = this.lastToken;
      if (this.lexStr(op.trim())) {
        if (this.lexBlank()) return true;
        this.pos = savedPos;
        this.lastToken = savedToken;
      }
    }
    return false;
  }

  private lexQuotedStr(): boolean {
    const delim = this.input[this.pos.idx];
    if (delim !== "'" && delim !== '"') return false;
    const saved = this.getPos();
    let prev = '\\';
    let token = '';
    while (this.pos.idx < this.input.length) {
      const c = this.input[this.pos.idx];
      if (c === delim && prev !== '\\') {
        this.advance(c);
        token += delim;
        try {
          this.lastToken = unescapeQuoted(token);
        } catch (e) {
          throw this.error((e as Error).message);
        }
        return true;
      }
      prev = c;
      token += c;
      this.advance(c);
    }
    this.pos = saved;
    return false;
  }

  private listValueFollows(): boolean {
    if (this.input[this.pos.idx] === '(') return true;
    return RGX_IDENTIFIER.test(this.rest());
  }

  private boolKeywordFollows(): boolean {
    const s = this.rest();
    for (const kw of ['and', 'or', 'not']) {
      if (s.startsWith(kw) && (s.length === kw.length || !/[a-zA-Z0-9]/.test(s[kw.length]))) return true;
    }
    return false;
  }
}
