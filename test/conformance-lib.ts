// Runs the Falco k8s-audit conformance cases (test/fixtures/falco-k8saudit)
// through the real `peregrine scan` command and compares with what Falco printed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { Ruleset } from '../src/rules/ruleset.js';

export const REPO = resolve(import.meta.dirname, '..');
export const CONFORMANCE = join(REPO, 'test/fixtures/falco-k8saudit');
/** Real audit events written by others (test/fixtures/real-audit). */
export const CORPORA = join(REPO, 'test/fixtures/real-audit');
export const CLI = join(REPO, 'dist/cli/main.js');

/** Falco's latest k8s_audit rules (with its lists), rule_matching all. */
export function latestRules(): Ruleset {
  const files = ['rules/falco_rules.lists.yaml', 'rules/k8s_audit_rules.latest.yaml'].map((r) => join(CONFORMANCE, r));
  return Ruleset.compile(files.map((f) => ({ name: f, text: readFileSync(f, 'utf8') })), { ruleMatching: 'all' });
}

export interface Case {
  name: string;
  rules: string[];
  trace: string;
  expect: { detect: boolean; priority?: string; counts?: Record<string, number> };
  expect_error?: string;
}

export function loadCases(): Case[] {
  const doc = yaml.load(readFileSync(join(CONFORMANCE, 'cases.yaml'), 'utf8')) as { cases: Case[] };
  return doc.cases;
}

export interface ScanResult {
  status: number | null;
  alerts: Array<Record<string, unknown>>;
  stdout: string;
  stderr: string;
}

export function runScan(args: string[], env: Record<string, string> = {}, input?: string | Buffer): ScanResult {
  const r = spawnSync(process.execPath, [CLI, 'scan', ...args], {
    env: { ...process.env, TZ: 'UTC', ...env },
    input,
    maxBuffer: 256 * 1024 * 1024,
  });
  const stdout = r.stdout.toString();
  const alerts = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, alerts, stdout, stderr: r.stderr.toString() };
}

export function runCase(c: Case, env: Record<string, string> = {}): ScanResult {
  const args: string[] = [];
  for (const r of c.rules) args.push('--rules', join(CONFORMANCE, r));
  args.push(join(CONFORMANCE, c.trace));
  return runScan(args, env);
}

/** Canonical form of an alert for multiset comparison (hostname dropped, tags sorted). */
export function canonical(a: Record<string, unknown>): string {
  const { hostname: _h, ...rest } = a;
  const tags = [...((rest.tags as string[]) ?? [])].sort();
  return JSON.stringify({ ...rest, tags }, Object.keys({ ...rest, tags }).sort());
}

export function expectedAlerts(c: Case): Array<Record<string, unknown>> {
  const p = join(CONFORMANCE, 'expected', `${c.name}.jsonl`);
  // Every case has its file (empty when Falco printed nothing): a missing one is an error.
  return readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Differences between a case's result and its expectations; empty when it passes. */
export function checkCase(c: Case, r: ScanResult): string[] {
  const problems: string[] = [];
  if (c.expect_error) {
    if (!r.stderr.includes(c.expect_error)) problems.push(`stderr lacks '${c.expect_error}': ${r.stderr}`);
    if (r.status !== 1) problems.push(`exit status ${r.status}, expected 1`);
    if (r.alerts.length > 0) problems.push(`${r.alerts.length} alerts for a rejected input`);
    return problems;
  }
  if (r.status !== 0) problems.push(`exit status ${r.status}: ${r.stderr}`);
  if (c.expect.detect && r.alerts.length === 0) problems.push('expected a detection, got none');
  if (!c.expect.detect && r.alerts.length > 0) problems.push(`expected no detection, got ${r.alerts.map((a) => a.rule).join(', ')}`);
  if (c.expect.detect && c.expect.priority && !r.alerts.some((a) => a.priority === c.expect.priority)) problems.push(`no alert with priority ${c.expect.priority}`);
  for (const [rule, n] of Object.entries(c.expect.counts ?? {})) {
    const got = r.alerts.filter((a) => a.rule === rule).length;
    if (got !== n) problems.push(`rule '${rule}': ${got} alerts, expected ${n}`);
  }
  const want = expectedAlerts(c).map(canonical).sort();
  const got = r.alerts.map(canonical).sort();
  if (JSON.stringify(want) !== JSON.stringify(got)) {
    problems.push(`alerts differ from Falco's:\n  want ${want.join('\n       ')}\n  got  ${got.join('\n       ')}`);
  }
  return problems;
}
