// The real server over HTTP: authentication, request validation, a valid batch's
// alerts in the output file with the credential's cluster, health and metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditEvent, batch, eventList } from './fixtures.js';
import { metricValue, metricsText, post, rawRequest, readAlerts, startServer, tempDir, waitFor, type Server } from './harness.js';

const TOKEN_A = 'token-for-cluster-a-0123456789';
const TOKEN_B = 'token-for-cluster-b-9876543210';

describe('peregrine serve end to end (tokens)', () => {
  let s: Server;
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.token'), TOKEN_A + '\n');
    writeFileSync(join(dir, 'b.token'), `# rotated\n${TOKEN_B}\nsecond-token-for-b-xxxxxxxx\n`);
    s = await startServer({
      dir,
      config: {
        auth: { tokens: [{ cluster: 'prod-a', file: join(dir, 'a.token') }, { cluster: 'prod-b', file: join(dir, 'b.token') }] },
        limits: { max_body_bytes: '1MiB', max_event_bytes: '8KiB', task_bytes: '16KiB' },
      },
    });
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  it('401 without credentials or with a wrong token, and reads nothing', async () => {
    const before = metricValue(await metricsText(s), 'peregrine_received_bytes_total{cluster="prod-a"}');
    const { body } = batch('unauth', 3);
    for (const h of [{}, auth('wrong-token-wrong-token'), { authorization: 'Basic dXNlcjpwYXNz' }, auth(TOKEN_A + 'x')]) {
      const r = await post(s.webhook, body, h);
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('unauthorized');
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    }
    const text = await metricsText(s);
    expect(metricValue(text, 'peregrine_received_bytes_total{cluster="prod-a"}')).toBe(before);
    expect(metricValue(text, 'peregrine_requests_rejected_total{cluster="none",reason="unauthorized"}')).toBe(4);
    expect(readAlerts(s.outFile).filter((a) => a.output_fields['ka.auditid'].startsWith('unauth'))).toEqual([]);
  });

  it('a valid batch yields exactly its alerts, with the credential\'s cluster whatever the events claim', async () => {
    const { body, alertIds } = batch('valid', 120, 3, { clusterAnnotation: 'spoofed-cluster' });
    const r = await post(s.webhook, body, auth(TOKEN_A));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ events: 120, alerts: 40, rejected_events: 0 });
    // Acknowledged means the alerts are already in the output queue; the file write follows.
    const alerts = await waitFor(() => {
      const a = readAlerts(s.outFile).filter((x) => x.output_fields['ka.auditid'].startsWith('valid-'));
      return a.length >= 40 ? a : undefined;
    }, 'alerts in the output file');
    expect(alerts.map((a) => a.output_fields['ka.auditid'])).toEqual(alertIds);
    for (const a of alerts) {
      expect(a.output_fields['ka.cluster.name']).toBe('prod-a');
      expect(a).toMatchObject({ rule: 'Test Anonymous', priority: 'Warning', source: 'k8s_audit', tags: ['test'] });
      expect(Object.keys(a)).toEqual(['hostname', 'output', 'output_fields', 'priority', 'rule', 'source', 'tags', 'time']);
    }
    // Second token line of cluster b works too.
    const r2 = await post(s.webhook, eventList([auditEvent('b-1', { alert: true })]), auth('second-token-for-b-xxxxxxxx'));
    expect(r2.status).toBe(200);
    await waitFor(() => readAlerts(s.outFile).find((a) => a.output_fields['ka.auditid'] === 'b-1'), 'b-1 alert');
    expect(readAlerts(s.outFile).find((a) => a.output_fields['ka.auditid'] === 'b-1').output_fields['ka.cluster.name']).toBe('prod-b');
  });

  it('accepts a single Event and an array of documents', async () => {
    const r1 = await post(s.webhook, JSON.stringify(auditEvent('single-1', { alert: true })), auth(TOKEN_B));
    expect(r1.json).toMatchObject({ events: 1, alerts: 1 });
    const r2 = await post(s.webhook, JSON.stringify([auditEvent('arr-1', { alert: true }), JSON.parse(eventList([auditEvent('arr-2', { alert: true })]))]), auth(TOKEN_B));
    expect(r2.json).toMatchObject({ events: 2, alerts: 2 });
  });

  it('415 for a non-JSON content type, 413 over the body limit and 411 without a length, before reading the body', async () => {
    const r = await post(s.webhook, eventList([]), { ...auth(TOKEN_A), 'content-type': 'text/plain' });
    expect(r.status).toBe(415);
    // Headers only: the body is never sent, yet the answer comes.
    const big = await rawRequest(s.webhook, `POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 413/);
    const noLen = await rawRequest(s.webhook, `POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Type: application/json\r\n`);
    expect(noLen).toMatch(/^HTTP\/1\.1 411/);
    const get = await fetch(s.webhook, { headers: auth(TOKEN_A) });
    expect(get.status).toBe(405);
  });

  it('400 with a reason for malformed JSON or non-audit bodies, and nothing of them is output', async () => {
    const cases: [string, string, RegExp][] = [
      ['{"kind":"EventList","items":[', 'malformed', /invalid JSON at byte \d+/],
      ['{"kind":"Pod","items":[]}', 'not_audit', /not recognized as a k8s audit event/],
      ['[1,2]', 'not_audit', /not recognized/],
      ['{"kind":"EventList","metadata":{"x":nul},"items":[]}', 'malformed', /expected a value/],
    ];
    for (const [body, code, re] of cases) {
      const r = await post(s.webhook, body, auth(TOKEN_A));
      expect(r.status, body).toBe(400);
      expect(r.json.error.code).toBe(code);
      expect(r.json.error.message).toMatch(re);
    }
    // A broken event deep inside a multi-task body: the other tasks' alerts are discarded.
    const items: unknown[] = [];
    for (let i = 0; i < 60; i++) items.push(auditEvent(`bad-batch-${i}`, { alert: true }));
    const good = eventList(items);
    const broken = good.replace('"auditID":"bad-batch-55"', '"auditID":"bad-batch-55",,');
    const before = metricValue(await metricsText(s), 'peregrine_alerts_discarded_total');
    const r = await post(s.webhook, broken, auth(TOKEN_A));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'malformed' });
    expect(r.json.error.message).toMatch(/^event 55: invalid JSON/);
    const text = await metricsText(s);
    // Several tasks of 16 KiB: events before 55 were evaluated and their alerts discarded.
    expect(metricValue(text, 'peregrine_alerts_discarded_total')).toBeGreaterThan(before + 10);
    await new Promise((res) => setTimeout(res, 200));
    expect(readAlerts(s.outFile).filter((a) => a.output_fields['ka.auditid'].startsWith('bad-batch'))).toEqual([]);
  });

  it('counts and reports events over the per-event limit and events without a time', async () => {
    const items = [auditEvent('small-1', { alert: true }), auditEvent('huge-1', { alert: true, padTo: 20_000 }), { kind: 'Event', auditID: 'notime' }];
    const r = await post(s.webhook, eventList(items), auth(TOKEN_A));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ events: 1, alerts: 1, rejected_events: 2 });
    expect(r.json.issues.map((i: { item: number; code: string }) => [i.item, i.code])).toEqual([[1, 'ERR_INPUT_TOO_LARGE'], [2, 'ERR_INPUT_TIMESTAMP']]);
    const text = await metricsText(s);
    expect(metricValue(text, 'peregrine_events_rejected_total{cluster="prod-a",reason="ERR_INPUT_TOO_LARGE"}')).toBe(1);
    expect(s.stderr()).toMatch(/cluster prod-a: event 1 not evaluated: ERR_INPUT_TOO_LARGE/);
    // Past the 20 listed in detail, every rejected event is still counted under its reason.
    const before = metricValue(text, 'peregrine_events_rejected_total{cluster="prod-a",reason="ERR_INPUT_TIMESTAMP"}');
    const many = Array.from({ length: 30 }, (_, i) => ({ kind: 'Event', auditID: `notime-${i}` }));
    const r2 = await post(s.webhook, eventList([auditEvent('small-2', { alert: true }), ...many]), auth(TOKEN_A));
    expect(r2.json).toMatchObject({ events: 1, alerts: 1, rejected_events: 30 });
    expect(r2.json.issues).toHaveLength(20);
    const text2 = await metricsText(s);
    expect(metricValue(text2, 'peregrine_events_rejected_total{cluster="prod-a",reason="ERR_INPUT_TIMESTAMP"}')).toBe(before + 30);
    expect(text2).not.toContain('peregrine_events_rejected_total{cluster="prod-a",reason="other"}');
    expect(s.stderr()).toMatch(/cluster prod-a: 10 more events not evaluated in the same request/);
  });

  it('serves /healthz, /readyz and /metrics with the histograms and per-cluster counters', async () => {
    expect((await fetch(`${s.metrics}/healthz`)).status).toBe(200);
    const ready = await fetch(`${s.metrics}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, rules: { generation: 1 } });
    const text = await metricsText(s);
    for (const h of ['peregrine_request_duration_seconds', 'peregrine_queue_wait_seconds', 'peregrine_task_evaluation_seconds', 'peregrine_detection_latency_seconds']) {
      expect(text).toContain(`# TYPE ${h} histogram`);
      expect(text).toMatch(new RegExp(`^${h}_bucket\\{.*le="\\+Inf".*\\} [1-9]`, 'm'));
      expect(text).toMatch(new RegExp(`^${h}_count(\\{.*\\})? [1-9]`, 'm'));
    }
    expect(metricValue(text, 'peregrine_events_total{cluster="prod-a"}')).toBeGreaterThanOrEqual(121);
    expect(metricValue(text, 'peregrine_alerts_total{rule="Test Anonymous",priority="Warning",cluster="prod-a"}')).toBeGreaterThanOrEqual(41);
    expect(metricValue(text, 'peregrine_requests_total{cluster="prod-a",code="200"}')).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^peregrine_ring_occupancy_ratio\{ring="0"\} /m);
    expect(text).toMatch(/^peregrine_workers_busy /m);
    expect(text).toMatch(/^peregrine_queue_depth /m);
    expect(metricValue(text, 'peregrine_worker_events_total')).toBeGreaterThan(100);
    expect(metricValue(text, 'peregrine_output_up{output="file"}')).toBe(1);
    // No secrets in the logs.
    expect(s.stderr()).not.toContain(TOKEN_A);
    expect(s.stderr()).not.toContain(TOKEN_B);
  });
});

describe('peregrine serve: JSON extractor', () => {
  it('names the extractor at startup; with PEREGRINE_NATIVE=0 the workers run the TypeScript parser with the same alerts', async () => {
    const results: string[][] = [];
    const { body, alertIds } = batch('ext', 60, 4);
    for (const env of [{}, { PEREGRINE_NATIVE: '0' }]) {
      const s = await startServer({ env });
      try {
        const line = /listening .*/.exec(s.stderr())![0];
        if ('PEREGRINE_NATIVE' in env) expect(line).toMatch(/ json=typescript \(PEREGRINE_NATIVE=0\)$/);
        else expect(line).toMatch(/ json=(native \(simdjson|typescript \(native extractor not built)/);
        const r = await post(s.webhook, body);
        expect(r.status).toBe(200);
        const alerts = await waitFor(() => {
          const a = readAlerts(s.outFile);
          return a.length >= alertIds.length ? a : undefined;
        }, 'alerts');
        expect(alerts.map((a) => a.output_fields['ka.auditid'])).toEqual(alertIds);
        results.push(alerts.map((a) => a.output));
      } finally {
        expect(await s.stop()).toBe(0);
      }
    }
    expect(results[1]).toEqual(results[0]);
  });
});
