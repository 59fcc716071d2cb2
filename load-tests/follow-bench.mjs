#!/usr/bin/env node
// Benchmark of `peregrine serve` following kube-apiserver's audit log files (issue 16).
// Figures, not a test: they go to load-tests/README.md (--update-readme), as ratios
// against `peregrine scan` measured in the same run on the same files.
//
//   npm run bench:follow                      # catch-up (3 rounds) and live lag (30 s)
//   npm run bench:follow -- --events 400000 --lag-rate 50000 --lag-seconds 60
//   npm run bench:follow -- --update-readme
//
// 1. Catch-up: a backlog written as the apiserver does (lib/apiserver-log.mjs: 16 MB
//    files, every other backup gzipped, the live file last) from the load-test corpus.
//    Each round runs `peregrine scan` on the files (start-up, measured on a one-event
//    file, subtracted) and then `peregrine serve --listen none` following the same log
//    from the beginning (timed from its "listening" line to the last line read, seen
//    on /metrics); both use the bundled rules and must find the same alerts.
//    Memory: the follower's peak RSS over backlogs of --events and 3 × --events.
// 2. Live: load-tests/apiserver-writer.mjs writes --lag-rate events/s for --lag-seconds
//    (100 MB files, the apiserver's default --audit-log-maxsize) while a follower that
//    started at the end follows; the source's lag (peregrine_source_lag_seconds and
//    _lag_bytes, read from /readyz, which is cheaper to poll than /metrics) is sampled
//    every 100 ms.
import { updateReadmeSection } from './lib/readme.mjs';
import { spawn } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { generatePool, PoolEvent } from './corpus.mjs';
import { ApiserverLog } from './lib/apiserver-log.mjs';
import { CLI, ProcSampler, ROOT, machineBusy, runScan } from './lib/proc.mjs';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '300000' },
    rounds: { type: 'string', default: '3' },
    'file-bytes': { type: 'string', default: '16000000' },
    'lag-rate': { type: 'string', default: '50000' },
    'lag-seconds': { type: 'string', default: '30' },
    'lag-compress': { type: 'boolean', default: false },
    'lag-dir': { type: 'string' },
    'skip-catchup': { type: 'boolean', default: false },
    'skip-lag': { type: 'boolean', default: false },
    'update-readme': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(values.events);
const ROUNDS = Number(values.rounds);
const FILE_BYTES = Number(values['file-bytes']);

const n0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const n2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const mib = (b) => (Number.isFinite(b) ? `${Math.round(b / 2 ** 20)} MiB` : '–');
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const pct = (a, q) => { const s = [...a].sort((x, y) => x - y); return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

function machine() {
  const c = cpus();
  let os = release();
  try { os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os; } catch { /* not Linux */ }
  return `${c[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown'}, ${c.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${os}, Node ${process.version}`;
}

/** The backlog: n events through lumberjack's rotation, every other backup gzipped. */
function writeBacklog(dir, n) {
  const pool = generatePool(10_000, { seed: 11 }).map((e) => new PoolEvent(e));
  const lines = pool.map((p) => ({ buf: Buffer.concat([p.bytes, Buffer.from('\n')]), stamps: p.stamps }));
  const log = new ApiserverLog(join(dir, 'audit.log'), { maxBytes: FILE_BYTES });
  let ms = Date.UTC(2026, 10, 23, 10, 0, 0);
  for (let i = 0; i < n; i++) {
    const l = lines[i % lines.length];
    if (i % 1000 === 0) ms += 50;
    const stamp = `${new Date(ms).toISOString().slice(0, 23)}${String(i % 1_000_000).padStart(6, '0')}Z`;
    for (const at of l.stamps) l.buf.write(stamp, at, 30, 'latin1');
    log.write(l.buf);
  }
  log.close();
  const backups = log.backups().sort();
  backups.forEach((b, i) => {
    if (i % 2 === 1) return;
    const p = join(dir, b);
    writeFileSync(p + '.gz', gzipSync(readFileSync(p)));
    unlinkSync(p);
  });
  const files = [...log.backups().sort().map((b) => join(dir, b)), join(dir, 'audit.log')];
  const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
  return { files, rotations: backups.length, gz: Math.ceil(backups.length / 2), bytes };
}

function sample(text, name) {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

function startFollower(dir, tag, source) {
  const cfg = join(dir, `follow-${tag}.yaml`);
  const state = join(dir, `state-${tag}`);
  rmSync(state, { recursive: true, force: true });
  const out = join(dir, `alerts-${tag}.jsonl`);
  rmSync(out, { force: true });
  writeFileSync(cfg, [
    'listen: none', 'metrics_listen: 127.0.0.1:0', 'workers: 2', 'rules: { watch: false }',
    `outputs: { file: { path: ${JSON.stringify(out)} } }`,
    'sources:', `  - { type: file, path: ${JSON.stringify(join(dir, 'audit.log'))}, cluster: bench, state_dir: ${JSON.stringify(state)}, ${source} }`, '',
  ].join('\n'));
  const t0 = performance.now();
  const proc = spawn(process.execPath, [CLI, 'serve', '-c', cfg], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PEREGRINE_NATIVE: '1' } });
  const sampler = new ProcSampler(proc.pid, 100);
  let err = '';
  const exited = new Promise((r) => proc.once('exit', r));
  const listening = new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      err += d;
      const m = /listening webhook=none metrics=(\S+)/.exec(err);
      if (m) resolve({ metrics: m[1], t: performance.now() });
    });
    exited.then((code) => reject(new Error(`follower exited ${code}:\n${err}`)));
  });
  return { proc, sampler, t0, listening, exited, out, err: () => err };
}

/** VmHWM (peak RSS) and CPU seconds (all threads) of a live process, from /proc. */
function procNow(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { hwm: Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? NaN) * 1024, cpu: (Number(f[11]) + Number(f[12])) / 100 };
  } catch {
    return { hwm: NaN, cpu: NaN };
  }
}

async function scrape(url) {
  return (await fetch(`${url}/metrics`)).text();
}

/**
 * The source's stats from /readyz: polled often, it must cost the follower little (a
 * /metrics scrape builds every metric, a few ms of its main thread each time).
 */
async function sourceStats(url) {
  return (await (await fetch(`${url}/readyz`)).json()).sources[0];
}

async function followCatchUp(dir, tag, n) {
  const f = startFollower(dir, tag, 'start_at: beginning');
  const { metrics, t } = await f.listening;
  const cpu0 = procNow(f.proc.pid).cpu;
  const busy0 = machineBusy();
  let done;
  for (;;) {
    if ((await sourceStats(metrics)).lines >= n) { done = performance.now(); break; }
    await new Promise((r) => setTimeout(r, 50));
  }
  const end = procNow(f.proc.pid);
  const busy1 = machineBusy();
  f.proc.kill('SIGTERM');
  const code = await f.exited;
  f.sampler.stop();
  if (code !== 0) throw new Error(`follower exited ${code}: ${f.err()}`);
  const alerts = readFileSync(f.out, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  const seconds = (done - t) / 1000;
  const others = Math.max(0, (busy1 - busy0 - (end.cpu - cpu0)) / seconds);
  return { seconds, eventsPerSecond: n / seconds, peakRss: end.hwm, avgCores: (end.cpu - cpu0) / seconds, others, alerts };
}

async function catchUp() {
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-follow-bench-'));
  const backlog = writeBacklog(dir, N);
  console.log(`backlog: ${n0(N)} events, ${n0(backlog.bytes / 1e6)} MB on disk in ${backlog.files.length} files (${backlog.gz} .gz), 16 MB rotation`);
  const tiny = join(dir, 'one.jsonl');
  writeFileSync(tiny, readFileSync(backlog.files[backlog.files.length - 1], 'utf8').split('\n')[0] + '\n');
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const startup = await runScan(dir, [tiny]);
    const b0 = machineBusy();
    const s = await runScan(dir, backlog.files);
    const scanOthers = Math.max(0, (machineBusy() - b0 - s.cpuSeconds) / s.wall);
    if (s.code !== 0) throw new Error(`peregrine scan exited ${s.code}: ${s.stderr}`);
    const scanSeconds = Math.max(1e-3, s.wall - startup.wall);
    const f = await followCatchUp(dir, `r${r}`, N);
    // The same detections: each alert (rule, event time) once, in both.
    const key = (a) => `${a.rule} ${a.time}`;
    const sk = s.lines.map((l) => key(JSON.parse(l))).sort();
    const fk = f.alerts.map(key).sort();
    const same = sk.length === fk.length && sk.every((k, i) => k === fk[i]);
    const row = {
      scanEps: N / scanSeconds, scanRss: s.peakRss, followEps: f.eventsPerSecond, followRss: f.peakRss, followCores: f.avgCores,
      ratio: f.eventsPerSecond / (N / scanSeconds), alerts: fk.length, same, others: f.others, scanOthers,
    };
    rounds.push(row);
    console.log(`round ${r + 1}: scan ${n0(row.scanEps)} events/s, follow ${n0(row.followEps)} events/s (${n2(row.ratio)}× scan, ${n2(row.followCores)} cores), `
      + `peak RSS follow ${mib(row.followRss)} / scan ${mib(row.scanRss)}, alerts ${row.alerts} ${same ? 'identical' : 'DIFFERENT'}; `
      + `other processes ${n2(row.scanOthers)} cores during scan, ${n2(row.others)} during follow`);
    if (!same) throw new Error('follow and scan found different alerts');
  }
  // Memory against the backlog's size: 3 × the events.
  rmSync(dir, { recursive: true, force: true });
  const dir3 = mkdtempSync(join(tmpdir(), 'peregrine-follow-bench-'));
  const big = writeBacklog(dir3, 3 * N);
  const f3 = await followCatchUp(dir3, 'x3', 3 * N);
  console.log(`3× backlog (${n0(3 * N)} events, ${n0(big.bytes / 1e6)} MB): follow ${n0(f3.eventsPerSecond)} events/s, peak RSS ${mib(f3.peakRss)}`);
  if (!values.keep) rmSync(dir3, { recursive: true, force: true });
  return { rounds, backlog, big: { events: 3 * N, bytes: big.bytes, peakRss: f3.peakRss, eventsPerSecond: f3.eventsPerSecond } };
}

async function lag() {
  // tmpfs by default: a virtual disk's sustained write speed (about 60 MB/s here, dirty
  // page throttling) is below 50,000 events/s of ~1.6 KB, and would pace the writer, not
  // the follower. --lag-dir to measure on a disk.
  const base = values['lag-dir'] ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const dir = mkdtempSync(join(base, 'peregrine-follow-lag-'));
  const rate = Number(values['lag-rate']);
  const seconds = Number(values['lag-seconds']);
  writeFileSync(join(dir, 'audit.log'), '');
  const f = startFollower(dir, 'lag', 'start_at: end, poll_interval_ms: 100');
  const { metrics } = await f.listening;
  const writer = spawn(process.execPath, [join(ROOT, 'load-tests/apiserver-writer.mjs'), '--path', join(dir, 'audit.log'), '--rate', String(rate),
    '--seconds', String(seconds), '--max-bytes', '100MB', ...(values['lag-compress'] ? ['--compress'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const writerUsage = new ProcSampler(writer.pid, 250);
  let summary = '';
  writer.stdout.on('data', (d) => { summary += d; });
  const writerDone = new Promise((r) => writer.once('exit', r));
  const samples = [];
  const cpu0 = procNow(f.proc.pid).cpu;
  const busy0 = machineBusy();
  const w0 = procNow(writer.pid).cpu;
  let finished = false;
  void writerDone.then(() => { finished = true; });
  const t0 = performance.now();
  while (!finished) {
    const st = await sourceStats(metrics);
    samples.push({ t: (performance.now() - t0) / 1000, lagSeconds: st.lagSeconds, lagBytes: st.lagBytes, lines: st.lines });
    await new Promise((r) => setTimeout(r, 100));
  }
  const wu = writerUsage.stop();
  const busy1 = machineBusy();
  const followerCpu1 = procNow(f.proc.pid).cpu;
  const lagWall = (performance.now() - t0) / 1000;
  // CPU used by everything else on the machine meanwhile (other users of the cores).
  const others = Math.max(0, (busy1 - busy0 - (followerCpu1 - cpu0) - (wu.cpuSeconds ?? 0)) / lagWall);
  void w0;
  const sum = JSON.parse(summary);
  // Then it catches up with the last lines.
  const tEnd = performance.now();
  for (;;) {
    if ((await sourceStats(metrics)).lines >= sum.events) break;
    if (performance.now() - tEnd > 60_000) throw new Error('the follower did not catch up within 60 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const drain = (performance.now() - tEnd) / 1000;
  const text = await scrape(metrics);
  const end = procNow(f.proc.pid);
  f.proc.kill('SIGTERM');
  const code = await f.exited;
  f.sampler.stop();
  const usage = { avgCores: (end.cpu - cpu0) / ((performance.now() - t0) / 1000), peakRss: end.hwm };
  if (code !== 0) throw new Error(`follower exited ${code}`);
  // Steady state: after the first 2 s.
  const steady = samples.filter((s) => s.t >= 2);
  const ls = steady.map((s) => s.lagSeconds);
  const lb = steady.map((s) => s.lagBytes);
  const r = {
    dir: base, rate, seconds, written: sum.events, achieved: sum.events / seconds, rotations: sum.rotations, compress: values['lag-compress'],
    lagP50: pct(ls, 0.5), lagP99: pct(ls, 0.99), lagMax: Math.max(...ls), bytesP99: pct(lb, 0.99), bytesMax: Math.max(...lb),
    drain, others, followCores: usage.avgCores, writerCores: wu.avgCores, peakRss: usage.peakRss, rotationsSeen: sample(text, 'peregrine_source_rotations_total'),
  };
  console.log(`live: writer ${n0(r.achieved)} events/s for ${seconds} s (${r.rotations} rotations${r.compress ? ', gzip' : ''}, ${n2(r.writerCores)} cores); `
    + `lag p50 ${n2(r.lagP50)} s, p99 ${n2(r.lagP99)} s, max ${n2(r.lagMax)} s; lag bytes p99 ${mib(r.bytesP99)}, max ${mib(r.bytesMax)}; `
    + `caught up ${n2(r.drain)} s after the writer stopped; follower ${n2(r.followCores)} cores, peak RSS ${mib(r.peakRss)}; other processes ${n2(r.others)} cores`);
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
  return r;
}

function markdown(c, l, cmd) {
  const out = [];
  const date = new Date().toISOString().slice(0, 10);
  out.push(`Measured ${date} with \`${cmd}\` on ${machine()}. Follower, writer and \`scan\` share these cores.`);
  out.push('');
  if (c) {
    out.push(`Catch-up: a backlog of ${n0(N)} events (${n0(c.backlog.bytes / 1e6)} MB on disk: ${c.backlog.files.length} files of 16 MB rotated as lumberjack does, ${c.backlog.gz} of the backups gzipped, the live file last), read from the beginning. `
      + '`peregrine scan` on the same files, in the same order, just before each follow run (its start-up subtracted); the follower timed from its `listening` line to its last line read (polled on /readyz every 50 ms); both with the bundled rules, same alerts.');
    out.push('');
    out.push('| round | scan events/s | follow events/s | ÷ scan | follow CPU cores | follow peak RSS | scan peak RSS | alerts (identical) | other processes, cores (scan / follow) |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---|');
    c.rounds.forEach((r, i) => out.push(`| ${i + 1} | ${n0(r.scanEps)} | ${n0(r.followEps)} | ${n2(r.ratio)}× | ${n2(r.followCores)} | ${mib(r.followRss)} | ${mib(r.scanRss)} | ${r.alerts} (${r.same ? 'yes' : 'NO'}) | ${n2(r.scanOthers)} / ${n2(r.others)} |`));
    out.push(`| median | ${n0(median(c.rounds.map((r) => r.scanEps)))} | ${n0(median(c.rounds.map((r) => r.followEps)))} | ${n2(median(c.rounds.map((r) => r.ratio)))}× | | | | | |`);
    out.push('');
    out.push(`Memory against the backlog: ${n0(N)} events → peak RSS ${mib(median(c.rounds.map((r) => r.followRss)))} (median); ${n0(c.big.events)} events (${n0(c.big.bytes / 1e6)} MB) → ${mib(c.big.peakRss)} (${n0(c.big.eventsPerSecond)} events/s).`);
    out.push('');
  }
  if (l) {
    out.push(`Live: \`apiserver-writer.mjs\` writing ${n0(l.rate)} events/s (achieved ${n0(l.achieved)}) for ${l.seconds} s into 100 MB files in ${l.dir} (${l.rotations} rotations${l.compress ? ', backups gzipped' : ''}), one write per event, while a follower started at the end follows (poll_interval_ms 100). lag sampled every 100 ms (from /readyz) after the first 2 s.`);
    out.push('');
    out.push('| lag p50 | lag p99 | lag max | lag bytes p99 | lag bytes max | caught up after the writer stopped | follower CPU cores | writer CPU cores | other processes, cores | follower peak RSS |');
    out.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    out.push(`| ${n2(l.lagP50)} s | ${n2(l.lagP99)} s | ${n2(l.lagMax)} s | ${mib(l.bytesP99)} | ${mib(l.bytesMax)} | ${n2(l.drain)} s | ${n2(l.followCores)} | ${n2(l.writerCores)} | ${n2(l.others)} | ${mib(l.peakRss)} |`);
  }
  return out.join('\n');
}

const c = values['skip-catchup'] ? undefined : await catchUp();
const l = values['skip-lag'] ? undefined : await lag();
const shown = process.argv.slice(2).filter((a) => a !== '--update-readme' && a !== '--keep');
const cmd = `npm run bench:follow${shown.length > 0 ? ' -- ' + shown.join(' ') : ''}`;
const md = markdown(c, l, cmd.trim());
console.log('\n' + md);
if (values['update-readme']) updateReadmeSection('follow', md);
