// `peregrine serve`: wires config → rules → worker pool → outputs → sources (the
// webhook front end, followed files: ingest/source.ts), and owns the process
// lifecycle (SIGHUP reload, SIGTERM drain).
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { ErrorCode, PeregrineError, describeWarning } from '../errors.js';
import { SERVE_USAGE, loadServeConfig, parseServeArgs } from '../config/load.js';
import { isLoopback, type ServeConfig } from '../config/schema.js';
import { redactUrl } from '../config/redact.js';
import { loadUws, type UwsModule } from '../ingest/uws.js';
import { Authenticator } from '../ingest/auth.js';
import { RateLimiter } from '../ingest/rate-limit.js';
import { IngestServer } from '../ingest/server.js';
import { MtlsFront } from '../ingest/mtls.js';
import { chooseBackend, describeBackend } from '../engine/select-backend.js';
import { RulesState } from '../pipeline/rules.js';
import { EvalPool } from '../pipeline/pool.js';
import { BatchRunner, type ReleasedAlert } from '../pipeline/batch.js';
import { Outputs } from '../outputs/outputs.js';
import { FileTarget, StdoutTarget } from '../outputs/stream-targets.js';
import { HttpTarget } from '../outputs/http-target.js';
import type { OutputTarget } from '../outputs/target.js';
import { ServeMetrics } from '../metrics/metrics.js';
import { attachEndpoints, type Readiness } from '../metrics/endpoints.js';
import { registerSourceMetrics } from '../metrics/source-metrics.js';
import { registerSpoolMetrics } from '../metrics/spool-metrics.js';
import { openSpool } from '../outputs/open-spool.js';
import { FileSource } from '../ingest/file-source.js';
import { LdpSource } from '../ingest/ldp-source.js';
import type { Source } from '../ingest/source.js';

function log(msg: string): void {
  process.stderr.write(`peregrine: ${msg}\n`);
}

function listen(app: TemplatedApp, uws: UwsModule, host: string, port: number, what: string): Promise<{ socket: us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (s) => {
      if (!s) reject(new PeregrineError(ErrorCode.LISTEN, `cannot listen on ${host}:${port} (${what}): address in use or not available`));
      else resolve({ socket: s, port: uws.us_socket_local_port(s as never) });
    });
  });
}

function url(scheme: string, host: string, port: number, path = ''): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
}

function describeAuth(cfg: ServeConfig): string {
  const parts: string[] = [];
  if (cfg.auth.tokens.length > 0) parts.push(`tokens for ${new Set(cfg.auth.tokens.map((t) => t.cluster)).size} clusters`);
  if (cfg.auth.jwt) parts.push(`JWT (cluster from '${cfg.auth.jwt.clusterClaim}')`);
  if (cfg.auth.clientCerts.length > 0) parts.push(`client certificates for ${new Set(cfg.auth.clientCerts.map((c) => c.cluster)).size} clusters`);
  return parts.length > 0 ? parts.join(', ') : 'NONE (ka.cluster.name from the events)';
}

export async function runServe(argv: string[]): Promise<number> {
  const args = parseServeArgs(argv);
  if (args === 'help') {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  const cfg = loadServeConfig(args);
  const uws = loadUws();
  // The workers choose the same way; choosing here fails fast and names it in the log.
  const extraction = describeBackend(chooseBackend());

  // Alerts for a network output carry a stable id (outputs/alert-id.ts).
  const alertIds = cfg.outputs.http !== undefined ? { alertIds: true } : {};
  const rules = new RulesState({ files: cfg.rules.files, options: { ruleMatching: cfg.rules.ruleMatching, minPriority: cfg.rules.minPriority, ...alertIds } }, log);
  for (const w of rules.current.ruleset.warnings) log(describeWarning(w));
  let lastReloadError: string | undefined;
  const auth = new Authenticator(cfg.auth, cfg.auth.clientCerts.length > 0);
  if (cfg.auth.jwt && cfg.auth.jwt.issuer === undefined && cfg.auth.jwt.audience === undefined && !isLoopback(cfg.listen.host)) {
    log('warning: auth.jwt sets neither issuer nor audience: any unexpired token these keys signed, for any service, is accepted; set auth.jwt.audience');
  }
  const limiter = new RateLimiter(cfg.rateLimit, cfg.clusters);

  const targets: OutputTarget[] = [];
  if (cfg.outputs.stdout) targets.push(new StdoutTarget());
  if (cfg.outputs.file) {
    const f = new FileTarget(cfg.outputs.file);
    try {
      await f.open();
    } catch (e) {
      throw new PeregrineError(ErrorCode.CONFIG, `outputs.file.path: cannot open ${cfg.outputs.file.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    targets.push(f);
  }
  if (cfg.outputs.http) targets.push(new HttpTarget(cfg.outputs.http));
  const spool = await openSpool(cfg, targets, log);

  // The pool, the batch runner and the outputs refer to each other through these.
  let runner: BatchRunner | undefined;
  let metrics: ServeMetrics | undefined;
  const pool = new EvalPool({
    workers: cfg.workers,
    ringBytes: cfg.limits.ringBytes,
    maxEventBytes: cfg.limits.maxEventBytes,
    timeIso8601: cfg.rules.timeIso8601,
    onRecord: (r) => runner!.onRecord(r),
  });
  const outputs = new Outputs(targets, cfg.outputs.bufferBytes, {
    onPressure: (on) => {
      if (on) {
        log('outputs are over outputs.buffer_bytes: pausing evaluation (requests get 429 until they catch up)');
        pool.pause();
      } else {
        log('outputs caught up: resuming');
        pool.resume();
      }
    },
    onDelivered: (name, a) => {
      metrics!.outputDelivered.inc({ output: name });
      metrics!.detectionLatency.observe({ output: name }, Math.max(0, Date.now() - a.eventTimeMs) / 1000);
    },
    onFailure: (name, err) => {
      metrics!.outputFailures.inc({ output: name });
      log(`output ${name}: delivery failed, will retry: ${err.message}`);
    },
    onRefused: (name, _a, why) => {
      metrics!.outputRefused.inc({ output: name });
      log(`output ${name}: receiver refused an alert (${why}); not retried`);
    },
  }, spool);
  runner = new BatchRunner(pool, rules, cfg.limits.taskBytes, {
    onTaskDone: (wait) => metrics!.queueWait.observe(wait),
    onDiscarded: (n) => { if (n > 0) metrics!.alertsDiscarded.inc(n); },
  });
  let ingest: IngestServer | undefined;
  metrics = new ServeMetrics(pool.counters, {
    queueDepth: () => pool.pending,
    inflightRequests: () => ingest?.admission.requests ?? 0,
    inflightBytes: () => ingest?.admission.bytes ?? 0,
    inflightByCluster: () => ingest?.admission.clusters() ?? {},
    ringOccupancy: () => pool.ringOccupancy(),
    workers: () => pool.threads,
    outputs: () => outputs.statuses(),
    rulesGeneration: () => rules.current.gen,
  });
  const m = metrics;
  if (spool) registerSpoolMetrics(m.registry, spool);
  const sink = (a: ReleasedAlert): void => {
    m.alerts.inc({ rule: a.rule.name, priority: a.rule.priority, cluster: a.cluster });
    outputs.push({ json: a.json, eventTimeMs: a.eventTimeMs, id: a.id });
  };
  ingest = new IngestServer({ cfg, auth, limiter, runner, pool, outputs, metrics, log, sink });

  // Start every worker and compile the rules in it before accepting anything.
  await Promise.all(Array.from({ length: cfg.workers }, (_, i) => pool.run({
    batch: 0, seq: i, body: new SharedArrayBuffer(0), ranges: new Uint32Array(0), firstItem: 0, cluster: undefined,
    rulesGen: rules.current.gen, rules: rules.current.sab, queuedAt: pool.now(),
  })));

  // Sources beside the webhook: they read as soon as they start.
  const sourceDeps = {
    runner: runner!, pool, outputs, metrics: m, sink, log, maxEventBytes: cfg.limits.maxEventBytes, maxQueuedTasks: cfg.limits.maxQueuedTasks,
  };
  const sources: Source[] = cfg.sources.map((sc) => (sc.type === 'file' ? new FileSource(sc, sourceDeps) : new LdpSource(sc, sourceDeps)));
  registerSourceMetrics(m.registry, () => sources.map((s) => s.stats()));

  // Health and metrics first: a port that is taken stops the start before anything is read.
  const metricsApp = uws.App();
  let listening = true;
  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (!listening || ingest!.draining) reasons.push('shutting down');
    if (pool.threads === 0) reasons.push('no worker threads');
    const outs = outputs.statuses();
    for (const o of outs) if (!o.up) reasons.push(`output ${o.name} is down (${o.lastError ?? 'unknown error'}), ${o.queued} alerts queued`);
    reasons.push(...outputs.readiness());
    for (const s of sources) reasons.push(...s.readiness());
    return {
      ready: reasons.length === 0,
      reasons,
      rules: { generation: rules.current.gen, rules: rules.current.ruleset.rules.length, ...(lastReloadError ? { last_reload_error: lastReloadError } : {}) },
      outputs: outs,
      inflight: { requests: ingest!.admission.requests, bytes: ingest!.admission.bytes, tasks: pool.pending, clusters: ingest!.admission.clusters() },
      ...(sources.length > 0 ? { sources: sources.map((s) => s.stats()).map(({ badLines, ...st }) => ({ ...st, badLines: Object.fromEntries(badLines) })) } : {}),
    };
  };
  attachEndpoints(metricsApp, metrics, readiness);

  // A start that fails half way undoes what it started: open sockets, sources or
  // workers would keep the process alive after the error.
  let ml: { socket: us_listen_socket; port: number } | undefined;
  let webhookSocket: us_listen_socket | undefined;
  let mtls: MtlsFront | undefined;
  const abandon = async (e: unknown): Promise<never> => {
    await Promise.all(sources.map((s) => s.stop(0)));
    if (webhookSocket) uws.us_listen_socket_close(webhookSocket);
    mtls?.close();
    if (ml) uws.us_listen_socket_close(ml.socket);
    await pool.close();
    await outputs.close();
    throw e;
  };
  let webhookPort = 0;
  let scheme = 'http';
  try {
    ml = await listen(metricsApp, uws, cfg.metricsListen.host, cfg.metricsListen.port, 'metrics');
    for (const s of sources) await s.start();
    // Front ends.
    if (!cfg.webhook) {
      // listen: none — the sources only; health and metrics stay.
    } else if (cfg.tls?.clientCAFile !== undefined) {
      mtls = new MtlsFront(cfg, uws, ingest, cfg.auth.tokens.length > 0 || cfg.auth.jwt !== undefined, (reason) => m.tlsHandshakeFailures.inc({ reason }));
      webhookPort = await mtls.start();
      scheme = 'https';
    } else {
      const app = cfg.tls ? uws.SSLApp({ cert_file_name: cfg.tls.certFile, key_file_name: cfg.tls.keyFile }) : uws.App();
      if (cfg.tls) scheme = 'https';
      ingest.attach(app);
      const l = await listen(app, uws, cfg.listen.host, cfg.listen.port, 'webhook');
      webhookSocket = l.socket;
      webhookPort = l.port;
    }
  } catch (e) {
    await abandon(e);
  }
  log(`listening webhook=${cfg.webhook ? url(scheme, cfg.listen.host, webhookPort, cfg.path) : 'none'} metrics=${url('http', cfg.metricsListen.host, ml!.port)} `
    + `workers=${cfg.workers} rules=${rules.current.ruleset.rules.length} auth=${cfg.webhook ? describeAuth(cfg) : '-'} `
    + `outputs=${targets.map((t) => (t.name === 'http' && cfg.outputs.http ? `http(${redactUrl(cfg.outputs.http.url)})` : t.name)).join(',')} json=${extraction}`
    + (sources.length > 0 ? ` sources=${sources.map((s) => `${s.stats().type === 'file' ? 'file:' : ''}${s.stats().source}(${s.stats().cluster})`).join(',')}` : ''));

  // Reloads.
  const reload = (reason: string): void => {
    lastReloadError = rules.reload(reason);
    m.reloads.inc({ result: lastReloadError ? 'error' : 'ok' });
  };
  process.on('SIGHUP', () => {
    reload('SIGHUP');
    try {
      for (const p of auth.reload()) log(`credentials reload: ${p}`);
    } catch (e) {
      log(`credentials reload: JWT keys did not load, keeping the old keys: ${e instanceof PeregrineError ? e.describe() : (e as Error).message}`);
    }
  });
  if (cfg.rules.watch) {
    rules.watch((err) => {
      lastReloadError = err;
      m.reloads.inc({ result: err ? 'error' : 'ok' });
    });
  }

  // Shutdown: stop accepting, finish what was accepted, flush, exit.
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (sig: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      const started = Date.now();
      const budget = cfg.limits.shutdownTimeoutSeconds * 1000;
      log(`${sig}: no longer accepting requests; finishing ${ingest!.admission.requests} accepted requests`);
      ingest!.draining = true;
      if (webhookSocket) uws.us_listen_socket_close(webhookSocket);
      mtls?.stopListening();
      listening = false;
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        ingest!.idle().then(() => true),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(false), budget); }),
      ]);
      clearTimeout(timer);
      if (!finished) log(`${ingest!.admission.requests} requests still unanswered after ${budget} ms (not acknowledged: their senders retry)`);
      // Sources stop reading, finish what they read, and save their position once delivered.
      const sourcesStopped = (await Promise.all(sources.map((s) => s.stop(Math.max(0, budget - (Date.now() - started)))))).every(Boolean);
      const flushed = await outputs.flush(Math.max(0, budget - (Date.now() - started)));
      const left = outputs.undelivered();
      if (!flushed) log(`${left} alerts could not be delivered before limits.shutdown_timeout_seconds`);
      const spooled = outputs.spooledPending();
      if (spool && spooled > 0) log(`${spooled} alerts stay in the spool ${spool.dir}, not yet delivered: they are sent first at the next start`);
      rules.close();
      ingest!.close();
      await pool.close();
      await outputs.close();
      mtls?.close();
      uws.us_listen_socket_close(ml!.socket);
      log(`stopped in ${Date.now() - started} ms`);
      const code = flushed && finished && sourcesStopped ? 0 : 1;
      resolve(code);
      // Keep-alive connections may hold the event loop open: everything is flushed, go.
      setTimeout(() => process.exit(code), 200).unref();
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}
