// Loading `peregrine serve`'s configuration: built-in defaults, then the YAML file
// (`--config`), then command-line flags. Everything is checked here, once, with errors
// that name the key; the rest of the server trusts the result.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import { ErrorCode, PeregrineError } from '../errors.js';
import { parsePriority } from '../rules/priority.js';
import { redactUrl } from './redact.js';
import { defaultConfig } from './defaults.js';
import {
  asBool, asBytes, asClusterName, asInt, asNumber, asObject, asString, asStringList, configError, isLoopback,
  parseHostPort, type ClientCertRule, type JwtConfig, type Obj, type RateLimit, type ServeConfig,
} from './schema.js';
import { checkSources, readSources, sourcesFromFlags } from './sources.js';

export const SERVE_USAGE = `Usage: peregrine serve [options]

Receives kube-apiserver audit webhook batches (POST /k8s-audit), evaluates Falco
k8s_audit rules on them and writes Falco JSON alerts to the configured outputs.

Options:
  -c, --config FILE          YAML configuration file (every option below and more)
      --listen HOST:PORT     webhook address (default 127.0.0.1:9765; none: no webhook)
      --metrics-listen HOST:PORT  /healthz, /readyz and /metrics (default 127.0.0.1:8765)
  -r, --rules FILE|DIR       rules file or directory (repeatable; default: bundled rules)
      --token CLUSTER=FILE   bearer token for a cluster, read from FILE (repeatable)
      --output-file PATH     append alerts to PATH (instead of stdout)
      --workers N            evaluation threads (default: one per core)
      --insecure             allow listening beyond loopback without authentication
      --follow PATH          follow kube-apiserver's audit log file live (repeatable;
                             with --cluster and --state-dir)
      --cluster NAME         the followed files' cluster (ka.cluster.name)
      --state-dir DIR        where the followed files' checkpoints go
      --start-at end|beginning  without a checkpoint: the end of the live file
                             (default) or the oldest backup
      --ldp CLUSTER=URL_FILE read an OVHcloud LDP WebSocket stream whose URL
                             (wss://HOST/tail/?tk=TOKEN) is in URL_FILE (repeatable)
  -h, --help                 this help

Signals: SIGHUP reloads rules (and token files); SIGTERM/SIGINT stop accepting,
finish accepted requests, flush outputs and exit 0.`;

export interface ServeArgs {
  config?: string;
  listen?: string;
  metricsListen?: string;
  rules?: string[];
  token?: string[];
  outputFile?: string;
  workers?: string;
  insecure?: boolean;
  follow?: string[];
  ldp?: string[];
  cluster?: string;
  stateDir?: string;
  startAt?: string;
}

export function parseServeArgs(argv: string[]): ServeArgs | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      'metrics-listen': { type: 'string' },
      rules: { type: 'string', short: 'r', multiple: true },
      token: { type: 'string', multiple: true },
      'output-file': { type: 'string' },
      workers: { type: 'string' },
      insecure: { type: 'boolean' },
      follow: { type: 'string', multiple: true },
      ldp: { type: 'string', multiple: true },
      cluster: { type: 'string' },
      'state-dir': { type: 'string' },
      'start-at': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new PeregrineError(ErrorCode.USAGE, `unexpected argument '${positionals[0]}'`);
  return {
    config: values.config,
    listen: values.listen,
    metricsListen: values['metrics-listen'],
    rules: values.rules,
    token: values.token,
    outputFile: values['output-file'],
    workers: values.workers,
    insecure: values.insecure,
    follow: values.follow,
    ldp: values.ldp,
    cluster: values.cluster,
    stateDir: values['state-dir'],
    startAt: values['start-at'],
  };
}

/** Defaults ← YAML file ← flags, validated. */
export function loadServeConfig(args: ServeArgs): ServeConfig {
  const cfg = defaultConfig();
  let doc: unknown;
  if (args.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(args.config, 'utf8');
    } catch (e) {
      throw new PeregrineError(ErrorCode.CONFIG, `cannot read config file '${args.config}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      doc = yaml.load(text, { filename: args.config });
    } catch (e) {
      throw new PeregrineError(ErrorCode.CONFIG, `${args.config}: invalid YAML: ${(e as Error).message}`);
    }
    try {
      if (doc !== undefined && doc !== null) applyDocument(cfg, doc, dirname(resolve(args.config)));
    } catch (e) {
      if (e instanceof PeregrineError) throw new PeregrineError(e.code, `${args.config}: ${e.message}`);
      throw e;
    }
  }
  applyFlags(cfg, args, stdoutAsked(doc));
  checkWhole(cfg);
  return cfg;
}

/** Whether the file says `outputs.stdout` itself (then --output-file adds to it, not replaces it). */
function stdoutAsked(doc: unknown): boolean {
  const outputs = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>).outputs : undefined;
  return outputs !== null && typeof outputs === 'object' && (outputs as Record<string, unknown>).stdout !== undefined;
}

/** Relative paths in the file are relative to the file, as in kubeconfig. */
function pathIn(base: string, v: unknown, key: string): string {
  return resolve(base, asString(v, key));
}

const TOP_KEYS = ['listen', 'path', 'metrics_listen', 'insecure', 'workers', 'rules', 'tls', 'auth', 'rate_limit', 'clusters', 'limits', 'outputs', 'sources'] as const;

export function applyDocument(cfg: ServeConfig, doc: unknown, base: string): void {
  const d = asObject(doc, '', TOP_KEYS);
  if (d.listen === 'none') cfg.webhook = false;
  else if (d.listen !== undefined) cfg.listen = parseHostPort(d.listen, 'listen');
  if (d.sources !== undefined) cfg.sources = readSources(d.sources, base);
  if (d.path !== undefined) {
    cfg.path = asString(d.path, 'path');
    if (!cfg.path.startsWith('/')) throw configError('path', `must start with '/', got "${cfg.path}"`);
  }
  if (d.metrics_listen !== undefined) cfg.metricsListen = parseHostPort(d.metrics_listen, 'metrics_listen');
  if (d.insecure !== undefined) cfg.insecure = asBool(d.insecure, 'insecure');
  if (d.workers !== undefined) cfg.workers = asInt(d.workers, 'workers', 1, 256);

  if (d.rules !== undefined) {
    const r = asObject(d.rules, 'rules', ['files', 'rule_matching', 'min_priority', 'watch', 'time_iso8601']);
    if (r.files !== undefined) cfg.rules.files = asStringList(r.files, 'rules.files').map((f, i) => pathIn(base, f, `rules.files[${i}]`));
    if (r.rule_matching !== undefined) {
      const m = asString(r.rule_matching, 'rules.rule_matching');
      if (m !== 'first' && m !== 'all') throw configError('rules.rule_matching', `expected first or all, got "${m}"`);
      cfg.rules.ruleMatching = m;
    }
    if (r.min_priority !== undefined) {
      const s = asString(r.min_priority, 'rules.min_priority');
      const p = parsePriority(s);
      if (p === undefined) throw configError('rules.min_priority', `unknown priority "${s}" (expected emergency … debug)`);
      cfg.rules.minPriority = p;
    }
    if (r.watch !== undefined) cfg.rules.watch = asBool(r.watch, 'rules.watch');
    if (r.time_iso8601 !== undefined) cfg.rules.timeIso8601 = asBool(r.time_iso8601, 'rules.time_iso8601');
  }

  if (d.tls !== undefined) {
    const t = asObject(d.tls, 'tls', ['cert_file', 'key_file', 'client_ca_file', 'handshake_timeout_seconds', 'max_pending_handshakes']);
    if (t.cert_file === undefined || t.key_file === undefined) throw configError('tls', 'cert_file and key_file are both required');
    cfg.tls = {
      certFile: pathIn(base, t.cert_file, 'tls.cert_file'),
      keyFile: pathIn(base, t.key_file, 'tls.key_file'),
      clientCAFile: t.client_ca_file === undefined ? undefined : pathIn(base, t.client_ca_file, 'tls.client_ca_file'),
      handshakeTimeoutSeconds: t.handshake_timeout_seconds === undefined ? 10 : asNumber(t.handshake_timeout_seconds, 'tls.handshake_timeout_seconds', 0.1),
      maxPendingHandshakes: t.max_pending_handshakes === undefined ? 256 : asInt(t.max_pending_handshakes, 'tls.max_pending_handshakes', 1, 1_000_000),
    };
  }

  if (d.auth !== undefined) {
    const a = asObject(d.auth, 'auth', ['tokens', 'jwt', 'client_certs']);
    if (a.tokens !== undefined) {
      if (!Array.isArray(a.tokens)) throw configError('auth.tokens', 'expected a list of {cluster, file}');
      cfg.auth.tokens = a.tokens.map((t, i) => {
        const k = `auth.tokens[${i}]`;
        const o = asObject(t, k, ['cluster', 'file']);
        return { cluster: asClusterName(o.cluster, `${k}.cluster`), file: pathIn(base, o.file, `${k}.file`) };
      });
    }
    if (a.jwt !== undefined) cfg.auth.jwt = readJwt(a.jwt, base);
    if (a.client_certs !== undefined) {
      if (!Array.isArray(a.client_certs)) throw configError('auth.client_certs', 'expected a list of {cluster, subject_cn | fingerprint_sha256}');
      cfg.auth.clientCerts = a.client_certs.map((c, i) => readClientCert(c, `auth.client_certs[${i}]`));
    }
  }

  if (d.rate_limit !== undefined) cfg.rateLimit = readRateLimit(d.rate_limit, 'rate_limit');
  if (d.clusters !== undefined) {
    const c = asObject(d.clusters, 'clusters');
    for (const [name, v] of Object.entries(c)) {
      asClusterName(name, `clusters.${name}`);
      const o = asObject(v ?? {}, `clusters.${name}`, ['rate_limit']);
      cfg.clusters[name] = { rateLimit: o.rate_limit === undefined ? undefined : readRateLimit(o.rate_limit, `clusters.${name}.rate_limit`) };
    }
  }

  if (d.limits !== undefined) {
    const l = asObject(d.limits, 'limits', [
      'max_body_bytes', 'max_event_bytes', 'max_inflight_bytes', 'max_events_per_request', 'min_upload_bytes_per_second',
      'upload_rate_window_seconds', 'max_queued_tasks', 'task_bytes', 'retry_after_seconds', 'ring_bytes', 'shutdown_timeout_seconds',
    ]);
    const L = cfg.limits;
    if (l.max_body_bytes !== undefined) L.maxBodyBytes = asBytes(l.max_body_bytes, 'limits.max_body_bytes', 1024);
    if (l.max_event_bytes !== undefined) L.maxEventBytes = asBytes(l.max_event_bytes, 'limits.max_event_bytes', 256);
    if (l.max_inflight_bytes !== undefined) L.maxInflightBytes = asBytes(l.max_inflight_bytes, 'limits.max_inflight_bytes', 1024);
    if (l.max_events_per_request !== undefined) L.maxEventsPerRequest = asInt(l.max_events_per_request, 'limits.max_events_per_request', 1, 100_000_000);
    if (l.min_upload_bytes_per_second !== undefined) L.minUploadBytesPerSecond = asBytes(l.min_upload_bytes_per_second, 'limits.min_upload_bytes_per_second', 0);
    if (l.upload_rate_window_seconds !== undefined) L.uploadRateWindowSeconds = asInt(l.upload_rate_window_seconds, 'limits.upload_rate_window_seconds', 1, 10);
    if (l.max_queued_tasks !== undefined) L.maxQueuedTasks = asInt(l.max_queued_tasks, 'limits.max_queued_tasks', 1);
    if (l.task_bytes !== undefined) L.taskBytes = asBytes(l.task_bytes, 'limits.task_bytes', 1);
    if (l.retry_after_seconds !== undefined) L.retryAfterSeconds = asInt(l.retry_after_seconds, 'limits.retry_after_seconds', 1, 3600);
    if (l.ring_bytes !== undefined) L.ringBytes = asBytes(l.ring_bytes, 'limits.ring_bytes', 64 * 1024);
    if (l.shutdown_timeout_seconds !== undefined) L.shutdownTimeoutSeconds = asNumber(l.shutdown_timeout_seconds, 'limits.shutdown_timeout_seconds', 0);
  }

  if (d.outputs !== undefined) {
    const o = asObject(d.outputs, 'outputs', ['stdout', 'file', 'http', 'buffer_bytes', 'spool_dir', 'spool_max_bytes']);
    const explicitStdout = o.stdout !== undefined;
    cfg.outputs.stdout = explicitStdout ? asBool(o.stdout, 'outputs.stdout') : false;
    if (o.file !== undefined) {
      const f = asObject(o.file, 'outputs.file', ['path', 'max_bytes', 'max_backups']);
      cfg.outputs.file = {
        path: pathIn(base, f.path, 'outputs.file.path'),
        maxBytes: f.max_bytes === undefined ? 0 : asBytes(f.max_bytes, 'outputs.file.max_bytes', 0),
        maxBackups: f.max_backups === undefined ? 5 : asInt(f.max_backups, 'outputs.file.max_backups', 0, 10000),
      };
    }
    if (o.http !== undefined) {
      const h = asObject(o.http, 'outputs.http', ['url', 'timeout_ms', 'concurrency', 'headers', 'retry_initial_ms', 'retry_max_ms']);
      const url = asString(h.url, 'outputs.http.url');
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw configError('outputs.http.url', `not a valid URL: "${url}"`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw configError('outputs.http.url', 'must be http:// or https://');
      const headers: Record<string, string> = {};
      if (h.headers !== undefined) {
        const ho = asObject(h.headers, 'outputs.http.headers');
        for (const [k, v] of Object.entries(ho)) headers[k] = asString(v, `outputs.http.headers.${k}`);
      }
      // fetch refuses URLs with credentials: send them as the Authorization header they mean.
      if (parsed.username !== '' || parsed.password !== '') {
        if (Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) {
          throw configError('outputs.http.url', `has user:password in it and outputs.http.headers has an Authorization header too: keep one (${redactUrl(url)})`);
        }
        const user = decodeURIComponent(parsed.username);
        const pass = decodeURIComponent(parsed.password);
        headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
        parsed.username = '';
        parsed.password = '';
      }
      cfg.outputs.http = {
        url: parsed.href,
        timeoutMs: h.timeout_ms === undefined ? 5000 : asInt(h.timeout_ms, 'outputs.http.timeout_ms', 1),
        concurrency: h.concurrency === undefined ? 4 : asInt(h.concurrency, 'outputs.http.concurrency', 1, 256),
        headers,
        retryInitialMs: h.retry_initial_ms === undefined ? 200 : asInt(h.retry_initial_ms, 'outputs.http.retry_initial_ms', 1),
        retryMaxMs: h.retry_max_ms === undefined ? 30_000 : asInt(h.retry_max_ms, 'outputs.http.retry_max_ms', 1),
      };
    }
    if (o.buffer_bytes !== undefined) cfg.outputs.bufferBytes = asBytes(o.buffer_bytes, 'outputs.buffer_bytes', 64 * 1024);
    if (o.spool_dir !== undefined) cfg.outputs.spoolDir = pathIn(base, o.spool_dir, 'outputs.spool_dir');
    if (o.spool_max_bytes !== undefined) cfg.outputs.spoolMaxBytes = asBytes(o.spool_max_bytes, 'outputs.spool_max_bytes', 4 * 1024 * 1024);
    // An outputs section with nothing in it would discard every alert: refuse.
    if (!explicitStdout && o.file === undefined && o.http === undefined) cfg.outputs.stdout = true;
  }
}

function readJwt(v: unknown, base: string): JwtConfig {
  const j = asObject(v, 'auth.jwt', [
    'public_key_files', 'jwks_file', 'algorithms', 'issuer', 'audience', 'cluster_claim', 'clock_tolerance_seconds', 'require_exp', 'cache_size',
    'max_lifetime_seconds',
  ]);
  const keys = j.public_key_files === undefined ? [] : asStringList(j.public_key_files, 'auth.jwt.public_key_files').map((f) => resolve(base, f));
  const jwks = j.jwks_file === undefined ? undefined : pathIn(base, j.jwks_file, 'auth.jwt.jwks_file');
  if (keys.length === 0 && jwks === undefined) throw configError('auth.jwt', 'needs public_key_files or jwks_file');
  // Only one is read: the other would be silently ignored.
  if (keys.length > 0 && jwks !== undefined) throw configError('auth.jwt', 'public_key_files and jwks_file: give one, not both');
  const algorithms = j.algorithms === undefined ? ['RS256', 'ES256'] : asStringList(j.algorithms, 'auth.jwt.algorithms');
  if (algorithms.length === 0) throw configError('auth.jwt.algorithms', 'empty: no token could ever be accepted');
  const known = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
  for (const [i, a] of algorithms.entries()) {
    if (!known.includes(a)) throw configError(`auth.jwt.algorithms[${i}]`, `unsupported algorithm "${a}" (asymmetric only: ${known.join(', ')})`);
  }
  return {
    publicKeyFiles: keys,
    jwksFile: jwks,
    algorithms,
    issuer: j.issuer === undefined ? undefined : asString(j.issuer, 'auth.jwt.issuer'),
    audience: j.audience === undefined ? undefined : asString(j.audience, 'auth.jwt.audience'),
    clusterClaim: j.cluster_claim === undefined ? 'cluster' : asString(j.cluster_claim, 'auth.jwt.cluster_claim'),
    clockToleranceSeconds: j.clock_tolerance_seconds === undefined ? 30 : asInt(j.clock_tolerance_seconds, 'auth.jwt.clock_tolerance_seconds', 0, 3600),
    requireExp: j.require_exp === undefined ? true : asBool(j.require_exp, 'auth.jwt.require_exp'),
    cacheSize: j.cache_size === undefined ? 10_000 : asInt(j.cache_size, 'auth.jwt.cache_size', 0),
    maxLifetimeSeconds: j.max_lifetime_seconds === undefined ? 86_400 : asInt(j.max_lifetime_seconds, 'auth.jwt.max_lifetime_seconds', 1),
  };
}

function readClientCert(v: unknown, key: string): ClientCertRule {
  const o = asObject(v, key, ['cluster', 'subject_cn', 'fingerprint_sha256']);
  const rule: ClientCertRule = { cluster: asClusterName(o.cluster, `${key}.cluster`) };
  if (o.subject_cn !== undefined) rule.subjectCN = asString(o.subject_cn, `${key}.subject_cn`);
  if (o.fingerprint_sha256 !== undefined) {
    const fp = asString(o.fingerprint_sha256, `${key}.fingerprint_sha256`).replace(/:/g, '').toUpperCase();
    if (!/^[0-9A-F]{64}$/.test(fp)) throw configError(`${key}.fingerprint_sha256`, 'expected 64 hex digits (colons allowed)');
    rule.fingerprint256 = fp;
  }
  if (rule.subjectCN === undefined && rule.fingerprint256 === undefined) throw configError(key, 'needs subject_cn or fingerprint_sha256');
  return rule;
}

function readRateLimit(v: unknown, key: string): RateLimit {
  const o = asObject(v, key, ['events_per_second', 'burst']);
  const eps = o.events_per_second === undefined ? 0 : asNumber(o.events_per_second, `${key}.events_per_second`, 0);
  const burst = o.burst === undefined ? Math.ceil(eps * 2) : asInt(o.burst, `${key}.burst`, 1);
  return { eventsPerSecond: eps, burst };
}

function applyFlags(cfg: ServeConfig, a: ServeArgs, fileAskedStdout: boolean): void {
  if (a.listen === 'none') cfg.webhook = false;
  else if (a.listen !== undefined) { cfg.listen = parseHostPort(a.listen, '--listen'); cfg.webhook = true; }
  cfg.sources.push(...sourcesFromFlags(a));
  if (a.metricsListen !== undefined) cfg.metricsListen = parseHostPort(a.metricsListen, '--metrics-listen');
  if (a.rules !== undefined && a.rules.length > 0) {
    if (a.rules.some((r) => r.trim() === '')) throw configError('--rules', "an empty path (it would be the current directory)");
    cfg.rules.files = a.rules.map((r) => resolve(r));
  }
  if (a.token !== undefined) {
    for (const t of a.token) {
      const eq = t.indexOf('=');
      if (eq <= 0 || eq === t.length - 1) throw configError('--token', `expected CLUSTER=TOKEN_FILE, got "${t}"`);
      cfg.auth.tokens.push({ cluster: asClusterName(t.slice(0, eq), '--token'), file: resolve(t.slice(eq + 1)) });
    }
  }
  if (a.outputFile !== undefined) {
    cfg.outputs.file = { path: resolve(a.outputFile), maxBytes: cfg.outputs.file?.maxBytes ?? 0, maxBackups: cfg.outputs.file?.maxBackups ?? 5 };
    if (!fileAskedStdout) cfg.outputs.stdout = false;
  }
  if (a.workers !== undefined) {
    const n = Number(a.workers);
    cfg.workers = asInt(Number.isNaN(n) ? a.workers : n, '--workers', 1, 256);
  }
  if (a.insecure) cfg.insecure = true;
}

export function hasAuthentication(cfg: ServeConfig): boolean {
  return cfg.auth.tokens.length > 0 || cfg.auth.jwt !== undefined || (cfg.tls?.clientCAFile !== undefined && cfg.auth.clientCerts.length > 0);
}

/** Rules that involve several keys. */
function checkWhole(cfg: ServeConfig): void {
  checkSources(cfg.sources);
  if (!cfg.webhook && cfg.sources.length === 0) throw configError('listen', 'none turns the webhook off: configure sources (or --follow, --ldp) or nothing is read');
  if (cfg.webhook && !isLoopback(cfg.listen.host) && !hasAuthentication(cfg) && !cfg.insecure) {
    throw configError('listen', `refusing to listen on ${cfg.listen.host} beyond loopback without authentication `
      + '(configure auth.tokens, auth.jwt or tls.client_ca_file with auth.client_certs, or pass --insecure / insecure: true)');
  }
  if (cfg.auth.clientCerts.length > 0 && cfg.tls?.clientCAFile === undefined) {
    throw configError('auth.client_certs', 'client certificates need tls.client_ca_file');
  }
  if (cfg.tls?.clientCAFile !== undefined && cfg.auth.clientCerts.length === 0 && cfg.auth.tokens.length === 0 && cfg.auth.jwt === undefined) {
    throw configError('tls.client_ca_file', 'mTLS needs auth.client_certs to map certificates to clusters (or tokens/JWTs on top)');
  }
  if (cfg.limits.maxEventBytes > cfg.limits.maxBodyBytes) throw configError('limits.max_event_bytes', 'must not exceed limits.max_body_bytes');
  if (cfg.limits.maxInflightBytes < cfg.limits.maxBodyBytes) throw configError('limits.max_inflight_bytes', 'must be at least limits.max_body_bytes');
  const seen = new Set<string>();
  for (const t of cfg.auth.tokens) {
    if (seen.has(t.file)) throw configError('auth.tokens', `token file '${t.file}' is listed twice`);
    seen.add(t.file);
  }
  if (cfg.webhook && cfg.listen.host === cfg.metricsListen.host && cfg.listen.port === cfg.metricsListen.port && cfg.listen.port !== 0) {
    throw configError('metrics_listen', 'must differ from listen');
  }
}
