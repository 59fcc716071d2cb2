// A network output fed from the spool (outputs/spool.ts): its loop reads the next batch
// after its cursor, delivers it through the target (which retries until it is
// delivered, or refused for good), then moves the cursor past it. Only then can the
// spool free the segment, once every network output is past it. Alerts delivered in a
// batch that was not finished when the process died are sent again at the next start,
// with the same uuid.
import type { OutputHooks } from './outputs.js';
import type { SpoolCursor, Spool } from './spool.js';
import { StoppedError, sleep, type DeliveryReport, type OutputTarget } from './target.js';
import { healthReport } from './health.js';

const READ_RETRY_MS = 1000;

export class SpooledOutput {
  up = true;
  lastError: string | undefined;
  downSinceMs: number | undefined;
  private readonly report: DeliveryReport;
  private done: Promise<void> = Promise.resolve();

  constructor(
    readonly target: OutputTarget, private readonly cursor: SpoolCursor, private readonly spool: Spool,
    hooks: OutputHooks, private readonly onBatchDone: () => void, private readonly stop: AbortSignal,
  ) {
    // A delivery cut short by the shutdown is not the receiver's failure.
    this.report = healthReport(this, target.name, hooks, stop);
  }

  start(): void {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    for (;;) {
      try {
        const batch = await this.cursor.next(this.stop);
        if (batch === undefined) return;
        await this.target.deliver(batch, this.report, this.stop);
        this.cursor.ack();
        this.onBatchDone();
      } catch (e) {
        if (e instanceof StoppedError || this.stop.aborted) return;
        // Reading the spool failed (an I/O error): the output is down until it works.
        this.report.failed(new Error(`reading the spool: ${(e as Error).message}`));
        try {
          await sleep(READ_RETRY_MS, this.stop);
        } catch {
          return;
        }
      }
    }
  }

  /** Alerts spooled and not yet delivered by this output. */
  get queued(): number {
    return this.cursor.behind;
  }

  get queuedBytes(): number {
    return this.cursor.bytesBehind();
  }

  /** Nothing durable left to send. */
  get caughtUp(): boolean {
    return this.cursor.seq >= this.spool.durableSeq;
  }

  /** Resolves when the loop has ended (after the stop signal). */
  stopped(): Promise<void> {
    return this.done;
  }
}
