// Per-source metrics (followed files; streams later), read from each source's stats()
// at scrape time: nothing is counted through prom-client while reading. Events,
// alerts and rejected events of a source are in the shared per-cluster metrics
// (peregrine_events_total and the rest), as the webhook's are.
import type { Registry } from 'prom-client';
import type { SourceStats } from '../ingest/source.js';

type Sample = { value: number; labels: Record<string, string> };

export function registerSourceMetrics(registry: Registry, stats: () => SourceStats[]): void {
  const metric = (name: string, help: string, type: 'counter' | 'gauge', values: (s: SourceStats) => Sample[]): void => {
    registry.registerMetric({
      name, help, type, aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: stats().flatMap(values) }),
    } as never);
  };
  const one = (f: (s: SourceStats) => number) => (s: SourceStats): Sample[] => [{ value: f(s), labels: { source: s.source, type: s.type, cluster: s.cluster } }];
  metric('peregrine_source_read_bytes_total', 'Bytes read by a source (uncompressed).', 'counter', one((s) => s.bytesRead));
  metric('peregrine_source_lines_total', 'Lines read by a source (complete lines, evaluated or not).', 'counter', one((s) => s.lines));
  metric('peregrine_source_bad_lines_total', 'Lines a source read and could not evaluate, by reason (each reported on stderr as path:line: reason).', 'counter',
    (s) => [...s.badLines].map(([reason, value]) => ({ value, labels: { source: s.source, type: s.type, cluster: s.cluster, reason } })));
  metric('peregrine_source_rotations_total', 'Rotations of a followed file (renamed away and recreated) followed to the next file.', 'counter', one((s) => s.rotations));
  metric('peregrine_source_truncations_total', 'Followed files found truncated in place and read again from the start.', 'counter', one((s) => s.truncations));
  metric('peregrine_source_lag_bytes', 'Bytes written to a followed file (and its unread backups) and not read yet.', 'gauge', one((s) => s.lagBytes));
  metric('peregrine_source_lag_seconds', 'Now minus the stageTimestamp of the last event a source evaluated; 0 when it has read everything written.', 'gauge', one((s) => s.lagSeconds));
  metric('peregrine_source_checkpoint_age_seconds', 'How long the saved checkpoint has been behind the position evaluated (0: up to date).', 'gauge', one((s) => s.checkpointAgeSeconds));
  metric('peregrine_source_up', '1 while a source can read its input, 0 while it waits after an error (see /readyz).', 'gauge', one((s) => (s.up ? 1 : 0)));
  // Streams only.
  const streams = (f: (s: SourceStats, st: NonNullable<SourceStats['stream']>) => Sample[]) => (s: SourceStats): Sample[] => (s.stream ? f(s, s.stream) : []);
  const label = (s: SourceStats) => ({ source: s.source, type: s.type, cluster: s.cluster });
  metric('peregrine_source_stream_connects_total', 'Connections a stream source made (the first and every reconnection).', 'counter',
    streams((s, st) => [{ value: st.connects, labels: label(s) }]));
  metric('peregrine_source_stream_disconnects_total', 'Connections of a stream source that were up and broke, by what broke them (closed_1006, pong_timeout, econnreset, ...).', 'counter',
    streams((s, st) => [...st.disconnects].map(([reason, value]) => ({ value, labels: { ...label(s), reason } }))));
  metric('peregrine_source_stream_dial_failures_total', 'Dials of a stream source that got no connection, by reason (http_401, econnrefused, proxy_http_407, ...); each is retried on the backoff.', 'counter',
    streams((s, st) => [...st.dialFailures].map(([reason, value]) => ({ value, labels: { ...label(s), reason } }))));
  metric('peregrine_source_stream_down_seconds_total', 'Seconds a stream source has been disconnected after a connection broke, the outage going on included: what the platform sent then is lost.', 'counter',
    streams((s, st) => [{ value: st.downSeconds, labels: label(s) }]));
  metric('peregrine_source_stream_repeats_total', 'Events a stream sent again within the dedup window (after a reconnect): their alerts were not given twice.', 'counter',
    streams((s, st) => [{ value: st.repeats, labels: label(s) }]));
  metric('peregrine_source_stream_dedup_full_total', 'Alerting events let through unchecked because the dedup table was full (raise dedup_max_keys).', 'counter',
    streams((s, st) => [{ value: st.dedupFull, labels: label(s) }]));
  metric('peregrine_source_stream_paused', '1 while a stream source is not reading its socket (back-pressure: evaluation or outputs behind).', 'gauge',
    streams((s, st) => [{ value: st.paused ? 1 : 0, labels: label(s) }]));
}
