// FALCO-SEMANTICS.md §3: operator load errors and the evaluation tables.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ev, firesOn, ruleYaml, runCli, scan, tempDir } from './lib.js';

const P = ev({ auditID: 'P' });
const A = ev({ auditID: 'A', user: undefined, responseStatus: undefined, requestURI: undefined });
const E = ev({ auditID: 'E', 'user/username': '', 'user/groups': [], 'responseStatus/code': 'x' });

/** condition → which of P, A, E it fires on, written as three chars (T or .). */
const TABLE: Array<[string, string]> = [
  ['ka.user.name = alice', 'T..'],
  ['not ka.user.name = alice', '.TT'],
  ['ka.user.name != alice', '..T'],
  ['ka.user.name != bob', 'T.T'],
  ['not ka.user.name != alice', 'TT.'],
  ['ka.user.name in (alice, bob)', 'T..'],
  ['ka.user.name in alice', 'T..'],
  ['ka.user.name intersects (alice)', 'T..'],
  ['ka.user.name contains lic', 'T..'],
  ['ka.user.name contains LIC', '...'],
  ['ka.user.name icontains LIC', 'T..'],
  ['ka.user.name startswith al', 'T..'],
  ['ka.user.name endswith ce', 'T..'],
  ['ka.user.name glob a*e', 'T..'],
  ['ka.user.name glob "a?ice"', 'T..'],
  ['ka.user.name glob A*', '...'],
  ['ka.user.name iglob "AL*"', 'T..'],
  ['ka.user.name regex lic', '...'],
  ['ka.user.name regex "^al.*$"', 'T..'],
  ['ka.user.name regex "A.*"', '...'],
  ['ka.user.name exists', 'T.T'],
  ['ka.user.name = ""', '..T'],
  ['ka.user.name in ("")', '..T'],
  ['ka.user.name contains ""', 'T.T'],
  ['ka.user.name startswith ""', 'T.T'],
  ['ka.user.name glob "*"', 'T.T'],
  ['ka.user.name regex ".*"', 'T.T'],
  ['ka.user.groups in (devs)', '...'],
  ['ka.user.groups in (devs, system:authenticated, x)', 'T..'],
  ['ka.user.groups intersects (devs)', 'T..'],
  ['ka.user.groups intersects (x, y)', '...'],
  ['ka.user.groups exists', 'T..'],
  ['jevt.rawtime exists', 'TTT'],
  ['not jevt.rawtime exists', '...'],
  ['jevt.rawtime exists and not json.rawtime exists', '...'],
  // Constant parts fold away (src/rules/compile-condition.ts) without changing results.
  ['ka.user.name exists or not jevt.rawtime exists', 'T.T'],
  ['not (ka.user.name = "" and not jevt.rawtime exists)', 'TTT'],
  ['ka.user.name exists and (not jevt.rawtime exists or jevt.rawtime exists)', 'T.T'],
  ['not jevt.rawtime exists or not json.rawtime exists', '...'],
  ['not (not jevt.rawtime exists or ka.user.name = "")', 'TT.'],
  ['not ka.user.groups exists', '.TT'],
  ['ka.response.code = 201', 'T..'],
  ['ka.response.code in (201, 404)', 'T..'],
  ['ka.response.code = 201.0', '...'],
  ['ka.response.code < 1000', '...'],
  ['ka.response.code > 99', '..T'],
  ['ka.response.code < 3', 'T..'],
  ['ka.response.code > 2', 'T.T'],
  ['ka.response.code < 300', 'T..'],
  ['ka.response.code >= 201', 'T.T'],
  ['ka.response.code <= 201', 'T..'],
  ['ka.response.code != 201', '..T'],
  // bullets
  ['ka.uri glob "/api/*"', 'T.T'],
  ['ka.uri glob "/api/v1/*/default/pods"', 'T.T'],
  ['ka.uri glob "/API/*"', '...'],
  ['ka.uri iglob "/API/*"', 'T.T'],
  ['ka.uri pmatch (/api/v1)', 'T.T'],
  ['ka.uri pmatch (/api/v)', '...'],
  ['ka.uri pmatch (/nope, /api/v1/namespaces)', 'T.T'],
  ['ka.user.name startswith anyof (al, zz)', 'T..'],
  ['ka.user.name startswith allof (al, a)', 'T..'],
  ['ka.user.name contains allof (li, ce)', 'T..'],
  ['ka.user.name = anyof (bob, alice)', 'T..'],
  ['ka.user.name startswith oneof (al, ali)', '...'],
  ['ka.user.name startswith oneof (al, zz)', 'T..'],
  ['ka.user.name == alice', 'T..'],
  ['ka.user.name exists or ka.impuser.name = x and ka.verb = nope', 'T.T'],
  ['(ka.user.name exists or ka.impuser.name = x) and ka.verb = nope', '...'],
  ['not ka.req.pod.host_network = true', 'TTT'],
  ['jevt.value[/responseStatus/code] = 201', 'T..'],
  ['jevt.value[/responseStatus/code] startswith 2', 'T..'],
  ['jevt.value[/user/username] contains lic', 'T..'],
  ['ka.response.code startswith 2', 'T..'],
  ['ka.response.code regex "[0-9]+"', 'T..'],
  ['ka.response.code regex "[[:digit:]]{3}"', 'T..'],
  ['ka.user.name regex "[a-z]+"', 'T..'],
  ['ka.user.name regex "[^0-9]+"', 'T..'],
  ['ka.user.name regex "a(l|x)ice|bob"', 'T..'],
];

describe('§3 operator evaluation (P = B, A = user/responseStatus/requestURI removed, E = empty values)', () => {
  it('every condition fires exactly on the events of the table', async () => {
    const { fired, run } = await firesOn(TABLE.map(([c]) => c), [P, A, E]);
    expect(run.status).toBe(0);
    const got = TABLE.map(([c], i) => [c, ['P', 'A', 'E'].map((id) => (fired[i].includes(id) ? 'T' : '.')).join('')]);
    expect(got).toEqual(TABLE);
  });

  it('regex warns that a simple regex could be a simpler operator (rules check)', async () => {
    const dir = tempDir();
    const f = join(dir, 'r.yaml');
    writeFileSync(f, ruleYaml({ name: 'R', condition: 'ka.verb = create and ka.user.name regex lic' }));
    const r = await runCli(['rules', 'check', f]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`${f}:3:55: warning LOAD_COMPILE_CONDITION: regex check with 'lic' may be optimized`);
  });

  it('warns when a constant looks like a field or a transformer (libsinsp check_value_and_add_warnings)', async () => {
    const dir = tempDir();
    const f = join(dir, 'r.yaml');
    const cond = 'ka.verb = ka.user.name or ka.verb in (create, "ka.uri.param[x]", jevt.value, "tolower(ka.verb)", "nosuch.field", "tolower(x")';
    writeFileSync(f, ruleYaml({ name: 'R', condition: cond }));
    const r = await runCli(['rules', 'check', f]);
    expect(r.status).toBe(0);
    const warned = [...r.stderr.matchAll(/'([^']*)' may be a valid field( transformer)? misused/g)].map((m) => [m[1], m[2] !== undefined]);
    expect(warned).toEqual([['ka.user.name', false], ['ka.uri.param[x]', false], ['tolower(ka.verb)', true]]);
  });

  it('jevt.rawtime = N compares the event time in nanoseconds as text (k8s_audit_never_true is = 0)', async () => {
    const ns = `${Date.parse('2025-10-23T17:06:01Z') / 1000}792123000`;
    // Before 1970: Go's UnixNano as uint64, printed as such.
    const O = ev({ auditID: 'O', stageTimestamp: '1969-12-31T23:59:59.5Z' });
    const before = (2n ** 64n - 500_000_000n).toString();
    const sameSecond = `${ns.slice(0, -9)}000000000`;
    // `or ka.verb = nope` keeps the rule index from deciding before the comparison runs.
    const conds = [`jevt.rawtime = ${ns}`, `json.rawtime = ${ns}`, 'jevt.rawtime = 0', `jevt.rawtime = 0${ns}`, `jevt.rawtime = ${ns}0`,
      `jevt.rawtime = ${sameSecond} or ka.verb = nope`, `jevt.rawtime = ${before}`, 'not jevt.rawtime = 0'];
    const { fired } = await firesOn(conds, [P, O]);
    expect(fired).toEqual([['P'], ['P'], [], [], [], [], ['O'], ['P', 'O']]);
  });

  it('val(): compares two fields; absent on either side makes = and != false', async () => {
    const I = ev({ auditID: 'I', impersonatedUser: { username: 'alice' } });
    const J = ev({ auditID: 'J', impersonatedUser: { username: 'bob' } });
    const K = ev({ auditID: 'K', user: undefined, impersonatedUser: { username: 'bob' } });
    const conds = [
      'ka.user.name = val(ka.impuser.name)',
      'ka.user.name != val(ka.impuser.name)',
      'ka.impuser.name = val(ka.user.name)',
      'ka.impuser.name != val(ka.user.name)',
      'not ka.user.name = val(ka.impuser.name)',
    ];
    const { fired } = await firesOn(conds, [P, I, J, K]);
    expect(fired).toEqual([['I'], ['J'], ['I'], ['J'], ['P', 'J', 'K']]);
  });

  it('a NUL ends a constant, as libsinsp reads constants as C strings', async () => {
    const AL = ev({ auditID: 'AL', 'user/username': 'al' });
    const { fired, run } = await firesOn(['ka.user.name = "al\0xyz"', 'ka.user.name in (bob, "al\0")', 'ka.user.name = "\0al"'], [P, AL]);
    expect(run.status, run.stderr).toBe(0);
    expect(fired).toEqual([['AL'], ['AL'], []]);
  });

  it('quoted strings: "a\\"b" and \'a"b\' both equal a"b', async () => {
    const Q = ev({ auditID: 'Q', 'user/username': 'a"b' });
    const { fired } = await firesOn(['ka.user.name = "a\\"b"', "ka.user.name = 'a\"b'", 'ka.user.name in ("a\\"b", x)'], [P, Q]);
    expect(fired).toEqual([['Q'], ['Q'], ['Q']]);
  });

  it('ka.target.namespace != foo does not fire when objectRef is absent; the not-form does', async () => {
    const N = ev({ auditID: 'N', objectRef: undefined });
    const { fired } = await firesOn(['ka.target.namespace != foo', 'not ka.target.namespace = foo'], [P, N]);
    expect(fired).toEqual([['P'], ['P', 'N']]);
  });
});

describe('§3 operator load errors (LOAD_ERR_COMPILE_CONDITION, whole file rejected, exit 2)', () => {
  const cases: Array<[string, string]> = [
    ['ka.user.groups startswith anyof (de, sy)', "filter error: 'startswith' operator not supported list filters"],
    ['ka.user.groups = anyof (devs)', "filter error: '=' operator not supported list filters"],
    ['ka.user.groups bcontains 64', "filter error: 'bcontains' operator not supported list filters"],
    ['ka.user.groups bstartswith 64', "filter error: 'bstartswith' operator not supported list filters"],
    ['ka.user.groups = val(ka.user.groups)', "filter error: '=' operator not supported list filters"],
    ['ka.user.name bcontains 616c', "filter error: 'bcontains' operator not supported for string filters"],
    ['ka.user.name bstartswith 616c', "filter error: 'bstartswith' operator not supported for string filters"],
    ['ka.response.code bcontains 32', "filter error: 'bcontains' operator not supported for string filters"],
    ['jevt.value[/verb] bstartswith 63', "filter error: 'bstartswith' operator not supported for string filters"],
    ['ka.user.name < b', 'expected a number value or a field with a valid transformer'],
    ['ka.user.groups[0] = devs', 'ka.user.groups does not allow nor require an argument but one is provided: 0'],
    ['ka.req.pod.containers.image[x] exists', 'ka.req.pod.containers.image has an invalid index argument not composed only by digits: x'],
    ['ka.req.pod.containers.image[01] exists', 'ka.req.pod.containers.image has an invalid index argument starting with 0: 01'],
    ['ka.uri = /x?command=a', "unexpected token after '/x?command'"],
    ['ka.user.name in (ali ce)', "expected a ')' token"],
    ['ka.user.name regex "[z-a]"', 'invalid regex pattern: invalid character class range: z-a'],
    ['ka.user.name regex "\\\\d+"', 'invalid regex pattern: invalid escape sequence: \\d'],
  ];
  for (const [cond, msg] of cases) {
    it.concurrent(cond, async () => {
      const good = ruleYaml({ name: 'Good', condition: 'ka.verb = create' });
      const run = await scan({ rules: [good + ruleYaml({ name: 'Bad', condition: cond })], events: [P] });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('LOAD_ERR_COMPILE_CONDITION');
      expect(run.stderr).toContain(msg);
      expect(run.stdout).toBe('');
    });
  }

  it.concurrent('list fields accept in, intersects and exists', async () => {
    const { fired, run } = await firesOn(['ka.user.groups in (devs, system:authenticated)', 'ka.user.groups intersects (devs)', 'ka.user.groups exists'], [P]);
    expect(run.status).toBe(0);
    expect(fired).toEqual([['P'], ['P'], ['P']]);
  });
});

// Falco >= 0.36 rejects every other operator on a list field. Peregrine deliberately loads
// such legacy rules (the conformance suite's engine_v4 rules need it, see
// test/fixtures/falco-k8saudit/README.md) with a located warning quoting Falco's
// error, and `rules check --strict` fails with that error.
describe('§3 other operators on list fields: Falco error, Peregrine legacy mode', () => {
  const listOps = ['=', '!=', 'contains', 'icontains', 'startswith', 'endswith', 'glob', 'iglob', 'pmatch', 'regex', '<', '<=', '>', '>='];
  const value = (op: string): string => (['<', '<=', '>', '>='].includes(op) ? '1' : op === 'pmatch' ? '(/x)' : 'devs');
  const file = listOps.map((op, i) => ruleYaml({ name: `L${i}`, condition: `ka.verb = create and ka.user.groups ${op} ${value(op)}` })).join('');

  it.concurrent('rules check --strict: each is Falco\'s "operator not supported list filters" error, located', async () => {
    const dir = tempDir();
    const f = join(dir, 'legacy.yaml');
    writeFileSync(f, file);
    const r = await runCli(['rules', 'check', '--strict', f]);
    expect(r.status).toBe(2);
    listOps.forEach((op, i) => {
      // rule i starts at line 6*i+1; its condition is on line +2, `ka.user.groups` at column 36.
      expect(r.stderr).toContain(`${f}:${6 * i + 3}:36: warning LOAD_LEGACY_LIST_OPERATOR:`);
      expect(r.stderr).toContain(`${f}:${6 * i + 3}:36: error LOAD_LEGACY_LIST_OPERATOR: '${op}' on list field`);
      expect(r.stderr).toContain(`(filter error: '${op}' operator not supported list filters)`);
    });
  });

  it.concurrent('scan loads them with a located warning and evaluates "any element"', async () => {
    const conds = ['ka.user.groups = devs', 'ka.user.groups != devs', 'ka.user.groups contains dev', 'ka.user.groups startswith system',
      'ka.user.groups glob "d*"', 'ka.user.groups regex "[a-z]+"', 'ka.user.groups = nobody', 'ka.user.groups pmatch (/x)'];
    const { fired, run } = await firesOn(conds, [P, A, E]);
    expect(run.status).toBe(0);
    expect(fired).toEqual([['P'], ['P'], ['P'], ['P'], ['P'], ['P'], [], []]);
    expect(run.stderr).toMatch(/f1\.yaml:3:15: warning LOAD_LEGACY_LIST_OPERATOR: '=' on list field 'ka\.user\.groups'.*filter error: '=' operator not supported list filters/);
  });
});
