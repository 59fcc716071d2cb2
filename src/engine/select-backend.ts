// Chooses the JSON backend: the native simdjson extractor when it is built and not
// disabled with PEREGRINE_NATIVE=0, else the pure-TypeScript parser.
import { jsBackend, type JsonBackend } from './backend.js';
import { nativeBackend } from './native-backend.js';
import { loadNative, nativeLoadError } from '../native/loader.js';
import { ErrorCode, PeregrineError } from '../errors.js';

export interface BackendChoice {
  backend: JsonBackend;
  /** Why the fallback runs, when it does. */
  reason?: string;
}

export function chooseBackend(env: NodeJS.ProcessEnv = process.env): BackendChoice {
  if (env.PEREGRINE_NATIVE === '0') return { backend: jsBackend, reason: 'PEREGRINE_NATIVE=0' };
  const addon = loadNative();
  if (addon === undefined) {
    if (env.PEREGRINE_NATIVE === '1') throw new PeregrineError(ErrorCode.NATIVE_UNAVAILABLE, `PEREGRINE_NATIVE=1 but ${nativeLoadError()}`);
    return { backend: jsBackend, reason: nativeLoadError() };
  }
  return { backend: nativeBackend(addon) };
}

/** One line for startup logs: which extractor runs, and why the fallback if it does. */
export function describeBackend(choice: BackendChoice): string {
  return choice.reason === undefined ? choice.backend.name : `${choice.backend.name} (${choice.reason})`;
}
