// The files of one rotated log, as kube-apiserver's rotation (natefinch/lumberjack
// v2.2.1) lays them out, and readers that give their bytes in order whatever form a
// file is in by now.
//
// lumberjack, for `--audit-log-path=/dir/audit.log`: when a write would pass the size
// limit it closes audit.log, renames it to `audit-<UTC time>.log` (time formatted
// 2006-01-02T15-04-05.000) and creates a new audit.log (O_TRUNC, the old mode). It
// never copies and truncates, and it writes whole lines (the apiserver writes an event
// and its newline in one call), so a renamed file is complete and never changes
// again. Then, in a goroutine, with --audit-log-compress it gzips each plain backup
// to `<backup>.gz` (written in place, so a .gz is only complete once the plain file is
// gone: it removes the plain file last), and it deletes backups beyond
// --audit-log-maxbackup / --audit-log-maxage, oldest first. A backup's name never
// changes otherwise; the time in it orders the backups.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { basename, dirname, extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { FINGERPRINT_BYTES, fingerprint, type FileIdentity } from './checkpoint.js';

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})\.(\d{3})$/;

/** lumberjack's backup time format (UTC), for writers that imitate it (tests, benchmarks). */
export function formatBackupTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23).replace(/:/g, '-');
}

export interface Backup {
  /** The rotation time in the name, ms since the epoch. */
  rotatedAtMs: number;
  /** The plain file's path when it exists (preferred: a .gz beside it may be half written). */
  plain?: string;
  plainSize?: number;
  /** The .gz path when it exists. */
  gz?: string;
  gzSize?: number;
}

export class RotatedLog {
  readonly dir: string;
  private readonly prefix: string;
  private readonly ext: string;

  constructor(readonly path: string) {
    this.dir = dirname(path);
    const name = basename(path);
    this.ext = extname(name);
    this.prefix = name.slice(0, name.length - this.ext.length) + '-';
  }

  get name(): string {
    return basename(this.path);
  }

  backupPath(rotatedAtMs: number): string {
    return join(this.dir, `${this.prefix}${formatBackupTime(rotatedAtMs)}${this.ext}`);
  }

  /** The rotation time of a backup's file name (plain or .gz), or undefined. */
  parseBackupName(name: string): { rotatedAtMs: number; gz: boolean } | undefined {
    const gz = name.endsWith('.gz');
    const core = gz ? name.slice(0, -3) : name;
    if (!core.startsWith(this.prefix) || !core.endsWith(this.ext)) return undefined;
    const m = TIME_RE.exec(core.slice(this.prefix.length, core.length - this.ext.length));
    if (!m) return undefined;
    const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]);
    // Date.UTC rolls invalid fields over; lumberjack never writes those.
    if (formatBackupTime(ms) !== core.slice(this.prefix.length, core.length - this.ext.length)) return undefined;
    return { rotatedAtMs: ms, gz };
  }

  /** Backups, oldest first (a plain file and its .gz are one backup). */
  async backups(): Promise<Backup[]> {
    const names = await readdir(this.dir);
    const byTime = new Map<number, Backup>();
    for (const n of names) {
      const b = this.parseBackupName(n);
      if (!b) continue;
      let e = byTime.get(b.rotatedAtMs);
      if (!e) byTime.set(b.rotatedAtMs, (e = { rotatedAtMs: b.rotatedAtMs }));
      const p = join(this.dir, n);
      try {
        const size = (await stat(p)).size;
        if (b.gz) { e.gz = p; e.gzSize = size; } else { e.plain = p; e.plainSize = size; }
      } catch {
        // Gone since the listing: compressed (its .gz, created after the listing, is
        // complete now), or removed by retention.
        if (b.gz || e.gz !== undefined) continue;
        try {
          e.gzSize = (await stat(`${p}.gz`)).size;
          e.gz = `${p}.gz`;
        } catch {
          // removed
        }
      }
    }
    return [...byTime.values()].filter((b) => b.plain !== undefined || b.gz !== undefined).sort((a, b) => a.rotatedAtMs - b.rotatedAtMs);
  }
}

/** Sequential reads of a file's (uncompressed) bytes from some offset. */
export interface ByteReader {
  /** Uncompressed offset of the next byte read returns. */
  readonly position: number;
  /** Reads into `into[at, at + len)`; 0 at the end (for now: a live file may grow). */
  read(into: Buffer, at: number, len: number): Promise<number>;
  /** Goes back to offset 0 (a file truncated in place). */
  rewind(): void;
  close(): Promise<void>;
}

export class PlainReader implements ByteReader {
  position: number;

  constructor(readonly fh: FileHandle, offset: number) {
    this.position = offset;
  }

  static async open(path: string, offset: number): Promise<PlainReader> {
    return new PlainReader(await open(path, 'r'), offset);
  }

  async read(into: Buffer, at: number, len: number): Promise<number> {
    const { bytesRead } = await this.fh.read(into, at, len, this.position);
    this.position += bytesRead;
    return bytesRead;
  }

  rewind(): void {
    this.position = 0;
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/** A .gz backup, decompressed as it is read; opening at an offset skips that many uncompressed bytes. */
export class GzReader implements ByteReader {
  position = 0;
  private readonly it: AsyncIterator<Buffer>;
  private rest: Buffer | undefined;
  private readonly stream: Readable;
  private readonly raw: ReturnType<typeof createReadStream>;

  private constructor(path: string) {
    this.raw = createReadStream(path, { highWaterMark: 256 * 1024 });
    this.stream = this.raw.pipe(createGunzip({ chunkSize: 256 * 1024 }));
    // A read error of the file surfaces where the data is consumed.
    this.raw.on('error', (e) => this.stream.destroy(e));
    this.it = this.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Compressed bytes read so far (for the lag in bytes). */
  get compressedPosition(): number {
    return this.raw.bytesRead;
  }

  static async open(path: string, offset: number): Promise<GzReader> {
    const r = new GzReader(path);
    try {
      await r.skip(offset);
    } catch (e) {
      await r.close();
      throw e;
    }
    return r;
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.rest !== undefined) {
      const b = this.rest;
      this.rest = undefined;
      return b;
    }
    const n = await this.it.next();
    return n.done ? undefined : n.value;
  }

  private async skip(n: number): Promise<void> {
    while (n > 0) {
      const b = await this.next();
      if (b === undefined) throw new Error(`gzip data ends before offset ${this.position + n}`);
      if (b.length > n) this.rest = b.subarray(n);
      const took = Math.min(n, b.length);
      n -= took;
      this.position += took;
    }
  }

  async read(into: Buffer, at: number, len: number): Promise<number> {
    const b = await this.next();
    if (b === undefined) return 0;
    const n = Math.min(len, b.length);
    b.copy(into, at, 0, n);
    if (n < b.length) this.rest = b.subarray(n);
    this.position += n;
    return n;
  }

  rewind(): void {
    throw new Error('a .gz backup does not change: no rewind');
  }

  async close(): Promise<void> {
    this.stream.destroy();
    this.raw.destroy();
  }
}

/** The identity of an open plain file: device, inode, fingerprint of its first bytes. */
export async function identify(fh: FileHandle): Promise<FileIdentity & { size: number }> {
  const st = await fh.stat({ bigint: true });
  const size = Number(st.size);
  const fpLen = Math.min(size, FINGERPRINT_BYTES);
  const head = Buffer.alloc(fpLen);
  let got = 0;
  while (got < fpLen) {
    const { bytesRead } = await fh.read(head, got, fpLen - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return { dev: st.dev, ino: st.ino, fpLen: got, fp: fingerprint(head.subarray(0, got)), size };
}

/** Fingerprint of the first `len` bytes of a plain file; undefined when it has fewer. */
export async function plainFingerprint(fh: FileHandle, len: number): Promise<string | undefined> {
  const head = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(head, got, len - got, got);
    if (bytesRead === 0) return undefined;
    got += bytesRead;
  }
  return fingerprint(head);
}

/** The first up to `len` uncompressed bytes of a .gz file. */
export async function gzHead(path: string, len: number): Promise<Buffer> {
  const r = await GzReader.open(path, 0);
  try {
    const head = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const n = await r.read(head, got, len - got);
      if (n === 0) break;
      got += n;
    }
    return head.subarray(0, got);
  } finally {
    await r.close();
  }
}

/** Fingerprint of the first `len` uncompressed bytes of a .gz; undefined when shorter or unreadable. */
export async function gzFingerprint(path: string, len: number): Promise<string | undefined> {
  try {
    const head = await gzHead(path, len);
    return head.length === len ? fingerprint(head) : undefined;
  } catch {
    return undefined;
  }
}
