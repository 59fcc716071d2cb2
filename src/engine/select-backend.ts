// Chooses the JSON backend: the native simdjson extractor when it is built and not
// disabled with PEREGRINE_NATIVE=0, else the pure-TypeScript parser.
import { jsBackend, type JsonBackend } from './backend.js';
import { nativeBackend } from './native-backend.js';
import { chooseNative } from '../native/loader.js';
import { useWhitespaceScan } from '../events/nodes.js';

export interface BackendChoice {
  backend: JsonBackend;
  /** Why the fallback runs, when it does. */
  reason?: string;
}

export function chooseBackend(env: NodeJS.ProcessEnv = process.env): BackendChoice {
  const { addon, reason } = chooseNative(env);
  useWhitespaceScan(addon === undefined ? undefined : (buf, start, end) => addon.whitespaceScan(buf, start, end));
  return addon === undefined ? { backend: jsBackend, reason } : { backend: nativeBackend(addon) };
}

/** One line for startup logs: which extractor runs, and why the fallback if it does. */
export function describeBackend(choice: BackendChoice): string {
  return choice.reason === undefined ? choice.backend.name : `${choice.backend.name} (${choice.reason})`;
}
