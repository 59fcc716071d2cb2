// Line outputs: stdout, and a file appended to with size-based rotation. Each batch is
// one write of newline-terminated lines.
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Backoff, retrying, type DeliveryReport, type OutputTarget, type QueuedAlert } from './target.js';
import type { FileOutputConfig } from '../config/schema.js';

function joinLines(batch: QueuedAlert[]): Buffer {
  let n = 0;
  for (const a of batch) n += a.json.length + 1;
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (const a of batch) {
    at += a.json.copy(out, at);
    out[at++] = 0x0a;
  }
  return out;
}

export class StdoutTarget implements OutputTarget {
  readonly name = 'stdout';
  private readonly backoff = new Backoff(100, 5000);

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  async deliver(batch: QueuedAlert[], report: DeliveryReport, stop: AbortSignal): Promise<void> {
    const chunk = joinLines(batch);
    await retrying(() => new Promise<void>((resolve, reject) => {
      this.out.write(chunk, (err) => (err ? reject(err) : resolve()));
    }), report, this.backoff, stop);
    for (const a of batch) report.delivered(a);
  }

  async close(): Promise<void> {
    // stdout is flushed by the write callbacks above.
  }
}

/**
 * Appends to `path` (created 0600: alerts quote audit data). With max_bytes > 0, a
 * write that would pass it first rotates: `path` → `path.<UTC time>`, keeping the
 * newest max_backups backups, like the apiserver's own log rotation.
 */
export class FileTarget implements OutputTarget {
  readonly name = 'file';
  private fh: FileHandle | undefined;
  private size = 0;
  private readonly backoff = new Backoff(100, 5000);

  constructor(private readonly cfg: FileOutputConfig) {}

  async open(): Promise<void> {
    this.fh = await open(this.cfg.path, 'a', 0o600);
    this.size = (await this.fh.stat()).size;
  }

  async deliver(batch: QueuedAlert[], report: DeliveryReport, stop: AbortSignal): Promise<void> {
    const chunk = joinLines(batch);
    await retrying(async () => {
      if (this.fh === undefined) await this.open();
      if (this.cfg.maxBytes > 0 && this.size > 0 && this.size + chunk.length > this.cfg.maxBytes) await this.rotate();
      // A failed or short write leaves the file as it was only if nothing was written;
      // appendFile-style writes of one buffer are all-or-error on local filesystems.
      const { bytesWritten } = await this.fh!.write(chunk, 0, chunk.length);
      this.size += bytesWritten;
      if (bytesWritten !== chunk.length) throw new Error(`short write to ${this.cfg.path}`);
    }, report, this.backoff, stop);
    for (const a of batch) report.delivered(a);
  }

  private async rotate(): Promise<void> {
    // What was delivered stays durable once the handle is gone (sync() covers only the new file).
    await this.fh?.sync();
    await this.fh?.close();
    this.fh = undefined;
    const stamp = new Date().toISOString().replace(/:/g, '-');
    await rename(this.cfg.path, `${this.cfg.path}.${stamp}`);
    const dir = dirname(this.cfg.path);
    const prefix = basename(this.cfg.path) + '.';
    const backups = (await readdir(dir)).filter((f) => f.startsWith(prefix)).sort();
    for (const old of backups.slice(0, Math.max(0, backups.length - this.cfg.maxBackups))) await unlink(join(dir, old)).catch(() => undefined);
    await this.open();
  }

  /**
   * fsync: delivered means written to the file (the page cache survives the process);
   * a checkpoint that says alerts are safe also asks for this, at its cadence (1 s by
   * default), so they survive the machine too. Errors are not fatal: the next
   * delivery retries the file.
   */
  async sync(): Promise<void> {
    await this.fh?.sync().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.fh) {
      await this.fh.sync().catch(() => undefined);
      await this.fh.close();
      this.fh = undefined;
    }
  }
}
