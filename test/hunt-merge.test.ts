// hunt's merge across inputs: the same order as a full sort by (time, input, position)
// while opening an input only when the merge reaches its first event, so that rotated
// backups (disjoint in time) are not all open at once.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeByTime, type HuntMatch, type LazyMatches } from '../src/hunt/matches.js';
import { SLACK_NS } from '../src/hunt/inputs.js';
import { CLI } from './conformance-lib.js';
import { rng } from './rng.js';

const S = 1_000_000_000n;

/** Inputs as lists of times; tracks how many are open at once. */
function lazy(times: bigint[][], starts: (bigint | undefined)[]) {
  let open = 0;
  let maxOpen = 0;
  const opened: number[] = [];
  const inputs: LazyMatches[] = times.map((ts, input) => ({
    start: starts[input],
    open: async function* () {
      open++;
      maxOpen = Math.max(maxOpen, open);
      opened.push(input);
      try {
        for (let seq = 0; seq < ts.length; seq++) yield { ts: ts[seq], json: `${input}:${seq}`, raw: undefined, input, seq } satisfies HuntMatch;
      } finally {
        open--;
      }
    },
  }));
  return { inputs, stats: () => ({ maxOpen, opened }) };
}

async function all(g: AsyncGenerator<HuntMatch>): Promise<string[]> {
  const out: string[] = [];
  for await (const m of g) out.push(m.json);
  return out;
}

/** The order the merge promises for inputs each in time order: by time, then input, then position. */
function reference(times: bigint[][]): string[] {
  const rows = times.flatMap((ts, input) => ts.map((t, seq) => ({ t, input, seq })));
  rows.sort((a, b) => (a.t !== b.t ? (a.t < b.t ? -1 : 1) : a.input !== b.input ? a.input - b.input : a.seq - b.seq));
  return rows.map((r) => `${r.input}:${r.seq}`);
}

describe('hunt: merging inputs by time', () => {
  it('gives the full sort\'s order over overlapping inputs, known starts or not', async () => {
    const random = rng(4242);
    for (let round = 0; round < 300; round++) {
      const n = 1 + Math.floor(random() * 7);
      const times: bigint[][] = [];
      for (let i = 0; i < n; i++) {
        const len = Math.floor(random() * 6);
        let t = BigInt(Math.floor(random() * 20)) * S;
        const ts: bigint[] = [];
        for (let k = 0; k < len; k++) {
          t += BigInt(Math.floor(random() * 3)) * S; // ties across and within inputs
          ts.push(t);
        }
        times.push(ts);
      }
      // A start is the first event's time, or unknown; an input with no match may start anywhere.
      const starts = times.map((ts) => (random() < 0.2 ? undefined : ts.length > 0 ? ts[0] - BigInt(Math.floor(random() * 2)) * S : BigInt(Math.floor(random() * 30)) * S));
      const { inputs } = lazy(times, starts);
      expect(await all(mergeByTime(inputs)), JSON.stringify(times.map((ts) => ts.map(Number)))).toEqual(reference(times));
    }
  });

  it('opens rotated backups one or two at a time, in time order', async () => {
    // 500 files of a minute each, given in a shuffled order.
    const times = Array.from({ length: 500 }, (_, k) => [0n, 10n, 20n].map((o) => (BigInt(k) * 60n + o) * S));
    const perm = times.map((_, i) => i).sort((a, b) => ((a * 7919) % 500) - ((b * 7919) % 500));
    const shuffled = perm.map((i) => times[i]);
    const { inputs, stats } = lazy(shuffled, shuffled.map((ts) => ts[0]));
    expect(await all(mergeByTime(inputs))).toEqual(reference(shuffled));
    expect(stats().maxOpen).toBeLessThanOrEqual(2);
    expect(stats().opened).toEqual(perm.map((_, j) => j).sort((a, b) => perm[a] - perm[b]));
  });

  it('opens an input up to SLACK_NS before its first line, for lines slightly out of order', async () => {
    // The second input's first line says 10 s, its second 9.5 s: still merged before the first input's 9.8 s.
    const half = SLACK_NS / 2n;
    const times = [[0n, 9n * S + 8n * (S / 10n)], [10n * S, 10n * S - half]];
    const { inputs } = lazy(times, [0n, 10n * S]);
    const out = await all(mergeByTime(inputs));
    expect(out.indexOf('1:0')).toBeGreaterThan(out.indexOf('0:1'));
    expect(out).toHaveLength(4);
  });

  it('peregrine hunt reads a thousand rotated backups under a descriptor limit of 64', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-hunt-many-'));
    const base = Date.UTC(2026, 11, 1);
    for (let k = 0; k < 1000; k++) {
      const lines = [0, 10, 20].map((off) => {
        const t = new Date(base + k * 60_000 + off * 1000).toISOString();
        return JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: `a${k}-${off}`, stage: 'ResponseComplete',
          requestURI: '/api/v1/pods', verb: 'get', user: { username: `u${k}` }, objectRef: { resource: 'pods' }, requestReceivedTimestamp: t, stageTimestamp: t });
      });
      writeFileSync(join(dir, `audit-${new Date(base + k * 60_000 + 30_000).toISOString().replace(/:/g, '-').replace('Z', '')}.log`), lines.join('\n') + '\n');
    }
    const r = spawnSync('sh', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${CLI}" hunt --where 'ka.verb = get' --format json "${dir}"`], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const times = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { time: string }).time);
    expect(times).toHaveLength(3000);
    expect([...times].sort()).toEqual(times);
  });

  it('says what a directory holds that it does not read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-hunt-skip-'));
    writeFileSync(join(dir, 'audit.log.1'), '{}\n');
    writeFileSync(join(dir, 'notes.txt'), 'x\n');
    const r = spawnSync(process.execPath, [CLI, 'hunt', '--where', 'ka.verb = get', dir], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`peregrine: hunt: ${dir}: 2 entries not read (not files named *.log, *.json, *.jsonl or *.gz: audit.log.1, notes.txt); name them to read them`);
    expect(r.stderr).toContain(`peregrine: hunt: ${dir}: no audit log files in it`);
  });
});
