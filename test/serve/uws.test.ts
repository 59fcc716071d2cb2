// The HTTP front end runs on uWebSockets.js's native binary, never on the package's
// silent pure-JS fallback.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadUws } from '../../src/ingest/uws.js';

describe('uWebSockets.js loader', () => {
  it('loads the native binary for this platform (and not the JS fallback)', () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('uWebSockets.js/package.json'));
    const native = require(join(dir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`));
    const uws = loadUws();
    expect(uws).toBe(native);
    expect(Object.keys(uws)).toContain('us_socket_local_port');
    // The fallback is a TypeScript-compiled JS module with a different export set.
    const fallback = require(join(dir, 'dist/index.js'));
    expect(uws).not.toBe(fallback);
  });
});
