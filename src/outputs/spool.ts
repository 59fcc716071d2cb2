// The spool: alerts for network outputs, on disk before anyone is told they are safe.
//
// With outputs.spool_dir set and a network output configured (http), every released
// alert is appended to the spool, and a webhook request is acknowledged (a followed
// file checkpointed) only once its alerts are durable there. The network outputs send
// from the spool, not from memory, so alerts acknowledged while a receiver is down
// survive a crash, an OOM kill or a restart, and are sent first at the next start.
//
// Files in the directory:
//   seg-<16 digits>.spool   segments, append-only (spool-record.ts has the format)
//   <output>.cursor         where each output is: the segment, offset and seq of the
//                           next record it has not delivered (saved every second)
//   lock                    pid and host of the process using the directory
//
// Writing: group commit. append() copies the record into a buffer (no I/O, no promise,
// nothing allocated but the bytes); one loop writes what accumulated (the segment is
// open O_DSYNC: the write returns once it is durable, as write + fdatasync would), then
// resolves every whenDurable() whose alerts that covered. While one write and
// fsync run, the alerts of every request that finishes meanwhile accumulate for the
// next: one fsync per few milliseconds, whatever the request rate. A failed write is
// truncated away and retried (the spool says it is full meanwhile, so new requests get
// 429); nothing appended is dropped.
//
// Segments: the one being written grows to segment_bytes, then it is sealed and a new
// one started (created, its header fsynced, the directory fsynced). Each start of the
// server seals what the last run left and starts a new segment, after checking the
// last one's records: a half-written record at its end (a crash mid-write) is cut off,
// and that is reported (log line: segment, offset, bytes cut, why) and counted.
// A sealed segment is deleted once every output's cursor is past it.
//
// Bound: the segments' bytes (plus what waits in the buffer) against max_bytes. At or
// over it the spool is full: Outputs.underPressure, so the webhook answers 429 and
// followed files pause. Requests already being evaluated still spool their alerts, so
// the bound can be passed by at most their alerts, as with outputs.buffer_bytes.
import { constants, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, readdir, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, PeregrineError } from '../errors.js';
import type { QueuedAlert } from './target.js';
import {
  REC_BAD, REC_OK, SEGMENT_HEADER_BYTES, decodeRecord, decodeSegmentHeader, encodeRecord, encodeSegmentHeader, newSlot, readFully,
  recordBytes, scanSegment, type RecordSlot,
} from './spool-record.js';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** The network outputs that send from it (each keeps a cursor). */
  outputs: string[];
  log: (msg: string) => void;
  /** Default: max_bytes / 8, from 64 KiB to 64 MiB. */
  segmentBytes?: number;
  /** How often cursors are saved (ms). */
  cursorSaveMs?: number;
}

/** Counters and gauges of the spool (metrics/spool-metrics.ts). */
export interface SpoolStats {
  bytes: number;
  maxBytes: number;
  segments: number;
  /** Alerts appended and committed (durable) since the start. */
  appended: number;
  committed: number;
  /** Group commits (one durable write each). */
  commits: number;
  /** Failed writes (each retried). */
  writeErrors: number;
  /** Damaged records found (at start, or by a reader): each reported on stderr. */
  damaged: number;
  /** Bytes cut or skipped because of damage. */
  damagedBytes: number;
  full: boolean;
}

interface Segment {
  id: number;
  path: string;
  /** Bytes that are there and whole: the header and committed records. */
  size: number;
  sealed: boolean;
  firstSeq: number;
}

interface Waiter {
  count: number;
  resolve: () => void;
}

const SEGMENT_RE = /^seg-(\d{16})\.spool$/;
const CURSOR_SUFFIX = '.cursor';
const READ_BATCH_BYTES = 1024 * 1024;
const READ_BATCH_ITEMS = 512;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

function segmentName(id: number): string {
  return `seg-${String(id).padStart(16, '0')}.spool`;
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
}

export function defaultSegmentBytes(maxBytes: number): number {
  return Math.max(64 * 1024, Math.min(64 * 1024 * 1024, Math.floor(maxBytes / 8)));
}

/**
 * A network output's place in the spool: it reads batches of whole records after it,
 * and moves on (ack) once a batch is delivered.
 */
export class SpoolCursor {
  segId: number;
  offset: number;
  /** Seq of the next record. */
  seq: number;
  /** Where the batch being delivered ends (ack moves there). */
  private pending: { segId: number; offset: number; seq: number } | undefined;
  private fh: FileHandle | undefined;
  private fhSeg = -1;
  /** The position last saved to its cursor file. */
  savedKey = '';
  private readonly slot: RecordSlot = newSlot();

  constructor(readonly name: string, private readonly spool: Spool, segId: number, offset: number, seq: number) {
    this.segId = segId;
    this.offset = offset;
    this.seq = seq;
  }

  get key(): string {
    return `${this.segId}:${this.offset}:${this.seq}`;
  }

  /** Alerts after the cursor (committed or not). */
  get behind(): number {
    return Math.max(0, this.spool.nextSeq - this.seq);
  }

  /**
   * The next batch of alerts after the cursor, once there is one (waits for commits);
   * undefined when `stop` fires. Damage found on the way is reported and skipped.
   */
  async next(stop: AbortSignal): Promise<QueuedAlert[] | undefined> {
    for (;;) {
      if (stop.aborted) return undefined;
      const seg = this.spool.segmentAtOrAfter(this.segId);
      if (seg === undefined) {
        // Everything this cursor stood on was freed (cannot happen while it is behind).
        this.segId = this.spool.activeId;
        this.offset = SEGMENT_HEADER_BYTES;
        continue;
      }
      if (seg.id !== this.segId) {
        this.moveTo(seg);
        continue;
      }
      if (this.offset >= seg.size) {
        if (seg.sealed) {
          const after = this.spool.segmentAtOrAfter(seg.id + 1);
          if (after !== undefined) {
            this.moveTo(after);
            this.spool.release();
            continue;
          }
        }
        if (!(await this.spool.waitForData(this, stop))) return undefined;
        continue;
      }
      const batch = await this.read(seg);
      if (batch !== undefined) return batch;
    }
  }

  private moveTo(seg: Segment): void {
    this.segId = seg.id;
    this.offset = SEGMENT_HEADER_BYTES;
    if (this.seq !== seg.firstSeq) {
      if (seg.firstSeq > this.seq) this.spool.lost(this.name, seg, seg.firstSeq - this.seq);
      this.seq = seg.firstSeq;
    }
  }

  /** Reads whole records from the cursor to at most READ_BATCH_BYTES; undefined after skipping damage. */
  private async read(seg: Segment): Promise<QueuedAlert[] | undefined> {
    if (this.fhSeg !== seg.id) {
      await this.fh?.close().catch(() => undefined);
      this.fh = undefined;
      this.fhSeg = -1;
      try {
        this.fh = await open(seg.path, 'r');
        this.fhSeg = seg.id;
      } catch (e) {
        this.spool.damage(seg, this.offset, `cannot open it (${errText(e)})`, seg.size - this.offset, this.name);
        this.spool.cut(seg, this.offset);
        return undefined;
      }
    }
    const fh = this.fh!;
    let want = Math.min(READ_BATCH_BYTES, seg.size - this.offset);
    for (;;) {
      const buf = Buffer.allocUnsafe(want);
      const got = await readFully((b, o, l, p) => fh.read(b, o, l, p).then((r) => r.bytesRead), buf, 0, want, this.offset);
      const batch: QueuedAlert[] = [];
      let at = 0;
      let seq = this.seq;
      const slot = this.slot;
      while (batch.length < READ_BATCH_ITEMS) {
        const st = decodeRecord(buf, at, got, slot);
        if (st !== REC_OK) {
          if (st === REC_BAD) return this.skip(seg, this.offset + at, slot.problem, batch, at, seq);
          break;
        }
        if (slot.seq !== seq) return this.skip(seg, this.offset + at, `record seq ${slot.seq} where ${seq} was due`, batch, at, seq);
        batch.push({
          json: buf.subarray(slot.jsonStart, slot.jsonEnd),
          eventTimeMs: slot.timeMs,
          id: slot.idEnd > slot.idStart ? buf.subarray(slot.idStart, slot.idEnd) : undefined,
        });
        seq++;
        at = slot.next;
      }
      if (batch.length > 0) {
        this.pending = { segId: seg.id, offset: this.offset + at, seq };
        return batch;
      }
      // Not even one record fits in what was read.
      if (got < want || this.offset + got >= seg.size) {
        return this.skip(seg, this.offset, slot.need === 0 ? 'record length cut short' : `record cut short (${got} of ${slot.need} bytes)`, batch, 0, seq);
      }
      want = Math.min(slot.need, seg.size - this.offset);
    }
  }

  /** Damage at `offset`: deliver what came before it, then go on after this segment. */
  private skip(seg: Segment, offset: number, reason: string, batch: QueuedAlert[], at: number, seq: number): QueuedAlert[] | undefined {
    this.spool.damage(seg, offset, reason, seg.size - offset, this.name);
    // Whatever follows in this segment cannot be trusted: the segment ends here for every reader.
    this.spool.cut(seg, offset);
    if (batch.length > 0) {
      this.pending = { segId: seg.id, offset: this.offset + at, seq };
      return batch;
    }
    return undefined;
  }

  /** The batch returned by next() was delivered (or refused for good): move past it. */
  ack(): void {
    const p = this.pending;
    if (p === undefined) return;
    this.pending = undefined;
    this.segId = p.segId;
    this.offset = p.offset;
    this.seq = p.seq;
  }

  /** Bytes from the cursor to the end of the spool. */
  bytesBehind(): number {
    return this.spool.bytesFrom(this.segId, this.offset);
  }

  async close(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    this.fhSeg = -1;
  }
}

export class Spool {
  private segments: Segment[] = [];
  private active!: Segment;
  private fh!: FileHandle;
  readonly cursors: SpoolCursor[] = [];
  /** Seq of the next record appended. */
  nextSeq = 0;
  /** Seq after the last durable record. */
  durableSeq = 0;
  readonly segmentBytes: number;
  /** Pending records, not yet written. */
  private wbuf = Buffer.allocUnsafe(256 * 1024);
  private wlen = 0;
  private committing = false;
  private commitScheduled = false;
  private readonly commitSoon = (): void => {
    this.commitScheduled = false;
    if (!this.committing) void this.commitLoop();
  };
  /** Alerts appended / made durable since the start (Outputs counts pushes the same way). */
  appended = 0;
  committed = 0;
  private waiters: Waiter[] = [];
  private dataWaiters: (() => void)[] = [];
  private diskBytes = 0;
  private writeError: string | undefined;
  private retryMs = RETRY_MIN_MS;
  private closed = false;
  private cursorTimer: NodeJS.Timeout | undefined;
  private savingCursors: Promise<void> | undefined;
  /** Called after every commit (Outputs wakes its delivery watermark). */
  onCommit: () => void = () => undefined;
  /** Called with each commit's duration in seconds (metrics). */
  onCommitTime: (seconds: number) => void = () => undefined;
  readonly counts = { commits: 0, writeErrors: 0, damaged: 0, damagedBytes: 0 };

  private constructor(private readonly o: SpoolOptions) {
    this.segmentBytes = o.segmentBytes ?? defaultSegmentBytes(o.maxBytes);
  }

  /**
   * Opens (creating) the directory, takes its lock, checks the last run's last segment,
   * places each output's cursor, and starts a new segment. Errors an operator must fix
   * (no permission, another process holds the directory) are PeregrineErrors (ERR_SPOOL).
   */
  static async open(o: SpoolOptions): Promise<Spool> {
    const s = new Spool(o);
    s.lock();
    try {
      await s.load();
    } catch (e) {
      s.unlock();
      if (e instanceof PeregrineError) throw e;
      throw new PeregrineError(ErrorCode.SPOOL, `outputs.spool_dir: cannot use ${o.dir}: ${errText(e)}`);
    }
    return s;
  }

  get dir(): string {
    return this.o.dir;
  }

  private lockPath(): string {
    return join(this.o.dir, 'lock');
  }

  private lock(): void {
    try {
      mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
      const st = statSync(this.o.dir);
      if (!st.isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new PeregrineError(ErrorCode.SPOOL, `outputs.spool_dir: cannot create the directory ${this.o.dir}: ${errText(e)}`);
    }
    const me = `${process.pid} ${hostname()}`;
    try {
      const [pid, host] = readFileSync(this.lockPath(), 'utf8').trim().split(' ');
      const n = Number(pid);
      // A lock of this host's live process other than us (a container restarts as pid 1 again).
      if (host === hostname() && Number.isInteger(n) && n > 0 && n !== process.pid && alive(n)) {
        throw new PeregrineError(ErrorCode.SPOOL, `outputs.spool_dir: ${this.o.dir} is in use by process ${n} on this host: `
          + 'each server needs its own spool directory');
      }
    } catch (e) {
      if (e instanceof PeregrineError) throw e;
      // No lock (or an unreadable one): take it.
    }
    try {
      const tmp = `${this.lockPath()}.tmp`;
      writeFileSync(tmp, me + '\n', { mode: 0o600 });
      renameSync(tmp, this.lockPath());
    } catch (e) {
      throw new PeregrineError(ErrorCode.SPOOL, `outputs.spool_dir: cannot write in ${this.o.dir}: ${errText(e)} (the directory must be writable by this user)`);
    }
  }

  private unlock(): void {
    rmSync(this.lockPath(), { force: true });
  }

  private async load(): Promise<void> {
    const ids = (await readdir(this.o.dir)).map((f) => SEGMENT_RE.exec(f)).filter((m) => m !== null).map((m) => Number(m![1])).sort((a, b) => a - b);
    let nextSeq = 0;
    for (let i = 0; i < ids.length; i++) {
      const path = join(this.o.dir, segmentName(ids[i]));
      const size = statSync(path).size;
      if (i < ids.length - 1) {
        // Sealed by the run that wrote it (written and fsynced in full): its records are
        // checked as they are read.
        const h = await readHeader(path);
        if ('problem' in h) {
          this.reportDamage(path, 0, h.problem, size);
          await unlink(path).catch(() => undefined);
          continue;
        }
        this.segments.push({ id: ids[i], path, size, sealed: true, firstSeq: h.firstSeq });
        this.diskBytes += size;
        continue;
      }
      // The last segment: the one a crash could have left half-written.
      const fh = await open(path, 'r+');
      try {
        const scan = await scanSegment((b, o, l, p) => fh.read(b, o, l, p).then((r) => r.bytesRead), size);
        if (scan.damage) {
          this.reportDamage(path, scan.damage.offset, `${scan.damage.reason}; cut to the last whole record`, scan.damage.bytes);
          if (scan.validEnd >= SEGMENT_HEADER_BYTES) {
            await fh.truncate(scan.validEnd);
            await fh.datasync();
          }
        }
        if (scan.validEnd < SEGMENT_HEADER_BYTES) {
          await fh.close();
          await unlink(path);
          continue;
        }
        this.segments.push({ id: ids[i], path, size: scan.validEnd, sealed: true, firstSeq: scan.firstSeq });
        this.diskBytes += scan.validEnd;
        nextSeq = scan.lastSeq + 1;
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
    // Seqs go on from the last record there is (a header says where its segment started).
    for (const seg of this.segments) nextSeq = Math.max(nextSeq, seg.firstSeq);
    this.nextSeq = nextSeq;
    this.durableSeq = nextSeq;
    const lastId = ids.length > 0 ? ids[ids.length - 1] : 0;
    this.active = await this.createSegment(lastId + 1);
    this.segments.push(this.active);
    for (const name of this.o.outputs) this.cursors.push(this.loadCursor(name));
    this.release();
    this.cursorTimer = setInterval(() => void this.saveCursors(), this.o.cursorSaveMs ?? 1000);
    this.cursorTimer.unref();
  }

  private async createSegment(id: number): Promise<Segment> {
    const path = join(this.o.dir, segmentName(id));
    // O_DSYNC: each write returns once its bytes are durable, one system call (and one
    // trip through the thread pool) per commit instead of a write and an fdatasync.
    const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC, 0o600);
    try {
      // Its first record is the first one not yet durable (rotation follows a commit).
      const h = encodeSegmentHeader(this.durableSeq);
      await fh.write(h, 0, h.length, 0);
      await syncDir(this.o.dir);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw e;
    }
    if (this.fh !== undefined) await this.fh.close().catch(() => undefined);
    this.fh = fh;
    this.diskBytes += SEGMENT_HEADER_BYTES;
    return { id, path, size: SEGMENT_HEADER_BYTES, sealed: false, firstSeq: this.durableSeq };
  }

  private cursorPath(name: string): string {
    return join(this.o.dir, name + CURSOR_SUFFIX);
  }

  /** The output's saved position, or the oldest record (a repeat is better than a loss). */
  private loadCursor(name: string): SpoolCursor {
    const oldest = this.segments[0];
    let text: string | undefined;
    try {
      text = readFileSync(this.cursorPath(name), 'utf8');
    } catch {
      // None yet: from the oldest record.
    }
    if (text !== undefined) {
      const c = parseCursor(text);
      if (c === undefined) {
        this.o.log(`spool ${this.o.dir}: ${name}${CURSOR_SUFFIX} is damaged; ${name} starts again from the oldest spooled alert (those it had delivered are sent again, with the same uuid)`);
      } else {
        const seg = this.segments.find((s) => s.id === c.segment);
        if (seg !== undefined && c.offset >= SEGMENT_HEADER_BYTES) {
          const cur = new SpoolCursor(name, this, seg.id, Math.min(c.offset, seg.size), c.seq);
          cur.savedKey = cur.key;
          return cur;
        }
        // Its segment was deleted (every output was past it): from the first one after it.
        const after = this.segments.find((s) => s.id > c.segment) ?? this.active;
        return new SpoolCursor(name, this, after.id, SEGMENT_HEADER_BYTES, after.firstSeq);
      }
    }
    return new SpoolCursor(name, this, oldest.id, SEGMENT_HEADER_BYTES, oldest.firstSeq);
  }

  /** Writes the cursors that moved (atomically: a temporary file renamed over). */
  saveCursors(): Promise<void> {
    this.savingCursors ??= (async () => {
      for (const c of this.cursors) {
        const key = c.key;
        if (key === c.savedKey) continue;
        const path = this.cursorPath(c.name);
        try {
          await writeFile(`${path}.tmp`, formatCursor(c.segId, c.offset, c.seq), { mode: 0o600 });
          await rename(`${path}.tmp`, path);
          c.savedKey = key;
        } catch (e) {
          // Not fatal: an old cursor means repeats (same uuid), not losses.
          this.o.log(`spool ${this.o.dir}: cannot save ${c.name}${CURSOR_SUFFIX}: ${errText(e)}`);
        }
      }
    })().finally(() => { this.savingCursors = undefined; });
    return this.savingCursors;
  }

  // ---- writing

  /** Appends an alert; it is durable once a whenDurable() asked after this resolves. */
  append(a: QueuedAlert): void {
    const need = recordBytes(a.id === undefined ? 0 : a.id.length, a.json.length);
    if (this.wlen + need > this.wbuf.length) {
      let cap = this.wbuf.length * 2;
      while (cap < this.wlen + need) cap *= 2;
      const bigger = Buffer.allocUnsafe(cap);
      // A write in flight keeps the old buffer; its bytes are here at the same offsets.
      this.wbuf.copy(bigger, 0, 0, this.wlen);
      this.wbuf = bigger;
    }
    this.wlen = encodeRecord(this.wbuf, this.wlen, this.nextSeq++, a.eventTimeMs, a.id, a.json);
    this.appended++;
    if (!this.committing && !this.commitScheduled) {
      // After this turn: the alerts released with this one go in the same write.
      this.commitScheduled = true;
      setImmediate(this.commitSoon);
    }
  }

  /** Resolves once every alert appended before the call is durable. */
  whenDurable(): Promise<void> {
    if (this.committed >= this.appended) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count: this.appended, resolve }));
  }

  private async commitLoop(): Promise<void> {
    this.committing = true;
    try {
      while (this.wlen > 0) {
        const n = this.wlen;
        const upTo = this.appended;
        const seqUpTo = this.nextSeq;
        const t0 = performance.now();
        try {
          let done = 0;
          while (done < n) {
            const { bytesWritten } = await this.fh.write(this.wbuf, done, n - done, this.active.size + done);
            if (bytesWritten <= 0) throw new Error('write wrote nothing');
            done += bytesWritten;
          }
        } catch (e) {
          await this.writeFailed(e);
          continue;
        }
        this.onCommitTime((performance.now() - t0) / 1000);
        this.counts.commits++;
        if (this.writeError !== undefined) {
          this.o.log(`spool ${this.o.dir}: writing again`);
          this.writeError = undefined;
          this.retryMs = RETRY_MIN_MS;
        }
        this.wbuf.copyWithin(0, n, this.wlen);
        this.wlen -= n;
        this.active.size += n;
        this.diskBytes += n;
        this.committed = upTo;
        this.durableSeq = seqUpTo;
        this.wake();
        if (this.active.size >= this.segmentBytes) await this.rotate();
      }
      // A burst grew the buffer: give the memory back.
      if (this.wbuf.length > 4 * 1024 * 1024) this.wbuf = Buffer.allocUnsafe(256 * 1024);
    } finally {
      this.committing = false;
    }
  }

  private async writeFailed(e: unknown): Promise<void> {
    const msg = `cannot write ${this.active.path}: ${errText(e)}`;
    this.counts.writeErrors++;
    if (msg !== this.writeError) this.o.log(`spool ${this.o.dir}: ${msg}; new requests get 429 until it works again (retrying, nothing appended is dropped)`);
    this.writeError = msg;
    // A partial write must not stay in front of the retry.
    await this.fh.truncate(this.active.size).catch(() => undefined);
    await new Promise((r) => setTimeout(r, this.retryMs));
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  private async rotate(): Promise<void> {
    const old = this.active;
    try {
      const seg = await this.createSegment(old.id + 1);
      old.sealed = true;
      this.active = seg;
      this.segments.push(seg);
    } catch (e) {
      // Keep writing to the old one (it grows past segment_bytes); try again after the next commit.
      this.o.log(`spool ${this.o.dir}: cannot start a new segment: ${errText(e)}`);
      return;
    }
    this.wakeReaders();
  }

  private wake(): void {
    const done = this.committed;
    let i = 0;
    while (i < this.waiters.length && this.waiters[i].count <= done) this.waiters[i++].resolve();
    if (i > 0) this.waiters = this.waiters.slice(i);
    this.wakeReaders();
    this.onCommit();
  }

  private wakeReaders(): void {
    if (this.dataWaiters.length === 0) return;
    const w = this.dataWaiters;
    this.dataWaiters = [];
    for (const f of w) f();
  }

  /** For a cursor at the end of what is committed: resolves true on the next commit, false on stop. */
  waitForData(_c: SpoolCursor, stop: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (stop.aborted) return resolve(false);
      const onAbort = (): void => resolve(false);
      stop.addEventListener('abort', onAbort, { once: true });
      this.dataWaiters.push(() => {
        stop.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  // ---- segments

  get activeId(): number {
    return this.active.id;
  }

  /** The first segment whose id is ≥ id. */
  segmentAtOrAfter(id: number): Segment | undefined {
    for (const s of this.segments) if (s.id >= id) return s;
    return undefined;
  }

  bytesFrom(segId: number, offset: number): number {
    let n = this.wlen;
    for (const s of this.segments) {
      if (s.id > segId) n += s.size;
      else if (s.id === segId) n += Math.max(0, s.size - offset);
    }
    return n;
  }

  /** Deletes the sealed segments every cursor is past. */
  release(): void {
    if (this.cursors.length === 0) return;
    let min = Infinity;
    for (const c of this.cursors) min = Math.min(min, c.segId);
    while (this.segments.length > 1 && this.segments[0].sealed && this.segments[0].id < min) {
      const s = this.segments.shift()!;
      this.diskBytes -= s.size;
      unlink(s.path).catch((e: unknown) => this.o.log(`spool ${this.o.dir}: cannot delete ${s.path}: ${errText(e)}`));
    }
  }

  /** Damage found by a reader: reported and counted. */
  damage(seg: Segment, offset: number, reason: string, bytes: number, reader: string): void {
    this.reportDamage(seg.path, offset, `${reason}; ${reader} skips to the next segment`, bytes);
  }

  /** The segment ends at `offset` from now on (damage after it). */
  cut(seg: Segment, offset: number): void {
    if (offset >= seg.size) return;
    this.diskBytes -= seg.size - offset;
    seg.size = offset;
  }

  /** A reader found a gap in seqs between segments (alerts lost with a damaged segment). */
  lost(reader: string, seg: Segment, n: number): void {
    this.o.log(`spool ${this.o.dir}: ${n} alerts for ${reader} before ${seg.path} are missing (lost with damaged or deleted segments)`);
  }

  private reportDamage(path: string, offset: number, reason: string, bytes: number): void {
    this.counts.damaged++;
    this.counts.damagedBytes += bytes;
    this.o.log(`spool: damaged segment ${path} at offset ${offset}: ${reason} (${bytes} bytes cut)`);
  }

  // ---- state

  get bytes(): number {
    return this.diskBytes + this.wlen;
  }

  /** At or over max_bytes, or unable to write: new work should be refused. */
  get full(): boolean {
    return this.diskBytes + this.wlen >= this.o.maxBytes || this.writeError !== undefined;
  }

  readiness(): string[] {
    const r: string[] = [];
    if (this.writeError !== undefined) r.push(`spool: ${this.writeError}; new requests get 429`);
    else if (this.full) r.push(`spool ${this.o.dir} is full (${this.bytes} of ${this.o.maxBytes} bytes, outputs.spool_max_bytes): new requests get 429 until the network outputs deliver`);
    return r;
  }

  stats(): SpoolStats {
    return {
      bytes: this.bytes, maxBytes: this.o.maxBytes, segments: this.segments.length, appended: this.appended, committed: this.committed,
      commits: this.counts.commits, writeErrors: this.counts.writeErrors, damaged: this.counts.damaged, damagedBytes: this.counts.damagedBytes, full: this.full,
    };
  }

  /** Resolves once everything appended so far is durable. */
  async flush(): Promise<void> {
    await this.whenDurable();
  }

  /** Commits what is pending, saves the cursors, closes the files and drops the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.cursorTimer);
    if (this.writeError === undefined) await this.flush();
    else if (this.appended > this.committed) this.o.log(`spool ${this.o.dir}: ${this.appended - this.committed} alerts could not be written (${this.writeError})`);
    this.wakeReaders();
    for (const c of this.cursors) await c.close();
    while (this.savingCursors) await this.savingCursors;
    await this.saveCursors();
    await this.fh.close().catch(() => undefined);
    this.unlock();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHeader(path: string): Promise<{ firstSeq: number } | { problem: string }> {
  const fh = await open(path, 'r');
  try {
    const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const n = await readFully((b, o, l, p) => fh.read(b, o, l, p).then((r) => r.bytesRead), h, 0, h.length, 0);
    return decodeSegmentHeader(h.subarray(0, n));
  } finally {
    await fh.close();
  }
}

/** Makes a new file's directory entry durable. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** `{"segment":N,"offset":N,"seq":N,"check":N}`: check is the sum, so a torn file is not taken for a position. */
export function formatCursor(segment: number, offset: number, seq: number): string {
  return JSON.stringify({ segment, offset, seq, check: segment + offset + seq }) + '\n';
}

export function parseCursor(text: string): { segment: number; offset: number; seq: number } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const { segment, offset, seq, check } = v as Record<string, unknown>;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!ok(segment) || !ok(offset) || !ok(seq) || check !== segment + offset + seq) return undefined;
  return { segment, offset, seq };
}
