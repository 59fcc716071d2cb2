// The spool's file format (outputs/spool.ts): segment files of checksummed records.
//
// Segment: a 24-byte header, `PGSPOOL1`, the seq of its first record (f64 LE), the
// CRC-32 of those 16 bytes (u32 LE) and 4 zero bytes; then records back to back. Record (little-endian):
//
//   u32 body length · u32 CRC-32 of the body · body:
//     f64 seq · f64 event time (ms since the epoch) · u16 id length · u16 0 ·
//     the id (the alert's stable id, outputs/alert-id.ts) · the Falco JSON alert
//
// A record is whole when its length is plausible, all its bytes are there and its
// checksum matches. A crash can leave the last record of the segment being written cut
// short (or, on some filesystems, followed by zeros): readers stop at the last whole
// record and report what follows (what, where, how many bytes). Nothing here throws on
// bad bytes: every function returns what it found.
import { crc32 } from 'node:zlib';

export const SEGMENT_MAGIC = Buffer.from('PGSPOOL1', 'latin1');
export const SEGMENT_HEADER_BYTES = 24;
/** Length and checksum, before the body. */
export const RECORD_PREFIX_BYTES = 8;
/** seq, time, id length, reserved. */
export const BODY_HEADER_BYTES = 20;
/** No alert comes near this (events are at most limits.max_event_bytes); longer is damage. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
const MIN_BODY_BYTES = BODY_HEADER_BYTES + 1;

/** decodeRecord: a whole record, decoded into the slot. */
export const REC_OK = 0;
/** decodeRecord: the bytes end before the record does (`need` says how many it takes). */
export const REC_SHORT = 1;
/** decodeRecord: not a record (impossible length, bad checksum, bad id length). */
export const REC_BAD = 2;

/** One decoded record: offsets into the buffer it was decoded from. */
export interface RecordSlot {
  seq: number;
  timeMs: number;
  idStart: number;
  idEnd: number;
  jsonStart: number;
  jsonEnd: number;
  /** Offset just after the record. */
  next: number;
  /** REC_SHORT: bytes from the record's start needed to decode it (0 when even its length is missing). */
  need: number;
  /** REC_BAD: why. */
  problem: string;
}

export function newSlot(): RecordSlot {
  return { seq: 0, timeMs: 0, idStart: 0, idEnd: 0, jsonStart: 0, jsonEnd: 0, next: 0, need: 0, problem: '' };
}

/** Bytes a record of this id and alert takes. */
export function recordBytes(idLen: number, jsonLen: number): number {
  return RECORD_PREFIX_BYTES + BODY_HEADER_BYTES + idLen + jsonLen;
}

/** Writes a record at `buf[at]` (room for recordBytes must be there); returns its end. */
export function encodeRecord(buf: Buffer, at: number, seq: number, timeMs: number, id: Buffer | undefined, json: Buffer): number {
  const idLen = id === undefined ? 0 : id.length;
  const body = at + RECORD_PREFIX_BYTES;
  const bodyLen = BODY_HEADER_BYTES + idLen + json.length;
  buf.writeDoubleLE(seq, body);
  buf.writeDoubleLE(timeMs, body + 8);
  buf.writeUInt16LE(idLen, body + 16);
  buf.writeUInt16LE(0, body + 18);
  let p = body + BODY_HEADER_BYTES;
  if (id !== undefined) p += id.copy(buf, p);
  p += json.copy(buf, p);
  buf.writeUInt32LE(bodyLen, at);
  buf.writeUInt32LE(crc32(buf.subarray(body, p)), at + 4);
  return p;
}

/** Decodes the record at `buf[at]`, looking no further than `end`. */
export function decodeRecord(buf: Buffer, at: number, end: number, out: RecordSlot): number {
  if (end - at < RECORD_PREFIX_BYTES) {
    out.need = 0;
    return REC_SHORT;
  }
  const bodyLen = buf.readUInt32LE(at);
  if (bodyLen < MIN_BODY_BYTES || bodyLen > MAX_BODY_BYTES) {
    out.problem = `impossible record length ${bodyLen}`;
    return REC_BAD;
  }
  const body = at + RECORD_PREFIX_BYTES;
  if (end - body < bodyLen) {
    out.need = RECORD_PREFIX_BYTES + bodyLen;
    return REC_SHORT;
  }
  const stop = body + bodyLen;
  if (crc32(buf.subarray(body, stop)) !== buf.readUInt32LE(at + 4)) {
    out.problem = 'checksum mismatch';
    return REC_BAD;
  }
  const idLen = buf.readUInt16LE(body + 16);
  if (BODY_HEADER_BYTES + idLen >= bodyLen) {
    out.problem = `id length ${idLen} in a body of ${bodyLen} bytes`;
    return REC_BAD;
  }
  out.seq = buf.readDoubleLE(body);
  out.timeMs = buf.readDoubleLE(body + 8);
  out.idStart = body + BODY_HEADER_BYTES;
  out.idEnd = out.idStart + idLen;
  out.jsonStart = out.idEnd;
  out.jsonEnd = stop;
  out.next = stop;
  return REC_OK;
}

export function encodeSegmentHeader(firstSeq: number): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(h, 0);
  h.writeDoubleLE(firstSeq, 8);
  h.writeUInt32LE(crc32(h.subarray(0, 16)), 16);
  return h;
}

/** The first seq of a segment from its header, or a reason it is not one. */
export function decodeSegmentHeader(h: Buffer): { firstSeq: number } | { problem: string } {
  if (h.length < SEGMENT_HEADER_BYTES) return { problem: `header cut short (${h.length} of ${SEGMENT_HEADER_BYTES} bytes)` };
  if (!h.subarray(0, 8).equals(SEGMENT_MAGIC)) return { problem: 'not a spool segment (bad magic)' };
  if (crc32(h.subarray(0, 16)) !== h.readUInt32LE(16)) return { problem: 'header checksum mismatch' };
  if (h.readUInt32LE(20) !== 0) return { problem: 'header: reserved bytes are not zero' };
  const firstSeq = h.readDoubleLE(8);
  if (!Number.isSafeInteger(firstSeq) || firstSeq < 0) return { problem: `bad first seq ${firstSeq}` };
  return { firstSeq };
}

/** Reads up to `len` bytes at file offset `pos` into `buf[off]`; returns the count (0 at the end). */
export type ReadAt = (buf: Buffer, off: number, len: number, pos: number) => Promise<number>;

/** What scanning a segment found. */
export interface SegmentScan {
  /** Offset after the last whole record (the header's end when there is none); 0 when the header is bad. */
  validEnd: number;
  firstSeq: number;
  records: number;
  /** Seq of the last whole record, or firstSeq − 1. */
  lastSeq: number;
  /** What follows validEnd, when something does. */
  damage?: { offset: number; reason: string; bytes: number };
}

const SCAN_CHUNK = 1024 * 1024;

/**
 * Reads a segment of `size` bytes from its start and checks every record: header, lengths,
 * checksums, and that seqs follow one another. Stops at the first problem: everything
 * before is whole, everything from there on is reported as damage.
 */
export async function scanSegment(read: ReadAt, size: number, onRecord?: (buf: Buffer, r: RecordSlot) => void): Promise<SegmentScan> {
  const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
  const got = await readFully(read, head, 0, Math.min(size, SEGMENT_HEADER_BYTES), 0);
  const h = decodeSegmentHeader(head.subarray(0, got));
  if ('problem' in h) return { validEnd: 0, firstSeq: 0, records: 0, lastSeq: -1, damage: { offset: 0, reason: h.problem, bytes: size } };
  let buf = Buffer.allocUnsafe(0);
  let bufPos = SEGMENT_HEADER_BYTES; // file offset of buf[0]
  let len = 0; // valid bytes in buf
  let at = 0; // next record in buf
  let records = 0;
  let expect = h.firstSeq;
  const slot = newSlot();
  const damaged = (reason: string): SegmentScan => {
    const offset = bufPos + at;
    return { validEnd: offset, firstSeq: h.firstSeq, records, lastSeq: expect - 1, damage: { offset, reason, bytes: size - offset } };
  };
  for (;;) {
    const st = decodeRecord(buf, at, len, slot);
    if (st === REC_OK) {
      if (slot.seq !== expect) return damaged(`record seq ${slot.seq} where ${expect} was due`);
      onRecord?.(buf, slot);
      records++;
      expect++;
      at = slot.next;
      continue;
    }
    if (st === REC_BAD) return damaged(slot.problem);
    // Short: read more, or it is the end.
    const filePos = bufPos + len;
    if (filePos >= size) {
      if (at === len) return { validEnd: bufPos + at, firstSeq: h.firstSeq, records, lastSeq: expect - 1 };
      return damaged(slot.need === 0 ? `record length cut short (${len - at} bytes)` : `record cut short (${len - at} of ${slot.need} bytes)`);
    }
    // Keep the partial record, at the start of a buffer that can hold it.
    const keep = len - at;
    const want = Math.max(Math.min(SCAN_CHUNK, size - bufPos - at), slot.need);
    if (want > buf.length) {
      const bigger = Buffer.allocUnsafe(want);
      buf.copy(bigger, 0, at, len);
      buf = bigger;
    } else {
      buf.copyWithin(0, at, len);
    }
    bufPos += at;
    at = 0;
    len = keep;
    const n = await readFully(read, buf, len, Math.min(buf.length - len, size - filePos), filePos);
    if (n === 0) {
      // The file is shorter than it said (it shrank meanwhile): what is there is all there is.
      size = filePos;
      continue;
    }
    len += n;
  }
}

/** Reads until `len` bytes or the end of the file. */
export async function readFully(read: ReadAt, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  let got = 0;
  while (got < len) {
    const n = await read(buf, off + got, len - got, pos + got);
    if (n <= 0) break;
    got += n;
  }
  return got;
}
