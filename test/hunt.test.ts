// `peregrine hunt` over an apiserver log directory (rotated .gz and plain backups and
// the live file) and independent files: time order across inputs, the window's edges,
// macros and lists, each format, counts, skipped files, and errors.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from './conformance-lib.js';

interface Ev {
  auditID: string;
  user: string;
  verb: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  uri?: string;
  t: string;
}

function event(e: Ev): Record<string, unknown> {
  return {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: e.auditID, stage: 'ResponseComplete',
    requestURI: e.uri ?? `/api/v1/namespaces/${e.namespace ?? 'default'}/${e.resource ?? 'pods'}`, verb: e.verb,
    user: { username: e.user, groups: ['system:authenticated'] }, sourceIPs: ['10.1.2.3'], userAgent: 'kubectl/v1.31.0',
    ...(e.resource ? { objectRef: { resource: e.resource, subresource: e.subresource, namespace: e.namespace, name: e.name, apiVersion: 'v1' } } : {}),
    responseStatus: { metadata: {}, code: e.verb === 'create' ? 201 : 200 },
    requestReceivedTimestamp: e.t, stageTimestamp: e.t,
  };
}

const lines = (evs: Ev[]): string => evs.map((e) => JSON.stringify(event(e))).join('\n') + '\n';

function hunt(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'hunt', ...args], { encoding: 'utf8', input, env: { ...process.env, TZ: 'UTC' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const json = (stdout: string): Record<string, unknown>[] => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('peregrine hunt', () => {
  let dir: string;
  let logs: string;
  let other: string;
  let rules: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peregrine-hunt-'));
    logs = join(dir, 'audit');
    mkdirSync(logs);
    // Oldest backup (gzipped), rotated at 10:00:00.000; then a plain backup rotated at
    // 11:00; then the live file. Each file is in time order; together they span 09:00-11:30.
    writeFileSync(join(logs, 'audit-2026-12-01T10-00-00.000.log.gz'), gzipSync(lines([
      { auditID: 'a1', user: 'mallory', verb: 'get', resource: 'secrets', namespace: 'prod', name: 'db', t: '2026-12-01T09:00:00.000001Z' },
      { auditID: 'a2', user: 'alice', verb: 'list', resource: 'pods', namespace: 'prod', t: '2026-12-01T09:30:00Z' },
      { auditID: 'a3', user: 'mallory', verb: 'create', resource: 'rolebindings', namespace: 'prod', name: 'rb1', t: '2026-12-01T09:59:59.999999999Z' },
    ])));
    writeFileSync(join(logs, 'audit-2026-12-01T11-00-00.000.log'), lines([
      { auditID: 'b1', user: 'mallory', verb: 'create', resource: 'pods', namespace: 'prod', name: 'shell', t: '2026-12-01T10:00:00.000000000Z' },
      { auditID: 'b2', user: 'mallory', verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'prod', name: 'shell', t: '2026-12-01T10:00:00.000000001Z' },
      { auditID: 'b3', user: 'bob', verb: 'delete', resource: 'configmaps', namespace: 'dev', name: 'x', t: '2026-12-01T10:30:00Z' },
    ]));
    writeFileSync(join(logs, 'audit.log'), lines([
      { auditID: 'c1', user: 'mallory', verb: 'get', uri: '/version', t: '2026-12-01T11:00:00.5Z' },
      { auditID: 'c2', user: 'alice', verb: 'get', resource: 'secrets', namespace: 'prod', name: 'db', t: '2026-12-01T11:30:00Z' },
    ]));
    // Another cluster's log, interleaved in time with the directory's.
    other = join(dir, 'other.jsonl');
    writeFileSync(other, lines([
      { auditID: 'o1', user: 'mallory', verb: 'get', resource: 'secrets', namespace: 'prod', name: 'db', t: '2026-12-01T09:00:00.000001Z' },
      { auditID: 'o2', user: 'mallory', verb: 'list', resource: 'secrets', namespace: 'kube-system', t: '2026-12-01T10:15:00Z' },
    ]));
    rules = join(dir, 'hunt-rules.yaml');
    writeFileSync(rules, '- list: suspects\n  items: [mallory, eve]\n- macro: suspect\n  condition: ka.user.name in (suspects)\n- macro: rbac_write\n  condition: kcreate and ka.target.resource in (rolebindings, clusterrolebindings)\n');
  });

  it('prints matches in stageTimestamp order across all inputs; equal times keep the input order', () => {
    const r = hunt(['--where', 'ka.user.name = mallory', '--format', 'json', other, logs]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const ids = json(r.stdout).map((o) => o.time);
    expect(ids).toEqual([...ids].sort());
    // o1 and a1 have the same time: o1's input comes first on the command line.
    expect(json(r.stdout).map((o) => `${o.user}:${o.time}`)[0]).toBe('mallory:2026-12-01T09:00:00.000001000Z');
    const r2 = hunt(['--where', 'ka.user.name = mallory', '--format', 'raw', other, logs]);
    expect(r2.stdout.split('\n').filter((l) => l).map((l) => (JSON.parse(l) as { auditID: string }).auditID)).toEqual(['o1', 'a1', 'a3', 'b1', 'b2', 'o2', 'c1']);
  });

  it('--since is inclusive and --until exclusive, at full precision', () => {
    const ids = (since: string, until: string): string[] => {
      const r = hunt(['--where', 'ka.verb exists', '--format', 'raw', '--since', since, '--until', until, logs]);
      return r.stdout.split('\n').filter((l) => l).map((l) => (JSON.parse(l) as { auditID: string }).auditID);
    };
    expect(ids('2026-12-01T10:00:00Z', '2026-12-01T10:00:00.000000001Z')).toEqual(['b1']);
    expect(ids('2026-12-01T10:00:00.000000001Z', '2026-12-01T10:30:00Z')).toEqual(['b2']);
    expect(ids('2026-12-01T09:59:59.999999999Z', '2026-12-01T10:00:00Z')).toEqual(['a3']);
    expect(ids('2026-12-01T09:00:00.000001Z', '2026-12-01T09:00:00.000002Z')).toEqual(['a1']);
    // Time zone offsets name the same instants.
    expect(ids('2026-12-01T11:00:00+01:00', '2026-12-01T11:30:00+01:00')).toEqual(['b1', 'b2']);
    const none = hunt(['--where', 'ka.verb exists', '--since', '2027-01-01T00:00:00Z', logs]);
    expect(none.status).toBe(1);
    expect(none.stdout).toBe('');
  });

  it('durations count back from now', () => {
    const now = Date.now();
    const recent = join(dir, 'recent.jsonl');
    writeFileSync(recent, lines([
      { auditID: 'old', user: 'eve', verb: 'get', resource: 'secrets', t: new Date(now - 3 * 3600_000).toISOString() },
      { auditID: 'new', user: 'eve', verb: 'get', resource: 'secrets', t: new Date(now - 3600_000).toISOString() },
    ]));
    const r = hunt(['--where', 'ka.user.name = eve', '--since', '2h', '--format', 'raw', recent]);
    expect(r.stdout).toContain('"auditID":"new"');
    expect(r.stdout).not.toContain('"auditID":"old"');
    const r2 = hunt(['--where', 'ka.user.name = eve', '--since', '4h', '--until', '2h', '--format', 'raw', recent]);
    expect(r2.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID)).toEqual(['old']);
  });

  it('skips files wholly outside the window without reading them through', () => {
    // A backup rotated before the window, whose body is not even gzip after its first line.
    const d = join(dir, 'skip');
    mkdirSync(d);
    const first = gzipSync(lines([{ auditID: 's1', user: 'mallory', verb: 'get', resource: 'pods', t: '2026-11-01T00:00:00Z' }]));
    writeFileSync(join(d, 'audit-2026-11-02T00-00-00.000.log.gz'), Buffer.concat([first, Buffer.from('not gzip at all')]));
    // A plain file that starts after the window: its broken middle is never read.
    writeFileSync(join(d, 'later.jsonl'), lines([{ auditID: 'l1', user: 'mallory', verb: 'get', resource: 'pods', t: '2026-12-05T00:00:00Z' }])
      + '{broken\n' + lines([{ auditID: 'l2', user: 'mallory', verb: 'get', resource: 'pods', t: '2026-12-05T01:00:00Z' }]));
    writeFileSync(join(d, 'audit.log'), lines([{ auditID: 'in', user: 'mallory', verb: 'get', resource: 'pods', t: '2026-12-01T12:00:00Z' }]));
    const r = hunt(['--where', 'ka.user.name = mallory', '--since', '2026-12-01T00:00:00Z', '--until', '2026-12-02T00:00:00Z', '--format', 'raw', d]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID)).toEqual(['in']);
    // Without a window every file is read, and the broken ones are reported.
    const all = hunt(['--where', 'ka.user.name = mallory', '--format', 'raw', d]);
    expect(all.stderr).toMatch(/later\.jsonl:2: /);
    expect(all.stderr).toMatch(/audit-2026-11-02T00-00-00\.000\.log\.gz: read error/);
    expect(all.status).toBe(2);
  });

  it('uses the lists and macros of rules files, and Falco\'s everyday macros by default', () => {
    const r = hunt(['--where', 'suspect and rbac_write', '--rules', rules, '--format', 'raw', logs, other]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID)).toEqual(['a3']);
    const r2 = hunt(['--where', 'kcreate and pod', '--format', 'raw', logs]);
    expect(r2.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID)).toEqual(['b1']);
  });

  it('formats: table with a header, json with named keys and --fields, raw byte for byte', () => {
    const t = hunt(['--where', 'ka.target.name = db', '--format', 'table', '--fields', 'ka.auditid', logs]);
    const rows = t.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^TIME +USER +VERB +TARGET +CODE +SOURCE IP +USER AGENT +KA\.AUDITID$/);
    expect(rows[1]).toMatch(/^2026-12-01T09:00:00\.000001000Z +mallory +get +secrets prod\/db +200 +10\.1\.2\.3 +kubectl\/v1\.31\.0 +a1$/);
    expect(rows).toHaveLength(3);
    const j = json(hunt(['--where', 'ka.target.name = db', '--format', 'json', '--fields', 'ka.auditid,ka.user.groups', logs]).stdout);
    expect(j[1]).toEqual({
      time: '2026-12-01T11:30:00.000000000Z', user: 'alice', verb: 'get', resource: 'secrets', subresource: null, namespace: 'prod', name: 'db',
      uri: '/api/v1/namespaces/prod/secrets', code: '200', source_ip: '10.1.2.3', user_agent: 'kubectl/v1.31.0', 'ka.auditid': 'c2', 'ka.user.groups': ['system:authenticated'],
    });
    const raw = hunt(['--where', 'ka.user.name = alice', '--format', 'raw', join(logs, 'audit.log')]);
    expect(raw.stdout).toBe(lines([{ auditID: 'c2', user: 'alice', verb: 'get', resource: 'secrets', namespace: 'prod', name: 'db', t: '2026-12-01T11:30:00Z' }]));
    // Read from stdin too.
    const stdin = hunt(['--where', 'ka.user.name = alice', '--format', 'raw', '-'], lines([{ auditID: 'x', user: 'alice', verb: 'get', t: '2026-12-01T00:00:00Z' }]));
    expect(stdin.stdout).toContain('"auditID":"x"');
  });

  it('--count-by counts per combination of values, most first', () => {
    const r = hunt(['--where', 'ka.verb exists', '--count-by', 'ka.user.name,ka.verb', '--format', 'json', logs, other]);
    expect(r.status).toBe(0);
    expect(json(r.stdout)).toEqual([
      { 'ka.user.name': 'mallory', 'ka.verb': 'create', count: 3 },
      { 'ka.user.name': 'mallory', 'ka.verb': 'get', count: 3 },
      { 'ka.user.name': 'alice', 'ka.verb': 'get', count: 1 },
      { 'ka.user.name': 'alice', 'ka.verb': 'list', count: 1 },
      { 'ka.user.name': 'bob', 'ka.verb': 'delete', count: 1 },
      { 'ka.user.name': 'mallory', 'ka.verb': 'list', count: 1 },
    ]);
    const t = hunt(['--where', 'ka.user.name = bob', '--count-by', 'ka.target.namespace', '--format', 'table', logs]);
    expect(t.stdout).toBe('COUNT\tKA.TARGET.NAMESPACE\n1\tdev\n');
  });

  it('bad conditions, fields and arguments: exit 2 with where it stops', () => {
    const bad = hunt(['--where', 'ka.user.name = alice and (ka.verb', logs]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--where: column \d+: /);
    const macro = hunt(['--where', 'ka.verb = get and no_such_macro', logs]);
    expect(macro.status).toBe(2);
    expect(macro.stderr).toContain("--where: column 19: Undefined macro 'no_such_macro'");
    const field = hunt(['--where', 'ka.no.such.field = 1', logs]);
    expect(field.status).toBe(2);
    expect(field.stderr).toMatch(/--where: column 1: .*ka\.no\.such\.field/);
    expect(hunt(['--where', 'ka.verb = get', '--fields', 'nope.field', logs]).stderr).toMatch(/--fields: .*nope\.field/);
    expect(hunt(['--where', 'ka.verb = get', '--fields', 'ka.verb ka.uri', logs]).stderr).toContain("--fields: 'ka.verb ka.uri' is not a field name");
    expect(hunt(['--where', 'ka.verb = get', '--count-by', 'ka.verb ka.uri', logs]).stderr).toContain("--count-by: 'ka.verb ka.uri' is not a field name");
    expect(hunt(['--where', 'ka.verb = get', '--fields', 'ka.req.pod.containers.image[', logs]).status).toBe(2);
    expect(hunt(['--where', 'ka.verb = get', '--since', 'yesterday', logs]).stderr).toContain('--since: expected an RFC 3339 time');
    expect(hunt(['--where', 'ka.verb = get', '--since', '1h', '--until', '2h', logs]).stderr).toContain('--since must be before --until');
    // Beyond what 64-bit nanoseconds hold the time would wrap: refused, not matched against.
    expect(hunt(['--where', 'ka.verb = get', '--since', '2600-01-01T00:00:00Z', logs]).stderr).toContain('--since: 2600-01-01T00:00:00Z is beyond 2262');
    expect(hunt(['--where', 'ka.verb = get', '--until', '200000d', logs]).stderr).toContain('--until: 200000d back from now is before 1970');
    expect(hunt(['--where', 'ka.verb = get', join(dir, 'missing.log')]).status).toBe(2);
    expect(hunt([logs]).stderr).toContain('--where CONDITION is required');
  });

  it("prints the README's worked example as shown there", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const m = /\$ npx peregrine hunt (--where '[^']+') \\\n\s+--since (\S+) --until (\S+) \/var\/log\/kubernetes\/audit\/\n([\s\S]*?)```/.exec(readme);
    expect(m, 'the example in README.md').not.toBeNull();
    const where = /^--where '(.*)'$/.exec(m![1])![1];
    const r = hunt(['--where', where, '--since', m![2], '--until', m![3], '--format', 'table', join(REPO, 'test/fixtures/hunt-example')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(m![4]);
  });
});
