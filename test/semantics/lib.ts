// Helpers for the Falco-semantics tests: write rules and events to a temp dir and run
// the real `peregrine scan` CLI on them (asynchronously, so `it.concurrent` overlaps).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CLI, type ScanResult } from '../conformance-lib.js';

export type { ScanResult };
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

/** The spec's base event B. */
export function baseEvent(): Obj {
  return {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: 'B',
    stage: 'ResponseComplete', requestURI: '/api/v1/namespaces/default/pods', verb: 'create',
    user: { username: 'alice', groups: ['system:authenticated', 'devs'] },
    sourceIPs: ['10.0.0.1', '10.0.0.2'], userAgent: 'kubectl/v1.30',
    objectRef: { resource: 'pods', namespace: 'default', name: 'p1', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 },
    requestObject: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p1', namespace: 'default' }, spec: { containers: [{ name: 'c1', image: 'nginx' }] } },
    requestReceivedTimestamp: '2025-10-23T17:06:00.000000Z', stageTimestamp: '2025-10-23T17:06:01.792123Z',
  };
}

/**
 * B with changes: `set` maps slash paths (`user/username`) to values; `undefined`
 * removes the member.
 */
export function ev(set: Record<string, Json | undefined> = {}): Obj {
  const e = baseEvent();
  for (const [path, v] of Object.entries(set)) {
    const parts = path.split('/');
    let o = e as Obj;
    for (const p of parts.slice(0, -1)) {
      if (typeof o[p] !== 'object' || o[p] === null) o[p] = {};
      o = o[p] as Obj;
    }
    const last = parts[parts.length - 1];
    if (v === undefined) delete o[last];
    else o[last] = v;
  }
  return e;
}

/** A YAML double-quoted scalar (JSON string syntax is valid YAML). */
export const q = (s: string): string => JSON.stringify(s);

export interface RuleSpec {
  name: string;
  condition: string;
  output?: string;
  priority?: string;
  tags?: string[];
  extra?: string;
}

/** One rule as YAML text (`extra` is raw YAML lines appended, indented by the caller). */
export function ruleYaml(r: RuleSpec): string {
  let y = `- rule: ${q(r.name)}\n  desc: d\n  condition: ${q(r.condition)}\n  output: ${q(r.output ?? r.name)}\n  priority: ${r.priority ?? 'WARNING'}\n  source: k8s_audit\n`;
  if (r.tags) y += `  tags: [${r.tags.map(q).join(', ')}]\n`;
  if (r.extra) y += r.extra;
  return y;
}

export function rulesYaml(rules: RuleSpec[]): string {
  return rules.map(ruleYaml).join('\n');
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'peregrine-sem-'));
}

export interface ScanInput {
  /** Rules files' texts, loaded in order (file names f1.yaml, f2.yaml, ...). */
  rules: string[];
  /** Input lines: objects are JSON-encoded, strings written as they are. */
  events: Array<Json | string>;
  args?: string[];
  env?: Record<string, string>;
}

export interface ScanRun extends ScanResult {
  dir: string;
  ruleFiles: string[];
  input: string;
}

export function runScanAsync(args: string[], env: Record<string, string> = {}): Promise<ScanResult> {
  return runCli(['scan', ...args], env);
}

/** Runs `peregrine <args>` (TZ=UTC unless `env` says otherwise). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<ScanResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TZ: 'UTC', ...env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.on('error', reject);
    p.on('close', (status) => {
      const stdout = Buffer.concat(out).toString();
      let alerts: Array<Record<string, unknown>>;
      try {
        alerts = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      } catch {
        alerts = [];
      }
      resolve({ status, alerts, stdout, stderr: Buffer.concat(err).toString() });
    });
  });
}

/** Writes the rules and events to a fresh temp dir and runs `peregrine scan` on them. */
export async function scan(inp: ScanInput): Promise<ScanRun> {
  const dir = tempDir();
  const ruleFiles = inp.rules.map((text, i) => {
    const f = join(dir, `f${i + 1}.yaml`);
    writeFileSync(f, text);
    return f;
  });
  const input = join(dir, 'events.jsonl');
  writeFileSync(input, inp.events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n');
  const args: string[] = [];
  for (const f of ruleFiles) args.push('--rules', f);
  args.push(...(inp.args ?? []), input);
  const r = await runScanAsync(args, inp.env);
  return { ...r, dir, ruleFiles, input };
}

/** Alert `output` text without the `HH:MM:SS.nnnnnnnnn: Priority ` prefix. */
export function message(a: Record<string, unknown>): string {
  return (a.output as string).replace(/^\S+: \S+ /, '');
}

/**
 * Runs many conditions at once: one rule per condition (rule_matching all), output
 * `%jevt.value[/auditID]`; returns, for each condition, the auditIDs of the events
 * it fired on, in event order.
 */
export async function firesOn(conditions: string[], events: Obj[], preamble = ''): Promise<{ fired: string[][]; run: ScanRun }> {
  const rules = conditions.map((c, i) => ({ name: `c${i}`, condition: c, output: '%jevt.value[/auditID]' }));
  const run = await scan({ rules: [preamble + rulesYaml(rules)], events, args: ['--rule-matching', 'all'] });
  const fired: string[][] = conditions.map(() => []);
  for (const a of run.alerts) {
    const i = Number((a.rule as string).slice(1));
    fired[i].push(message(a));
  }
  return { fired, run };
}

export interface Row {
  token: string;
  set?: Record<string, Json | undefined>;
  text: string;
  /** output_fields entries expected (key → value). */
  fields?: Record<string, Json>;
}

/** Runs each row as its own rule on its own event (matched by auditID), rule_matching all. */
export async function renderRows(rows: Row[]): Promise<Array<Record<string, unknown>>> {
  const rules = rows.map((r, i) => ({ name: `r${i}`, condition: `jevt.value[/auditID] = row${i}`, output: `x=${r.token}` }));
  const events = rows.map((r, i) => ev({ ...r.set, auditID: `row${i}` }));
  const run = await scan({ rules: [rulesYaml(rules)], events, args: ['--rule-matching', 'all'] });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.alerts.map((a) => a.rule)).toEqual(rows.map((_, i) => `r${i}`));
  return run.alerts;
}

export function checkRows(rows: Row[], alerts: Array<Record<string, unknown>>): void {
  rows.forEach((r, i) => {
    const a = alerts[i];
    expect(message(a), `text of ${r.token} (row ${i})`).toBe(`x=${r.text}`);
    const of = a.output_fields as Record<string, unknown>;
    for (const [k, v] of Object.entries(r.fields ?? {})) expect(of[k], `output_fields[${k}] (row ${i})`).toEqual(v);
    expect(Object.keys(of).sort(), `output_fields keys (row ${i})`).toEqual(
      [...new Set(['evt.time', ...Object.keys(r.fields ?? {})])].sort(),
    );
  });
}
