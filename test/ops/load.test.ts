// The load-test harness (load-tests/): its corpus, the books it keeps (a checker that
// cannot fail proves nothing, so it is shown failing), and one short real run.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { BodyBuilder, PoolEvent, generatePool, keyMillis } from '../../load-tests/corpus.mjs';
import { Ledger } from '../../load-tests/lib/sender.mjs';
import { verifyRun } from '../../load-tests/lib/verify.mjs';
import { histogramQuantile, parseProm, percentiles } from '../../load-tests/lib/stats.mjs';

describe('load corpus', () => {
  it('is deterministic, Metadata-heavy, with ~10 % RequestResponse and a sprinkling of attacks', () => {
    const a = generatePool(5000);
    const b = generatePool(5000);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    const rr = a.filter((e: any) => e.level === 'RequestResponse').length / a.length;
    expect(rr).toBeGreaterThan(0.07);
    expect(rr).toBeLessThan(0.15);
    const anon = a.filter((e: any) => e.user.username === 'system:anonymous').length;
    const exec = a.filter((e: any) => e.objectRef?.subresource === 'exec' || e.objectRef?.subresource === 'attach').length;
    expect(anon + exec).toBeGreaterThan(0);
    expect(anon + exec).toBeLessThan(a.length * 0.02);
  });

  it('builds EventList bodies whose every event has its own stageTimestamp', () => {
    const pool = generatePool(1000).map((e: unknown) => new PoolEvent(e));
    pool[3].expected = ['Some Rule'];
    const builder = new BodyBuilder(pool, { now: () => Date.UTC(2026, 10, 23, 12, 0, 0, 123) });
    const { body, alerting, key } = builder.build(998, 10);
    const doc = JSON.parse(body.toString('utf8'));
    expect(doc.kind).toBe('EventList');
    expect(doc.items).toHaveLength(10);
    const stamps = doc.items.map((e: any) => e.stageTimestamp);
    expect(new Set(stamps).size).toBe(10);
    expect(stamps[0]).toBe('2026-11-23T12:00:00.123000000Z');
    expect(stamps[9]).toBe(key(9));
    expect(doc.items.every((e: any) => e.requestReceivedTimestamp === e.stageTimestamp)).toBe(true);
    // Pool event 3 is the 6th of the body (998, 999, 0, 1, 2, 3, …).
    expect(alerting).toEqual([{ key: key(5), rules: ['Some Rule'] }]);
    expect(keyMillis(key(5))).toBe(Date.UTC(2026, 10, 23, 12, 0, 0, 123));
    const next = builder.build(0, 1);
    expect(JSON.parse(next.body.toString()).items[0].stageTimestamp).toBe('2026-11-23T12:00:00.123000010Z');
  });
});

describe('load books', () => {
  function ledgerWith(): any {
    const l = new Ledger();
    const rec = (id: number, cluster: string, status: number, alerts: number) => {
      const r = { id, cluster, events: 10, bytes: 1000, alerts, status, t0: 0, t1: 1, latency: 1, ms: 0 };
      l.requests.push(r);
      return r;
    };
    const ok = rec(0, 'a', 200, 2);
    const rejected = rec(1, 'a', 429, 1);
    const lost = rec(2, 'b', 0, 1);
    l.byKey.set('k1', { rec: ok, rules: ['R1'] });
    l.byKey.set('k2', { rec: ok, rules: ['R2'] });
    l.byKey.set('k3', { rec: rejected, rules: ['R1'] });
    l.byKey.set('k4', { rec: lost, rules: ['R1'] });
    return l;
  }
  const metrics = (events: number) => parseProm([
    `peregrine_events_total{cluster="a"} ${events}`,
    'peregrine_requests_total{cluster="a",code="200"} 1',
    'peregrine_alerts_total{rule="R1",priority="Warning",cluster="a"} 1',
    'peregrine_alerts_total{rule="R2",priority="Warning",cluster="a"} 1',
  ].join('\n'));

  it('balance when every acknowledged alert is written once', () => {
    const out = [{ key: 'k1', rule: 'R1' }, { key: 'k2', rule: 'R2' }, { key: 'k4', rule: 'R1' }];
    const v = verifyRun(ledgerWith(), { file: out }, metrics(10));
    expect(v.failures).toEqual([]);
    expect(v.outputs.file).toMatchObject({ expected: 2, missing: 0, duplicated: 0, unexpected: 0, ofRejected: 0, ofUnanswered: 1 });
    expect(v.clusters.find((c: any) => c.cluster === 'a').exact).toBe(true);
  });

  it('fail on a missing, a duplicated, an unexpected alert, an alert of a 429, and a miscount', () => {
    const out = [{ key: 'k1', rule: 'R1' }, { key: 'k1', rule: 'R1' }, { key: 'k3', rule: 'R1' }, { key: 'kx', rule: 'R1' }, { key: 'k2', rule: 'R9' }];
    const v = verifyRun(ledgerWith(), { file: out }, metrics(11));
    expect(v.ok).toBe(false);
    expect(v.outputs.file).toMatchObject({ missing: 1, duplicated: 1, unexpected: 2, ofRejected: 1 });
    expect(v.failures.some((f: string) => f.startsWith('cluster a:'))).toBe(true);
  });
});

describe('load stats', () => {
  it('percentiles by nearest rank, histogram quantiles as Prometheus interpolates', () => {
    const p = percentiles(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(p[50]).toBe(500);
    expect(p[99]).toBe(990);
    expect(p[99.9]).toBe(999);
    const s = parseProm('h_bucket{le="0.1"} 50\nh_bucket{le="0.2"} 100\nh_bucket{le="+Inf"} 100\n');
    expect(histogramQuantile(s, 'h', 0.75)).toBeCloseTo(0.15);
  });
});

describe('npm run load', () => {
  it('runs a short fan-in end to end: per-cluster counts match, books balance', () => {
    const r = spawnSync(process.execPath, [
      'load-tests/run.mjs', '--scenario', 'fanin', '--clusters', '6', '--duration', '2', '--baseline-duration', '1',
      '--pool', '2000', '--scan-events', '2000',
    ], { encoding: 'utf8', timeout: 90_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/per cluster: 6\/6 clusters' acknowledged events, requests and alerts equal the server's counters/);
    expect(r.stdout).toMatch(/all scenarios PASS/);
  });
});
