// Alert ids (outputs/alert-id.ts): RFC 9562 UUIDv5 of cluster, auditID, stage and rule,
// the same from both JSON backends whatever the rules read, the forced cluster winning
// over the annotation, and nothing without RulesetOptions.alertIds.
import { describe, expect, it } from 'vitest';
import { ALERT_ID_NAMESPACE, alertIdName, alertIdOf } from '../../src/outputs/alert-id.js';
import { withUuid } from '../../src/outputs/http-target.js';
import { Ruleset } from '../../src/rules/ruleset.js';
import { Processor, type Alert } from '../../src/engine/processor.js';
import { jsBackend } from '../../src/engine/backend.js';
import { nativeBackend } from '../../src/engine/native-backend.js';
import { loadNative } from '../../src/native/loader.js';
import { auditEvent } from '../serve/fixtures.js';

// A rule that reads neither the stage nor the auditID nor the annotation.
const RULES = `
- rule: Secret get
  desc: t
  condition: ka.verb = get and ka.target.resource = secrets
  output: secret (user=%ka.user.name)
  priority: WARNING
  source: k8s_audit
- rule: Anonymous
  desc: t
  condition: ka.user.name = system:anonymous
  output: anon
  priority: NOTICE
  source: k8s_audit
`;

function alerts(docs: unknown[], opts: { native: boolean; ids: boolean; cluster?: string; matching?: 'first' | 'all' }): Alert[] {
  const rs = Ruleset.compile([{ name: 'r.yaml', text: RULES }], { ruleMatching: opts.matching ?? 'all', ...(opts.ids ? { alertIds: true } : {}) });
  const addon = loadNative();
  if (opts.native && addon === undefined) throw new Error('native extractor not built');
  const p = new Processor(rs, { format: { hostname: 'h', timeIso8601: false }, backend: opts.native ? nativeBackend(addon!) : jsBackend });
  const buf = Buffer.from(docs.map((d) => JSON.stringify(d)).join('\n'));
  const ranges: number[] = [];
  let at = 0;
  for (const d of docs) {
    const len = Buffer.byteLength(JSON.stringify(d));
    ranges.push(at, at + len);
    at += len + 1;
  }
  const out: Alert[] = [];
  p.processBatch(buf, Uint32Array.from(ranges), docs.length, false, (a) => out.push(a), () => true, opts.cluster);
  return out;
}

describe('alert ids', () => {
  it('are RFC 9562 UUIDv5 in the Peregrine namespace (checked against Python uuid.uuid5)', () => {
    expect(ALERT_ID_NAMESPACE).toBe('0b9f3c0e-5d1a-4c7e-9f3a-7e0d6a1b2c45');
    expect(alertIdOf('prod\nabc-123\nResponseComplete\nTest Anonymous')).toBe('39f91769-ad02-528f-89e6-c8abca40e2fe');
    expect(alertIdOf(alertIdName('é', undefined, 'RequestReceived', 'r', '1700000000000000000'))).toBe('d28574ac-9ab6-56db-ad1a-273125a64795');
  });

  it('derive from cluster, auditID, stage and rule; the same from both backends; the credential\'s cluster wins over the annotation', () => {
    const ev = auditEvent('id-1', { alert: true, clusterAnnotation: 'claimed' });
    const other = { ...auditEvent('id-1', { alert: true, clusterAnnotation: 'claimed' }), stage: 'ResponseStarted' };
    for (const native of [false, true]) {
      const a = alerts([ev, other], { native, ids: true });
      expect(a.map((x) => x.rule.name)).toEqual(['Secret get', 'Anonymous', 'Secret get', 'Anonymous']);
      expect(a.map((x) => x.id)).toEqual([
        alertIdOf('claimed\nid-1\nResponseComplete\nSecret get'), alertIdOf('claimed\nid-1\nResponseComplete\nAnonymous'),
        alertIdOf('claimed\nid-1\nResponseStarted\nSecret get'), alertIdOf('claimed\nid-1\nResponseStarted\nAnonymous'),
      ]);
      const forced = alerts([ev], { native, ids: true, cluster: 'prod' });
      expect(forced[0].id).toBe(alertIdOf('prod\nid-1\nResponseComplete\nSecret get'));
      // The same event again (a replay): the same ids.
      expect(alerts([ev], { native, ids: true, cluster: 'prod' }).map((x) => x.id)).toEqual(forced.map((x) => x.id));
      // The Falco JSON is not touched by ids.
      expect(forced.map((x) => x.json)).toEqual(alerts([ev], { native, ids: false, cluster: 'prod' }).map((x) => x.json));
      expect(alerts([ev], { native, ids: false }).every((x) => x.id === undefined)).toBe(true);
    }
  });

  it('the HTTP body: the Falco object with "uuid" as its last member', () => {
    const json = Buffer.from('{"hostname":"h","time":"2025-01-01T00:00:00.000000000Z"}');
    const body = withUuid(json, Buffer.from('39f91769-ad02-528f-89e6-c8abca40e2fe'));
    expect(body.toString()).toBe('{"hostname":"h","time":"2025-01-01T00:00:00.000000000Z","uuid":"39f91769-ad02-528f-89e6-c8abca40e2fe"}');
    expect(Object.keys(JSON.parse(body.toString()))).toEqual(['hostname', 'time', 'uuid']);
  });
});
