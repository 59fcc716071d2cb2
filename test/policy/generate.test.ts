// `policy generate`: a valid, commented policy that feeds every loaded rule (checked by
// `policy check`), with noise dropped, bodies only where rules read them, and stages and
// managed fields kept only where a rule needs them.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Ruleset } from '../../src/rules/ruleset.js';
import { readRuleFiles } from '../../src/config/rules-files.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { RulesetModel, checkPolicy } from '../../src/policy/check.js';
import { generatePolicy } from '../../src/policy/generate.js';
import { tempDir } from '../serve/harness.js';

const FALCO = 'test/fixtures/falco-k8saudit/rules/k8s_audit_rules.latest.yaml';

const memo = new Map<string, ReturnType<typeof generate>>();
const generated = (files: string[]): ReturnType<typeof generate> => {
  const k = files.join('\0');
  if (!memo.has(k)) memo.set(k, generate(files));
  return memo.get(k)!;
};

function generate(files: string[]) {
  const rs = Ruleset.compile(readRuleFiles(files));
  const g = generatePolicy(rs, files);
  const p = parsePolicy('gen.yaml', g.text);
  return { rs, g, p, reports: checkPolicy(new RulesetModel(rs), p) };
}

describe('policy generate', () => {
  it.each([['Falco\'s latest k8s_audit rules', [FALCO]], ['the bundled rules', ['rules']]])('for %s: valid, and check finds every rule fed', (_n, files) => {
    const { g, p, reports } = generated(files);
    for (const r of reports) expect(r.status, `${r.rule}: ${r.reason}`).toBe('fed');
    // What was written is what was checked.
    expect(p.rules.map((r) => r.level)).toEqual(g.policy.rules.map((r) => r.level));
    expect(p.omitManagedFields).toBe(true);
    // The last rule logs everything else at Metadata.
    expect(p.rules[p.rules.length - 1]).toMatchObject({ level: 'Metadata', verbs: [], resources: [], nonResourceURLs: [], users: [], userGroups: [] });
    // Noise: node heartbeats are not logged.
    expect(p.rules.some((r) => r.level === 'None' && r.userGroups.includes('system:nodes') && r.resources.some((gr) => gr.resources.includes('leases')))).toBe(true);
    // Bodies only for some verbs and resources.
    for (const r of p.rules.filter((x) => x.level === 'Request' || x.level === 'RequestResponse')) {
      expect(r.verbs.length + r.resources.length, JSON.stringify(r)).toBeGreaterThan(0);
      expect(r.resources.every((gr) => !gr.resources.includes('*'))).toBe(true);
    }
    // Commented: each rule says why it is there.
    const lines = g.text.split('\n');
    lines.forEach((l, i) => {
      if (l.startsWith('  - level:')) expect(lines[i - 1], `before line ${i + 1}`).toMatch(/^ {2}#/);
    });
  });

  it("keeps the RequestReceived stage only where a rule can match it (Falco's port-forward matches every stage)", () => {
    const falco = generated([FALCO]).p;
    expect(falco.omitStages).toEqual([]);
    const pf = falco.rules.filter((r) => r.resources.some((gr) => gr.resources.some((x) => x.endsWith('/portforward') || x === 'pods/*')));
    expect(pf.length).toBeGreaterThan(0);
    for (const r of pf) expect(r.omitStages).toEqual([]);
    const others = falco.rules.filter((r) => r.level !== 'None' && !pf.includes(r));
    for (const r of others) expect(r.omitStages).toEqual(['RequestReceived']);
    // The bundled rules read no RequestReceived event: one policy-wide omission.
    const bundled = generated(['rules']).p;
    expect(bundled.omitStages).toEqual(['RequestReceived']);
    expect(bundled.rules.every((r) => r.omitStages.length === 0)).toBe(true);
  });

  it('keeps managed fields where a rule reads them, and logs what it reads only there', () => {
    const rules = `- rule: Applied By Hand
  desc: d
  condition: ka.verb=patch and ka.target.resource=deployments and jevt.value[/requestObject/metadata] contains kubectl-client-side-apply
  output: "x %ka.user.name"
  priority: WARNING
  source: k8s_audit
`;
    const rs = Ruleset.compile([{ name: 'mf.yaml', text: rules }]);
    const g = generatePolicy(rs, ['mf.yaml']);
    const p = parsePolicy('gen.yaml', g.text);
    const body = p.rules.filter((r) => r.level === 'Request');
    expect(body).toHaveLength(1);
    expect(body[0]).toMatchObject({ verbs: ['patch'], omitManagedFields: false });
    expect(body[0].resources[0].resources).toEqual(['deployments/*']);
    for (const r of checkPolicy(new RulesetModel(rs), p)) expect(r.status).toBe('fed');
  });

  it('the same rules give the same policy; the CLI prints it or writes it', () => {
    const a = generated([FALCO]).g.text;
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'generate', '--rules', FALCO], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(a);
    const out = join(tempDir(), 'p.yaml');
    expect(spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'generate', '--rules', FALCO, '-o', out]).status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(a);
  });
});
