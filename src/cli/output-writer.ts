// Buffered writes to a stream with backpressure: lines are batched into large writes,
// and callers await `drain` when the stream's buffer is full.
import type { Writable } from 'node:stream';

export class LineWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  private waiting: Promise<void> | undefined;

  constructor(private readonly out: Writable, private readonly batchBytes = 64 * 1024) {}

  /** Queues a line; returns a promise only when the caller must wait. */
  write(line: string): Promise<void> | undefined {
    this.pending.push(line);
    this.pendingBytes += line.length + 1;
    if (this.pendingBytes >= this.batchBytes) return this.flush();
    return undefined;
  }

  flush(): Promise<void> | undefined {
    if (this.pending.length === 0) return this.waiting;
    const chunk = this.pending.join('\n') + '\n';
    this.pending = [];
    this.pendingBytes = 0;
    if (this.out.write(chunk)) return this.waiting;
    // One wait per full buffer, however many writes fill it: a listener per write
    // would pile up on the stream while a slow reader lags.
    this.waiting ??= new Promise<void>((resolve, reject) => {
      const onDrain = (): void => { this.out.off('error', onError); this.waiting = undefined; resolve(); };
      const onError = (e: Error): void => { this.out.off('drain', onDrain); this.waiting = undefined; reject(e); };
      this.out.once('drain', onDrain);
      this.out.once('error', onError);
    });
    return this.waiting;
  }
}
