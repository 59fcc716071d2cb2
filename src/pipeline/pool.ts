// The main thread's side of evaluation: a piscina pool of workers, one alert ring per
// worker, and the drain loops that empty the rings into the batch tracker.
//
// Rings are drained (1) when a task's result arrives, from the ring of the worker that
// ran it, before the result is handed on, so a finished task's alerts are never still
// in flight; and (2) whenever a worker signals that its ring is full (Atomics.waitAsync
// on the ring's SIGNAL slot). (2) stops while the outputs are over their memory bound
// (`pause()`): then workers block on full rings, tasks stop completing, the request
// queue fills and the front end answers 429. (1) never stops, so a task that finished
// can always complete its request; its alerts are bounded by the ring size.
import { Piscina } from 'piscina';
import { performance } from 'node:perf_hooks';
import { createRingBuffer, RingReader, type RingRecord } from './ring.js';
import { createSharedMetrics, SharedCounters } from '../metrics/shared.js';
import type { EvalResult, EvalTask, SplitResult, SplitTask, WorkerInit } from './task.js';

export interface PoolOptions {
  workers: number;
  ringBytes: number;
  maxEventBytes: number;
  timeIso8601: boolean;
  onRecord: (r: RingRecord) => void;
}

const WORKER_URL = new URL('./worker.js', import.meta.url).href;

export class EvalPool {
  private readonly pool: Piscina<EvalTask, EvalResult>;
  readonly readers: RingReader[];
  readonly counters: SharedCounters;
  private paused = false;
  private closed = false;
  private readonly onRecord: (r: RingRecord) => void;
  /** Tasks submitted and not finished. */
  pending = 0;

  constructor(opts: PoolOptions) {
    // Spare rings for workers piscina starts to replace ones that died.
    const rings = Array.from({ length: opts.workers + 2 }, () => createRingBuffer(opts.ringBytes));
    this.readers = rings.map((r) => new RingReader(r));
    const metrics = createSharedMetrics();
    this.counters = new SharedCounters(metrics);
    this.onRecord = opts.onRecord;
    const workerData: WorkerInit = { rings, metrics, maxEventBytes: opts.maxEventBytes, timeIso8601: opts.timeIso8601 };
    this.pool = new Piscina<EvalTask, EvalResult>({
      filename: WORKER_URL,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      idleTimeout: Infinity,
      // Admission control happens at the front end (bytes and tasks in flight); the
      // pool's own queue only holds what was admitted.
      maxQueue: Infinity,
      // One task waits at each worker beside the one it runs, so it starts the next as
      // it finishes instead of waiting for the main thread (often busy with a burst of
      // reads) to hand it over. Evaluation is synchronous: the two never interleave.
      // bench:serve, alternating: 296–310k → 326–335k events/s, p99 31–33 → 22–25 ms;
      // one LDP stream over TLS 115–126k → 120–133k.
      concurrentTasksPerWorker: 2,
      workerData,
    });
    this.pool.on('workerDestroy', () => setImmediate(() => this.reclaimRings()));
    this.pool.on('error', (e: Error) => process.stderr.write(`peregrine: worker pool error: ${e.message}\n`));
    for (const r of this.readers) void this.drainLoop(r);
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  get queueSize(): number {
    return this.pool.queueSize;
  }

  async run(task: EvalTask): Promise<EvalResult> {
    this.pending++;
    try {
      const res = await this.pool.run(task);
      // The worker wrote this task's records before returning: take them now.
      this.readers[res.ring].drain(this.onRecord);
      return res;
    } finally {
      this.pending--;
    }
  }

  /** Splits a large body on a worker (a task like any other: it counts in `pending`). */
  async split(task: SplitTask): Promise<SplitResult> {
    this.pending++;
    try {
      return await (this.pool as unknown as Piscina<SplitTask, SplitResult>).run(task, { name: 'split' });
    } finally {
      this.pending--;
    }
  }

  private async drainLoop(r: RingReader): Promise<void> {
    while (!this.closed) {
      const w = r.waitSignal(250);
      if (w) await w;
      else await new Promise((res) => setImmediate(res));
      if (!this.paused) r.drain(this.onRecord);
    }
  }

  /** Output memory bound reached: stop draining on ring-full signals (see top). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const r of this.readers) r.drain(this.onRecord);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Fraction of each ring in use. */
  ringOccupancy(): number[] {
    return this.readers.filter((r) => r.owner !== 0).map((r) => r.used() / r.capacity);
  }

  /** After a worker died: drain its ring (its task failed, its batch discards them) and free it. */
  private reclaimRings(): void {
    const alive = new Set(this.pool.threads.map((t) => t.threadId));
    for (const r of this.readers) {
      if (r.owner !== 0 && !alive.has(r.owner)) {
        r.drain(this.onRecord);
        r.release();
      }
    }
  }

  now(): number {
    return performance.timeOrigin + performance.now();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.readers) r.drain(this.onRecord);
    for (const r of this.readers) r.close();
    await this.pool.close();
  }
}
