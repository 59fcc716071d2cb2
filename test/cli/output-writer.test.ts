// scan's line writer under a reader slower than the writer.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineWriter } from '../../src/cli/output-writer.js';

describe('LineWriter', () => {
  it('waits on one drain however many full batches are written, and loses no line', async () => {
    const got: string[] = [];
    let release: (() => void) | undefined;
    const out = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _enc, cb) {
        got.push(chunk.toString());
        // The reader stalls until told to go on.
        release = cb;
      },
    });
    const w = new LineWriter(out, 32);
    const waits = new Set<Promise<void>>();
    for (let i = 0; i < 200; i++) {
      const p = w.write(`line ${i} ${'x'.repeat(20)}`);
      if (p) waits.add(p);
      expect(out.listenerCount('drain')).toBeLessThanOrEqual(1);
    }
    expect(waits.size).toBe(1);
    const f = w.flush();
    if (f) waits.add(f);
    expect(waits.size).toBe(1);
    const all = Promise.all(waits);
    while (release) { const r = release; release = undefined; r(); await new Promise((s) => setImmediate(s)); }
    await all;
    const lines = got.join('').split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(200);
    expect(lines.map((l) => Number(l.split(' ')[1]))).toEqual([...Array(200).keys()]);
  });
});
