// Checkpoint files: what is written reads back the same, saving is atomic (a leftover
// temporary file changes nothing), and the parser, fuzzed with mutated and random
// text, either returns a checkpoint that re-encodes to a valid one or throws
// ERR_CHECKPOINT naming the file — nothing else, and never a position it cannot back.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointStore, encodeCheckpoint, parseCheckpoint, checkpointFileName, type Checkpoint } from '../../src/ingest/checkpoint.js';
import { PeregrineError } from '../../src/errors.js';
import { tempDir } from '../serve/harness.js';
import { rng } from '../rng.js';

const SOURCE = '/var/log/kubernetes/audit/audit.log';
const sample = (o: Partial<Checkpoint> = {}): Checkpoint => ({
  source: SOURCE,
  file: { dev: 2049n, ino: 18446744073709551615n, fpLen: 1024, fp: 'a'.repeat(64), name: 'audit-2026-11-23T10-15-00.000.log', rotatedAtMs: 1795428900000 },
  offset: 123456789,
  line: 4242,
  savedAtMs: 1795428901234,
  ...o,
});

describe('checkpoint', () => {
  it('round-trips, 64-bit inodes included; the live file has no rotation time', () => {
    for (const c of [sample(), sample({ file: { dev: 0n, ino: 1n, fpLen: 0, fp: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', name: 'audit.log', liveSinceMs: 5 } })]) {
      expect(parseCheckpoint(encodeCheckpoint(c), SOURCE, 'x')).toEqual(c);
    }
  });

  it('refuses another source\'s checkpoint, and names the file', () => {
    expect(() => parseCheckpoint(encodeCheckpoint(sample()), '/other.log', '/state/x.json')).toThrow(/\/state\/x\.json: is the checkpoint of .*audit\.log/);
  });

  it('saves atomically: the file holds the last checkpoint whole, mode 0600, state dir created 0700', async () => {
    const dir = join(tempDir(), 'state', 'deeper');
    const store = new CheckpointStore(dir, SOURCE);
    expect(await store.load()).toBeUndefined();
    await store.save(sample({ offset: 1 }));
    await store.save(sample({ offset: 2 }));
    expect((await store.load())?.offset).toBe(2);
    expect(readdirSync(dir)).toEqual([checkpointFileName(SOURCE)]);
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // A crash between writing the temporary file and the rename leaves it behind: harmless.
    writeFileSync(`${store.path}.tmp`, '{"half":');
    expect((await store.load())?.offset).toBe(2);
    writeFileSync(store.path, '{"version":1,');
    await expect(store.load()).rejects.toThrow(/ERR_CHECKPOINT|not a valid checkpoint/);
    expect(readFileSync(`${store.path}.tmp`, 'utf8')).toBe('{"half":');
  });

  it('distinct checkpoint files for distinct paths, even with the same name', () => {
    expect(checkpointFileName('/a/audit.log')).not.toBe(checkpointFileName('/b/audit.log'));
    expect(checkpointFileName('/a/audit.log')).toMatch(/^audit\.log\.[0-9a-f]{12}\.checkpoint\.json$/);
  });

  it('fuzz: mutated or random text parses to a valid checkpoint or fails with ERR_CHECKPOINT', () => {
    const r = rng(7);
    const base = encodeCheckpoint(sample());
    const tokens = ['-1', '1e3', '0.5', '"1"', 'null', 'true', '[]', '{}', '"x"', '9007199254740993', '"18446744073709551616"', '"007"', '"-1"', '""', '"\\u0000"'];
    const rounds = process.env.PEREGRINE_LONG_TESTS === '1' ? 200_000 : 10_000;
    let accepted = 0;
    for (let i = 0; i < rounds; i++) {
      let text: string;
      const k = r();
      if (k < 0.15) {
        text = Array.from({ length: Math.floor(r() * 40) }, () => String.fromCharCode(Math.floor(r() * 128))).join('');
      } else if (k < 0.6) {
        // Replace one value with another token.
        const values = [...base.matchAll(/:("[^"]*"|[0-9]+|\{)/g)];
        const m = values[Math.floor(r() * values.length)];
        text = base.slice(0, m.index! + 1) + tokens[Math.floor(r() * tokens.length)] + base.slice(m.index! + 1 + m[1].length);
      } else {
        // Flip, drop or duplicate a byte.
        const at = Math.floor(r() * base.length);
        const op = r();
        text = op < 0.33 ? base.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + base.slice(at + 1)
          : op < 0.66 ? base.slice(0, at) + base.slice(at + 1) : base.slice(0, at) + base[at] + base.slice(at);
      }
      let c: Checkpoint;
      try {
        c = parseCheckpoint(text, SOURCE, 'f.json');
      } catch (e) {
        expect(e, text).toBeInstanceOf(PeregrineError);
        expect((e as PeregrineError).code).toBe('ERR_CHECKPOINT');
        expect((e as Error).message.startsWith('f.json: ')).toBe(true);
        continue;
      }
      accepted++;
      // Whatever is accepted is a position one can use, and survives a round trip.
      expect(Number.isSafeInteger(c.offset) && c.offset >= 0 && c.line >= 1, text).toBe(true);
      expect(c.file.fp).toMatch(/^[0-9a-f]{64}$/);
      expect(c.file.fpLen).toBeLessThanOrEqual(1024);
      expect(c.file.ino >= 0n && c.file.ino < 2n ** 64n).toBe(true);
      expect(parseCheckpoint(encodeCheckpoint(c), SOURCE, 'g')).toEqual(c);
    }
    // Some mutations are harmless (a digit changed): the parser is not just refusing everything.
    expect(accepted).toBeGreaterThan(0);
  });
});
