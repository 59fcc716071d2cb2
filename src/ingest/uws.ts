// Loads uWebSockets.js's native binary, and only that. The package we install
// (@trufflesuite/uws-js-unofficial under the name uWebSockets.js) quietly falls back
// to a slow pure-JS server when its binary does not load; Peregrine refuses to run
// that way and says why.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Uws from 'uWebSockets.js';
import { ErrorCode, PeregrineError } from '../errors.js';

const require = createRequire(import.meta.url);

export type UwsModule = typeof Uws;

let loaded: UwsModule | undefined;

export function loadUws(): UwsModule {
  if (loaded) return loaded;
  let dir: string;
  try {
    dir = dirname(require.resolve('uWebSockets.js/package.json'));
  } catch (e) {
    throw new PeregrineError(ErrorCode.NATIVE_UNAVAILABLE, `uWebSockets.js is not installed (run npm ci): ${(e as Error).message}`);
  }
  const file = join(dir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  try {
    loaded = require(file) as UwsModule;
  } catch (e) {
    throw new PeregrineError(ErrorCode.NATIVE_UNAVAILABLE,
      `the uWebSockets.js native binary for this platform (${process.platform}-${process.arch}, Node ABI ${process.versions.modules}) `
      + `does not load: ${(e as Error).message.split('\n')[0]}. Refusing the slow pure-JS fallback; use Node 20 on x64/arm64 Linux.`);
  }
  if (typeof loaded.App !== 'function' || typeof loaded.us_socket_local_port !== 'function') {
    throw new PeregrineError(ErrorCode.NATIVE_UNAVAILABLE, `${file} is not the uWebSockets.js native module`);
  }
  return loaded;
}

/**
 * Answers a request that is not an accepted webhook POST (refusals, unknown paths,
 * health and metrics) on the next turn of the event loop, and closes its connection.
 * While the answer is pending, uWS closes a connection on which another request
 * arrives, so a client pipelining requests as fast as it can costs one handler call
 * per connection, not one per request; and no such connection serves a second one.
 */
export function answerLater(res: Uws.HttpResponse, write: (res: Uws.HttpResponse) => void): void {
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  setImmediate(() => {
    if (aborted) return;
    res.cork(() => write(res));
  });
}
