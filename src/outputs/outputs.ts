// Fan-out of released alerts to every configured output, each with its own FIFO queue
// and delivery loop (so a slow HTTP receiver does not hold up the file).
//
// Memory bound: outputs.buffer_bytes per output queue. When any queue passes it, the
// pool stops draining alert rings (`onPressure(true)`): workers block on full rings,
// requests stop completing, the admission limits fill and the front end answers 429,
// so the apiserver holds the batch and retries (5 attempts). Alerts already accepted are never
// discarded: they wait in the queue until delivered. The bound can be exceeded by at
// most the alerts of requests already being evaluated (rings + held alerts). Pressure
// is released when every queue is back under half the bound.
//
// Delivery watermark: every push gets the next sequence number, and each queue counts
// the alerts it has finished (delivered, or refused for good). `whenDelivered()`
// resolves once every queue has finished everything pushed before the call, whatever
// is pushed after; a source that remembers a position (a followed file's checkpoint)
// waits on it before saying that position's alerts are safe. Waiting for empty queues
// instead would never end under a steady stream of alerts.
//
// With a spool (outputs.spool_dir, outputs/spool.ts), network outputs have no memory
// queue: every pushed alert is appended to the spool and they send from there
// (spooled-output.ts). For the watermark, such an output has finished an alert once it
// is durable in the spool; whenSpooled() waits for that alone (the webhook's
// acknowledgement). The spool's bound adds to the pressure: underPressure is also true
// while it is full, which refuses new work without pausing evaluation (the alerts of
// requests already accepted still go to the spool).
import type { DeliveryReport, OutputTarget, QueuedAlert } from './target.js';
import { StoppedError } from './target.js';
import type { Spool } from './spool.js';
import { SpooledOutput } from './spooled-output.js';
import { healthReport } from './health.js';

const BATCH_ITEMS = 512;
const BATCH_BYTES = 1024 * 1024;

export interface OutputStatus {
  name: string;
  up: boolean;
  queued: number;
  queuedBytes: number;
  lastError?: string;
  downSinceMs?: number;
  /** Fed from the spool: `queued` alerts are on disk, not in memory. */
  spooled?: boolean;
}

export interface OutputHooks {
  onPressure(on: boolean): void;
  onDelivered(output: string, a: QueuedAlert): void;
  onFailure(output: string, err: Error): void;
  onRefused(output: string, a: QueuedAlert, why: string): void;
}

class OutputQueue {
  private items: QueuedAlert[] = [];
  private head = 0;
  bytes = 0;
  up = true;
  lastError: string | undefined;
  downSinceMs: number | undefined;
  private running = false;
  private idleWaiters: (() => void)[] = [];
  private readonly report: DeliveryReport;
  /** Alerts finished (delivered or refused) since the start: the queue's watermark. */
  finished = 0;

  constructor(readonly target: OutputTarget, hooks: OutputHooks, private readonly onBatchDone: () => void, private readonly stop: AbortSignal) {
    this.report = healthReport(this, target.name, hooks);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(a: QueuedAlert): void {
    this.items.push(a);
    this.bytes += a.json.length;
    if (!this.running) void this.loop();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.head < this.items.length) {
        // Yield once so alerts released in the same tick go out in one batch.
        await new Promise((r) => setImmediate(r));
        let end = this.head;
        let bytes = 0;
        while (end < this.items.length && end - this.head < BATCH_ITEMS && bytes < BATCH_BYTES) bytes += this.items[end++].json.length;
        const batch = this.items.slice(this.head, end);
        await this.target.deliver(batch, this.report, this.stop);
        this.head = end;
        this.bytes -= bytes;
        this.finished += batch.length;
        if (this.head > 4096 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        this.onBatchDone();
      }
      this.items = [];
      this.head = 0;
    } catch (e) {
      if (!(e instanceof StoppedError)) throw e;
    } finally {
      this.running = false;
      if (this.length === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  idle(): Promise<void> {
    if (this.length === 0 && !this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
}

/** True when `p` settles within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => { timer = setTimeout(() => r(false), Math.max(0, ms)); });
  const ok = await Promise.race([p.then(() => true as const), timeout]);
  clearTimeout(timer);
  return ok;
}

interface DeliveryWaiter {
  seq: number;
  resolve: () => void;
}

export class Outputs {
  private readonly queues: OutputQueue[];
  private readonly spooled: SpooledOutput[] = [];
  private pressure = false;
  private readonly stopper = new AbortController();
  /** Alerts pushed since the start (the sequence number of the last one). */
  private pushed = 0;
  /** whenDelivered() callers, in the order of their sequence numbers. */
  private waiters: DeliveryWaiter[] = [];

  constructor(
    targets: OutputTarget[], private readonly bufferBytes: number, private readonly hooks: OutputHooks,
    /** Network outputs send from it (their cursors are named after them). */
    private readonly spool?: Spool,
  ) {
    const onBatchDone = (): void => this.onBatchDone();
    this.queues = targets.filter((t) => spool === undefined || !t.network)
      .map((t) => new OutputQueue(t, hooks, onBatchDone, this.stopper.signal));
    if (spool !== undefined) {
      for (const t of targets.filter((x) => x.network)) {
        const cursor = spool.cursors.find((c) => c.name === t.name);
        if (cursor === undefined) throw new Error(`the spool has no cursor for output ${t.name}`);
        const so = new SpooledOutput(t, cursor, spool, hooks, onBatchDone, this.stopper.signal);
        this.spooled.push(so);
        so.start();
      }
      spool.onCommit = onBatchDone;
    }
  }

  push(a: QueuedAlert): void {
    this.pushed++;
    for (const q of this.queues) q.push(a);
    if (this.spooled.length > 0) this.spool!.append(a);
    if (!this.pressure) this.checkPressure();
  }

  /**
   * Resolves once the alerts pushed before the call are durable in the spool (at once
   * without one): the webhook acknowledges a request after this.
   */
  whenSpooled(): Promise<void> {
    return this.spooled.length > 0 ? this.spool!.whenDurable() : Promise.resolve();
  }

  private onBatchDone(): void {
    this.checkPressure();
    if (this.waiters.length > 0) this.wakeDelivered();
  }

  /** The number of alerts every output has finished (the lowest watermark). */
  get deliveredSeq(): number {
    let min = this.pushed;
    for (const q of this.queues) if (q.finished < min) min = q.finished;
    if (this.spooled.length > 0 && this.spool!.committed < min) min = this.spool!.committed;
    return min;
  }

  private wakeDelivered(): void {
    const done = this.deliveredSeq;
    let i = 0;
    while (i < this.waiters.length && this.waiters[i].seq <= done) this.waiters[i++].resolve();
    if (i > 0) this.waiters = this.waiters.slice(i);
  }

  /**
   * Resolves when every output has delivered (or refused for good) every alert pushed
   * before this call, a spooled output when they are durable in the spool; alerts
   * pushed later do not delay it. It never rejects: while an output is down it waits
   * (the output retries). After that, `sync()` makes written files durable.
   */
  whenDelivered(): Promise<void> {
    const seq = this.pushed;
    if (this.deliveredSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /** Asks the outputs that write files to make what they wrote durable (fsync). */
  async sync(): Promise<void> {
    for (const q of this.queues) if (q.target.sync) await q.target.sync();
  }

  private checkPressure(): void {
    let max = 0;
    for (const q of this.queues) if (q.bytes > max) max = q.bytes;
    if (!this.pressure && max > this.bufferBytes) {
      this.pressure = true;
      this.hooks.onPressure(true);
    } else if (this.pressure && max <= this.bufferBytes / 2) {
      this.pressure = false;
      this.hooks.onPressure(false);
    }
  }

  /** Over a memory bound, or the spool is full: new work is refused (429). */
  get underPressure(): boolean {
    return this.pressure || (this.spooled.length > 0 && this.spool!.full);
  }

  /** Why the outputs refuse new work now, for /readyz. */
  readiness(): string[] {
    const r: string[] = [];
    if (this.pressure) r.push('outputs are over their memory bound; new requests get 429');
    if (this.spooled.length > 0) r.push(...this.spool!.readiness());
    return r;
  }

  statuses(): OutputStatus[] {
    const st: OutputStatus[] = this.queues.map((q) => ({
      name: q.target.name, up: q.up, queued: q.length, queuedBytes: q.bytes, lastError: q.lastError, downSinceMs: q.downSinceMs,
    }));
    for (const so of this.spooled) {
      st.push({ name: so.target.name, up: so.up, queued: so.queued, queuedBytes: so.queuedBytes, lastError: so.lastError, downSinceMs: so.downSinceMs, spooled: true });
    }
    return st;
  }

  /**
   * Waits until every memory queue is empty and the spool has made everything durable,
   * or `timeoutMs`; true when all of that happened. Meanwhile spooled outputs that are
   * up go on sending; what they have not sent when this resolves stays in the spool,
   * safe, for the next start (spooledPending()).
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const ok = await within(Promise.all([...this.queues.map((q) => q.idle()), ...(this.spooled.length > 0 ? [this.spool!.flush()] : [])]), timeoutMs);
    if (ok && this.spooled.length > 0) await within(this.spooledSettled(), deadline - Date.now());
    return ok;
  }

  /** Until each spooled output has sent everything, or is down (its receiver failed). */
  private async spooledSettled(): Promise<void> {
    while (this.spooled.some((so) => so.up && !so.caughtUp)) await new Promise((r) => setTimeout(r, 20));
  }

  /** Stops retrying (after flush gave up) and closes the targets (and the spool). */
  async close(): Promise<void> {
    this.stopper.abort();
    for (const q of this.queues) await q.target.close().catch(() => undefined);
    for (const so of this.spooled) {
      await so.stopped();
      await so.target.close().catch(() => undefined);
    }
    if (this.spool !== undefined) await this.spool.close();
  }

  /** Alerts in memory queues not delivered (lost if the process exits now). */
  undelivered(): number {
    return this.queues.reduce((n, q) => n + q.length, 0);
  }

  /** Alerts in the spool that spooled outputs have not delivered (kept for the next start). */
  spooledPending(): number {
    return this.spooled.reduce((n, so) => Math.max(n, so.queued), 0);
  }
}
