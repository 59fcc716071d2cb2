// Text assembled from pieces of rules files (appended conditions, substituted lists,
// exception clauses) that can still say where each of its characters came from.
import { type Loc, type YNode, scalarCharLoc, locOf } from './yaml-source.js';

export class SourceText {
  constructor(readonly text: string, private readonly origin: (i: number) => Loc) {}

  static of(node: YNode): SourceText {
    return new SourceText(node.value ?? '', (i) => scalarCharLoc(node, i));
  }

  /** Text with no source of its own: every character points at `loc`. */
  static synthetic(text: string, loc: Loc): SourceText {
    return new SourceText(text, () => loc);
  }

  static at(text: string, node: YNode): SourceText {
    const loc = locOf(node);
    return new SourceText(text, () => loc);
  }

  loc(i: number): Loc {
    return this.origin(Math.max(0, Math.min(i, Math.max(0, this.text.length - 1))));
  }

  concat(...parts: SourceText[]): SourceText {
    const all: SourceText[] = [this, ...parts];
    const starts: number[] = [];
    let text = '';
    for (const p of all) {
      starts.push(text.length);
      text += p.text;
    }
    return new SourceText(text, (i) => {
      let k = all.length - 1;
      while (k > 0 && starts[k] > i) k--;
      return all[k].loc(i - starts[k]);
    });
  }

  slice(start: number, end = this.text.length): SourceText {
    return new SourceText(this.text.slice(start, end), (i) => this.loc(start + i));
  }

  /** Without leading and trailing C-locale blanks (isspace: space, \t \n \v \f \r), as libsinsp's trim. */
  trimBlanks(): SourceText {
    const t = this.text;
    let a = 0;
    let b = t.length;
    while (a < b && isCSpace(t.charCodeAt(a))) a++;
    while (b > a && isCSpace(t.charCodeAt(b - 1))) b--;
    return a === 0 && b === t.length ? this : this.slice(a, b);
  }

  /** Replaces [start, end) with `sub`; characters of `sub` point at `start`. */
  splice(start: number, end: number, sub: string): SourceText {
    const text = this.text.slice(0, start) + sub + this.text.slice(end);
    const delta = sub.length - (end - start);
    const self = this;
    return new SourceText(text, (i) => {
      if (i < start) return self.loc(i);
      if (i < start + sub.length) return self.loc(start);
      return self.loc(i - delta);
    });
  }
}

function isCSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}
