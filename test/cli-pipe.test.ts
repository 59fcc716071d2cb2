// The offline commands write to readers that may leave early (`| head`): that ends them
// quietly, with the status they had so far, not an internal error.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
// @ts-expect-error plain ES module without types
import { generateEvents } from '../native-bench/corpus.mjs';
import { CLI, CONFORMANCE } from './conformance-lib.js';

const RULES = ['rules/falco_rules.lists.yaml', 'rules/k8s_audit_rules.latest.yaml'].flatMap((r) => ['--rules', join(CONFORMANCE, r)]);

/** Runs the CLI, reads its first chunk of stdout, then closes the pipe. */
function readFirstThenLeave(args: string[]): Promise<{ first: string; status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
    let first = '';
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.stdout.once('data', (d: Buffer) => {
      first = d.toString();
      p.stdout.destroy();
    });
    p.on('error', reject);
    p.on('close', (status) => resolve({ first, status, stderr }));
  });
}

describe('a reader that leaves early', () => {
  // Thousands of alerts and matches: megabytes of output, far past a pipe's buffer.
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-pipe-'));
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, (generateEvents(20_000, 7, 0.5) as object[]).map((e) => JSON.stringify(e)).join('\n') + '\n');

  it('ends scan quietly', async () => {
    const r = await readFirstThenLeave(['scan', ...RULES, file]);
    expect(r.first).toMatch(/^\{"hostname":/);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('ends hunt quietly', async () => {
    const r = await readFirstThenLeave(['hunt', '--where', 'ka.verb != nonexistent', '--format', 'json', file]);
    expect(r.first).toMatch(/^\{"time":/);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
