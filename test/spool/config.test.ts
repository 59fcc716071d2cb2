// outputs.spool_dir and outputs.spool_max_bytes: defaults, checks that name the key, and
// what the start says with and without a spool.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { loadServeConfig } from '../../src/config/load.js';
import { CLI, startServer, tempDir } from '../serve/harness.js';

function load(text: string) {
  const dir = tempDir();
  const config = join(dir, 'c.yaml');
  writeFileSync(config, text);
  return { dir, cfg: () => loadServeConfig({ config }) };
}

describe('spool configuration', () => {
  it('defaults: no spool, 1 GiB when one is set; spool_dir relative to the file; sizes from 4 MiB up', () => {
    const d = load('workers: 1\n').cfg().outputs;
    expect([d.spoolDir, d.spoolMaxBytes]).toEqual([undefined, 1024 ** 3]);
    const l = load('outputs:\n  http: { url: "http://127.0.0.1:2801/" }\n  spool_dir: spool\n  spool_max_bytes: 4MiB\n');
    expect(l.cfg().outputs).toMatchObject({ spoolDir: join(l.dir, 'spool'), spoolMaxBytes: 4 * 1024 * 1024 });
    expect(() => load('outputs:\n  spool_max_bytes: 1MiB\n').cfg()).toThrow(/outputs\.spool_max_bytes: expected an integer from 4194304/);
    expect(() => load('outputs:\n  spool_dir: ""\n').cfg()).toThrow(/outputs\.spool_dir: expected a non-empty string/);
    expect(() => load('outputs:\n  spool: /x\n').cfg()).toThrow(/outputs\.spool: unknown key \(expected one of: .*spool_dir, spool_max_bytes\)/);
  });

  it('the start says where acknowledged alerts are kept', async () => {
    const dir = tempDir();
    const http = { url: 'http://127.0.0.1:9/', retry_initial_ms: 1000 };
    let s = await startServer({ dir, config: { outputs: { file: { path: join(dir, 'a.jsonl') }, http } } });
    expect(s.stderr()).toMatch(/outputs\.spool_dir is not set: alerts acknowledged for the http output are held in memory only until delivered/);
    await s.stop('SIGKILL');
    s = await startServer({ dir, config: { outputs: { file: { path: join(dir, 'a.jsonl') }, spool_dir: join(dir, 'spool') } } });
    expect(s.stderr()).toMatch(/outputs\.spool_dir is set but no network output is configured: .*spool is not used/);
    await s.stop('SIGKILL');
  });

  it('a spool directory that cannot be made is an error at start naming the key (exit 2)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), '');
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, yaml.dump({ listen: '127.0.0.1:0', metrics_listen: '127.0.0.1:0', outputs: { http: { url: 'http://127.0.0.1:9/' }, spool_dir: join(dir, 'file', 'spool') } }));
    const r = spawnSync(process.execPath, [CLI, 'serve', '-c', cfg], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ERR_SPOOL: outputs\.spool_dir: cannot create the directory .*file\/spool: ENOTDIR/);
  });
});
