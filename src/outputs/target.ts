// What an output is: something that delivers a batch of Falco JSON alerts, in order,
// and keeps trying until it has (or the server gives up at shutdown).

export interface QueuedAlert {
  /** The Falco JSON line, without newline. */
  json: Buffer;
  /** Event time (stageTimestamp), ms since the epoch: for the detection latency. */
  eventTimeMs: number;
  /** The alert's stable id as text (outputs/alert-id.ts): network outputs send it as `uuid`. */
  id?: Buffer;
}

export interface DeliveryReport {
  /** A delivery attempt failed and will be retried. */
  failed(err: Error): void;
  /** Something was delivered (the output is up). */
  ok(): void;
  /** The receiver refused an alert for good (HTTP 4xx): counted and logged, not retried. */
  refused(alert: QueuedAlert, why: string): void;
  /** Each alert as it is delivered. */
  delivered(alert: QueuedAlert): void;
}

export interface OutputTarget {
  readonly name: string;
  /**
   * A network output: with outputs.spool_dir it is fed from the spool (outputs/spool.ts),
   * so alerts it has not yet delivered survive a crash.
   */
  readonly network?: boolean;
  /** Resolves when every alert of `batch` is delivered (or refused); retries internally. */
  deliver(batch: QueuedAlert[], report: DeliveryReport, stop: AbortSignal): Promise<void>;
  /** Makes what was delivered durable (fsync), for outputs where delivered means written to a file. */
  sync?(): Promise<void>;
  close(): Promise<void>;
}

export class StoppedError extends Error {
  constructor() {
    super('output stopped');
  }
}

/** Not worth retrying (the receiver refused this alert for good). */
export class PermanentError extends Error {}

/** Sleeps `ms`, or rejects with StoppedError when `stop` fires. */
export function sleep(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stop.aborted) return reject(new StoppedError());
    const t = setTimeout(() => { stop.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(t); reject(new StoppedError()); };
    stop.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff with ±20 % jitter. */
export class Backoff {
  private next: number;
  constructor(private readonly initialMs: number, private readonly maxMs: number) {
    this.next = initialMs;
  }

  delay(): number {
    const d = this.next * (0.8 + 0.4 * Math.random());
    this.next = Math.min(this.maxMs, this.next * 2);
    return Math.round(d);
  }

  reset(): void {
    this.next = this.initialMs;
  }
}

/** Runs `attempt` until it succeeds, reporting failures and backing off between tries. */
export async function retrying(attempt: () => Promise<void>, report: DeliveryReport, backoff: Backoff, stop: AbortSignal): Promise<void> {
  for (;;) {
    if (stop.aborted) throw new StoppedError();
    try {
      await attempt();
      backoff.reset();
      report.ok();
      return;
    } catch (e) {
      if (e instanceof StoppedError || e instanceof PermanentError) throw e;
      report.failed(e as Error);
      await sleep(backoff.delay(), stop);
    }
  }
}
