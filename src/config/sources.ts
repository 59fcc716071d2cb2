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
import { resolve } from 'node:path';
import type { FileSourceConfig } from '../ingest/file-source.js';
import { asClusterName, asInt, asNumber, asObject, asString, configError } from './schema.js';

export type SourceConfig = FileSourceConfig;

export const SOURCE_DEFAULTS = { startAt: 'end' as const, checkpointIntervalSeconds: 1, pollIntervalMs: 100 };

const FILE_KEYS = ['type', 'path', 'cluster', 'state_dir', 'start_at', 'checkpoint_interval_seconds', 'poll_interval_ms'];

function readStartAt(v: unknown, key: string): 'end' | 'beginning' {
  const s = asString(v, key);
  if (s !== 'end' && s !== 'beginning') throw configError(key, `expected end or beginning, got "${s}"`);
  return s;
}

/** `sources:` of a config file; relative paths are relative to the file (`base`). */
export function readSources(v: unknown, base: string): SourceConfig[] {
  if (!Array.isArray(v)) throw configError('sources', 'expected a list of sources ({type: file, path, cluster, state_dir, ...})');
  return v.map((item, i) => {
    const k = `sources[${i}]`;
    const o = asObject(item, k, FILE_KEYS);
    if (o.type === undefined) throw configError(`${k}.type`, 'required (file)');
    const type = asString(o.type, `${k}.type`);
    if (type !== 'file') throw configError(`${k}.type`, `unknown source type "${type}" (expected file)`);
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
  follow?: string[];
  cluster?: string;
  stateDir?: string;
  startAt?: string;
}

/** --follow PATH (repeatable) with --cluster, --state-dir and --start-at: file sources. */
export function sourcesFromFlags(a: SourceFlags): SourceConfig[] {
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

/** Checks across sources: one follower per file. */
export function checkSources(sources: SourceConfig[]): void {
  const seen = new Set<string>();
  for (const [i, s] of sources.entries()) {
    if (seen.has(s.path)) throw configError(`sources[${i}].path`, `${s.path} is followed twice`);
    seen.add(s.path);
  }
}
