#!/usr/bin/env node
// Writes an audit log as kube-apiserver's log backend does (lib/apiserver-log.mjs:
// lumberjack's rotation, compression and retention) at a steady rate, for the follow
// tests and benchmark. Events come from load-tests/corpus.mjs (realistic traffic, ~10 %
// RequestResponse pod creates); each gets a unique stageTimestamp (the write time in
// ms, and a sequence number in the sub-millisecond digits), so every alert names the
// event it came from (the alert's `time`).
//
//   node load-tests/apiserver-writer.mjs --path DIR/audit.log --rate 20000 --seconds 10 \
//     --max-bytes 4MB --compress --manifest DIR/manifest.txt
//
// --manifest: one line per pod create written: `<stageTimestamp> <inode> <offset>`,
// and one per rotation: `rotate <inode> <backup name>`.
// At the end (or SIGTERM) it prints a JSON summary on stdout: events, bytes, rotations,
// pod creates, seconds.
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { generatePool, PoolEvent } from './corpus.mjs';
import { ApiserverLog } from './lib/apiserver-log.mjs';

const { values } = parseArgs({
  options: {
    path: { type: 'string' },
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string' },
    events: { type: 'string' },
    'max-bytes': { type: 'string', default: '100MB' },
    compress: { type: 'boolean', default: false },
    'compress-delay-ms': { type: 'string', default: '0' },
    'max-backups': { type: 'string', default: '0' },
    manifest: { type: 'string' },
    pool: { type: 'string', default: '5000' },
    seed: { type: 'string', default: '7' },
  },
});
if (!values.path) throw new Error('--path is required');

function bytes(s) {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(s);
  if (!m) throw new Error(`not a size: ${s}`);
  const u = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase()];
  return Math.floor(Number(m[1]) * u);
}

const rate = Number(values.rate);
const limitEvents = values.events ? Number(values.events) : Infinity;
const limitMs = values.seconds ? Number(values.seconds) * 1000 : Infinity;
const pool = generatePool(Number(values.pool), { seed: Number(values.seed) }).map((e) => {
  const p = new PoolEvent(e);
  p.podCreate = e.verb === 'create' && e.objectRef?.resource === 'pods';
  p.line = Buffer.concat([p.bytes, Buffer.from('\n')]);
  return p;
});
const manifest = values.manifest ? createWriteStream(values.manifest) : undefined;
let manifestBuf = '';
const log = new ApiserverLog(values.path, {
  maxBytes: bytes(values['max-bytes']), compress: values.compress, compressDelayMs: Number(values['compress-delay-ms']), maxBackups: Number(values['max-backups']),
  onRotate: (ino, name) => { if (manifest) manifestBuf += `rotate ${ino} ${name}\n`; },
});

let seq = 0;
let events = 0;
let written = 0;
let podCreates = 0;
const t0 = Date.now();
let stopping = false;

function stamp(buf, at, prefix, n) {
  buf.write(prefix, at, 23, 'latin1');
  for (let k = 28; k >= 23; k--) {
    buf[at + k] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  buf[at + 29] = 0x5a;
}

function writeSome(n) {
  const ms = Date.now();
  const prefix = new Date(ms).toISOString().slice(0, 23);
  for (let i = 0; i < n; i++) {
    const ev = pool[events % pool.length];
    const s = seq;
    seq = (seq + 1) % 1_000_000;
    for (const at of ev.stamps) stamp(ev.line, at, prefix, s);
    const where = log.write(ev.line);
    events++;
    written += ev.line.length;
    if (ev.podCreate) {
      podCreates++;
      if (manifest) manifestBuf += `${prefix}${String(s).padStart(6, '0')}Z ${where.ino} ${where.offset}\n`;
    }
  }
  if (manifest && manifestBuf.length > 65536) {
    manifest.write(manifestBuf);
    manifestBuf = '';
  }
}

async function finish() {
  log.close();
  await log.idle();
  if (manifest) {
    manifest.write(manifestBuf);
    await new Promise((r) => manifest.end(r));
  }
  process.stdout.write(JSON.stringify({ events, bytes: written, rotations: log.rotations, podCreates, seconds: (Date.now() - t0) / 1000 }) + '\n');
}

process.on('SIGTERM', () => { stopping = true; });

// Steady pace: every few ms, write what is due since the start.
for (;;) {
  const elapsed = Date.now() - t0;
  if (stopping || events >= limitEvents || elapsed >= limitMs) break;
  const due = Math.min(limitEvents, Math.floor((rate * elapsed) / 1000)) - events;
  if (due > 0) {
    writeSome(Math.min(due, Math.max(1, Math.floor(rate / 100))));
    // Let the background compression (and SIGTERM) in.
    await new Promise((r) => setImmediate(r));
  } else {
    await new Promise((r) => setTimeout(r, 2));
  }
}
await finish();
