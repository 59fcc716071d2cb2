// What every input of `peregrine serve` is: a Source.
//
// A source turns some outside input (webhook requests, a followed audit log file, a
// log platform's WebSocket stream) into events given as byte ranges of a
// SharedArrayBuffer with the cluster they belong to, and hands them to the one
// evaluation path every source shares: BatchRunner (split into tasks → worker pool →
// alert rings → alerts released in event order) → the sink (peregrine_alerts_total,
// then the output queues). It counts what it read in the shared metrics
// (peregrine_events_total{cluster}, peregrine_events_rejected_total{cluster,reason}) and
// in its own (stats() below, exported as peregrine_source_*{source}).
//
// Contract:
// - start() resolves once the source is reading (or waiting for its input to appear);
//   a failure to start that the operator must fix rejects with a PeregrineError.
// - Back-pressure: a source stops reading while the outputs are over their bound
//   (Outputs.underPressure) or the pool's queue is full, and resumes by itself.
// - A source that remembers a position (a checkpoint) writes it only once the alerts
//   of everything before it were handed to the outputs and delivered
//   (Outputs.whenDelivered(), then Outputs.sync()); for a network output with
//   outputs.spool_dir, durable in the spool is delivered enough.
// - stop() (SIGTERM) stops reading, finishes what was read (evaluation, release),
//   waits for delivery and writes its final position, within `deadlineMs`; it
//   resolves true when all of that happened in time.
// - readiness() lists what keeps it from working now (a permission error, say), for
//   /readyz; empty when it works.
//
// The webhook (ingest/server.ts) predates this interface and is wired in cli/serve.ts
// directly; it follows the same contract (stop = close the listener, finish accepted
// requests).
import type { BatchRunner, ReleasedAlert } from '../pipeline/batch.js';
import type { EvalPool } from '../pipeline/pool.js';
import type { Outputs } from '../outputs/outputs.js';
import type { ServeMetrics } from '../metrics/metrics.js';

/** A source's own counters and gauges, read at scrape time. */
export interface SourceStats {
  /** The metrics label: the followed path, the stream's URL without credentials. */
  source: string;
  type: 'file' | 'stream';
  cluster: string;
  bytesRead: number;
  lines: number;
  /** Lines (or messages) that were not evaluated, by reason. */
  badLines: Map<string, number>;
  rotations: number;
  truncations: number;
  /** Bytes written and not yet read. */
  lagBytes: number;
  /** Now − stageTimestamp of the last event evaluated; 0 when everything written was read. */
  lagSeconds: number;
  /** Seconds the saved position has been behind what is evaluated and delivered (0: up to date). */
  checkpointAgeSeconds: number;
  /** 1 while the source can read its input (0: waiting after an error). */
  up: boolean;
  /** Streams (ldp): their connection's history and the repeats they dropped. */
  stream?: StreamStats;
}

export interface StreamStats {
  connects: number;
  /** Connections that were up and broke, by what broke them (closed_1006, pong_timeout, econnreset, ...). */
  disconnects: Map<string, number>;
  /** Dials that got no connection up, by reason (http_401, econnrefused, proxy_http_407, ...). */
  dialFailures: Map<string, number>;
  /** Seconds the stream was down after a connection broke, the outage going on included: events sent then are lost. */
  downSeconds: number;
  /** Events that alerted again within the dedup window, their alerts dropped. */
  repeats: number;
  /** Alerting events let through because the dedup table had no room. */
  dedupFull: number;
  /** 1 while reading is paused for back-pressure. */
  paused: boolean;
}

export interface Source {
  readonly name: string;
  start(): Promise<void>;
  stop(deadlineMs: number): Promise<boolean>;
  readiness(): string[];
  stats(): SourceStats;
}

/** What a source needs from the server: the shared evaluation path and metrics. */
export interface SourceDeps {
  runner: BatchRunner;
  pool: EvalPool;
  outputs: Outputs;
  metrics: ServeMetrics;
  /** Releases one alert (counts it, queues it on every output). */
  sink: (a: ReleasedAlert) => void;
  log: (msg: string) => void;
  maxEventBytes: number;
  maxQueuedTasks: number;
}
