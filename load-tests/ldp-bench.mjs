#!/usr/bin/env node
// Benchmark of `peregrine serve` reading an OVHcloud LDP WebSocket stream (issue 17).
// Figures, not a test: printed, and written to load-tests/README.md with --update-readme.
//
//   npm run bench:ldp                         # 300,000 events after 100,000 of warm-up, 3 rounds
//   npm run bench:ldp -- --events 500000 --rounds 5 --update-readme
//   LDP_BENCH_DEBUG=1 npm run bench:ldp        # also CPU per event by thread, the stand-in's CPU
//   npm run bench:ldp -- --tls                # wss:// as real streams are (a self-signed
//                                             # certificate made with openssl, given as ca_file)
//
// A local stand-in for LDP (a `ws` server on loopback) sends every event of the
// load-test corpus as one frame, wrapped as LDP wraps it (JSON with a `message` that is
// a GELF record whose `short_message` is the event), as fast as the socket takes them
// (TCP back-pressure from the reader sets the pace). The reader is
// `peregrine serve --listen none` with one ldp source and the bundled rules, alerts to a
// file; events/s is over the events after the warm-up, to the last counted on /metrics.
// Baseline in the same round: `peregrine scan` over the same events as JSON lines.
import { updateReadmeSection } from './lib/readme.mjs';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { generatePool } from './corpus.mjs';
import { ProcSampler, ROOT, runScan, startServe } from './lib/proc.mjs';
import { parseProm, sumOf } from './lib/stats.mjs';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '300000' },
    warmup: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    pool: { type: 'string', default: '10000' },
    tls: { type: 'boolean', default: false },
    'update-readme': { type: 'boolean', default: false },
  },
});
const EVENTS = Number(values.events);
// Sent first and not timed: a server runs for days, and its first seconds compile the
// rules' predicates and the hot paths (hundreds of optimizations across three isolates).
const WARMUP = Number(values.warmup);
const TOTAL = WARMUP + EVENTS;
const ROUNDS = Number(values.rounds);

// The corpus: distinct events, each with its own time, wrapped once.
const pool = generatePool(Number(values.pool));
const t0 = Date.now() - 3600_000;
const events = [];
for (let i = 0; i < TOTAL; i++) {
  const t = new Date(t0 + i).toISOString();
  events.push(JSON.stringify({ ...pool[i % pool.length], auditID: `bench-${i}`, requestReceivedTimestamp: t, stageTimestamp: t }));
}
const frames = events.map((e) => Buffer.from(JSON.stringify({ message: JSON.stringify({ version: '1.1', host: 'mks', _appID: 'a1b2c3d4-mks-audit', short_message: e, timestamp: 1765100000.123 }), _stream: 'k8s-audit' })));
const frameBytes = frames.reduce((n, f) => n + f.length, 0);
// The stand-in's side costs next to nothing: the frames are WebSocket-framed once, here
// (server to client: unmasked text frames), and written to the socket as raw bytes.
function wsFrame(payload) {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 255]) : (() => {
    const h = Buffer.alloc(10);
    h[0] = 0x81; h[1] = 127; h.writeBigUInt64BE(BigInt(n), 2);
    return h;
  })();
  return Buffer.concat([head, payload]);
}
const wire = Buffer.concat(frames.map(wsFrame));
const dir = mkdtempSync(join(tmpdir(), 'peregrine-ldp-bench-'));
const lines = join(dir, 'events.jsonl');
// In pieces: one string of every event is beyond V8's longest past ~300k events.
const pieces = [];
for (let i = 0; i < events.length; i += 10_000) pieces.push(Buffer.from(events.slice(i, i + 10_000).join('\n') + '\n'));
writeFileSync(lines, Buffer.concat(pieces));
console.log(`corpus: ${TOTAL.toLocaleString('en')} events (${WARMUP.toLocaleString('en')} of warm-up), ${(frameBytes / 2 ** 20).toFixed(0)} MiB of frames (${Math.round(frameBytes / TOTAL)} bytes each), ${(pieces.reduce((n, b) => n + b.length, 0) / 2 ** 20).toFixed(0)} MiB of JSON lines`);

/** CPU seconds of each thread of `pid`, by thread id (debug output). */
function threadCpu(pid) {
  const out = new Map();
  for (const id of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${id}/stat`, 'utf8');
      const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(id, { name, s: (Number(f[11]) + Number(f[12])) / 100 });
    } catch { /* gone */ }
  }
  return out;
}

// --tls: the stand-in serves a certificate of its own, which the reader gets as ca_file.
const TLS = values.tls;
if (TLS) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ldp.key', '-out', 'ldp.crt',
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { cwd: dir, stdio: 'pipe' });
}

async function oneRound(k) {
  // The stand-in: sends every frame to the first client, as fast as it reads.
  const http = TLS ? createTlsServer({ cert: readFileSync(join(dir, 'ldp.crt')), key: readFileSync(join(dir, 'ldp.key')) }) : createServer();
  const wss = new WebSocketServer({ server: http });
  let sentAt = 0;
  const done = new Promise((resolve) => {
    wss.once('connection', (ws) => {
      sentAt = performance.now();
      const sock = ws._socket;
      let at = 0;
      const pump = () => {
        while (at < wire.length) {
          const end = Math.min(wire.length, at + 2 ** 20);
          const more = sock.write(wire.subarray(at, end));
          at = end;
          if (!more) return void sock.once('drain', pump);
        }
        resolve();
      };
      pump();
    });
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  writeFileSync(join(dir, 'ldp.url'), TLS ? `wss://localhost:${http.address().port}/tail/?tk=bench` : `ws://127.0.0.1:${http.address().port}/tail/?tk=bench`);
  const serve = await startServe(dir, {
    listen: 'none', metrics_listen: '127.0.0.1:0', workers: 2,
    sources: [{ type: 'ldp', url_file: join(dir, 'ldp.url'), cluster: 'bench', ...(TLS ? { ca_file: join(dir, 'ldp.crt') } : {}) }],
    outputs: { file: { path: join(dir, `alerts-${k}.jsonl`) } },
  });
  const sampler = new ProcSampler(serve.proc.pid, 200);
  const counted = async () => sumOf(parseProm(await serve.scrape()), 'peregrine_events_total', { cluster: 'bench' });
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  // The clock starts once the warm-up is counted (or at the first frame without one).
  // /metrics is asked sparingly: rendering it takes the server's main thread.
  let from = 0;
  if (WARMUP > 0) while ((from = await counted()) < WARMUP) await pause(50);
  else while (sentAt === 0) await pause(10);
  const tStart = WARMUP > 0 ? performance.now() : sentAt;
  sampler.sample();
  const cpuStart = WARMUP > 0 ? sampler.cpuSeconds : 0;
  const mainStart = WARMUP > 0 ? sampler.mainSeconds : 0;
  const benchCpu0 = process.cpuUsage();
  const threads0 = threadCpu(serve.proc.pid);
  await done;
  let to = 0;
  while ((to = await counted()) < TOTAL) await pause(20);
  const seconds = (performance.now() - tStart) / 1000;
  const benchCpu = process.cpuUsage(benchCpu0);
  sampler.sample();
  const timed = to - from;
  const cpuTimed = sampler.cpuSeconds - cpuStart;
  const mainTimed = sampler.mainSeconds - mainStart;
  const usage = sampler.stop();
  const m = parseProm(await serve.scrape());
  const alerts = sumOf(m, 'peregrine_alerts_total');
  if (process.env.LDP_BENCH_DEBUG) {
    const t1 = threadCpu(serve.proc.pid);
    console.log('threads (µs/event):', [...t1].map(([id, v]) => [v.name, ((v.s - (threads0.get(id)?.s ?? 0)) / timed) * 1e6]).filter(([, u]) => u > 0.05).map(([n, u]) => `${n} ${u.toFixed(2)}`).join(', '));
    console.log('stand-in cores while timed', ((benchCpu.user + benchCpu.system) / 1e6 / seconds).toFixed(2), 'user', (benchCpu.user / 1e6 / seconds).toFixed(2));
    console.log('server main-thread CPU s', sampler.mainSeconds.toFixed(2), 'all threads', sampler.cpuSeconds.toFixed(2), 'bench process CPU s', (process.cpuUsage().user / 1e6).toFixed(2));
    for (const n of ['peregrine_task_evaluation_seconds_sum', 'peregrine_task_evaluation_seconds_count', 'peregrine_queue_wait_seconds_sum', 'peregrine_queue_wait_seconds_count', 'peregrine_worker_tasks_total', 'peregrine_source_stream_paused']) console.log(n, sumOf(m, n));
  }
  await serve.stop();
  wss.close();
  http.close();
  const scan = await runScan(dir, [lines]);
  const scanAlerts = scan.lines.length;
  return {
    eps: timed / seconds, seconds, cores: cpuTimed / seconds, peak: usage.peakRss, alerts,
    usMain: (mainTimed / timed) * 1e6, usAll: (cpuTimed / timed) * 1e6,
    scanEps: TOTAL / scan.wall, scanAlerts, same: alerts === scanAlerts, usScan: (scan.cpuSeconds / TOTAL) * 1e6,
  };
}

const rounds = [];
for (let k = 1; k <= ROUNDS; k++) {
  const r = await oneRound(k);
  rounds.push(r);
  console.log(`round ${k}: ${Math.round(r.eps).toLocaleString('en')} events/s from the stream (${r.seconds.toFixed(2)} s, ${r.cores.toFixed(2)} cores, peak RSS ${(r.peak / 2 ** 20).toFixed(0)} MiB); scan ${Math.round(r.scanEps).toLocaleString('en')} events/s; alerts ${r.alerts} vs scan ${r.scanAlerts}`);
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpu = cpus()[0]?.model.replace(/\(R\)|\(TM\)|CPU|@.*$/g, '').replace(/\s+/g, ' ').trim();
const text = [
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:ldp -- --events ${EVENTS} --warmup ${WARMUP} --rounds ${ROUNDS}${TLS ? ' --tls' : ''}\` on ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; the stand-in, the server and the scan baseline share these cores.${TLS ? ' Over wss:// (TLS 1.3, a P-256 certificate): the stand-in encrypts on these cores too.' : ''}`,
  '',
  `${EVENTS.toLocaleString('en')} events of the load-test corpus timed after ${WARMUP.toLocaleString('en')} of warm-up on the same connection (the server's first seconds compile the rules' predicates and its hot paths), one per frame (${Math.round(frameBytes / TOTAL)} bytes with LDP's two JSON wrappers), one stream, bundled rules, alerts to a file. CPU per event is over the timed part. \`scan\` reads all ${TOTAL.toLocaleString('en')} events as JSON lines, its start-up included; alerts are compared over all of them.`,
  '',
  '| round | stream events/s | seconds | server CPU cores | server CPU per event: main thread / all threads | peak RSS | `scan` events/s (JSON lines, same events) | `scan` CPU per event (start-up included) | ÷ scan | alerts (same as scan) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ...rounds.map((r, i) => `| ${i + 1} | ${Math.round(r.eps).toLocaleString('en')} | ${r.seconds.toFixed(2)} | ${r.cores.toFixed(2)} | ${r.usMain.toFixed(1)} / ${r.usAll.toFixed(1)} µs | ${(r.peak / 2 ** 20).toFixed(0)} MiB | ${Math.round(r.scanEps).toLocaleString('en')} | ${r.usScan.toFixed(1)} µs | ${(r.eps / r.scanEps).toFixed(2)}× | ${r.alerts} (${r.same ? 'yes' : 'NO'}) |`),
  `| median | ${Math.round(med(rounds.map((r) => r.eps))).toLocaleString('en')} | | | ${med(rounds.map((r) => r.usMain)).toFixed(1)} / ${med(rounds.map((r) => r.usAll)).toFixed(1)} µs | | ${Math.round(med(rounds.map((r) => r.scanEps))).toLocaleString('en')} | ${med(rounds.map((r) => r.usScan)).toFixed(1)} µs | ${med(rounds.map((r) => r.eps / r.scanEps)).toFixed(2)}× | |`,
];
console.log('\n' + text.join('\n'));
if (values['update-readme']) updateReadmeSection(TLS ? 'ldp-tls' : 'ldp', text.join('\n'));
process.exit(rounds.every((r) => r.same) ? 0 : 1);
