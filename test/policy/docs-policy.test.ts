// docs/audit-policy.yaml is `peregrine policy generate` for the bundled rules with one
// rule added by hand (secrets and reviewed tokens at Metadata), and `policy check` says
// exactly what that hand-made rule costs. When the bundled rules change, regenerate it:
//   npx peregrine policy generate -o docs/audit-policy.yaml  (then put the first rule back)
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Ruleset } from '../../src/rules/ruleset.js';
import { defaultRulePaths, readRuleFiles } from '../../src/config/rules-files.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { RulesetModel, checkPolicy } from '../../src/policy/check.js';
import { generatePolicy } from '../../src/policy/generate.js';

const FILE = 'docs/audit-policy.yaml';

describe(FILE, () => {
  const text = readFileSync(FILE, 'utf8');
  const rs = Ruleset.compile(readRuleFiles(defaultRulePaths()));

  it('is the generated policy for the bundled rules plus the hand-made first rule', () => {
    const generated = generatePolicy(rs, ['the bundled rules']).text;
    const start = text.indexOf('\nrules:\n') + '\nrules:\n'.length;
    const pinEnd = text.indexOf('\n\n', start);
    const withoutPin = text.slice(0, start) + text.slice(pinEnd + 1);
    expect(withoutPin, 'regenerate docs/audit-policy.yaml (see this test\'s header)').toBe(generated);
    const p = parsePolicy(FILE, text);
    expect(p.rules[0]).toMatchObject({ level: 'Metadata', resources: [{ group: '', resources: ['secrets'] }, { group: 'authentication.k8s.io', resources: ['tokenreviews'] }] });
  });

  it('feeds every bundled rule but the one that reads secrets (and, under rule_matching first, those after it)', () => {
    const p = parsePolicy(FILE, text);
    const reports = checkPolicy(new RulesetModel(rs), p);
    const pin = `${FILE}:${p.rules[0].loc!.line}`;
    const notFed = reports.filter((r) => r.status !== 'fed').map((r) => [r.rule, r.status, r.by]);
    expect(notFed).toEqual([
      ['Long-Lived Service Account Token Created', 'starved', pin],
      ['Workload Service Account Denied By RBAC', 'partly_fed', pin],
      ['Impersonated Request', 'partly_fed', pin],
    ]);
  });
});
