// `policy cost`: the sample re-levelled as kube-apiserver would have written it. What is
// kept is the input's own bytes (escapes, key order, spacing), EventLists stay
// EventLists, both JSON backends give the same file, .gz reads and writes, and each
// event equals what the object-level evaluator (applyPolicy) makes of it.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parsePolicy } from '../../src/policy/parse.js';
import { applyPolicy } from '../../src/policy/evaluate.js';
import { Releveller } from '../../src/policy/cost.js';
import { jsBackend } from '../../src/engine/backend.js';
import { fullLevelCorpus, corpusText } from '../../native-bench/policy-corpus.mjs';
import { tempDir } from '../serve/harness.js';

const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitManagedFields: true
omitStages: [RequestReceived]
rules:
  - level: None
    verbs: [watch]
  - level: Request
    verbs: [update]
  - level: RequestResponse
    verbs: [create, patch]
  - level: Metadata
`;
const policy = parsePolicy('p.yaml', POLICY);

/** Re-levels JSON lines in-process; returns the output lines. */
function relevel(text: string, p = policy): string[] {
  const r = new Releveller([p], jsBackend);
  const buf = Buffer.from(text);
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= buf.length; i++) {
    if (i < buf.length && buf[i] !== 10) continue;
    if (i > start) r.document(buf, start, i, (_k, parts) => out.push(Buffer.concat(parts).toString()));
    start = i + 1;
  }
  return out;
}

const ev = (o: Record<string, unknown>): string => JSON.stringify({ kind: 'Event', level: 'RequestResponse', stage: 'ResponseComplete', stageTimestamp: '2026-01-01T00:00:00Z', ...o });

describe('policy cost: the re-levelled log', () => {
  it('keeps the bytes it keeps: escapes, key order, spacing; only the level value changes', () => {
    const line = '{"requestObject" : {"metadata":{"managedFields":[1],"name":"caf\\u00e9"}},"kind":"Event",  "level":"RequestResponse","verb":"update","stage":"ResponseComplete","responseObject":{"x":"\\/"},"objectRef":{"resource":"pods"}}';
    expect(relevel(line)).toEqual(['{"requestObject" : {"metadata":{"name":"caf\\u00e9"}},"kind":"Event",  "level":"Request","verb":"update","stage":"ResponseComplete","objectRef":{"resource":"pods"}}']);
  });

  it('drops None and omitted stages; an EventList stays an EventList (and goes when empty)', () => {
    const list = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${ev({ verb: 'watch' })}, ${ev({ verb: 'get' })},${ev({ verb: 'get', stage: 'RequestReceived' })}]}`;
    const out = relevel(list);
    expect(out).toHaveLength(1);
    const doc = JSON.parse(out[0]);
    expect(doc.kind).toBe('EventList');
    expect(doc.items.map((i: any) => [i.verb, i.level])).toEqual([['get', 'Metadata']]);
    expect(relevel(`{"kind":"EventList","items":[${ev({ verb: 'watch' })}]}`)).toEqual([]);
    expect(relevel(ev({ verb: 'watch' }))).toEqual([]);
  });

  it('managed fields: of objects, of list items and of Table rows; never of a patch', () => {
    const mf = (x: number) => ({ metadata: { managedFields: [x], name: `n${x}` } });
    const out = relevel([
      ev({ verb: 'create', requestObject: mf(1), responseObject: { kind: 'PodList', items: [mf(2), mf(3)] } }),
      ev({ verb: 'create', responseObject: { kind: 'Table', rows: [{ cells: [], object: mf(4) }] } }),
      ev({ verb: 'patch', requestObject: mf(5), responseObject: mf(6) }),
    ].join('\n')).map((l) => JSON.parse(l));
    expect(out[0].requestObject).toEqual({ metadata: { name: 'n1' } });
    expect(out[0].responseObject.items).toEqual([{ metadata: { name: 'n2' } }, { metadata: { name: 'n3' } }]);
    expect(out[1].responseObject.rows[0].object).toEqual({ metadata: { name: 'n4' } });
    expect(out[2].requestObject).toEqual(mf(5));
    expect(out[2].responseObject).toEqual({ metadata: { name: 'n6' } });
  });

  it('deletes first, middle and last members and elements without breaking the JSON', () => {
    const p = parsePolicy('m.yaml', 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n');
    const lines = [
      '{"requestObject":{},"responseObject":[],"kind":"Event","verb":"get"}',
      '{"kind":"Event","requestObject":{},"verb":"get","responseObject":1}',
      '{ "kind" : "Event" , "verb" : "get" , "requestObject" : { "a" : [ 1 , 2 ] } }',
      '[{"kind":"Event","requestObject":{}},{"kind":"Event","responseObject":{}}]',
    ];
    const out = relevel(lines.join('\n'), p);
    expect(out).toEqual([
      '{"kind":"Event","verb":"get"}',
      '{"kind":"Event","verb":"get"}',
      '{ "kind" : "Event" , "verb" : "get"  }',
      '[{"kind":"Event"},{"kind":"Event"}]',
    ]);
    for (const l of out) JSON.parse(l);
  });

  it('every event is what applyPolicy makes of it, on the mixed corpus', () => {
    const events = fullLevelCorpus(600, { seed: 9, traces: true });
    const lines = events.map((e: unknown) => JSON.stringify(e));
    const out = relevel(lines.join('\n'));
    const want = events.map((e: unknown) => applyPolicy(policy, e)).filter((e: unknown) => e !== undefined);
    expect(out.map((l) => JSON.parse(l))).toEqual(want);
  });

  it('the CLI: both JSON backends write the same file, .gz in and out, the report adds up', () => {
    const dir = tempDir();
    const text = corpusText(fullLevelCorpus(400, { seed: 4 }));
    const plain = join(dir, 'in.jsonl');
    const gz = join(dir, 'in.jsonl.gz');
    writeFileSync(plain, text);
    writeFileSync(gz, gzipSync(text));
    const pol = join(dir, 'p.yaml');
    writeFileSync(pol, POLICY);
    const run = (env: string, input: string, out: string) => spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'cost', '--policy', pol, '--policy', pol, '--write', out, '--format', 'json', input],
      { encoding: 'utf8', env: { ...process.env, PEREGRINE_NATIVE: env } });
    const a = run('1', plain, join(dir, 'a.jsonl'));
    const b = run('0', gz, join(dir, 'b.jsonl.gz'));
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    const written = readFileSync(join(dir, 'a.jsonl'));
    expect(gunzipSync(readFileSync(join(dir, 'b.jsonl.gz'))).equals(written)).toBe(true);
    expect(JSON.parse(a.stdout)).toEqual(JSON.parse(b.stdout));
    const r = JSON.parse(a.stdout);
    expect(r.sample.bytes).toBe(Buffer.byteLength(text));
    expect(r.policies).toHaveLength(2);
    const c = r.policies[0];
    expect(c.bytes).toBe(written.length);
    expect(c.ratio.bytes).toBeCloseTo(written.length / Buffer.byteLength(text), 6);
    const levels = Object.values(c.byLevel) as Array<{ events: number }>;
    expect(levels.reduce((s, x) => s + x.events, 0)).toBe(r.sample.events);
    expect(Object.values(c.byResource).reduce((s: number, x: any) => s + x.bytes, 0)).toBe(c.eventBytes);
    // Each --write goes with the --policy before it.
    const two = spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'cost', '--policy', 'docs/audit-policy.yaml', '--write', join(dir, 'd.jsonl'), '--policy', pol, '--write', join(dir, 'p.jsonl'), plain], { encoding: 'utf8' });
    expect(two.status, two.stderr).toBe(0);
    expect(readFileSync(join(dir, 'p.jsonl')).equals(written)).toBe(true);
    expect(readFileSync(join(dir, 'd.jsonl')).equals(written)).toBe(false);
    expect(spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'cost', '--write', join(dir, 'x.jsonl'), '--policy', pol, plain]).status).toBe(2);
    // A --write onto an input (by another path too) or onto another --write is refused, the input untouched.
    for (const args of [['--policy', pol, '--write', plain, plain], ['--policy', pol, '--write', join(dir, '.', 'in.jsonl.gz'), gz],
      ['--policy', pol, '--write', join(dir, 'w.jsonl'), '--policy', pol, '--write', join(dir, 'w.jsonl'), plain]]) {
      const r2 = spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'cost', ...args], { encoding: 'utf8' });
      expect(r2.status, args.join(' ')).toBe(2);
      expect(r2.stderr).toMatch(/--write .* (is the input .*: it would be emptied before it is read|is given twice)/);
    }
    expect(readFileSync(plain, 'utf8')).toBe(text);
    expect(gunzipSync(readFileSync(gz)).toString()).toBe(text);
    // The text report names both policies side by side.
    const t = spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'cost', '--policy', pol, '--policy', 'docs/audit-policy.yaml', plain], { encoding: 'utf8' });
    expect(t.status).toBe(0);
    expect(t.stdout.split('\n')[0]).toMatch(/sample\s+.*p\.yaml\s+docs\/audit-policy\.yaml/);
    expect(t.stdout).toContain('by level');
    expect(t.stdout).toContain('by resource');
  });

  it('bad input lines are reported with file:line and exit 1; usage and policy errors exit 2', () => {
    const dir = tempDir();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, `${ev({ verb: 'get' })}\nnot json\n{"kind":"Other"}\n`);
    const pol = join(dir, 'p.yaml');
    writeFileSync(pol, POLICY);
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'cost', '--policy', pol, input], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${input}:2: invalid JSON`);
    expect(r.stderr).toContain(`${input}:3: data not recognized as a k8s audit event`);
    const u = spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'cost', input], { encoding: 'utf8' });
    expect(u.status).toBe(2);
    writeFileSync(pol, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    verbz: []\n');
    const b = spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'cost', '--policy', pol, input], { encoding: 'utf8' });
    expect(b.status).toBe(2);
    expect(b.stderr).toContain(`${pol}:5:5: ERR_POLICY: unknown field 'verbz'`);
  });
});
