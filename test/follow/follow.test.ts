// `peregrine serve --listen none` following kube-apiserver's audit log file: the real
// process against files changed the way the apiserver (lumberjack) and other tools
// change them. What matters: every line written is evaluated once, with the configured
// cluster; bad lines are reported as path:line: reason and following goes on; rotation,
// compression, truncation and restarts lose nothing and repeat nothing; a failing
// output pushes back instead of dropping alerts.
import { describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { formatBackupTime } from '../../src/ingest/rotation.js';
import { SETPRIV, alertIds, alerts, append, line, lines, metrics, readyz, sample, startFollower, tempDir, waitFor } from './harness.js';

function backup(dir: string, ms: number): string {
  return join(dir, `audit-${formatBackupTime(ms)}.log`);
}

describe('following an audit log file', () => {
  it('starts at the end, reads what is appended with the configured cluster, holds a partial line, reports bad lines and goes on', async () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    const out = join(dir, 'alerts.jsonl');
    append(log, lines('old', 5).text + '{"kind":"Event","partial');
    const f = await startFollower({ dir, source: { start_at: 'end' } });
    try {
      // The state directory was created, and the start position saved at once.
      await waitFor(() => existsSync(join(dir, 'state')) && readdirSync(join(dir, 'state')).some((n) => n.endsWith('.checkpoint.json')), 'the first checkpoint');
      // The end of the file is after its last complete line: the partial one is completed now, then read.
      append(log, '"}\n');
      append(log, lines('a', 3).text);
      append(log, 'not json at all\n{"kind":"Pod","apiVersion":"v1"}\n');
      const half = line('b-0');
      append(log, half.slice(0, 100));
      await waitFor(() => alertIds(out).length === 3, 'three alerts');
      await new Promise((r) => setTimeout(r, 300));
      // The partial line is held, not evaluated half.
      expect(alertIds(out)).toEqual(['a-0', 'a-1', 'a-2']);
      append(log, half.slice(100));
      await waitFor(() => alertIds(out).length === 4, 'the completed line');
      expect(alertIds(out)).toEqual(['a-0', 'a-1', 'a-2', 'b-0']);
      // ka.cluster.name is the configured cluster, whatever the event's annotation says.
      expect(alerts(out).map((a) => a.output_fields['ka.cluster.name'])).toEqual(['prod', 'prod', 'prod', 'prod']);
      const err = f.stderr();
      // Lines 1-5 old, 6 the completed partial line (not valid JSON: reported), a-0..a-2 on 7-9.
      expect(err).toMatch(new RegExp(`${log}:6: invalid JSON`));
      expect(err).toMatch(new RegExp(`${log}:10: invalid JSON`));
      expect(err).toContain(`${log}:11: data not recognized as a k8s audit event`);
      const m = await metrics(f);
      expect(sample(m, 'peregrine_source_bad_lines_total', { source: log, reason: 'malformed' })).toBe(2);
      expect(sample(m, 'peregrine_source_bad_lines_total', { source: log, reason: 'not_audit' })).toBe(1);
      expect(sample(m, 'peregrine_source_lines_total', { source: log })).toBe(7);
      expect(sample(m, 'peregrine_events_total', { cluster: 'prod' })).toBe(4);
      expect(sample(m, 'peregrine_alerts_total', { rule: 'Test Anonymous', cluster: 'prod' })).toBe(4);
      expect(sample(m, 'peregrine_source_lag_bytes', { source: log })).toBe(0);
      expect(sample(m, 'peregrine_source_up', { source: log })).toBe(1);
      const r = await readyz(f);
      expect(r.status).toBe(200);
      expect(r.body.sources[0]).toMatchObject({ source: log, cluster: 'prod', lines: 7 });
      expect(await f.stop()).toBe(0);
    } finally {
      await f.stop('SIGKILL');
    }
  });

  it('follows rotations as the apiserver does them, finishing each renamed file first, and .gz backups after a restart', async () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    const out = join(dir, 'alerts.jsonl');
    writeFileSync(log, '');
    let f = await startFollower({ dir });
    const expected: string[] = [];
    const write = (p: string, n: number): void => {
      const l = lines(p, n);
      expected.push(...l.ids);
      append(log, l.text);
    };
    try {
      write('r1', 50);
      await waitFor(() => alertIds(out).length === 50, 'the first lines');
      // Written, then rotated at once (before the follower had a look): the rest of the
      // renamed file must still be read before the new one.
      write('r2', 50);
      const t1 = Date.now();
      renameSync(log, backup(dir, t1));
      write('r3', 20);
      await waitFor(() => alertIds(out).length === 120, 'the rotated and the new file');
      expect(alertIds(out)).toEqual(expected);
      let m = await metrics(f);
      expect(sample(m, 'peregrine_source_rotations_total', { source: log })).toBe(1);
      // SIGTERM: final checkpoint in the live file.
      expect(await f.stop()).toBe(0);
      // While stopped: more lines, then two rotations; the first backup gets compressed
      // (plain file removed); a new live file.
      write('s1', 30);
      const t2 = t1 + 1000;
      renameSync(log, backup(dir, t2));
      writeFileSync(backup(dir, t2) + '.gz', gzipSync(readFileSync(backup(dir, t2))));
      rmSync(backup(dir, t2));
      write('s2', 30);
      const t3 = t2 + 1000;
      renameSync(log, backup(dir, t3));
      write('s3', 10);
      f = await startFollower({ dir });
      await waitFor(() => alertIds(out).length === expected.length, 'everything written while stopped');
      await new Promise((r) => setTimeout(r, 300));
      // Resumed inside the .gz at the same uncompressed offset: each line once, in order.
      expect(alertIds(out)).toEqual(expected);
      expect(f.stderr()).toMatch(/resuming audit\.log at offset \d+ \(line 21\), compressed to .*\.log\.gz/);
      m = await metrics(f);
      expect(sample(m, 'peregrine_source_rotations_total', { source: log })).toBe(0);
      expect(await f.stop()).toBe(0);
    } finally {
      await f.stop('SIGKILL');
    }
  });

  it('start_at beginning reads the backups oldest first (plain and .gz), then the live file', async () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    const out = join(dir, 'alerts.jsonl');
    const t = Date.UTC(2026, 10, 23, 10, 15, 0);
    const a = lines('a', 10);
    const b = lines('b', 10);
    const c = lines('c', 10);
    writeFileSync(backup(dir, t + 2000), b.text);
    writeFileSync(backup(dir, t) + '.gz', gzipSync(Buffer.from(a.text)));
    writeFileSync(log, c.text);
    // Files of other names are not backups of this log.
    writeFileSync(join(dir, 'audit-old.log'), lines('x', 3).text);
    writeFileSync(join(dir, 'other-2026-11-23T10-15-00.000.log'), lines('y', 3).text);
    const f = await startFollower({ dir, source: { start_at: 'beginning' } });
    try {
      await waitFor(() => alertIds(out).length === 30, 'all three files');
      expect(alertIds(out)).toEqual([...a.ids, ...b.ids, ...c.ids]);
      expect(await f.stop()).toBe(0);
    } finally {
      await f.stop('SIGKILL');
    }
  });

  it('detects a file truncated in place, counts it and reads it again from 0', async () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    const out = join(dir, 'alerts.jsonl');
    writeFileSync(log, '');
    const f = await startFollower({ dir });
    try {
      append(log, lines('t1', 20).text);
      await waitFor(() => alertIds(out).length === 20, 'the first lines');
      // copytruncate: the content copied elsewhere, the file emptied, writing goes on at 0.
      truncateSync(log, 0);
      await new Promise((r) => setTimeout(r, 200));
      append(log, lines('t2', 5).text);
      await waitFor(() => alertIds(out).length === 25, 'the lines after the truncation');
      expect(alertIds(out).slice(20)).toEqual(lines('t2', 5).ids);
      const m = await metrics(f);
      expect(sample(m, 'peregrine_source_truncations_total', { source: log })).toBe(1);
      expect(f.stderr()).toMatch(/truncated in place .* reading it again from the start/);
      expect(await f.stop()).toBe(0);
    } finally {
      await f.stop('SIGKILL');
    }
  });

  it('waits for a file that does not exist yet and reads it from its first byte', async () => {
    const dir = tempDir();
    const logDir = join(dir, 'not', 'yet');
    const log = join(logDir, 'audit.log');
    const out = join(dir, 'alerts.jsonl');
    const f = await startFollower({ dir, source: { path: log } });
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect((await readyz(f)).status).toBe(200);
      mkdirSync(logDir, { recursive: true });
      writeFileSync(log, lines('n', 4).text);
      await waitFor(() => alertIds(out).length === 4, 'the new file, from its start');
      expect(await f.stop()).toBe(0);
    } finally {
      await f.stop('SIGKILL');
    }
  });

  it.skipIf(process.getuid?.() === 0 && SETPRIV === undefined)('an unreadable file is an error on stderr and /readyz, retried, never a crash (as root: needs setpriv from util-linux)', async () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    const out = join(dir, 'alerts.jsonl');
    writeFileSync(log, lines('p', 3).text);
    chmodSync(log, 0o000);
    // Permission denied needs a process without root's override: as root, the follower
    // runs with the capabilities that override file modes dropped.
    const root = process.getuid?.() === 0;
    const f = await startFollower({ dir, source: { start_at: 'beginning' }, withoutDacOverride: root });
    try {
      const r = await waitFor(async () => { const x = await readyz(f); return x.status === 503 ? x : undefined; }, '/readyz to report the error');
      expect(r.body.reasons.join('\n')).toMatch(/EACCES/);
      expect(f.stderr()).toMatch(/source .*audit\.log: EACCES.*retrying every/);
      expect(sample(await metrics(f), 'peregrine_source_up', { source: log })).toBe(0);
      chmodSync(log, 0o644);
      await waitFor(() => alertIds(out).length === 3, 'the lines once readable');
      await waitFor(async () => (await readyz(f)).status === 200, '/readyz to recover', 10_000);
      expect(await f.stop()).toBe(0);
    } finally {
      await f.stop('SIGKILL');
    }
  });

  it('a full disk at the output pushes back: reading pauses, nothing is dropped, and the lines are read again after a restart', async () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    const out = join(dir, 'alerts.jsonl');
    // More than the chunks in flight (6 MiB) can hold.
    const big = lines('d', 20_000);
    writeFileSync(log, big.text);
    // /dev/full: every write fails with ENOSPC.
    let f = await startFollower({ dir, source: { start_at: 'beginning' }, outputs: { file: { path: '/dev/full' }, buffer_bytes: '64KiB' }, config: { limits: { shutdown_timeout_seconds: 1 } } });
    try {
      const r = await waitFor(async () => { const x = await readyz(f); return x.status === 503 && x.body.reasons.some((s: string) => s.includes('ENOSPC')) ? x : undefined; }, 'the output to be down');
      expect(r.body.outputs[0]).toMatchObject({ name: 'file', up: false });
      await waitFor(async () => (await readyz(f)).body.reasons.some((s: string) => s.includes('memory bound')), 'pressure');
      const m1 = await metrics(f);
      await new Promise((r2) => setTimeout(r2, 500));
      const m2 = await metrics(f);
      // Reading has stopped short of the end: the lines are waiting in the file, not in memory.
      const read = sample(m2, 'peregrine_source_lines_total', { source: log });
      expect(read).toBe(sample(m1, 'peregrine_source_lines_total', { source: log }));
      expect(read).toBeLessThan(20_000);
      expect(sample(m2, 'peregrine_source_lag_bytes', { source: log })).toBeGreaterThan(0);
      // Stopping cannot deliver: exit 1, and the checkpoint stays where delivery stopped.
      expect(await f.stop()).toBe(1);
      expect(f.stderr()).toMatch(/lines after the last checkpoint will be read again/);
      f = await startFollower({ dir, source: { start_at: 'beginning' }, outputs: { file: { path: out } } });
      await waitFor(() => alertIds(out).length === 20_000, 'every alert once the disk has room', 30_000);
      expect(alertIds(out)).toEqual(big.ids);
      expect(await f.stop()).toBe(0);
    } finally {
      await f.stop('SIGKILL');
    }
  });

  it('refuses a checkpoint it cannot trust, naming it (exit 2)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'audit.log'), '');
    const f = await startFollower({ dir });
    expect(await f.stop()).toBe(0);
    const state = join(dir, 'state');
    const cp = readdirSync(state).find((n) => n.endsWith('.checkpoint.json'))!;
    writeFileSync(join(state, cp), '{"version":1,"source":');
    await expect(startFollower({ dir })).rejects.toThrow(/exited 2[\s\S]*ERR_CHECKPOINT: .*checkpoint\.json: not a valid checkpoint/);
  });
});
