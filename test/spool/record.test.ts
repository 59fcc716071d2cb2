// The spool's record format (outputs/spool-record.ts): round trips, and a fuzz of the
// segment scanner: whatever is done to a segment's bytes (cut anywhere, bytes flipped,
// zeros or garbage after the end, a region zeroed), the scan never throws, keeps exactly
// the records before the first damaged one, and reports where the damage starts and how
// many bytes follow.
import { describe, expect, it } from 'vitest';
import {
  REC_BAD, REC_OK, REC_SHORT, SEGMENT_HEADER_BYTES, decodeRecord, encodeRecord, encodeSegmentHeader, newSlot, recordBytes, scanSegment, type ReadAt,
} from '../../src/outputs/spool-record.js';
import { rng } from '../rng.js';

const LONG = process.env.PEREGRINE_LONG_TESTS === '1';
const SEED = Number(process.env.PEREGRINE_FUZZ_SEED ?? 19);

interface Rec {
  seq: number;
  timeMs: number;
  id: Buffer | undefined;
  json: Buffer;
}

/** A segment of `n` random records; its bytes and each record's start offset (and the end). */
function segment(r: () => number, n: number, firstSeq: number): { bytes: Buffer; recs: Rec[]; bounds: number[] } {
  const recs: Rec[] = [];
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(r() ** 3 * 4000);
    const json = Buffer.alloc(len);
    for (let k = 0; k < len; k++) json[k] = Math.floor(r() * 256);
    recs.push({ seq: firstSeq + i, timeMs: Math.floor(r() * 2e12), id: r() < 0.8 ? Buffer.from('0b9f3c0e-5d1a-5c7e-9f3a-7e0d6a1b2c45') : undefined, json });
  }
  const size = SEGMENT_HEADER_BYTES + recs.reduce((a, x) => a + recordBytes(x.id?.length ?? 0, x.json.length), 0);
  const bytes = Buffer.alloc(size);
  encodeSegmentHeader(firstSeq).copy(bytes);
  const bounds = [SEGMENT_HEADER_BYTES];
  let at = SEGMENT_HEADER_BYTES;
  for (const x of recs) {
    at = encodeRecord(bytes, at, x.seq, x.timeMs, x.id, x.json);
    bounds.push(at);
  }
  return { bytes, recs, bounds };
}

/** Reads from memory, at most `chunk` bytes per call (short reads, as a file may give). */
function memRead(data: Buffer, r: () => number): ReadAt {
  return async (buf, off, len, pos) => {
    if (pos >= data.length) return 0;
    const n = Math.min(len, data.length - pos, 1 + Math.floor(r() * 70000));
    data.copy(buf, off, pos, pos + n);
    return n;
  };
}

describe('spool records', () => {
  it('round trip: what is encoded decodes, with and without an id', () => {
    const buf = Buffer.alloc(1000);
    const json = Buffer.from('{"rule":"r","output":"é"}');
    const id = Buffer.from('1d2f7df0-cb7b-5901-b3eb-c24e171bc49d');
    const end = encodeRecord(buf, 3, 42, 1700000000123.5, id, json);
    expect(end).toBe(3 + recordBytes(36, json.length));
    const end2 = encodeRecord(buf, end, 43, 5, undefined, json);
    const s = newSlot();
    expect(decodeRecord(buf, 3, end2, s)).toBe(REC_OK);
    expect([s.seq, s.timeMs, buf.toString('latin1', s.idStart, s.idEnd), buf.subarray(s.jsonStart, s.jsonEnd).equals(json), s.next]).toEqual([42, 1700000000123.5, id.toString(), true, end]);
    expect(decodeRecord(buf, end, end2, s)).toBe(REC_OK);
    expect([s.seq, s.idEnd - s.idStart, s.next]).toEqual([43, 0, end2]);
    // Cut anywhere: short, and says how much it needs once the length is there.
    expect(decodeRecord(buf, 3, 3 + 5, s)).toBe(REC_SHORT);
    expect(s.need).toBe(0);
    expect(decodeRecord(buf, 3, end - 1, s)).toBe(REC_SHORT);
    expect(s.need).toBe(end - 3);
    // A flipped bit in the body: the checksum.
    buf[end - 2] ^= 4;
    expect(decodeRecord(buf, 3, end2, s)).toBe(REC_BAD);
    expect(s.problem).toBe('checksum mismatch');
    // Zeros where a record should be: an impossible length.
    expect(decodeRecord(Buffer.alloc(64), 0, 64, s)).toBe(REC_BAD);
    expect(s.problem).toMatch(/impossible record length 0/);
  });

  it('scan of a whole segment: every record, no damage; of a bad header: nothing, the whole file reported', async () => {
    const r = rng(7);
    const { bytes, recs, bounds } = segment(r, 300, 1000);
    const seen: number[] = [];
    const scan = await scanSegment(memRead(bytes, r), bytes.length, (b, s) => seen.push(s.seq));
    expect(scan).toEqual({ validEnd: bytes.length, firstSeq: 1000, records: 300, lastSeq: 1299 });
    expect(seen).toEqual(recs.map((x) => x.seq));
    expect(bounds.at(-1)).toBe(bytes.length);
    const bad = Buffer.from(bytes);
    bad[2] = 0;
    const s2 = await scanSegment(memRead(bad, r), bad.length);
    expect(s2.validEnd).toBe(0);
    expect(s2.damage).toEqual({ offset: 0, reason: 'not a spool segment (bad magic)', bytes: bad.length });
    // An empty segment (header only) is whole; a file cut inside the header is not.
    expect((await scanSegment(memRead(bytes.subarray(0, 24), r), 24)).damage).toBeUndefined();
    expect((await scanSegment(memRead(bytes.subarray(0, 9), r), 9)).damage?.reason).toMatch(/header cut short/);
  });

  it('fuzz: cut, flipped, zeroed or extended segments recover to the last whole record before the damage, and report it', async () => {
    const rounds = LONG ? 3000 : 300;
    const r = rng(SEED);
    for (let round = 0; round < rounds; round++) {
      const n = Math.floor(r() * 40);
      const { bytes, recs, bounds } = segment(r, n, Math.floor(r() * 1e9));
      let data: Buffer;
      let firstDiff: number; // first offset where data may differ from a whole segment
      const kind = Math.floor(r() * 5);
      if (kind === 0) {
        // Cut anywhere (a crash mid-write).
        const at = Math.floor(r() * (bytes.length + 1));
        data = bytes.subarray(0, at);
        firstDiff = at;
      } else if (kind === 1) {
        // Some bytes flipped.
        data = Buffer.from(bytes);
        firstDiff = Infinity;
        for (let k = 1 + Math.floor(r() * 3); k > 0; k--) {
          const at = Math.floor(r() * data.length);
          data[at] ^= 1 + Math.floor(r() * 255);
          firstDiff = Math.min(firstDiff, at);
        }
      } else if (kind === 2) {
        // Zeros after the end (a filesystem that grew the file before the crash).
        data = Buffer.concat([bytes, Buffer.alloc(1 + Math.floor(r() * 5000))]);
        firstDiff = bytes.length;
      } else if (kind === 3) {
        // Garbage after the end.
        const g = Buffer.alloc(1 + Math.floor(r() * 300));
        for (let k = 0; k < g.length; k++) g[k] = Math.floor(r() * 256);
        data = Buffer.concat([bytes, g]);
        firstDiff = bytes.length;
      } else {
        // A region zeroed (a lost page), then maybe cut.
        data = Buffer.from(bytes);
        const at = Math.floor(r() * data.length);
        const len = Math.min(1 + Math.floor(r() * 8192), data.length - at);
        data.fill(0, at, at + len);
        firstDiff = at;
        // Zeroing zeros changes nothing: find the first byte that really differs.
        while (firstDiff < Math.min(data.length, at + len) && bytes[firstDiff] === 0) firstDiff++;
        if (firstDiff >= Math.min(data.length, at + len)) firstDiff = Infinity;
      }
      const seen: Rec[] = [];
      let scan;
      try {
        scan = await scanSegment(memRead(data, r), data.length, (b, s) => seen.push({
          seq: s.seq, timeMs: s.timeMs, id: s.idEnd > s.idStart ? Buffer.from(b.subarray(s.idStart, s.idEnd)) : undefined, json: Buffer.from(b.subarray(s.jsonStart, s.jsonEnd)),
        }));
      } catch (e) {
        throw new Error(`round ${round} (kind ${kind}): scan threw ${(e as Error).stack}`);
      }
      const limit = Math.min(firstDiff, data.length);
      // The whole records: those that end before the first changed byte.
      const whole = limit < SEGMENT_HEADER_BYTES ? -1 : bounds.filter((b) => b <= limit).length - 1;
      const expectEnd = whole < 0 ? 0 : bounds[whole];
      const ctx = `seed ${SEED} round ${round} kind ${kind} n ${n} len ${data.length} limit ${limit}`;
      expect(scan.validEnd, ctx).toBe(expectEnd);
      expect(seen.length, ctx).toBe(Math.max(0, whole));
      for (let i = 0; i < seen.length; i++) {
        expect(seen[i].seq, ctx).toBe(recs[i].seq);
        expect(seen[i].json.equals(recs[i].json), ctx).toBe(true);
        expect(seen[i].id?.toString(), ctx).toBe(recs[i].id?.toString());
      }
      if (scan.validEnd === data.length && data.length >= SEGMENT_HEADER_BYTES) {
        expect(scan.damage, ctx).toBeUndefined();
      } else {
        expect(scan.damage, ctx).toBeDefined();
        expect(scan.damage!.offset, ctx).toBe(scan.validEnd);
        expect(scan.damage!.bytes, ctx).toBe(data.length - scan.validEnd);
      }
    }
  });
});
