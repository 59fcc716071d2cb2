// The acceptance test: a writer that imitates kube-apiserver's log backend
// exactly (load-tests/apiserver-writer.mjs: one write per event, lumberjack's rename +
// recreate at a size limit, gzip of the backups afterwards, tens of thousands of
// events/s) runs while the follower follows. The follower is killed with SIGKILL and
// restarted mid-stream, then SIGTERM-ed and restarted. Then: every pod create written
// has its alert; within a run none twice; none twice across the SIGTERM; across the
// SIGKILL only lines after the checkpoint the killed process had saved may repeat.
//
// Each run writes its own alerts file, so every alert is known by the run that wrote
// it; each pod create is known by its unique stageTimestamp (the alert's `time`).
// PEREGRINE_LONG_TESTS=1: 50,000 events/s for a minute instead of 20,000 for 6 s.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { alerts, metrics, sample, startFollower, tempDir, waitFor, type Follower } from './harness.js';

const LONG = process.env.PEREGRINE_LONG_TESTS === '1';
const RATE = LONG ? 50_000 : 20_000;
const SECONDS = LONG ? 60 : 6;
const WRITER = join(process.cwd(), 'load-tests/apiserver-writer.mjs');

interface Written {
  /** stageTimestamp of each pod create → its index in write order. */
  index: Map<string, number>;
  /** Where each pod create went: inode and offset. */
  at: { ino: number; offset: number }[];
  /** Backup name → the inode the file had while it was live. */
  inoOfBackup: Map<string, number>;
}

function readManifest(path: string): Written {
  const w: Written = { index: new Map(), at: [], inoOfBackup: new Map() };
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    if (l === '') continue;
    const f = l.split(' ');
    if (f[0] === 'rotate') {
      w.inoOfBackup.set(f[2], Number(f[1]));
      continue;
    }
    w.index.set(f[0], w.at.length);
    w.at.push({ ino: Number(f[1]), offset: Number(f[2]) });
  }
  return w;
}

function checkpointOf(dir: string): any {
  const state = join(dir, 'state');
  const name = readdirSync(state).find((n) => n.endsWith('.checkpoint.json'))!;
  return JSON.parse(readFileSync(join(state, name), 'utf8'));
}

/** The first pod create (write order) at or after a checkpoint's position. */
function firstAfter(w: Written, cp: any): number {
  const name: string = cp.file.name;
  const ino = name === 'audit.log' ? Number(cp.file.ino) : w.inoOfBackup.get(name.replace(/\.gz$/, ''));
  expect(ino, `the checkpoint's file ${name} is one the writer wrote`).toBeDefined();
  const k = w.at.findIndex((a) => a.ino === ino && a.offset >= cp.offset);
  if (k >= 0) return k;
  // At the end of that file: the first pod create of a file written after it.
  const firstOfFile = w.at.findIndex((a) => a.ino === ino);
  const after = w.at.findIndex((a, i) => i > firstOfFile && a.ino !== ino);
  return after >= 0 ? after : w.at.length;
}

function podCreateTimes(file: string): string[] {
  return alerts(file).filter((a) => a.rule === 'Test Pod Create').map((a) => {
    expect(a.output_fields['ka.cluster.name']).toBe('prod');
    // `time` is the stageTimestamp with nanoseconds: what the writer stamped.
    return a.time as string;
  });
}

describe('following a log written, rotated and compressed as kube-apiserver does, across SIGKILL and SIGTERM', () => {
  it(`every pod create alerts; none twice but after the SIGKILL checkpoint (${RATE} events/s, ${SECONDS} s)`, async () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    const writer = spawn(process.execPath, [WRITER, '--path', log, '--rate', String(RATE), '--seconds', String(SECONDS),
      '--max-bytes', LONG ? '16MB' : '4MB', '--compress', '--manifest', join(dir, 'manifest.txt')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let summary = '';
    writer.stdout!.on('data', (d) => { summary += d; });
    const writerDone = new Promise<number | null>((r) => writer.on('exit', r));
    const logs: string[] = [];
    const run = async (k: number): Promise<Follower> => {
      const r = await startFollower({
        dir, outFile: join(dir, `alerts-${k}.jsonl`), source: { start_at: 'beginning', checkpoint_interval_seconds: 1, poll_interval_ms: 100 },
      });
      logs[k] = '';
      r.proc.stderr!.on('data', (d) => { logs[k] += d; });
      void r.exited.then(() => { logs[k] = r.stderr(); });
      return r;
    };
    const phase = SECONDS * 1000 / 4;
    let f: Follower | undefined;
    try {
      f = await run(1);
      await new Promise((r) => setTimeout(r, phase));
      await waitFor(() => podCreateTimes(join(dir, 'alerts-1.jsonl')).length > 0, 'alerts from the first run');
      // SIGKILL mid-stream: the checkpoint on disk is what a restart starts from.
      f.proc.kill('SIGKILL');
      await f.exited;
      const cpKill = checkpointOf(dir);
      f = await run(2);
      await new Promise((r) => setTimeout(r, phase));
      expect(await f.stop('SIGTERM'), f.stderr()).toBe(0);
      f = await run(3);
      expect(await writerDone).toBe(0);
      const sum = JSON.parse(summary);
      expect(sum.rotations).toBeGreaterThan(3);
      const written = readManifest(join(dir, 'manifest.txt'));
      expect(written.at.length).toBe(sum.podCreates);
      const runs = [1, 2, 3].map((k) => join(dir, `alerts-${k}.jsonl`));
      await waitFor(() => {
        const seen = new Set(runs.flatMap(podCreateTimes));
        return [...written.index.keys()].every((t) => seen.has(t));
      }, 'an alert for every pod create written', 90_000);
      // Everything read: nothing left behind.
      const m = await metrics(f);
      expect(sample(m, 'peregrine_source_lag_bytes', { source: log })).toBe(0);
      expect(sample(m, 'peregrine_source_bad_lines_total', { source: log })).toBeNaN();
      expect(await f.stop('SIGTERM'), f.stderr()).toBe(0);
      f = undefined;

      const [a1, a2, a3] = runs.map(podCreateTimes);
      for (const [k, a] of [a1, a2, a3].entries()) {
        expect(new Set(a).size, `run ${k + 1} wrote an alert twice:\n${logs[k + 1]}`).toBe(a.length);
        for (const t of a) expect(written.index.has(t), `run ${k + 1}: ${t} was never written`).toBe(true);
      }
      // SIGTERM: nothing again.
      const s3 = new Set(a3);
      expect(a2.filter((t) => s3.has(t))).toEqual([]);
      // SIGKILL: only lines after the killed process's last checkpoint, whichever later
      // run reads them again (on a busy machine run 2 may stop before it reaches where
      // run 1 was killed, and run 3 goes on from there).
      const from = firstAfter(written, cpKill);
      const s2 = new Set(a2);
      const again = a1.filter((t) => s2.has(t) || s3.has(t));
      const early = again.filter((t) => written.index.get(t)! < from);
      expect(early, `repeated before the checkpoint (${JSON.stringify(cpKill)})`).toEqual([]);
      if (process.env.PEREGRINE_TEST_VERBOSE) console.log({ written: written.at.length, runs: [a1.length, a2.length, a3.length], repeatedAfterKill: again.length, cpKill, from, rotations: sum.rotations });
      // Nothing lost, nothing twice overall but those.
      expect(a1.length + a2.length + a3.length - again.length).toBe(written.at.length);
      // The backups were compressed while being followed.
      expect(readdirSync(dir).some((n) => n.endsWith('.log.gz'))).toBe(true);
    } finally {
      if (writer.exitCode === null) writer.kill('SIGKILL');
      await f?.stop('SIGKILL');
    }
  }, LONG ? 300_000 : 120_000);
});
