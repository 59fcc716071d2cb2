// The processes under test (peregrine serve, the bare receiver, peregrine scan), and a
// sampler of their memory and CPU from /proc (Linux), which sees every thread.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const CLI = join(ROOT, 'dist/cli/main.js');
const CLK_TCK = 100;

function cpuOf(statPath) {
  const stat = readFileSync(statPath, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Busy CPU seconds of the whole machine (all processes), from /proc/stat. */
export function machineBusy() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100;
  } catch {
    return NaN;
  }
}

function readProc(pid) {
  try {
    const cpuSeconds = cpuOf(`/proc/${pid}/stat`);
    const mainSeconds = cpuOf(`/proc/${pid}/task/${pid}/stat`);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { cpuSeconds, mainSeconds, rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Samples a process every `everyMs`: RSS, peak RSS (VmHWM), CPU seconds of the whole
 * process and of its main thread. `samples` holds {t (s since start), rss, cpu (cores
 * over the last interval)}.
 */
export class ProcSampler {
  constructor(pid, everyMs = 250) {
    this.pid = pid;
    this.samples = [];
    this.t0 = performance.now();
    const first = readProc(pid);
    this.cpu0 = first?.cpuSeconds ?? 0;
    this.main0 = first?.mainSeconds ?? 0;
    this.last = { t: 0, cpu: this.cpu0 };
    this.peakRss = first?.hwm ?? 0;
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    this.sample();
  }

  sample() {
    const p = readProc(this.pid);
    if (!p) return;
    const t = (performance.now() - this.t0) / 1000;
    const cores = t > this.last.t ? (p.cpuSeconds - this.last.cpu) / (t - this.last.t) : 0;
    this.samples.push({ t, rss: p.rss, cpu: cores });
    this.last = { t, cpu: p.cpuSeconds };
    // A process on its way out (a zombie) has no VmHWM any more.
    if (Number.isFinite(p.hwm)) this.peakRss = Math.max(this.peakRss, p.hwm);
    this.cpuSeconds = p.cpuSeconds - this.cpu0;
    this.mainSeconds = p.mainSeconds - this.main0;
  }

  stop() {
    this.sample();
    clearInterval(this.timer);
    const wall = (performance.now() - this.t0) / 1000;
    return {
      peakRss: this.peakRss,
      cpuSeconds: this.cpuSeconds ?? 0,
      wall,
      avgCores: wall > 0 ? (this.cpuSeconds ?? 0) / wall : 0,
      mainCores: wall > 0 ? (this.mainSeconds ?? 0) / wall : 0,
      maxCores: Math.max(0, ...this.samples.map((s) => s.cpu)),
      samples: this.samples,
    };
  }
}

function waitForLine(proc, re, what, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start:\n${err}`)), timeoutMs);
    const onData = (d) => {
      err += d;
      const m = re.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    };
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${what} exited ${code}:\n${err}`));
    });
  });
}

/** Starts `peregrine serve` with `config` (an object, written as YAML into `dir`). */
export async function startServe(dir, config, env = {}) {
  const file = join(dir, 'peregrine.yaml');
  writeFileSync(file, yaml.dump(config));
  // PEREGRINE_BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the server.
  const nodeArgs = (process.env.PEREGRINE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--config', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PEREGRINE_NATIVE: '1', ...env },
  });
  let log = '';
  proc.stderr.on('data', (d) => { log = (log + d).slice(-20_000); });
  const exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  const m = await waitForLine(proc, /listening webhook=(\S+) metrics=(\S+)/, 'peregrine serve');
  return {
    proc, webhook: m[1], metrics: m[2], log: () => log, exited,
    async scrape() {
      return (await fetch(`${m[2]}/metrics`)).text();
    },
    async ready() {
      const r = await fetch(`${m[2]}/readyz`);
      return { status: r.status, body: await r.json() };
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** Starts the bare uWebSockets.js receiver (reads bodies, answers 200). */
export async function startBare() {
  const proc = spawn(process.execPath, [join(ROOT, 'load-tests/bare-receiver.mjs')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  const m = await waitForLine(proc, /listening (\S+)/, 'bare receiver');
  return {
    proc, webhook: m[1], exited,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs `peregrine scan` over files; resolves with its stdout lines, exit code, peak RSS and CPU. */
export function runScan(dir, files, rules = []) {
  const usageFile = join(dir, `scan-usage-${process.hrtime.bigint()}.json`);
  const args = ['--import', join(ROOT, 'load-tests/lib/usage-at-exit.mjs'), CLI, 'scan', '--quiet', ...rules.flatMap((r) => ['--rules', r]), ...files];
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PEREGRINE_NATIVE: '1', PEREGRINE_USAGE_FILE: usageFile },
  });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  proc.stderr.setEncoding('utf8').on('data', (d) => { err = (err + d).slice(-10_000); });
  return new Promise((resolve) => {
    proc.once('close', (code) => {
      const wall = (performance.now() - t0) / 1000;
      const usage = JSON.parse(readFileSync(usageFile, 'utf8'));
      resolve({ code, lines: out.split('\n').filter((l) => l !== ''), stderr: err, wall, peakRss: usage.maxRss, cpuSeconds: usage.cpuSeconds, avgCores: usage.cpuSeconds / wall });
    });
  });
}
