// The `sources` section of serve's configuration, and the flags that add to it
// (--follow PATH --cluster NAME --state-dir DIR [--start-at end|beginning]):
// inputs beside the webhook. Checked here once, errors naming the key.
//
//   sources:
//     - type: file                    # kube-apiserver's --audit-log-path, followed live
//       path: /var/log/kubernetes/audit/audit.log
//       cluster: prod-eu               # ka.cluster.name of its events, whatever they say
//       state_dir: /var/lib/peregrine  # checkpoints (created if missing)
//       start_at: end                  # without a checkpoint: end (like tail -f) or beginning
//       checkpoint_interval_seconds: 1
//       poll_interval_ms: 100
//     - type: ldp                     # an OVHcloud Logs Data Platform WebSocket stream
//       url_file: /etc/peregrine/ldp/prod.url   # wss://HOST/tail/?tk=TOKEN (a secret)
//       cluster: mks-gra-prod
//       ca_file: /etc/ssl/ldp-ca.pem   # optional, beside Node's bundled CAs
//       ping_after_seconds: 30         # without a frame; then redial without a pong
//       pong_timeout_seconds: 10
//       dedup_window_seconds: 600      # replays after a reconnect alert once
//       dedup_max_keys: 1000000
import { resolve } from 'node:path';
import type { FileSourceConfig } from '../ingest/file-source.js';
import type { LdpSourceConfig } from '../ingest/ldp-source.js';
import { asClusterName, asInt, asNumber, asObject, asString, configError } from './schema.js';

export type SourceConfig = FileSourceConfig | LdpSourceConfig;

export const LDP_DEFAULTS = { pingAfterSeconds: 30, pongTimeoutSeconds: 10, dedupWindowSeconds: 600, dedupMaxKeys: 1_000_000 };
const LDP_KEYS = ['type', 'url_file', 'cluster', 'ca_file', 'ping_after_seconds', 'pong_timeout_seconds', 'dedup_window_seconds', 'dedup_max_keys'];

function readLdp(o: Record<string, unknown>, k: string, base: string): LdpSourceConfig {
  if (o.url_file === undefined) throw configError(`${k}.url_file`, 'required: a file holding the stream\'s WebSocket URL (wss://HOST/tail/?tk=TOKEN: a secret, so not in the config)');
  if (o.cluster === undefined) throw configError(`${k}.cluster`, 'required: the cluster whose audit log the stream carries (it becomes ka.cluster.name)');
  return {
    type: 'ldp',
    urlFile: resolve(base, asString(o.url_file, `${k}.url_file`)),
    cluster: asClusterName(o.cluster, `${k}.cluster`),
    caFile: o.ca_file === undefined ? undefined : resolve(base, asString(o.ca_file, `${k}.ca_file`)),
    pingAfterMs: 1000 * (o.ping_after_seconds === undefined ? LDP_DEFAULTS.pingAfterSeconds : asNumber(o.ping_after_seconds, `${k}.ping_after_seconds`, 0.05)),
    pongTimeoutMs: 1000 * (o.pong_timeout_seconds === undefined ? LDP_DEFAULTS.pongTimeoutSeconds : asNumber(o.pong_timeout_seconds, `${k}.pong_timeout_seconds`, 0.05)),
    dedupWindowSeconds: o.dedup_window_seconds === undefined ? LDP_DEFAULTS.dedupWindowSeconds : asInt(o.dedup_window_seconds, `${k}.dedup_window_seconds`, 1, 86_400),
    dedupMaxKeys: o.dedup_max_keys === undefined ? LDP_DEFAULTS.dedupMaxKeys : asInt(o.dedup_max_keys, `${k}.dedup_max_keys`, 1000, 100_000_000),
  };
}

export const SOURCE_DEFAULTS = { startAt: 'end' as const, checkpointIntervalSeconds: 1, pollIntervalMs: 100 };

const FILE_KEYS = ['type', 'path', 'cluster', 'state_dir', 'start_at', 'checkpoint_interval_seconds', 'poll_interval_ms'];

function readStartAt(v: unknown, key: string): 'end' | 'beginning' {
  const s = asString(v, key);
  if (s !== 'end' && s !== 'beginning') throw configError(key, `expected end or beginning, got "${s}"`);
  return s;
}

/** `sources:` of a config file; relative paths are relative to the file (`base`). */
export function readSources(v: unknown, base: string): SourceConfig[] {
  if (!Array.isArray(v)) throw configError('sources', 'expected a list of sources ({type: file, path, cluster, state_dir, ...} or {type: ldp, url_file, cluster})');
  return v.map((item, i): SourceConfig => {
    const k = `sources[${i}]`;
    const type0 = asObject(item, k, [...new Set([...FILE_KEYS, ...LDP_KEYS])]).type;
    if (type0 === undefined) throw configError(`${k}.type`, 'required (file or ldp)');
    const type = asString(type0, `${k}.type`);
    if (type !== 'file' && type !== 'ldp') throw configError(`${k}.type`, `unknown source type "${type}" (expected file or ldp)`);
    if (type === 'ldp') return readLdp(asObject(item, k, LDP_KEYS), k, base);
    const o = asObject(item, k, FILE_KEYS);
    if (o.path === undefined) throw configError(`${k}.path`, 'required: the audit log file (kube-apiserver --audit-log-path)');
    if (o.cluster === undefined) throw configError(`${k}.cluster`, 'required: the cluster whose audit log this is (it becomes ka.cluster.name)');
    if (o.state_dir === undefined) throw configError(`${k}.state_dir`, 'required: a directory for the checkpoints (created if missing)');
    const path = resolve(base, asString(o.path, `${k}.path`));
    if (path.endsWith('/')) throw configError(`${k}.path`, 'must name a file, not a directory');
    return {
      type: 'file',
      path,
      cluster: asClusterName(o.cluster, `${k}.cluster`),
      stateDir: resolve(base, asString(o.state_dir, `${k}.state_dir`)),
      startAt: o.start_at === undefined ? SOURCE_DEFAULTS.startAt : readStartAt(o.start_at, `${k}.start_at`),
      checkpointIntervalMs: Math.round(1000 * (o.checkpoint_interval_seconds === undefined
        ? SOURCE_DEFAULTS.checkpointIntervalSeconds
        : Math.max(0.01, asNumber(o.checkpoint_interval_seconds, `${k}.checkpoint_interval_seconds`, 0.01)))),
      pollIntervalMs: o.poll_interval_ms === undefined ? SOURCE_DEFAULTS.pollIntervalMs : asInt(o.poll_interval_ms, `${k}.poll_interval_ms`, 1, 60_000),
    };
  });
}

export interface SourceFlags {
  ldp?: string[];
  follow?: string[];
  cluster?: string;
  stateDir?: string;
  startAt?: string;
}

/** --ldp CLUSTER=URL_FILE (repeatable): LDP stream sources with the default settings. */
function ldpFromFlags(a: SourceFlags): SourceConfig[] {
  return (a.ldp ?? []).map((v) => {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw configError('--ldp', `expected CLUSTER=URL_FILE, got "${v}"`);
    return readLdp({ type: 'ldp', cluster: v.slice(0, eq), url_file: v.slice(eq + 1) }, '--ldp', process.cwd());
  });
}

/** --follow PATH (repeatable) with --cluster, --state-dir and --start-at: file sources; --ldp streams. */
export function sourcesFromFlags(a: SourceFlags): SourceConfig[] {
  return [...ldpFromFlags(a), ...followFromFlags(a)];
}

function followFromFlags(a: SourceFlags): SourceConfig[] {
  const follow = a.follow ?? [];
  if (follow.length === 0) {
    for (const [flag, v] of [['--cluster', a.cluster], ['--state-dir', a.stateDir], ['--start-at', a.startAt]] as const) {
      if (v !== undefined) throw configError(flag, 'only applies to --follow PATH');
    }
    return [];
  }
  if (a.cluster === undefined) throw configError('--follow', 'needs --cluster NAME: the cluster whose audit log it is (it becomes ka.cluster.name)');
  if (a.stateDir === undefined) throw configError('--follow', 'needs --state-dir DIR: where its checkpoints go (created if missing)');
  const cluster = asClusterName(a.cluster, '--cluster');
  const startAt = a.startAt === undefined ? SOURCE_DEFAULTS.startAt : readStartAt(a.startAt, '--start-at');
  return follow.map((p) => ({
    type: 'file',
    path: resolve(asString(p, '--follow')),
    cluster,
    stateDir: resolve(a.stateDir!),
    startAt,
    checkpointIntervalMs: SOURCE_DEFAULTS.checkpointIntervalSeconds * 1000,
    pollIntervalMs: SOURCE_DEFAULTS.pollIntervalMs,
  }));
}

/** Checks across sources: one follower per file, one reader per stream URL file. */
export function checkSources(sources: SourceConfig[]): void {
  const seen = new Set<string>();
  for (const [i, s] of sources.entries()) {
    const what = s.type === 'file' ? s.path : s.urlFile;
    if (seen.has(what)) throw configError(`sources[${i}].${s.type === 'file' ? 'path' : 'url_file'}`, `${what} is read twice`);
    seen.add(what);
  }
}
