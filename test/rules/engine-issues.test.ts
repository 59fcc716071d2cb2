// Engine behaviour the bundled rules once had to work around (regex ranges, block-form
// exception tuples); each test states what Falco (RE2, libsinsp, yaml-cpp) does.
import { describe, expect, it } from 'vitest';
import { jsonl, scan, writeTemp } from './audit.js';

function fires(condition: string, username: string, extra = ''): boolean {
  const rules = writeTemp('r.yaml', `- rule: R\n  desc: probe\n  condition: ${condition}\n  output: r %ka.user.name\n  priority: WARNING\n  source: k8s_audit\n${extra}`);
  const ev = { kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: 'a1', stage: 'ResponseComplete', verb: 'get', user: { username }, stageTimestamp: '2025-10-23T17:00:00Z' };
  const r = scan(jsonl([ev]), { rules: [rules] });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.alerts.length === 1;
}

describe('engine issues met while writing the default rules', () => {
  // RE2 (POSIX syntax, as libsinsp compiles it) reads [a-z] as a range; Peregrine's regex
  // translation escapes the '-' so the class holds only 'a', '-' and 'z'. The bundled
  // rules use POSIX classes ([[:alnum:]], [[:upper:]], listed digits) instead.
  it("regex: a bracket range [a-z]+ matches 'alice'", () => {
    expect(fires(`ka.user.name regex '[a-z]+'`, 'alice')).toBe(true);
  });

  it("regex: [0-9]{3} matches '123'", () => {
    expect(fires(`ka.user.name regex '[0-9]{3}'`, '123')).toBe(true);
  });

  it('regex: POSIX classes work (the workaround)', () => {
    expect(fires(`ka.user.name regex '[[:alpha:]]+'`, 'alice')).toBe(true);
    expect(fires(`ka.user.name regex '[^[:alnum:]_]+'`, 'alice')).toBe(false);
    expect(fires(`ka.user.name regex '[123456789][[:digit:]]*'`, '120')).toBe(true);
  });

  // Exception values written as a block sequence of one-element flow sequences
  // (`values:` then `- [ali]`) mean the same as `values: [[ali]]` in YAML, and Falco
  // reads them so. Peregrine's position-keeping YAML reader nests them once more, and the
  // exception becomes `ka.user.name startswith (ali)`, a load error. Two-element tuples
  // (`- [ali, create]`) and the flow form are read correctly; the README uses the flow form.
  const exception = (values: string) => `  exceptions:\n    - name: p\n      fields: [ka.user.name]\n      comps: [startswith]\n      ${values}\n`;
  it('exceptions: flow form values: [[ali]] works', () => {
    expect(fires('ka.verb = get', 'alice', exception('values: [[ali]]'))).toBe(false);
    expect(fires('ka.verb = get', 'bob', exception('values: [[ali]]'))).toBe(true);
  });

  it('exceptions: block form "- [ali]" is read as [[ali]]', () => {
    expect(fires('ka.verb = get', 'alice', exception('values:\n        - [ali]'))).toBe(false);
  });
});
