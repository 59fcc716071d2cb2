// Real audit events (test/fixtures/real-audit) through `peregrine scan`: never a crash,
// exit 0 or 1, every rejected line reported with file:line. Then the same events with a
// usable stageTimestamp, rendering every field, to exercise extraction on real shapes.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPORA } from '../conformance-lib.js';
import { runCli, tempDir } from './lib.js';

const CORPUS = CORPORA;
const FILES = readdirSync(CORPUS).filter((f) => f.endsWith('.jsonl')).sort();
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

type Doc = Record<string, unknown>;

/** Events of a line as the k8saudit plugin splits it, or undefined if not recognized. */
function eventsOf(doc: unknown): Doc[] | undefined {
  if (Array.isArray(doc)) {
    const all: Doc[] = [];
    for (const d of doc) {
      const e = eventsOf(d);
      if (e === undefined) return undefined;
      all.push(...e);
    }
    return all;
  }
  if (doc === null || typeof doc !== 'object') return undefined;
  const d = doc as Doc;
  if (d.kind === 'Event') return [d];
  if (d.kind === 'EventList' && Array.isArray(d.items)) return d.items as Doc[];
  return undefined;
}

const usable = (e: Doc): boolean => typeof e.stageTimestamp === 'string' && RFC3339.test(e.stageTimestamp);

describe('real-audit corpus', () => {
  for (const name of FILES) {
    const file = join(CORPUS, name);
    const lines = readFileSync(file, 'utf8').split('\n');

    it.concurrent(`${name}: no crash, exit 0/1, every rejected line reported with file:line`, async () => {
      const r = await runCli(['scan', '--rule-matching', 'all', file]);
      expect([0, 1]).toContain(r.status);
      expect(r.stderr).not.toMatch(/internal error/);
      const reported = new Set<number>();
      for (const l of r.stderr.split('\n').filter((x) => x !== '')) {
        const m = /^(.*):(\d+): (.+)$/.exec(l);
        expect(m, l).not.toBeNull();
        expect(m![1]).toBe(file);
        reported.add(Number(m![2]));
      }
      const rejected = new Set<number>();
      let accepted = 0;
      lines.forEach((l, i) => {
        if (l.trim() === '') return;
        const evs = eventsOf(JSON.parse(l));
        if (evs === undefined || evs.some((e) => !usable(e))) rejected.add(i + 1);
        accepted += (evs ?? []).filter(usable).length;
      });
      expect([...reported].sort((a, b) => a - b)).toEqual([...rejected].sort((a, b) => a - b));
      expect(r.status).toBe(rejected.size > 0 ? 1 : 0);
      // Bundled rules under `all`: each alert belongs to an accepted event.
      if (accepted === 0) expect(r.stdout).toBe('');
    });

    it.concurrent(`${name}: with a usable stageTimestamp, every field of every event renders`, async () => {
      const fields = JSON.parse((await runCli(['rules', 'fields', '--json'])).stdout) as Array<{ name: string; arg: string }>;
      const tokens = fields.map((f) => (f.arg === 'required key' ? `%${f.name}[${f.name.endsWith('.value') ? '/user/username' : 'x'}]` : `%${f.name}`));
      const dir = tempDir();
      const rules = join(dir, 'all-fields.yaml');
      writeFileSync(rules, `- rule: every field\n  desc: d\n  condition: evt.num > 0\n  output: ${JSON.stringify(tokens.join(' '))}\n  priority: INFO\n  source: k8s_audit\n`);
      let events = 0;
      const fixed = lines.filter((l) => l.trim() !== '').map((l) => {
        const doc = JSON.parse(l) as unknown;
        const evs = eventsOf(doc) ?? [];
        for (const e of evs) if (!usable(e)) e.stageTimestamp = '2025-10-23T17:06:01.5Z';
        events += evs.length;
        return JSON.stringify(doc);
      });
      const input = join(dir, name);
      writeFileSync(input, fixed.join('\n') + '\n');
      const r = await runCli(['scan', '--rules', rules, input]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const alerts = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { output_fields: Record<string, unknown> });
      expect(alerts).toHaveLength(events);
      for (const a of alerts) expect(Object.keys(a.output_fields)).toHaveLength(fields.length);
    });
  }
});
