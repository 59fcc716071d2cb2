// The main thread compiles rules with V8's optimizing compiler off (src/rules/jit.ts). What matters: it is
// really off while they compile, on again for the per-event path afterwards, and left
// alone when the user chose JIT flags; and a scan's later tier-up still optimizes hot code. Checked in a child process, with V8's own
// optimization status of a probe function.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dist = (p: string): string => fileURLToPath(new URL(`../../dist/${p}`, import.meta.url));

// %GetOptimizationStatus bit: the function runs TurboFan code.
const TURBOFANNED = 1 << 6;

const SCRIPT = `
import { Ruleset } from ${JSON.stringify(dist('rules/ruleset.js'))};
import { withoutOptimizer } from ${JSON.stringify(dist('rules/jit.js'))};
import { readRuleFiles, defaultRulePaths } from ${JSON.stringify(dist('config/rules-files.js'))};
function probe() {
  const f = new Function('x', 'return x * 2 + 1;');
  %PrepareFunctionForOptimization(f); f(1); f(2); %OptimizeFunctionOnNextCall(f); f(3);
  return %GetOptimizationStatus(f);
}
const inside = withoutOptimizer(() => probe());
const rs = withoutOptimizer(() => Ruleset.compile(readRuleFiles(defaultRulePaths())));
console.log(JSON.stringify({ inside, after: probe(), rules: rs.rules.length }));
`;

function run(flags: string[]): { inside: number; after: number; rules: number } {
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', ...flags, '--input-type=module', '-e', SCRIPT], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('optimizing compiler around rules compilation', () => {
  it('is off while rules compile and on again after', () => {
    const r = run([]);
    expect(r.rules).toBeGreaterThan(0);
    expect(r.inside & TURBOFANNED).toBe(0);
    expect(r.after & TURBOFANNED).toBe(TURBOFANNED);
  });

  it('stays as the user set it', () => {
    expect(run(['--no-turbofan']).after & TURBOFANNED).toBe(0);
    // With the user's own JIT flags nothing is switched: TurboFan stays on throughout.
    expect(run(['--turbofan']).inside & TURBOFANNED).toBe(TURBOFANNED);
  });
});

// After how many calls a small loop function runs TurboFan code (compiles in the
// foreground, so the count is exact).
const TIER_SCRIPT = `
import { forBatch } from ${JSON.stringify(dist('rules/jit.js'))};
if (process.argv.includes('batch')) forBatch();
function work(a) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * 3; return s; }
const a = Array.from({ length: 100 }, (_, i) => i);
let first = -1;
for (let k = 1; k <= 20000 && first < 0; k++) { work(a); if (%GetOptimizationStatus(work) & ${TURBOFANNED}) first = k; }
console.log(first);
`;

function callsToOptimize(flags: string[], batch: boolean): number {
  const args = ['--allow-natives-syntax', '--no-concurrent-recompilation', ...flags, '--input-type=module', '-e', TIER_SCRIPT];
  if (batch) args.push('--', 'batch');
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim());
}

describe('tier-up for a batch job', () => {
  it('waits several times longer before optimizing, and still optimizes hot code', () => {
    const normal = callsToOptimize([], false);
    const batch = callsToOptimize([], true);
    expect(normal).toBeGreaterThan(0);
    expect(batch).toBeGreaterThan(3 * normal);
  });

  it('leaves an interrupt budget the user chose', () => {
    const normal = callsToOptimize([], false);
    expect(callsToOptimize(['--interrupt-budget=67584'], true)).toBe(normal);
  });
});
