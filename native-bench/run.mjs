#!/usr/bin/env node
// Native extraction benchmark: every path on one core, in one run, as ratios to a
// JSON.parse baseline measured in the same run (the machines are shared and noisy).
//   npm run bench:native -- [--events N] [--reps R] [--no-scan]
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { generateEventLists, generateLines } from './corpus.mjs';
import { Ruleset } from '../dist/rules/ruleset.js';
import { Processor } from '../dist/engine/processor.js';
import { NodeTable } from '../dist/events/nodes.js';
import { Rows } from '../dist/events/plan.js';
import { jsBackend } from '../dist/engine/backend.js';
import { chooseBackend } from '../dist/engine/select-backend.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const EVENTS = opt('events', 100_000);
const REPS = opt('reps', 5);
const SCAN = !args.includes('--no-scan');
const here = new URL('.', import.meta.url).pathname;
const conformance = join(here, '../../shared/conformance/falco-k8saudit/rules');
const ruleFiles = [join(conformance, 'falco_rules.lists.yaml'), join(conformance, 'k8s_audit_rules.latest.yaml')];

const lists = generateEventLists(EVENTS, 400).map((s) => Buffer.from(s));
const strings = lists.map((b) => b.toString());
const bytes = lists.reduce((a, b) => a + b.length, 0);

/**
 * Every path runs once to warm up, then REPS rounds run each path in turn; a path's
 * figure is its best round, in CPU seconds of this process (user + system). Rounds
 * interleave the paths so that a noisy neighbour slows them alike, and CPU time is
 * stretched much less than wall time by other processes.
 */
const paths = [];
function path(name, fn, note = () => '') {
  paths.push({ name, fn, note });
}

path('JSON.parse (bytes → string → JSON.parse), baseline', () => { for (const b of lists) JSON.parse(b.toString()); });
path('JSON.parse of strings already decoded', () => { for (const s of strings) JSON.parse(s); });

let simdjson;
try {
  simdjson = createRequire(import.meta.url)('simdjson');
} catch {
  simdjson = undefined;
}
if (simdjson) {
  path('npm simdjson 0.9.2 parse', () => { for (const s of strings) simdjson.parse(s); });
  path('npm simdjson lazyParse + 3 valueForKeyPath per event', () => {
    strings.forEach((s, k) => {
      const doc = simdjson.lazyParse(s);
      for (let i = 0, n = Math.min(400, EVENTS - 400 * k); i < n; i++) {
        doc.valueForKeyPath(`items[${i}].verb`);
        doc.valueForKeyPath(`items[${i}].objectRef.resource`);
        doc.valueForKeyPath(`items[${i}].user.username`);
      }
    });
  }, () => 'per-value crossings into JS');
}

const ruleset = Ruleset.compile(ruleFiles.map((f) => ({ name: f, text: readFileSync(f, 'utf8') })), { ruleMatching: 'first' });
const native = chooseBackend({ PEREGRINE_NATIVE: '1' }).backend;
const table = new NodeTable(1 << 16);
path('TypeScript parser (full node table)', () => { for (const b of lists) jsBackend.parse(table, b, 0, b.length); });
path('native extractor, full node table', () => { for (const b of lists) native.parse(table, b, 0, b.length); });
const plan = native.preparePlan(ruleset.slots.plan);
const planRows = new Rows(plan.slotCount, 512);
path('native extractor alone (field plan of Falco latest rules)', () => {
  for (const b of lists) native.parsePlanned(table, b, 0, b.length, plan, planRows);
});

for (const [label, backend] of [['TypeScript fallback', jsBackend], ['native', native]]) {
  const p = new Processor(ruleset, { format: { hostname: 'bench', timeIso8601: false }, backend });
  let alerts = 0;
  path(`parse + full evaluation, ${label} (Falco latest rules, first)`, () => {
    alerts = 0;
    for (const b of lists) alerts += p.process(b, 0, b.length, () => {}).alerts;
  }, () => `${alerts} alerts`);
}

const cpuSeconds = (fn) => {
  const c = process.cpuUsage();
  fn();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1e6;
};
const bestSecs = paths.map(() => Infinity);
for (const p of paths) p.fn();
for (let round = 0; round < REPS; round++) {
  paths.forEach((p, i) => { bestSecs[i] = Math.min(bestSecs[i], cpuSeconds(p.fn)); });
}
const rows = paths.map((p, i) => {
  const secs = bestSecs[i];
  const eps = EVENTS / secs;
  return { name: p.name, mbs: bytes / secs / 1e6, eps, ratio: eps / (EVENTS / bestSecs[0]), note: p.note() };
});
if (!simdjson) rows.splice(2, 0, { name: 'npm simdjson binding', mbs: NaN, eps: NaN, ratio: NaN, note: 'not installed' });

const cpuInfo = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
console.log(`native-bench: ${EVENTS} events, ${(bytes / 1e6).toFixed(1)} MB in EventLists of 400 (${Math.round(bytes / EVENTS)} B/event avg), best of ${REPS} (CPU time)`);
console.log(`machine: ${cpuInfo}; native backend: ${native.name}`);
console.log('');
console.log('| path | MB/s | events/s | × JSON.parse | note |');
console.log('|---|---:|---:|---:|---|');
for (const r of rows) {
  const f = (n, d = 0) => (Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  console.log(`| ${r.name} | ${f(r.mbs)} | ${f(r.eps)} | ${f(r.ratio, 2)} | ${r.note} |`);
}

if (SCAN) {
  // CPU time of `peregrine scan` over JSON lines vs merely JSON.parse-ing the same lines.
  const dir = mkdtempSync(join(tmpdir(), 'pg-bench-'));
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, generateLines(EVENTS).join('\n') + '\n');
  const cli = join(here, '../dist/cli/main.js');
  const parseOnly = join(dir, 'parse-only.mjs');
  writeFileSync(parseOnly, `import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
let n = 0;
for await (const line of createInterface({ input: createReadStream(${JSON.stringify(file)}) })) { if (line) { JSON.parse(line); n++; } }
if (n !== ${EVENTS}) throw new Error('lines: ' + n);
`);
  const empty = join(dir, 'empty.jsonl');
  writeFileSync(empty, '');
  const rulesArgs = ruleFiles.flatMap((f) => ['--rules', f]);
  const commands = [
    ['node: read lines + JSON.parse each (baseline)', [process.execPath, parseOnly]],
    ['peregrine scan (native)', [process.execPath, cli, 'scan', '--quiet', ...rulesArgs, file]],
    ['peregrine scan (PEREGRINE_NATIVE=0)', ['env', 'PEREGRINE_NATIVE=0', process.execPath, cli, 'scan', '--quiet', ...rulesArgs, file]],
    ['peregrine scan of an empty file (startup: load, compile rules)', [process.execPath, cli, 'scan', '--quiet', ...rulesArgs, empty]],
  ];
  const cpu = (cmd) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S', ...cmd], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr.slice(-500)}`);
    const last = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    return last[0] + last[1];
  };
  // Rounds interleave the commands, as above; best of 3 each.
  const bestCpu = commands.map(() => Infinity);
  for (let round = 0; round < 3; round++) commands.forEach(([, cmd], i) => { bestCpu[i] = Math.min(bestCpu[i], cpu(cmd)); });
  console.log('');
  console.log(`CPU seconds (user+sys, best of 3) over ${EVENTS} JSON lines:`);
  console.log(`| command | CPU s | ÷ JSON.parse of the lines |`);
  console.log('|---|---:|---:|');
  commands.forEach(([name], i) => console.log(`| ${name} | ${bestCpu[i].toFixed(2)} | ${(bestCpu[i] / bestCpu[0]).toFixed(2)} |`));
  rmSync(dir, { recursive: true, force: true });
}
