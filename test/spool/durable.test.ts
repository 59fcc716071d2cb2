// Issue 19's acceptance tests, on the real server process: alerts acknowledged while the
// HTTP receiver is down survive SIGKILL and SIGTERM (spool), a segment cut mid-record
// is recovered to the record before and reported, a full spool answers 429 without
// dropping anything acknowledged, and a followed file's checkpoint needs only the spool.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricValue, metricsText, post, startServer, tempDir, waitFor, type Server } from '../serve/harness.js';
import { batch } from '../serve/fixtures.js';
import { append, lines, startFollower, type Follower } from '../follow/harness.js';
import { alertIdOf } from '../../src/outputs/alert-id.js';

/** A falcosidekick stand-in: records what it accepts; answers 503 while down, or after `acceptFirst` alerts. */
class Receiver {
  accepted: any[] = [];
  down = false;
  acceptFirst = Infinity;
  posts = 0;
  private constructor(readonly server: HttpServer, readonly port: number) {}

  static async start(port = 0): Promise<Receiver> {
    let self: Receiver | undefined;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const r = self!;
        r.posts++;
        if (r.down || r.accepted.length >= r.acceptFirst) return void res.writeHead(503).end('down');
        r.accepted.push(JSON.parse(body));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    self = new Receiver(server, (server.address() as AddressInfo).port);
    return self;
  }

  close(): Promise<void> {
    return new Promise((r) => { this.server.closeAllConnections(); this.server.close(() => r()); });
  }

  ids(): string[] {
    return this.accepted.map((a) => a.output_fields['ka.auditid']);
  }
}

const servers: (Server | Follower)[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop('SIGKILL');
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(port = 0): Promise<Receiver> {
  const r = await Receiver.start(port);
  receivers.push(r);
  return r;
}

function config(dir: string, port: number, extra: Record<string, unknown> = {}, concurrency = 2): Record<string, unknown> {
  return {
    outputs: {
      file: { path: join(dir, 'alerts.jsonl') },
      http: { url: `http://127.0.0.1:${port}/`, concurrency, retry_initial_ms: 20, retry_max_ms: 100 },
      spool_dir: join(dir, 'spool'),
      ...extra,
    },
    limits: { shutdown_timeout_seconds: 10 },
  };
}

async function serve(dir: string, port: number, extra: Record<string, unknown> = {}, concurrency = 2, rules?: string): Promise<Server> {
  const s = await startServer({ dir, config: config(dir, port, extra, concurrency), rules });
  servers.push(s);
  // One round trip: its signal handlers are in place past the start line.
  await fetch(`${s.metrics}/healthz`);
  return s;
}

/** Posts `n` batches of `size` events, every one alerting (Test Anonymous); the acknowledged alerts' auditIDs. */
async function send(s: Server, prefix: string, n: number, size = 40): Promise<string[]> {
  const acked: string[] = [];
  for (let b = 0; b < n; b++) {
    const { body, alertIds } = batch(`${prefix}${b}`, size);
    const r = await post(s.webhook, body);
    expect(r.status).toBe(200);
    expect(r.json.alerts).toBe(size);
    acked.push(...alertIds);
  }
  return acked;
}

/** The uuid an alert of Test Anonymous on this auditID must carry (no credentials: no cluster). */
const uuidOf = (auditId: string): string => alertIdOf(`\n${auditId}\nResponseComplete\nTest Anonymous`);

const PADDED_RULES = `
- rule: Test Anonymous
  desc: anonymous request
  condition: ka.user.name = system:anonymous
  output: anon (id=%ka.auditid pad=%jevt.value[/annotations/example.com~1pad])
  priority: WARNING
  source: k8s_audit
`;

const segments = (dir: string): string[] => readdirSync(join(dir, 'spool')).filter((f) => f.endsWith('.spool')).sort();

describe('durable delivery (outputs.spool_dir)', () => {
  it('receiver down, batches acknowledged, SIGKILL, restart with the receiver up: every acknowledged alert arrives, repeats carry the same uuid', async () => {
    const dir = tempDir();
    // Up for the first 30 alerts, then down: the batch it was in is never finished.
    const r1 = await receiver();
    r1.acceptFirst = 30;
    const s = await serve(dir, r1.port);
    expect(s.stderr()).toMatch(/spool .*: alerts for http are durable there before acknowledgement/);
    const acked = await send(s, 'k', 10);
    await waitFor(() => r1.accepted.length === 30 && r1.posts > 30, 'the receiver to take 30 alerts, then fail');
    s.proc.kill('SIGKILL');
    await s.exited;
    expect(segments(dir).length).toBeGreaterThan(0);
    await r1.close();

    const r2 = await receiver(r1.port);
    const s2 = await serve(dir, r2.port);
    expect(s2.stderr()).toMatch(/\d+ alerts from before this start not yet delivered: sent first/);
    const all = () => [...r1.accepted, ...r2.accepted];
    await waitFor(() => new Set(all().map((a) => a.output_fields['ka.auditid'])).size === acked.length, 'every acknowledged alert', 20_000);
    const got = all();
    // None missing, nothing else.
    expect(new Set(got.map((a) => a.output_fields['ka.auditid']))).toEqual(new Set(acked));
    // Each carries its stable uuid; those sent twice carry the same one, and there are some.
    for (const a of got) expect(a.uuid).toBe(uuidOf(a.output_fields['ka.auditid']));
    const twice = r1.ids().filter((id) => r2.ids().includes(id));
    expect(twice.length).toBeGreaterThan(0);
    expect(got.length).toBe(acked.length + twice.length);
    // The file output keeps Falco's lines: no uuid there.
    expect(readFileSync(join(dir, 'alerts.jsonl'), 'utf8')).not.toContain('"uuid"');
    expect(await s2.stop()).toBe(0);
  });

  it('the same with SIGTERM: a clean exit within the shutdown timeout, the spool kept, everything sent after the restart, once', async () => {
    const dir = tempDir();
    const r1 = await receiver();
    r1.down = true;
    const s = await serve(dir, r1.port);
    const acked = await send(s, 't', 5);
    await waitFor(() => r1.posts > 0, 'a failed delivery');
    const t0 = Date.now();
    expect(await s.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(s.stderr()).toMatch(new RegExp(`${acked.length} alerts stay in the spool .*spool, not yet delivered: they are sent first at the next start`));
    expect(s.stderr()).not.toMatch(/could not be delivered/);
    expect(segments(dir).length).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'spool', 'lock'))).toBe(false);
    r1.down = false;
    const s2 = await serve(dir, r1.port);
    await waitFor(() => r1.accepted.length >= acked.length, 'every acknowledged alert', 20_000);
    await new Promise((r) => setTimeout(r, 200));
    // Once each (two lanes: not strictly in order).
    expect(r1.ids().sort()).toEqual([...acked].sort());
    for (const a of r1.accepted) expect(a.uuid).toBe(uuidOf(a.output_fields['ka.auditid']));
    expect(await s2.stop()).toBe(0);
  });

  it('a spool segment cut in the middle of a record is recovered up to that record and reported', async () => {
    const dir = tempDir();
    const r1 = await receiver();
    r1.down = true;
    const s = await serve(dir, r1.port);
    const acked = await send(s, 'd', 4);
    s.proc.kill('SIGKILL');
    await s.exited;
    // Cut the last record of the last segment in its middle (an alert is hundreds of bytes).
    const seg = join(dir, 'spool', segments(dir).at(-1)!);
    const size = statSync(seg).size;
    truncateSync(seg, size - 100);
    r1.down = false;
    const s2 = await serve(dir, r1.port);
    expect(s2.stderr()).toMatch(new RegExp(`spool: damaged segment ${seg} at offset \\d+: record cut short \\(\\d+ of \\d+ bytes\\); cut to the last whole record \\(\\d+ bytes cut\\)`));
    await waitFor(() => r1.accepted.length >= acked.length - 1, 'the alerts before the cut', 20_000);
    await new Promise((r) => setTimeout(r, 200));
    // Everything up to the cut record (the last alert released), once.
    expect(r1.ids().sort()).toEqual(acked.slice(0, -1).sort());
    const m = await metricsText(s2);
    expect(metricValue(m, 'peregrine_spool_damaged_records_total')).toBe(1);
    expect(metricValue(m, 'peregrine_spool_damaged_bytes_total')).toBeGreaterThan(0);
    // Cut to the last whole record: the next start has nothing to report.
    expect(await s2.stop()).toBe(0);
    const s3 = await serve(dir, r1.port);
    expect(s3.stderr()).not.toMatch(/damaged segment/);
    expect(await s3.stop()).toBe(0);
  });

  it('spool full: 429 with Retry-After, nothing acknowledged dropped, and 200 again once delivered', async () => {
    const dir = tempDir();
    const r1 = await receiver();
    r1.down = true;
    // Alerts of about 8 KiB (they print the events' padding, in output and output_fields): about 500 fill 4 MiB.
    const s = await serve(dir, r1.port, { spool_max_bytes: '4MiB' }, 8, PADDED_RULES);
    const acked: string[] = [];
    let refused: { status: number; headers: Headers; json: any } | undefined;
    for (let b = 0; b < 200 && refused === undefined; b++) {
      const { body, alertIds } = batch(`f${b}`, 20, 1, { padTo: 4096 });
      const r = await post(s.webhook, body);
      if (r.status === 200) acked.push(...alertIds);
      else refused = r;
    }
    expect(refused?.status).toBe(429);
    expect(refused!.headers.get('retry-after')).toBe('1');
    const ready = await (await fetch(`${s.metrics}/readyz`)).json();
    expect(ready.reasons.join('\n')).toMatch(/spool .* is full \(\d+ of 4194304 bytes, outputs\.spool_max_bytes\)/);
    expect(metricValue(await metricsText(s), 'peregrine_spool_full')).toBe(1);
    // Still full: refused again, not evaluated.
    expect((await post(s.webhook, batch('x', 10).body)).status).toBe(429);
    expect(acked.length).toBeGreaterThan(400);
    r1.down = false;
    await waitFor(() => r1.accepted.length >= acked.length, 'every acknowledged alert', 30_000);
    expect(new Set(r1.ids())).toEqual(new Set(acked));
    expect(r1.accepted.length).toBe(acked.length);
    await waitFor(async () => metricValue(await metricsText(s), 'peregrine_spool_full') === 0, 'the spool to be freed');
    expect((await post(s.webhook, batch('y', 10).body)).status).toBe(200);
    expect(await s.stop()).toBe(0);
  });

  it('a followed file checkpoints once the alerts are in the spool, with the receiver down; a restart sends them', async () => {
    const dir = tempDir();
    const r1 = await receiver();
    r1.down = true;
    const log = join(dir, 'audit.log');
    const { text, ids } = lines('c', 50);
    writeFileSync(log, text);
    // One lane: alerts arrive in the order they were spooled.
    const outputs = { http: { url: `http://127.0.0.1:${r1.port}/`, concurrency: 1, retry_initial_ms: 20, retry_max_ms: 100 }, spool_dir: join(dir, 'spool') };
    const f = await startFollower({ dir, source: { start_at: 'beginning' }, outputs });
    servers.push(f);
    const state = join(dir, 'state');
    const checkpoint = () => {
      const n = existsSync(state) ? readdirSync(state).find((x) => x.endsWith('.checkpoint.json')) : undefined;
      return n === undefined ? undefined : JSON.parse(readFileSync(join(state, n), 'utf8'));
    };
    await waitFor(() => checkpoint()?.offset === Buffer.byteLength(text), 'a checkpoint at the end of the file, receiver down', 20_000);
    expect(r1.accepted).toHaveLength(0);
    f.proc.kill('SIGKILL');
    await f.exited;
    r1.down = false;
    append(log, lines('c2', 5).text);
    const f2 = await startFollower({ dir, source: { start_at: 'beginning' }, outputs });
    servers.push(f2);
    await waitFor(() => r1.accepted.length >= 55, 'the spooled alerts and the new lines');
    await new Promise((r) => setTimeout(r, 300));
    // The first 50 came from the spool (their lines were not read again), then the 5 new ones.
    expect(r1.ids()).toEqual([...ids, ...lines('c2', 5).ids]);
    for (const a of r1.accepted) expect(a.uuid).toBe(alertIdOf(`prod\n${a.output_fields['ka.auditid']}\nResponseComplete\nTest Anonymous`));
    expect(await f2.stop()).toBe(0);
  });
});
