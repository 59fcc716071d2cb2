// Load tests of `peregrine serve`, run the way users run it: authenticated clusters
// posting apiserver-style EventList batches over loopback, alerts to a file and to an
// HTTP receiver, every figure next to baselines measured in the same run.
//
//   npm run load                                   # every scenario, short (~1 min)
//   npm run load -- --scenario fanin --duration 60
//   npm run load -- --scenario soak --duration 600 --json soak.json
//   npm run load -- --update-readme                # rewrite the figures in load-tests/README.md
//   npm run load -- --spool                        # the cost of outputs.spool_dir: with and without, same run
//
// Scenarios: one (one cluster), fanin (many clusters, own tokens, batch sizes 1-400),
// overload (past capacity: 429s, bounded memory, nothing lost), soak (a steady rate
// for minutes; RSS and latency over time). See load-tests/README.md. With --spool, the
// chosen scenarios (default one and fanin) run in pairs, without and with
// outputs.spool_dir, in alternating order, and the report is the ratio of their
// events/s and the request latency the spool adds.
import { updateReadmeSection } from './lib/readme.mjs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { rng } from '../native-bench/corpus.mjs';
import { BodyBuilder, PoolEvent, generatePool, keyMillis } from './corpus.mjs';
import { CLI, ProcSampler, ROOT, machineBusy, runScan, startBare, startServe } from './lib/proc.mjs';
import { Ledger, runSenders } from './lib/sender.mjs';
import { AlertSink } from './lib/sink.mjs';
import { histogramQuantile, parseProm, percentiles, slope, sumOf } from './lib/stats.mjs';
import { verifyRun } from './lib/verify.mjs';

const SCENARIOS = ['one', 'fanin', 'overload', 'soak'];
const DEFAULT_SECONDS = { one: 5, fanin: 6, overload: 6, soak: 10 };
const MAX_SECONDS = 3600;

const USAGE = `Usage: npm run load -- [options]
  --scenario S       one, fanin, overload, soak or all (default all; repeatable)
  --duration N       seconds of load for every scenario, or per scenario: one=10,soak=300
                     (default: one ${DEFAULT_SECONDS.one}, fanin ${DEFAULT_SECONDS.fanin}, overload ${DEFAULT_SECONDS.overload}, soak ${DEFAULT_SECONDS.soak}; at most ${MAX_SECONDS})
  --baseline-duration N  seconds of each bare-receiver baseline (default: min(duration, 5))
  --max-requests N   stop sending after N requests per run (default 500000)
  --clusters N       clusters in fanin (default 50) and soak (default 10)
  --inflight SIZE    overload: serve's limits.max_inflight_bytes (default 24MiB)
  --overload-connections N  overload: connections per cluster, 4 clusters (default 16)
  --connections N    connections in one (default 4)
  --rate N           soak: events/s offered (default: half the capacity measured by one)
  --workers N        serve's worker threads (default: its own, one per core)
  --rules FILE       rules for serve and scan (repeatable; default: the bundled rules)
  --pool N           distinct events in the corpus (default 10000)
  --scan-events N    events in the peregrine scan baseline (default 60000)
  --seed N           corpus seed (default 7)
  --json FILE        write every figure as JSON
  --update-readme    rewrite the results section of load-tests/README.md
  --keep             keep the temporary directory (configs, alert files)
  --spool            measure outputs.spool_dir: each scenario (default one and fanin) without
                     and with a spool, --spool-rounds pairs in alternating order
  --spool-rounds N   pairs per scenario with --spool (default 3)`;

// ---------------------------------------------------------------- options

function options() {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', multiple: true },
      duration: { type: 'string' },
      'baseline-duration': { type: 'string' },
      'max-requests': { type: 'string' },
      clusters: { type: 'string' },
      inflight: { type: 'string' },
      'overload-connections': { type: 'string' },
      connections: { type: 'string' },
      rate: { type: 'string' },
      workers: { type: 'string' },
      rules: { type: 'string', multiple: true },
      pool: { type: 'string' },
      'scan-events': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'string' },
      'update-readme': { type: 'boolean' },
      keep: { type: 'boolean' },
      spool: { type: 'boolean' },
      'spool-rounds': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (k, def, min = 1, max = Number.MAX_SAFE_INTEGER) => {
    if (values[k] === undefined) return def;
    const n = Number(values[k]);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${k}: expected an integer from ${min} to ${max}`);
    return n;
  };
  let scenarios = (values.scenario ?? [values.spool ? 'one,fanin' : 'all']).flatMap((s) => s.split(','));
  if (scenarios.includes('all')) scenarios = SCENARIOS;
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`--scenario: unknown '${s}' (${SCENARIOS.join(', ')}, all)`);
  const durations = {};
  for (const part of (values.duration ?? '').split(',').filter((x) => x !== '')) {
    const [k, v] = part.includes('=') ? part.split('=') : [undefined, part];
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > MAX_SECONDS) throw new Error(`--duration: expected seconds from 1 to ${MAX_SECONDS}, got '${part}'`);
    if (k !== undefined && !SCENARIOS.includes(k)) throw new Error(`--duration: unknown scenario '${k}'`);
    for (const s of k === undefined ? SCENARIOS : [k]) durations[s] = n;
  }
  return {
    scenarios,
    durations,
    baselineDuration: int('baseline-duration', undefined, 1, MAX_SECONDS),
    maxRequests: int('max-requests', 500_000),
    clusters: int('clusters', undefined, 1, 1000),
    inflight: values.inflight ?? '24MiB',
    overloadConnections: int('overload-connections', 16, 1, 256),
    connections: int('connections', 4, 1, 512),
    rate: int('rate', undefined, 1),
    workers: int('workers', undefined, 1, 256),
    rules: (values.rules ?? []).map((r) => join(process.cwd(), r)),
    pool: int('pool', 10_000, 400),
    scanEvents: Math.max(int('scan-events', 60_000, 1000), int('pool', 10_000, 400)),
    seed: int('seed', 7),
    json: values.json,
    updateReadme: values['update-readme'] ?? false,
    keep: values.keep ?? false,
    spool: values.spool ?? false,
    spoolRounds: int('spool-rounds', 3, 1, 50),
  };
}

// ---------------------------------------------------------------- formatting

const n0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const n1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const n2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const mib = (b) => (Number.isFinite(b) ? `${Math.round(b / 2 ** 20)} MiB` : '–');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${n2(a / b)}×` : '–');

function machine() {
  const c = cpus();
  let os = release();
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch { /* not Linux */ }
  return {
    cpu: c[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown', cores: c.length,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`, os, node: process.version,
  };
}

// ---------------------------------------------------------------- corpus and scan baseline

/**
 * Runs `peregrine scan` over the pool repeated to `events` events (EventList lines of
 * 400): the expected alerts of every pool event, and the offline baseline figures.
 */
async function scanBaseline(dir, pool, o) {
  const lines = [];
  const indexOf = new Map();
  let line = 0;
  const builder = new BodyBuilder(pool, { now: () => Date.UTC(2026, 0, 1) + line * 10 });
  for (let done = 0; done < o.scanEvents; line++) {
    const start = done % pool.length;
    const n = Math.min(400, pool.length - start, o.scanEvents - done);
    const b = builder.build(start, n);
    lines.push(b.body);
    for (let i = 0; i < n; i++) indexOf.set(b.key(i), start + i);
    done += n;
  }
  const file = join(dir, 'scan-corpus.jsonl');
  writeFileSync(file, Buffer.concat(lines.flatMap((b) => [b, Buffer.from('\n')])));
  const bytes = lines.reduce((s, b) => s + b.length + 1, 0);
  const tiny = join(dir, 'scan-one-event.jsonl');
  writeFileSync(tiny, Buffer.concat([new BodyBuilder(pool).build(0, 1).body, Buffer.from('\n')]));
  const input = { dir, file, tiny, bytes, events: o.scanEvents };
  const { r, ...figures } = await scanThroughput(input, o);
  const perIndex = new Map();
  for (const l of r.lines) {
    const a = JSON.parse(l);
    const i = indexOf.get(a.time);
    if (i === undefined) throw new Error(`peregrine scan: alert for an unknown event time ${a.time}`);
    perIndex.set(i, [...(perIndex.get(i) ?? []), { key: a.time, rule: a.rule }]);
  }
  // The first occurrence of each pool event decides; later repetitions must agree.
  const first = new Map();
  let inconsistent = 0;
  for (const [key, i] of indexOf) {
    const rules = (perIndex.get(i) ?? []).filter((a) => a.key === key).map((a) => a.rule).sort().join('\n');
    if (!first.has(i)) first.set(i, rules);
    else if (first.get(i) !== rules) inconsistent++;
  }
  for (const [i, rules] of first) pool[i].expected = rules === '' ? [] : rules.split('\n');
  return {
    ...figures, inconsistent, alertingPoolEvents: pool.filter((e) => e.expected.length > 0).length,
    input,
  };
}

/**
 * One timed `peregrine scan` of the baseline corpus (its start-up, measured on a
 * one-event file, subtracted). Run again next to every scenario: on a noisy machine a
 * baseline is only worth what it shares with the figure it is compared with.
 */
async function scanThroughput(input, o) {
  const startup = await runScan(input.dir, [input.tiny], o.rules);
  const r = await runScan(input.dir, [input.file], o.rules);
  if (r.code !== 0) throw new Error(`peregrine scan exited ${r.code}: ${r.stderr}`);
  const seconds = Math.max(1e-3, r.wall - startup.wall);
  return {
    r, events: input.events, bytes: input.bytes, alerts: r.lines.length, wall: r.wall, startup: startup.wall,
    eventsPerSecond: input.events / seconds, mbPerSecond: input.bytes / seconds / 1e6, peakRss: r.peakRss, avgCores: r.cpuSeconds / r.wall,
  };
}

// ---------------------------------------------------------------- scenarios

/** Clusters with tokens on disk, for serve's auth.tokens. */
function makeClusters(dir, names) {
  return names.map((cluster) => {
    const token = randomBytes(24).toString('hex');
    const file = join(dir, `token-${cluster}`);
    writeFileSync(file, token + '\n', { mode: 0o600 });
    return { cluster, token, file };
  });
}

const clusterName = (prefix, i, n) => `${prefix}-${String(i + 1).padStart(String(n).length, '0')}`;

/** Scenario definitions: clusters and their senders; serve limits; durations. */
function scenario(name, o, ctx) {
  const seconds = o.durations[name] ?? DEFAULT_SECONDS[name];
  const poolLen = ctx.pool.length;
  switch (name) {
    case 'one': {
      const [c] = makeClusters(ctx.dir, ['prod']);
      return {
        name, seconds, clusters: [c],
        describe: `1 cluster, ${o.connections} connections, 400-event batches, closed loop`,
        specs: (r) => [{ ...c, connections: o.connections, batch: () => 400, start: () => Math.floor(r() * poolLen) }],
      };
    }
    case 'fanin': {
      const n = o.clusters ?? 50;
      const cs = makeClusters(ctx.dir, Array.from({ length: n }, (_, i) => clusterName('c', i, n)));
      // An apiserver in batch mode sends 400 events when busy, or what gathered in
      // --audit-webhook-batch-max-wait (30 s) when not: busy, medium and quiet clusters.
      const busy = Math.max(1, Math.round(n * 0.2));
      const medium = Math.round(n * 0.4);
      return {
        name, seconds, clusters: cs,
        describe: `${n} clusters with their own tokens, 1 connection each: ${busy} busy (400-event batches, closed loop), `
          + `${medium} medium (50-399 events, 4 req/s), ${n - busy - medium} quiet (1-49 events, 2 req/s)`,
        specs: (r) => cs.map((c, i) => {
          const kind = i < busy ? 'busy' : i < busy + medium ? 'medium' : 'quiet';
          const batch = kind === 'busy' ? () => 400 : kind === 'medium' ? () => 50 + Math.floor(r() * 350) : () => 1 + Math.floor(r() * 49);
          return { ...c, connections: 1, rate: kind === 'busy' ? undefined : kind === 'medium' ? 4 : 2, batch, start: () => Math.floor(r() * poolLen) };
        }),
      };
    }
    case 'overload': {
      const cs = makeClusters(ctx.dir, ['burst-a', 'burst-b', 'burst-c', 'burst-d']);
      return {
        name, seconds, clusters: cs, timeline: true,
        describe: `4 clusters × ${o.overloadConnections} connections, 400-event batches, closed loop, retrying at once after a 429 `
          + `(harsher than an apiserver, which waits Retry-After); limits.max_inflight_bytes ${o.inflight}`,
        limits: { max_inflight_bytes: o.inflight },
        specs: (r) => cs.map((c) => ({ ...c, connections: o.overloadConnections, batch: () => 400, start: () => Math.floor(r() * poolLen) })),
      };
    }
    case 'soak': {
      const n = o.clusters ?? 10;
      const cs = makeClusters(ctx.dir, Array.from({ length: n }, (_, i) => clusterName('soak', i, n)));
      const rate = o.rate ?? ctx.capacity / 2;
      const perConn = Math.max(1, Math.round(rate / 400 / n));
      return {
        name, seconds, clusters: cs, timeline: true,
        describe: `${n} clusters, 1 connection each, 400-event batches at ${perConn} req/s each `
          + `(${n0(perConn * 400 * n)} events/s offered${o.rate ? '' : ', half of the capacity measured in this run'})`,
        specs: (r) => cs.map((c) => ({ ...c, connections: 1, rate: perConn, batch: () => 400, start: () => Math.floor(r() * poolLen) })),
      };
    }
    default:
      throw new Error(name);
  }
}

function latencyStats(ledger) {
  const ok = ledger.requests.filter((r) => r.status === 200).map((r) => r.latency);
  const p = percentiles(ok);
  return { count: ok.length, p50: p[50], p99: p[99], p999: p[99.9] };
}

function statusCounts(ledger) {
  const c = {};
  for (const r of ledger.requests) c[r.status === 0 ? 'none' : r.status] = (c[r.status === 0 ? 'none' : r.status] ?? 0) + 1;
  return c;
}

async function waitIdle(srv, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = parseProm(await srv.scrape());
    const busy = sumOf(s, 'peregrine_inflight_requests') + sumOf(s, 'peregrine_queue_depth') + sumOf(s, 'peregrine_output_queued_alerts');
    if (busy === 0 || Date.now() > until) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readAlertFile(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    const a = JSON.parse(l);
    return { key: a.time, rule: a.rule };
  });
}

/** One timeline row per interval: requests answered, events/s, latency, RSS, CPU. */
function timeline(ledger, started, samples, scraped, seconds, rows = 12) {
  const step = Math.max(1, Math.round(seconds / rows));
  const out = [];
  for (let from = 0; from < seconds; from += step) {
    const to = Math.min(seconds, from + step);
    const in_ = ledger.requests.filter((r) => r.t1 > 0 && (r.t1 - started) / 1000 >= from && (r.t1 - started) / 1000 < to);
    const ok = in_.filter((r) => r.status === 200);
    const p = percentiles(ok.map((r) => r.latency), [50, 99]);
    const s = samples.filter((x) => x.t >= from && x.t < to);
    const m = scraped.filter((x) => x.t >= from && x.t < to);
    const max = (xs, k) => (xs.length ? Math.max(...xs.map((x) => x[k])) : NaN);
    out.push({
      from, to, answered: in_.length, rejected: in_.length - ok.length,
      eventsPerSecond: ok.reduce((a, r) => a + r.events, 0) / (to - from), p50: p[50], p99: p[99],
      rss: max(s, 'rss'), cores: s.length ? s.reduce((a, x) => a + x.cpu, 0) / s.length : NaN,
      heap: max(m, 'heap'), external: max(m, 'external'), inflight: max(m, 'inflight'),
    });
  }
  return out;
}

async function runServeScenario(sc, o, ctx, variant = {}) {
  const sink = await AlertSink.start();
  const alertFile = join(ctx.dir, `alerts-${sc.name}${variant.spoolDir ? '-spool' : ''}.jsonl`);
  rmSync(alertFile, { force: true });
  const config = {
    listen: '127.0.0.1:0',
    metrics_listen: '127.0.0.1:0',
    ...(o.workers ? { workers: o.workers } : {}),
    rules: { ...(o.rules.length ? { files: o.rules } : {}), watch: false },
    auth: { tokens: sc.clusters.map((c) => ({ cluster: c.cluster, file: c.file })) },
    ...(sc.limits ? { limits: sc.limits } : {}),
    outputs: { file: { path: alertFile }, http: { url: sink.url, concurrency: 4 }, ...(variant.spoolDir ? { spool_dir: variant.spoolDir } : {}) },
  };
  const srv = await startServe(ctx.dir, config);
  const sampler = new ProcSampler(srv.proc.pid, 250);
  const idleRss = sampler.samples[0]?.rss;
  const ledger = new Ledger();
  const cpu0 = process.cpuUsage();
  const busy0 = machineBusy();
  // The server's own view, once a second: what a Prometheus scrape would see.
  const scraped = [];
  const poll = setInterval(() => {
    srv.scrape().then((text) => {
      const s = parseProm(text);
      scraped.push({
        t: (performance.now() - sampler.t0) / 1000,
        heap: sumOf(s, 'peregrine_process_nodejs_heap_size_used_bytes'),
        external: sumOf(s, 'peregrine_process_nodejs_external_memory_bytes'),
        inflight: sumOf(s, 'peregrine_inflight_bytes'),
      });
    }, () => {});
  }, 1000);
  const t = await runSenders(srv.webhook, sc.specs(rng(o.seed + 1)), new BodyBuilder(ctx.pool), ledger,
    { durationSeconds: sc.seconds, maxRequests: o.maxRequests });
  const gen = process.cpuUsage(cpu0);
  const busy1 = machineBusy();
  clearInterval(poll);
  const usage = sampler.stop();
  const samples = await waitIdle(srv);
  const ready = await srv.ready();
  const exit = await srv.stop();
  const fileAlerts = readAlertFile(alertFile);
  const sinkAlerts = await sink.take();
  await sink.close();

  const v = verifyRun(ledger, { file: fileAlerts, http: sinkAlerts }, samples);
  if (exit !== 0) v.failures.push(`serve exited ${exit} after SIGTERM`);
  if (ready.status !== 200) v.failures.push(`/readyz answered ${ready.status} after the run: ${JSON.stringify(ready.body.reasons)}`);
  // Overload: the server must have said 429 (the offered load exceeded its limits), and
  // its memory must level off: the highest RSS of the last third of the run within 15 %
  // of the highest of the middle third (the first third is warm-up: V8 grows its heaps
  // for the first ~30 s). Judged on runs of 60 s or more; shorter ones end too close to
  // start-up to say.
  let memoryFlat;
  if (sc.name === 'overload') {
    if (!ledger.requests.some((r) => r.status === 429)) v.failures.push('no 429 answer: the offered load did not exceed the limits');
    const inWindow = (a, b) => usage.samples.filter((x) => x.t >= a * sc.seconds && x.t < b * sc.seconds).map((x) => x.rss);
    const middle = Math.max(0, ...inWindow(1 / 3, 2 / 3));
    const late = Math.max(0, ...inWindow(2 / 3, 1.01));
    memoryFlat = sc.seconds >= 60 ? { middle, late, growth: late / middle - 1 } : undefined;
    if (memoryFlat && memoryFlat.growth > 0.15) v.failures.push(`RSS kept growing under overload: ${mib(middle)} in the middle third, ${mib(late)} in the last third`);
  }
  v.ok = v.failures.length === 0;

  const elapsed = (t.ended - t.started) / 1000;
  const acked = ledger.requests.filter((r) => r.status === 200);
  const ackedEvents = acked.reduce((s, r) => s + r.events, 0);
  const ackedBytes = acked.reduce((s, r) => s + r.bytes, 0);
  const detection = sinkAlerts.filter((a) => ledger.byKey.get(a.key)?.rec.status === 200).map((a) => a.at - keyMillis(a.key));
  const det = percentiles(detection, [50, 99]);
  const rss = usage.samples.map((s) => s.rss);
  const half = Math.floor(rss.length / 2);
  const result = {
    scenario: sc.name, describe: sc.describe, seconds: sc.seconds, elapsed,
    requests: ledger.requests.length, statuses: statusCounts(ledger), errors: t.errors, timeouts: t.timeouts,
    ackedEvents, eventsPerSecond: ackedEvents / elapsed, requestsPerSecond: acked.length / elapsed, mbPerSecond: ackedBytes / elapsed / 1e6,
    latency: latencyStats(ledger),
    detection: { count: detection.length, p50: det[50], p99: det[99], serverP99File: histogramQuantile(samples, 'peregrine_detection_latency_seconds', 0.99, { output: 'file' }) * 1000 },
    memoryFlat,
    serve: { idleRss, peakRss: usage.peakRss, avgCores: usage.avgCores, mainCores: usage.mainCores, maxCores: usage.maxCores, rssFirstHalf: Math.max(0, ...rss.slice(0, half)), rssSecondHalf: Math.max(0, ...rss.slice(half)) },
    generator: { avgCores: (gen.user + gen.system) / 1e6 / ((performance.now() - t.started) / 1000) },
    // CPU that neither the server nor this process used meanwhile (other users of the machine).
    otherCores: Math.max(0, (busy1 - busy0 - (gen.user + gen.system) / 1e6) / ((performance.now() - t.started) / 1000) - usage.avgCores),
    // Share of the acknowledged requests that carried alerts (with a spool, each waits for a commit).
    ledgerWithAlerts: acked.filter((r) => r.alerts > 0).length / Math.max(1, acked.length),
    verify: { ok: v.ok, failures: v.failures, outputs: v.outputs, clusters: v.clusters },
  };
  if (variant.spoolDir) {
    result.spool = {
      appended: sumOf(samples, 'peregrine_spool_appended_alerts_total'), commits: sumOf(samples, 'peregrine_spool_commits_total'),
      commitP50: histogramQuantile(samples, 'peregrine_spool_commit_seconds', 0.5) * 1000,
      commitP99: histogramQuantile(samples, 'peregrine_spool_commit_seconds', 0.99) * 1000,
      damaged: sumOf(samples, 'peregrine_spool_damaged_records_total'),
    };
  }
  if (sc.timeline) {
    result.timeline = timeline(ledger, t.started, usage.samples, scraped, sc.seconds);
    const second = usage.samples.filter((s) => s.t >= sc.seconds / 2 && s.t <= sc.seconds);
    result.rssSlopeMiBPerMin = slope(second.map((s) => s.t), second.map((s) => s.rss)) * 60 / 2 ** 20;
  }
  return result;
}

async function runBareScenario(sc, o, ctx) {
  const bare = await startBare();
  const sampler = new ProcSampler(bare.proc.pid, 250);
  const ledger = new Ledger();
  const seconds = o.baselineDuration ?? Math.min(sc.seconds, 5);
  const t = await runSenders(bare.webhook, sc.specs(rng(o.seed + 1)).map((s) => ({ ...s, checkBody: false })), new BodyBuilder(ctx.pool), ledger,
    { durationSeconds: seconds, maxRequests: o.maxRequests });
  const usage = sampler.stop();
  await bare.stop();
  const elapsed = (t.ended - t.started) / 1000;
  const acked = ledger.requests.filter((r) => r.status === 200);
  return {
    seconds, requestsPerSecond: acked.length / elapsed, eventsPerSecond: acked.reduce((s, r) => s + r.events, 0) / elapsed,
    latency: latencyStats(ledger), peakRss: usage.peakRss, avgCores: usage.avgCores,
  };
}

// ---------------------------------------------------------------- report

function printScenario(r) {
  const scan = r.scan;
  const b = r.bare;
  const L = (x) => `${n1(x.p50)} / ${n1(x.p99)} / ${n1(x.p999)}`;
  console.log(`\n== ${r.scenario} (${r.seconds} s): ${r.describe}`);
  console.log(`   answers: ${Object.entries(r.statuses).map(([k, v]) => `${k}×${v}`).join(' ')}${r.errors ? `, connection errors ${r.errors}` : ''}${r.timeouts ? `, timeouts ${r.timeouts}` : ''}`);
  const rows = [
    ['', 'serve', 'bare uWS', 'serve / baseline'],
    ['events/s (acknowledged)', n0(r.eventsPerSecond), b ? n0(b.eventsPerSecond) : '–', `${ratio(r.eventsPerSecond, scan.eventsPerSecond)} scan (${n0(scan.eventsPerSecond)}/s just before)`],
    ['requests/s (200)', n1(r.requestsPerSecond), b ? n1(b.requestsPerSecond) : '–', b ? `${ratio(r.requestsPerSecond, b.requestsPerSecond)} bare` : ''],
    ['request latency p50/p99/p99.9 ms', L(r.latency), b ? L(b.latency) : '–', b ? `p99 ${ratio(r.latency.p99, b.latency.p99)} bare` : ''],
    ['detection latency p50/p99 ms', `${n1(r.detection.p50)} / ${n1(r.detection.p99)}`, '', `server histogram p99 (file) ${n1(r.detection.serverP99File)} ms`],
    ['peak RSS', mib(r.serve.peakRss), b ? mib(b.peakRss) : '–', `${ratio(r.serve.peakRss, scan.peakRss)} scan (${mib(scan.peakRss)})`],
    ['CPU cores (avg / main thread / max)', `${n2(r.serve.avgCores)} / ${n2(r.serve.mainCores)} / ${n2(r.serve.maxCores)}`, b ? n2(b.avgCores) : '–', `load generator ${n2(r.generator.avgCores)}`],
  ];
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows) console.log('   ' + row.map((c, i) => c.padEnd(w[i])).join('  '));
  if (r.timeline) {
    console.log(`   over time${r.seconds >= 60 ? ` (RSS slope over the second half: ${n1(r.rssSlopeMiBPerMin)} MiB/min)` : ''}:`);
    console.log('     seconds   events/s  p50 ms  p99 ms  non-200  RSS      JS heap  external in flight  cores');
    for (const x of r.timeline) {
      console.log(`     ${`${x.from}-${x.to}`.padEnd(9)} ${n0(x.eventsPerSecond).padStart(8)}  ${n1(x.p50).padStart(6)}  ${n1(x.p99).padStart(6)}  ${String(x.rejected).padStart(7)}  `
        + `${mib(x.rss).padEnd(8)} ${mib(x.heap).padEnd(8)} ${mib(x.external).padEnd(8)} ${mib(x.inflight).padEnd(9)} ${n2(x.cores)}`);
    }
  }
  if (r.scenario === 'overload') {
    const m = r.memoryFlat;
    console.log(`   RSS: idle ${mib(r.serve.idleRss)}, highest ${m ? `in the middle third ${mib(m.middle)}, in the last third ${mib(m.late)} (${m.growth >= 0 ? '+' : ''}${n0(m.growth * 100)} %)` : `first half ${mib(r.serve.rssFirstHalf)}, second half ${mib(r.serve.rssSecondHalf)} (runs of 60 s or more are judged)`}`);
  }
  const f = r.verify.outputs.file;
  const h = r.verify.outputs.http;
  console.log(`   books: ${r.verify.clusters.reduce((s, c) => s + c.acked, 0)} acknowledged requests, ${n0(r.ackedEvents)} events, ${f.expected} alerts expected; `
    + `file ${f.written} written (${f.missing} missing, ${f.duplicated} twice, ${f.unexpected} unexpected, ${f.ofRejected} of rejected requests), `
    + `http ${h.written} received (${h.missing} missing, ${h.duplicated} twice)`);
  const exact = r.verify.clusters.filter((c) => c.exact).length;
  console.log(`   per cluster: ${exact}/${r.verify.clusters.length} clusters' acknowledged events, requests and alerts equal the server's counters`);
  if (r.scenario === 'fanin') {
    for (const c of r.verify.clusters.slice(0, 3)) console.log(`     ${c.cluster}: sent ${c.sent} requests / ${c.sentEvents} events, acknowledged ${c.ackedEvents} events, server counted ${c.server.events}`);
    if (r.verify.clusters.length > 3) console.log('     …');
  }
  console.log(`   ${r.verify.ok ? 'PASS' : 'FAIL'}${r.verify.ok ? '' : ':\n     ' + r.verify.failures.join('\n     ')}`);
}

function markdown(results, scan, m, cmd) {
  const date = new Date().toISOString().slice(0, 10);
  const out = [];
  out.push(`Measured ${date} with \`${cmd}\` on ${m.cpu}, ${m.cores} cores, ${m.memory}, ${m.os}, Node ${m.node}. `
    + 'Server, load generator and baselines share these cores.');
  out.push('');
  out.push(`Baseline \`peregrine scan\`: one thread, the same corpus, ${n0(scan.events)} events in 400-event EventList lines, `
    + `run just before each scenario; at the start of the run ${n0(scan.eventsPerSecond)} events/s (${n0(scan.mbPerSecond)} MB/s), peak RSS ${mib(scan.peakRss)}.`);
  out.push('');
  out.push('| scenario | events/s | scan events/s | ÷ scan | req/s | ÷ bare | latency p50 / p99 / p99.9 ms | bare p50 / p99 / p99.9 ms | detection p99 ms | peak RSS | CPU cores (avg) | answers | books |');
  out.push('|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|---|');
  for (const r of results) {
    const b = r.bare;
    const L = (x) => `${n1(x.p50)} / ${n1(x.p99)} / ${n1(x.p999)}`;
    const ans = Object.entries(r.statuses).map(([k, v]) => `${k}: ${n0(v)}`).join(', ');
    const f = r.verify.outputs.file;
    const books = `${r.verify.ok ? 'ok' : 'FAIL'}: ${f.expected} alerts, ${f.missing} missing, ${f.duplicated} twice; `
      + `${r.verify.clusters.filter((c) => c.exact).length}/${r.verify.clusters.length} clusters exact`;
    out.push(`| ${r.scenario} (${r.seconds} s) | ${n0(r.eventsPerSecond)} | ${n0(r.scan.eventsPerSecond)} | ${ratio(r.eventsPerSecond, r.scan.eventsPerSecond)} | ${n1(r.requestsPerSecond)} | `
      + `${b ? ratio(r.requestsPerSecond, b.requestsPerSecond) : '–'} | ${L(r.latency)} | ${b ? L(b.latency) : '–'} | ${n1(r.detection.p99)} | `
      + `${mib(r.serve.peakRss)} | ${n2(r.serve.avgCores)} | ${ans} | ${books} |`);
  }
  for (const r of results.filter((x) => x.timeline)) {
    out.push('');
    out.push(`${r.scenario} over time${r.seconds >= 60 ? ` (RSS slope over the second half: ${n1(r.rssSlopeMiBPerMin)} MiB/min)` : ''}:`);
    out.push('');
    out.push('| seconds | events/s | p50 ms | p99 ms | non-200 | RSS | JS heap | external | bodies in flight | cores |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const x of r.timeline) {
      out.push(`| ${x.from}–${x.to} | ${n0(x.eventsPerSecond)} | ${n1(x.p50)} | ${n1(x.p99)} | ${x.rejected} | ${mib(x.rss)} | ${mib(x.heap)} | ${mib(x.external)} | ${mib(x.inflight)} | ${n2(x.cores)} |`);
    }
  }
  const fan = results.find((x) => x.scenario === 'fanin');
  if (fan) {
    out.push('');
    out.push(`fanin per cluster: what each cluster sent and had acknowledged, and what the server counted for it `
      + '(`peregrine_requests_total{code="200"}`, `peregrine_events_total`, `peregrine_alerts_total`):');
    out.push('');
    out.push('<details><summary>' + `${fan.verify.clusters.filter((c) => c.exact).length} of ${fan.verify.clusters.length} clusters equal` + '</summary>');
    out.push('');
    out.push('| cluster | requests sent | events sent | requests 200 | server | events acknowledged | server | alerts expected | server |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of fan.verify.clusters) {
      out.push(`| ${c.cluster} | ${c.sent} | ${n0(c.sentEvents)} | ${c.acked} | ${c.server.acked} | ${n0(c.ackedEvents)} | ${n0(c.server.events)} | ${c.ackedAlerts} | ${c.server.alerts} |`);
    }
    out.push('');
    out.push('</details>');
  }
  const ov = results.find((x) => x.scenario === 'overload');
  if (ov?.memoryFlat) {
    out.push('');
    out.push(`overload memory: idle ${mib(ov.serve.idleRss)}; highest RSS in the middle third of the run ${mib(ov.memoryFlat.middle)}, `
      + `in the last third ${mib(ov.memoryFlat.late)} (${ov.memoryFlat.growth >= 0 ? '+' : ''}${n0(ov.memoryFlat.growth * 100)} %).`);
  }
  for (const r of results) out.push('', `- ${r.scenario}: ${r.describe}.`);
  return out.join('\n');
}


// ---------------------------------------------------------------- --spool

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * The scenario `rounds` times without and with outputs.spool_dir (without first in even
 * rounds, with first in odd ones: the machine's drift falls on both), every run's books
 * checked. The figures: each pair's events/s ratio and p99 difference, and their medians.
 */
async function spoolComparison(name, o, ctx) {
  const sc = scenario(name, o, ctx);
  const rounds = [];
  for (let i = 0; i < o.spoolRounds; i++) {
    const pair = {};
    for (const withSpool of i % 2 === 0 ? [false, true] : [true, false]) {
      const r = await runServeScenario(sc, o, ctx, withSpool ? { spoolDir: join(ctx.dir, `spool-${name}-${i}`) } : {});
      pair[withSpool ? 'with' : 'without'] = r;
      console.log(`   ${name} round ${i + 1} ${withSpool ? 'with spool   ' : 'without spool'}: ${n0(r.eventsPerSecond)} events/s, p99 ${n1(r.latency.p99)} ms, `
        + `${r.verify.outputs.http.expected} alerts (http ${r.verify.outputs.http.missing} missing, ${r.verify.outputs.http.duplicated} twice)`
        + (r.spool ? `, ${n0(r.spool.commits)} commits (${n1(r.spool.appended / Math.max(1, r.spool.commits))} alerts each, p50 ${n2(r.spool.commitP50)} ms, p99 ${n2(r.spool.commitP99)} ms)` : '')
        + `, other processes ${n2(r.otherCores)} cores ${r.verify.ok ? 'PASS' : 'FAIL: ' + r.verify.failures.join('; ')}`);
    }
    pair.ratio = pair.with.eventsPerSecond / pair.without.eventsPerSecond;
    pair.addedP99 = pair.with.latency.p99 - pair.without.latency.p99;
    rounds.push(pair);
  }
  const s = {
    scenario: name, describe: sc.describe, seconds: sc.seconds, rounds,
    ratio: median(rounds.map((p) => p.ratio)),
    addedP99: median(rounds.map((p) => p.addedP99)),
    without: { eventsPerSecond: median(rounds.map((p) => p.without.eventsPerSecond)), p50: median(rounds.map((p) => p.without.latency.p50)), p99: median(rounds.map((p) => p.without.latency.p99)) },
    with: { eventsPerSecond: median(rounds.map((p) => p.with.eventsPerSecond)), p50: median(rounds.map((p) => p.with.latency.p50)), p99: median(rounds.map((p) => p.with.latency.p99)) },
    alertsPerSecond: median(rounds.map((p) => p.with.verify.outputs.http.expected / p.with.elapsed)),
    commitsPerSecond: median(rounds.map((p) => p.with.spool.commits / p.with.elapsed)),
    alertsPerCommit: median(rounds.map((p) => p.with.spool.appended / Math.max(1, p.with.spool.commits))),
    commitP99: median(rounds.map((p) => p.with.spool.commitP99)),
    // Pairs during which other processes took under 0.1 core on both sides: the cleanest comparison.
    quiet: (() => {
      const q = rounds.filter((p) => p.with.otherCores < 0.1 && p.without.otherCores < 0.1);
      return { pairs: q.length, ratio: median(q.map((p) => p.ratio)), addedP99: median(q.map((p) => p.addedP99)) };
    })(),
    withAlerts: median(rounds.map((p) => p.with.ledgerWithAlerts)),
    ok: rounds.every((p) => p.with.verify.ok && p.without.verify.ok),
  };
  console.log(`
== ${name} with and without outputs.spool_dir (${o.spoolRounds} pairs of ${sc.seconds} s): ${sc.describe}`);
  console.log(`   events/s: without ${n0(s.without.eventsPerSecond)}, with ${n0(s.with.eventsPerSecond)}; with ÷ without, median of the pairs: ${n2(s.ratio)} `
    + `(${rounds.map((p) => n2(p.ratio)).join(', ')})`);
  console.log(`   request latency p50/p99 ms: without ${n1(s.without.p50)} / ${n1(s.without.p99)}, with ${n1(s.with.p50)} / ${n1(s.with.p99)}; `
    + `p99 added, median of the pairs: ${n1(s.addedP99)} ms (${rounds.map((p) => n1(p.addedP99)).join(', ')})`);
  console.log(`   spool: ${n0(s.alertsPerSecond)} alerts/s, ${n0(s.commitsPerSecond)} commits/s, ${n1(s.alertsPerCommit)} alerts per commit, commit p99 ${n2(s.commitP99)} ms; `
    + `${n0(s.withAlerts * 100)} % of the acknowledged requests had alerts (and waited for a commit)`);
  console.log(`   pairs with other processes under 0.1 core on both sides: ${s.quiet.pairs}${s.quiet.pairs ? `, ratio ${n2(s.quiet.ratio)}, p99 added ${n1(s.quiet.addedP99)} ms` : ''}`);
  console.log(`   ${s.ok ? 'PASS' : 'FAIL'} (every run's books)`);
  return s;
}

function spoolMarkdown(results, m, cmd) {
  const date = new Date().toISOString().slice(0, 10);
  const out = [];
  out.push(`Measured ${date} with \`${cmd}\` on ${m.cpu}, ${m.cores} cores, ${m.memory}, ${m.os}, Node ${m.node}; `
    + 'the spool on the same disk as the temporary directory. Each pair ran without and with `outputs.spool_dir` back to back, '
    + 'in alternating order; figures are medians over the pairs.');
  out.push('');
  out.push('| scenario | events/s without | events/s with | with ÷ without (pairs) | p50 / p99 ms without | p50 / p99 ms with | p99 added (pairs) | quiet pairs: ratio, p99 added | requests with alerts | alerts/s | commits/s | alerts per commit | commit p99 ms | other processes, cores (pairs, without / with) | books |');
  out.push('|---|---:|---:|---|---|---|---|---|---:|---:|---:|---:|---:|---|---|');
  for (const s of results) {
    out.push(`| ${s.scenario} (${s.seconds} s × ${s.rounds.length}) | ${n0(s.without.eventsPerSecond)} | ${n0(s.with.eventsPerSecond)} | `
      + `**${n2(s.ratio)}** (${s.rounds.map((p) => n2(p.ratio)).join(', ')}) | ${n1(s.without.p50)} / ${n1(s.without.p99)} | ${n1(s.with.p50)} / ${n1(s.with.p99)} | `
      + `**${n1(s.addedP99)} ms** (${s.rounds.map((p) => n1(p.addedP99)).join(', ')}) | `
      + `${s.quiet.pairs ? `${n2(s.quiet.ratio)}, ${n1(s.quiet.addedP99)} ms (${s.quiet.pairs} of ${s.rounds.length})` : 'none'} | ${n0(s.withAlerts * 100)} % | `
      + `${n0(s.alertsPerSecond)} | ${n0(s.commitsPerSecond)} | ${n1(s.alertsPerCommit)} | `
      + `${n2(s.commitP99)} | ${s.rounds.map((p) => `${n2(p.without.otherCores)} / ${n2(p.with.otherCores)}`).join(', ')} | ${s.ok ? 'ok' : 'FAIL'} |`);
  }
  for (const s of results) out.push('', `- ${s.scenario}: ${s.describe}.`);
  return out.join('\n');
}

// ---------------------------------------------------------------- main

async function main() {
  const o = options();
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm run load builds first)`);
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-load-'));
  const m = machine();
  console.log(`peregrine load tests — ${m.cpu}, ${m.cores} cores, ${m.memory} (${mib(freemem())} free), ${m.os}, Node ${m.node}`);
  const t0 = performance.now();
  const pool = generatePool(o.pool, { seed: o.seed }).map((e) => new PoolEvent(e));
  const scan = await scanBaseline(dir, pool, o);
  console.log(`corpus: ${n0(o.pool)} distinct events (${scan.alertingPoolEvents} alert with ${o.rules.length ? o.rules.join(', ') : 'the bundled rules'}), `
    + `avg ${n0(pool.reduce((s, e) => s + e.bytes.length, 0) / pool.length)} bytes`);
  console.log(`baseline peregrine scan: ${n0(scan.events)} events, ${n0(scan.eventsPerSecond)} events/s (${n0(scan.mbPerSecond)} MB/s, startup ${n2(scan.startup)} s excluded), `
    + `peak RSS ${mib(scan.peakRss)}, ${n2(scan.avgCores)} cores${scan.inconsistent ? `, ${scan.inconsistent} INCONSISTENT repetitions` : ''}`);
  const ctx = { dir, pool, capacity: undefined };
  const results = [];
  const spoolResults = [];
  if (o.spool) {
    for (const name of o.scenarios) {
      if (name === 'soak' && o.rate === undefined) ctx.capacity ??= (await runServeScenario({ ...scenario('one', { ...o, durations: { one: 4 } }, ctx), name: 'capacity probe' }, o, ctx)).eventsPerSecond;
      spoolResults.push(await spoolComparison(name, o, ctx));
    }
  }
  for (const name of o.spool ? [] : o.scenarios) {
    if (name === 'soak' && ctx.capacity === undefined && o.rate === undefined) {
      const probe = await runServeScenario({ ...scenario('one', { ...o, durations: { one: 4 } }, ctx), name: 'capacity probe' }, o, ctx);
      ctx.capacity = probe.eventsPerSecond;
      console.log(`\ncapacity probe (4 s, one cluster): ${n0(ctx.capacity)} events/s`);
    }
    const sc = scenario(name, o, ctx);
    const { r: _lines, ...scanNow } = await scanThroughput(scan.input, o);
    const r = await runServeScenario(sc, o, ctx);
    r.scan = scanNow;
    r.bare = await runBareScenario(sc, o, ctx);
    if (name === 'one') ctx.capacity = r.eventsPerSecond;
    printScenario(r);
    results.push(r);
  }
  const ok = results.every((r) => r.verify.ok) && spoolResults.every((s) => s.ok) && scan.inconsistent === 0;
  console.log(`\n${ok ? 'all scenarios PASS' : 'FAILED'} in ${n0((performance.now() - t0) / 1000)} s`);
  // The command as it ran, without the options that only say where results go.
  const shown = [];
  for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === '--update-readme' || a === '--keep') continue;
    if (a === '--json') i++;
    else if (!a.startsWith('--json=')) shown.push(a);
  }
  const cmd = `npm run load${shown.length ? ' -- ' + shown.join(' ') : ''}`;
  const { input: _input, ...scanFigures } = scan;
  if (o.json) writeFileSync(o.json, JSON.stringify({ machine: m, date: new Date().toISOString(), command: cmd, scan: scanFigures, results, spool: spoolResults }, null, 2));
  if (o.updateReadme) {
    if (o.spool) updateReadmeSection('spool', spoolMarkdown(spoolResults, m, cmd));
    else updateReadmeSection('load', markdown(results, scan, m, cmd));
  }
  if (!o.keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((e) => {
  console.error(`load: ${e.stack ?? e}`);
  process.exitCode = 2;
});
