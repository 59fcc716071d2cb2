// The advisor end to end on a mixed cluster log recorded at RequestResponse (routine
// controller and kubelet traffic with its bodies, probes and discovery, people with
// kubectl, the load tests' attacks, every event of Falco's k8s-audit traces, and every
// positive and negative sample of the bundled rules' tests): the generated policy,
// applied with `policy cost --write`, gives exactly the alerts of the unfiltered log with
// far fewer bytes; and `policy check` names every rule that loses alerts under a policy
// that logs only Metadata except secrets and configmaps, and no rule that keeps them.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fullLevelCorpus, corpusText } from '../../native-bench/policy-corpus.mjs';
import { CASES, PRECEDENCE } from '../rules/cases.js';
import { Ruleset } from '../../src/rules/ruleset.js';
import { readRuleFiles } from '../../src/config/rules-files.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { RulesetModel, checkPolicy } from '../../src/policy/check.js';
import { generatePolicy } from '../../src/policy/generate.js';
import { tempDir } from '../serve/harness.js';

const FALCO = 'test/fixtures/falco-k8saudit/rules/k8s_audit_rules.latest.yaml';
const RULESETS: Array<[string, string]> = [["Falco's latest k8s_audit rules", FALCO], ['the bundled rules', 'rules']];
const META = 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: RequestResponse\n    resources:\n      - group: ""\n        resources: ["secrets", "configmaps"]\n  - level: Metadata\n';

const dir = tempDir();
const corpus = join(dir, 'full.jsonl');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['dist/cli/main.js', ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

function scan(rules: string, file: string): string[] {
  const r = cli('scan', '--rules', rules, file);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** Alerts per rule, each as its whole line. */
function byRule(alerts: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const a of alerts) {
    const r = JSON.parse(a).rule as string;
    m.set(r, [...(m.get(r) ?? []), a]);
  }
  return m;
}

beforeAll(() => {
  const events: unknown[] = fullLevelCorpus(2500, { seed: 3 });
  const samples = [...CASES.flatMap((c) => [...c.positives, ...c.negatives].map((s) => s.event)), ...PRECEDENCE.map((p) => p.event)];
  // Spread the rules' own samples through the log.
  samples.forEach((e, i) => events.splice(Math.floor(((i + 1) * events.length) / (samples.length + 1)), 0, e));
  writeFileSync(corpus, corpusText(events));
});

describe.each(RULESETS)('%s', (_name, rules) => {
  let full: string[];
  beforeAll(() => {
    full = scan(rules, corpus);
  });

  it('the generated policy gives exactly the alerts of the unfiltered log, with far fewer bytes', () => {
    const gen = join(dir, `gen-${rules.length}.yaml`);
    const g = cli('policy', 'generate', '--rules', rules, '-o', gen);
    expect(g.status, g.stderr).toBe(0);
    const out = join(dir, `gen-${rules.length}.jsonl`);
    const c = cli('policy', 'cost', '--policy', gen, '--write', out, '--format', 'json', corpus);
    expect(c.status, c.stderr).toBe(0);
    const cost = JSON.parse(c.stdout);
    expect(full.length).toBeGreaterThan(60);
    expect(scan(rules, out)).toEqual(full);
    // The file written is what the report counts; far smaller than the sample.
    expect(readFileSync(out).length).toBe(cost.policies[0].bytes);
    expect(cost.policies[0].ratio.bytes).toBeLessThan(0.4);
    expect(cost.policies[0].ratio.events).toBeLessThan(0.8);
    expect(cost.policies[0].byLevel.None.events).toBeGreaterThan(0);
  });

  it('policy check names every rule that loses alerts under Metadata-except-secrets-and-configmaps, and none that keeps them', () => {
    const meta = join(dir, 'meta.yaml');
    writeFileSync(meta, META);
    const out = join(dir, `meta-${rules.length}.jsonl`);
    expect(cli('policy', 'cost', '--policy', meta, '--write', out, corpus).status).toBe(0);
    const before = byRule(full);
    const after = byRule(scan(rules, out));
    const changed = new Set([...new Set([...before.keys(), ...after.keys()])].filter((r) => JSON.stringify(before.get(r)) !== JSON.stringify(after.get(r))));
    const rs = Ruleset.compile(readRuleFiles([rules]));
    const reports = checkPolicy(new RulesetModel(rs), parsePolicy(meta, META));
    const notFed = new Set(reports.filter((r) => r.status !== 'fed').map((r) => r.rule));
    // Every rule whose alerts changed is named...
    for (const r of changed) expect(notFed, `${r} lost alerts but check says it is fed`).toContain(r);
    // ...and every starved rule this log exercises did lose alerts (none is named wrongly).
    const exercised = reports.filter((r) => r.status === 'starved' && before.has(r.rule)).map((r) => r.rule);
    expect(exercised.length).toBeGreaterThan(2);
    for (const r of exercised) expect(changed, `${r} is called starved but kept its alerts`).toContain(r);
    expect(changed.size).toBeGreaterThan(2);
  });
});
