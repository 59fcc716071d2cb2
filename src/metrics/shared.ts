// Counters and a histogram in shared memory, written by worker threads with Atomics and
// read by the main thread's Prometheus collector. Workers add once per task, never
// send a message per event. BigInt64 slots: totals outgrow 2^31 on a busy server.

/** Slots of the shared counter array. */
export const C = {
  EVENTS: 0,
  TASKS: 1,
  ITEMS: 2,
  ISSUE_TIMESTAMP: 3,
  ISSUE_TOO_LARGE: 4,
  ISSUE_JSON: 5,
  ISSUE_NOT_AUDIT: 6,
  ALERTS: 7,
  /** Milliseconds workers spent blocked on a full ring. */
  RING_WAIT_MS: 8,
  /** Gauge: workers inside a task right now. */
  BUSY: 9,
  RULE_COMPILES: 10,
} as const;
const N_COUNTERS = 16;

/** Per-task evaluation time buckets, seconds. */
export const EVAL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createSharedMetrics(): SharedArrayBuffer {
  return new SharedArrayBuffer(8 * (N_COUNTERS + SharedHistogram.slots(EVAL_BUCKETS.length)));
}

export class SharedCounters {
  private readonly a: BigInt64Array;
  readonly evalTime: SharedHistogram;

  constructor(sab: SharedArrayBuffer) {
    this.a = new BigInt64Array(sab, 0, N_COUNTERS);
    this.evalTime = new SharedHistogram(sab, 8 * N_COUNTERS, EVAL_BUCKETS);
  }

  add(slot: number, n: number): void {
    if (n !== 0) Atomics.add(this.a, slot, BigInt(n));
  }

  get(slot: number): number {
    return Number(Atomics.load(this.a, slot));
  }
}

/** Prometheus-style histogram: per-bucket counts (not cumulative here), count, sum in µs. */
export class SharedHistogram {
  static slots(buckets: number): number {
    return buckets + 3; // buckets, +Inf, count, sum
  }

  private readonly a: BigInt64Array;

  constructor(sab: SharedArrayBuffer, byteOffset: number, readonly buckets: readonly number[]) {
    this.a = new BigInt64Array(sab, byteOffset, SharedHistogram.slots(buckets.length));
  }

  observe(seconds: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && seconds > b[i]) i++;
    Atomics.add(this.a, i, 1n);
    Atomics.add(this.a, b.length + 1, 1n);
    Atomics.add(this.a, b.length + 2, BigInt(Math.round(seconds * 1e6)));
  }

  /** Cumulative counts per bucket (last = +Inf), total count, sum in seconds. */
  snapshot(): { cumulative: number[]; count: number; sum: number } {
    const n = this.buckets.length;
    const cumulative: number[] = [];
    let acc = 0;
    for (let i = 0; i <= n; i++) {
      acc += Number(Atomics.load(this.a, i));
      cumulative.push(acc);
    }
    return { cumulative, count: Number(Atomics.load(this.a, n + 1)), sum: Number(Atomics.load(this.a, n + 2)) / 1e6 };
  }
}
