// FALCO-SEMANTICS.md §6: lists are text substitution, macros are AST substitution,
// condition append is text concatenation.
import { describe, expect, it } from 'vitest';
import { ev, message, ruleYaml, runCli, scan } from './lib.js';

const EVENTS = [
  ev({ auditID: 'alice' }),
  ev({ auditID: 'carol smith', 'user/username': 'carol smith', 'responseStatus/code': 500 }),
  ev({ auditID: 'bob', 'user/username': 'bob', verb: 'delete' }),
  ev({ auditID: 'l_inner', 'user/username': 'l_inner' }),
];

const r = (name: string, cond: string): string => ruleYaml({ name, condition: cond, output: '%jevt.value[/auditID]' });

async function fired(text: string | string[]): Promise<Record<string, string[]>> {
  const run = await scan({ rules: Array.isArray(text) ? text : [text], events: EVENTS, args: ['--rule-matching', 'all'] });
  expect(run.status, run.stderr).toBe(0);
  const out: Record<string, string[]> = {};
  for (const a of run.alerts) (out[a.rule as string] ??= []).push(message(a));
  return out;
}

describe('§6 lists', () => {
  it('nested lists, number items, bare list names, literals, empty lists', async () => {
    const text = '- list: l_inner\n  items: [alice]\n- list: l_outer\n  items: [l_inner, "carol smith", 201]\n- list: empty_l\n  items: []\n'
      + '- list: a_l\n  items: [b_l]\n- list: b_l\n  items: [alice]\n'
      + r('outer', 'ka.user.name in (l_outer)') + r('code', 'ka.response.code in (l_outer)')
      + r('inner_bare', 'ka.user.name in l_inner') + r('eq_inner', 'ka.user.name = l_inner')
      + r('empty', 'ka.user.name in (empty_l)') + r('not_empty', 'not ka.user.name in (empty_l)')
      + r('undefined', 'ka.user.name in (undefined_l, alice)') + r('forward', 'ka.user.name in (a_l)')
      + r('mixed', 'ka.user.name in (bob,l_inner)');
    expect(await fired(text)).toEqual({
      outer: ['alice', 'carol smith'],
      code: ['alice', 'bob', 'l_inner'],
      inner_bare: ['alice'],
      eq_inner: ['alice'],
      not_empty: ['alice', 'carol smith', 'bob', 'l_inner'],
      undefined: ['alice'],
      forward: ['alice'],
      mixed: ['alice', 'bob'],
    });
  });

  it.concurrent('`in l_outer` (no parentheses) is a load error', async () => {
    const text = '- list: l_inner\n  items: [alice]\n- list: l_outer\n  items: [l_inner, "carol smith", 201]\n' + r('R', 'ka.user.name in l_outer');
    const run = await scan({ rules: [text], events: EVENTS });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('LOAD_ERR_COMPILE_CONDITION');
    expect(run.stderr).toContain("unexpected token after 'alice'");
  });

  it('no ordering: defined after the rule works; the last definition wins; items append', async () => {
    const f1 = r('after', 'ka.user.name in (later_l)') + '- list: later_l\n  items: [bob]\n'
      + '- list: redef_l\n  items: [bob]\n' + r('redef', 'ka.user.name in (redef_l)') + '- list: redef_l\n  items: [alice]\n'
      + '- list: file_l\n  items: [bob]\n' + r('file', 'ka.user.name in (file_l)')
      + '- list: app_l\n  items: [bob]\n' + r('app', 'ka.user.name in (app_l)');
    const f2 = '- list: file_l\n  items: [l_inner]\n- list: app_l\n  items: [alice]\n  override:\n    items: append\n';
    expect(await fired([f1, f2])).toEqual({ after: ['bob'], redef: ['alice'], file: ['l_inner'], app: ['alice', 'bob'] });
  });
});

describe('§6 macros', () => {
  it('substituted as a group; usable before definition in a rule; later body wins', async () => {
    const text = '- macro: M\n  condition: ka.user.name = bob or ka.user.name = zed\n'
      + r('group', 'not M and ka.verb in (create, delete)')
      + r('forward', 'later_m')
      + '- macro: later_m\n  condition: ka.user.name = "carol smith"\n'
      + '- macro: m2\n  condition: ka.user.name = nobody\n'
      + '- macro: m1\n  condition: m2 or ka.user.name = l_inner\n'
      + '- macro: m2\n  condition: ka.user.name = alice\n'
      + r('redef', 'm1');
    expect(await fired(text)).toEqual({ group: ['alice', 'carol smith', 'l_inner'], forward: ['carol smith'], redef: ['alice', 'l_inner'] });
  });

  it.concurrent('a macro using a macro first defined after it: Undefined macro', async () => {
    const text = '- macro: m1\n  condition: m2 and ka.verb = create\n- macro: m2\n  condition: ka.user.name = alice\n' + r('R', 'm1');
    const run = await scan({ rules: [text], events: EVENTS });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/f1\.yaml:2:14: LOAD_ERR_VALIDATE: Undefined macro 'm2' used in filter\./);
  });

  it.concurrent('an undefined macro in a rule: same error, located', async () => {
    const run = await scan({ rules: [r('R', 'ka.verb = create and nosuch_m')], events: EVENTS });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/f1\.yaml:3:36: LOAD_ERR_VALIDATE: Undefined macro 'nosuch_m' used in filter\./);
  });

  it.concurrent('unused lists and macros only warn', async () => {
    const run = await scan({ rules: ['- list: unused_l\n  items: [a]\n- macro: unused_m\n  condition: ka.verb = x\n' + r('R', 'ka.verb = create')], events: EVENTS });
    expect(run.status).toBe(0);
    expect(run.alerts).toHaveLength(3);
    const check = await runCli(['rules', 'check', run.ruleFiles[0]]);
    expect(check.status).toBe(0);
    expect(check.stderr).toMatch(/f1\.yaml:1:3: warning LOAD_UNUSED_LIST: List 'unused_l' not referred to by any other rule\/macro/);
    expect(check.stderr).toMatch(/f1\.yaml:3:3: warning LOAD_UNUSED_MACRO: Macro 'unused_m' not referred to by any other rule\/macro/);
  });
});

describe('§6 condition append is text concatenation (one space, no parentheses)', () => {
  it('rule and macro appends', async () => {
    const f1 = r('R', 'ka.verb = create or ka.verb = delete')
      + '- macro: M\n  condition: ka.user.name = bob and ka.verb = create\n' + r('RM', 'M')
      + r('Legacy', 'ka.verb = create or ka.verb = delete');
    const f2 = '- rule: R\n  condition: and ka.user.name = bob\n  override:\n    condition: append\n'
      + '- macro: M\n  condition: or ka.user.name = alice\n  override:\n    condition: append\n'
      + '- rule: Legacy\n  condition: and ka.user.name = bob\n  append: true\n';
    expect(await fired([f1, f2])).toEqual({
      R: ['alice', 'carol smith', 'bob', 'l_inner'],
      RM: ['alice'],
      Legacy: ['alice', 'carol smith', 'bob', 'l_inner'],
    });
  });
});


