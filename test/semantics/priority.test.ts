// FALCO-SEMANTICS.md §2: priority spellings, invalid priorities, --min-priority.
import { describe, expect, it } from 'vitest';
import { ev, message, rulesYaml, ruleYaml, scan } from './lib.js';

describe('§2 priorities', () => {
  const spellings: Array<[string, string]> = [
    ['emergency', 'Emergency'], ['EMERGENCY', 'Emergency'], ['Alert', 'Alert'], ['alert', 'Alert'], ['CRITICAL', 'Critical'],
    ['error', 'Error'], ['ERROR', 'Error'], ['warning', 'Warning'], ['WARNING', 'Warning'], ['notice', 'Notice'],
    ['NOTICE', 'Notice'], ['informational', 'Informational'], ['INFORMATIONAL', 'Informational'],
    ['Informational', 'Informational'], ['info', 'Informational'], ['INFO', 'Informational'], ['Info', 'Informational'],
    ['debug', 'Debug'], ['DEBUG', 'Debug'], ['wArNiNg', 'Warning'],
  ];

  it('spellings are case-insensitive, `info` is an alias; JSON and text use the canonical name', async () => {
    const rules = spellings.map(([p], i) => ({ name: `p${i}`, condition: 'ka.verb = create', output: 'o', priority: p }));
    const run = await scan({ rules: [rulesYaml(rules)], events: [ev()], args: ['--rule-matching', 'all'] });
    expect(run.status).toBe(0);
    expect(run.alerts.map((a) => a.priority)).toEqual(spellings.map(([, n]) => n));
    expect(run.alerts.map((a) => a.output)).toEqual(spellings.map(([, n]) => `17:06:01.792123000: ${n} o`));
  });

  for (const bad of ['Warn', 'information', 'Debugging']) {
    it.concurrent(`priority ${bad} is LOAD_ERR_YAML_VALIDATE Invalid priority (exit 2)`, async () => {
      const run = await scan({ rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create', priority: bad })], events: [ev()] });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/f1\.yaml:5:13: LOAD_ERR_YAML_VALIDATE: Invalid priority/);
      expect(run.stdout).toBe('');
    });
  }

  const all = ['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG'];
  const names = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
  const cases: Array<[string, number]> = [['warning', 5], ['WARNING', 5], ['info', 7], ['Informational', 7], ['emergency', 1], ['debug', 8], ['error', 4]];
  for (const [min, n] of cases) {
    it.concurrent(`--min-priority ${min} keeps the ${n} most severe levels`, async () => {
      const rules = all.map((p, i) => ({ name: `p${i}`, condition: 'ka.verb = create', output: 'o', priority: p }));
      const run = await scan({ rules: [rulesYaml(rules)], events: [ev()], args: ['--rule-matching', 'all', '--min-priority', min] });
      expect(run.status).toBe(0);
      expect(run.alerts.map((a) => a.priority)).toEqual(names.slice(0, n));
    });
  }

  it.concurrent('--min-priority bogus: usage error (exit 2), Unknown priority', async () => {
    const run = await scan({ rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create' })], events: [ev()], args: ['--min-priority', 'bogus'] });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Unknown priority "bogus"');
    expect(run.stdout).toBe('');
  });

  it.concurrent('rules below the minimum are not in the ruleset: they do not shadow later rules under first', async () => {
    const rules = [rulesYaml([
      { name: 'Low', condition: 'ka.verb = create', output: 'low', priority: 'debug' },
      { name: 'High', condition: 'ka.verb = create', output: 'high', priority: 'error' },
    ])];
    const filtered = await scan({ rules, events: [ev()], args: ['--min-priority', 'warning'] });
    expect(filtered.alerts.map((a) => [a.rule, message(a)])).toEqual([['High', 'high']]);
    const unfiltered = await scan({ rules, events: [ev()] });
    expect(unfiltered.alerts.map((a) => a.rule)).toEqual(['Low']);
  });
});
