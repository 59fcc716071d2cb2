// The LDP WebSocket client against a local stand-in: frames, reconnection after a drop
// (with the gap reported), handshake refusals retried until they heal, a half-open
// connection found by ping/pong, and pause holding the sender back.
import { afterEach, describe, expect, it } from 'vitest';
import { StreamClient } from '../../src/ingest/ldp/client.js';
import { parseLdpUrl } from '../../src/ingest/ldp/url.js';
import { FakeLdp } from './fake-ldp.js';
import { waitFor } from '../serve/harness.js';

describe('LDP stream client', () => {
  let ldp: FakeLdp;
  let client: StreamClient | undefined;
  afterEach(async () => {
    client?.stop();
    await ldp.close();
  });

  function connect(o: { pingAfterMs?: number; pongTimeoutMs?: number } = {}) {
    const got: string[] = [];
    const states: string[] = [];
    const gaps: { reason: string; ms: number }[] = [];
    const drops: string[] = [];
    const failures: string[] = [];
    client = new StreamClient({
      url: parseLdpUrl(ldp.url, 'test'), pingAfterMs: o.pingAfterMs ?? 30_000, pongTimeoutMs: o.pongTimeoutMs ?? 10_000, backoffInitialMs: 50, backoffMaxMs: 200,
      onFrame: (d) => got.push(d.toString()), onState: (up, why) => states.push(`${up ? 'up' : 'down'}:${why}`), onGap: (reason, ms) => gaps.push({ reason, ms }),
      onDrop: (reason) => drops.push(reason), onDialFailed: (reason) => failures.push(reason),
    });
    client.start();
    return { got, states, gaps, drops, failures };
  }

  it('reads frames, and after a drop dials again and reports how long the stream was down', async () => {
    ldp = await FakeLdp.start();
    const c = connect();
    await waitFor(() => ldp.clients.size === 1, 'connected');
    await ldp.send('one');
    await waitFor(() => c.got.length === 1, 'a frame');
    ldp.dropAll();
    await waitFor(() => ldp.clients.size === 1 && c.states.filter((s) => s.startsWith('up')).length === 2, 'reconnected');
    await ldp.send('two');
    await waitFor(() => c.got.length === 2, 'the next frame');
    expect(c.got).toEqual(['one', 'two']);
    expect(c.gaps).toHaveLength(1);
    expect(c.gaps[0].reason).toMatch(/^closed/);
    expect(c.gaps[0].ms).toBeGreaterThanOrEqual(20);
    expect(ldp.tokens.every((t) => t === 'secret-token-123')).toBe(true);
    expect(c.drops).toEqual([c.gaps[0].reason]);
    expect(c.failures).toEqual([]);
    // Stopping is not a disconnection, and leaves no outage running.
    client!.stop();
    await new Promise((r) => setTimeout(r, 100));
    expect(c.drops).toHaveLength(1);
    expect(client!.downMs()).toBe(0);
  });

  it('a 401 at the handshake is reported and retried on the backoff until it is accepted', async () => {
    ldp = await FakeLdp.start();
    ldp.refuse = 401;
    const c = connect();
    await waitFor(() => ldp.handshakes >= 3 && c.failures.length >= 3, 'several attempts');
    expect(client!.problem).toContain('HTTP 401');
    expect(c.states.every((s) => s === 'down:http_401')).toBe(true);
    // Refused dials are failed dials: never up, so nothing dropped and no outage counted.
    expect(c.failures.length).toBeGreaterThanOrEqual(3);
    expect(c.failures.every((r) => r === 'http_401')).toBe(true);
    expect(c.drops).toEqual([]);
    expect(client!.downMs()).toBe(0);
    ldp.refuse = 0;
    await waitFor(() => c.states.includes('up:connected'), 'accepted at last');
    expect(client!.problem).toBeUndefined();
  });

  it('a connection that stops answering is pinged and dropped when no pong comes', async () => {
    ldp = await FakeLdp.start();
    ldp.autoPong = false;
    const c = connect({ pingAfterMs: 150, pongTimeoutMs: 150 });
    await waitFor(() => c.gaps.some((g) => g.reason === 'pong_timeout'), 'the pong timeout', 5000);
    ldp.autoPong = true;
    await waitFor(() => c.states.filter((s) => s === 'up:connected').length >= 2, 'dialled again');
  });

  it('paused, it reads nothing: the sender\'s data waits in its own buffers', async () => {
    ldp = await FakeLdp.start();
    const c = connect();
    await waitFor(() => ldp.clients.size === 1, 'connected');
    client!.pause();
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 200; i++) void ldp.send(big);
    await new Promise((r) => setTimeout(r, 300));
    const received = c.got.length;
    expect(received).toBeLessThan(200);
    expect(ldp.buffered()).toBeGreaterThan(1024 * 1024);
    client!.resume();
    await waitFor(() => c.got.length === 200, 'all frames after resume');
  });
});
