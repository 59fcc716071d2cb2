// FALCO-SEMANTICS.md §8: events missing common parts, undecodable times, documents that are
// not audit events, EventLists and arrays — one input file, rules evaluated with `all`.
import { describe, expect, it } from 'vitest';
import { type Json, ev, message, rulesYaml, scan } from './lib.js';

const LAYOUT = '"2006-01-02T15:04:05.999999999Z07:00"';
const out = 'id=%jevt.value[/auditID] u=%ka.user.name ns=%ka.target.namespace r=%ka.target.resource v=%ka.verb';
const RULES = rulesYaml([
  { name: 'jevt', condition: 'jevt.value[/verb] exists', output: out },
  { name: 'ne', condition: 'ka.target.namespace != foo', output: out },
  { name: 'not_hostnet', condition: 'not ka.req.pod.host_network = true', output: out },
  { name: 'not_ns', condition: 'not ka.target.namespace = foo', output: out },
]);

const noAuditId = ev({ auditID: undefined, 'user/username': 'noid' });
const lines: Json[] = [
  ev({ auditID: 'noobj', objectRef: undefined }),
  ev({ auditID: 'nouser', user: undefined }),
  noAuditId,
  ev({ auditID: 'nostage', stageTimestamp: undefined }),
  { kind: 'Event', apiVersion: 'audit.k8s.io/v1beta1', auditID: 'beta', verb: 'get', timestamp: '2017-09-05T19:33:42Z', metadata: { creationTimestamp: '2017-09-05T19:33:42Z' } },
  ev({ auditID: 't1', stageTimestamp: '2025-10-23T17:06:01.5z' }),
  ev({ auditID: 't2', stageTimestamp: '2025-10-23t17:06:01Z' }),
  ev({ auditID: 't3', stageTimestamp: '2025-10-23T17:06:01.5' }),
  ev({ auditID: 't4', stageTimestamp: '2025-10-23 17:06:01Z' }),
  ev({ auditID: 't5', stageTimestamp: 1761239161 }),
  ev({ auditID: 'nokind', kind: undefined }),
  { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [ev({ auditID: 'item1' }), ev({ auditID: 'item2', stageTimestamp: undefined }), ev({ auditID: 'item3' })] },
  JSON.stringify([ev({ auditID: 'arr1' }), ev({ auditID: 'arr2' })]),
  ev({ auditID: 'last' }),
];

describe('§8 events missing common parts', () => {
  it('alerts, drops and messages as Falco gives them; dropped events never stop the run', async () => {
    const run = await scan({ rules: [RULES], events: lines, args: ['--rule-matching', 'all'] });
    // Peregrine's contract: invalid records are reported and make the exit status 1.
    expect(run.status).toBe(1);
    const byId = new Map<string, string[]>();
    const ids: string[] = [];
    for (const a of run.alerts) {
      const id = /^id=(\S*)/.exec(message(a))![1];
      if (!byId.has(id)) ids.push(id);
      byId.set(id, [...(byId.get(id) ?? []), a.rule as string]);
    }
    expect(ids).toEqual(['noobj', 'nouser', '<NA>', 'item1', 'item3', 'arr1', 'arr2', 'last']);
    expect(byId.get('noobj')).toEqual(['jevt', 'not_hostnet', 'not_ns']);
    expect(byId.get('nouser')).toEqual(['jevt', 'ne', 'not_hostnet', 'not_ns']);
    // No auditID: every ka.* field is absent, jevt.value still works.
    const noid = run.alerts.filter((a) => message(a).startsWith('id=<NA>'));
    expect(noid.map((a) => a.rule)).toEqual(['jevt', 'not_hostnet', 'not_ns']);
    expect(message(noid[0])).toBe('id=<NA> u=<NA> ns=<NA> r=<NA> v=<NA>');
    expect(run.alerts.find((a) => message(a).startsWith('id=noobj'))).toMatchObject({ output_fields: { 'ka.target.namespace': null, 'ka.target.resource': null, 'ka.user.name': 'alice' } });
    expect(message(run.alerts.find((a) => message(a).startsWith('id=nouser'))!)).toBe('id=nouser u=<NA> ns=default r=pods v=create');

    const f = run.input;
    const err = run.stderr;
    expect(err).toContain(`${f}:4: can't read stageTimestamp`);
    expect(err).toContain(`${f}:5: can't read stageTimestamp`);
    expect(err).toContain(`${f}:6: parsing time "2025-10-23T17:06:01.5z" as ${LAYOUT}: cannot parse "z" as "Z07:00"`);
    expect(err).toContain(`${f}:7: parsing time "2025-10-23t17:06:01Z" as ${LAYOUT}: cannot parse "t17:06:01Z" as "T"`);
    expect(err).toContain(`${f}:8: parsing time "2025-10-23T17:06:01.5" as ${LAYOUT}: cannot parse "" as "Z07:00"`);
    expect(err).toContain(`${f}:9: parsing time "2025-10-23 17:06:01Z" as ${LAYOUT}: cannot parse " 17:06:01Z" as "T"`);
    expect(err).toContain(`${f}:10: parsing time "" as ${LAYOUT}: cannot parse "" as "2006"`);
    expect(err).toContain(`${f}:11: data not recognized as a k8s audit event`);
    expect(err).toMatch(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:12: item 1: can't read stageTimestamp`));
    expect(err.trim().split('\n')).toHaveLength(9);
  });

  it.concurrent('a document whose array holds a non-event is dropped whole (ParseAuditEventsJSON)', async () => {
    const run = await scan({ rules: [RULES], events: [JSON.stringify([ev({ auditID: 'a' }), { kind: 'Other' }]), ev({ auditID: 'b' })] });
    expect(run.alerts.map((a) => /^id=(\S*)/.exec(message(a))![1])).toEqual(['b']);
    expect(run.stderr).toContain(`${run.input}:1: data not recognized as a k8s audit event`);
    expect(run.status).toBe(1);
  });
});

describe('event size limit (k8saudit source.go: len(MarshalTo) > maxEventSize, default 262144)', () => {
  it.concurrent('an event of exactly 262144 compact bytes alerts; one byte more is dropped and reported', async () => {
    const sized = (id: string, bytes: number): Record<string, Json> => {
      const e = ev({ auditID: id, annotations: { pad: '' } });
      const base = Buffer.byteLength(JSON.stringify(e));
      (e.annotations as Record<string, Json>).pad = 'x'.repeat(bytes - base);
      expect(Buffer.byteLength(JSON.stringify(e))).toBe(bytes);
      return e;
    };
    // Pretty-printed input: the limit counts the compact form, not the bytes read.
    const pretty = JSON.stringify(sized('pretty', 262144), null, 2).replace(/\n/g, ' ');
    const run = await scan({ rules: [RULES], events: [sized('fits', 262144), sized('over', 262145), pretty] });
    expect(run.alerts.map((a) => /^id=(\S*)/.exec(message(a))![1])).toEqual(['fits', 'pretty']);
    expect(run.stderr.trim()).toBe(`${run.input}:2: event larger than maxEventSize: size=262145`);
    expect(run.status).toBe(1);
  });
});
