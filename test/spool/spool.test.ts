// The spool on its own (outputs/spool.ts) and behind Outputs: group commit and
// durability, cursors that survive a restart, segments freed once every output is past
// them, damage at start (the last segment cut mid-record) and while reading (a middle
// segment), the lock, the bound, and what Outputs makes of it (whenSpooled, the
// watermark, pressure, flush with a receiver down).
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spool } from '../../src/outputs/spool.js';
import { Outputs } from '../../src/outputs/outputs.js';
import { PeregrineError } from '../../src/errors.js';
import type { DeliveryReport, OutputTarget, QueuedAlert } from '../../src/outputs/target.js';
import { tempDir } from '../serve/harness.js';

const alert = (n: number, pad = 0): QueuedAlert => ({
  json: Buffer.from(JSON.stringify({ rule: 'r', n, pad: 'x'.repeat(pad) })),
  eventTimeMs: 1_700_000_000_000 + n,
  id: Buffer.from(String(n).padStart(36, '0')),
});
const numOf = (a: QueuedAlert): number => JSON.parse(a.json.toString()).n;

function opener(dir: string, outputs = ['http'], extra: { maxBytes?: number; segmentBytes?: number } = {}) {
  const logs: string[] = [];
  const open = () => Spool.open({ dir, maxBytes: extra.maxBytes ?? 1 << 30, segmentBytes: extra.segmentBytes ?? 64 * 1024, outputs, log: (m) => logs.push(m), cursorSaveMs: 20 });
  return { open, logs };
}

/** Reads every batch the cursor has until it would wait; acks each. */
async function drain(s: Spool, name = 'http'): Promise<number[]> {
  const c = s.cursors.find((x) => x.name === name)!;
  const got: number[] = [];
  for (;;) {
    const stop = new AbortController();
    const t = setTimeout(() => stop.abort(), 100);
    const batch = await c.next(stop.signal);
    clearTimeout(t);
    if (batch === undefined) return got;
    got.push(...batch.map(numOf));
    for (const a of batch) expect(a.id?.toString()).toBe(String(numOf(a)).padStart(36, '0'));
    c.ack();
  }
}

const segmentsIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.spool')).sort();

describe('spool', () => {
  it('appends durably (whenDurable after the fsync), delivers in order, rotates and frees segments, resumes after a restart', async () => {
    const dir = tempDir();
    const { open } = opener(dir);
    let s = await opener(dir).open();
    for (let i = 0; i < 300; i++) s.append(alert(i, 500));
    expect(s.committed).toBe(0);
    await s.whenDurable();
    expect(s.committed).toBe(300);
    // One write took them all (one segment past its size, then a new one): more, in smaller commits.
    for (let i = 300; i < 600; i++) {
      s.append(alert(i, 500));
      if (i % 30 === 0) await s.whenDurable();
    }
    await s.whenDurable();
    expect(segmentsIn(dir).length).toBeGreaterThan(2);
    expect(await drain(s)).toEqual(Array.from({ length: 600 }, (_, i) => i));
    // Everything delivered: only the segment being written is left.
    await new Promise((r) => setTimeout(r, 50));
    expect(segmentsIn(dir).length).toBe(1);
    for (let i = 600; i < 610; i++) s.append(alert(i));
    await s.close();
    expect(existsSync(join(dir, 'lock'))).toBe(false);
    // Restart: the cursor was saved at close; the 10 undelivered come next, then new ones.
    s = await open();
    expect(s.cursors[0].behind).toBe(10);
    s.append(alert(610));
    await s.whenDurable();
    expect(await drain(s)).toEqual(Array.from({ length: 11 }, (_, i) => 600 + i));
    await s.close();
  });

  it('frees a segment only when every output is past it; a new output starts from the oldest alert', async () => {
    const dir = tempDir();
    let s = await opener(dir, ['a', 'b']).open();
    for (let i = 0; i < 200; i++) s.append(alert(i, 500));
    await s.whenDurable();
    // (The segment that filled is sealed and a new one started just after the commit.)
    await new Promise((r) => setTimeout(r, 20));
    const before = segmentsIn(dir).length;
    expect(before).toBe(2);
    expect(await drain(s, 'a')).toHaveLength(200);
    expect(segmentsIn(dir).length).toBe(before);
    expect(await drain(s, 'b')).toHaveLength(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(segmentsIn(dir).length).toBe(1);
    for (let i = 200; i < 205; i++) s.append(alert(i));
    await s.close();
    s = await opener(dir, ['a', 'b', 'c']).open();
    expect(s.cursors.map((c) => c.behind)).toEqual([5, 5, 5]);
    expect(await drain(s, 'c')).toEqual([200, 201, 202, 203, 204]);
    await s.close();
  });

  it('a last segment cut in the middle of a record is cut back to the last whole record at start, reported and counted', async () => {
    const dir = tempDir();
    let s = await opener(dir).open();
    for (let i = 0; i < 20; i++) s.append(alert(i, 100));
    await s.whenDurable();
    // A crash: no close (the lock and the cursor stay as they were).
    const seg = join(dir, segmentsIn(dir).at(-1)!);
    const size = statSync(seg).size;
    truncateSync(seg, size - 30);
    const { open, logs } = opener(dir);
    s = await open();
    const report = logs.find((l) => l.includes('damaged segment'));
    expect(report).toContain(seg);
    expect(report).toMatch(/at offset \d+: record cut short \(\d+ of \d+ bytes\); cut to the last whole record \(\d+ bytes cut\)/);
    expect(s.stats().damaged).toBe(1);
    expect(statSync(seg).size).toBeLessThan(size - 30);
    // 19 whole records survive; seqs go on after them.
    s.append(alert(100));
    await s.whenDurable();
    expect(await drain(s)).toEqual([...Array.from({ length: 19 }, (_, i) => i), 100]);
    expect(logs.some((l) => l.includes('missing'))).toBe(false);
    await s.close();
  });

  it('damage in an older segment: the reader delivers what precedes it, reports it, skips to the next segment and says how many alerts are missing', async () => {
    const dir = tempDir();
    let s = await opener(dir, ['http'], { segmentBytes: 16 * 1024 }).open();
    for (let i = 0; i < 300; i++) {
      s.append(alert(i, 500));
      if (i % 30 === 0) await s.whenDurable();
    }
    await s.whenDurable();
    await s.close();
    const segs = segmentsIn(dir);
    expect(segs.length).toBeGreaterThan(3);
    // Flip a byte in the middle of the second segment.
    const victim = join(dir, segs[1]);
    const b = readFileSync(victim);
    const at = Math.floor(b.length / 2);
    b[at] ^= 0xff;
    writeFileSync(victim, b);
    const { open, logs } = opener(dir);
    s = await open();
    const got = await drain(s);
    expect(logs.find((l) => l.includes('damaged segment'))).toMatch(new RegExp(`${segs[1]} at offset \\d+: (checksum mismatch|impossible record length \\d+|record cut short.*); http skips to the next segment`));
    const missing = /(\d+) alerts for http before .* are missing/.exec(logs.join('\n'));
    expect(missing).not.toBeNull();
    // In order, nothing twice, and exactly the missing ones absent.
    expect(got).toEqual([...got].sort((x, y) => x - y));
    expect(new Set(got).size).toBe(got.length);
    expect(got.length + Number(missing![1])).toBe(300);
    expect(s.stats().damaged).toBe(1);
    await s.close();
  });

  it('a damaged cursor file means repeats from the oldest alert, never a loss', async () => {
    const dir = tempDir();
    let s = await opener(dir).open();
    for (let i = 0; i < 5; i++) s.append(alert(i));
    await s.whenDurable();
    expect(await drain(s)).toHaveLength(5);
    s.append(alert(5));
    await s.close();
    writeFileSync(join(dir, 'http.cursor'), '{"segment":1,"offset":4');
    const { open, logs } = opener(dir);
    s = await open();
    expect(logs.join('\n')).toMatch(/http\.cursor is damaged; http starts again from the oldest spooled alert/);
    expect(await drain(s)).toEqual([0, 1, 2, 3, 4, 5]);
    await s.close();
  });

  it('refuses a directory another live process holds', async () => {
    const dir = tempDir();
    const { hostname } = await import('node:os');
    writeFileSync(join(dir, 'lock'), `${process.ppid} ${hostname()}\n`);
    const err = await opener(dir).open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeregrineError);
    expect((err as PeregrineError).describe()).toMatch(new RegExp(`ERR_SPOOL: outputs.spool_dir: ${dir} is in use by process ${process.ppid} on this host`));
    // A stale lock (a process that is gone) is taken over.
    writeFileSync(join(dir, 'lock'), `999999999 ${hostname()}\n`);
    const s = await opener(dir).open();
    await s.close();
  });

  it('a failing write (a full disk, half written) is cut back and retried: the spool counts as full meanwhile, nothing is lost or torn', async () => {
    const dir = tempDir();
    const { open, logs } = opener(dir);
    const s = await open();
    const fh = (s as any).fh;
    const write = fh.write.bind(fh);
    let failures = 3;
    fh.write = async (buf: Buffer, off: number, len: number, pos: number) => {
      if (failures-- > 0) {
        // Half of it reaches the file, then the disk is full.
        await write(buf, off, Math.floor(len / 2), pos);
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      }
      return write(buf, off, len, pos);
    };
    for (let i = 0; i < 20; i++) s.append(alert(i, 100));
    let durable = false;
    const d = s.whenDurable().then(() => { durable = true; });
    await new Promise((r) => setTimeout(r, 50));
    expect(durable).toBe(false);
    expect(s.full).toBe(true);
    expect(s.readiness()[0]).toMatch(/spool: cannot write .*ENOSPC.*new requests get 429/);
    // More alerts while it cannot write: kept, in order.
    for (let i = 20; i < 30; i++) s.append(alert(i, 100));
    await d;
    await s.whenDurable();
    expect(s.full).toBe(false);
    expect(s.stats().writeErrors).toBe(3);
    expect(logs.join('\n')).toMatch(/writing again/);
    expect(await drain(s)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await s.close();
    // On disk: whole records only (a restart finds no damage).
    const again = opener(dir);
    const s2 = await again.open();
    expect(again.logs.some((l) => l.includes('damaged'))).toBe(false);
    await s2.close();
  });

  it('full at max_bytes; delivering frees it', async () => {
    const dir = tempDir();
    const s = await opener(dir, ['http'], { maxBytes: 300 * 1024, segmentBytes: 64 * 1024 }).open();
    let n = 0;
    while (!s.full) s.append(alert(n++, 1000));
    await s.whenDurable();
    expect(s.full).toBe(true);
    expect(s.readiness()[0]).toMatch(/is full \(\d+ of 307200 bytes, outputs.spool_max_bytes\)/);
    expect(await drain(s)).toHaveLength(n);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.full).toBe(false);
    await s.close();
  });
});

describe('outputs with a spool', () => {
  const hooks = { onPressure: () => undefined, onDelivered: () => undefined, onFailure: () => undefined, onRefused: () => undefined };

  /** A network output that is down until `up` is set, recording what it delivers. */
  function receiver() {
    const state = { up: false, got: [] as number[], attempts: 0 };
    const t: OutputTarget = {
      name: 'http',
      network: true,
      async deliver(batch: QueuedAlert[], report: DeliveryReport, stop: AbortSignal) {
        for (const a of batch) {
          while (!state.up) {
            state.attempts++;
            report.failed(new Error('down'));
            if (stop.aborted) throw new (await import('../../src/outputs/target.js')).StoppedError();
            await new Promise((r) => setTimeout(r, 10));
          }
          report.ok();
          state.got.push(numOf(a));
          report.delivered(a);
        }
      },
      async close() {},
    };
    return { t, state };
  }

  it('acknowledgement = durable in the spool; the watermark counts spooled alerts as finished; flush with the receiver down keeps them for the next start', async () => {
    const dir = tempDir();
    const { t, state } = receiver();
    const files: number[] = [];
    const local: OutputTarget = { name: 'file', async deliver(batch, report) { for (const a of batch) { files.push(numOf(a)); report.delivered(a); } }, async close() {} };
    const spool = await opener(dir).open();
    const o = new Outputs([local, t], 1 << 20, hooks, spool);
    for (let i = 0; i < 50; i++) o.push(alert(i));
    await o.whenSpooled();
    expect(spool.committed).toBe(50);
    // The receiver is down, yet what was pushed is delivered as far as a checkpoint cares.
    await o.whenDelivered();
    expect(files).toHaveLength(50);
    const st = o.statuses().find((x) => x.name === 'http')!;
    expect(st).toMatchObject({ spooled: true, queued: 50 });
    await new Promise((r) => setTimeout(r, 30));
    expect(o.statuses().find((x) => x.name === 'http')!.up).toBe(false);
    expect(await o.flush(2000)).toBe(true);
    expect(o.spooledPending()).toBe(50);
    await o.close();
    expect(state.got).toEqual([]);
    // Next start, receiver up: the 50 first, then a new one.
    const r2 = receiver();
    r2.state.up = true;
    const o2 = new Outputs([r2.t], 1 << 20, hooks, await opener(dir).open());
    o2.push(alert(50));
    await o2.whenSpooled();
    expect(await o2.flush(5000)).toBe(true);
    expect(r2.state.got).toEqual(Array.from({ length: 51 }, (_, i) => i));
    expect(o2.spooledPending()).toBe(0);
    await o2.close();
  });

  it('a full spool is pressure (new work refused) without pausing evaluation', async () => {
    const dir = tempDir();
    const { t, state } = receiver();
    const pressure: boolean[] = [];
    const o = new Outputs([t], 1 << 20, { ...hooks, onPressure: (on) => pressure.push(on) }, await opener(dir, ['http'], { maxBytes: 200 * 1024 }).open());
    let n = 0;
    while (!o.underPressure) o.push(alert(n++, 1000));
    expect(o.readiness().join()).toMatch(/spool .* is full/);
    // The memory bound's pause is not what refuses: evaluation goes on.
    expect(pressure).toEqual([]);
    state.up = true;
    expect(await o.flush(5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(o.underPressure).toBe(false);
    expect(state.got).toHaveLength(n);
    await o.close();
  });
});
