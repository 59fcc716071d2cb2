// FALCO-SEMANTICS.md §4: which rule wins under rule_matching first, and the order of
// alerts under all, across files, redefinitions, overrides and enable/disable.
import { describe, expect, it } from 'vitest';
import { ev, message, ruleYaml, runCli, scan } from './lib.js';

const rule = (name: string, prio: string, out: string, extra = '', cond = 'ka.verb = create'): string =>
  ruleYaml({ name, condition: cond, output: out, priority: prio, extra });

const F1 = rule('C', 'notice', 'C1', '  enabled: false\n') + rule('A', 'debug', 'A1') + rule('B', 'emergency', 'B1');

interface Row {
  what: string;
  f2?: string;
  first: [string, string] | null;
  all: string[];
  /** A warning `rules check` must print for f2 (deprecations). */
  warning?: string;
}

const ROWS: Row[] = [
  { what: '(none)', first: ['A', 'Debug A1'], all: ['A', 'B'] },
  { what: 'A fully redefined, matching, warning, A2', f2: rule('A', 'warning', 'A2'), first: ['A', 'Warning A2'], all: ['A', 'B'] },
  { what: 'A fully redefined, not matching', f2: rule('A', 'warning', 'A2', '', 'ka.verb = delete'), first: ['B', 'Emergency B1'], all: ['B'] },
  { what: '- rule: C + enabled: true (deprecated)', f2: '- rule: C\n  enabled: true\n', first: ['C', 'Notice C1'], all: ['C', 'A', 'B'], warning: "The standalone 'enabled' key usage is deprecated" },
  { what: 'C enabled with override enabled: replace', f2: '- rule: C\n  enabled: true\n  override:\n    enabled: replace\n', first: ['C', 'Notice C1'], all: ['C', 'A', 'B'] },
  { what: 'C fully redefined (no enabled key) is enabled again', f2: rule('C', 'notice', 'C2'), first: ['C', 'Notice C2'], all: ['C', 'A', 'B'] },
  { what: '- rule: A + enabled: false', f2: '- rule: A\n  enabled: false\n', first: ['B', 'Emergency B1'], all: ['B'], warning: "The standalone 'enabled' key usage is deprecated" },
  { what: 'A condition append (override)', f2: `- rule: A\n  condition: and ka.verb = delete\n  override:\n    condition: append\n`, first: ['B', 'Emergency B1'], all: ['B'] },
  { what: 'A condition append (legacy append: true)', f2: `- rule: A\n  condition: and ka.verb = delete\n  append: true\n`, first: ['B', 'Emergency B1'], all: ['B'], warning: "'append' key is deprecated" },
  { what: 'A output replace', f2: `- rule: A\n  output: A-replaced %ka.verb\n  override:\n    output: replace\n`, first: ['A', 'Debug A-replaced create'], all: ['A', 'B'] },
  { what: 'A condition replace, non-matching', f2: `- rule: A\n  condition: ka.verb = delete\n  override:\n    condition: replace\n`, first: ['B', 'Emergency B1'], all: ['B'] },
  { what: 'A priority replace EMERGENCY', f2: `- rule: A\n  priority: EMERGENCY\n  override:\n    priority: replace\n`, first: ['A', 'Emergency A1'], all: ['A', 'B'] },
  { what: 'new rule D (matching) + A disabled', f2: rule('D', 'warning', 'D1') + '- rule: A\n  enabled: false\n  override:\n    enabled: replace\n', first: ['B', 'Emergency B1'], all: ['B', 'D'] },
];

describe('§4 rule_matching first / all: the slot of the first definition', () => {
  for (const r of ROWS) {
    it.concurrent(r.what, async () => {
      const rules = r.f2 === undefined ? [F1] : [F1, r.f2];
      const [first, all] = await Promise.all([
        scan({ rules, events: [ev()] }),
        scan({ rules, events: [ev()], args: ['--rule-matching', 'all'] }),
      ]);
      expect(first.status, first.stderr).toBe(0);
      expect(first.alerts.map((a) => [a.rule, `${a.priority as string} ${message(a)}`])).toEqual(r.first ? [r.first] : []);
      expect(first.alerts.every((a) => (a.output as string).includes(`: ${a.priority as string} `))).toBe(true);
      expect(all.alerts.map((a) => a.rule)).toEqual(r.all);
      if (r.f2 !== undefined) {
        const check = await runCli(['rules', 'check', ...first.ruleFiles]);
        expect(check.status).toBe(0);
        if (r.warning) expect(check.stderr).toMatch(new RegExp(`f2\\.yaml:1:3: warning LOAD_DEPRECATED_ITEM: ${r.warning.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        else expect(check.stderr).not.toContain('LOAD_DEPRECATED_ITEM');
      }
    });
  }

  it.concurrent('the same file defining A, B, then A again: A fires with A2, no warning', async () => {
    const rules = [rule('A', 'debug', 'A1') + rule('B', 'emergency', 'B1') + rule('A', 'warning', 'A2')];
    const run = await scan({ rules, events: [ev()] });
    expect(run.alerts.map((a) => [a.rule, message(a)])).toEqual([['A', 'A2']]);
    const all = await scan({ rules, events: [ev()], args: ['--rule-matching', 'all'] });
    expect(all.alerts.map((a) => a.rule)).toEqual(['A', 'B']);
    const check = await runCli(['rules', 'check', run.ruleFiles[0]]);
    expect(check.stderr).toBe('');
  });

  it.concurrent('priority plays no part: an Emergency rule after a Debug rule does not win', async () => {
    const rules = [rule('Low', 'debug', 'low') + rule('High', 'emergency', 'high')];
    const run = await scan({ rules, events: [ev(), ev({ verb: 'delete' })] });
    expect(run.alerts.map((a) => a.rule)).toEqual(['Low']);
  });

  it.concurrent('rules of a third file keep the order of first definitions across all files', async () => {
    const f1 = rule('X', 'warning', 'X1', '', 'ka.verb = delete') + rule('Y', 'warning', 'Y1');
    const f2 = rule('Z', 'warning', 'Z1') + rule('X', 'warning', 'X2');
    const f3 = `- rule: Y\n  enabled: false\n  override:\n    enabled: replace\n`;
    const first = await scan({ rules: [f1, f2, f3], events: [ev()] });
    expect(first.alerts.map((a) => [a.rule, message(a)])).toEqual([['X', 'X2']]);
    const all = await scan({ rules: [f1, f2, f3], events: [ev()], args: ['--rule-matching', 'all'] });
    expect(all.alerts.map((a) => a.rule)).toEqual(['X', 'Z']);
  });
});
