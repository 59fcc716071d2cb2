// Hostile clients against the real server: each attack reproduced on loopback, and the
// defended behaviour asserted (what the client gets, what is counted and logged).
// How much a clean client's latency suffers under the floods is measured by
// load-tests/hostile.mjs, not asserted here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { auditEvent, batch, eventList } from './fixtures.js';
import { CLI, metricValue, metricsText, post, rawRequest, readAlerts, startServer, tempDir, waitFor, type Server } from './harness.js';

const TOKEN_A = 'token-of-cluster-a-0123456789';
const TOKEN_B = 'token-of-cluster-b-0123456789';
const A = { authorization: `Bearer ${TOKEN_A}` };
const B = { authorization: `Bearer ${TOKEN_B}` };

function twoClusters(dir: string): Record<string, unknown> {
  writeFileSync(join(dir, 'a.token'), `${TOKEN_A}\n`);
  writeFileSync(join(dir, 'b.token'), `${TOKEN_B}\n`);
  return { tokens: [{ cluster: 'a', file: join(dir, 'a.token') }, { cluster: 'b', file: join(dir, 'b.token') }] };
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/**
 * One connection writing `request` back to back (pipelined) until the server closes it
 * or `ms` pass, never reading; resolves with how many bytes it managed to write, how
 * many answers had arrived, and whether the server closed the connection.
 */
function pipelineFlood(url: string, request: string, ms: number): Promise<{ written: number; answers: number; closedByServer: boolean }> {
  const { host, port } = hostPort(url);
  return new Promise((resolve) => {
    let written = 0;
    let received = '';
    let closedByServer = false;
    let stop = false;
    const s: Socket = connect(port, host);
    s.pause(); // never read what the server answers
    const chunk = Buffer.from(request.repeat(256));
    const pump = (): void => {
      while (!stop && !s.destroyed) {
        written += chunk.length;
        if (!s.write(chunk)) {
          s.once('drain', pump);
          return;
        }
      }
    };
    s.on('connect', pump);
    s.on('error', () => { closedByServer = true; });
    s.on('close', () => {
      closedByServer ||= !stop;
      stop = true;
      resolve({ written, answers: (received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length, closedByServer });
    });
    s.on('end', () => { closedByServer = true; });
    setTimeout(() => {
      stop = true;
      s.resume();
      s.on('data', (d: Buffer) => { received += d.toString('latin1'); });
      setTimeout(() => s.destroy(), 200);
    }, ms);
  });
}

/**
 * A POST that declares `length` bytes and then sends `bytesPerTick` every `tickMs`;
 * `done` resolves with the answer once one has arrived (then the client hangs up), or
 * with what came when the connection closed.
 */
function slowUpload(url: string, token: string, length: number, bytesPerTick: number, tickMs: number): { done: Promise<string>; close: () => void } {
  const { host, port } = hostPort(url);
  const s = connect(port, host);
  let timer: NodeJS.Timeout | undefined;
  let answer = '';
  const done = new Promise<string>((resolve) => {
    s.on('connect', () => {
      s.write(`POST /k8s-audit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
      timer = setInterval(() => s.write('['.repeat(bytesPerTick)), tickMs);
    });
    s.on('data', (d) => {
      answer += d.toString();
      const head = answer.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(answer);
      if (head >= 0 && len && answer.length >= head + 4 + Number(len[1])) {
        clearInterval(timer);
        s.destroy();
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => { clearInterval(timer); resolve(answer); });
  });
  return { done, close: () => { clearInterval(timer); s.destroy(); } };
}

describe('hostile clients: floods of requests that are not accepted webhook posts', () => {
  let s: Server;
  beforeAll(async () => {
    const dir = tempDir();
    s = await startServer({ dir, config: { auth: twoClusters(dir) } });
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  it('a connection pipelining unknown paths, health checks or bad credentials is closed after one answer at most, while a cluster is served', async () => {
    const floods = [
      pipelineFlood(s.webhook.replace('/k8s-audit', '/nope'), 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n', 1500),
      pipelineFlood(s.metrics, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 1500),
      pipelineFlood(s.metrics, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n', 1500),
      pipelineFlood(s.webhook, 'POST /k8s-audit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-0123456789\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]', 1500),
    ];
    const served: number[] = [];
    for (let i = 0; i < 5; i++) served.push((await post(s.webhook, batch(`fl${i}`, 20, 5).body, A)).status);
    const results = await Promise.all(floods);
    expect(served).toEqual([200, 200, 200, 200, 200]);
    for (const r of results) {
      expect(r.closedByServer).toBe(true);
      expect(r.answers).toBeLessThanOrEqual(1);
    }
    // Each flood was answered once, not once per pipelined request.
    const text = await metricsText(s);
    expect(metricValue(text, 'peregrine_auth_failures_total{reason="unknown_token"}')).toBe(1);
    expect(metricValue(text, 'peregrine_requests_rejected_total{cluster="none",reason="not_found"}')).toBe(1);
  });

  it('Expect: 100-continue with bad credentials or an oversized length: refused at once and closed, no body read', async () => {
    const before = metricValue(await metricsText(s), 'peregrine_received_bytes_total{cluster="a"}');
    const head = (auth: string, len: number) => `POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${auth}\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\nExpect: 100-continue\r\n`;
    const bad = await rawRequest(s.webhook, head('not-a-valid-token-0123456789', 100));
    expect(bad).toMatch(/HTTP\/1\.1 401 Unauthorized[\s\S]*Connection: close/);
    const big = await rawRequest(s.webhook, head(TOKEN_A, 64 * 1024 * 1024));
    expect(big).toMatch(/HTTP\/1\.1 413 Payload Too Large[\s\S]*Connection: close/);
    expect(metricValue(await metricsText(s), 'peregrine_received_bytes_total{cluster="a"}')).toBe(before);
  });

  it('health, metrics and 404 answers close their connection; each still answers a single request', async () => {
    for (const url of [`${s.metrics}/healthz`, `${s.metrics}/readyz`, `${s.metrics}/metrics`, `${s.metrics}/nope`, `${s.webhook.replace('/k8s-audit', '/nope')}`]) {
      const r = await fetch(url);
      await r.text();
      expect(r.headers.get('connection'), url).toBe('close');
      expect([200, 404]).toContain(r.status);
    }
    const r = await fetch(s.webhook, { method: 'GET' });
    expect(r.status).toBe(405);
    expect(r.headers.get('connection')).toBe('close');
  });
});

describe('hostile clients: slow uploads and shares of the in-flight budget', () => {
  let s: Server;
  beforeAll(async () => {
    const dir = tempDir();
    s = await startServer({
      dir,
      config: {
        auth: twoClusters(dir),
        clusters: { b: { rate_limit: { events_per_second: 100, burst: 200 } } },
        limits: {
          max_body_bytes: '1MiB', max_inflight_bytes: '4MiB', retry_after_seconds: 1,
          min_upload_bytes_per_second: '1KiB', upload_rate_window_seconds: 1,
        },
      },
    });
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  it('uploads trickling at 1 byte/s from one cluster hold at most its share and are cut with 408; another cluster is served throughout', async () => {
    // Eight uploads of 1 MiB from cluster a: a cluster alone may hold half of the 4 MiB.
    const uploads = Array.from({ length: 8 }, () => slowUpload(s.webhook, TOKEN_A, 1024 * 1024, 1, 1000));
    const answers = uploads.map((u) => u.done);
    await waitFor(async () => metricValue(await metricsText(s), 'peregrine_requests_rejected_total{cluster="a",reason="cluster_share"}') >= 6, 'a held to its share');
    const text0 = await metricsText(s);
    expect(metricValue(text0, 'peregrine_inflight_cluster_bytes{cluster="a"}')).toBeLessThanOrEqual(2 * 1024 * 1024);
    // Cluster b is served while a's uploads are held.
    const b = await post(s.webhook, batch('share-b', 10, 2).body, B);
    expect(b.status).toBe(200);
    // Every one of a's uploads ends: 429 (over its share) or 408 (too slow), none hangs.
    const got = await Promise.all(answers);
    const codes = got.map((g) => Number(/^HTTP\/1\.1 (\d{3})/.exec(g)?.[1]));
    expect(codes.filter((c) => c === 408).length).toBe(2);
    expect(codes.filter((c) => c === 429).length).toBe(6);
    for (const g of got.filter((x) => x.startsWith('HTTP/1.1 408'))) expect(g).toContain('"code":"slow_upload"');
    const text = await metricsText(s);
    expect(metricValue(text, 'peregrine_requests_rejected_total{cluster="a",reason="slow_upload"}')).toBe(2);
    expect(metricValue(text, 'peregrine_inflight_bytes')).toBe(0);
  });

  it('an upload that stops or goes away mid-body is counted', async () => {
    const before = metricValue(await metricsText(s), 'peregrine_requests_rejected_total{cluster="a",reason="upload_aborted"}');
    const u = slowUpload(s.webhook, TOKEN_A, 4096, 100, 50);
    await new Promise((r) => setTimeout(r, 300));
    u.close();
    await waitFor(async () => metricValue(await metricsText(s), 'peregrine_requests_rejected_total{cluster="a",reason="upload_aborted"}') === before + 1, 'the aborted upload counted');
  });

  it('a declared size counts against the rate limit before the body is read', async () => {
    // b may send 100 events/s; a body declaring 1 MiB is charged about 1000 events at once.
    const u = slowUpload(s.webhook, TOKEN_B, 1024 * 1024, 16 * 1024, 100);
    await new Promise((r) => setTimeout(r, 200));
    const r = await post(s.webhook, batch('rl-b', 2).body, B);
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe('rate_limited');
    u.close();
    await u.done;
  });
});

describe('hostile clients: bodies of many tiny items', () => {
  let s: Server;
  beforeAll(async () => {
    const dir = tempDir();
    s = await startServer({ dir, config: { auth: twoClusters(dir), limits: { max_events_per_request: 1000 } } });
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  it('a body of more items than limits.max_events_per_request is refused with 413 before any is evaluated', async () => {
    const items: unknown[] = Array.from({ length: 1001 }, () => ({}));
    items[0] = auditEvent('tiny-0', { alert: true });
    const r = await post(s.webhook, eventList(items), A);
    expect(r.status, JSON.stringify(r.json)).toBe(413);
    expect(r.json.error.code).toBe('too_many_events');
    const nested = `[${Array.from({ length: 600 }, () => '[{"kind":"Event"},{"kind":"Event"}]').join(',')}]`;
    expect((await post(s.webhook, nested, A)).status).toBe(413);
    const ok = await post(s.webhook, eventList([auditEvent('tiny-1', { alert: true }), ...Array.from({ length: 999 }, () => ({}))]), A);
    expect(ok.status).toBe(200);
    expect(ok.json.events).toBe(1);
    await waitFor(() => readAlerts(s.outFile).some((a) => a.output_fields['ka.auditid'] === 'tiny-1'), 'the alert of the accepted body');
    expect(readAlerts(s.outFile).some((a) => a.output_fields['ka.auditid'] === 'tiny-0')).toBe(false);
    const text = await metricsText(s);
    expect(metricValue(text, 'peregrine_requests_rejected_total{cluster="a",reason="too_many_events"}')).toBe(2);
  });
});

describe('bodies over 1 MiB, split on a worker', () => {
  let s: Server;
  beforeAll(async () => {
    const dir = tempDir();
    s = await startServer({ dir, config: { auth: twoClusters(dir), limits: { max_events_per_request: 3000 } } });
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  it('get the verdicts and messages a main-thread split gives', async () => {
    const events = Array.from({ length: 2000 }, (_, i) => auditEvent(`big-${i}`, { alert: i % 500 === 0, padTo: 700 }));
    const big = eventList(events);
    expect(big.length).toBeGreaterThan(1024 * 1024);
    const ok = await post(s.webhook, big, A);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ events: 2000, alerts: 4 });
    // The same defect at the end of a small and of a large body: the same message.
    const broken = (body: string) => body.slice(0, -2) + ',]}';
    const small = eventList(events.slice(0, 10));
    const rs = await post(s.webhook, broken(small), A);
    const rb = await post(s.webhook, broken(big), A);
    expect(rs.status).toBe(400);
    expect(rb.status).toBe(400);
    expect(rb.json.error.message.replace(/byte \d+/, 'byte N')).toBe(rs.json.error.message.replace(/byte \d+/, 'byte N'));
    expect(rb.json.error.message).toContain(`byte ${broken(big).length - 2}`);
    const notAudit = `{"kind":"Pod","pad":"${'x'.repeat(1.5 * 1024 * 1024)}"}`;
    expect((await post(s.webhook, notAudit, A)).json.error.code).toBe('not_audit');
    const many = eventList(Array.from({ length: 3001 }, (_, i) => auditEvent(`many-${i}`, { padTo: 400 })));
    expect(many.length).toBeGreaterThan(1024 * 1024);
    const rm = await post(s.webhook, many, A);
    expect(rm.status).toBe(413);
    expect(rm.json.error.code).toBe('too_many_events');
    await waitFor(() => readAlerts(s.outFile).length === 4, 'the 4 alerts of the accepted body');
  });
});

describe('hostile clients: memory under a flood of tiny-item bodies', () => {
  it('peak RSS stays within the documented bound', async () => {
    const dir = tempDir();
    const inflight = 16 * 1024 * 1024;
    const s = await startServer({
      dir,
      config: { auth: twoClusters(dir), workers: 1, limits: { max_body_bytes: '4MiB', max_inflight_bytes: '16MiB', ring_bytes: '1MiB', max_events_per_request: 100000 }, outputs: { file: { path: join(dir, 'out') }, buffer_bytes: '1MiB' } },
    });
    try {
      const idle = vmHwm(s.proc.pid!);
      // 4 MiB bodies of 1.4 M items each, 8 at a time for 3 s; and some under the item cap.
      const huge = Buffer.from(`{"kind":"EventList","items":[${'{},'.repeat(1_398_000)}{}]}`);
      const under = Buffer.from(`{"kind":"EventList","items":[${'{},'.repeat(99_998)}{}]}`);
      const until = Date.now() + 3000;
      const codes = new Map<number, number>();
      await Promise.all(Array.from({ length: 8 }, async (_, i) => {
        while (Date.now() < until) {
          const r = await post(s.webhook, i % 4 === 0 ? under : huge, A);
          codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
        }
      }));
      expect(codes.get(413)).toBeGreaterThan(0);
      expect(codes.get(200)).toBeGreaterThan(0);
      // max_inflight_bytes + workers × ring_bytes + outputs × buffer_bytes + 160 MiB
      // (Node, V8, the workers' heaps, uWS) above the idle process.
      const bound = inflight + 1 * 1024 * 1024 + 1 * 1024 * 1024 + 160 * 1024 * 1024;
      const peak = vmHwm(s.proc.pid!);
      expect(peak - idle).toBeLessThan(bound);
      expect((await post(s.webhook, batch('after-flood', 4, 2).body, B)).status).toBe(200);
    } finally {
      await s.stop();
    }
  });
});

function vmHwm(pid: number): number {
  const r = spawnSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
  const m = /VmHWM:\s+(\d+) kB/.exec(r.stdout);
  return Number(m![1]) * 1024;
}

describe('hostile clients: credentials', () => {
  it('401s are counted by reason and logged with it, rate-limited, never with the token', async () => {
    const dir = tempDir();
    const s = await startServer({ dir, config: { auth: twoClusters(dir) } });
    try {
      const secret = 'wrong-secret-token-abcdefghij';
      for (let i = 0; i < 30; i++) expect((await post(s.webhook, '[]', { authorization: `Bearer ${secret}` })).status).toBe(401);
      expect((await post(s.webhook, '[]')).status).toBe(401);
      expect((await post(s.webhook, '[]', { authorization: 'Basic dXNlcjpwYXNz' })).status).toBe(401);
      const text = await metricsText(s);
      expect(metricValue(text, 'peregrine_auth_failures_total{reason="unknown_token"}')).toBe(30);
      expect(metricValue(text, 'peregrine_auth_failures_total{reason="missing"}')).toBe(1);
      expect(metricValue(text, 'peregrine_auth_failures_total{reason="scheme"}')).toBe(1);
      const lines = s.stderr().split('\n').filter((l) => l.includes('401 for'));
      expect(lines.filter((l) => l.includes('matches no configured token'))).toHaveLength(1);
      expect(lines.some((l) => l.includes('no Authorization header'))).toBe(true);
      expect(lines.some((l) => l.includes('is not "Bearer <token>"'))).toBe(true);
      expect(s.stderr()).not.toContain(secret);
      expect(s.stderr()).not.toContain('dXNlcjpwYXNz');
    } finally {
      await s.stop();
    }
  });

  it('a token file emptied (or left with only a short token) and SIGHUP revokes that cluster, fails no other, and names file:line', async () => {
    const dir = tempDir();
    const s = await startServer({ dir, config: { auth: twoClusters(dir) } });
    try {
      expect((await post(s.webhook, batch('rv-a0', 1).body, A)).status).toBe(200);
      writeFileSync(join(dir, 'a.token'), '# rotated out\nshort\n');
      writeFileSync(join(dir, 'b.token'), `${TOKEN_B}\ntoo-short\n`);
      s.proc.kill('SIGHUP');
      await waitFor(() => s.stderr().includes('a.token: no valid token'), 'the reload warning');
      expect(s.stderr()).toContain(`${join(dir, 'a.token')}:2: token shorter than 16 characters (ignored)`);
      expect(s.stderr()).toContain(`${join(dir, 'b.token')}:2: token shorter than 16 characters (ignored)`);
      expect((await post(s.webhook, batch('rv-a1', 1).body, A)).status).toBe(401);
      expect((await post(s.webhook, batch('rv-b1', 1).body, B)).status).toBe(200);
      // Putting a token back and reloading restores the cluster.
      writeFileSync(join(dir, 'a.token'), `${TOKEN_A}\n`);
      s.proc.kill('SIGHUP');
      await waitFor(async () => (await post(s.webhook, batch('rv-a2', 1).body, A)).status === 200, 'cluster a restored');
      writeFileSync(join(dir, 'a.token'), '');
      s.proc.kill('SIGHUP');
      await waitFor(async () => (await post(s.webhook, batch('rv-a3', 1).body, A)).status === 401, 'cluster a revoked by an empty file');
    } finally {
      await s.stop();
    }
  });
});

describe('hostile clients: secrets in the HTTP output URL', () => {
  let receiver: HttpServer;
  const seen: IncomingMessage[] = [];
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      seen.push(req);
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

  it('user:password becomes a Basic Authorization header; the password and query values never show', async () => {
    const port = (receiver.address() as AddressInfo).port;
    const dir = tempDir();
    const s = await startServer({
      dir,
      config: {
        auth: twoClusters(dir),
        outputs: { http: { url: `http://alice:pa%24%24word-9f8e7d@127.0.0.1:${port}/post?apikey=KEY-5up3r-s3cret&team=sec`, retry_initial_ms: 20, retry_max_ms: 50 } },
      },
    });
    try {
      expect((await post(s.webhook, eventList([auditEvent('url-1', { alert: true })]), A)).status).toBe(200);
      await waitFor(() => seen.length >= 1, 'the alert delivered');
      expect(seen[0].headers.authorization).toBe(`Basic ${Buffer.from('alice:pa$$word-9f8e7d').toString('base64')}`);
      expect(seen[0].url).toBe('/post?apikey=KEY-5up3r-s3cret&team=sec');
      // The receiver goes away: retries are logged and /readyz names the output.
      await new Promise<void>((r) => receiver.close(() => r()));
      expect((await post(s.webhook, eventList([auditEvent('url-2', { alert: true })]), A)).status).toBe(200);
      const ready = await waitFor(async () => {
        const r = await fetch(`${s.metrics}/readyz`);
        return r.status === 503 ? r.text() : undefined;
      }, '/readyz to report the output down');
      await waitFor(() => s.stderr().includes('delivery failed'), 'a retry line');
      for (const text of [ready, s.stderr()]) {
        expect(text).not.toContain('9f8e7d');
        expect(text).not.toContain('pa%24%24word');
        expect(text).not.toContain('5up3r');
        expect(text).not.toContain('alice:');
      }
      expect(s.stderr()).toContain(`http(http://127.0.0.1:${port}/post?apikey=REDACTED&team=REDACTED)`);
    } finally {
      await s.stop('SIGKILL');
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    }
  });

  it('credentials in the URL and an Authorization header both: refused at start, the secret not printed', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'c.yaml'), 'outputs:\n  http:\n    url: "http://bob:hunter2-secret@127.0.0.1:1/?token=abcdefgh"\n    headers: { Authorization: "Bearer x" }\n');
    const r = spawnSync(process.execPath, [CLI, 'serve', '-c', join(dir, 'c.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('outputs.http.url');
    expect(r.stderr).toContain('http://127.0.0.1:1/?token=REDACTED');
    expect(r.stderr).not.toContain('hunter2');
    expect(r.stderr).not.toContain('abcdefgh');
  });
});
