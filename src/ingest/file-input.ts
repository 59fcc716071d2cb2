// Audit log files read whole, offline (scan, hunt): plain files through one reused
// buffer, pipes, devices and .gz as streams, and a progress line on a terminal.
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream';
import { ErrorCode, PeregrineError } from '../errors.js';
import { Framer, Frames, type FrameIssue } from './framing.js';

export const CHUNK = 1024 * 1024;

export interface Input {
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>;
  size: number;
  close(): void;
}

export async function openInput(file: string): Promise<Input> {
  if (file === '-') return { chunks: process.stdin, size: 0, close: () => {} };
  let size = 0;
  let regular = false;
  let fd: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new PeregrineError(ErrorCode.IO, `cannot read '${file}': it is a directory`);
    size = st.size;
    regular = st.isFile();
    fd = openSync(file, 'r');
  } catch (e) {
    if (e instanceof PeregrineError) throw e;
    throw new PeregrineError(ErrorCode.IO, `cannot open '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const gz = file.endsWith('.gz');
  if (regular && !gz) return { chunks: fileChunks(fd), size, close: () => closeSync(fd) };
  // Pipes, devices and .gz are read as streams, which own the descriptor: closing it
  // under a read still in flight (a reader that stopped at a corrupt .gz) failed that
  // read with an error nobody listened to, or read a file that reused the number.
  const raw = createReadStream('', { fd, highWaterMark: CHUNK });
  if (!gz) return { chunks: raw, size: 0, close: () => raw.destroy() };
  // zlib is loaded only when a file needs it: most scans read plain files.
  const { createGunzip } = await import('node:zlib');
  // A failure on either side ends both and reaches the reader (pipe() forwards neither).
  const out = pipeline(raw, createGunzip(), () => {});
  return { chunks: out, size: 0, close: () => out.destroy() };
}

/**
 * One input read through the framer (scan, policy cost): after each chunk, and at the
 * end, its framing issues go to `report`, then `drain` takes the documents framed so far.
 * A read error ends the input as `read error: …` at line 0.
 */
export async function readFramed(
  file: string, label: string, report: (line: number, msg: string) => void,
  drain: (frames: Frames, progress: Progress) => void | Promise<void>,
): Promise<void> {
  const input = await openInput(file);
  const progress = new Progress(input.size, label);
  try {
    for await (const frames of framedChunks(input, progress, report)) await drain(frames, progress);
  } finally {
    progress.done();
  }
}

/**
 * The documents of an opened input, framed a chunk at a time (the same Frames each
 * time, cleared after the consumer's turn: it must finish with them before the next
 * read, which may reuse the chunk's buffer). Closes the input however the loop ends.
 */
export async function* framedChunks(
  input: Input, progress: Progress, report: (line: number, msg: string) => void,
): AsyncGenerator<Frames> {
  const framer = new Framer();
  const frames = new Frames();
  const issues: FrameIssue[] = [];
  try {
    // A consumer's own error ends its loop with return(), not here: what is caught is the read's.
    for await (const chunk of input.chunks) {
      progress.bytes += chunk.length;
      framer.push(chunk, frames, issues);
      reportIssues(issues, report);
      yield frames;
      frames.clear();
      progress.tick();
    }
  } catch (e) {
    progress.done();
    report(0, `read error: ${readErrorMessage(e as NodeJS.ErrnoException)}`);
    return;
  } finally {
    input.close();
  }
  framer.finish(frames, issues);
  reportIssues(issues, report);
  yield frames;
  frames.clear();
}

function reportIssues(issues: FrameIssue[], report: (line: number, msg: string) => void): void {
  for (const is of issues) report(is.line, is.message);
  issues.length = 0;
}

// Node's messages start with the code for system errors (ENOENT: ...), zlib's do not.
function readErrorMessage(err: NodeJS.ErrnoException): string {
  return err.code === undefined || err.message.startsWith(err.code) ? err.message : `${err.code}: ${err.message}`;
}

/**
 * A plain file, read into one buffer over and over: no stream machinery and no fresh
 * pages per chunk. Each chunk is evaluated before the next read (the framer copies
 * what it keeps of a chunk).
 */
function* fileChunks(fd: number): Generator<Buffer> {
  const buf = Buffer.allocUnsafeSlow(CHUNK);
  for (;;) {
    const n = readSync(fd, buf, 0, CHUNK, null);
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}

export class Progress {
  private last = 0;
  private readonly enabled: boolean;
  bytes = 0;
  events = 0;
  private started = Date.now();

  constructor(private readonly total: number, private readonly label: string) {
    this.enabled = process.stderr.isTTY === true;
  }

  tick(): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 500) return;
    this.last = now;
    const secs = Math.max(0.001, (now - this.started) / 1000);
    const pct = this.total > 0 ? ` ${((100 * this.bytes) / this.total).toFixed(1)}%` : '';
    process.stderr.write(`\r${this.label}:${pct} ${(this.bytes / 1048576).toFixed(1)} MiB, ${this.events} events, ${Math.round(this.events / secs)} events/s   `);
  }

  done(): void {
    if (this.enabled && this.last !== 0) process.stderr.write('\r\x1b[K');
  }
}

