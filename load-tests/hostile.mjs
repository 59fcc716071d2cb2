// What hostile clients cost a clean one: a cluster sends 100-event batches (one at a
// time, 20 per second) while, in turn, nothing else runs (the baseline of this run),
// and then each attack: a connection pipelining `GET /nope` as fast as it can without
// reading (reconnecting whenever it is closed), the same on the metrics port with
// `GET /healthz`, another cluster's uploads trickling at 1 byte/s, and another cluster
// flooding bodies of millions of tiny items. Prints the clean client's latency per
// phase as a ratio to the baseline, the server's event-loop lag and peak RSS.
//   npm run load:hostile -- [--seconds 10] [--update-readme]
import { updateReadmeSection } from './lib/readme.mjs';
import http from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ProcSampler, ROOT, startServe } from './lib/proc.mjs';
import { parseProm, percentiles, sumOf } from './lib/stats.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = opt('seconds', 10);
const UPDATE = args.includes('--update-readme');

const TOKEN_CLEAN = 'clean-cluster-token-0123456789';
const TOKEN_BAD = 'attacker-cluster-token-0123456789';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-hostile-'));
writeFileSync(join(dir, 'clean.token'), TOKEN_CLEAN);
writeFileSync(join(dir, 'bad.token'), TOKEN_BAD);
const serve = await startServe(dir, {
  listen: '127.0.0.1:0', metrics_listen: '127.0.0.1:0', workers: 2,
  auth: { tokens: [{ cluster: 'clean', file: join(dir, 'clean.token') }, { cluster: 'attacker', file: join(dir, 'bad.token') }] },
  outputs: { file: { path: join(dir, 'alerts.jsonl') } },
});
const web = new URL(serve.webhook);
const met = new URL(serve.metrics);

function event(i) {
  const t = new Date().toISOString();
  return {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: `clean-${i}`, stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/pods?limit=500', verb: 'list',
    user: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
    sourceIPs: ['10.0.0.12'], userAgent: 'kube-controller-manager/v1.30.0', objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 }, requestReceivedTimestamp: t, stageTimestamp: t,
  };
}
const cleanBody = Buffer.from(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: Array.from({ length: 100 }, (_, i) => event(i)) }));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(body, token, a = agent) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request({
      host: web.hostname, port: web.port, path: web.pathname, method: 'POST', agent: a,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': body.length },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t0 }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end(body);
  });
}

/** The clean cluster: one request at a time, 20 per second, for `seconds`. */
async function cleanClient(seconds) {
  const lat = [];
  const codes = {};
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const next = performance.now() + 50;
    const r = await post(cleanBody, TOKEN_CLEAN);
    lat.push(r.ms);
    codes[r.status] = (codes[r.status] ?? 0) + 1;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  return { lat, codes };
}

/** A connection pipelining `request` without reading, reopened whenever it is closed. */
function pipelineFlood(host, port, request) {
  let stop = false;
  let connections = 0;
  let bytes = 0;
  const chunk = Buffer.from(request.repeat(512));
  const open = () => {
    if (stop) return;
    connections++;
    const s = connect(port, host);
    s.pause();
    const pump = () => {
      while (!stop && !s.destroyed) {
        bytes += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      if (stop) s.destroy();
    };
    s.on('connect', pump);
    s.on('error', () => undefined);
    s.on('close', () => setImmediate(open));
  };
  open();
  return () => { stop = true; return { connections, bytes }; };
}

/** `n` uploads declaring 1 MiB and sending 1 byte/s, reopened whenever they are cut. */
function slowUploads(n) {
  let stop = false;
  let opened = 0;
  const socks = new Set();
  const open = () => {
    if (stop) return;
    opened++;
    const s = connect(Number(web.port), web.hostname);
    socks.add(s);
    let timer;
    s.on('connect', () => {
      s.write(`POST ${web.pathname} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN_BAD}\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024}\r\n\r\n`);
      timer = setInterval(() => s.write('['), 1000);
    });
    s.on('data', () => s.destroy());
    s.on('error', () => undefined);
    s.on('close', () => { clearInterval(timer); socks.delete(s); setTimeout(open, 100); });
  };
  for (let i = 0; i < n; i++) open();
  return () => { stop = true; for (const s of socks) s.destroy(); return { connections: opened }; };
}

/** `n` senders of 12 MiB bodies of 4 M tiny items each, back to back. */
function tinyItems(n) {
  let stop = false;
  const body = Buffer.from(`{"kind":"EventList","items":[${'{},'.repeat(3_999_999)}{}]}`);
  const a = new http.Agent({ keepAlive: true, maxSockets: n });
  let sent = 0;
  const loops = Array.from({ length: n }, async () => {
    while (!stop) {
      await post(body, TOKEN_BAD, a);
      sent++;
    }
  });
  return async () => { stop = true; await Promise.all(loops); return { bodies: sent }; };
}

async function lagMax() {
  const s = parseProm(await serve.scrape());
  return sumOf(s, 'peregrine_process_nodejs_eventloop_lag_max_seconds') * 1000;
}

const sampler = new ProcSampler(serve.proc.pid);
const phases = [];
async function phase(name, start) {
  const stopAttack = start?.();
  const t0 = sampler.peakRss;
  const r = await cleanClient(SECONDS);
  const attack = stopAttack ? await stopAttack() : undefined;
  await new Promise((res) => setTimeout(res, 500));
  sampler.sample();
  const p = percentiles(r.lat, [50, 99]);
  const lag = await lagMax();
  phases.push({ name, p50: p[50], p99: p[99], n: r.lat.length, codes: r.codes, lag, peak: sampler.peakRss, peakBefore: t0, attack });
  console.log(`${name}: clean p50 ${p[50].toFixed(1)} ms, p99 ${p[99].toFixed(1)} ms over ${r.lat.length} requests ${JSON.stringify(r.codes)}; event-loop lag max ${lag.toFixed(0)} ms; peak RSS ${(sampler.peakRss / 2 ** 20).toFixed(0)} MiB; attacker ${JSON.stringify(attack ?? {})}`);
}

// Warm the workers up, then measure.
for (let i = 0; i < 20; i++) await post(cleanBody, TOKEN_CLEAN);
await phase('baseline (no attack)');
await phase('pipelined GET /nope on the webhook port', () => pipelineFlood(web.hostname, Number(web.port), 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n'));
await phase('pipelined GET /healthz on the metrics port', () => pipelineFlood(met.hostname, Number(met.port), 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
await phase('20 uploads of another cluster at 1 byte/s', () => slowUploads(20));
await phase('4 senders of 12 MiB bodies of 4 M tiny items', () => tinyItems(4));
const metrics = parseProm(await serve.scrape());
await serve.stop();

const base = phases[0];
const cpu = cpus()[0]?.model.replace(/\(R\)|\(TM\)|CPU|@.*$/g, '').replace(/\s+/g, ' ').trim();
const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run load:hostile -- --seconds ${SECONDS}\` on ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; attackers, clean client and server share these cores.`,
  '',
  'The clean cluster sends 100-event batches, one at a time, 20 per second; each phase lasts the same time.',
  '',
  '| phase | clean p50 ms | clean p99 ms | p99 ÷ baseline | clean answers | server event-loop lag max in the phase (ms) | peak RSS | attacker |',
  '|---|---:|---:|---:|---|---:|---:|---|',
  ...phases.map((p) => `| ${p.name} | ${p.p50.toFixed(1)} | ${p.p99.toFixed(1)} | ${(p.p99 / base.p99).toFixed(2)}× | ${Object.entries(p.codes).map(([c, n]) => `${c}: ${n}`).join(', ')} | ${p.lag.toFixed(0)} | ${(p.peak / 2 ** 20).toFixed(0)} MiB | ${Object.entries(p.attack ?? {}).map(([k, v]) => `${v} ${k}`).join(', ')} |`),
  '',
  `Refusals counted by the server over the run: ${['not_found', 'slow_upload', 'cluster_share', 'too_many_events', 'upload_aborted'].map((r) => `${r} ${sumOf(metrics, 'peregrine_requests_rejected_total', { reason: r })}`).join(', ')}.`,
];
console.log('\n' + lines.join('\n'));
if (UPDATE) updateReadmeSection('hostile', lines.join('\n'));
process.exit(0);
