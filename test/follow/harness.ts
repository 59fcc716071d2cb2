// Runs `peregrine serve --listen none` following audit log files (the real process,
// dist/), and writes audit log lines the way kube-apiserver does.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { CLI, tempDir, waitFor } from '../serve/harness.js';
import { auditEvent } from '../serve/fixtures.js';

export { tempDir, waitFor };

/** Alerts on every pod create and on anonymous requests, naming the auditID and the cluster. */
export const FOLLOW_RULES = `
- rule: Test Pod Create
  desc: every pod create
  condition: ka.verb=create and ka.target.resource=pods
  output: pod create (id=%ka.auditid cluster=%ka.cluster.name)
  priority: WARNING
  source: k8s_audit
  tags: [test]
- rule: Test Anonymous
  desc: anonymous request
  condition: ka.user.name = system:anonymous
  output: anon (id=%ka.auditid cluster=%ka.cluster.name)
  priority: WARNING
  source: k8s_audit
  tags: [test]
`;

export interface Follower {
  proc: ChildProcess;
  metrics: string;
  stderr: () => string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface FollowOptions {
  dir: string;
  /** Sources (as in the config file); defaults to one file source on dir/audit.log. */
  sources?: Record<string, unknown>[];
  source?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  config?: Record<string, unknown>;
  outFile?: string;
  spawn?: SpawnOptions;
  /**
   * Run it as root without the capabilities that override file permissions (setpriv),
   * so a file mode 0000 is refused to it as to any user: the same checkout, no other
   * user who may not be able to reach it.
   */
  withoutDacOverride?: boolean;
}

/** setpriv drops root's DAC override for one command (util-linux; absent: undefined). */
export const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const DROP_DAC = ['--inh-caps=-dac_override,-dac_read_search', '--bounding-set=-dac_override,-dac_read_search'];

export async function startFollower(o: FollowOptions): Promise<Follower> {
  const rulesFile = join(o.dir, 'rules.yaml');
  if (!existsSync(rulesFile)) writeFileSync(rulesFile, FOLLOW_RULES);
  const cfg: Record<string, unknown> = {
    listen: 'none',
    metrics_listen: '127.0.0.1:0',
    workers: 2,
    rules: { files: [rulesFile], watch: false },
    outputs: o.outputs ?? { file: { path: o.outFile ?? join(o.dir, 'alerts.jsonl') } },
    sources: o.sources ?? [{ type: 'file', path: join(o.dir, 'audit.log'), cluster: 'prod', state_dir: join(o.dir, 'state'), checkpoint_interval_seconds: 0.2, poll_interval_ms: 20, ...o.source }],
    ...o.config,
  };
  const cfgFile = join(o.dir, `peregrine-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(cfgFile, yaml.dump(cfg));
  const argv = [CLI, 'serve', '-c', cfgFile];
  const proc = o.withoutDacOverride
    ? spawn(SETPRIV!, [...DROP_DAC, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...o.spawn })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...o.spawn });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  proc.stdout!.resume();
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const m = await Promise.race([
    waitFor(() => /listening webhook=none metrics=(\S+)/.exec(err), `the follower to start:\n${err}`, 20_000),
    exited.then((code) => { throw new Error(`follower exited ${code}:\n${err}`); }),
  ]);
  return {
    proc, metrics: m[1], stderr: () => err, exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export async function metrics(f: Follower): Promise<string> {
  return (await fetch(`${f.metrics}/metrics`)).text();
}

export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const l = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return NaN;
}

export async function readyz(f: Follower): Promise<{ status: number; body: any }> {
  const r = await fetch(`${f.metrics}/readyz`);
  return { status: r.status, body: await r.json() };
}

/** Ids of the alerts in an output file (auditID from the output), in order; a line still being written is not one yet. */
export function alertIds(file: string): string[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.pop();
  return lines.filter((l) => l !== '').map((l) => JSON.parse(l).output_fields['ka.auditid'] as string);
}

export function alerts(file: string): any[] {
  if (!existsSync(file)) return [];
  // The last piece is '' or a line still being written.
  return readFileSync(file, 'utf8').split('\n').slice(0, -1).filter((l) => l !== '').map((l) => JSON.parse(l));
}

/** One audit event line (with its newline); alert: true makes it fire Test Anonymous. */
export function line(id: string, alert = true, clusterAnnotation = 'spoofed'): string {
  return JSON.stringify(auditEvent(id, { alert, clusterAnnotation })) + '\n';
}

export function lines(prefix: string, n: number, every = 1): { text: string; ids: string[] } {
  let text = '';
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    const alert = i % every === 0;
    if (alert) ids.push(id);
    text += line(id, alert);
  }
  return { text, ids };
}

export function append(path: string, text: string): void {
  appendFileSync(path, text);
}
