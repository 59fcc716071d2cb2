// Rules beyond what can be compiled (macros nested thousands deep, conditions of tens of
// thousands of terms) get a LOAD error naming the file, not a crash.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../conformance-lib.js';
import { tempDir } from '../serve/harness.js';

function check(yaml: string) {
  const f = join(tempDir(), 'rules.yaml');
  writeFileSync(f, yaml);
  return { f, r: spawnSync(process.execPath, [CLI, 'rules', 'check', f], { encoding: 'utf8', timeout: 60_000 }) };
}

const rule = (cond: string) => `- rule: r\n  desc: d\n  condition: ${cond}\n  output: o\n  priority: WARNING\n  source: k8s_audit\n`;

describe('rules too large to compile', () => {
  it('macros nested 3000 deep', () => {
    const macros = Array.from({ length: 3000 }, (_, i) => 3000 - 1 - i).map((i) => `- macro: m${i}\n  condition: ${i === 2999 ? 'ka.verb = get' : `m${i + 1} and ka.verb = get`}\n`);
    const { f, r } = check(macros.join('') + rule('m0'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${f}:1:1: LOAD_ERR_VALIDATE: rules too large or too deeply nested to compile`);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });

  it('a condition of 20,000 alternatives', () => {
    const { f, r } = check(rule(Array.from({ length: 20_000 }, (_, i) => `ka.verb = "v${i}"`).join(' or ')));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${f}:1:1: LOAD_ERR_VALIDATE: rules too large or too deeply nested to compile`);
  });
});

describe('rules paths that hold no rules', () => {
  it('are refused rather than run with zero rules', () => {
    const empty = tempDir();
    for (const args of [['rules', 'check', empty], ['scan', '--rules', empty, '-']]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input: '' });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`no rules files (*.yaml, *.yml) in ${empty}`);
    }
    const s = spawnSync(process.execPath, [CLI, 'serve', '--rules', '', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20_000 });
    expect(s.status).toBe(2);
    expect(s.stderr).toContain('--rules: an empty path');
  });
});
