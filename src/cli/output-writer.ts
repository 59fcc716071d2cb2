// Buffered writes to a stream with backpressure: lines are batched into large writes,
// and callers await `drain` when the stream's buffer is full.
import type { Writable } from 'node:stream';

export class LineWriter {
  private pending: string[] = [];
  private pendingBytes = 0;

  constructor(private readonly out: Writable, private readonly batchBytes = 64 * 1024) {}

  /** Queues a line; returns a promise only when the caller must wait. */
  write(line: string): Promise<void> | undefined {
    this.pending.push(line);
    this.pendingBytes += line.length + 1;
    if (this.pendingBytes >= this.batchBytes) return this.flush();
    return undefined;
  }

  flush(): Promise<void> | undefined {
    if (this.pending.length === 0) return undefined;
    const chunk = this.pending.join('\n') + '\n';
    this.pending = [];
    this.pendingBytes = 0;
    if (this.out.write(chunk)) return undefined;
    return new Promise((resolve, reject) => {
      const onDrain = (): void => { this.out.off('error', onError); resolve(); };
      const onError = (e: Error): void => { this.out.off('drain', onDrain); reject(e); };
      this.out.once('drain', onDrain);
      this.out.once('error', onError);
    });
  }
}
