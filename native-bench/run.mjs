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
 * Best of REPS runs, in CPU seconds of this process (user + system): other processes
 * on a shared machine stretch wall time, much less the CPU time a run needs.
 */
function best(fn) {
  let min = Infinity;
  fn();
  for (let i = 0; i < REPS; i++) {
    const c = process.cpuUsage();
    fn();
    const d = process.cpuUsage(c);
    min = Math.min(min, (d.user + d.system) / 1e6);
  }
  return min;
}

const rows = [];
let baseline = 0;
function report(name, secs, note = '') {
  const eps = EVENTS / secs;
  if (baseline === 0) baseline = eps;
  rows.push({ name, mbs: bytes / secs / 1e6, eps, ratio: eps / baseline, note });
}

report('JSON.parse (bytes → string → JSON.parse), baseline', best(() => { for (const b of lists) JSON.parse(b.toString()); }));
report('JSON.parse of strings already decoded', best(() => { for (const s of strings) JSON.parse(s); }));

let simdjson;
try {
  simdjson = createRequire(import.meta.url)('simdjson');
} catch {
  simdjson = undefined;
}
if (simdjson) {
  report('npm simdjson 0.9.2 parse', best(() => { for (const s of strings) simdjson.parse(s); }));
  report('npm simdjson lazyParse + 3 valueForKeyPath per event', best(() => {
    for (const s of strings) {
      const doc = simdjson.lazyParse(s);
      for (let i = 0; i < 400; i++) {
        doc.valueForKeyPath(`items[${i}].verb`);
        doc.valueForKeyPath(`items[${i}].objectRef.resource`);
        doc.valueForKeyPath(`items[${i}].user.username`);
      }
    }
  }), 'per-value crossings into JS');
} else {
  rows.push({ name: 'npm simdjson binding', mbs: NaN, eps: NaN, ratio: NaN, note: 'not installed' });
}

const ruleset = Ruleset.compile(ruleFiles.map((f) => ({ name: f, text: readFileSync(f, 'utf8') })), { ruleMatching: 'first' });
const native = chooseBackend({ PEREGRINE_NATIVE: '1' }).backend;
const table = new NodeTable(1 << 16);
report('TypeScript parser (full node table)', best(() => { for (const b of lists) jsBackend.parse(table, b, 0, b.length); }));
report('native extractor, full node table', best(() => { for (const b of lists) native.parse(table, b, 0, b.length); }));
const plan = native.preparePlan(ruleset.slots.plan);
const planRows = new Rows(plan.slotCount, 512);
report('native extractor alone (field plan of Falco latest rules)', best(() => {
  for (const b of lists) native.parsePlanned(table, b, 0, b.length, plan, planRows);
}));

let alerts = 0;
for (const [label, backend] of [['TypeScript fallback', jsBackend], ['native', native]]) {
  const p = new Processor(ruleset, { format: { hostname: 'bench', timeIso8601: false }, backend });
  report(`parse + full evaluation, ${label} (Falco latest rules, first)`, best(() => {
    alerts = 0;
    for (const b of lists) alerts += p.process(b, 0, b.length, () => {}).alerts;
  }), `${alerts} alerts`);
}

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
  const cpu = (cmd) => {
    let min = Infinity;
    for (let i = 0; i < 3; i++) {
      const r = spawnSync('/usr/bin/time', ['-f', '%U %S', ...cmd], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, maxBuffer: 1 << 28 });
      const last = r.stderr.trim().split('\n').pop().split(' ').map(Number);
      min = Math.min(min, last[0] + last[1]);
    }
    return min;
  };
  const tParse = cpu([process.execPath, parseOnly]);
  const tScan = cpu([process.execPath, cli, 'scan', '--quiet', ...ruleFiles.flatMap((f) => ['--rules', f]), file]);
  const tScanJs = cpu(['env', 'PEREGRINE_NATIVE=0', process.execPath, cli, 'scan', '--quiet', ...ruleFiles.flatMap((f) => ['--rules', f]), file]);
  console.log('');
  console.log(`CPU seconds (user+sys, best of 3) over ${EVENTS} JSON lines:`);
  console.log(`| command | CPU s | ÷ JSON.parse of the lines |`);
  console.log('|---|---:|---:|');
  console.log(`| node: read lines + JSON.parse each (baseline) | ${tParse.toFixed(2)} | 1.00 |`);
  console.log(`| peregrine scan (native) | ${tScan.toFixed(2)} | ${(tScan / tParse).toFixed(2)} |`);
  console.log(`| peregrine scan (PEREGRINE_NATIVE=0) | ${tScanJs.toFixed(2)} | ${(tScanJs / tParse).toFixed(2)} |`);
  rmSync(dir, { recursive: true, force: true });
}
