// FALCO-SEMANTICS.md §1: output rendering (`output` text vs `output_fields`), transformers,
// `%` parsing, trimming, alert JSON layout and time formats — through `peregrine scan`.
import { describe, expect, it } from 'vitest';
import { type Row, checkRows, ev, message, renderRows, ruleYaml, rulesYaml, scan } from './lib.js';

describe('§1 output rendering: scalars, lists, missing values, escaping, uri params, json pointers', () => {
  const weird = 'a"b\\c\nd\tü€';
  const rows: Row[] = [
    { token: '%ka.user.name', text: 'alice', fields: { 'ka.user.name': 'alice' } },
    { token: '%ka.response.code', text: '201', fields: { 'ka.response.code': '201' } },
    { token: '%ka.req.pod.host_network', set: { 'requestObject/spec/hostNetwork': true }, text: 'true', fields: { 'ka.req.pod.host_network': 'true' } },
    { token: '%ka.req.pod.host_network', set: { 'requestObject/spec/hostNetwork': 'yes' }, text: 'yes', fields: { 'ka.req.pod.host_network': 'yes' } },
    { token: '%ka.req.pod.host_network', text: '<NA>', fields: { 'ka.req.pod.host_network': null } },
    { token: '%ka.req.pod.containers.image', set: { 'requestObject/spec/containers': [] }, text: '<NA>', fields: { 'ka.req.pod.containers.image': null } },
    { token: '%ka.req.pod.containers.image', text: '(nginx)', fields: { 'ka.req.pod.containers.image': ['nginx'] } },
    { token: '%ka.req.pod.containers.image', set: { 'requestObject/spec/containers': [{ name: 'a', image: 'nginx' }, { name: 'b', image: 'redis:7' }] }, text: '(nginx,redis:7)', fields: { 'ka.req.pod.containers.image': ['nginx', 'redis:7'] } },
    { token: '%ka.req.pod.containers.image', set: { requestObject: undefined }, text: '<NA>', fields: { 'ka.req.pod.containers.image': null } },
    { token: '%ka.user.groups', set: { 'user/groups': ['a,b', '', 'c d', 'q"x'] }, text: '(a,b,,c d,q"x)', fields: { 'ka.user.groups': ['a,b', '', 'c d', 'q"x'] } },
    { token: '%ka.user.groups', set: { 'user/groups': [] }, text: '<NA>', fields: { 'ka.user.groups': null } },
    { token: '%ka.impuser.name', text: '<NA>', fields: { 'ka.impuser.name': null } },
    { token: '%ka.useragent', set: { userAgent: '' }, text: '', fields: { 'ka.useragent': '' } },
    { token: '%ka.user.name', set: { 'user/username': weird }, text: weird, fields: { 'ka.user.name': weird } },
    { token: '%ka.uri.param[command]', set: { requestURI: '/api/v1/namespaces/default/pods/p1/exec?command=sh&command=-c&command=id' }, text: 'sh', fields: { 'ka.uri.param[command]': 'sh' } },
    { token: '%ka.uri.param[a]', set: { requestURI: '/api/v1/pods?a=%2Fetc%20x&a=2' }, text: '/etc x', fields: { 'ka.uri.param[a]': '/etc x' } },
    { token: '%ka.uri.param[command]', text: '<NA>', fields: { 'ka.uri.param[command]': null } },
    // url.Parse refuses the whole URI for its control byte (the NUL), not just what follows.
    { token: '%ka.uri.param[a]', set: { requestURI: '/api/v1/x?a=1\u0000&b=2' }, text: '<NA>', fields: { 'ka.uri.param[a]': null } },
    // A `//user@host` part as url.Parse checks it: userinfo and host bytes, %-escapes.
    ...['//h{/p?ab=1', '//us er@h/p?ab=1', '//u%zz@h/p?ab=1', '//h%41/p?ab=1', '//ü@h/p?ab=1'].map((requestURI): Row => (
      { token: '%ka.uri.param[ab]', set: { requestURI }, text: '<NA>', fields: { 'ka.uri.param[ab]': null } })),
    ...['//user:pass@host:8080/p?ab=1', '//h%c3%a9/p?ab=1', '//h%25/p?ab=1', '//[fe80::1%25en0]/p?ab=1'].map((requestURI): Row => (
      { token: '%ka.uri.param[ab]', set: { requestURI }, text: '1', fields: { 'ka.uri.param[ab]': '1' } })),
    { token: '%jevt.value[/user/username]', text: 'alice', fields: { 'jevt.value[/user/username]': 'alice' } },
    { token: '%jevt.value[/responseStatus/code]', text: '201', fields: { 'jevt.value[/responseStatus/code]': '201' } },
    { token: '%jevt.value[/user/groups]', text: '["system:authenticated","devs"]', fields: { 'jevt.value[/user/groups]': '["system:authenticated","devs"]' } },
    { token: '%jevt.value[/objectRef]', text: '{"resource":"pods","namespace":"default","name":"p1","apiVersion":"v1"}', fields: { 'jevt.value[/objectRef]': '{"resource":"pods","namespace":"default","name":"p1","apiVersion":"v1"}' } },
    { token: '%jevt.value[/sourceIPs/1]', text: '10.0.0.2', fields: { 'jevt.value[/sourceIPs/1]': '10.0.0.2' } },
    { token: '%jevt.value[/nope]', text: '<NA>', fields: { 'jevt.value[/nope]': null } },
  ];

  it('renders each row as Falco does, in text and in output_fields', async () => {
    checkRows(rows, await renderRows(rows));
  });

  it('escapes only what JSON requires; non-ASCII stays raw UTF-8 in output and output_fields', async () => {
    const run = await scan({
      rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: 'n=%ka.user.name' })],
      events: [ev({ 'user/username': weird })],
    });
    const line = run.stdout.trim();
    expect(line).toContain('"output":"17:06:01.792123000: Warning n=a\\"b\\\\c\\nd\\tü€"');
    expect(line).toContain('"ka.user.name":"a\\"b\\\\c\\nd\\tü€"');
    expect(line).not.toContain('\\u');
  });
});

describe('jevt.obj: the event indented by Go\'s json.Indent', () => {
  it('indents the event, and has no value when Go\'s scanner refuses an escape the plugin let through', async () => {
    const base = JSON.stringify({ kind: 'Event', auditID: 'a1', stage: 'ResponseComplete', verb: 'create', userAgent: 'UA', stageTimestamp: '2025-10-23T17:06:01.792123Z' });
    const run = await scan({
      rules: [ruleYaml({ name: 'R', condition: 'jevt.value[/verb] = create', output: '%jevt.obj' })],
      events: [base, base.replace('UA', 'a\\u00e9\\n'), base.replace('UA', 'a\\qb'), base.replace('UA', 'a\\u12')],
    });
    expect(run.status, run.stderr).toBe(0);
    const objs = run.alerts.map((a) => (a.output_fields as Record<string, unknown>)['jevt.obj']);
    expect(objs[0]).toBe('{\n  "kind": "Event",\n  "auditID": "a1",\n  "stage": "ResponseComplete",\n  "verb": "create",\n  "userAgent": "UA",\n  "stageTimestamp": "2025-10-23T17:06:01.792123Z"\n}');
    expect(objs[1]).toContain('"userAgent": "a\\u00e9\\n"');
    expect(objs.slice(2)).toEqual([null, null]);
  });
});

describe('§1 transformers in outputs', () => {
  const set = { 'user/username': 'YWxpY2U=', 'user/groups': ['g1', 'g2'] };
  const rows: Row[] = [
    { token: '%toupper(ka.user.name)', set, text: 'YWXPY2U=', fields: { 'ka.user.name': 'YWxpY2U=' } },
    { token: '%toupper(ka.user.name)', set: { 'user/username': 'üaß' }, text: 'üAß', fields: { 'ka.user.name': 'üaß' } },
    { token: '%tolower(ka.user.name)', set: { 'user/username': 'ÄBc' }, text: 'Äbc', fields: { 'ka.user.name': 'ÄBc' } },
    { token: '%b64(ka.user.name)', set, text: 'alice', fields: { 'ka.user.name': 'YWxpY2U=' } },
    { token: '%b64(ka.user.name)', set: { 'user/username': 'not base64!' }, text: '<NA>', fields: { 'ka.user.name': 'not base64!' } },
    { token: '%len(ka.user.groups)', set, text: '2', fields: { 'ka.user.groups': ['g1', 'g2'] } },
    { token: '%len(ka.user.name)', set, text: '8', fields: { 'ka.user.name': 'YWxpY2U=' } },
    { token: '%len(ka.user.groups)', set: { 'user/groups': undefined }, text: '<NA>', fields: { 'ka.user.groups': null } },
    { token: '%concat(ka.verb, ka.user.name)', set, text: 'createYWxpY2U=', fields: { 'ka.verb': 'create', 'ka.user.name': 'YWxpY2U=' } },
    { token: '%join(",", ka.user.groups)', set, text: 'g1,g2', fields: { 'ka.user.groups': ['g1', 'g2'] } },
    { token: '%basename(ka.uri)', set, text: 'pods', fields: { 'ka.uri': '/api/v1/namespaces/default/pods' } },
  ];

  it('renders transformed values in text, raw field values under the field keys', async () => {
    checkRows(rows, await renderRows(rows));
  });

  it('%val(...) in an output is a load error', async () => {
    const run = await scan({ rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: 'v=%val(ka.verb)' })], events: [ev()] });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('LOAD_ERR_COMPILE_OUTPUT');
    expect(run.stdout).toBe('');
  });
});

describe('§1 parsing % in outputs', () => {
  const uri = '/api/v1/namespaces/default/pods';
  const set = { requestURI: `${uri}?command=sh` };
  const rows: Row[] = [
    { token: '%ka.verbx', text: 'createx', fields: { 'ka.verb': 'create' } },
    { token: '%ka.verb.', text: 'create.', fields: { 'ka.verb': 'create' } },
    { token: '%ka.user.name%ka.verb', text: 'alicecreate', fields: { 'ka.user.name': 'alice', 'ka.verb': 'create' } },
    { token: '%ka.uri.param[command', set, text: `${uri}?command=sh.param[command`, fields: { 'ka.uri': `${uri}?command=sh` } },
    { token: '%ka.uri.param[]', set, text: `${uri}?command=sh.param[]`, fields: { 'ka.uri': `${uri}?command=sh` } },
    { token: '%ka.uri.param[ command ]', set, text: `${uri}?command=sh.param[ command ]`, fields: { 'ka.uri': `${uri}?command=sh` } },
    { token: '%ka.uri.param["command"]', set, text: 'sh', fields: { 'ka.uri.param[command]': 'sh' } },
    { token: "%ka.uri.param['command']", set, text: 'sh', fields: { 'ka.uri.param[command]': 'sh' } },
    { token: '%ka.user.groups[0]', text: '(system:authenticated,devs)[0]', fields: { 'ka.user.groups': ['system:authenticated', 'devs'] } },
    { token: '%jevt.value[/user/groups/0]', text: 'system:authenticated', fields: { 'jevt.value[/user/groups/0]': 'system:authenticated' } },
  ];

  it('takes the longest known field at each % and leaves the rest literal', async () => {
    checkRows(rows, await renderRows(rows));
  });

  for (const out of ['100% done', '%%', 'x %ka.nosuch y', 'ends with %']) {
    it.concurrent(`${JSON.stringify(out)} is LOAD_ERR_COMPILE_OUTPUT (no escape for a literal %)`, async () => {
      const run = await scan({ rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: out })], events: [ev()] });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/LOAD_ERR_COMPILE_OUTPUT/);
      if (out !== 'ends with %') expect(run.stderr).toMatch(/unknown filter/);
      expect(run.stdout).toBe('');
    });
  }

  it('trims leading and trailing whitespace of the output', async () => {
    const run = await scan({
      rules: [rulesYaml([
        { name: 'lead', condition: 'ka.verb = create', output: '  x' },
        { name: 'nl', condition: 'ka.verb = create', output: 'a\nb\n' },
        { name: 'both', condition: 'ka.verb = create', output: ' \t %ka.verb \n ' },
      ])],
      events: [ev()],
      args: ['--rule-matching', 'all'],
    });
    expect(run.alerts.map((a) => a.output)).toEqual([
      '17:06:01.792123000: Warning x',
      '17:06:01.792123000: Warning a\nb',
      '17:06:01.792123000: Warning create',
    ]);
  });

  it('a block scalar output (> folded, | literal) is trimmed too', async () => {
    const yaml = `- rule: R\n  desc: d\n  condition: ka.verb = create\n  output: >\n    user=%ka.user.name\n    verb=%ka.verb\n  priority: WARNING\n  source: k8s_audit\n`
      + `- rule: S\n  desc: d\n  condition: ka.verb = create\n  output: |\n    a\n    b\n  priority: WARNING\n  source: k8s_audit\n`;
    const run = await scan({ rules: [yaml], events: [ev()], args: ['--rule-matching', 'all'] });
    expect(run.alerts.map(message)).toEqual(['user=alice verb=create', 'a\nb']);
  });
});

describe('§1 alert JSON layout', () => {
  it('keys sorted, output_fields sorted with evt.time, tags sorted, [] without tags', async () => {
    const run = await scan({
      rules: [rulesYaml([
        { name: 'T', condition: 'ka.verb = create', output: 'u=%ka.user.name v=%ka.verb a=%ka.auditid', tags: ['zeta', 'alpha', 'k8s'] },
        { name: 'N', condition: 'ka.verb = create', output: 'plain' },
      ])],
      events: [ev()],
      args: ['--rule-matching', 'all'],
    });
    expect(run.status).toBe(0);
    const [t, n] = run.stdout.trim().split('\n');
    expect(Object.keys(JSON.parse(t))).toEqual(['hostname', 'output', 'output_fields', 'priority', 'rule', 'source', 'tags', 'time']);
    expect(t).toMatch(/^\{"hostname":"[^"]*","output":"17:06:01\.792123000: Warning u=alice v=create a=B","output_fields":\{"evt\.time":1761239161792123000,"ka\.auditid":"B","ka\.user\.name":"alice","ka\.verb":"create"\},"priority":"Warning","rule":"T","source":"k8s_audit","tags":\["alpha","k8s","zeta"\],"time":"2025-10-23T17:06:01\.792123000Z"\}$/);
    expect(n).toMatch(/"output_fields":\{"evt\.time":1761239161792123000\},"priority":"Warning","rule":"N","source":"k8s_audit","tags":\[\],"time":/);
  });
});

describe('§1 time', () => {
  const stamps: Array<[string, string, string, string | undefined]> = [
    ['2025-10-23T17:06:01Z', '17:06:01.000000000', '2025-10-23T17:06:01.000000000Z', '1761239161000000000'],
    ['2025-10-23T17:06:01.5Z', '17:06:01.500000000', '2025-10-23T17:06:01.500000000Z', '1761239161500000000'],
    ['2025-10-23T17:06:01.123456789Z', '17:06:01.123456789', '2025-10-23T17:06:01.123456789Z', '1761239161123456789'],
    ['2025-10-23T19:06:01.25+02:00', '17:06:01.250000000', '2025-10-23T17:06:01.250000000Z', '1761239161250000000'],
    ['2025-10-23T17:06:01.1234567891Z', '17:06:01.123456789', '2025-10-23T17:06:01.123456789Z', '1761239161123456789'],
    ['2025-10-23T12:06:01.5-05:00', '17:06:01.500000000', '2025-10-23T17:06:01.500000000Z', '1761239161500000000'],
  ];

  it('event time is stageTimestamp (RFC3339Nano), never requestReceivedTimestamp', async () => {
    const events = stamps.map(([st], i) => ev({ stageTimestamp: st, requestReceivedTimestamp: '2001-01-01T00:00:00Z', auditID: `t${i}` }));
    const run = await scan({ rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: 'id=%ka.auditid' })], events });
    expect(run.status).toBe(0);
    expect(run.alerts).toHaveLength(stamps.length);
    stamps.forEach(([, prefix, time, ns], i) => {
      const raw = run.stdout.trim().split('\n')[i];
      expect(run.alerts[i].output).toBe(`${prefix}: Warning id=t${i}`);
      expect(run.alerts[i].time).toBe(time);
      expect(raw).toContain(`"evt.time":${ns}`);
    });
  });

  it('the prefix is in the local zone (TZ=America/New_York), `time` stays UTC', async () => {
    // libsinsp (utils.cpp ts_to_string, gmt2local(0)) applies the zone's offset *now*,
    // not at the event: 12:06 in winter (as when the spec was written), 13:06 in summer.
    const now = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', timeZoneName: 'shortOffset' }).format(new Date());
    const hour = String(17 + Number(/GMT([+-]\d+)/.exec(now)![1])).padStart(2, '0');
    const events = [ev({ stageTimestamp: '2025-10-23T17:06:01Z' })];
    const rules = [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: 't=%evt.time s=%evt.time.s i=%evt.time.iso8601' })];
    const run = await scan({ rules, events, env: { TZ: 'America/New_York' } });
    expect(run.alerts[0].output).toBe(`${hour}:06:01.000000000: Warning t=${hour}:06:01.000000000 s=${hour}:06:01 i=2025-10-23T17:06:01.000000000+0000`);
    expect(run.alerts[0].time).toBe('2025-10-23T17:06:01.000000000Z');
  });

  it('%evt.time, %evt.time.s, %evt.time.iso8601: text forms; nanoseconds (JSON numbers) in output_fields', async () => {
    const events = [ev({ stageTimestamp: '2025-10-23T17:06:01Z' })];
    const rules = [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: 't=%evt.time s=%evt.time.s i=%evt.time.iso8601' })];
    const run = await scan({ rules, events });
    expect(run.alerts[0].output).toBe('17:06:01.000000000: Warning t=17:06:01.000000000 s=17:06:01 i=2025-10-23T17:06:01.000000000+0000');
    expect(run.stdout).toContain('"output_fields":{"evt.time":1761239161000000000,"evt.time.iso8601":1761239161000000000,"evt.time.s":1761239161000000000}');
  });

  it('--time-iso8601 (time_format_iso_8601) makes the prefix ISO 8601 in UTC', async () => {
    const run = await scan({
      rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: 'x' })],
      events: [ev()],
      args: ['--time-iso8601'],
      env: { TZ: 'America/New_York' },
    });
    expect(run.alerts[0].output).toBe('2025-10-23T17:06:01.792123000+0000: Warning x');
    expect(run.alerts[0].time).toBe('2025-10-23T17:06:01.792123000Z');
    // The prefix's own field is the one listed (falco formats.cpp: prefix_format).
    expect(run.stdout).toContain('"output_fields":{"evt.time.iso8601":1761239161792123000}');
  });
});

// Where FALCO-SEMANTICS.md is silent but the sources are clear.
describe('outputs: behaviour read from the Falco/libs sources', () => {
  it('a leading * of the output is consumed by the formatter (falco formats.cpp, libsinsp set_format)', async () => {
    const run = await scan({
      rules: [rulesYaml([
        { name: 'star', condition: 'ka.verb = create', output: '*star %ka.verb' },
        { name: 'two', condition: 'ka.verb = create', output: '**two' },
        { name: 'mid', condition: 'ka.verb = create', output: 'a*b' },
      ])],
      events: [ev()],
      args: ['--rule-matching', 'all'],
    });
    expect(run.alerts.map(message)).toEqual(['star create', '*two', 'a*b']);
    expect(run.alerts[0].output_fields).toEqual({ 'evt.time': 1761239161792123000, 'ka.verb': 'create' });
  });

  it('an output that is only blanks is LOAD_ERR_COMPILE_OUTPUT (empty formatting token)', async () => {
    const run = await scan({ rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: ' \t ' })], events: [ev()] });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('LOAD_ERR_COMPILE_OUTPUT: empty formatting token');
  });

  it('trimming removes C-locale blanks only (\\v \\f yes, no-break space no)', async () => {
    const run = await scan({
      rules: [rulesYaml([
        { name: 'vf', condition: 'ka.verb = create', output: '\v\f x \r\n' },
        { name: 'nbsp', condition: 'ka.verb = create', output: '\u00a0x\u3000' },
      ])],
      events: [ev()],
      args: ['--rule-matching', 'all'],
    });
    expect(run.alerts.map(message)).toEqual(['x', '\u00a0x\u3000']);
  });

  it('a width (%Nfield) pads or cuts to N bytes, as std::string::resize', async () => {
    const rows: Row[] = [
      { token: '%10ka.verb|', text: 'create    |', fields: { 'ka.verb': 'create' } },
      { token: '%3ka.verb|', text: 'cre|', fields: { 'ka.verb': 'create' } },
      { token: '%6ka.user.name|', set: { 'user/username': 'üé' }, text: 'üé  |', fields: { 'ka.user.name': 'üé' } },
      { token: '%6ka.impuser.name|', text: '<NA>  |', fields: { 'ka.impuser.name': null } },
      // Cut inside ü: the JSON output (nlohmann, replace) shows the half character as U+FFFD.
      { token: '%2ka.user.name|', set: { 'user/username': 'aüb' }, text: 'a\ufffd|', fields: { 'ka.user.name': 'aüb' } },
    ];
    checkRows(rows, await renderRows(rows));
  });

  it('lists print as libsinsp writes them: no comma after leading empty values, cut at 1023 bytes', async () => {
    const many = Array.from({ length: 120 }, (_, i) => `group-${String(i).padStart(4, '0')}`);
    const full = `(${many.join(',')})`;
    const euro = Array.from({ length: 400 }, () => '€');
    const rows: Row[] = [
      { token: '%ka.user.groups', set: { 'user/groups': ['', 'b'] }, text: '(b)', fields: { 'ka.user.groups': ['', 'b'] } },
      { token: '%ka.user.groups', set: { 'user/groups': ['', '', 'b', '', 'c'] }, text: '(b,,c)', fields: { 'ka.user.groups': ['', '', 'b', '', 'c'] } },
      { token: '%ka.user.groups', set: { 'user/groups': [''] }, text: '()', fields: { 'ka.user.groups': [''] } },
      // output_fields keeps the whole list; the text stops at 1023 bytes, without ")".
      { token: '%ka.user.groups|', set: { 'user/groups': many }, text: `${full.slice(0, 1023)}|`, fields: { 'ka.user.groups': many } },
      // 1 + 400 × 3 + 399 bytes, cut after byte 1023: 255 whole €s and commas, then a third of one.
      { token: '%ka.user.groups|', set: { 'user/groups': euro }, text: `(${euro.slice(0, 255).join(',')},\ufffd|`, fields: { 'ka.user.groups': euro } },
    ];
    expect(full.length).toBeGreaterThan(1023);
    checkRows(rows, await renderRows(rows));
  });

  it('evt.rawtime.ns prints zero-padded to 9 digits (PF_10_PADDED_DEC), a number in output_fields', async () => {
    const rows: Row[] = [
      { token: '%evt.rawtime.ns', set: { stageTimestamp: '2025-10-23T17:06:01.05Z' }, text: '050000000', fields: { 'evt.rawtime.ns': 50000000 } },
      { token: '%evt.rawtime.s', set: { stageTimestamp: '2025-10-23T17:06:01.05Z' }, text: '1761239161', fields: { 'evt.rawtime.s': 1761239161 } },
      { token: '%evt.rawtime', set: { stageTimestamp: '2025-10-23T17:06:01.05Z' }, text: '1761239161050000000', fields: { 'evt.rawtime': 1761239161050000000 } },
      { token: '%jevt.rawtime', set: { stageTimestamp: '2025-10-23T17:06:01.000000007Z' }, text: '1761239161000000007', fields: { 'jevt.rawtime': '1761239161000000007' } },
      { token: '%json.rawtime', set: { stageTimestamp: '2025-10-23T17:06:02Z' }, text: '1761239162000000000', fields: { 'json.rawtime': '1761239162000000000' } },
    ];
    checkRows(rows, await renderRows(rows));
  });

  it('skip-if-unknown-filter: a rule with an unknown output field or condition field is skipped', async () => {
    const run = await scan({
      rules: [rulesYaml([
        { name: 'out', condition: 'ka.verb = create', output: '%ka.nosuch', extra: '  skip-if-unknown-filter: true\n' },
        { name: 'cond', condition: 'ka.nosuch = x', extra: '  skip-if-unknown-filter: true\n' },
        { name: 'ok', condition: 'ka.verb = create' },
      ])],
      events: [ev()],
      args: ['--rule-matching', 'all'],
    });
    expect(run.status).toBe(0);
    expect(run.alerts.map((a) => a.rule)).toEqual(['ok']);
  });
});

describe('alert JSON ordering is byte order (std::set / std::map of std::string)', () => {
  it('tags and output_fields keys sort by UTF-8 bytes, not UTF-16 units', async () => {
    const run = await scan({
      rules: [ruleYaml({ name: 'R', condition: 'ka.verb = create', output: '%jevt.value[/😀] %jevt.value[/～] %jevt.value[/Z]', tags: ['😀', '～', 'Z', 'a'] })],
      events: [ev()],
    });
    const line = run.stdout.trim();
    expect(line).toContain('"tags":["Z","a","～","😀"]');
    expect(line).toContain('"output_fields":{"evt.time":1761239161792123000,"jevt.value[/Z]":null,"jevt.value[/～]":null,"jevt.value[/😀]":null}');
  });
});
