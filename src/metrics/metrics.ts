// Every metric `peregrine serve` exposes on /metrics (prom-client). Main-thread
// measurements are ordinary prom-client metrics; what workers count lives in shared
// memory (shared.ts) and is read here at scrape time by collectors.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { C, type SharedCounters } from './shared.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface GaugeSources {
  queueDepth(): number;
  inflightRequests(): number;
  inflightBytes(): number;
  inflightByCluster(): Record<string, number>;
  ringOccupancy(): number[];
  workers(): number;
  outputs(): { name: string; up: boolean; queued: number; queuedBytes: number }[];
  rulesGeneration(): number;
}

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<'cluster' | 'code'>;
  readonly queueWait: Histogram;
  readonly detectionLatency: Histogram<'output'>;
  readonly requests: Counter<'cluster' | 'code'>;
  readonly rejected: Counter<'cluster' | 'reason'>;
  readonly events: Counter<'cluster'>;
  readonly eventIssues: Counter<'cluster' | 'reason'>;
  readonly bytes: Counter<'cluster'>;
  readonly alerts: Counter<'rule' | 'priority' | 'cluster'>;
  readonly alertsDiscarded: Counter;
  readonly outputDelivered: Counter<'output'>;
  readonly outputFailures: Counter<'output'>;
  readonly outputRefused: Counter<'output'>;
  readonly reloads: Counter<'result'>;
  readonly authFailures: Counter<'reason'>;
  readonly tlsHandshakeFailures: Counter<'reason'>;
  private rendering: Promise<string> | undefined;

  constructor(shared: SharedCounters, src: GaugeSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'peregrine_process_' });
    this.requestDuration = new Histogram({
      name: 'peregrine_request_duration_seconds', help: 'Webhook request latency, headers received to acknowledgement sent.',
      labelNames: ['cluster', 'code'], buckets: LATENCY_BUCKETS, registers,
    });
    this.queueWait = new Histogram({
      name: 'peregrine_queue_wait_seconds', help: 'Time an evaluation task waited for a worker.', buckets: LATENCY_BUCKETS, registers,
    });
    this.detectionLatency = new Histogram({
      name: 'peregrine_detection_latency_seconds', help: 'Event stageTimestamp to alert written by an output.',
      labelNames: ['output'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers,
    });
    this.requests = new Counter({ name: 'peregrine_requests_total', help: 'Webhook requests answered, by status code.', labelNames: ['cluster', 'code'], registers });
    this.rejected = new Counter({ name: 'peregrine_requests_rejected_total', help: 'Webhook requests rejected, by reason.', labelNames: ['cluster', 'reason'], registers });
    this.events = new Counter({ name: 'peregrine_events_total', help: 'Audit events evaluated (acknowledged requests).', labelNames: ['cluster'], registers });
    this.eventIssues = new Counter({
      name: 'peregrine_events_rejected_total', help: 'Single events not evaluated (no usable stageTimestamp, over the size limit), reported in the response.',
      labelNames: ['cluster', 'reason'], registers,
    });
    this.bytes = new Counter({ name: 'peregrine_received_bytes_total', help: 'Bytes received: webhook request bodies, and lines read from followed files.', labelNames: ['cluster'], registers });
    this.alerts = new Counter({ name: 'peregrine_alerts_total', help: 'Alerts released to the outputs.', labelNames: ['rule', 'priority', 'cluster'], registers });
    this.alertsDiscarded = new Counter({
      name: 'peregrine_alerts_discarded_total', help: 'Alerts of requests that were not acknowledged (malformed, aborted, failed): the sender retries them.', registers,
    });
    this.outputDelivered = new Counter({ name: 'peregrine_output_delivered_total', help: 'Alerts delivered, per output.', labelNames: ['output'], registers });
    this.outputFailures = new Counter({ name: 'peregrine_output_failures_total', help: 'Failed delivery attempts (retried), per output.', labelNames: ['output'], registers });
    this.outputRefused = new Counter({ name: 'peregrine_output_refused_total', help: 'Alerts the receiver refused for good (HTTP 4xx), per output.', labelNames: ['output'], registers });
    this.reloads = new Counter({ name: 'peregrine_rules_reloads_total', help: 'Rules reloads, by result.', labelNames: ['result'], registers });
    this.authFailures = new Counter({
      name: 'peregrine_auth_failures_total', help: 'Requests refused 401, by why the credential was refused (missing, unknown_token, jwt_expired, jwt_audience, ...).',
      labelNames: ['reason'], registers,
    });
    this.tlsHandshakeFailures = new Counter({
      name: 'peregrine_tls_handshake_failures_total', help: 'mTLS front: handshakes that did not finish (failed, timeout, evicted beyond tls.max_pending_handshakes).',
      labelNames: ['reason'], registers,
    });
    for (const reason of ['failed', 'timeout', 'evicted']) this.tlsHandshakeFailures.inc({ reason }, 0);

    new Gauge({ name: 'peregrine_queue_depth', help: 'Evaluation tasks submitted and not finished.', registers, collect() { this.set(src.queueDepth()); } });
    new Gauge({ name: 'peregrine_inflight_requests', help: 'Requests accepted and not yet answered.', registers, collect() { this.set(src.inflightRequests()); } });
    new Gauge({ name: 'peregrine_inflight_bytes', help: 'Body bytes of requests accepted and not yet answered.', registers, collect() { this.set(src.inflightBytes()); } });
    new Gauge({
      name: 'peregrine_inflight_cluster_bytes', help: 'Body bytes in flight per cluster (each holds at most its share of limits.max_inflight_bytes).',
      labelNames: ['cluster'], registers,
      collect() { this.reset(); for (const [cluster, b] of Object.entries(src.inflightByCluster())) this.set({ cluster }, b); },
    });
    new Gauge({
      name: 'peregrine_ring_occupancy_ratio', help: 'Fraction of each worker alert ring in use.', labelNames: ['ring'], registers,
      collect() { this.reset(); src.ringOccupancy().forEach((v, i) => this.set({ ring: String(i) }, v)); },
    });
    new Gauge({ name: 'peregrine_workers', help: 'Worker threads.', registers, collect() { this.set(src.workers()); } });
    new Gauge({ name: 'peregrine_workers_busy', help: 'Workers evaluating a task now.', registers, collect() { this.set(shared.get(C.BUSY)); } });
    new Gauge({ name: 'peregrine_rules_generation', help: 'Generation of the rules in force (1 at start, +1 per successful reload).', registers, collect() { this.set(src.rulesGeneration()); } });
    new Gauge({
      name: 'peregrine_output_up', help: '1 when the output\'s last delivery attempt succeeded.', labelNames: ['output'], registers,
      collect() { for (const o of src.outputs()) this.set({ output: o.name }, o.up ? 1 : 0); },
    });
    new Gauge({
      name: 'peregrine_output_queued_alerts', help: 'Alerts waiting for an output.', labelNames: ['output'], registers,
      collect() { for (const o of src.outputs()) this.set({ output: o.name }, o.queued); },
    });
    new Gauge({
      name: 'peregrine_output_queued_bytes', help: 'Bytes of alerts waiting for an output (in memory, bounded by outputs.buffer_bytes; for a spooled output, on disk).', labelNames: ['output'], registers,
      collect() { for (const o of src.outputs()) this.set({ output: o.name }, o.queuedBytes); },
    });

    // Worker-side totals, read from shared memory at scrape time.
    const sharedCounter = (name: string, help: string, slot: number, scale = 1): void => {
      this.registry.registerMetric({
        name, help, type: 'counter', aggregator: 'sum',
        get: async () => ({ name, help, type: 'counter', aggregator: 'sum', values: [{ value: shared.get(slot) * scale, labels: {} }] }),
      } as never);
    };
    sharedCounter('peregrine_worker_events_total', 'Events evaluated by workers (including those of requests later rejected).', C.EVENTS);
    sharedCounter('peregrine_worker_tasks_total', 'Evaluation tasks completed by workers.', C.TASKS);
    sharedCounter('peregrine_worker_alerts_total', 'Alerts written into rings by workers.', C.ALERTS);
    sharedCounter('peregrine_worker_ring_wait_seconds_total', 'Time workers spent blocked on a full alert ring.', C.RING_WAIT_MS, 1 / 1000);
    sharedCounter('peregrine_worker_rule_compiles_total', 'Rulesets compiled by workers (once per worker per generation).', C.RULE_COMPILES);
    const evalName = 'peregrine_task_evaluation_seconds';
    const evalHelp = 'Time a worker spent evaluating one task (a slice of a request\'s events).';
    this.registry.registerMetric({
      name: evalName, help: evalHelp, type: 'histogram', aggregator: 'sum',
      get: async () => {
        const h = shared.evalTime;
        const s = h.snapshot();
        const values = h.buckets.map((le, i) => ({ metricName: `${evalName}_bucket`, labels: { le }, value: s.cumulative[i] }));
        const count = s.cumulative[s.cumulative.length - 1];
        values.push({ metricName: `${evalName}_bucket`, labels: { le: '+Inf' as unknown as number }, value: count });
        values.push({ metricName: `${evalName}_sum`, labels: {} as { le: number }, value: s.sum });
        values.push({ metricName: `${evalName}_count`, labels: {} as { le: number }, value: count });
        return { name: evalName, help: evalHelp, type: 'histogram', aggregator: 'sum', values };
      },
    } as never);
  }

  /** Scrapes that arrive while one is being rendered share it: a flood of them costs one. */
  text(): Promise<string> {
    this.rendering ??= this.registry.metrics().finally(() => { this.rendering = undefined; });
    return this.rendering;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
