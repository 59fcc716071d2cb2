// The spool's metrics (outputs.spool_dir, outputs/spool.ts), read from its stats() at
// scrape time; the commit durations are observed once per group commit (not per alert).
// Alerts waiting for a spooled output are in peregrine_output_queued_{alerts,bytes}.
import { Histogram, type Registry } from 'prom-client';
import type { Spool } from '../outputs/spool.js';

export function registerSpoolMetrics(registry: Registry, spool: Spool): void {
  const metric = (name: string, help: string, type: 'counter' | 'gauge', value: () => number): void => {
    registry.registerMetric({
      name, help, type, aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: [{ value: value(), labels: {} }] }),
    } as never);
  };
  metric('peregrine_spool_bytes', 'Bytes in the spool: segment files and records waiting to be written.', 'gauge', () => spool.stats().bytes);
  metric('peregrine_spool_max_bytes', 'outputs.spool_max_bytes: at or over it new requests get 429.', 'gauge', () => spool.stats().maxBytes);
  metric('peregrine_spool_segments', 'Segment files in the spool.', 'gauge', () => spool.stats().segments);
  metric('peregrine_spool_full', '1 while the spool is full or cannot be written (new requests get 429).', 'gauge', () => (spool.stats().full ? 1 : 0));
  metric('peregrine_spool_appended_alerts_total', 'Alerts appended to the spool.', 'counter', () => spool.stats().appended);
  metric('peregrine_spool_commits_total', 'Group commits: one durable (O_DSYNC) write for the alerts of every request that finished meanwhile.', 'counter',
    () => spool.stats().commits);
  metric('peregrine_spool_write_errors_total', 'Failed spool writes (each retried; nothing appended is dropped).', 'counter', () => spool.stats().writeErrors);
  metric('peregrine_spool_damaged_records_total', 'Damaged spool records found (a record cut by a crash, a checksum mismatch), each reported on stderr.', 'counter',
    () => spool.stats().damaged);
  metric('peregrine_spool_damaged_bytes_total', 'Bytes cut from the spool or skipped because of damage.', 'counter', () => spool.stats().damagedBytes);
  const commit = new Histogram({
    name: 'peregrine_spool_commit_seconds', help: 'Duration of a spool group commit (one O_DSYNC write), as the main thread sees it.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
  });
  spool.onCommitTime = (s) => commit.observe(s);
}
