// FALCO-SEMANTICS.md §5: exceptions, compiled into condition text as Falco does.
import { describe, expect, it } from 'vitest';
import { ev, message, q, runCli, scan } from './lib.js';

const EVENTS = [
  ev({ auditID: 'alice' }),
  ev({ auditID: 'bob', 'user/username': 'bob', 'user/groups': ['system:authenticated'], 'objectRef/namespace': 'kube-system' }),
  ev({ auditID: 'john doe', 'user/username': 'john doe', 'user/groups': undefined }),
  ev({ auditID: 'x', 'user/username': 'x', 'user/groups': undefined }),
];
const EVERYONE = ['alice', 'bob', 'john doe', 'x'];

const exRule = (name: string, exceptions: string, cond = 'ka.verb = create'): string =>
  `- rule: ${name}\n  desc: d\n  condition: ${q(cond)}\n  output: "%jevt.value[/auditID]"\n  priority: WARNING\n  source: k8s_audit\n  exceptions:\n${exceptions}`;

const ROWS: Array<[string, string, string[], string?]> = [
  ['tuple [name, namespace] = [[alice, default]]', '  - name: e\n    fields: [ka.user.name, ka.target.namespace]\n    values: [[alice, default]]\n', ['bob', 'john doe', 'x']],
  ['tuple comps [=, in] with a list value', '  - name: e\n    fields: [ka.user.name, ka.target.namespace]\n    comps: [=, in]\n    values: [[alice, [kube-system, default]]]\n', ['bob', 'john doe', 'x']],
  ['tuple comps [in] with a list name', '  - name: e\n    fields: [ka.user.name]\n    comps: [in]\n    values: [[users_l]]\n', ['alice', 'john doe', 'x']],
  ['single field, values [alice, bob]', '  - name: e\n    fields: ka.user.name\n    values: [alice, bob]\n', ['john doe', 'x']],
  ['single field, values [users_l]', '  - name: e\n    fields: ka.user.name\n    values: [users_l]\n', ['alice', 'john doe', 'x']],
  ['single field, values ["x,alice"] pasted as two values', '  - name: e\n    fields: ka.user.name\n    values: ["x,alice"]\n', ['bob', 'john doe']],
  ['single field, values ["john doe"] (quoted: has a space)', '  - name: e\n    fields: ka.user.name\n    values: ["john doe"]\n', ['alice', 'bob', 'x']],
  ['two exceptions', '  - name: e1\n    fields: [ka.user.name]\n    values: [[nobody]]\n  - name: e2\n    fields: [ka.target.namespace]\n    values: [[default]]\n', ['bob']],
  ['fields with no values: no effect', '  - name: e\n    fields: [ka.user.name]\n', EVERYONE],
  ['absent field: = is false', '  - name: e\n    fields: [ka.impuser.name]\n    values: [[x]]\n', EVERYONE],
  ['absent field: != is false too', '  - name: e\n    fields: [ka.impuser.name]\n    comps: ["!="]\n    values: [[x]]\n', EVERYONE],
  ['comps [startswith]', '  - name: e\n    fields: [ka.user.name]\n    comps: [startswith]\n    values: [[ali]]\n', ['bob', 'john doe', 'x']],
  ['condition with or is parenthesised', '  - name: e\n    fields: [ka.user.name]\n    values: [[alice]]\n', ['bob', 'john doe', 'x'], 'ka.verb = delete or ka.verb = create'],
  ['intersects on a list field with a list value', '  - name: e\n    fields: [ka.user.groups]\n    comps: [intersects]\n    values: [[[devs]]]\n', ['bob', 'john doe', 'x']],
  ['single field with comps pmatch', '  - name: e\n    fields: ka.uri\n    comps: pmatch\n    values: [/api/v1/namespaces]\n', []],
  ['single field with a modifier comp', '  - name: e\n    fields: ka.user.name\n    comps: startswith anyof\n    values: [al, jo]\n', ['bob', 'x']],
  ['empty comps are no comps: = for each field', '  - name: e\n    fields: [ka.user.name]\n    comps: []\n    values: [[alice]]\n', ['bob', 'john doe', 'x']],
  ['a null value is an empty one: in () excludes no one', '  - name: e\n    fields: ka.user.name\n    values: [~]\n', EVERYONE],
];

describe('§5 exceptions', () => {
  it('each exception form excludes exactly the events of the table', async () => {
    const text = '- list: users_l\n  items: [bob, carol]\n' + ROWS.map(([, ex, , cond], i) => exRule(`R${i}`, ex, cond)).join('');
    const run = await scan({ rules: [text], events: EVENTS, args: ['--rule-matching', 'all'] });
    expect(run.status, run.stderr).toBe(0);
    const got = ROWS.map(([what], i) => [what, run.alerts.filter((a) => a.rule === `R${i}`).map(message)]);
    expect(got).toEqual(ROWS.map(([what, , fires]) => [what, fires]));
  });

  it.concurrent('single-field form with comps "=" is LOAD_ERR_VALIDATE', async () => {
    const run = await scan({ rules: [exRule('R', '  - name: e\n    fields: ka.user.name\n    comps: "="\n    values: [alice]\n')], events: EVENTS });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('LOAD_ERR_VALIDATE');
    expect(run.stderr).toContain('When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator');
    expect(run.stderr).toMatch(/f1\.yaml:8:5: /);
    expect(run.stdout).toBe('');
  });

  it.concurrent('a later file appends values (override: {exceptions: append}): alice no longer fires', async () => {
    const f1 = exRule('R', '  - name: u\n    fields: [ka.user.name]\n    values: [[bob]]\n');
    const f2 = '- rule: R\n  exceptions:\n  - name: u\n    values: [[alice]]\n  override:\n    exceptions: append\n';
    const before = await scan({ rules: [f1], events: EVENTS });
    expect(before.alerts.map(message)).toEqual(['alice', 'john doe', 'x']);
    const after = await scan({ rules: [f1, f2], events: EVENTS });
    expect(after.alerts.map(message)).toEqual(['john doe', 'x']);
  });

  it.concurrent('exceptions: replace drops the earlier exceptions', async () => {
    const f1 = exRule('R', '  - name: u\n    fields: [ka.user.name]\n    values: [[bob]]\n');
    const f2 = '- rule: R\n  exceptions:\n  - name: v\n    fields: [ka.target.namespace]\n    comps: [=]\n    values: [[kube-system]]\n  override:\n    exceptions: replace\n';
    const run = await scan({ rules: [f1, f2], events: EVENTS });
    expect(run.status, run.stderr).toBe(0);
    expect(run.alerts.map(message)).toEqual(['alice', 'john doe', 'x']);
  });

  // Falco does not default comps on replace (rule_loader_collector.cpp selective_replace):
  // its condition text breaks. Peregrine refuses with a located error, never crashes.
  for (const [what, ex] of [
    ['tuple', '  - name: v\n    fields: [ka.target.namespace]\n    values: [[kube-system]]\n'],
    ['single field', '  - name: v\n    fields: ka.target.namespace\n    values: [kube-system]\n'],
  ]) {
    it.concurrent(`exceptions: replace without comps (${what}) is a load error`, async () => {
      const f1 = exRule('R', '  - name: u\n    fields: [ka.user.name]\n    values: [[bob]]\n');
      const f2 = `- rule: R\n  exceptions:\n${ex}  override:\n    exceptions: replace\n`;
      const run = await scan({ rules: [f1, f2], events: EVENTS });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/f2\.yaml:3:5: LOAD_ERR_VALIDATE: Replaced exception 'v' must give comps/);
    });
  }

  it.concurrent('exception errors point at the exception (rules check)', async () => {
    const run = await scan({ rules: [exRule('R', '  - name: e\n    fields: [ka.user.name, ka.verb]\n    values: [[alice]]\n')], events: EVENTS });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/f1\.yaml:8:5: LOAD_ERR_VALIDATE: Fields and values lists must have equal length/);
    const bad = await scan({ rules: [exRule('R', '  - name: e\n    fields: [ka.nosuch]\n    values: [[alice]]\n')], events: EVENTS });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("LOAD_ERR_VALIDATE: 'ka.nosuch' is not a supported filter field");
    void runCli;
  });
});
