// A Source that follows kube-apiserver's audit log file (--audit-log-path, JSON lines)
// live, across the apiserver's rotations and across restarts of Peregrine, without
// skipping a line and without evaluating one twice (but after a crash: see below).
//
// Reading. Chunks of the file are read into a few SharedArrayBuffers (the workers read
// them in place) and cut into lines there (line-chunker.ts); each chunk's complete
// lines go to BatchRunner in documents mode, with ka.cluster.name forced to the
// configured cluster; alerts are held per chunk and released to the outputs in file
// order. At most CHUNKS chunks are in flight, so memory does not depend on the file
// or the backlog; reading pauses while the outputs are over their bound or the pool's
// queue is full.
//
// Rotation (rotation.ts has lumberjack's layout). The follower keeps the file it
// reads open, so a rename does not disturb it. At the end of the live file it
// compares the path's device and inode with its own: when they differ (or the path is
// gone), the file was rotated, and since lumberjack closes a file before renaming it,
// what is in it now is all it will ever hold: the follower reads it to its end (a last
// line without newline included), then moves to the oldest backup rotated after it,
// then to the live file. A backup is opened by its plain name while that exists,
// else as .gz (lumberjack removes the plain file only once the .gz is complete); a
// checkpoint in a backup that has been compressed since resumes in the .gz at the same
// uncompressed offset. Opening the live file is checked against a new listing, so a
// rotation between the listing and the open is not missed. A file whose size drops
// below what was read was truncated in place (copytruncate by other tools): counted,
// reported, read again from 0.
//
// Checkpoints (checkpoint.ts). Every checkpoint_interval the position after the last
// chunk whose alerts were released is saved, once the outputs delivered everything
// pushed so far (Outputs.whenDelivered; a network output with outputs.spool_dir has
// "delivered" once they are durable in the spool) and file outputs were fsynced. So after a
// restart: SIGTERM saves the final position after delivery (no line skipped, no
// alert twice); after kill -9 only the lines after the last checkpoint are evaluated
// again. Without a checkpoint, start_at says where to start: `end` (after the last
// complete line of the live file, like tail -f; a file that does not exist yet is read
// from its first byte when it appears) or `beginning` (the backups oldest first, then
// the live file). The initial position is saved at once.
import { open, stat } from 'node:fs/promises';
import type { EventIssueReport } from '../pipeline/task.js';
import type { ReleasedAlert } from '../pipeline/batch.js';
import { ErrorCode, PeregrineError } from '../errors.js';
import { parseEventTimeBytes, type EventTime } from '../events/time.js';
import { CheckpointStore, FINGERPRINT_BYTES, fingerprint, type Checkpoint, type FileIdentity } from './checkpoint.js';
import { Chunk, LineChunker, type LineIssue } from './line-chunker.js';
import {
  GzReader, PlainReader, RotatedLog, gzFingerprint, gzHead, identify, plainFingerprint, type Backup, type ByteReader,
} from './rotation.js';
import type { Source, SourceDeps, SourceStats } from './source.js';

export interface FileSourceConfig {
  type: 'file';
  /** The live file's path (--audit-log-path), absolute. */
  path: string;
  /** ka.cluster.name of every event read, whatever the events say. */
  cluster: string;
  stateDir: string;
  startAt: 'end' | 'beginning';
  checkpointIntervalMs: number;
  /** How often the end of the live file is looked at again. */
  pollIntervalMs: number;
}

/**
 * Chunks in flight (evaluating, or waiting for earlier ones to be released). A chunk is
 * one task: the workers' parallelism comes from the chunks in flight, and a task per
 * MiB costs a quarter of the hand-offs of limits.task_bytes' 256 KiB (measured: about
 * 5 % less CPU per event).
 */
const CHUNKS = 6;
const MIN_CHUNK_BYTES = 1024 * 1024;
const ERROR_RETRY_MS = 2000;
const EVAL_RETRIES = 3;
const STAGE_KEY = Buffer.from('"stageTimestamp":"');

/** A file being read, or read before: what a position names. */
interface OpenFile {
  path: string;
  ident: FileIdentity;
  rotatedAtMs?: number;
  liveSinceMs?: number;
  gz: boolean;
  reader: ByteReader;
  /** No more bytes will come (a backup, or the live file after its rotation). */
  final: boolean;
  /** Last known size (compressed for a .gz). */
  size: number;
  closed: boolean;
}

interface Position {
  file: OpenFile;
  offset: number;
  line: number;
}

/** A chunk handed to evaluation (or a marker: a position reached without lines). */
interface Pending {
  chunk: Chunk | undefined;
  pos: Position;
  done: boolean;
  alerts: ReleasedAlert[];
  issues: EventIssueReport[];
  events: number;
  /** stageTimestamp of its last line, ms (0: unknown). */
  lastTimeMs: number;
  attempts: number;
  failure?: string;
}

/** Where to go after a finished file: the first backup rotated after `afterMs` (or at it, when inclusive). */
interface After {
  afterMs: number;
  inclusive: boolean;
}

const REASONS: Record<string, string> = {
  [ErrorCode.INPUT_JSON]: 'malformed',
  [ErrorCode.INPUT_NOT_AUDIT]: 'not_audit',
  [ErrorCode.INPUT_TIMESTAMP]: 'no_timestamp',
  [ErrorCode.INPUT_TOO_LARGE]: 'too_large',
};

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err instanceof PeregrineError) return err.describe();
  return err?.code && !String(err.message).startsWith(err.code) ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}

function sameFile(a: FileIdentity, dev: bigint, ino: bigint): boolean {
  return a.dev === dev && a.ino === ino;
}

export class FileSource implements Source {
  readonly name: string;
  private readonly log: RotatedLog;
  private readonly store: CheckpointStore;
  private readonly chunker: LineChunker;
  private readonly free: Chunk[] = [];
  private chunk: Chunk | undefined;
  private readonly lineIssues: LineIssue[] = [];
  private readonly pending: Pending[] = [];
  private cur: OpenFile | undefined;
  /** The file finished last, and where its successors start (computed once). */
  private finished: { file: OpenFile; end: Position } | undefined;
  private after: After | undefined;
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private committed: Position | undefined;
  private saved: { file: OpenFile; offset: number } | undefined;
  private dirtySinceMs: number | undefined;
  private saving: Promise<void> | undefined;
  private lastError: string | undefined;
  private checkpointError: string | undefined;
  private pausedForPressure = false;
  private caughtUp = false;
  private lastEventTimeMs = 0;
  private backlogBytes = 0;
  private readonly time: EventTime = { sec: 0, nsec: 0 };
  private readonly st = {
    bytesRead: 0, lines: 0, rotations: 0, truncations: 0, badLines: new Map<string, number>(),
  };

  constructor(private readonly cfg: FileSourceConfig, private readonly deps: SourceDeps) {
    this.name = cfg.path;
    this.log = new RotatedLog(cfg.path);
    this.store = new CheckpointStore(cfg.stateDir, cfg.path);
    this.chunker = new LineChunker(deps.maxEventBytes);
    const size = Math.max(MIN_CHUNK_BYTES, 4 * deps.maxEventBytes);
    for (let i = 0; i < CHUNKS; i++) this.free.push(new Chunk(new SharedArrayBuffer(size)));
  }

  /** Where checkpoints go (for messages and tests). */
  get checkpointPath(): string {
    return this.store.path;
  }

  async start(): Promise<void> {
    try {
      await this.store.prepare();
    } catch (e) {
      throw new PeregrineError(ErrorCode.CONFIG, `sources: state_dir ${this.cfg.stateDir}: cannot create it: ${errText(e)}`);
    }
    const cp = await this.store.load();
    this.timer = setInterval(() => void this.tick(), this.cfg.checkpointIntervalMs);
    this.timer.unref();
    // Where to start is decided before start() resolves: `start_at: end` is the end as
    // it was when the server said it was listening, not some time after.
    let located = false;
    try {
      await this.locateStart(cp);
      located = true;
    } catch (e) {
      if (e instanceof PeregrineError && e.code === ErrorCode.CHECKPOINT) throw e;
      // A fault (no permission yet, say): the loop retries it.
    }
    this.loopDone = this.run(cp, located).catch((e) => {
      this.lastError = `stopped: ${errText(e)}`;
      this.deps.log(`source ${this.name}: ${this.lastError}`);
    });
  }

  // ---- the reading loop

  private async run(cp: Checkpoint | undefined, located: boolean): Promise<void> {
    while (!located) {
      if (this.stopping) return;
      try {
        await this.locateStart(cp);
        located = true;
      } catch (e) {
        if (e instanceof PeregrineError && e.code === ErrorCode.CHECKPOINT) throw e;
        await this.fault(e);
      }
    }
    await this.saveNow();
    while (!this.stopping) {
      try {
        await this.step();
      } catch (e) {
        if (this.cur?.gz && /^Z_|unexpected end of file|gzip/i.test(`${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`)) {
          await this.unreadableGz(e);
        } else {
          await this.fault(e);
        }
      }
    }
  }

  private async step(): Promise<void> {
    if (this.cur === undefined) {
      if (!(await this.openNext())) {
        this.caughtUp = true;
        await this.sleep(this.cfg.pollIntervalMs);
      }
      return;
    }
    if (this.chunk === undefined) {
      if (!(await this.capacity())) return;
      this.chunk = this.free.pop()!;
      this.chunker.attach(this.chunk);
    }
    const f = this.cur;
    const before = this.chunker.line;
    const n = await f.reader.read(this.chunk.buf, this.chunker.readAt, this.chunker.readLen);
    this.recovered();
    if (n > 0) {
      this.caughtUp = false;
      this.st.bytesRead += n;
      this.deps.metrics.bytes.inc({ cluster: this.cfg.cluster }, n);
      this.chunker.consumed(n, this.lineIssues);
      this.st.lines += this.chunker.line - before;
      this.reportLineIssues(f);
      if (this.chunker.ready) this.submit();
      return;
    }
    if (f.final) {
      await this.finishFile();
      return;
    }
    const change = await this.checkLive(f);
    if (change === 'rotated') {
      f.final = true;
      this.st.rotations++;
      return;
    }
    if (change === 'truncated') {
      this.truncated(f);
      return;
    }
    // Caught up with the live file: give the chunk back unless it holds a partial line.
    this.caughtUp = true;
    if (this.chunker.pending === 0 && this.chunk !== undefined) {
      this.chunker.detach();
      this.free.push(this.chunk);
      this.chunk = undefined;
    }
    await this.sleep(this.cfg.pollIntervalMs);
  }

  /** A free chunk, the outputs under their bound, room in the pool's queue. False when stopping. */
  private async capacity(): Promise<boolean> {
    for (;;) {
      if (this.stopping) return false;
      const pressure = this.deps.outputs.underPressure;
      if (this.free.length > 0 && !pressure && this.deps.pool.pending < this.deps.maxQueuedTasks) {
        this.pausedForPressure = false;
        return true;
      }
      this.pausedForPressure = pressure;
      // Woken when a chunk is released; the outputs' pressure is looked at again every 50 ms.
      await this.sleep(pressure ? 50 : 1000);
    }
  }

  private submit(): void {
    const chunk = this.chunker.detach();
    this.chunk = undefined;
    const p: Pending = {
      chunk, pos: { file: this.cur!, offset: chunk.endOffset, line: chunk.endLine }, done: false, alerts: [], issues: [], events: 0,
      lastTimeMs: this.lastTime(chunk), attempts: 0,
    };
    this.pending.push(p);
    this.evaluate(p);
  }

  private evaluate(p: Pending): void {
    const chunk = p.chunk!;
    const frames = chunk.frames;
    p.attempts++;
    p.alerts.length = 0;
    const cluster = this.cfg.cluster;
    this.deps.runner.run(chunk.sab, frames.ranges, frames.count, cluster, cluster, (a) => { p.alerts.push(a); }, () => false, { documents: true, taskBytes: chunk.size }).then(
      (out) => {
        if (out.ok) {
          p.events = out.events;
          p.issues = out.issues;
          p.done = true;
        } else {
          p.failure = out.message;
        }
      },
      (e: unknown) => { p.failure = errText(e); },
    ).finally(() => {
      if (!p.done && p.failure !== undefined) {
        // A worker failed (it crashed, say): the chunk is intact, evaluate it again.
        if (p.attempts < EVAL_RETRIES) {
          const why = p.failure;
          p.failure = undefined;
          this.deps.log(`source ${this.name}: evaluation of lines ${frames.lines[0]}-${frames.lines[frames.count - 1]} failed (${why}); trying again`);
          setTimeout(() => this.evaluate(p), 100 * p.attempts).unref();
          return;
        }
        p.done = true;
      }
      this.release();
    });
  }

  /** Releases finished chunks in file order: alerts to the outputs, issues reported, position committed. */
  private release(): void {
    let released = false;
    while (this.pending.length > 0 && this.pending[0].done) {
      const p = this.pending.shift()!;
      const path = p.pos.file.path;
      if (p.chunk !== undefined) {
        const frames = p.chunk.frames;
        if (p.failure !== undefined) {
          const n = frames.count;
          this.bad('internal', n);
          this.deps.log(`${path}:${frames.lines[0]}: lines ${frames.lines[0]}-${frames.lines[n - 1]} (${n}) not evaluated: ${p.failure}`);
        }
        for (const a of p.alerts) this.deps.sink(a);
        if (p.events > 0) this.deps.metrics.events.inc({ cluster: this.cfg.cluster }, p.events);
        for (const is of p.issues) {
          this.bad(REASONS[is.code] ?? 'other');
          this.deps.metrics.eventIssues.inc({ cluster: this.cfg.cluster, reason: is.code });
          this.deps.log(`${path}:${frames.lines[is.item]}: ${is.message}`);
        }
        if (p.lastTimeMs > 0) this.lastEventTimeMs = p.lastTimeMs;
        this.free.push(p.chunk);
        p.chunk = undefined;
        released = true;
      }
      this.commit(p.pos);
    }
    if (released) this.wakeUp();
  }

  private commit(pos: Position): void {
    this.committed = pos;
    if (this.dirtySinceMs === undefined && !(this.saved && this.saved.file === pos.file && this.saved.offset === pos.offset)) this.dirtySinceMs = Date.now();
  }

  /** A position reached without lines to evaluate (a new file): committed in order. */
  private marker(pos: Position): void {
    this.pending.push({ chunk: undefined, pos, done: true, alerts: [], issues: [], events: 0, lastTimeMs: 0, attempts: 0 });
    this.release();
  }

  private bad(reason: string, n = 1): void {
    this.st.badLines.set(reason, (this.st.badLines.get(reason) ?? 0) + n);
  }

  private reportLineIssues(f: OpenFile): void {
    if (this.lineIssues.length === 0) return;
    for (const is of this.lineIssues) {
      this.bad('too_large');
      this.deps.metrics.eventIssues.inc({ cluster: this.cfg.cluster, reason: ErrorCode.INPUT_TOO_LARGE });
      this.deps.log(`${f.path}:${is.line}: ${is.message}`);
    }
    this.lineIssues.length = 0;
  }

  /** stageTimestamp of the chunk's last line (for the lag in seconds); 0 when not found. */
  private lastTime(chunk: Chunk): number {
    const fr = chunk.frames;
    if (fr.count === 0) return 0;
    const s = fr.ranges[2 * fr.count - 2];
    const e = fr.ranges[2 * fr.count - 1];
    const buf = chunk.buf;
    const at = buf.lastIndexOf(STAGE_KEY, e - STAGE_KEY.length);
    if (at < s) return 0;
    const v = at + STAGE_KEY.length;
    const q = buf.indexOf(0x22, v);
    if (q < 0 || q > e || !parseEventTimeBytes(buf, v, q, this.time)) return 0;
    return this.time.sec * 1000 + Math.floor(this.time.nsec / 1e6);
  }

  // ---- files

  private async finishFile(): Promise<void> {
    const f = this.cur!;
    if (this.chunker.pending > 0 && this.chunk === undefined) {
      if (!(await this.capacity())) return;
      this.chunk = this.free.pop()!;
      this.chunker.attach(this.chunk);
    }
    const before = this.chunker.line;
    this.chunker.endOfFile(this.lineIssues);
    this.st.lines += this.chunker.line - before;
    this.reportLineIssues(f);
    if (this.chunker.ready) this.submit();
    await this.closeFile(f);
    this.finished = { file: f, end: { file: f, offset: this.chunker.cutOffset, line: this.chunker.line } };
    this.after = undefined;
    this.cur = undefined;
  }

  private async closeFile(f: OpenFile): Promise<void> {
    if (f.closed) return;
    // Its fingerprint as long as it gets, while it can still be read (a checkpoint may name it).
    await this.refreshFingerprint(f);
    f.closed = true;
    await f.reader.close();
  }

  /** Where the files after the finished one start: after its rotation time, once it is known. */
  private async successorsAfter(): Promise<After> {
    if (this.after) return this.after;
    const f = this.finished!.file;
    if (f.rotatedAtMs !== undefined) return (this.after = { afterMs: f.rotatedAtMs, inclusive: false });
    // It was the live file: find the backup it became.
    const found = await this.findBackup(f.ident, (b) => b.rotatedAtMs >= (f.liveSinceMs ?? 0));
    this.after = found !== undefined ? { afterMs: found.b.rotatedAtMs, inclusive: false } : { afterMs: f.liveSinceMs ?? 0, inclusive: true };
    return this.after;
  }

  /**
   * The backup a file became: a plain backup with its device, inode and first bytes,
   * else — the plain file gone, compressed — the .gz whose first uncompressed bytes are
   * its. Names move while this looks (the .gz replaces the plain file), so a miss is
   * looked for again in a fresh listing.
   */
  private async findBackup(id: FileIdentity, candidate: (b: Backup) => boolean): Promise<{ b: Backup; gz: boolean } | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      for (const b of await this.listBackups()) {
        if (!candidate(b)) continue;
        if (b.plain !== undefined) {
          let fh;
          try {
            fh = await open(b.plain, 'r');
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
          if (fh !== undefined) {
            try {
              const s = await fh.stat({ bigint: true });
              // A plain backup that is another file: its .gz is that other file too.
              if (!sameFile(id, s.dev, s.ino)) continue;
              if (id.fpLen === 0 || (await plainFingerprint(fh, id.fpLen)) === id.fp) return { b, gz: false };
              continue;
            } finally {
              await fh.close();
            }
          }
        }
        // No plain file (any more): its .gz, when complete, has the same first bytes.
        const gz = b.gz ?? `${b.plain}.gz`;
        if (id.fpLen > 0 && (await gzFingerprint(gz, id.fpLen)) === id.fp) return { b: { rotatedAtMs: b.rotatedAtMs, gz }, gz: true };
      }
    }
    return undefined;
  }

  private async listBackups(): Promise<Backup[]> {
    try {
      return await this.log.backups();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  private firstAfter(backups: Backup[], after: After): Backup | undefined {
    return backups.find((b) => (after.inclusive ? b.rotatedAtMs >= after.afterMs : b.rotatedAtMs > after.afterMs));
  }

  private sumBacklog(backups: Backup[], from: number): void {
    let n = 0;
    for (const b of backups) if (b.rotatedAtMs > from) n += b.plainSize ?? b.gzSize ?? 0;
    this.backlogBytes = n;
  }

  /** Opens the next file to read; false when there is none yet. */
  private async openNext(): Promise<boolean> {
    const after = this.finished ? await this.successorsAfter() : this.after ?? { afterMs: -Infinity, inclusive: true };
    const backups = await this.listBackups();
    const b = this.firstAfter(backups, after);
    if (b) {
      await this.openBackup(b, 0, 1);
      return true;
    }
    const live = await this.openLive();
    if (live === undefined) return false;
    // Rotated between the listing and the open? Then the file meant is a backup now.
    const again = await this.listBackups();
    const b2 = this.firstAfter(again, after);
    if (b2) {
      await live.reader.close();
      await this.openBackup(b2, 0, 1);
      return true;
    }
    const prev = this.finished;
    if (prev && sameFile(prev.file.ident, live.ident.dev, live.ident.ino) && prev.file.ident.fp === live.ident.fp) {
      // The path pointed at the same file again (it was missing for a moment): go on where it ended.
      this.use(live, prev.end.offset, prev.end.line);
    } else {
      this.use(live, 0, 1);
    }
    this.backlogBytes = 0;
    return true;
  }

  private async openLive(): Promise<OpenFile | undefined> {
    // A time before the open: the file is live at least from then on.
    const since = Date.now();
    let reader: PlainReader;
    try {
      reader = await PlainReader.open(this.cfg.path, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const id = await identify(reader.fh);
      return { path: this.cfg.path, ident: id, liveSinceMs: since, gz: false, reader, final: false, size: id.size, closed: false };
    } catch (e) {
      await reader.close();
      throw e;
    }
  }

  private async openBackup(b: Backup, offset: number, line: number): Promise<void> {
    if (b.plain !== undefined) {
      try {
        const reader = await PlainReader.open(b.plain, offset);
        const id = await identify(reader.fh);
        this.use({ path: b.plain, ident: id, rotatedAtMs: b.rotatedAtMs, gz: false, reader, final: true, size: id.size, closed: false }, offset, line);
        this.sumBacklog(await this.listBackups(), b.rotatedAtMs);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        // Compressed (or removed) meanwhile: its .gz, if any, is complete now.
        const again = (await this.listBackups()).find((x) => x.rotatedAtMs === b.rotatedAtMs);
        if (again?.plain === undefined && again?.gz !== undefined) return this.openBackup(again, offset, line);
        this.deps.log(`source ${this.name}: ${b.plain} was removed before it was read (retention: --audit-log-maxbackup/--audit-log-maxage?); its lines are lost`);
        this.bad('file_removed');
        this.finished = { file: this.phantom(b), end: { file: this.phantom(b), offset: 0, line: 1 } };
        this.after = { afterMs: b.rotatedAtMs, inclusive: false };
        return;
      }
    }
    const gz = b.gz!;
    const s = await stat(gz, { bigint: true });
    const head = await gzHead(gz, FINGERPRINT_BYTES);
    const reader = await GzReader.open(gz, offset);
    const ident: FileIdentity = { dev: s.dev, ino: s.ino, fpLen: head.length, fp: fingerprint(head) };
    this.use({ path: gz, ident, rotatedAtMs: b.rotatedAtMs, gz: true, reader, final: true, size: Number(s.size), closed: false }, offset, line);
    this.sumBacklog(await this.listBackups(), b.rotatedAtMs);
  }

  /** A stand-in for a backup that vanished before it was opened (only its time matters). */
  private phantom(b: Backup): OpenFile {
    const reader: ByteReader = { position: 0, read: async () => 0, rewind: () => undefined, close: async () => undefined };
    return { path: b.plain ?? b.gz ?? '', ident: { dev: 0n, ino: 0n, fpLen: 0, fp: fingerprint(Buffer.alloc(0)) }, rotatedAtMs: b.rotatedAtMs, gz: false, reader, final: true, size: 0, closed: true };
  }

  private use(f: OpenFile, offset: number, line: number): void {
    this.deps.log(`source ${this.name}: reading ${f.path}${f.rotatedAtMs !== undefined ? ' (a backup)' : ''} from offset ${offset} (line ${line})`);
    this.cur = f;
    this.finished = undefined;
    this.after = undefined;
    this.chunker.reset(offset, line);
    this.marker({ file: f, offset, line });
  }

  private async checkLive(f: OpenFile): Promise<'rotated' | 'truncated' | 'same'> {
    let s;
    try {
      s = await stat(this.cfg.path, { bigint: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'rotated';
      throw e;
    }
    if (!sameFile(f.ident, s.dev, s.ino)) return 'rotated';
    f.size = Number(s.size);
    if (f.size < f.reader.position) return 'truncated';
    return 'same';
  }

  private truncated(f: OpenFile): void {
    this.st.truncations++;
    const held = this.chunker.pending;
    this.deps.log(`source ${this.name}: ${f.path} was truncated in place (now ${f.size} bytes, ${f.reader.position} had been read): reading it again from the start`);
    if (held > 0) {
      this.bad('truncated');
      this.deps.log(`${f.path}:${this.chunker.line}: incomplete line of ${held} bytes lost to the truncation`);
    }
    f.reader.rewind();
    f.ident.fpLen = 0;
    f.ident.fp = fingerprint(Buffer.alloc(0));
    this.chunker.reset(0, 1);
    this.marker({ file: f, offset: 0, line: 1 });
  }

  private async unreadableGz(e: unknown): Promise<void> {
    const f = this.cur!;
    this.bad('unreadable');
    this.deps.log(`source ${this.name}: ${f.path}: ${errText(e)}: the rest of this backup cannot be read and is skipped (from line ${this.chunker.line})`);
    this.chunker.reset(this.chunker.cutOffset, this.chunker.line);
    await this.closeFile(f);
    this.finished = { file: f, end: { file: f, offset: this.chunker.cutOffset, line: this.chunker.line } };
    this.after = undefined;
    this.cur = undefined;
  }

  // ---- where to start

  private async locateStart(cp: Checkpoint | undefined): Promise<void> {
    if (cp !== undefined) return this.resume(cp);
    if (this.cfg.startAt === 'beginning') {
      this.after = { afterMs: -Infinity, inclusive: true };
      return;
    }
    // end: after the last complete line of the live file.
    const since = Date.now();
    const live = await this.openLive();
    if (live === undefined) {
      // Read from its first byte when it appears (and any backup rotated from now on).
      this.after = { afterMs: since, inclusive: true };
      return;
    }
    const { offset, line } = await endOfLastLine(live.reader as PlainReader, live.size);
    this.use(live, offset, line);
    (live.reader as PlainReader).position = offset;
  }

  private async resume(cp: Checkpoint): Promise<void> {
    const where = `${cp.file.name} at offset ${cp.offset} (line ${cp.line})`;
    // The live file?
    const live = await this.openLive();
    if (live !== undefined) {
      if (sameFile(live.ident, cp.file.dev, cp.file.ino) && (await this.matches(live.reader as PlainReader, cp.file))) {
        live.liveSinceMs = Math.min(live.liveSinceMs!, cp.file.liveSinceMs ?? live.liveSinceMs!);
        if (live.size < cp.offset) {
          this.st.truncations++;
          this.deps.log(`source ${this.name}: ${this.cfg.path} is shorter (${live.size} bytes) than the checkpoint's offset ${cp.offset}: truncated while stopped; reading it from the start`);
          this.use(live, 0, 1);
        } else {
          (live.reader as PlainReader).position = cp.offset;
          this.use(live, cp.offset, cp.line);
        }
        this.deps.log(`source ${this.name}: resuming ${where}`);
        return;
      }
      await live.reader.close();
    }
    // A backup now: plain (same device, inode, first bytes), or compressed since.
    const found = await this.findBackup(cp.file, (b) => (cp.file.rotatedAtMs !== undefined ? b.rotatedAtMs === cp.file.rotatedAtMs : b.rotatedAtMs >= (cp.file.liveSinceMs ?? 0)));
    if (found !== undefined) {
      this.deps.log(`source ${this.name}: resuming ${where}, ${found.gz ? 'compressed' : 'rotated'} to ${found.gz ? found.b.gz : found.b.plain}`);
      return this.openBackup(found.b, cp.offset, cp.line);
    }
    // Gone (retention removed it while we were stopped): what was after it is lost.
    if (cp.offset > 0) {
      this.bad('file_removed');
      this.deps.log(`source ${this.name}: the checkpoint's file ${where} is gone (removed by retention while stopped?): the lines after that offset are lost; going on with the files rotated after it`);
    }
    this.after = cp.file.rotatedAtMs !== undefined ? { afterMs: cp.file.rotatedAtMs, inclusive: false } : { afterMs: cp.file.liveSinceMs ?? 0, inclusive: true };
  }

  private async matches(r: PlainReader, id: FileIdentity): Promise<boolean> {
    return id.fpLen === 0 || (await plainFingerprint(r.fh, id.fpLen)) === id.fp;
  }

  // ---- checkpoints

  /** A longer fingerprint once the file has more bytes (a live file opened when still short). */
  private async refreshFingerprint(f: OpenFile): Promise<void> {
    if (f.closed || f.gz || f.ident.fpLen >= FINGERPRINT_BYTES) return;
    const r = f.reader as PlainReader;
    // Bytes already read are there for good (a truncation resets the fingerprint).
    const len = Math.min(FINGERPRINT_BYTES, r.position);
    if (len <= f.ident.fpLen) return;
    const fp = await plainFingerprint(r.fh, len).catch(() => undefined);
    if (fp !== undefined) {
      f.ident.fpLen = len;
      f.ident.fp = fp;
    }
  }

  private checkpointOf(pos: Position): Checkpoint {
    const f = pos.file;
    const file: Checkpoint['file'] = { ...f.ident, name: f.path.slice(f.path.lastIndexOf('/') + 1) };
    if (f.rotatedAtMs !== undefined) file.rotatedAtMs = f.rotatedAtMs;
    else file.liveSinceMs = f.liveSinceMs ?? 0;
    return { source: this.cfg.path, file, offset: pos.offset, line: pos.line, savedAtMs: Date.now() };
  }

  /** Saves the committed position once its alerts are delivered (and file outputs fsynced). */
  private async save(): Promise<void> {
    const pos = this.committed;
    if (pos === undefined || (this.saved && this.saved.file === pos.file && this.saved.offset === pos.offset)) return;
    const dirtySince = this.dirtySinceMs;
    this.dirtySinceMs = undefined;
    try {
      await this.deps.outputs.whenDelivered();
      await this.deps.outputs.sync();
      if (pos.file === this.cur) await this.refreshFingerprint(pos.file);
      await this.store.save(this.checkpointOf(pos));
      this.saved = { file: pos.file, offset: pos.offset };
      if (this.checkpointError) this.deps.log(`source ${this.name}: checkpoints are written again`);
      this.checkpointError = undefined;
    } catch (e) {
      const msg = `cannot write the checkpoint ${this.store.path}: ${errText(e)}`;
      if (msg !== this.checkpointError) this.deps.log(`source ${this.name}: ${msg}; retrying`);
      this.checkpointError = msg;
      this.dirtySinceMs = dirtySince;
      return;
    }
    // Positions committed meanwhile are dirty since the one just saved was captured.
    if (this.committed !== pos && this.dirtySinceMs === undefined) this.dirtySinceMs = dirtySince ?? Date.now();
  }

  private tick(): Promise<void> {
    void this.refreshSize();
    if (this.saving) return this.saving;
    this.saving = this.save().finally(() => { this.saving = undefined; });
    return this.saving;
  }

  private async saveNow(): Promise<void> {
    while (this.saving) await this.saving;
    await this.tick();
  }

  // ---- lifecycle

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
    });
  }

  private wakeUp(): void {
    this.wake?.();
  }

  private async fault(e: unknown): Promise<void> {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES' || code === 'EPERM' ? ' (the apiserver writes its log mode 0600: run Peregrine as the file\'s owner, root on a kubeadm node)'
      : code === 'EISDIR' ? ' (the path must name the log file itself, as --audit-log-path does)'
        : code === 'ELOOP' || code === 'ENOTDIR' ? ' (a component of the path is not a directory)' : '';
    const msg = errText(e) + hint;
    if (msg !== this.lastError) this.deps.log(`source ${this.name}: ${msg}; retrying every ${ERROR_RETRY_MS / 1000} s`);
    this.lastError = msg;
    await this.sleep(ERROR_RETRY_MS);
  }

  private recovered(): void {
    if (this.lastError === undefined) return;
    this.deps.log(`source ${this.name}: reading again`);
    this.lastError = undefined;
  }

  async stop(deadlineMs: number): Promise<boolean> {
    const until = Date.now() + deadlineMs;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.wakeUp();
    const inTime = <T>(p: Promise<T>): Promise<boolean> => {
      let t: NodeJS.Timeout | undefined;
      return Promise.race([
        p.then(() => true),
        new Promise<boolean>((r) => { t = setTimeout(() => r(false), Math.max(0, until - Date.now())); }),
      ]).finally(() => clearTimeout(t));
    };
    let ok = await inTime(this.loopDone);
    // What was read is evaluated and released: wait for it.
    ok = ok && (await inTime(new Promise<void>((resolve) => {
      const check = (): void => { if (this.pending.length === 0) resolve(); else setTimeout(check, 10); };
      check();
    })));
    if (ok) ok = await inTime(this.saveNow());
    if (ok && this.committed && !(this.saved && this.saved.file === this.committed.file && this.saved.offset === this.committed.offset)) ok = false;
    if (!ok) this.deps.log(`source ${this.name}: stopped before its last position was delivered and saved: lines after the last checkpoint will be read again`);
    if (this.cur) await this.closeFile(this.cur);
    return ok;
  }

  readiness(): string[] {
    const r: string[] = [];
    if (this.lastError) r.push(`source ${this.name}: ${this.lastError}`);
    if (this.checkpointError) r.push(`source ${this.name}: ${this.checkpointError}`);
    return r;
  }

  stats(): SourceStats {
    const now = Date.now();
    const f = this.cur;
    let lag = this.backlogBytes;
    if (f !== undefined) lag += f.gz ? Math.max(0, f.size - (f.reader as GzReader).compressedPosition) : Math.max(0, f.size - this.chunker.cutOffset);
    const idle = this.caughtUp && this.pending.length === 0 && this.chunker.pending === 0 && (f === undefined || !f.final);
    return {
      source: this.name,
      type: 'file',
      cluster: this.cfg.cluster,
      bytesRead: this.st.bytesRead,
      lines: this.st.lines,
      badLines: this.st.badLines,
      rotations: this.st.rotations,
      truncations: this.st.truncations,
      lagBytes: lag,
      lagSeconds: idle || this.lastEventTimeMs === 0 ? 0 : Math.max(0, (now - this.lastEventTimeMs) / 1000),
      checkpointAgeSeconds: this.dirtySinceMs === undefined ? 0 : (now - this.dirtySinceMs) / 1000,
      up: this.lastError === undefined,
    };
  }

  /** The live file's size, for the lag while it is read without reaching its end. */
  async refreshSize(): Promise<void> {
    const f = this.cur;
    if (f === undefined || f.gz || f.closed) return;
    try {
      f.size = Number((await (f.reader as PlainReader).fh.stat()).size);
    } catch {
      // closed meanwhile
    }
  }

  /** For tests: the pressure pause is visible. */
  get paused(): boolean {
    return this.pausedForPressure;
  }
}

/** Offset just after the last newline of a file of `size` bytes, and the number of the line there. */
async function endOfLastLine(r: PlainReader, size: number): Promise<{ offset: number; line: number }> {
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let lines = 0;
  let lastNl = -1;
  for (let at = 0; at < size;) {
    const { bytesRead } = await r.fh.read(buf, 0, Math.min(buf.length, size - at), at);
    if (bytesRead === 0) break;
    let i = buf.indexOf(10, 0);
    while (i >= 0 && i < bytesRead) {
      lines++;
      lastNl = at + i;
      i = buf.indexOf(10, i + 1);
    }
    at += bytesRead;
  }
  return { offset: lastNl + 1, line: lines + 1 };
}
