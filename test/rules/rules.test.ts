// Every bundled rule: realistic positives fire it (and win under rule_matching: first),
// near-miss negatives do not. Runs the real CLI once per group of samples.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Alert, RULES_DIR, byAuditId, jsonl, scan, writeTemp } from './audit.js';
import { CASES, PRECEDENCE, type Sample } from './cases.js';

interface RuleDoc { rule?: string; desc?: string; output?: string; priority?: string; tags?: string[]; condition?: string }
const RULES_FILE = join(RULES_DIR, 'peregrine_rules.yaml');
const docs = (yaml.load(readFileSync(RULES_FILE, 'utf8')) as RuleDoc[]).filter((d) => d.rule !== undefined);
const ruleNames = docs.map((d) => d.rule!);

const idOf = (ev: Record<string, unknown>): string => String(ev.auditID);

// Group samples by the user override file they need.
type Tagged = Sample & { kind: 'pos' | 'neg'; rule: string };
const all: Tagged[] = [];
for (const c of CASES) {
  for (const p of c.positives) all.push({ ...p, kind: 'pos', rule: c.rule });
  for (const n of c.negatives) all.push({ ...n, kind: 'neg', rule: c.rule });
}
for (const p of PRECEDENCE) all.push({ title: p.title, event: p.event, first: p.first, kind: 'pos', rule: p.first });

const groups = new Map<string, Tagged[]>();
for (const s of all) {
  const k = s.overrides ?? '';
  groups.set(k, [...(groups.get(k) ?? []), s]);
}

const resultsAll = new Map<string, Alert[]>();
const resultsFirst = new Map<string, Alert[]>();

beforeAll(() => {
  for (const [overrides, samples] of groups) {
    const extraRules = overrides ? [writeTemp('overrides.yaml', overrides)] : [];
    const input = jsonl(samples.map((s) => s.event));
    const a = scan(input, { extraRules, matching: 'all' });
    const f = scan(input, { extraRules });
    expect(a.status, a.stderr).toBe(0);
    expect(f.status, f.stderr).toBe(0);
    for (const [id, l] of byAuditId(a.alerts)) resultsAll.set(id, l);
    for (const [id, l] of byAuditId(f.alerts)) resultsFirst.set(id, l);
  }
});

describe('bundled rules: positives and near-miss negatives', () => {
  for (const c of CASES) {
    describe(c.rule, () => {
      for (const p of c.positives) {
        it(`fires on: ${p.title}`, () => {
          const id = idOf(p.event);
          const fired = (resultsAll.get(id) ?? []).map((a) => a.rule);
          expect(fired).toContain(c.rule);
          const first = resultsFirst.get(id) ?? [];
          expect(first.map((a) => a.rule)).toEqual([p.first ?? c.rule]);
          const alert = (resultsAll.get(id) ?? []).find((a) => a.rule === c.rule)!;
          expect(alert.source).toBe('k8s_audit');
          p.check?.(alert.output_fields, alert.output);
        });
      }
      for (const n of c.negatives) {
        it(`stays quiet on: ${n.title}`, () => {
          const fired = (resultsAll.get(idOf(n.event)) ?? []).map((a) => a.rule);
          expect(fired).not.toContain(c.rule);
          if (n.first) expect((resultsFirst.get(idOf(n.event)) ?? []).map((a) => a.rule)).toEqual([n.first]);
        });
      }
    });
  }
});

describe('bundled rules: precedence under rule_matching first', () => {
  for (const p of PRECEDENCE) {
    it(p.title, () => {
      const id = idOf(p.event);
      expect((resultsFirst.get(id) ?? []).map((a) => a.rule)).toEqual([p.first]);
      const fired = (resultsAll.get(id) ?? []).map((a) => a.rule);
      for (const r of p.also) expect(fired).toContain(r);
    });
  }
});

describe('bundled rules: metadata', () => {
  it('every rule has a positive and a near-miss negative case, and every case names a rule', () => {
    const covered = new Map(CASES.map((c) => [c.rule, c]));
    for (const r of ruleNames) {
      expect(covered.get(r)?.positives.length ?? 0, r).toBeGreaterThan(0);
      expect(covered.get(r)?.negatives.length ?? 0, r).toBeGreaterThan(0);
    }
    for (const c of CASES) expect(ruleNames, c.rule).toContain(c.rule);
  });

  for (const d of docs) {
    it(`${d.rule}: ATT&CK tags, description and output fields`, () => {
      const tags = d.tags ?? [];
      expect(tags.some((t) => /^T\d{4}(\.\d{3})?$/.test(t)), 'technique tag').toBe(true);
      expect(tags.some((t) => /^mitre_[a-z_]+$/.test(t)), 'tactic tag').toBe(true);
      expect(tags).toContain('k8s');
      expect((d.desc ?? '').length).toBeGreaterThan(40);
      for (const f of ['%ka.user.name', '%ka.cluster.name', '%jevt.value[/sourceIPs/0]', '%ka.useragent', '%ka.auditid']) {
        expect(d.output ?? '', f).toContain(f);
      }
    });
  }

  it('the README documents every rule', () => {
    const readme = readFileSync(join(RULES_DIR, 'README.md'), 'utf8');
    for (const r of ruleNames) expect(readme, r).toContain(`### ${r}`);
  });
});
