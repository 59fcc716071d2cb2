// The shape of `peregrine serve`'s configuration, and the checks that turn a YAML
// document into it. Every error names the key (`limits.max_body_bytes: …`), so a
// typo is found before anything listens. Unknown keys are errors too: a misspelt
// security option must not be silently ignored.
import { ErrorCode, PeregrineError } from '../errors.js';
import type { SourceConfig } from './sources.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface TokenSource {
  cluster: string;
  file: string;
}

export interface JwtConfig {
  publicKeyFiles: string[];
  jwksFile?: string;
  algorithms: string[];
  issuer?: string;
  audience?: string;
  clusterClaim: string;
  clockToleranceSeconds: number;
  requireExp: boolean;
  cacheSize: number;
  /** Longest accepted exp − iat (or exp − now without iat), seconds. */
  maxLifetimeSeconds: number;
}

export interface ClientCertRule {
  cluster: string;
  subjectCN?: string;
  fingerprint256?: string;
}

export interface RateLimit {
  /** 0 = unlimited. */
  eventsPerSecond: number;
  burst: number;
}

export interface FileOutputConfig {
  path: string;
  /** Rotate when the file would grow past this; 0 = never. */
  maxBytes: number;
  maxBackups: number;
}

export interface HttpOutputConfig {
  url: string;
  timeoutMs: number;
  concurrency: number;
  headers: Record<string, string>;
  retryInitialMs: number;
  retryMaxMs: number;
}

export interface ServeConfig {
  /** False with `listen: none`: no webhook, only the sources (metrics and health stay). */
  webhook: boolean;
  listen: HostPort;
  path: string;
  metricsListen: HostPort;
  insecure: boolean;
  workers: number;
  rules: {
    files: string[];
    ruleMatching: 'first' | 'all';
    minPriority: number;
    watch: boolean;
    timeIso8601: boolean;
  };
  tls?: { certFile: string; keyFile: string; clientCAFile?: string; handshakeTimeoutSeconds: number; maxPendingHandshakes: number };
  auth: {
    tokens: TokenSource[];
    jwt?: JwtConfig;
    clientCerts: ClientCertRule[];
  };
  rateLimit: RateLimit;
  clusters: Record<string, { rateLimit?: RateLimit }>;
  limits: {
    maxBodyBytes: number;
    maxEventBytes: number;
    maxInflightBytes: number;
    maxEventsPerRequest: number;
    /** A body arriving slower than this (judged over uploadRateWindowSeconds) is cut with 408. */
    minUploadBytesPerSecond: number;
    uploadRateWindowSeconds: number;
    maxQueuedTasks: number;
    taskBytes: number;
    retryAfterSeconds: number;
    ringBytes: number;
    shutdownTimeoutSeconds: number;
  };
  outputs: {
    stdout: boolean;
    file?: FileOutputConfig;
    http?: HttpOutputConfig;
    bufferBytes: number;
    /** Alerts for network outputs are spooled here before acknowledgement (outputs/spool.ts). */
    spoolDir?: string;
    spoolMaxBytes: number;
  };
  /** Inputs beside the webhook (config/sources.ts). */
  sources: SourceConfig[];
}

// ---- tiny validator: each reader takes (value, key path) and returns the typed value

export function configError(key: string, message: string): PeregrineError {
  return new PeregrineError(ErrorCode.CONFIG, `${key}: ${message}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

export type Obj = Record<string, unknown>;

/** A mapping with only the `allowed` keys (any key when `allowed` is undefined). */
export function asObject(v: unknown, key: string, allowed?: readonly string[]): Obj {
  // YAML turns an unquoted 2026-01-01 into a Date, an object too: not a mapping.
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Date) throw configError(key || 'the file', `expected a mapping, got ${show(v)}`);
  if (allowed !== undefined) {
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) throw configError(key ? `${key}.${k}` : k, `unknown key (expected one of: ${allowed.join(', ')})`);
    }
  }
  return v as Obj;
}

export function asString(v: unknown, key: string): string {
  if (typeof v !== 'string' || v.length === 0) throw configError(key, `expected a non-empty string, got ${show(v)}`);
  return v;
}

export function asBool(v: unknown, key: string): boolean {
  if (typeof v !== 'boolean') throw configError(key, `expected true or false, got ${show(v)}`);
  return v;
}

export function asInt(v: unknown, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw configError(key, `expected an integer from ${min} to ${max}, got ${show(v)}`);
  }
  return v;
}

export function asNumber(v: unknown, key: string, min: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw configError(key, `expected a number ≥ ${min}, got ${show(v)}`);
  return v;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/** A byte size: an integer, or a string such as `12MiB`, `256 KiB`, `1GB`. */
export function asBytes(v: unknown, key: string, min: number): number {
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
    const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
    if (!m || unit === undefined) throw configError(key, `expected a byte size such as 12MiB or 262144, got ${show(v)}`);
    v = Math.floor(Number(m[1]) * unit);
  }
  return asInt(v, key, min);
}

export function asStringList(v: unknown, key: string): string[] {
  if (typeof v === 'string') return [asString(v, key)];
  if (!Array.isArray(v)) throw configError(key, `expected a list of strings, got ${show(v)}`);
  return v.map((x, i) => asString(x, `${key}[${i}]`));
}

/** `HOST:PORT`, `[v6]:PORT`, or `:PORT` (loopback). */
export function parseHostPort(v: unknown, key: string): HostPort {
  const s = asString(v, key);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  if (!m) throw configError(key, `expected HOST:PORT, got ${show(s)}`);
  const port = Number(m[3]);
  if (port > 65535) throw configError(key, `port ${port} is out of range`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  return { host, port };
}

/** Cluster names become label values and `ka.cluster.name`: keep them printable and short. */
export function asClusterName(v: unknown, key: string): string {
  const s = asString(v, key);
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(s)) {
    throw configError(key, `cluster name ${show(s)} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'`);
  }
  return s;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
