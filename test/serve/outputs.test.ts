// Output targets on their own: file append and rotation, HTTP retries and refusals,
// the fan-out's memory bound (pressure on, pressure off), and its delivery watermark.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FileTarget } from '../../src/outputs/stream-targets.js';
import { HttpTarget } from '../../src/outputs/http-target.js';
import { Outputs } from '../../src/outputs/outputs.js';
import type { DeliveryReport, OutputTarget, QueuedAlert } from '../../src/outputs/target.js';
import { tempDir } from './harness.js';

const alert = (i: number, pad = 0): QueuedAlert => ({ json: Buffer.from(JSON.stringify({ rule: 'r', n: i, pad: 'x'.repeat(pad) })), eventTimeMs: Date.now() });

function recorder() {
  const r = { failures: 0, refused: [] as string[], delivered: 0 };
  const report: DeliveryReport = {
    failed: () => { r.failures++; },
    ok: () => undefined,
    refused: (_a, why) => { r.refused.push(why); },
    delivered: () => { r.delivered++; },
  };
  return { r, report };
}

describe('outputs', () => {
  it('file: appends one alert per line and rotates past max_bytes, keeping max_backups', async () => {
    const dir = tempDir();
    const path = join(dir, 'alerts.jsonl');
    const f = new FileTarget({ path, maxBytes: 1000, maxBackups: 2 });
    await f.open();
    const { r, report } = recorder();
    const stop = new AbortController().signal;
    for (let i = 0; i < 20; i++) {
      await f.deliver([alert(i, 200)], report, stop);
      await new Promise((res) => setTimeout(res, 2)); // distinct rotation timestamps
    }
    await f.close();
    expect(r.delivered).toBe(20);
    const files = readdirSync(dir).sort();
    expect(files.length).toBe(3);
    expect(files).toContain('alerts.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).n);
    expect(lines.at(-1)).toBe(19);
    for (const f2 of files) expect(readFileSync(join(dir, f2), 'utf8').length).toBeLessThanOrEqual(1000);
  });

  it('http: retries 5xx until delivered, counts a 4xx as refused, keeps per-lane order', async () => {
    let calls = 0;
    const got: number[] = [];
    const srv = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        calls++;
        const n = JSON.parse(body).n;
        if (calls <= 2) return void res.writeHead(503).end('busy');
        if (n === 3) return void res.writeHead(400).end('bad alert');
        got.push(n);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as AddressInfo).port;
    const h = new HttpTarget({ url: `http://127.0.0.1:${port}/`, timeoutMs: 2000, concurrency: 1, headers: {}, retryInitialMs: 10, retryMaxMs: 20 });
    const { r, report } = recorder();
    await h.deliver([0, 1, 2, 3, 4].map((i) => alert(i)), report, new AbortController().signal);
    srv.close();
    expect(got).toEqual([0, 1, 2, 4]);
    expect(r.failures).toBe(2);
    expect(r.refused).toEqual(['HTTP 400: bad alert']);
    expect(r.delivered).toBe(4);
  });

  it('fan-out: pressure on past buffer_bytes, off under half, nothing dropped', async () => {
    const delivered: number[] = [];
    let gate: () => void = () => undefined;
    let open = false;
    const slow: OutputTarget = {
      name: 'slow',
      async deliver(batch, report) {
        if (!open) await new Promise<void>((r) => { gate = r; });
        for (const a of batch) { delivered.push(JSON.parse(a.json.toString()).n); report.delivered(a); }
      },
      async close() {},
    };
    const pressure: boolean[] = [];
    const o = new Outputs([slow], 64 * 1024, {
      onPressure: (on) => pressure.push(on), onDelivered: () => undefined, onFailure: () => undefined, onRefused: () => undefined,
    });
    for (let i = 0; i < 200; i++) o.push(alert(i, 500));
    expect(o.underPressure).toBe(true);
    expect(pressure).toEqual([true]);
    open = true;
    gate();
    expect(await o.flush(5000)).toBe(true);
    expect(delivered).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(pressure).toEqual([true, false]);
    expect(o.undelivered()).toBe(0);
  });

  it('whenDelivered: resolves once every output finished what was pushed before the call, not what came after', async () => {
    // Two outputs, each delivering only when its gate is opened, one batch at a time.
    const gates: (() => void)[][] = [[], []];
    const seen: number[][] = [[], []];
    const gated = (k: number): OutputTarget => ({
      name: `o${k}`,
      async deliver(batch, report) {
        await new Promise<void>((r) => gates[k].push(r));
        for (const a of batch) {
          seen[k].push(JSON.parse(a.json.toString()).n);
          // A refused alert counts as finished, as a delivered one does.
          if (JSON.parse(a.json.toString()).n === 1) report.refused(a, 'no'); else report.delivered(a);
        }
      },
      async close() {},
    });
    const o = new Outputs([gated(0), gated(1)], 1 << 20, {
      onPressure: () => undefined, onDelivered: () => undefined, onFailure: () => undefined, onRefused: () => undefined,
    });
    const tick = () => new Promise((r) => setImmediate(r));
    let first = false;
    await o.whenDelivered(); // nothing pushed: at once
    o.push(alert(0));
    o.push(alert(1));
    const w1 = o.whenDelivered().then(() => { first = true; });
    // Pushed after the call: does not hold w1 back.
    let second = false;
    await tick();
    o.push(alert(2));
    const w2 = o.whenDelivered().then(() => { second = true; });
    await tick();
    // Output 0 delivers its first batch (0, 1); output 1 has not: not yet.
    gates[0].shift()!();
    await tick(); await tick();
    expect(seen[0]).toEqual([0, 1]);
    expect(first).toBe(false);
    gates[1].shift()!();
    await w1;
    expect(first).toBe(true);
    expect(second).toBe(false);
    // Alert 2 went out in a batch of its own on each output.
    await tick(); await tick();
    gates[0].shift()!();
    gates[1].shift()!();
    await w2;
    expect(seen).toEqual([[0, 1, 2], [0, 1, 2]]);
    expect(o.deliveredSeq).toBe(3);
  });
});
