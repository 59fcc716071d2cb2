// The SPSC ring: records in order, wrap-around without splitting a record (or a
// multi-byte character), a producer that blocks on a full ring until the consumer
// drains, a consumer that never drains, and close().
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { RingReader, RingWriter, createRingBuffer, claimRing, ringCapacity, RECORD_HEADER } from '../../src/pipeline/ring.js';

const meta = (tag: number, seq = 0) => ({ tag, seq, kind: 7, gen: 3, time: 1.5 + tag });

function drainAll(r: RingReader): { tag: number; seq: number; kind: number; gen: number; time: number; text: string }[] {
  const out: { tag: number; seq: number; kind: number; gen: number; time: number; text: string }[] = [];
  r.drain((rec) => out.push({ tag: rec.tag, seq: rec.seq, kind: rec.kind, gen: rec.gen, time: rec.time, text: rec.payload.toString('utf8') }));
  return out;
}

describe('ring buffer', () => {
  it('rounds capacity to a power of two and keeps records in order with their metadata', () => {
    expect(ringCapacity(100_000)).toBe(131072);
    const sab = createRingBuffer(1);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    for (let i = 0; i < 10; i++) expect(w.write(meta(i, i * 2), `{"n":${i}}`)).toBe(true);
    const got = drainAll(r);
    expect(got.map((g) => g.text)).toEqual(Array.from({ length: 10 }, (_, i) => `{"n":${i}}`));
    expect(got[4]).toMatchObject({ tag: 4, seq: 8, kind: 7, gen: 3, time: 5.5 });
    expect(r.used()).toBe(0);
  });

  it('wraps around many times without splitting records or multi-byte characters', () => {
    const sab = createRingBuffer(1); // 64 KiB
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    const seen: string[] = [];
    const expected: string[] = [];
    let k = 0;
    for (let round = 0; round < 200; round++) {
      // Sizes chosen so records straddle the end at varying offsets; "é" and "🦅" are 2 and 4 bytes.
      const n = 1 + ((round * 37) % 40);
      for (let i = 0; i < n; i++, k++) {
        const text = 'é'.repeat((k * 131) % 700) + '🦅' + k;
        expected.push(text);
        expect(w.write(meta(k), text, 0)).toBe(true);
      }
      r.drain((rec) => seen.push(rec.payload.toString('utf8')));
    }
    expect(seen).toEqual(expected);
  });

  it('rejects a record larger than half the ring (the caller sends those another way)', () => {
    const sab = createRingBuffer(1);
    const w = new RingWriter(sab);
    expect(w.fits(w.maxPayload)).toBe(true);
    expect(w.fits(w.maxPayload + 1)).toBe(false);
    expect(w.maxPayload).toBe(32768 - RECORD_HEADER);
    expect(() => w.write(meta(1), 'x'.repeat(w.maxPayload + 1))).toThrow(RangeError);
  });

  it('a producer facing a consumer that never drains times out instead of overwriting', () => {
    const sab = createRingBuffer(1);
    const w = new RingWriter(sab);
    const big = 'x'.repeat(20_000);
    expect(w.write(meta(1), big, 0)).toBe(true);
    expect(w.write(meta(2), big, 0)).toBe(true);
    expect(w.write(meta(3), big, 0)).toBe(true);
    const t0 = Date.now();
    expect(w.write(meta(4), big, 120)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    const r = new RingReader(sab);
    expect(drainAll(r).map((g) => g.tag)).toEqual([1, 2, 3]);
  });

  it('close() makes a waiting producer fail rather than hang', () => {
    const sab = createRingBuffer(1);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    const big = 'x'.repeat(30_000);
    w.write(meta(1), big);
    w.write(meta(2), big);
    r.close();
    expect(() => w.write(meta(3), big)).toThrow('ring closed');
  });

  it('claims distinct rings per thread and frees them', () => {
    const rings = [createRingBuffer(1), createRingBuffer(1)];
    expect(claimRing(rings, 11)).toBe(0);
    expect(claimRing(rings, 12)).toBe(1);
    expect(claimRing(rings, 13)).toBe(-1);
    const r0 = new RingReader(rings[0]);
    expect(r0.owner).toBe(11);
    r0.release();
    expect(claimRing(rings, 13)).toBe(0);
  });

  it('a producer thread blocks on a full ring and resumes as the main thread drains (waitAsync)', async () => {
    const sab = createRingBuffer(1);
    const reader = new RingReader(sab);
    const ringUrl = pathToFileURL(join(process.cwd(), 'dist/pipeline/ring.js')).href;
    const N = 3000;
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(${JSON.stringify(ringUrl)}).then(({ RingWriter }) => {
         const w = new RingWriter(workerData);
         for (let i = 0; i < ${N}; i++) w.write({ tag: i, seq: 0, kind: 0, gen: 0, time: 0 }, 'payload-' + i + '-' + 'y'.repeat(i % 500));
         w.signal();
         parentPort.postMessage({ waitedMs: w.waitedMs });
       });`,
      { eval: true, workerData: sab },
    );
    const tags: number[] = [];
    let done = false;
    let waited = -1;
    worker.on('message', (m: { waitedMs: number }) => { done = true; waited = m.waitedMs; });
    while (!done || reader.used() > 0) {
      await reader.waitSignal(20);
      reader.drain((rec) => {
        expect(rec.payload.toString()).toBe('payload-' + rec.tag + '-' + 'y'.repeat(rec.tag % 500));
        tags.push(rec.tag);
      });
    }
    await worker.terminate();
    expect(tags).toEqual(Array.from({ length: N }, (_, i) => i));
    // ~800 KB through a 64 KiB ring: the producer must have waited for space.
    expect(waited).toBeGreaterThanOrEqual(0);
  });
});
