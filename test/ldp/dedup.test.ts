// The shared table of recently seen (auditID, stage): first sight, repeats within the
// window, expiry, a full table letting events through, and two threads agreeing.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { DedupTable, createDedupTable } from '../../src/pipeline/dedup.js';

describe('dedup table', () => {
  it('says first, then repeat within the window; the two stages of a request are two keys', () => {
    let now = 1000;
    const sab = createDedupTable({ windowSeconds: 600, maxKeys: 1000 });
    const t = new DedupTable(sab, () => now);
    expect(t.check('a-1', 'ResponseComplete')).toBe('first');
    expect(t.check('a-1', 'ResponseComplete')).toBe('repeat');
    expect(t.check('a-1', 'ResponseStarted')).toBe('first');
    expect(t.check('a-2', 'ResponseComplete')).toBe('first');
    now += 599;
    expect(t.check('a-1', 'ResponseComplete')).toBe('repeat');
    now += 1;
    expect(t.check('a-1', 'ResponseComplete')).toBe('first');
    expect(t.check('a-1', 'ResponseComplete')).toBe('repeat');
  });

  it('holds maxKeys keys; beyond, fresh slots are not taken over and events pass ("full")', () => {
    const sab = createDedupTable({ windowSeconds: 600, maxKeys: 64 });
    const t = new DedupTable(sab, () => 5);
    const verdicts = Array.from({ length: 400 }, (_, i) => t.check(`k-${i}`, 'ResponseComplete'));
    expect(verdicts.slice(0, 64).every((v) => v === 'first')).toBe(true);
    expect(verdicts.filter((v) => v === 'full').length).toBeGreaterThan(0);
    expect(verdicts.filter((v) => v === 'repeat')).toEqual([]);
    // What was recorded is still recognized.
    expect(t.check('k-0', 'ResponseComplete')).toBe('repeat');
  });

  it('two threads checking the same keys at once: each key is first exactly once', async () => {
    const sab = createDedupTable({ windowSeconds: 600, maxKeys: 100_000 });
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.mod).then(({ DedupTable }) => {
        const t = new DedupTable(workerData.sab);
        let first = 0;
        for (let i = 0; i < 50000; i++) if (t.check('id-' + i, 'ResponseComplete') === 'first') first++;
        parentPort.postMessage(first);
      });`;
    const mod = new URL('../../dist/pipeline/dedup.js', import.meta.url).href;
    const run = () => new Promise<number>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { sab, mod } });
      w.once('message', resolve);
      w.once('error', reject);
    });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a + b).toBe(50000);
  });
});
