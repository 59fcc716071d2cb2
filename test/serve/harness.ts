// Runs the real `peregrine serve` (dist/) as a child process on ephemeral loopback
// ports and talks to it over HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import yaml from 'js-yaml';

export const CLI = join(process.cwd(), 'dist/cli/main.js');

/** Rules whose output names the auditID and the cluster, so tests can check both. */
export const TEST_RULES = `
- rule: Test Anonymous
  desc: anonymous request
  condition: ka.user.name = system:anonymous
  output: anon (id=%ka.auditid cluster=%ka.cluster.name)
  priority: WARNING
  source: k8s_audit
  tags: [test]
`;

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'peregrine-test-'));
}

export interface Server {
  proc: ChildProcess;
  webhook: string;
  metrics: string;
  dir: string;
  outFile: string;
  stderr: () => string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  /** Merged over the base config (listen on ephemeral ports, file output, test rules). */
  config?: Record<string, unknown>;
  args?: string[];
  dir?: string;
  rules?: string;
  env?: Record<string, string>;
}

export async function startServer(o: StartOptions = {}): Promise<Server> {
  const dir = o.dir ?? tempDir();
  const rulesFile = join(dir, 'rules.yaml');
  if (!existsSync(rulesFile)) writeFileSync(rulesFile, o.rules ?? TEST_RULES);
  const outFile = join(dir, 'alerts.jsonl');
  const cfg: Record<string, unknown> = {
    listen: '127.0.0.1:0',
    metrics_listen: '127.0.0.1:0',
    workers: 2,
    rules: { files: [rulesFile] },
    outputs: { file: { path: outFile } },
    ...o.config,
  };
  const cfgFile = join(dir, 'peregrine.yaml');
  writeFileSync(cfgFile, yaml.dump(cfg));
  const proc = spawn(process.execPath, [CLI, 'serve', '-c', cfgFile, ...(o.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...o.env },
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  proc.stdout!.resume();
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const line = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 20_000);
    const check = (): void => {
      const m = /listening webhook=(\S+) metrics=(\S+)/.exec(err);
      if (m) { clearTimeout(t); resolve(m[0]); }
    };
    proc.stderr!.on('data', check);
    void exited.then((code) => { clearTimeout(t); reject(new Error(`server exited ${code}:\n${err}`)); });
  });
  const m = /listening webhook=(\S+) metrics=(\S+)/.exec(line)!;
  return {
    proc, webhook: m[1], metrics: m[2], dir, outFile,
    stderr: () => err,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', body: body as unknown as RequestInit['body'], headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}

/** A raw HTTP/1.1 request: for headers fetch will not send (no Content-Length, lies). */
export function rawRequest(url: string, head: string, body = ''): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => {
      s.write(head.replace('{path}', u.pathname) + '\r\n' + body);
    });
    let data = '';
    s.on('data', (d) => { data += d.toString(); });
    s.on('end', () => resolve(data));
    s.on('close', () => resolve(data));
    s.on('error', (e) => (data ? resolve(data) : reject(e)));
    setTimeout(() => { s.destroy(); resolve(data); }, 3000);
  });
}

export function readAlerts(file: string): any[] {
  if (!existsSync(file)) return [];
  // The last piece is '' or a line still being written.
  return readFileSync(file, 'utf8').split('\n').slice(0, -1).filter((l) => l !== '').map((l) => JSON.parse(l));
}

export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function metricsText(s: Server): Promise<string> {
  return (await fetch(`${s.metrics}/metrics`)).text();
}

/** Value of one sample line (`name{labels}`), or 0. */
export function metricValue(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  }
  return 0;
}
