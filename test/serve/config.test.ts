// Configuration: defaults, YAML keys, flags, and errors that name the key (exit 2).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadServeConfig, parseServeArgs, type ServeArgs } from '../../src/config/load.js';
import { CLI, tempDir } from './harness.js';

function load(yamlText: string | undefined, args: Partial<ServeArgs> = {}) {
  const dir = tempDir();
  let config: string | undefined;
  if (yamlText !== undefined) {
    config = join(dir, 'c.yaml');
    writeFileSync(config, yamlText);
  }
  return loadServeConfig({ ...args, config });
}

function error(yamlText: string, args: Partial<ServeArgs> = {}): string {
  try {
    load(yamlText, args);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

describe('serve configuration', () => {
  it('has secure, documented defaults', () => {
    const c = load(undefined);
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 9765 });
    expect(c.metricsListen).toEqual({ host: '127.0.0.1', port: 8765 });
    expect(c.path).toBe('/k8s-audit');
    expect(c.limits.maxBodyBytes).toBe(12 * 1024 * 1024);
    expect(c.limits.maxEventBytes).toBe(262144);
    expect(c.outputs.stdout).toBe(true);
    expect(c.insecure).toBe(false);
    expect(c.rules.files).toEqual([]);
  });

  it('reads every section of the YAML file, paths relative to the file', () => {
    const c = load(`
listen: 127.0.0.2:9000
metrics_listen: "[::1]:9001"
path: /audit
workers: 3
rules: { files: [a.yaml, /abs/b.yaml], rule_matching: all, min_priority: warning, watch: false }
auth:
  tokens: [{ cluster: c1, file: t1 }]
  jwt: { jwks_file: jwks.json, algorithms: [ES256], issuer: iss, audience: aud, cluster_claim: cl }
rate_limit: { events_per_second: 100 }
clusters: { c1: { rate_limit: { events_per_second: 5, burst: 10 } } }
limits: { max_body_bytes: 4MiB, max_event_bytes: 128KiB, max_inflight_bytes: 64MiB, ring_bytes: 1MiB, retry_after_seconds: 3 }
outputs:
  file: { path: out.jsonl, max_bytes: 10MB, max_backups: 2 }
  http: { url: "http://127.0.0.1:2801/", concurrency: 2 }
  buffer_bytes: 8MiB
`);
    expect(c.listen).toEqual({ host: '127.0.0.2', port: 9000 });
    expect(c.metricsListen).toEqual({ host: '::1', port: 9001 });
    expect(c.rules).toMatchObject({ ruleMatching: 'all', minPriority: 4, watch: false });
    expect(c.rules.files[0]).toMatch(/\/a\.yaml$/);
    expect(c.rules.files[1]).toBe('/abs/b.yaml');
    expect(c.auth.tokens[0].file).toMatch(/^\/.*\/t1$/);
    expect(c.auth.jwt).toMatchObject({ algorithms: ['ES256'], issuer: 'iss', audience: 'aud', clusterClaim: 'cl', requireExp: true });
    expect(c.rateLimit).toEqual({ eventsPerSecond: 100, burst: 200 });
    expect(c.clusters.c1.rateLimit).toEqual({ eventsPerSecond: 5, burst: 10 });
    expect(c.limits).toMatchObject({ maxBodyBytes: 4 * 1024 * 1024, maxEventBytes: 131072, ringBytes: 1048576, retryAfterSeconds: 3 });
    expect(c.outputs).toMatchObject({ stdout: false, file: { maxBytes: 10_000_000, maxBackups: 2 }, http: { concurrency: 2, timeoutMs: 5000 }, bufferBytes: 8 * 1024 * 1024 });
  });

  it('flags work without a file and override it', () => {
    const a = parseServeArgs(['--listen', '127.0.0.1:1234', '--metrics-listen', '127.0.0.1:1235', '--rules', 'x.yaml', '--rules', 'y',
      '--token', 'prod=/t/prod', '--output-file', 'o.jsonl', '--workers', '4', '--insecure']) as ServeArgs;
    const c = loadServeConfig(a);
    expect(c.listen.port).toBe(1234);
    expect(c.rules.files.map((f) => f.split('/').pop())).toEqual(['x.yaml', 'y']);
    expect(c.auth.tokens).toEqual([{ cluster: 'prod', file: '/t/prod' }]);
    expect(c.outputs.stdout).toBe(false);
    expect(c.outputs.file?.path).toMatch(/o\.jsonl$/);
    expect(c.workers).toBe(4);
    expect(c.insecure).toBe(true);
  });

  it('--output-file replaces stdout, with a file too, unless the file asks for stdout itself', () => {
    expect(load('workers: 2\n', { outputFile: 'a.jsonl' }).outputs).toMatchObject({ stdout: false, file: { path: expect.stringMatching(/a\.jsonl$/) } });
    expect(load('outputs: { http: { url: "http://127.0.0.1:1/" } }\n', { outputFile: 'a.jsonl' }).outputs.stdout).toBe(false);
    expect(load('outputs: { stdout: true }\n', { outputFile: 'a.jsonl' }).outputs).toMatchObject({ stdout: true, file: { path: expect.stringMatching(/a\.jsonl$/) } });
    // Without the flag the file's choice stands.
    expect(load('workers: 2\n').outputs.stdout).toBe(true);
  });

  it('refuses null, dates and other non-mappings where a mapping goes, and JWT settings that could not work', () => {
    expect(error('clusters: null\n')).toMatch(/clusters: expected a mapping, got null/);
    expect(error('outputs: { http: { url: "http://127.0.0.1:9/", headers: null } }\n')).toMatch(/outputs\.http\.headers: expected a mapping/);
    for (const k of ['auth', 'rules', 'limits', 'outputs', 'rate_limit', 'clusters']) expect(error(`${k}: 2026-01-01\n`), k).toMatch(new RegExp(`${k}: expected a mapping`));
    expect(error('clusters: { x: 2026-01-01 }\n')).toMatch(/clusters\.x: expected a mapping/);
    expect(error('- a\n- b\n')).toMatch(/the file: expected a mapping/);
    expect(error('auth:\n  jwt: { public_key_files: [k.pem], algorithms: [] }\n')).toMatch(/auth\.jwt\.algorithms: empty/);
    expect(error('auth:\n  jwt: { public_key_files: [k.pem], jwks_file: j.json }\n')).toMatch(/auth\.jwt: public_key_files and jwks_file: give one/);
  });

  it('names the key in every error', () => {
    expect(error('limits:\n  max_body_bytes: lots\n')).toMatch(/limits\.max_body_bytes: expected a byte size/);
    expect(error('lisen: 127.0.0.1:1\n')).toMatch(/^.*c\.yaml: lisen: unknown key/);
    expect(error('outputs:\n  http: { url: "ftp://x" }\n')).toMatch(/outputs\.http\.url: must be http/);
    expect(error('auth:\n  tokens: [{ cluster: "bad name", file: x }]\n')).toMatch(/auth\.tokens\[0\]\.cluster: cluster name/);
    expect(error('auth:\n  jwt: { public_key_files: [k.pem], algorithms: [HS256] }\n')).toMatch(/auth\.jwt\.algorithms\[0\]: unsupported algorithm "HS256"/);
    expect(error('auth:\n  jwt: { issuer: x }\n')).toMatch(/auth\.jwt: needs public_key_files or jwks_file/);
    expect(error('rules: { min_priority: loud }\n')).toMatch(/rules\.min_priority: unknown priority/);
    expect(error('workers: 0\n')).toMatch(/workers: expected an integer from 1/);
    expect(error('listen: 10.0.0.1:9765\n')).toMatch(/listen: refusing to listen on 10\.0\.0\.1 beyond loopback without authentication/);
    expect(error('listen: "localhost"\n')).toMatch(/listen: expected HOST:PORT/);
    expect(error('auth:\n  client_certs: [{ cluster: a, subject_cn: x }]\n')).toMatch(/auth\.client_certs: client certificates need tls\.client_ca_file/);
    expect(error('listen: 0.0.0.0:9765\ninsecure: true\n')).toBe('no error');
    expect(error('listen: 0.0.0.0:9765\nauth: { tokens: [{ cluster: a, file: t }] }\n')).toBe('no error');
  });

  it('the CLI exits 2 with the error on stderr', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.yaml'), 'limits:\n  max_queued_tasks: -1\n');
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config', join(dir, 'bad.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^peregrine: ERR_CONFIG: .*bad\.yaml: limits\.max_queued_tasks: expected an integer/);
    const r2 = spawnSync(process.execPath, [CLI, 'serve', '--listen', '0.0.0.0:0'], { encoding: 'utf8' });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/refusing to listen on 0\.0\.0\.0/);
    const r3 = spawnSync(process.execPath, [CLI, 'serve', '--token', 'a=/nonexistent/token', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], { encoding: 'utf8' });
    expect(r3.status).toBe(2);
    expect(r3.stderr).toMatch(/auth\.tokens: \/nonexistent\/token: cannot read the token file of cluster 'a': ENOENT/);
    const r4 = spawnSync(process.execPath, [CLI, 'serve', '--rules', join(dir, 'bad.yaml'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], { encoding: 'utf8' });
    expect(r4.status).toBe(2);
    expect(r4.stderr).toMatch(/bad\.yaml/);
  });
});
