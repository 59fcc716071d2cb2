// A start that fails half way exits with its error, instead of hanging on what it had
// already started (a webhook socket, a follower, worker threads).
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../conformance-lib.js';
import { tempDir } from './harness.js';

function serve(args: string[]) {
  return spawnSync(process.execPath, [CLI, 'serve', ...args], { encoding: 'utf8', timeout: 20_000 });
}

describe('serve: a start that fails', () => {
  it('on a metrics port that is taken exits 2 before reading anything (it hung, the webhook listening)', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const dir = tempDir();
      writeFileSync(join(dir, 'audit.log'), '');
      const port = (busy.address() as AddressInfo).port;
      const r = serve(['--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${port}`, '--follow', join(dir, 'audit.log'), '--cluster', 'c', '--state-dir', join(dir, 'state')]);
      expect(r.signal).toBeNull();
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`ERR_LISTEN: cannot listen on 127.0.0.1:${port} (metrics)`);
    } finally {
      busy.close();
    }
  });

  it('on a state_dir that cannot be made exits 2 naming it (mkdir -p under /proc looped forever)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'audit.log'), '');
    for (const [stateDir, why] of [['/proc/peregrine-state', 'ENOENT'], [join(dir, 'audit.log', 'sub'), 'ENOTDIR']]) {
      const r = serve(['--listen', 'none', '--metrics-listen', '127.0.0.1:0', '--follow', join(dir, 'audit.log'), '--cluster', 'c', '--state-dir', stateDir]);
      expect(r.signal, stateDir).toBeNull();
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`ERR_CONFIG: sources: state_dir ${stateDir}: cannot create it: ${why}`);
    }
  });
});
