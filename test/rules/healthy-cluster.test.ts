// A generated healthy-cluster audit stream produces no alert at all; attacks planted in
// the same stream are still found (so the silence is not a parsing accident).
// PEREGRINE_HEALTHY_EVENTS (default 200000) and PEREGRINE_HEALTHY_SEED change the run;
// PEREGRINE_HEALTHY_KEEP=<path> keeps the generated stream.
import { appendFileSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type Alert, CLI, RULES_DIR, byAuditId, jsonl } from './audit.js';
import { CASES } from './cases.js';
import { writeHealthyCluster } from './healthy-cluster.js';

const COUNT = Number(process.env.PEREGRINE_HEALTHY_EVENTS ?? 200_000);
const SEED = Number(process.env.PEREGRINE_HEALTHY_SEED ?? 20251023);

describe('healthy cluster', () => {
  it(`${COUNT} events of routine traffic (seed ${SEED}) raise no alert; planted attacks still do`, () => {
    const file = process.env.PEREGRINE_HEALTHY_KEEP ?? join(mkdtempSync(join(tmpdir(), 'pg-healthy-')), 'healthy.jsonl');
    expect(writeHealthyCluster(file, COUNT, SEED)).toBe(COUNT);
    expect(statSync(file).size).toBeGreaterThan(COUNT * 200);
    // the first positive of every rule, after the healthy stream
    const canaries = CASES.map((c) => ({ rule: c.rule, event: c.positives[0].event }));
    const canaryFile = file + '.canaries';
    appendFileSync(canaryFile, jsonl(canaries.map((c) => c.event)));
    const r = spawnSync(process.execPath, [CLI, 'scan', '--quiet', '--rule-matching', 'all', '--rules', RULES_DIR, file, canaryFile], {
      env: { ...process.env, TZ: 'UTC' }, maxBuffer: 256 * 1024 * 1024,
    });
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
    const alerts = r.stdout.toString().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Alert);
    const ids = new Set(canaries.map((c) => String(c.event.auditID)));
    const noise = alerts.filter((a) => !ids.has(String(a.output_fields['ka.auditid'])));
    const byRule: Record<string, number> = {};
    for (const a of noise) byRule[a.rule] = (byRule[a.rule] ?? 0) + 1;
    expect(byRule, noise.slice(0, 5).map((a) => a.output).join('\n')).toEqual({});
    const found = byAuditId(alerts);
    for (const c of canaries) expect((found.get(String(c.event.auditID)) ?? []).map((a) => a.rule), c.rule).toContain(c.rule);
  }, 240_000);
});
