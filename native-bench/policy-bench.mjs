#!/usr/bin/env node
// The audit policy advisor on a cluster log recorded at RequestResponse
// (native-bench/policy-corpus.mjs): for Falco's latest k8s_audit rules and for the
// bundled rules, the generated policy's bytes against the sample, checked by scanning
// both (the same alerts), and `policy cost` against `peregrine scan` over the same file
// (CPU time, alternating rounds, medians: the machine is shared and noisy).
//   npm run bench:policy -- [--requests N] [--rounds K] [--gz]
import { writeFileSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { fullLevelCorpus, corpusText } from './policy-corpus.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const REQUESTS = opt('requests', 60_000);
const ROUNDS = opt('rounds', 5);
const here = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(here, '../dist/cli/main.js');
const FALCO = join(here, '../test/fixtures/falco-k8saudit/rules/k8s_audit_rules.latest.yaml');
const BUNDLED = join(here, '../rules');

const dir = mkdtempSync(join(tmpdir(), 'peregrine-policy-bench-'));
const run = (cmdArgs, env = {}) => {
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, CLI, ...cmdArgs], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmdArgs.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const t = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { stdout: r.stdout, cpu: t[0] + t[1] };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;

try {
  const events = fullLevelCorpus(REQUESTS, { seed: 5 });
  const text = corpusText(events);
  const sample = join(dir, 'cluster.jsonl');
  writeFileSync(sample, text);
  const input = args.includes('--gz') ? (writeFileSync(`${sample}.gz`, gzipSync(text)), `${sample}.gz`) : sample;
  console.log(`sample: ${events.length} events (${REQUESTS} requests), ${mib(Buffer.byteLength(text))}${input.endsWith('.gz') ? ', read as .gz' : ''}`);
  const policies = [];
  for (const [name, rules] of [["Falco's latest k8s_audit rules", FALCO], ['the bundled rules', BUNDLED]]) {
    const pol = join(dir, `${policies.length}.yaml`);
    const out = join(dir, `${policies.length}.jsonl`);
    run(['policy', 'generate', '--rules', rules, '-o', pol]);
    const cost = JSON.parse(run(['policy', 'cost', '--policy', pol, '--write', out, '--format', 'json', input]).stdout).policies[0];
    const full = run(['scan', '--rules', rules, input]).stdout;
    const cut = run(['scan', '--rules', rules, out]).stdout;
    const same = full === cut;
    const alerts = full.split('\n').filter(Boolean).length;
    console.log(`${name}: generated policy keeps ${cost.events} of ${events.length} events (${(100 * cost.ratio.events).toFixed(0)} %), `
      + `${mib(cost.bytes)} of ${mib(Buffer.byteLength(text))} (${(100 * cost.ratio.bytes).toFixed(1)} %); alerts ${same ? 'identical' : 'DIFFERENT'} (${alerts})`);
    if (!same) process.exitCode = 1;
    policies.push({ pol, rules });
  }
  // Speed: policy cost (both policies, --write) against scan (bundled rules) over the same input.
  const scanCpu = [];
  const costCpu = [];
  for (let i = 0; i < ROUNDS; i++) {
    scanCpu.push(run(['scan', input]).cpu);
    costCpu.push(run(['policy', 'cost', '--policy', policies[1].pol, '--write', join(dir, 'w.jsonl'), input]).cpu);
  }
  const s = median(scanCpu);
  const c = median(costCpu);
  console.log(`CPU, median of ${ROUNDS}: scan (bundled rules) ${s.toFixed(2)} s, policy cost --write ${c.toFixed(2)} s: ${(c / s).toFixed(2)}x scan`
    + ` (${mib(readFileSync(sample).length / c)}/s of sample)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
