// Back-pressure: overload answered 429 + Retry-After (not memory growth), the per-
// cluster rate limit, and an HTTP output that is down: reported on /readyz and in
// metrics, its alerts kept (not discarded) and delivered once it is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type AddressInfo } from 'node:net';
import { batch } from './fixtures.js';
import { metricValue, metricsText, post, readAlerts, startServer, tempDir, waitFor, type Server } from './harness.js';


const TOKEN = 'overload-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

function tokenDir(): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'tok'), TOKEN);
  return dir;
}

describe('overload', () => {
  let s: Server;
  beforeAll(async () => {
    const dir = tokenDir();
    s = await startServer({
      dir,
      config: {
        workers: 1,
        auth: { tokens: [{ cluster: 'busy', file: join(dir, 'tok') }] },
        limits: { max_body_bytes: '512KiB', max_inflight_bytes: '1MiB', max_queued_tasks: 8, task_bytes: '64KiB', retry_after_seconds: 2 },
      },
    });
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  it('answers 429 with Retry-After beyond the in-flight limits, and loses nothing it acknowledged', async () => {
    const rssBefore = metricValue(await metricsText(s), 'peregrine_process_resident_memory_bytes');
    const bodies = Array.from({ length: 40 }, (_, i) => batch(`ov${i}`, 500, 5));
    const results = await Promise.all(bodies.map((b) => post(s.webhook, b.body, auth)));
    const codes = results.map((r) => r.status);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThan(0);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThan(0);
    expect(codes.every((c) => c === 200 || c === 429)).toBe(true);
    for (const r of results) if (r.status === 429) {
      expect(r.headers.get('retry-after')).toBe('2');
      expect(r.json.error.code).toBe('overloaded');
    }
    const acked = new Set<string>();
    results.forEach((r, i) => { if (r.status === 200) for (const id of bodies[i].alertIds) acked.add(id); });
    const got = await waitFor(() => {
      const ids = readAlerts(s.outFile).map((a) => a.output_fields['ka.auditid'] as string).filter((id) => id.startsWith('ov'));
      return ids.length >= acked.size ? ids : undefined;
    }, 'acknowledged alerts');
    expect(new Set(got).size).toBe(got.length);
    expect(new Set(got)).toEqual(acked);
    const text = await metricsText(s);
    expect(metricValue(text, 'peregrine_requests_rejected_total{cluster="busy",reason="overloaded"}')).toBe(codes.filter((c) => c === 429).length);
    // 40 × ~0.35 MB offered; at most 1 MiB of bodies is ever held.
    expect(metricValue(text, 'peregrine_process_resident_memory_bytes') - rssBefore).toBeLessThan(150 * 1024 * 1024);
  });
});

describe('per-cluster rate limit', () => {
  let s: Server;
  beforeAll(async () => {
    const dir = tokenDir();
    writeFileSync(join(dir, 'tok2'), TOKEN + '-other');
    s = await startServer({
      dir,
      config: {
        auth: { tokens: [{ cluster: 'limited', file: join(dir, 'tok') }, { cluster: 'free', file: join(dir, 'tok2') }] },
        clusters: { limited: { rate_limit: { events_per_second: 200, burst: 100 } } },
      },
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('admits a cluster\'s events at its rate and answers 429 with Retry-After beyond it; other clusters are unaffected', async () => {
    expect((await post(s.webhook, batch('rl1', 150, 1000).body, auth)).status).toBe(200);
    const r = await post(s.webhook, batch('rl2', 10, 1000).body, auth);
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe('rate_limited');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await post(s.webhook, batch('rl3', 150, 1000).body, { authorization: `Bearer ${TOKEN}-other` })).status).toBe(200);
    // Debt of 50 events at 200/s: admitted again after ~0.26 s.
    await new Promise((res) => setTimeout(res, 400));
    expect((await post(s.webhook, batch('rl4', 10, 1000).body, auth)).status).toBe(200);
    expect(metricValue(await metricsText(s), 'peregrine_requests_rejected_total{cluster="limited",reason="rate_limited"}')).toBe(1);
  });
  it('a 429 before the body is read arrives whole, and the connection stays usable (the body is discarded, not reset)', async () => {
    expect((await post(s.webhook, batch('ka1', 150, 1000).body, auth)).status).toBe(200);
    const big = batch('ka2', 600, 1000).body;
    const u = new URL(s.webhook);
    const sock = connect(Number(u.port), u.hostname);
    let data = '';
    let error: Error | undefined;
    sock.on('data', (d) => { data += d.toString(); });
    sock.on('error', (e) => { error = e; });
    await new Promise((r) => sock.once('connect', r));
    const head = (len: number) => `POST ${u.pathname} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${len}\r\n\r\n`;
    sock.write(head(Buffer.byteLength(big)) + big.slice(0, 1000));
    await waitFor(() => data.includes('"rate_limited"'), 'the 429 while the body is still being sent');
    expect(data).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(data).toMatch(/\r\nRetry-After: \d+\r\n/i);
    // The rest of the refused body, then a new request on the same connection.
    for (let i = 1000; i < big.length; i += 64 * 1024) sock.write(big.slice(i, i + 64 * 1024));
    await new Promise((r) => setTimeout(r, 600));
    const small = batch('ka3', 5, 1000).body;
    data = '';
    sock.write(head(Buffer.byteLength(small)) + small);
    await waitFor(() => data.includes('"events":5'), 'the next request answered on the same connection');
    expect(data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(error).toBeUndefined();
    sock.destroy();
  });
});

describe('an HTTP output that is down', () => {
  let s: Server;
  let port: number;
  let receiver: HttpServer | undefined;
  const received: { ct: string | undefined; body: any }[] = [];

  beforeAll(async () => {
    // A port nobody listens on yet.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    s = await startServer({
      config: {
        outputs: {
          http: { url: `http://127.0.0.1:${port}/`, retry_initial_ms: 50, retry_max_ms: 200, concurrency: 4 },
          buffer_bytes: '64KiB',
        },
      },
    });
  });
  afterAll(async () => {
    await s.stop();
    receiver?.close();
  });

  it('is reported on /readyz and in metrics, keeps its alerts, pushes back with 429, and delivers everything once back', async () => {
    const sent: string[] = [];
    // 240 alerts of ~400 bytes: more than the 64 KiB output buffer.
    for (let i = 0; i < 4; i++) {
      const b = batch(`down${i}`, 60, 1);
      const r = await post(s.webhook, b.body);
      expect(r.status).toBe(200);
      sent.push(...b.alertIds);
    }
    const ready = await waitFor(async () => {
      const r = await fetch(`${s.metrics}/readyz`);
      return r.status === 503 ? r.json() : undefined;
    }, 'readyz 503');
    expect(ready.reasons.join(' ')).toMatch(/output http is down/);
    const text = await metricsText(s);
    expect(metricValue(text, 'peregrine_output_up{output="http"}')).toBe(0);
    expect(metricValue(text, 'peregrine_output_queued_alerts{output="http"}')).toBe(240);
    expect(metricValue(text, 'peregrine_output_queued_bytes{output="http"}')).toBeGreaterThan(64 * 1024);
    expect(metricValue(text, 'peregrine_output_failures_total{output="http"}')).toBeGreaterThan(0);
    // Over the memory bound: new requests are turned away, so the apiserver keeps them.
    const r = await post(s.webhook, batch('refused', 5, 1).body);
    expect(r.status).toBe(429);
    // The receiver comes up: everything queued is delivered, once, as falcosidekick expects it.
    receiver = createServer((req: IncomingMessage, res) => {
      let data = '';
      req.on('data', (d) => { data += d; });
      req.on('end', () => {
        received.push({ ct: req.headers['content-type'], body: JSON.parse(data) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((res) => receiver!.listen(port, '127.0.0.1', () => res()));
    await waitFor(() => received.length >= 240, 'deliveries', 15_000);
    await new Promise((res) => setTimeout(res, 300));
    expect(received.length).toBe(240);
    expect(received.every((x) => x.ct === 'application/json')).toBe(true);
    expect(new Set(received.map((x) => x.body.output_fields['ka.auditid']))).toEqual(new Set(sent));
    // Falco's keys, and the alert's stable id last (outputs/alert-id.ts).
    expect(Object.keys(received[0].body)).toEqual(['hostname', 'output', 'output_fields', 'priority', 'rule', 'source', 'tags', 'time', 'uuid']);
    expect(new Set(received.map((x) => x.body.uuid)).size).toBe(240);
    await waitFor(async () => (await fetch(`${s.metrics}/readyz`)).status === 200, 'ready again');
    expect((await post(s.webhook, batch('after', 5, 1).body)).status).toBe(200);
    await waitFor(() => received.length >= 245, 'later alerts delivered');
  });
});
