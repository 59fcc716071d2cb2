// Generates grafana/peregrine.json, the Peregrine dashboard (Grafana 10+, provisioning-
// ready: no __inputs, a Prometheus datasource variable). Edit here, then
//   npm run grafana
// test/ops/grafana.test.ts checks that the JSON is this script's output and that every
// metric it queries is exported by a running `peregrine serve`.
import { writeFileSync } from 'node:fs';

const DS = { type: 'prometheus', uid: '${datasource}' };
// Every selector: the chosen instances (replicas) and, where the metric has one, clusters.
const I = 'instance=~"$instance"';
const IC = `${I}, cluster=~"$cluster"`;
const RI = '$__rate_interval';

let nextId = 1;
let y = 0;
const panels = [];

function row(title) {
  panels.push({ type: 'row', id: nextId++, title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
  y += 1;
}

/** Panels of one line, laid out left to right with the given widths. */
function line(h, ...items) {
  let x = 0;
  for (const [w, p] of items) {
    panels.push({ ...p, id: nextId++, gridPos: { h, w, x, y } });
    x += w;
  }
  if (x > 24) throw new Error(`line wider than 24: ${items.map(([, p]) => p.title).join(', ')}`);
  y += h;
}

function targets(queries) {
  return queries.map(([expr, legendFormat], i) => ({ datasource: DS, expr, legendFormat, refId: String.fromCharCode(65 + i), range: true }));
}

function timeseries(title, description, unit, queries, extra = {}) {
  return {
    type: 'timeseries', title, description, datasource: DS,
    fieldConfig: {
      defaults: {
        unit, min: extra.min, max: extra.max,
        custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: extra.stack ? 30 : 10, showPoints: 'never', stacking: { mode: extra.stack ? 'normal' : 'none', group: 'A' } },
        ...(extra.thresholds ? { thresholds: extra.thresholds } : {}),
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
    targets: targets(queries),
  };
}

function stat(title, description, unit, expr, thresholds) {
  return {
    type: 'stat', title, description, datasource: DS,
    fieldConfig: { defaults: { unit, thresholds: thresholds ?? { mode: 'absolute', steps: [{ color: 'green', value: null }] } }, overrides: [] },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', textMode: 'auto' },
    targets: targets([[expr, '']]),
  };
}

const red = (v) => ({ mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'red', value: v }] });
const quantiles = (metric, sel, by = '') => [0.5, 0.99, 0.999].map((q) => [
  `histogram_quantile(${q}, sum by (le${by ? ', ' + by : ''}) (rate(${metric}_bucket{${sel}}[${RI}])))`,
  `p${q * 100}${by ? ` {{${by}}}` : ''}`,
]);

// ---------------------------------------------------------------- overview
row('Overview');
line(4,
  [4, stat('Events/s', 'Audit events evaluated per second (acknowledged requests), all selected clusters.', 'short', `sum(rate(peregrine_events_total{${IC}}[${RI}]))`)],
  [4, stat('Alerts/s', 'Alerts released to the outputs per second.', 'short', `sum(rate(peregrine_alerts_total{${IC}}[${RI}]))`)],
  [4, stat('Rejected requests/s', 'Requests not acknowledged (401, 4xx, 429, 503): their senders retry.', 'reqps', `sum(rate(peregrine_requests_rejected_total{${IC}}[${RI}]))`, red(0.001))],
  [4, stat('Replicas', 'Instances scraped (each reports its worker threads).', 'short', `count(peregrine_workers{${I}})`)],
  [4, stat('Outputs down', 'Outputs whose last delivery attempt failed, over all replicas. Alerts stay queued and are retried.', 'short', `count(peregrine_output_up{${I}} == 0) or vector(0)`, red(1))],
  [4, stat('Rules generation', 'Generation of the rules in force (1 at start, +1 per successful reload); differs between replicas while a reload rolls out.', 'short', `max(peregrine_rules_generation{${I}})`)],
);

// ---------------------------------------------------------------- traffic
row('Traffic by cluster');
line(8,
  [12, timeseries('Events/s by cluster', 'peregrine_events_total: events of acknowledged requests, by the cluster their credential names.', 'short',
    [[`sum by (cluster) (rate(peregrine_events_total{${IC}}[${RI}]))`, '{{cluster}}']], { stack: true })],
  [12, timeseries('Bytes/s by cluster', 'peregrine_received_bytes_total: request bodies accepted for evaluation.', 'Bps',
    [[`sum by (cluster) (rate(peregrine_received_bytes_total{${IC}}[${RI}]))`, '{{cluster}}']], { stack: true })],
);
line(8,
  [12, timeseries('Requests/s by status', 'peregrine_requests_total by HTTP status: 200 acknowledged; 429 over a limit (Retry-After); 401/4xx refused; 503 shutting down.', 'reqps',
    [[`sum by (code) (rate(peregrine_requests_total{${IC}}[${RI}]))`, '{{code}}']], { stack: true })],
  [12, timeseries('Rejected requests/s by reason', 'peregrine_requests_rejected_total: unauthorized, content_type, length_required, too_large, too_many_events, rate_limited, overloaded, cluster_share, slow_upload, upload_aborted, shutting_down, malformed, not_audit, aborted; not_found and method_not_allowed for other paths and methods.', 'reqps',
    [[`sum by (reason) (rate(peregrine_requests_rejected_total{${IC}}[${RI}]))`, '{{reason}}'],
      [`sum by (reason) (rate(peregrine_events_rejected_total{${IC}}[${RI}]))`, 'events not evaluated: {{reason}}']])],
);

line(8,
  [12, timeseries('Refused credentials by reason', 'peregrine_auth_failures_total: why 401s were given (missing, scheme, unknown_token, jwt_expired, jwt_audience, jwt_issuer, jwt_signature, jwt_lifetime, ...). The log names each reason, rate-limited.', 'reqps',
    [[`sum by (reason) (rate(peregrine_auth_failures_total{${I}}[${RI}]))`, '{{reason}}']], { stack: true })],
  [12, timeseries('mTLS handshakes not finished', 'peregrine_tls_handshake_failures_total: failed, timed out (tls.handshake_timeout_seconds) or closed as the oldest beyond tls.max_pending_handshakes.', 'short',
    [[`sum by (reason) (rate(peregrine_tls_handshake_failures_total{${I}}[${RI}]))`, '{{reason}}']], { stack: true })],
);

// ---------------------------------------------------------------- detections
row('Detections');
line(8,
  [8, timeseries('Alerts/s by rule', 'peregrine_alerts_total by rule.', 'short', [[`sum by (rule) (rate(peregrine_alerts_total{${IC}}[${RI}]))`, '{{rule}}']], { stack: true })],
  [8, timeseries('Alerts/s by priority', 'peregrine_alerts_total by priority.', 'short', [[`sum by (priority) (rate(peregrine_alerts_total{${IC}}[${RI}]))`, '{{priority}}']], { stack: true })],
  [8, {
    type: 'table', title: 'Alerts in range by rule, priority and cluster', description: 'increase(peregrine_alerts_total) over the dashboard range.', datasource: DS,
    fieldConfig: { defaults: { unit: 'short', decimals: 0 }, overrides: [] },
    options: { showHeader: true, sortBy: [{ displayName: 'Value', desc: true }] },
    transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    targets: [{ datasource: DS, expr: `sort_desc(sum by (rule, priority, cluster) (increase(peregrine_alerts_total{${IC}}[$__range])) > 0)`, format: 'table', instant: true, refId: 'A' }],
  }],
);

// ---------------------------------------------------------------- latency
row('Latency');
line(8,
  [12, timeseries('Request latency (200)', 'peregrine_request_duration_seconds of acknowledged requests: headers received to acknowledgement sent, which includes evaluating every event. Keep p99 well under the apiserver\'s 30 s webhook timeout.', 's',
    quantiles('peregrine_request_duration_seconds', `${IC}, code="200"`))],
  [12, timeseries('Detection latency by output', 'peregrine_detection_latency_seconds: event stageTimestamp to alert written by the output. Includes the apiserver\'s batching (up to --audit-webhook-batch-max-wait, 30 s by default).', 's',
    quantiles('peregrine_detection_latency_seconds', I, 'output'))],
);
line(8,
  [12, timeseries('Queue wait', 'peregrine_queue_wait_seconds: an evaluation task queued until a worker starts it.', 's', quantiles('peregrine_queue_wait_seconds', I))],
  [12, timeseries('Task evaluation time', 'peregrine_task_evaluation_seconds: one task (about limits.task_bytes of events) in a worker.', 's', quantiles('peregrine_task_evaluation_seconds', I))],
);

// ---------------------------------------------------------------- capacity
row('Capacity and back-pressure');
line(8,
  [8, timeseries('Worker utilisation', 'Share of worker time spent evaluating (rate of peregrine_task_evaluation_seconds_sum ÷ peregrine_workers), and workers busy at scrape time. Near 1: add replicas.', 'percentunit',
    [[`sum by (instance) (rate(peregrine_task_evaluation_seconds_sum{${I}}[${RI}])) / sum by (instance) (peregrine_workers{${I}})`, 'evaluating {{instance}}'],
      [`sum by (instance) (peregrine_workers_busy{${I}}) / sum by (instance) (peregrine_workers{${I}})`, 'busy now {{instance}}']], { min: 0, max: 1 })],
  [8, timeseries('Queue depth and requests in flight', 'peregrine_queue_depth (tasks submitted, not finished; limit limits.max_queued_tasks) and peregrine_inflight_requests (accepted, not yet answered).', 'short',
    [[`sum by (instance) (peregrine_queue_depth{${I}})`, 'tasks {{instance}}'], [`sum by (instance) (peregrine_inflight_requests{${I}})`, 'requests {{instance}}']])],
  [8, timeseries('Bodies in flight', 'peregrine_inflight_bytes: buffers of bodies accepted and not yet answered; beyond limits.max_inflight_bytes requests get 429. peregrine_inflight_cluster_bytes: per cluster, each held to its share.', 'bytes',
    [[`sum by (instance) (peregrine_inflight_bytes{${I}})`, '{{instance}}'], [`sum by (cluster) (peregrine_inflight_cluster_bytes{${I}})`, 'cluster {{cluster}}']])],
);
line(8,
  [8, timeseries('Alert ring occupancy', 'peregrine_ring_occupancy_ratio per worker ring. Full rings mean the outputs are not keeping up.', 'percentunit',
    [[`max by (instance, ring) (peregrine_ring_occupancy_ratio{${I}})`, '{{instance}} ring {{ring}}']], { min: 0, max: 1 })],
  [8, timeseries('Workers blocked on full rings', 'rate(peregrine_worker_ring_wait_seconds_total): seconds per second workers waited for ring space.', 'percentunit',
    [[`sum by (instance) (rate(peregrine_worker_ring_wait_seconds_total{${I}}[${RI}]))`, '{{instance}}']])],
  [8, timeseries('Worker throughput', 'What workers evaluated, including events of requests that were then rejected (malformed): peregrine_worker_events_total, _tasks_total, _alerts_total.', 'short',
    [[`sum by (instance) (rate(peregrine_worker_events_total{${I}}[${RI}]))`, 'events/s {{instance}}'],
      [`sum by (instance) (rate(peregrine_worker_tasks_total{${I}}[${RI}]))`, 'tasks/s {{instance}}'],
      [`sum by (instance) (rate(peregrine_worker_alerts_total{${I}}[${RI}]))`, 'alerts/s {{instance}}']])],
);

// ---------------------------------------------------------------- outputs
row('Outputs');
line(8,
  [6, timeseries('Output up', 'peregrine_output_up: 1 when the output\'s last delivery attempt succeeded.', 'short',
    [[`min by (output) (peregrine_output_up{${I}})`, '{{output}}']], { min: 0, max: 1 })],
  [6, timeseries('Delivered, failed (retried), refused', 'peregrine_output_delivered_total, _failures_total (each failure is retried with backoff), _refused_total (4xx: not retried).', 'short',
    [[`sum by (output) (rate(peregrine_output_delivered_total{${I}}[${RI}]))`, 'delivered {{output}}'],
      [`sum by (output) (rate(peregrine_output_failures_total{${I}}[${RI}]))`, 'retries {{output}}'],
      [`sum by (output) (rate(peregrine_output_refused_total{${I}}[${RI}]))`, 'refused {{output}}']])],
  [6, timeseries('Output queue', 'peregrine_output_queued_bytes (in memory, bounded by outputs.buffer_bytes; at the bound evaluation pauses and requests get 429; for an output sent from the spool, on disk) and peregrine_output_queued_alerts.', 'bytes',
    [[`sum by (output) (peregrine_output_queued_bytes{${I}})`, 'bytes {{output}}']])],
  [6, timeseries('Alerts discarded', 'peregrine_alerts_discarded_total: alerts of requests that were not acknowledged (malformed, aborted): by design, the sender retries them.', 'short',
    [[`sum(rate(peregrine_alerts_discarded_total{${I}}[${RI}]))`, 'discarded/s'], [`sum by (output) (peregrine_output_queued_alerts{${I}})`, 'queued {{output}}']])],
);

// ---------------------------------------------------------------- spool
row('Spool (outputs.spool_dir)');
line(8,
  [6, timeseries('Spool fill', 'peregrine_spool_bytes against peregrine_spool_max_bytes (outputs.spool_max_bytes): alerts for network outputs kept on disk until every one delivered them. At the bound new requests get 429.', 'bytes',
    [[`sum by (instance) (peregrine_spool_bytes{${I}})`, '{{instance}}'], [`max(peregrine_spool_max_bytes{${I}})`, 'bound']])],
  [6, timeseries('Spooled and committed', 'rate(peregrine_spool_appended_alerts_total): alerts written to the spool; rate(peregrine_spool_commits_total): group commits (one write + fdatasync each, for every request that finished meanwhile).', 'short',
    [[`sum by (instance) (rate(peregrine_spool_appended_alerts_total{${I}}[${RI}]))`, 'alerts/s {{instance}}'],
      [`sum by (instance) (rate(peregrine_spool_commits_total{${I}}[${RI}]))`, 'commits/s {{instance}}']])],
  [6, timeseries('Commit latency', 'peregrine_spool_commit_seconds: one group commit (write + fdatasync); a request with alerts is acknowledged after the commit that holds them.', 's',
    quantiles('peregrine_spool_commit_seconds', I))],
  [6, timeseries('Full, write errors, damage', 'peregrine_spool_full (1: requests get 429), peregrine_spool_write_errors_total (retried), peregrine_spool_damaged_records_total and _damaged_bytes_total (records cut by a crash or failing their checksum, each reported on stderr), peregrine_spool_segments.', 'short',
    [[`max by (instance) (peregrine_spool_full{${I}})`, 'full {{instance}}'],
      [`sum by (instance) (increase(peregrine_spool_write_errors_total{${I}}[${RI}]))`, 'write errors {{instance}}'],
      [`sum by (instance) (increase(peregrine_spool_damaged_records_total{${I}}[${RI}]))`, 'damaged records {{instance}}'],
      [`sum by (instance) (increase(peregrine_spool_damaged_bytes_total{${I}}[${RI}]))`, 'damaged bytes {{instance}}'],
      [`sum by (instance) (peregrine_spool_segments{${I}})`, 'segments {{instance}}']])],
);

// ---------------------------------------------------------------- followed files
const S = `${I}, cluster=~"$cluster"`;
row('Followed audit log files (and streams)');
line(8,
  [5, timeseries('Lines/s by source', 'peregrine_source_lines_total and peregrine_source_read_bytes_total: what each followed file (sources, --follow) yields; its events count in the cluster traffic above.', 'short',
    [[`sum by (source) (rate(peregrine_source_lines_total{${S}}[${RI}]))`, 'lines/s {{source}}'],
      [`sum by (source) (rate(peregrine_source_read_bytes_total{${S}}[${RI}])) / 1024`, 'KiB/s {{source}}']])],
  [5, timeseries('Lag (seconds)', 'peregrine_source_lag_seconds: now minus the stageTimestamp of the last event evaluated; 0 when everything written was read.', 's',
    [[`max by (source) (peregrine_source_lag_seconds{${S}})`, '{{source}}']], { thresholds: red(1) })],
  [5, timeseries('Lag (bytes)', 'peregrine_source_lag_bytes: bytes written to the file (and its unread backups) not read yet.', 'bytes',
    [[`max by (source) (peregrine_source_lag_bytes{${S}})`, '{{source}}']])],
  [5, timeseries('Bad lines, rotations, truncations', 'peregrine_source_bad_lines_total by reason (each on stderr as path:line: reason), peregrine_source_rotations_total, peregrine_source_truncations_total.', 'short',
    [[`sum by (reason) (increase(peregrine_source_bad_lines_total{${S}}[${RI}]))`, 'bad: {{reason}}'],
      [`sum by (source) (increase(peregrine_source_rotations_total{${S}}[${RI}]))`, 'rotations {{source}}'],
      [`sum by (source) (increase(peregrine_source_truncations_total{${S}}[${RI}]))`, 'truncations {{source}}']])],
  [4, timeseries('Checkpoint age, source up', 'peregrine_source_checkpoint_age_seconds: how far the saved position is behind (what a kill -9 would read again); peregrine_source_up: 0 while a source waits after an error (see /readyz).', 's',
    [[`max by (source) (peregrine_source_checkpoint_age_seconds{${S}})`, 'age {{source}}'],
      [`min by (source) (peregrine_source_up{${S}})`, 'up {{source}}']])],
);

row('Log platform streams (ldp)');
line(8,
  [6, timeseries('Stream connections', 'peregrine_source_stream_connects_total; peregrine_source_stream_disconnects_total by what broke a connection that was up (closed_1006, pong_timeout, ...); peregrine_source_stream_dial_failures_total by why a redial got no connection (http_401, econnrefused, proxy_http_407, ...), each retried on a backoff.', 'short',
    [[`sum by (source) (increase(peregrine_source_stream_connects_total{${S}}[${RI}]))`, 'connects {{source}}'],
      [`sum by (reason) (increase(peregrine_source_stream_disconnects_total{${S}}[${RI}]))`, 'disconnects: {{reason}}'],
      [`sum by (reason) (increase(peregrine_source_stream_dial_failures_total{${S}}[${RI}]))`, 'failed dials: {{reason}}']])],
  [6, timeseries('Time the stream was down', 'rate(peregrine_source_stream_down_seconds_total): what the platform sent while the stream was down is lost (LDP keeps no position).', 'percentunit',
    [[`sum by (source) (rate(peregrine_source_stream_down_seconds_total{${S}}[${RI}]))`, '{{source}}']], { thresholds: red(0.001) })],
  [6, timeseries('Repeats dropped', 'peregrine_source_stream_repeats_total: events sent again within the dedup window, whose alerts were not given twice; peregrine_source_stream_dedup_full_total: alerting events let through because the table was full.', 'short',
    [[`sum by (source) (increase(peregrine_source_stream_repeats_total{${S}}[${RI}]))`, 'repeats {{source}}'],
      [`sum by (source) (increase(peregrine_source_stream_dedup_full_total{${S}}[${RI}]))`, 'table full {{source}}']])],
  [6, timeseries('Reading paused', 'peregrine_source_stream_paused: 1 while the socket is not read because evaluation or the outputs are behind (TCP pushes back to the platform).', 'short',
    [[`max by (source) (peregrine_source_stream_paused{${S}})`, '{{source}}']], { min: 0, max: 1 })],
);

// ---------------------------------------------------------------- process
row('Process');
line(8,
  [6, timeseries('Memory', 'Resident memory and the main thread\'s JS heap per replica.', 'bytes',
    [[`peregrine_process_process_resident_memory_bytes{${I}}`, 'RSS {{instance}}'], [`peregrine_process_nodejs_heap_size_used_bytes{${I}}`, 'heap {{instance}}'],
      [`peregrine_process_nodejs_external_memory_bytes{${I}}`, 'external {{instance}}']])],
  [6, timeseries('CPU', 'CPU seconds per second (all threads) per replica.', 'short', [[`rate(peregrine_process_process_cpu_seconds_total{${I}}[${RI}])`, '{{instance}}']])],
  [6, timeseries('Event loop lag (main thread)', 'p99 event loop delay of the main thread (HTTP, splitting, outputs).', 's', [[`peregrine_process_nodejs_eventloop_lag_p99_seconds{${I}}`, '{{instance}}']])],
  [6, timeseries('Rules reloads', 'peregrine_rules_reloads_total by result; an error keeps the running rules (see /readyz last_reload_error). Compiles per worker: peregrine_worker_rule_compiles_total.', 'short',
    [[`sum by (result) (increase(peregrine_rules_reloads_total{${I}}[${RI}]))`, '{{result}}'],
      [`sum(increase(peregrine_worker_rule_compiles_total{${I}}[${RI}]))`, 'worker compiles']])],
);

const dashboard = {
  uid: 'peregrine-serve',
  title: 'Peregrine',
  description: 'peregrine serve: Kubernetes audit webhook traffic and followed audit log files per cluster, detections, latency, back-pressure and outputs.',
  tags: ['peregrine', 'kubernetes', 'audit', 'falco'],
  editable: true,
  graphTooltip: 1,
  schemaVersion: 39,
  version: 1,
  refresh: '30s',
  time: { from: 'now-1h', to: 'now' },
  timepicker: {},
  timezone: '',
  links: [],
  annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
  templating: {
    list: [
      { name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1, regex: '', includeAll: false, multi: false },
      {
        name: 'instance', label: 'Replica', type: 'query', datasource: DS, query: { query: 'label_values(peregrine_workers, instance)', refId: 'instance' },
        definition: 'label_values(peregrine_workers, instance)', refresh: 2, includeAll: true, multi: true, allValue: '.*', current: {}, hide: 0, sort: 1, regex: '',
      },
      {
        name: 'cluster', label: 'Cluster', type: 'query', datasource: DS, query: { query: 'label_values(peregrine_events_total{instance=~"$instance"}, cluster)', refId: 'cluster' },
        definition: 'label_values(peregrine_events_total{instance=~"$instance"}, cluster)', refresh: 2, includeAll: true, multi: true, allValue: '.*', current: {}, hide: 0, sort: 1, regex: '',
      },
    ],
  },
  panels,
};

export default dashboard;

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const out = new URL('./peregrine.json', import.meta.url);
  writeFileSync(out, JSON.stringify(dashboard, null, 2) + '\n');
  console.log(`wrote ${out.pathname} (${panels.filter((p) => p.type !== 'row').length} panels)`);
}
