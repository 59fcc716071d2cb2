// `peregrine serve` reading an OVHcloud LDP WebSocket stream (a local stand-in), as
// k8saudit-ovh would: the three payload forms, other logs and broken frames on the same
// stream, a drop with the same frames replayed after the reconnect (each alert once),
// a 401 that heals, a half-open connection, and a slow consumer.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditEvent } from '../serve/fixtures.js';
import { metricValue, metricsText, readAlerts, startServer, tempDir, waitFor, type Server } from '../serve/harness.js';
import { FakeLdp } from './fake-ldp.js';

const LABELS = (host: string) => `source="ldp://${host}",type="stream",cluster="mks-prod"`;

function ev(id: string, alert = true): string {
  return JSON.stringify(auditEvent(id, { alert, clusterAnnotation: 'claimed-by-the-event' }));
}

describe('LDP stream source', () => {
  let ldp: FakeLdp | undefined;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.stop('SIGKILL');
    await ldp?.close();
    s = undefined;
    ldp = undefined;
  });

  async function start(extra: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Promise<{ s: Server; host: string }> {
    ldp = await FakeLdp.start();
    const dir = tempDir();
    // ws:// is allowed to loopback only (the stand-in has no TLS).
    writeFileSync(join(dir, 'ldp.url'), `${ldp.url}\n`);
    s = await startServer({ dir, config: { listen: 'none', sources: [{ type: 'ldp', url_file: 'ldp.url', cluster: 'mks-prod', ...extra }], ...config } });
    await waitFor(() => ldp!.clients.size === 1, 'the stream connected');
    return { s, host: new URL(ldp.url).host };
  }

  const ids = (srv: Server): string[] => readAlerts(srv.outFile).map((a) => a.output_fields['ka.auditid'] as string);

  it('unwraps the three payload forms, skips other logs and broken frames by reason, and never prints the token', async () => {
    const { s, host } = await start();
    await ldp!.send(FakeLdp.frame(ev('p-event')));
    await ldp!.send(FakeLdp.frame(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${ev('p-list-1')},${ev('p-list-2', false)},${ev('p-list-3')}]}`));
    await ldp!.send(FakeLdp.frame(`[${ev('p-array-1')},${ev('p-array-2')}]`));
    await ldp!.send(FakeLdp.frame('GET /healthz 200 3ms', 'nginx-ingress'));
    await ldp!.send(FakeLdp.frame('{"level":"info","msg":"reconciled"}', 'operator'));
    await ldp!.send('this is not json');
    await ldp!.send(JSON.stringify({ message: 'a syslog line, not JSON' }));
    await ldp!.send(JSON.stringify({ message: JSON.stringify({ _appID: 'x' }) }));
    await ldp!.send(FakeLdp.frame(`{"kind":"Event","auditID":"truncated`));
    await waitFor(() => ids(s).length === 5, 'the five alerts');
    expect(ids(s)).toEqual(['p-event', 'p-list-1', 'p-list-3', 'p-array-1', 'p-array-2']);
    // The configured cluster, whatever the events claim.
    expect(new Set(readAlerts(s.outFile).map((a) => a.output_fields['ka.cluster.name']))).toEqual(new Set(['mks-prod']));
    const m = await waitFor(async () => {
      const t = await metricsText(s);
      return metricValue(t, `peregrine_source_bad_lines_total{${LABELS(host)},reason="invalid_json"}`) === 2 ? t : undefined;
    }, 'the skipped frames counted');
    // Other applications' lines: plain text is invalid JSON, JSON that is no event not_audit.
    expect(metricValue(m, `peregrine_source_bad_lines_total{${LABELS(host)},reason="not_audit"}`)).toBe(1);
    expect(metricValue(m, `peregrine_source_bad_lines_total{${LABELS(host)},reason="frame_not_json"}`)).toBe(1);
    expect(metricValue(m, `peregrine_source_bad_lines_total{${LABELS(host)},reason="message_not_json"}`)).toBe(1);
    expect(metricValue(m, `peregrine_source_bad_lines_total{${LABELS(host)},reason="no_short_message"}`)).toBe(1);
    expect(metricValue(m, `peregrine_source_lines_total{${LABELS(host)}}`)).toBe(9);
    expect(metricValue(m, 'peregrine_events_total{cluster="mks-prod"}')).toBe(6);
    expect(m).not.toContain('secret-token-123');
    expect(s.stderr()).not.toContain('secret-token-123');
    expect(s.stderr()).toContain(`sources=ldp://${host}(mks-prod)`);
    expect(await s.stop()).toBe(0);
  });

  it('after a drop, the frames replayed on the new connection alert once', async () => {
    const { s, host } = await start();
    const frames = Array.from({ length: 20 }, (_, i) => FakeLdp.frame(ev(`r-${i}`)));
    for (const f of frames.slice(0, 12)) await ldp!.send(f);
    await waitFor(() => ids(s).length === 12, 'the first 12');
    ldp!.dropAll();
    await waitFor(() => ldp!.handshakes === 2 && ldp!.clients.size === 1, 'reconnected', 15_000);
    // The platform sends again from before the drop, then goes on.
    for (const f of frames.slice(5)) await ldp!.send(f);
    await waitFor(() => ids(s).length === 20, 'all 20');
    await new Promise((r) => setTimeout(r, 300));
    expect(ids(s)).toEqual(frames.map((_, i) => `r-${i}`));
    const m = await metricsText(s);
    expect(metricValue(m, `peregrine_source_stream_repeats_total{${LABELS(host)}}`)).toBe(7);
    expect(metricValue(m, `peregrine_source_stream_connects_total{${LABELS(host)}}`)).toBe(2);
    expect(metricValue(m, `peregrine_source_stream_disconnects_total{${LABELS(host)},reason="closed_1006"}`)).toBe(1);
    expect(metricValue(m, `peregrine_source_stream_down_seconds_total{${LABELS(host)}}`)).toBeGreaterThan(0);
    // The two stages of one request are two events.
    const started = JSON.stringify({ ...auditEvent('r-0', { alert: true }), stage: 'ResponseStarted' });
    await ldp!.send(FakeLdp.frame(started));
    await waitFor(() => ids(s).length === 21, 'the other stage');
  });

  it('an outage is counted as it happens: the drop by what broke it, each failed redial, the seconds down so far', async () => {
    const { s, host } = await start();
    ldp!.refuse = 503;
    ldp!.dropAll();
    const L = LABELS(host);
    await waitFor(async () => metricValue(await metricsText(s), `peregrine_source_stream_dial_failures_total{${L},reason="http_503"}`) >= 1, 'a failed redial');
    const m1 = await metricsText(s);
    expect(metricValue(m1, `peregrine_source_stream_disconnects_total{${L},reason="closed_1006"}`)).toBe(1);
    expect(m1).not.toMatch(/peregrine_source_stream_disconnects_total\{[^}]*reason="http_503"/);
    const down1 = metricValue(m1, `peregrine_source_stream_down_seconds_total{${L}}`);
    expect(down1).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    // Still down: the counter grows with the outage, before any reconnection.
    expect(metricValue(await metricsText(s), `peregrine_source_stream_down_seconds_total{${L}}`)).toBeGreaterThanOrEqual(down1 + 0.25);
    ldp!.refuse = 0;
    await waitFor(() => ldp!.clients.size === 1, 'reconnected', 15_000);
    const m2 = await metricsText(s);
    expect(metricValue(m2, `peregrine_source_stream_disconnects_total{${L},reason="closed_1006"}`)).toBe(1);
    expect(metricValue(m2, `peregrine_source_stream_connects_total{${L}}`)).toBe(2);
    // Up again: the total stops growing.
    const down2 = metricValue(m2, `peregrine_source_stream_down_seconds_total{${L}}`);
    await new Promise((r) => setTimeout(r, 200));
    expect(metricValue(await metricsText(s), `peregrine_source_stream_down_seconds_total{${L}}`)).toBe(down2);
    expect(s.stderr()).toMatch(/back after \d+\.\d s down \(closed_1006\)/);
  });

  it('a 401 at the handshake: not ready, naming the stream, retried until the platform takes it', async () => {
    ldp = await FakeLdp.start();
    ldp.refuse = 401;
    const dir = tempDir();
    writeFileSync(join(dir, 'ldp.url'), ldp.url);
    s = await startServer({ dir, config: { sources: [{ type: 'ldp', url_file: 'ldp.url', cluster: 'mks-prod' }] } });
    const host = new URL(ldp.url).host;
    const notReady = await waitFor(async () => {
      const r = await fetch(`${s!.metrics}/readyz`);
      const body = await r.json();
      return r.status === 503 && body.reasons.some((x: string) => x.includes(`ldp://${host}`) && x.includes('HTTP 401')) ? body : undefined;
    }, '/readyz to name the refused stream');
    expect(JSON.stringify(notReady)).not.toContain('secret-token-123');
    await waitFor(() => ldp!.handshakes >= 2, 'a retry');
    // Refused dials are failures to connect, not disconnections.
    const m = await metricsText(s);
    expect(metricValue(m, `peregrine_source_stream_dial_failures_total{${LABELS(host)},reason="http_401"}`)).toBeGreaterThanOrEqual(1);
    expect(m).not.toContain('peregrine_source_stream_disconnects_total{');
    ldp.refuse = 0;
    await waitFor(async () => (await fetch(`${s!.metrics}/readyz`)).status === 200, 'ready once accepted', 15_000);
    await waitFor(() => ldp!.clients.size === 1, 'connected');
    await ldp.send(FakeLdp.frame(ev('after-401')));
    await waitFor(() => ids(s!).includes('after-401'), 'the alert after the recovery');
  });

  it('a token fixed in url_file (the Secret) is taken at the next dial, without a restart', async () => {
    const { s, host } = await start();
    // The platform revokes the token: the stream drops, and every dial gets a 401.
    ldp!.onlyToken = 'rotated-token-456';
    ldp!.dropAll();
    await waitFor(async () => {
      const r = await fetch(`${s.metrics}/readyz`);
      return r.status === 503 && ((await r.json()) as { reasons: string[] }).reasons.some((x) => x.includes(`ldp://${host}`) && x.includes('HTTP 401'));
    }, '/readyz to name the refused stream');
    writeFileSync(join(s.dir, 'ldp.url'), ldp!.url.replace('secret-token-123', 'rotated-token-456'));
    await waitFor(async () => (await fetch(`${s.metrics}/readyz`)).status === 200, 'ready with the new token', 15_000);
    await waitFor(() => ldp!.clients.size === 1, 'connected');
    await ldp!.send(FakeLdp.frame(ev('after-rotation')));
    await waitFor(() => ids(s).includes('after-rotation'), 'the alert with the new token');
    expect(ldp!.tokens.at(-1)).toBe('rotated-token-456');
    // Still named by its host; neither token printed.
    expect(s.stderr()).toContain(`source ldp://${host} (cluster mks-prod): url_file changed; dialling ${host}`);
    expect(s.stderr()).not.toMatch(/secret-token-123|rotated-token-456/);
    // A url_file that goes bad keeps the URL dialled before, and says so.
    writeFileSync(join(s.dir, 'ldp.url'), 'not a url at all');
    ldp!.dropAll();
    await waitFor(() => s.stderr().includes('expected one URL') && s.stderr().includes('dialling the URL read before'), 'the bad file reported');
    await waitFor(() => ldp!.clients.size === 1, 'connected again with the URL read before');
    expect(ldp!.tokens.at(-1)).toBe('rotated-token-456');
  });

  it('a connection that goes quiet without answering pings is dropped and dialled again', async () => {
    const { s, host } = await start({ ping_after_seconds: 0.2, pong_timeout_seconds: 0.2 });
    ldp!.autoPong = false;
    await waitFor(async () => metricValue(await metricsText(s), `peregrine_source_stream_disconnects_total{${LABELS(host)},reason="pong_timeout"}`) >= 1, 'the pong timeout', 8000);
    ldp!.autoPong = true;
    await waitFor(() => ldp!.handshakes > 1 && ldp!.clients.size === 1, 'reconnected');
    await ldp!.send(FakeLdp.frame(ev('after-quiet')));
    await waitFor(() => ids(s).includes('after-quiet'), 'the alert after the reconnect');
  });

  it('a slow consumer stops reading the socket: the platform\'s data waits in TCP, not in memory', async () => {
    // An HTTP output that never answers: its queue fills past buffer_bytes and pushes back.
    const hang: HttpServer = createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    try {
      const { s, host } = await start({}, {
        outputs: { http: { url: `http://127.0.0.1:${(hang.address() as AddressInfo).port}/`, timeout_ms: 60_000 }, buffer_bytes: '64KiB' },
      });
      const rss0 = metricValue(await metricsText(s), 'peregrine_process_resident_memory_bytes');
      // About 60 MiB of alerting events, far more than the output's bound.
      for (let i = 0; i < 24_000; i++) void ldp!.send(FakeLdp.frame(ev(`slow-${i}`)));
      await waitFor(async () => metricValue(await metricsText(s), `peregrine_source_stream_paused{${LABELS(host)}}`) === 1, 'reading paused');
      await waitFor(() => ldp!.buffered() > 8 * 1024 * 1024, 'the platform holding what was not read');
      const m = await metricsText(s);
      expect(metricValue(m, 'peregrine_process_resident_memory_bytes') - rss0).toBeLessThan(150 * 1024 * 1024);
      // The output took a handful of alerts; reading stopped long before the end.
      expect(metricValue(m, `peregrine_source_lines_total{${LABELS(host)}}`)).toBeLessThan(12_000);
      expect(metricValue(m, `peregrine_output_queued_bytes{output="http"}`)).toBeGreaterThan(64 * 1024);
    } finally {
      await s?.stop('SIGKILL');
      s = undefined;
      hang.closeAllConnections();
      hang.close();
    }
  });
});
