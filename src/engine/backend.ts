// The seam between documents and node tables. The pure-TypeScript backend parses the
// whole document; the native backend (src/native) fills the same table with simdjson.
import type { NodeTable } from '../events/nodes.js';
import { JsonSyntaxError, parseJson } from '../events/json-parse.js';

export class JsonInputError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

export interface JsonBackend {
  readonly name: string;
  /** Fills `t` from buf[start, end); returns the root node. Throws JsonInputError. */
  parse(t: NodeTable, buf: Buffer, start: number, end: number): number;
}

export const jsBackend: JsonBackend = {
  name: 'js',
  parse(t, buf, start, end) {
    try {
      return parseJson(t, buf, start, end);
    } catch (e) {
      if (e instanceof JsonSyntaxError) {
        throw new JsonInputError(`invalid JSON at byte ${e.offset - start}: ${e.message}`, e.offset);
      }
      throw e;
    }
  },
};
