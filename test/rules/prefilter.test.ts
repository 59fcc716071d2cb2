// The extractor's prefilter skips events no rule can match: it must never change an
// alert (the differential tests in native.test.ts compare the native backend, prefilter
// on, with the TypeScript one), it must actually skip (most events of a cluster match no
// rule), and a malformed program must be refused, never crash the process.
import { describe, expect, it } from 'vitest';
import { Ruleset } from '../../src/rules/ruleset.js';
import { Processor } from '../../src/engine/processor.js';
import { jsBackend } from '../../src/engine/backend.js';
import { nativeBackend } from '../../src/engine/native-backend.js';
import { loadNative } from '../../src/native/loader.js';
import { encodePrefilter, pfAnd, pfNot, pfOr, PF_FALSE, PF_TRUE, PF_UNKNOWN } from '../../src/rules/prefilter.js';
// @ts-expect-error plain ES module without types
import { generateLines, rng } from '../../native-bench/corpus.mjs';
import { latestRules } from '../conformance-lib.js';

const addon = loadNative();
if (addon === undefined) throw new Error('native extractor not built: npm ci should have built it');
const native = nativeBackend(addon);

function rules(yaml: string): Ruleset {
  return Ruleset.compile([{ name: 'r.yaml', text: yaml }], { ruleMatching: 'all' });
}

/** `lines` as one buffer, and the [start, end) of each. */
function batchOf(lines: string[]): { buf: Buffer; ranges: number[] } {
  const ranges: number[] = [];
  let off = 0;
  for (const l of lines) {
    ranges.push(off, off + Buffer.byteLength(l));
    off += Buffer.byteLength(l) + 1;
  }
  return { buf: Buffer.from(lines.join('\n')), ranges };
}

/** Alerts (as JSON) of `lines` evaluated as one batch, and how many events were skipped. */
function run(rs: Ruleset, lines: string[], opts: { native: boolean; prefilter: boolean }): { alerts: string[]; skipped: number } {
  const { buf, ranges } = batchOf(lines);
  const p = new Processor(rs, { format: { hostname: 'h', timeIso8601: false }, backend: opts.native ? native : jsBackend, prefilter: opts.prefilter });
  const alerts: string[] = [];
  p.processBatch(buf, ranges, lines.length, false, (a) => alerts.push(a.json), () => {});
  return { alerts, skipped: p.prefiltered };
}

const event = (over: Record<string, unknown>): Record<string, unknown> => ({
  kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: 'a1', stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/pods', verb: 'get',
  user: { username: 'system:node:n1', groups: ['system:nodes'] },
  objectRef: { resource: 'pods', namespace: 'default', name: 'p1' },
  responseStatus: { code: 200 }, stageTimestamp: '2025-10-23T17:06:01.792123Z', ...over,
});

describe('prefilter', () => {
  it('skips most events of a generated cluster log and changes no alert', () => {
    const rs = latestRules();
    const lines: string[] = generateLines(3000);
    const on = run(rs, lines, { native: true, prefilter: true });
    const off = run(rs, lines, { native: true, prefilter: false });
    const ts = run(rs, lines, { native: false, prefilter: true });
    expect(on.alerts.length).toBeGreaterThan(0);
    expect(on.alerts).toEqual(off.alerts);
    expect(on.alerts).toEqual(ts.alerts);
    expect(off.skipped).toBe(0);
    expect(ts.skipped).toBe(0);
    // Metadata-level reads by controllers and kubelets (about 90 %) match no rule.
    expect(on.skipped / lines.length).toBeGreaterThan(0.8);
  });

  it('leaves to JavaScript what the symbols cannot decide', () => {
    const rs = rules(`
- rule: alice
  desc: d
  condition: ka.user.name = alice
  output: "u=%ka.user.name"
  priority: WARNING
  source: k8s_audit
- rule: not system
  desc: d
  condition: ka.verb = create and not ka.user.name startswith "system:"
  output: "n=%ka.user.name"
  priority: WARNING
  source: k8s_audit
- rule: epoch
  desc: d
  condition: jevt.rawtime = 0
  output: "t=%jevt.rawtime"
  priority: WARNING
  source: k8s_audit
- rule: no audit id
  desc: d
  condition: jevt.value[/verb] = list and not ka.user.name in (bob)
  output: "x"
  priority: WARNING
  source: k8s_audit
`);
    // Escaped strings are not symbols: only JavaScript can compare their text.
    const escaped = (e: Record<string, unknown>, user: string): string => JSON.stringify(e).replace('"USER"', JSON.stringify(user).replace(/@/g, '\\'));
    const lines = [
      JSON.stringify(event({})), // matches nothing
      escaped(event({ user: { username: 'USER' } }), 'al@u0069ce'), // alice
      escaped(event({ verb: 'create', user: { username: 'USER' } }), 'syst@u0065m:x'), // system:x
      JSON.stringify(event({ verb: 'create', user: { username: 'system:x' } })), // matches nothing
      JSON.stringify(event({ verb: 'create', user: { username: 'bob' } })),
      JSON.stringify(event({ stageTimestamp: '1970-01-01T00:00:00Z' })),
      JSON.stringify(event({ verb: 'list', auditID: undefined })), // ka.* fields absent
      JSON.stringify(event({ verb: 'list' })),
      JSON.stringify(event({ user: 7 })), // no user name: matches nothing
    ];
    expect(lines[1]).toContain('al\\u0069ce');
    const on = run(rs, lines, { native: true, prefilter: true });
    const ts = run(rs, lines, { native: false, prefilter: true });
    expect(on.alerts).toEqual(ts.alerts);
    const fired = on.alerts.map((a) => (JSON.parse(a) as { rule: string; output: string }).rule);
    expect(fired).toEqual(['alice', 'not system', 'epoch', 'no audit id', 'no audit id']);
    expect(on.skipped).toBe(3);
  });

  it('walks list fields as the plugin does, over random pod specs', () => {
    const conds = [
      'ka.req.pod.containers.privileged intersects (true)',
      'ka.req.pod.initContainers.privileged intersects (true, "false")',
      'ka.req.pod.containers.privileged[1] intersects (true)',
      'ka.req.pod.containers.run_as_user intersects (0, 5)',
      'ka.req.pod.containers.add_capabilities intersects (NET_ADMIN)',
      'ka.req.pod.volumes.hostpath intersects (/etc, /proc)',
      'ka.req.pod.volumes.flexvolume_driver intersects (d)',
      'ka.verb = create and not ka.req.pod.containers.privileged intersects (true)',
      'ka.req.pod.ephemeralContainers.read_only_fs intersects (false) or ka.req.pod.containers.proc_mount intersects (x)',
    ];
    const rs = rules(conds.map((c, i) => `- rule: r${i}\n  desc: d\n  condition: ${JSON.stringify(c)}\n  output: o\n  priority: WARNING\n  source: k8s_audit\n`).join('\n'));
    const r = rng(11);
    const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
    const maybe = (v: () => unknown): unknown => (r() < 0.3 ? undefined : v());
    const scalar = (): unknown => pick([true, false, 'true', 0, 5, '5', 'x', null, 'ESC_TRUE', ['x'], { a: 1 }]);
    const container = (): unknown => (r() < 0.1 ? scalar() : {
      name: 'c',
      securityContext: maybe(() => (r() < 0.15 ? scalar() : {
        [r() < 0.1 ? 'ESC_KEY' : 'privileged']: maybe(scalar), runAsUser: maybe(scalar), readOnlyRootFilesystem: maybe(scalar), procMount: maybe(scalar),
        capabilities: maybe(() => ({ add: maybe(() => pick([['NET_ADMIN'], [], 'NET_ADMIN', [[1]]])) })),
      })),
    });
    const list = (): unknown => (r() < 0.1 ? scalar() : Array.from({ length: Math.floor(r() * 3) }, () => (r() < 0.05 ? [container()] : container())));
    const lines: string[] = [];
    for (let i = 0; i < 600; i++) {
      const spec = {
        containers: maybe(list), initContainers: maybe(list), ephemeralContainers: maybe(list),
        volumes: maybe(() => [{ name: 'v', hostPath: maybe(() => ({ path: pick(['/etc', '/proc', '/var', 3, 'ESC_ETC']) })), flexVolume: maybe(() => ({ driver: pick(['d', 'e']) })) }, { name: 'w' }]),
      };
      const e = event({ verb: pick(['create', 'get']), auditID: r() < 0.05 ? undefined : `p${i}`, requestObject: { spec: r() < 0.05 ? [spec] : spec } });
      lines.push(JSON.stringify(e).replaceAll('"ESC_TRUE"', '"tr\\u0075e"').replaceAll('"ESC_KEY"', '"privil\\u0065ged"').replaceAll('"ESC_ETC"', '"\\/etc"'));
    }
    expect(lines.join('\n')).toContain('privil\\u0065ged');
    const on = run(rs, lines, { native: true, prefilter: true });
    const ts = run(rs, lines, { native: false, prefilter: true });
    expect(on.alerts.length).toBeGreaterThan(100);
    expect(on.alerts).toEqual(ts.alerts);
    expect(on.skipped).toBeGreaterThan(50);
  });

  it('still reports what plain events must report: over the size limit, another kind, no time', () => {
    const rs = latestRules();
    const lines = [
      JSON.stringify(event({})), // matches nothing: skipped
      JSON.stringify(event({ userAgent: 'x'.repeat(400) })), // over the limit below
      JSON.stringify(event({ kind: 'Other' })),
      JSON.stringify(event({ stageTimestamp: 'yesterday' })),
      JSON.stringify(event({ stageTimestamp: undefined })),
      JSON.stringify({ kind: 'EventList', items: [event({}), event({ userAgent: 'y'.repeat(400) })] }),
    ];
    const results = (useNative: boolean): string[] => {
      const { buf, ranges } = batchOf(lines);
      const p = new Processor(rs, { format: { hostname: 'h', timeIso8601: false }, backend: useNative ? native : jsBackend, maxEventSize: 600 });
      const out: string[] = [];
      p.processBatch(buf, ranges, lines.length, false, (a) => out.push(a.json), (k, r) => { out.push(`#${k} ${r.events} ${JSON.stringify(r.issues)}`); });
      return out;
    };
    const on = results(true);
    expect(on).toEqual(results(false));
    expect(on.join('\n')).toContain('larger than maxEventSize');
    expect(on.filter((l) => l.includes('larger than maxEventSize')).length).toBe(2);
    expect(on[0]).toBe('#0 1 []');
  });

  it('handles rulesets of no rules and of hundreds of rules (candidate bits beyond registers)', () => {
    const none = rules('- list: l\n  items: [a]\n');
    expect(run(none, [JSON.stringify(event({}))], { native: true, prefilter: true })).toEqual({ alerts: [], skipped: 1 });
    for (const count of [40, 70, 300]) {
      const many = rules(Array.from({ length: count }, (_, i) =>
        `- rule: r${i}\n  desc: d\n  condition: ka.user.name = u${i} or (ka.verb = delete and ka.target.name = p${i})\n  output: o\n  priority: WARNING\n  source: k8s_audit\n`).join('\n'));
      const lines = Array.from({ length: 2 * count }, (_, i) => JSON.stringify(event({
        user: { username: i % 3 === 0 ? `u${i % count}` : 'nobody' }, verb: i % 5 === 0 ? 'delete' : 'get',
        objectRef: { resource: 'pods', namespace: 'default', name: `p${(i * 7) % count}` },
      })));
      const on = run(many, lines, { native: true, prefilter: true });
      const ts = run(many, lines, { native: false, prefilter: true });
      expect(on.alerts.length).toBeGreaterThan(count / 2);
      expect(on.alerts).toEqual(ts.alerts);
      expect(on.skipped).toBeGreaterThan(count / 2);
    }
  });

  it('refuses malformed programs and survives mutated ones', () => {
    const rs = latestRules();
    const { program, strings } = rs.slots.plan.encode();
    const good = rs.prefilter;
    expect(() => addon.compilePlan(program, strings, good.program, good.pool)).not.toThrow();
    const bad = (p: Int32Array, pool: Uint8Array = good.pool): void => {
      expect(() => addon.compilePlan(program, strings, p, pool)).toThrow(/malformed field plan/);
    };
    bad(Int32Array.from([]));
    bad(good.program.slice(0, good.program.length - 1));
    bad(Int32Array.from([...good.program, 0]));
    bad(good.program, new Uint8Array(0));
    // Random mutations: compile or refuse, and parse events either way.
    const rand = rng(7);
    const doc = Buffer.from(JSON.stringify(event({ verb: 'create' })));
    const p = new Processor(rs, { format: { hostname: 'h', timeIso8601: false }, backend: native });
    for (let i = 0; i < 300; i++) {
      const m = good.program.slice();
      for (let k = 0; k < 3; k++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 80) - 8;
      let handle: unknown;
      try {
        handle = addon.compilePlan(program, strings, m, good.pool);
      } catch (e) {
        expect(String(e)).toMatch(/malformed field plan/);
        continue;
      }
      const rows = new Int32Array(4 + 64 * (5 + 2 * rs.slots.plan.slotCount));
      const table = (p as unknown as { table: { mem: ArrayBuffer; capacity: number } }).table;
      expect(addon.parse(doc, 0, doc.length, table.mem, table.capacity, handle, rows, 64, rs.slots.plan.slotCount)).toBeGreaterThan(0);
    }
  });

  it('folds constants in three-valued logic', () => {
    const leaf = { op: 'set' as const, slot: 2, gated: false, members: new Uint8Array([1]) };
    expect(pfAnd([PF_TRUE, PF_FALSE, leaf])).toBe(PF_FALSE);
    expect(pfAnd([PF_TRUE, leaf])).toBe(leaf);
    expect(pfOr([PF_FALSE, PF_TRUE])).toBe(PF_TRUE);
    expect(pfOr([PF_FALSE, PF_UNKNOWN])).toBe(PF_UNKNOWN);
    expect(pfNot(PF_UNKNOWN)).toBe(PF_UNKNOWN);
    expect(pfNot(PF_FALSE)).toBe(PF_TRUE);
    const enc = encodePrefilter([pfAnd([leaf, pfNot(leaf)])], -1);
    // [audit, rules, and(len 2+1+6+8), set, not(set), index words, slots, slot 2, ...]
    expect(Array.from(enc.program.slice(0, 5))).toEqual([-1, 1, 4, 17, 2]);
  });
});
