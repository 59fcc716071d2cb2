// Users tune the bundled rules from their own file, loaded after ours: list appends,
// exception appends, macro replacement, disabling. The examples are the README's own.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { CLI, RULES_DIR, auditEvent, byAuditId, jsonl, person, sa, scan, writeTemp } from './audit.js';
import { podCreate, workloadCreate } from './cases.js';
import { container, hostPathVolume, podSpec } from './objects.js';

const README = readFileSync(join(RULES_DIR, 'README.md'), 'utf8');
/** The README's YAML blocks that are rules files (not the audit Policy). */
const BLOCKS = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => b.startsWith('- '));
function block(containing: string): string {
  const b = BLOCKS.find((x) => x.includes(containing));
  if (!b) throw new Error(`no README example containing ${containing}`);
  return b;
}

/** Rules fired for each event, without and with the user file. */
function compare(events: Array<Record<string, unknown>>, overrides: string): { before: string[][]; after: string[][] } {
  const input = jsonl(events);
  const base = scan(input, { matching: 'all' });
  const tuned = scan(input, { matching: 'all', extraRules: [writeTemp('my_overrides.yaml', overrides)] });
  expect(base.status, base.stderr).toBe(0);
  expect(tuned.status, tuned.stderr).toBe(0);
  const b = byAuditId(base.alerts);
  const t = byAuditId(tuned.alerts);
  const rules = (m: typeof b, e: Record<string, unknown>) => (m.get(String(e.auditID)) ?? []).map((a) => a.rule);
  return { before: events.map((e) => rules(b, e)), after: events.map((e) => rules(t, e)) };
}

const alice = person('alice@example.com', 'devs');

describe('tuning from a user file', () => {
  it('every README example loads after the bundled rules (rules check --strict)', () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(48);
    // one file per example, all loaded in one run; errors name the file
    const files = BLOCKS.map((b, i) => writeTemp(`example-${String(i).padStart(2, '0')}.yaml`, b));
    const r = spawnSync(process.execPath, [CLI, 'rules', 'check', '--strict', RULES_DIR, ...files]);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout.toString()).toMatch(/0 warnings/);
  });

  it('every rule section of the README has an override example for that rule', () => {
    const sections = README.split(/^### /m).slice(1);
    const rules = (yaml.load(readFileSync(join(RULES_DIR, 'peregrine_rules.yaml'), 'utf8')) as Array<{ rule?: string }>).filter((d) => d.rule).map((d) => d.rule!);
    for (const r of rules) {
      const sec = sections.find((x) => x.startsWith(`${r}\n`));
      expect(sec, r).toBeDefined();
      expect(sec!, r).toMatch(/```yaml\n- (rule|list|macro): /);
    }
  });

  it('appending to pg_secret_reader_service_accounts silences a known controller', () => {
    const ev = auditEvent({ verb: 'watch', user: sa('backup', 'stash'), resource: 'secrets', userAgent: 'stash/v0.34' });
    const { before, after } = compare([ev], block('system:serviceaccount:backup:stash'));
    expect(before[0]).toContain('Secrets Listed Across All Namespaces');
    expect(after[0]).toEqual([]);
  });

  it('appending to pg_nonroot_namespaces makes root pods there alert', () => {
    const ev = podCreate('web', 'nginx', podSpec([container('web', 'nginx:1.27')]));
    const { before, after } = compare([ev], block('pg_nonroot_namespaces'));
    expect(before[0]).toEqual([]);
    expect(after[0]).toEqual(['Root Container In Non-Root Namespace']);
  });

  it('an exception appended to Pod Exec Or Attach silences one user in one namespace only', () => {
    const exec = (ns: string) => auditEvent({ verb: 'get', user: alice, resource: 'pods', subresource: 'exec', namespace: ns, name: 'web-0', stage: 'ResponseStarted', query: 'command=sh&container=web&stdin=true&tty=true' });
    const events = [exec('team-a'), exec('kube-system')];
    const { before, after } = compare(events, block('trusted_user_namespaces'));
    expect(before).toEqual([['Pod Exec Or Attach'], ['Pod Exec Or Attach']]);
    expect(after).toEqual([[], ['Pod Exec Or Attach']]);
  });

  it('an exception appended to Privileged Container In Pod Spec trusts one DaemonSet', () => {
    const ds = (ns: string, name: string) => workloadCreate('DaemonSet', ns, name, podSpec([container('agent', 'prom/node-exporter:v1.8.2', { securityContext: { privileged: true } })], { hostPID: true }));
    const events = [ds('monitoring', 'node-exporter'), ds('monitoring', 'node-exporter-2')];
    const { before, after } = compare(events, block('[monitoring, node-exporter]'));
    expect(before.map((r) => r.includes('Privileged Container In Pod Spec'))).toEqual([true, true]);
    expect(after.map((r) => r.includes('Privileged Container In Pod Spec'))).toEqual([false, true]);
    // the exception is per rule: hostPID is still reported
    expect(after[0]).toContain('Host PID Or IPC Namespace In Pod Spec');
  });

  it('replacing pg_user_trusted_actor trusts a family of service accounts everywhere', () => {
    const ev = workloadCreate('DaemonSet', 'kube-system', 'cni', podSpec([container('cni', 'cni:1', { securityContext: { privileged: true } })], { hostNetwork: true }), { user: sa('platform-ci', 'deployer') });
    const { before, after } = compare([ev], block('pg_user_trusted_actor'));
    expect(before[0].length).toBeGreaterThan(1);
    expect(after[0]).toEqual([]);
  });

  it('appending to pg_sensitive_host_paths adds a path, matched as a prefix', () => {
    const ev = podCreate('team-a', 'x', podSpec([container('c', 'alpine:3.20')], { volumes: [hostPathVolume('s', '/srv/secrets/db')] }));
    const { before, after } = compare([ev], block('/srv/secrets'));
    expect(before[0]).toEqual([]);
    expect(after[0]).toEqual(['Sensitive Host Path Mounted']);
  });

  it('a prefix exception on Namespace Deleted skips preview namespaces', () => {
    const del = (name: string) => auditEvent({ verb: 'delete', user: sa('ci', 'cleanup'), resource: 'namespaces', name });
    const { before, after } = compare([del('pr-1234'), del('staging')], block('ephemeral_namespace_prefixes'));
    expect(before).toEqual([['Namespace Deleted'], ['Namespace Deleted']]);
    expect(after).toEqual([[], ['Namespace Deleted']]);
  });

  it('a rule can be disabled', () => {
    const ev = auditEvent({ verb: 'delete', user: alice, resource: 'namespaces', name: 'staging' });
    const { before, after } = compare([ev], block('enabled: false'));
    expect(before[0]).toEqual(['Namespace Deleted']);
    expect(after[0]).toEqual([]);
  });

  it('pg_long_running_stages moves exec detection to ResponseComplete', () => {
    const exec = (stage: 'ResponseStarted' | 'ResponseComplete') => auditEvent({ verb: 'create', user: alice, resource: 'pods', subresource: 'exec', namespace: 'team-a', name: 'web-0', stage, query: 'command=sh' });
    const { before, after } = compare([exec('ResponseStarted'), exec('ResponseComplete')], block('pg_long_running_stages'));
    expect(before).toEqual([['Pod Exec Or Attach'], []]);
    expect(after).toEqual([[], ['Pod Exec Or Attach']]);
  });
});

describe('rules check', () => {
  it('the bundled rules pass rules check --strict with no warnings', () => {
    const r = spawnSync(process.execPath, [CLI, 'rules', 'check', '--strict', RULES_DIR]);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.toString()).toMatch(/Ok, 48 k8s_audit rules \(0 disabled\), 0 warnings/);
  });

  it('the bundled rules are the default of peregrine scan', () => {
    const ev = auditEvent({ verb: 'delete', user: alice, resource: 'namespaces', name: 'staging' });
    const r = spawnSync(process.execPath, [CLI, 'scan', '-'], { input: jsonl([ev]), env: { ...process.env, TZ: 'UTC' } });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString()).rule).toBe('Namespace Deleted');
  });
});
