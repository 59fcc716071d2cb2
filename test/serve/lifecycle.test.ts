// Process lifecycle: SIGTERM under load (every acknowledged event's alerts written,
// none twice, exit 0), and rules reload on SIGHUP and on file change, under load, with
// a broken file keeping the old rules.
import { describe, expect, it } from 'vitest';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batch } from './fixtures.js';
import { TEST_RULES, metricValue, metricsText, post, readAlerts, startServer, tempDir, waitFor, type Server } from './harness.js';

const LONG = process.env.PEREGRINE_LONG_TESTS === '1';

/** `senders` loops posting batches until stopped or refused; returns acknowledged alert ids. */
function load(s: Server, prefix: string, senders: number, events: number, every: number) {
  let stop = false;
  const acked: string[] = [];
  const statuses = new Map<number | string, number>();
  let n = 0;
  const loops = Array.from({ length: senders }, async (_, k) => {
    while (!stop) {
      const b = batch(`${prefix}${k}-${n++}`, events, every);
      let status: number | string;
      try {
        status = (await post(s.webhook, b.body)).status;
      } catch (e) {
        status = (e as Error).message;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 200) acked.push(...b.alertIds);
      else if (typeof status === 'string' || status === 503) return; // the server stopped accepting
    }
  });
  return {
    acked,
    statuses,
    async finish() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

function idsIn(file: string, prefix: string): string[] {
  return readAlerts(file).map((a) => a.output_fields['ka.auditid'] as string).filter((id) => id.startsWith(prefix));
}

describe('SIGTERM', () => {
  it('under load: stops accepting, finishes accepted requests, writes every acknowledged alert once, exits 0', async () => {
    // A small ring and an alert per event: workers fill their rings and block until the
    // main thread drains them, the path back-pressure takes.
    const s = await startServer({ config: { workers: 2, limits: { ring_bytes: '64KiB' } } });
    const l = load(s, 'term', LONG ? 16 : 6, 300, 1);
    await waitFor(() => l.acked.length > 1000, 'some acknowledged batches');
    await new Promise((r) => setTimeout(r, LONG ? 3000 : 200));
    expect(metricValue(await metricsText(s), 'peregrine_worker_ring_wait_seconds_total')).toBeGreaterThan(0);
    s.proc.kill('SIGTERM');
    const code = await s.exited;
    await l.finish();
    expect(code).toBe(0);
    expect(s.stderr()).toMatch(/SIGTERM: no longer accepting requests; finishing \d+ accepted requests/);
    const ids = idsIn(s.outFile, 'term');
    expect(new Set(ids).size).toBe(ids.length); // none twice
    const written = new Set(ids);
    const missing = l.acked.filter((id) => !written.has(id));
    expect(missing).toEqual([]); // none lost
    expect(l.statuses.get(200)).toBeGreaterThan(1);
  });
});

describe('rules reload', () => {
  const v2 = TEST_RULES.replace('rule: Test Anonymous', 'rule: Test Anonymous v2').replace('output: anon (', 'output: anon2 (');

  async function generation(s: Server): Promise<number> {
    return (await (await fetch(`${s.metrics}/readyz`)).json()).rules.generation;
  }

  it('on file change, under load: swaps rules without dropping or double-evaluating; a broken file keeps the old rules', async () => {
    const dir = tempDir();
    const s = await startServer({ dir });
    const rulesFile = join(dir, 'rules.yaml');
    const l = load(s, 'rl', 3, 100, 2);
    await waitFor(() => l.acked.length > 100, 'load running');
    writeFileSync(rulesFile, v2);
    await waitFor(async () => (await generation(s)) === 2, 'generation 2');
    await waitFor(() => readAlerts(s.outFile).some((a) => a.rule === 'Test Anonymous v2'), 'v2 alerts');
    // Broken: the old (v2) rules keep running and the reason is reported.
    writeFileSync(rulesFile, v2.replace('condition: ka.user.name = system:anonymous', 'condition: ka.user.name = = ('));
    await waitFor(() => /rules reload \(file changed: .*\) failed, keeping generation 2: .*rules\.yaml:\d+:\d+: LOAD_ERR_COMPILE_CONDITION/.test(s.stderr()), 'reload error in the log');
    const ready = await (await fetch(`${s.metrics}/readyz`)).json();
    expect(ready.rules.generation).toBe(2);
    expect(ready.rules.last_reload_error).toMatch(/LOAD_ERR_COMPILE_CONDITION/);
    expect(metricValue(await metricsText(s), 'peregrine_rules_reloads_total{result="error"}')).toBeGreaterThanOrEqual(1);
    const before = l.acked.length;
    await waitFor(() => l.acked.length > before + 50, 'load continues on the old rules');
    await l.finish();
    expect((await post(s.webhook, batch('still-v2', 1, 1).body)).status).toBe(200);
    expect(await s.stop()).toBe(0);
    const alerts = readAlerts(s.outFile);
    const ids = alerts.map((a) => a.output_fields['ka.auditid'] as string).filter((id) => id.startsWith('rl'));
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(l.acked));
    expect(new Set(alerts.map((a) => a.rule))).toEqual(new Set(['Test Anonymous', 'Test Anonymous v2']));
    expect(alerts.find((a) => a.output_fields['ka.auditid'] === 'still-v2-0').rule).toBe('Test Anonymous v2');
  });

  it('on a ConfigMap volume update (kubelet swaps the ..data symlink, the named files stay)', async () => {
    const dir = tempDir();
    const cm = join(dir, 'cm');
    const version = (name: string, text: string): void => {
      mkdirSync(join(cm, name), { recursive: true });
      writeFileSync(join(cm, name, 'local_rules.yaml'), text);
    };
    version('..2026_11_23_01', TEST_RULES);
    symlinkSync('..2026_11_23_01', join(cm, '..data'));
    symlinkSync('..data/local_rules.yaml', join(cm, 'local_rules.yaml'));
    // Watching the directory, then the file named in it: each swap makes a new generation.
    const rounds: Array<[string[], string, string, string]> = [
      [[cm], '..2026_11_23_02', v2, 'Test Anonymous v2'],
      [[join(cm, 'local_rules.yaml')], '..2026_11_23_03', TEST_RULES, 'Test Anonymous'],
    ];
    for (const [files, name, text, rule] of rounds) {
      const s = await startServer({ dir, config: { rules: { files } } });
      expect(await generation(s)).toBe(1);
      version(name, text);
      symlinkSync(name, join(cm, '..data_tmp'));
      renameSync(join(cm, '..data_tmp'), join(cm, '..data'));
      await waitFor(async () => (await generation(s)) === 2, 'generation 2 after the ..data swap');
      await post(s.webhook, batch(name, 1, 1).body);
      expect(await s.stop()).toBe(0);
      const alert = readAlerts(s.outFile).find((a) => a.output_fields['ka.auditid'] === `${name}-0`);
      expect(alert.rule).toBe(rule);
    }
  });

  it('on SIGHUP (file watching off): nothing changes until the signal', async () => {
    const dir = tempDir();
    const s = await startServer({ dir, config: { rules: { files: [join(dir, 'rules.yaml')], watch: false } } });
    writeFileSync(join(dir, 'rules.yaml'), v2);
    await new Promise((r) => setTimeout(r, 400));
    expect(await generation(s)).toBe(1);
    await post(s.webhook, batch('hup-before', 1, 1).body);
    s.proc.kill('SIGHUP');
    await waitFor(async () => (await generation(s)) === 2, 'generation 2 after SIGHUP');
    await post(s.webhook, batch('hup-after', 1, 1).body);
    expect(await s.stop()).toBe(0);
    const alerts = readAlerts(s.outFile);
    expect(alerts.find((a) => a.output_fields['ka.auditid'] === 'hup-before-0').rule).toBe('Test Anonymous');
    expect(alerts.find((a) => a.output_fields['ka.auditid'] === 'hup-after-0').rule).toBe('Test Anonymous v2');
    expect(s.stderr()).toMatch(/rules reloaded \(SIGHUP\): generation 2, 1 rules enabled/);
  });
});
