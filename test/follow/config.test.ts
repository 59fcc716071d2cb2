// Configuration of followed files: `sources:` keys and defaults, `listen: none`, the
// --follow flags, and errors that name the key.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadServeConfig, parseServeArgs, type ServeArgs } from '../../src/config/load.js';
import { CLI, tempDir } from '../serve/harness.js';

function load(yamlText: string | undefined, args: Partial<ServeArgs> = {}) {
  const dir = tempDir();
  let config: string | undefined;
  if (yamlText !== undefined) {
    config = join(dir, 'c.yaml');
    writeFileSync(config, yamlText);
  }
  return { cfg: loadServeConfig({ ...args, config }), dir };
}

function error(yamlText: string | undefined, args: Partial<ServeArgs> = {}): string {
  try {
    load(yamlText, args);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

describe('sources configuration', () => {
  it('a file source: defaults, relative paths from the config file', () => {
    const { cfg, dir } = load('listen: none\nsources:\n  - { type: file, path: logs/audit.log, cluster: prod-eu, state_dir: state }\n');
    expect(cfg.webhook).toBe(false);
    expect(cfg.sources).toEqual([{
      type: 'file', path: join(dir, 'logs/audit.log'), cluster: 'prod-eu', stateDir: join(dir, 'state'), startAt: 'end', checkpointIntervalMs: 1000, pollIntervalMs: 100,
    }]);
    const { cfg: c2 } = load('sources:\n  - { type: file, path: /a.log, cluster: c, state_dir: /s, start_at: beginning, checkpoint_interval_seconds: 0.25, poll_interval_ms: 10 }\n');
    expect(c2.webhook).toBe(true);
    expect(c2.sources[0]).toMatchObject({ startAt: 'beginning', checkpointIntervalMs: 250, pollIntervalMs: 10 });
  });

  it('flags: --follow (repeatable) with --cluster and --state-dir, start at the end unless --start-at; --listen none', () => {
    const args = parseServeArgs(['--listen', 'none', '--follow', '/var/log/a.log', '--follow', '/var/log/b.log', '--cluster', 'prod', '--state-dir', '/var/lib/peregrine']);
    if (args === 'help') throw new Error('help');
    const { cfg } = load(undefined, args);
    expect(cfg.webhook).toBe(false);
    expect(cfg.sources.map((s) => [s.path, s.cluster, s.stateDir, s.startAt])).toEqual([
      ['/var/log/a.log', 'prod', '/var/lib/peregrine', 'end'], ['/var/log/b.log', 'prod', '/var/lib/peregrine', 'end'],
    ]);
    expect(load(undefined, { follow: ['/x.log'], cluster: 'c', stateDir: '/s', startAt: 'beginning' }).cfg.sources[0].startAt).toBe('beginning');
    // Without --listen none the webhook stays on beside the files.
    expect(load(undefined, { follow: ['/x.log'], cluster: 'c', stateDir: '/s' }).cfg.webhook).toBe(true);
  });

  it('errors name the key', () => {
    expect(error('sources:\n  - { type: file, path: /a.log, state_dir: /s }\n')).toMatch(/sources\[0\]\.cluster: required/);
    expect(error('sources:\n  - { type: file, path: /a.log, cluster: c }\n')).toMatch(/sources\[0\]\.state_dir: required/);
    expect(error('sources:\n  - { type: file, cluster: c, state_dir: /s }\n')).toMatch(/sources\[0\]\.path: required/);
    expect(error('sources:\n  - { path: /a.log, cluster: c, state_dir: /s }\n')).toMatch(/sources\[0\]\.type: required/);
    expect(error('sources:\n  - { type: syslog, path: /a.log, cluster: c, state_dir: /s }\n')).toMatch(/sources\[0\]\.type: unknown source type "syslog"/);
    expect(error('sources:\n  - { type: file, path: /a.log, cluster: c, state_dir: /s, start_at: middle }\n')).toMatch(/sources\[0\]\.start_at: expected end or beginning/);
    expect(error('sources:\n  - { type: file, path: /a.log, cluster: "bad name", state_dir: /s }\n')).toMatch(/sources\[0\]\.cluster: cluster name/);
    expect(error('sources:\n  - { type: file, path: /a.log, cluster: c, state_dir: /s, poll: 1 }\n')).toMatch(/sources\[0\]\.poll: unknown key/);
    expect(error('sources:\n  - { type: file, path: /a.log, cluster: c, state_dir: /s, checkpoint_interval_seconds: 0 }\n')).toMatch(/sources\[0\]\.checkpoint_interval_seconds: expected a number/);
    expect(error('sources:\n  - { type: file, path: /a.log, cluster: c, state_dir: /s }\n  - { type: file, path: /a.log, cluster: d, state_dir: /t }\n')).toMatch(/sources\[1\]\.path: \/a\.log is read twice/);
    expect(error('sources: /a.log\n')).toMatch(/^.*sources: expected a list/);
    expect(error('listen: none\n')).toMatch(/listen: none turns the webhook off: configure sources/);
    expect(error(undefined, { follow: ['/a.log'], stateDir: '/s' })).toMatch(/--follow: needs --cluster NAME/);
    expect(error(undefined, { follow: ['/a.log'], cluster: 'c' })).toMatch(/--follow: needs --state-dir DIR/);
    expect(error(undefined, { cluster: 'c' })).toMatch(/--cluster: only applies to --follow/);
    expect(error(undefined, { follow: ['/a.log'], cluster: 'c', stateDir: '/s', startAt: 'now' })).toMatch(/--start-at: expected end or beginning/);
  });

  it('listen: none needs no authentication, whatever else is configured', () => {
    const { cfg } = load('listen: none\nmetrics_listen: 0.0.0.0:8765\nsources:\n  - { type: file, path: /a.log, cluster: c, state_dir: /s }\n');
    expect(cfg.webhook).toBe(false);
  });

  it('the CLI exits 2 naming the key, and documents the flags', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'c.yaml'), 'sources:\n  - { type: file, path: /a.log, state_dir: /s }\n');
    const r = spawnSync(process.execPath, [CLI, 'serve', '-c', join(dir, 'c.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ERR_CONFIG: .*c\.yaml: sources\[0\]\.cluster: required/);
    const help = spawnSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8' });
    for (const flag of ['--follow PATH', '--cluster NAME', '--state-dir DIR', '--start-at', 'none: no webhook']) expect(help.stdout).toContain(flag);
  });
});
