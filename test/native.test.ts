// The native extractor and the TypeScript parser must fill identical node tables and
// reject exactly the same inputs, on real traces, generated events and fuzzed bytes.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NodeTable } from '../src/events/nodes.js';
import { jsBackend } from '../src/engine/backend.js';
import { nativeBackend } from '../src/engine/native-backend.js';
import { loadNative } from '../src/native/loader.js';
// @ts-expect-error plain ES module without types
import { generateLines, rng } from '../native-bench/corpus.mjs';
import { CONFORMANCE, CORPORA, latestRules, runScan } from './conformance-lib.js';
import { Ruleset } from '../src/rules/ruleset.js';
import { Processor, type DocumentResult } from '../src/engine/processor.js';
import { ALL_FIELDS } from '../src/fields/registry.js';
import { Rows } from '../src/events/plan.js';

const addon = loadNative();
if (addon === undefined) throw new Error('native extractor not built: npm ci should have built it');
const native = nativeBackend(addon);

/**
 * Alerts and per-document results of evaluating `docs` with one backend: as a batch of
 * lines of one buffer, one by one from that buffer, or each alone in a buffer of its
 * size (so member names and values sit at the buffer's edges).
 */
function evaluate(rs: Ruleset, docs: string[], useNative: boolean, mode: 'batch' | 'each' | 'alone'): string[] {
  const buf = Buffer.from(docs.join('\n'));
  const ranges: number[] = [];
  let off = 0;
  for (const d of docs) {
    const len = Buffer.byteLength(d);
    ranges.push(off, off + len);
    off += len + 1;
  }
  const p = new Processor(rs, { format: { hostname: 'h', timeIso8601: false }, backend: useNative ? native : jsBackend });
  const out: string[] = [];
  const onAlert = (a: { json: string }): void => { out.push(a.json); };
  const note = (k: number, res: DocumentResult): void => { out.push(`#${k} ${res.events} ${JSON.stringify(res.issues)}`); };
  if (mode === 'batch') {
    p.processBatch(buf, ranges, docs.length, false, onAlert, note);
    return out;
  }
  for (let k = 0; k < docs.length; k++) {
    if (mode === 'each') {
      note(k, p.process(buf, ranges[2 * k], ranges[2 * k + 1], onAlert));
    } else {
      const one = Buffer.from(docs[k]);
      note(k, p.process(one, 0, one.length, onAlert));
    }
  }
  return out;
}

type Parsed = { ok: true; table: string } | { ok: false; error: string };

function snapshot(t: NodeTable): string {
  const n = t.size;
  const cols = [t.kind, t.vs, t.ve, t.ks, t.ke, t.first, t.next, t.count].map((c) => Array.from(c.subarray(0, n)).join(','));
  return cols.join('|');
}

function parseWith(backend: typeof native, buf: Buffer, start = 0, end = buf.length): Parsed {
  const t = new NodeTable(16);
  try {
    backend.parse(t, buf, start, end);
    return { ok: true, table: snapshot(t) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

function same(buf: Buffer, start = 0, end = buf.length): void {
  const a = parseWith(jsBackend, buf, start, end);
  const b = parseWith(native, buf, start, end);
  expect(b).toEqual(a);
  // The native side itself (not its TypeScript fallback) must accept exactly what TS accepts.
  expect(direct(buf.subarray(start, end)) > 0).toBe(a.ok);
}

/** Calls the addon directly: it must never crash, only return. */
function direct(buf: Buffer): number {
  const t = new NodeTable(64);
  for (;;) {
    const r = addon!.parse(buf, 0, buf.length, t.mem, t.capacity);
    if (r >= 0) return r;
    t.allocate(t.capacity * 2);
  }
}

describe('native extractor vs TypeScript parser', () => {
  it('agree on every conformance trace and real corpus line', () => {
    const files = [
      ...readdirSync(join(CONFORMANCE, 'traces')).map((f) => join(CONFORMANCE, 'traces', f)),
      ...readdirSync(CORPORA).filter((f) => f.endsWith('.jsonl')).map((f) => join(CORPORA, f)),
    ];
    let lines = 0;
    for (const f of files) {
      for (const line of readFileSync(f, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        same(Buffer.from(line));
        lines++;
      }
    }
    expect(lines).toBeGreaterThan(150);
  });

  it('agree on generated events, whole and as sub-ranges of a larger buffer', () => {
    const lines: string[] = generateLines(300, 7);
    const all = Buffer.from(lines.join('\n'));
    let off = 0;
    for (const l of lines) {
      const len = Buffer.byteLength(l);
      same(all, off, off + len);
      off += len + 1;
    }
  });

  it('agree on malformed and edge-case JSON', () => {
    const cases = [
      '', ' ', '{', '}', '[', ']', '{"a":}', '{"a" 1}', '{"a":1,}', '[1,]', '[1 2]', '{"a":1}{"b":2}', '{"a":1} x',
      '"abc', '"a\\x"', '"a\\u12"', '"a\\u12g4"', '01', '-', '1.', '1e', '1e+', '.5', '+1', 'tru', 'nul', 'truex',
      '{"a":tru}', '[true,false,null]', '{"k\\"":{"x":{}}}', '"\u0001"', '{"a":"b\nc"}', '[[[[[[]]]]]]', '{"":""}',
      '{"a":1.5e-7,"b":-0,"c":0.0,"d":123456789012345678901234567890}', '"\\ud800"', '"\\ud83d\\ude00"', '{"a":[{}, [], "x"]}',
      '\uFEFF{}', '{"a":"\u00e9\u20ac\ud83d\ude00"}', '[1,2,3]   ', '  {"a" : [ 1 , 2 ] }  ', '{"a":"1"2}', '"abc"def', '[,1]', '{,}',
    ];
    for (const c of cases) same(Buffer.from(c));
    // invalid UTF-8, overlong and surrogate encodings
    for (const bytes of [[0x22, 0xff, 0x22], [0x22, 0xc0, 0xaf, 0x22], [0x22, 0xed, 0xa0, 0x80, 0x22], [0x22, 0xe2, 0x82, 0x22]]) {
      same(Buffer.from(bytes));
    }
  });

  it('enforce the same nesting limit', () => {
    for (const d of [299, 300, 301, 1000]) {
      same(Buffer.from('['.repeat(d) + ']'.repeat(d)));
      same(Buffer.from('{"a":'.repeat(d) + '1' + '}'.repeat(d)));
    }
  });

  it('survive fuzzing (random bytes, truncations, splices, huge strings) without crashing', () => {
    const r = rng(1234);
    const seeds: string[] = generateLines(40, 99);
    const iterations = Number(process.env.PEREGRINE_FUZZ_ITERATIONS ?? 3000);
    for (let i = 0; i < iterations; i++) {
      const s = Buffer.from(seeds[i % seeds.length]);
      let buf: Buffer;
      switch (i % 5) {
        case 0: buf = s.subarray(0, Math.floor(r() * s.length)); break;
        case 1: {
          buf = Buffer.from(s);
          for (let k = 0; k < 1 + Math.floor(r() * 8); k++) buf[Math.floor(r() * buf.length)] = Math.floor(r() * 256);
          break;
        }
        case 2: {
          const a = Math.floor(r() * s.length);
          const b = Math.floor(r() * s.length);
          buf = Buffer.concat([s.subarray(0, Math.min(a, b)), s.subarray(Math.max(a, b))]);
          break;
        }
        case 3: buf = Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256))); break;
        default: buf = Buffer.from(`{"a":"${'x'.repeat(Math.floor(r() * 300000))}","b":[${'1,'.repeat(Math.floor(r() * 1000))}2]}`);
      }
      direct(buf);
      same(buf);
    }
  });
});

describe('scan with either backend', () => {
  it('prints identical alerts and errors over the conformance traces and corpora', () => {
    const rules = ['rules/falco_rules.lists.yaml', 'rules/k8s_audit_rules.latest.yaml'].map((r) => join(CONFORMANCE, r));
    const inputs = [
      ...readdirSync(join(CONFORMANCE, 'traces')).map((f) => join(CONFORMANCE, 'traces', f)),
      join(CORPORA, 'panther-analysis.jsonl'),
      join(CORPORA, 'audit2rbac-demo.jsonl'),
    ];
    const args = [...rules.flatMap((r) => ['--rules', r]), '--rule-matching', 'all', ...inputs];
    const js = runScan(args, { PEREGRINE_NATIVE: '0' });
    const nat = runScan(args, { PEREGRINE_NATIVE: '1' });
    expect(nat.status).toBe(js.status);
    expect(nat.stdout).toBe(js.stdout);
    expect(nat.stderr).toBe(js.stderr);
    expect(js.alerts.length).toBeGreaterThan(30);
  });
});

describe('batch parsing (many documents per native call)', () => {
  it('gives the same alerts and errors as one document at a time, with broken documents anywhere', () => {
    const rs = latestRules();
    const r = rng(77);
    const lines: string[] = generateLines(400, 5);
    // Damage some lines: unclosed strings, truncations, garbage, empty objects, non-events.
    for (let i = 0; i < lines.length; i += 7) {
      const l = lines[i];
      const damage = i % 5;
      if (damage === 0) lines[i] = l.slice(0, Math.floor(r() * l.length));
      else if (damage === 1) lines[i] = l.replace('"verb":"', '"verb":"unclosed');
      else if (damage === 2) lines[i] = '{"kind":"Event"}';
      else if (damage === 3) lines[i] = '[' + l + ',' + l + ']';
      else lines[i] = l.replace('"kind":"Event"', '"kind":"Nope"');
    }
    const reference = evaluate(rs, lines, false, 'each');
    expect(reference.some((l) => l.includes('INPUT_JSON'))).toBe(true);
    expect(reference.some((l) => l.startsWith('{'))).toBe(true);
    expect(evaluate(rs, lines, true, 'batch')).toEqual(reference);
    expect(evaluate(rs, lines, true, 'each')).toEqual(reference);
  });
});

describe('batch parsing of arbitrary byte ranges', () => {
  it('judges every range as if it were alone, however the ranges cut tokens and documents', () => {
    const rs = latestRules();
    const r = rng(31);
    const lines: string[] = generateLines(30, 8);
    // Scalars and numbers that a cut can shorten into other valid JSON.
    lines.push('123456', '"abc"', 'true', '[1,22,333]', '{"kind":"Event","n":12345}');
    const text = lines.join('\n');
    // Top-level scalars cut inside their tokens: `123` of `123456` is a valid document;
    // and ranges that end just after an escaped quote (`"a\"` alone is unterminated).
    const scalars = '123456 12.5e3 "abcdef" true -0.25 [7,8] "a\\"b\\"c" {"k":"v\\"w"} "é\\"ü"';
    for (let round = 0; round < 40; round++) {
      const cutText = round % 2 === 0;
      let buf = Buffer.from(cutText ? text : scalars);
      const cuts = cutText
        ? [0, ...Array.from({ length: 40 }, () => Math.floor(r() * buf.length)).sort((a, b) => a - b), buf.length]
        : Array.from({ length: buf.length + 1 }, (_, k) => k).filter((k) => k === 0 || k === buf.length || r() < 0.3);
      if (round === 1) {
        // A document cut just after an escaped quote (and the span ending outside any
        // string, or its stage 1 fails and the documents go one by one anyway).
        const text2 = '"a\\"b\\"c" 1 {"k":"v\\"w"} 2';
        buf = Buffer.from(text2);
        const e1 = text2.indexOf('\\"') + 2;
        const s2 = text2.indexOf('{');
        const e2 = text2.indexOf('\\"', s2) + 2;
        cuts.splice(0, cuts.length, 0, e1, e1 + 5, s2, e2, buf.length);
      }
      const ranges: number[] = [];
      for (let k = 1; k < cuts.length; k++) if (cuts[k] > cuts[k - 1]) ranges.push(cuts[k - 1], cuts[k]);
      if (round === 3) {
        // A range that starts inside a string the bytes between ranges open.
        buf = Buffer.from('1 "abc" 2');
        ranges.splice(0, ranges.length, 0, 1, 3, 9);
      }
      // Line ends as well, so that whole documents are among the ranges.
      for (let at = buf.indexOf(10); at >= 0 && ranges.length < 200; at = buf.indexOf(10, at + 1)) {
        const next = buf.indexOf(10, at + 1);
        ranges.push(at + 1, next < 0 ? buf.length : next);
      }
      const sorted: number[] = [];
      let last = 0;
      for (let k = 0; k < ranges.length; k += 2) {
        if (ranges[k] < last) continue;
        sorted.push(ranges[k], ranges[k + 1]);
        last = ranges[k + 1];
      }
      const run = (useNative: boolean): string[] => {
        const p = new Processor(rs, { format: { hostname: 'h', timeIso8601: false }, backend: useNative ? native : jsBackend });
        const out: string[] = [];
        p.processBatch(buf, sorted, sorted.length / 2, false, (a) => { out.push(a.json); }, (k, res) => { out.push(`#${k} ${res.events} ${JSON.stringify(res.issues)}`); });
        return out;
      };
      expect(run(true)).toEqual(run(false));
      // And each document's root node (a cut scalar must end where its range does).
      const plan = native.preparePlan!(rs.slots.plan)!;
      const table = new NodeTable(1 << 12);
      const rows = new Rows(plan.slotCount, 256);
      const roots = new Int32Array(sorted.length / 2);
      const rg = Uint32Array.from(sorted);
      for (let k = 0; k < sorted.length / 2;) {
        const done = native.parseBatch!(table, buf, rg, k, sorted.length / 2 - k, plan, rows, roots);
        for (let d = 0; d < done; d++) {
          const alone = new NodeTable(16);
          let want = 'invalid';
          try {
            const root = jsBackend.parse(alone, buf, sorted[2 * (k + d)], sorted[2 * (k + d) + 1]);
            want = `${alone.kind[root]} ${alone.vs[root]} ${alone.ve[root]}`;
          } catch { /* invalid JSON */ }
          const n = roots[d];
          expect(n === -1 ? 'invalid' : `${table.kind[n]} ${table.vs[n]} ${table.ve[n]}`, `range ${sorted[2 * (k + d)]}-${sorted[2 * (k + d) + 1]}`).toBe(want);
        }
        if (done === 0) table.allocate(table.capacity * 4);
        k += done;
      }
    }
  });
});

describe('documents the extractor sees as one plain event (no collector)', () => {
  it('give the alerts and errors the collector gives: kinds, duplicates, items, times and sizes at the limit', () => {
    const rs = Ruleset.compile([{
      name: 'one.yaml',
      text: '- rule: any\n  desc: d\n  condition: ka.verb exists\n  output: "n=%evt.num t=%evt.time v=%ka.verb"\n  priority: WARNING\n  source: k8s_audit\n',
    }], { ruleMatching: 'all' });
    const ev = (kind: string, extra = '', ts = '"2026-11-01T10:00:00.5Z"'): string =>
      `{${kind}"auditID":"a","verb":"get"${extra},"stageTimestamp":${ts}}`;
    const pad = (n: number): string => `,"pad":"${'x'.repeat(n)}"`;
    const docs = [
      ev('"kind":"Event",'), ev('"kind":"Ev\\u0065nt",'), ev('"kind":"EventList",'), ev('"kind":"Event ",'), ev('"kind":5,'), ev(''),
      ev('"kind":"Nope","kind":"Event",'), ev('"kind":"Event","kind":"Nope",'), ev('"k\\u0069nd":"Event",'),
      `{"kind":"EventList","items":[${ev('"kind":"Event",')},${ev('')}]}`, `[${ev('"kind":"Event",')}]`,
      ev('"kind":"Event",', ',"items":[{"kind":"Event"}]'),
      ev('"kind":"Event",', '', '"2026-11-01T10:00:00+01:00"'), ev('"kind":"Event",', '', '"2026-11-01 10:00:00Z"'), ev('"kind":"Event",', '', '7'),
      // Around the size limit (1000 bytes here): raw size, and raw over but compact under.
      ev('"kind":"Event",', pad(880)), ev('"kind":"Event",', pad(1000)), ev('"kind": "Event" ,', pad(880)).replace(/,/g, ' ,  '),
    ];
    const buf = Buffer.from(docs.join('\n'));
    const ranges: number[] = [];
    let off = 0;
    for (const d of docs) {
      ranges.push(off, off + Buffer.byteLength(d));
      off += Buffer.byteLength(d) + 1;
    }
    const run = (useNative: boolean, batch: boolean, items: boolean): string[] => {
      const p = new Processor(rs, { format: { hostname: 'h', timeIso8601: false }, backend: useNative ? native : jsBackend, maxEventSize: 1000 });
      const out: string[] = [];
      const onAlert = (a: { json: string }): void => { out.push(a.json); };
      const note = (k: number, r: DocumentResult): void => { out.push(`#${k} ${r.events} ${r.alerts} ${JSON.stringify(r.issues)}`); };
      if (batch) p.processBatch(buf, ranges, docs.length, items, onAlert, note);
      else for (let k = 0; k < docs.length; k++) note(k, items ? p.processItem(buf, ranges[2 * k], ranges[2 * k + 1], onAlert) : p.process(buf, ranges[2 * k], ranges[2 * k + 1], onAlert));
      return out;
    };
    for (const items of [false, true]) {
      const reference = run(false, false, items);
      expect(reference.filter((l) => l.startsWith('{')).length).toBeGreaterThan(5);
      expect(reference.some((l) => l.includes('INPUT_TOO_LARGE'))).toBe(true);
      expect(run(true, true, items)).toEqual(reference);
    }
  });
});

describe('symbol shortcuts (constants matched by the extractor)', () => {
  it('decide eq, in and the rule index exactly as the field values do: escapes, other types, absence, duplicates', () => {
    const rule = (name: string, condition: string): string =>
      `- rule: ${name}\n  desc: d\n  condition: ${condition}\n  output: "${name} verb=%ka.verb res=%ka.target.resource stage=%jevt.value[/stage]"\n  priority: WARNING\n  source: k8s_audit\n`;
    const rules = [
      '- list: verbs\n  items: [create, "5", "true"]\n',
      rule('verb_empty', 'ka.verb = ""'),
      rule('verb_in', 'ka.verb in (verbs)'),
      rule('verb_eq', 'ka.verb = create'),
      rule('verb_not', 'not ka.verb = get'),
      rule('stage_and_resource', 'jevt.value[/stage] = ResponseComplete and ka.target.resource in (pods, secrets)'),
      rule('resource_not_pods', 'not ka.target.resource = pods'),
      rule('indexed_pair', 'ka.target.resource = secrets and ka.verb in (get, list)'),
      rule('indexed_user', 'ka.user.name = "alice" and ka.verb = "delete"'),
      rule('user_prefix', 'ka.user.name startswith "al"'),
      rule('verb_suffix', 'ka.verb endswith "ate"'),
      rule('not_stage_prefix', 'not jevt.value[/stage] startswith Response'),
      rule('resource_suffix_long', 'ka.target.resource endswith "ecrets"'),
    ].join('\n');
    const rs = Ruleset.compile([{ name: 'symbols.yaml', text: rules }], { ruleMatching: 'all' });
    const verbs = ['"create"', '"cr\\u0065ate"', '"get"', '"g\\u0065t"', '"5"', '5', 'true', '"true"', 'null', '{"a":1}', '[]', '""', '"delete"', undefined];
    const resources = ['"pods"', '"p\\u006fds"', '"secrets"', '7', '"nodes"', undefined];
    const stages = ['"ResponseComplete"', '"Response\\u0043omplete"', '"ResponseStarted"', '3', undefined];
    const users = ['"alice"', '"\\u0061lice"', '"bob"', '"al"', '"a"', '"\\u00e9al"', '"xlice"', '"élan"'];
    const docs: string[] = [];
    let k = 0;
    for (const verb of verbs) {
      for (const res of resources) {
        for (const stage of stages) {
          const user = users[k % users.length];
          const members = [
            '"kind":"Event"',
            k % 9 === 4 ? undefined : `"auditID":"id-${k}"`,
            stage === undefined ? undefined : `"stage":${stage}`,
            // Escaped member names must find their plan entries too.
            verb === undefined ? undefined : `"${k % 7 === 3 ? 'v\\u0065rb' : 'verb'}":${verb}`,
            // A later duplicate key must not change what the first one decided.
            k % 5 === 2 ? '"verb":"create"' : undefined,
            `"user":{"username":${user}}`,
            res === undefined ? undefined : `"objectRef":{"resource":${res}}`,
            '"stageTimestamp":"2026-11-01T10:00:00.000000Z"',
          ].filter((m) => m !== undefined);
          docs.push(`{${members.join(',')}}`);
          k++;
        }
      }
    }
    const reference = evaluate(rs, docs, false, 'alone');
    const fired = (name: string): number => reference.filter((l) => l.includes(`"rule":"${name}"`)).length;
    // Escaped spellings equal the constants; numbers and booleans compare by their text.
    for (const name of ['verb_in', 'verb_empty', 'verb_eq', 'verb_not', 'stage_and_resource', 'resource_not_pods', 'indexed_pair', 'indexed_user',
      'user_prefix', 'verb_suffix', 'not_stage_prefix', 'resource_suffix_long']) {
      expect(fired(name), name).toBeGreaterThan(0);
    }
    expect(reference.some((l) => l.includes('"rule":"verb_eq"') && l.includes('cr\\\\u0065ate'))).toBe(false);
    expect(evaluate(rs, docs, true, 'alone')).toEqual(reference);
    expect(evaluate(rs, docs, true, 'batch')).toEqual(reference);
  });
});

describe('long constants and member names (compared a word at a time)', () => {
  it('match only when every byte is equal, the bytes after the last full word included', () => {
    const user = 'system:serviceaccount:kube-system:abc'; // 37 bytes: 4 words and 5 more
    const ns = 'kube-system'; // 11 bytes: 1 word and 3 more
    const decisionKey = 'authorization.k8s.io/decision'; // 29 bytes
    const rule = (name: string, condition: string): string =>
      `- rule: ${name}\n  desc: d\n  condition: ${condition}\n  output: "${name} user=%ka.user.name ns=%ka.target.namespace decision=%ka.auth.decision"\n  priority: WARNING\n  source: k8s_audit\n`;
    const rules = [
      rule('user_eq', `ka.user.name = "${user}"`),
      rule('user_in', `ka.user.name in ("${user.slice(0, -1)}d", "${user}")`),
      rule('ns_eq', `ka.target.namespace = ${ns}`),
      rule('decision_allow', 'ka.auth.decision = allow'),
      rule('decision_set', 'ka.auth.decision exists'),
    ].join('\n');
    const rs = Ruleset.compile([{ name: 'long.yaml', text: rules }], { ruleMatching: 'all' });
    // Each string, and copies with one byte changed at every position of its last word and
    // of what follows it.
    const variants = (v: string): string[] => {
      const out = [v];
      for (let i = Math.max(0, 8 * Math.floor(v.length / 8) - 8); i < v.length; i++) out.push(v.slice(0, i) + (v[i] === 'x' ? 'y' : 'x') + v.slice(i + 1));
      return out;
    };
    const users = [...variants(user), `${user.slice(0, -1)}d`];
    const namespaces = variants(ns);
    // (The first and last bytes pick the hash bucket; a change inside the first word must
    // be caught by the word comparison.)
    const keys = [...variants(decisionKey), `${decisionKey.slice(0, 3)}X${decisionKey.slice(4)}`];
    const docs: string[] = [];
    const n = Math.max(users.length, namespaces.length, keys.length);
    for (let k = 0; k < n; k++) {
      docs.push(JSON.stringify({
        kind: 'Event', auditID: `id-${k}`, stage: 'ResponseComplete', verb: 'get',
        user: { username: users[k % users.length] },
        objectRef: { resource: 'pods', namespace: namespaces[k % namespaces.length] },
        annotations: { [keys[k % keys.length]]: 'allow' },
        stageTimestamp: '2026-11-01T10:00:00.000000Z',
      }));
    }
    const reference = evaluate(rs, docs, false, 'alone');
    const fired = (name: string): number => reference.filter((l) => l.includes(`"rule":"${name}"`)).length;
    const exact = (list: string[]): number => Math.ceil(n / list.length);
    expect(fired('user_eq')).toBe(exact(users));
    expect(fired('user_in')).toBe(exact(users) + 1);
    expect(fired('ns_eq')).toBe(exact(namespaces));
    expect(fired('decision_allow')).toBe(exact(keys));
    expect(evaluate(rs, docs, true, 'alone')).toEqual(reference);
    expect(evaluate(rs, docs, true, 'batch')).toEqual(reference);
  });
});

describe('event times parsed by the extractor', () => {
  it('equal the TypeScript parser on usual, odd and invalid stageTimestamps', () => {
    const rs = Ruleset.compile([{
      name: 't.yaml',
      text: '- rule: t\n  desc: d\n  condition: ka.verb exists\n  output: "%jevt.rawtime %evt.time %evt.rawtime.s %evt.rawtime.ns"\n  priority: WARNING\n  source: k8s_audit\n',
    }], { ruleMatching: 'all' });
    const r = rng(9);
    const times = [
      '2026-11-01T10:00:00Z', '2026-11-01T10:00:00.123456Z', '2026-11-01T10:00:00.123456789Z', '2026-11-01T10:00:00.1234567891234Z',
      '2026-11-01T10:00:00.Z', '2026-11-01T10:00:00,5Z', '2026-11-01T10:00:00.5+05:30', '2026-11-01T10:00:00-08:00', '2026-11-01T10:00:00+23:59',
      '2026-11-01T10:00:00+24:00', '2026-11-01T10:00:00+0530', '2026-11-01T10:00:00z', '2026-11-01T24:00:00Z', '2026-11-01T23:60:00Z',
      '2026-11-01T23:59:60Z', '2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2000-02-29T12:00:00Z', '1900-02-29T12:00:00Z',
      '0000-01-01T00:00:00Z', '0000-03-01T00:00:00Z', '1969-12-31T23:59:59.999999999Z', '1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z',
      '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z', '2026-11-00T00:00:00Z', '2026-11-31T00:00:00Z', '2026-11-1T10:00:00Z',
      '2026-11-01T1:00:00Z', '2026-11-01 10:00:00Z', '2026-11-01T10:00:00', '2026-11-01T10:00:00ZZ', '2026-11-01T10:00:00.123Zx',
      '2026-11-01T10:00:00.\\u0031Z', '', 'not a time',
    ];
    // And random damage to a usual time.
    for (let i = 0; i < 300; i++) {
      const b = [...'2026-11-01T10:00:00.123456Z'];
      for (let k = 0; k < 1 + Math.floor(r() * 2); k++) b[Math.floor(r() * b.length)] = '0123456789:-.TZ+ '[Math.floor(r() * 17)];
      times.push(b.join(''));
    }
    const docs = times.map((t, i) => `{"kind":"Event","auditID":"a${i}","verb":"get","stageTimestamp":"${t}"}`);
    docs.push('{"kind":"Event","auditID":"n","verb":"get","stageTimestamp":20261101}');
    const reference = evaluate(rs, docs, false, 'batch');
    expect(reference.filter((l) => l.startsWith('{')).length).toBeGreaterThan(40);
    expect(reference.filter((l) => l.includes('INPUT_TIMESTAMP')).length).toBeGreaterThan(40);
    expect(evaluate(rs, docs, true, 'batch')).toEqual(reference);
  });
});

describe('field plans that keep only what each field reads', () => {
  it('give every ka.req.* field the value it has on the whole event, over random pod specs', () => {
    const fields = ALL_FIELDS.filter((f) => f.name.startsWith('ka.req.') && !f.arg.required).map((f) => f.name);
    expect(fields.length).toBeGreaterThan(40);
    // One rule per field, each printing only its field: every field builds its own plan reads.
    const rules = fields.map((f, i) =>
      `- rule: r${i}\n  desc: d\n  condition: ka.verb = create\n  output: "${f}=%${f}"\n  priority: WARNING\n  source: k8s_audit\n`).join('\n');
    const rs = Ruleset.compile([{ name: 'req.yaml', text: rules }], { ruleMatching: 'all' });
    const r = rng(31);
    const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
    const scalar = (): unknown => pick([true, false, 0, 1000, -1, 'x', 'nginx:1.25', '', null, 2.5, 'a\u00e9\\"b']);
    const maybe = (v: () => unknown): unknown => (r() < 0.3 ? undefined : v());
    const container = (): unknown => (r() < 0.1 ? scalar() : {
      name: maybe(() => pick(['app', 'side', 7])),
      image: maybe(() => pick(['nginx:1.25', 'reg:5000/a/b@sha256:0', 'busybox', 3, ['x']])),
      command: maybe(() => pick([['sh', '-c', 'x'], 'sh', [1, 2], []])),
      args: maybe(() => pick([['--a'], [], 'x'])),
      runAsUser: maybe(() => pick([0, 5, 'u'])),
      runAsGroup: maybe(() => pick([0, 6])),
      ports: maybe(() => pick([[{ containerPort: 80 }, { hostPort: 8080, containerPort: 80 }], [], 'p', [7]])),
      env: [{ name: 'A', value: 'b' }],
      resources: { limits: { cpu: '1' } },
      securityContext: maybe(() => (r() < 0.2 ? scalar() : {
        privileged: maybe(scalar), allowPrivilegeEscalation: maybe(scalar), readOnlyRootFilesystem: maybe(scalar),
        runAsUser: maybe(scalar), runAsGroup: maybe(scalar), procMount: maybe(scalar),
        capabilities: maybe(() => ({ add: maybe(() => pick([['NET_ADMIN', 'SYS_ADMIN'], [], 'ALL', [1]])), drop: ['ALL'] })),
      })),
    });
    const list = (): unknown => (r() < 0.1 ? scalar() : Array.from({ length: Math.floor(r() * 3) }, container));
    const docs: string[] = [];
    for (let i = 0; i < 300; i++) {
      const spec = {
        containers: maybe(list), initContainers: maybe(list), ephemeralContainers: maybe(list),
        runAsUser: maybe(() => pick([1000, 'x'])), runAsGroup: maybe(() => pick([2000])),
        securityContext: maybe(() => ({ runAsUser: maybe(scalar), runAsGroup: maybe(scalar), fsGroup: maybe(scalar), supplementalGroups: maybe(() => pick([[1, 2], 'g'])) })),
        volumes: maybe(() => [{ name: 'v', hostPath: maybe(() => ({ path: pick(['/etc', '/var/run/docker.sock', 3]) })), flexVolume: maybe(() => ({ driver: 'd' })) }, { name: 'w', emptyDir: {} }]),
        hostNetwork: maybe(scalar), hostPID: maybe(scalar), hostIPC: maybe(scalar), type: maybe(() => pick(['NodePort', 'ClusterIP'])),
        ports: maybe(() => [{ port: 80, nodePort: maybe(() => 30000) }]),
      };
      const event = {
        kind: 'Event', auditID: `p${i}`, verb: 'create', stage: 'ResponseComplete', stageTimestamp: '2026-11-01T10:00:00Z',
        objectRef: { resource: 'pods', namespace: 'default', name: `p${i}` },
        requestObject: { kind: 'Pod', spec, data: maybe(() => ({ k: 'v' })), rules: maybe(() => [{ verbs: ['get'], resources: ['pods'] }]),
          subjects: maybe(() => [{ kind: 'ServiceAccount', name: 's', namespace: 'n' }]), roleRef: maybe(() => ({ name: 'admin' })),
          ephemeralContainers: maybe(list) },
      };
      docs.push(JSON.stringify(event));
    }
    const reference = evaluate(rs, docs, false, 'batch');
    expect(reference.filter((l) => l.startsWith('{')).length).toBe(300 * fields.length);
    expect(evaluate(rs, docs, true, 'batch')).toEqual(reference);
  });
});

describe('the depth limit, as the plugin\'s parser (fastjson) counts it', () => {
  it('counts every value, scalars included: a value at depth 301 is refused, at 300 accepted', () => {
    const rs = Ruleset.compile([{ name: 'r.yaml', text: '- rule: R\n  desc: d\n  condition: ka.verb = create\n  output: o\n  priority: WARNING\n  source: k8s_audit\n' }], { ruleMatching: 'all' });
    const base = JSON.stringify({ kind: 'Event', auditID: 'a1', stage: 'ResponseComplete', verb: 'create', deep: 'DEEP', stageTimestamp: '2025-10-23T17:06:01Z' });
    // The event object is depth 1, each array one more: k arrays hold values at depth k + 2.
    const deep = (k: number, inner: string): string => base.replace('"DEEP"', '['.repeat(k) + inner + ']'.repeat(k));
    const docs = [deep(298, '1'), deep(299, '1'), deep(299, ''), deep(300, ''), deep(298, '{"a":1}'), deep(296, '{"a":[true]}')];
    for (const mode of ['batch', 'each', 'alone'] as const) {
      const got = evaluate(rs, docs, true, mode);
      expect(got).toEqual(evaluate(rs, docs, false, mode));
      const refused = got.filter((l) => l.includes('nesting deeper than 300 levels')).map((l) => Number(l.split(' ')[0].slice(1)));
      expect(refused).toEqual([1, 3, 4]);
      expect(got.filter((l) => l.startsWith('{')).length).toBe(3);
    }
  });
});

describe('whitespace outside strings (compactRaw asks the addon first)', () => {
  it('the addon finds the first one exactly where the loop does, and compactRaw gives the same text with or without it', async () => {
    const { compactRaw, useWhitespaceScan } = await import('../src/events/nodes.js');
    const { rng: seeded } = await import('./rng.js');
    /** The reference: compactRaw's own loop, stopped at its first whitespace. */
    const firstSpace = (b: Buffer, s: number, e: number): number => {
      let inStr = false;
      for (let i = s; i < e; i++) {
        const c = b[i];
        if (inStr) {
          if (c === 0x5c) i++;
          else if (c === 0x22) inStr = false;
          continue;
        }
        if (c === 0x22) inStr = true;
        else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) return i;
      }
      return -1;
    };
    const r = seeded(31);
    const pieces = ['"', '\\', '\\"', '\\\\', ' ', '\n', '\t', '\r', '{', '}', ':', ',', 'abc', 'é', 'x'.repeat(20), '"spec with spaces"', '{"a":"b c"}'];
    let compact = 0;
    let spaced = 0;
    for (let k = 0; k < 5000; k++) {
      const text = Array.from({ length: Math.floor(r() * 40) }, () => pieces[Math.floor(r() * pieces.length)]).join('');
      // Within a larger buffer: the scan must stop at `end`, whatever follows it.
      const pad = Math.floor(r() * 20);
      const b = Buffer.concat([Buffer.from(' "\\'.repeat(pad)), Buffer.from(text), Buffer.from(' \n"x'.repeat(Math.floor(r() * 5)))]);
      const s = pad * 3;
      const e = s + Buffer.byteLength(text);
      const want = firstSpace(b, s, e);
      expect(addon.whitespaceScan(b, s, e), JSON.stringify(text)).toBe(want);
      if (want < 0) compact++;
      else spaced++;
      useWhitespaceScan(undefined);
      const plain = compactRaw(b, s, e);
      useWhitespaceScan((buf, from, to) => addon.whitespaceScan(buf, from, to));
      expect(compactRaw(b, s, e)).toBe(plain);
    }
    useWhitespaceScan(undefined);
    expect(compact).toBeGreaterThan(500);
    expect(spaced).toBeGreaterThan(500);
    expect(() => addon.whitespaceScan(Buffer.from('{}'), 0, 3)).toThrow(RangeError);
  });
});
