// kube-apiserver's audit log file backend, imitated: one write per event line into
// --audit-log-path, rotated as natefinch/lumberjack v2.2.1 does it (the library the
// apiserver uses): when a write would pass the size limit, close the file, rename it
// to `<name>-<UTC 2006-01-02T15-04-05.000><ext>`, create a new file (O_TRUNC, mode
// 0600), then in the background ("mill") delete backups beyond maxBackups, oldest
// first, and with compress gzip each plain backup to `<backup>.gz` — the .gz written
// in place, the plain file removed last. Used by the follow tests and benchmark.
import { closeSync, createReadStream, createWriteStream, existsSync, fstatSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { basename, dirname, extname, join } from 'node:path';

export function backupTime(ms) {
  return new Date(ms).toISOString().slice(0, 23).replace(/:/g, '-');
}

export class ApiserverLog {
  /**
   * @param {string} path
   * @param {{maxBytes: number, compress?: boolean, compressDelayMs?: number, maxBackups?: number, onRotate?: (ino: number, backupName: string) => void}} o
   */
  constructor(path, o) {
    this.path = path;
    this.dir = dirname(path);
    const name = basename(path);
    this.ext = extname(name);
    this.prefix = name.slice(0, name.length - this.ext.length) + '-';
    this.maxBytes = o.maxBytes;
    this.compress = o.compress ?? false;
    this.compressDelayMs = o.compressDelayMs ?? 0;
    this.maxBackups = o.maxBackups ?? 0;
    this.onRotate = o.onRotate;
    this.fd = -1;
    this.size = 0;
    this.ino = 0;
    this.rotations = 0;
    this.milling = Promise.resolve();
    this.compressing = new Set();
  }

  /** lumberjack's openExistingOrNew: append to the file when it exists, else create it. */
  open() {
    if (existsSync(this.path)) {
      this.fd = openSync(this.path, 'a');
      const st = fstatSync(this.fd);
      this.size = st.size;
      this.ino = st.ino;
    } else {
      this.openNew();
    }
  }

  openNew() {
    this.fd = openSync(this.path, 'w', 0o600);
    this.size = 0;
    this.ino = fstatSync(this.fd).ino;
  }

  /** Writes one line (with its newline); returns where it went. */
  write(buf) {
    if (this.fd < 0) this.open();
    if (this.size + buf.length > this.maxBytes && this.size > 0) this.rotate();
    const at = { ino: this.ino, offset: this.size };
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done);
    this.size += buf.length;
    return at;
  }

  rotate() {
    closeSync(this.fd);
    // Names in rotation order, as a steady clock gives them: never before the last one
    // (two rotations in one millisecond would share a name, which lumberjack overwrites).
    let ms = Math.max(Date.now(), (this.lastRotationMs ?? 0) + 1);
    while (existsSync(this.backupPath(ms)) || existsSync(this.backupPath(ms) + '.gz')) ms++;
    this.lastRotationMs = ms;
    renameSync(this.path, this.backupPath(ms));
    this.onRotate?.(this.ino, basename(this.backupPath(ms)));
    this.openNew();
    this.rotations++;
    this.mill();
  }

  backupPath(ms) {
    return join(this.dir, `${this.prefix}${backupTime(ms)}${this.ext}`);
  }

  backups() {
    const re = new RegExp(`^${this.prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.\\d{3}${this.ext.replace('.', '\\.')}(\\.gz)?$`);
    return readdirSync(this.dir).filter((n) => re.test(n)).sort();
  }

  mill() {
    this.milling = this.milling.then(async () => {
      if (this.maxBackups > 0) {
        const seen = new Map();
        for (const n of this.backups()) seen.set(n.replace(/\.gz$/, ''), [...(seen.get(n.replace(/\.gz$/, '')) ?? []), n]);
        const keys = [...seen.keys()].sort();
        for (const k of keys.slice(0, Math.max(0, keys.length - this.maxBackups))) for (const n of seen.get(k)) await unlink(join(this.dir, n)).catch(() => undefined);
      }
      if (!this.compress) return;
      if (this.compressDelayMs > 0) await new Promise((r) => setTimeout(r, this.compressDelayMs));
      for (const n of this.backups()) {
        if (n.endsWith('.gz') || this.compressing.has(n) || existsSync(join(this.dir, n + '.gz'))) continue;
        const src = join(this.dir, n);
        this.compressing.add(n);
        try {
          const mode = statSync(src).mode & 0o777;
          // The .gz is written in place; the plain file goes only once it is complete.
          await pipeline(createReadStream(src), createGzip(), createWriteStream(src + '.gz', { mode }));
          unlinkSync(src);
        } catch {
          await unlink(src + '.gz').catch(() => undefined);
        } finally {
          this.compressing.delete(n);
        }
      }
    });
  }

  /** Waits for the background compression and retention. */
  async idle() {
    for (;;) {
      const m = this.milling;
      await m;
      if (m === this.milling) return;
    }
  }

  close() {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
