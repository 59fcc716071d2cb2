// The main-thread splitter: which bodies are audit documents, where their events are,
// and agreement with the engine's own document walk (Processor.process) on the same bodies.
import { describe, expect, it } from 'vitest';
import { BodySplitter, NOT_AUDIT, SplitError } from '../../src/ingest/split.js';
import { Processor } from '../../src/engine/processor.js';
import { Ruleset } from '../../src/rules/ruleset.js';
import { defaultRulePaths, readRuleFiles } from '../../src/config/rules-files.js';
import { auditEvent, eventList } from './fixtures.js';

function split(text: string): string[] {
  const s = new BodySplitter();
  const buf = Buffer.from(text);
  const n = s.split(buf, 0, buf.length);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(buf.toString('utf8', s.ranges[2 * i], s.ranges[2 * i + 1]));
  return out;
}

function reason(text: string | Buffer): string {
  const s = new BodySplitter();
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text);
  try {
    s.split(buf, 0, buf.length);
  } catch (e) {
    if (e instanceof SplitError) return e.message;
    throw e;
  }
  return 'accepted';
}

describe('body splitter', () => {
  it('finds EventList items, a single Event, arrays of both, and empty lists', () => {
    expect(split('{"kind":"EventList","items":[{"a":1}, {"b":"x]}"} ,[1]]}')).toEqual(['{"a":1}', '{"b":"x]}"}', '[1]']);
    expect(split('  {"apiVersion":"v1","items":[{"x":1}],"kind":"EventList"}\n')).toEqual(['{"x":1}']);
    expect(split('{"kind":"Event","items":[1,2],"x":{}}')).toEqual(['{"kind":"Event","items":[1,2],"x":{}}']);
    expect(split('[{"kind":"Event","n":1},[{"kind":"EventList","items":[{"n":2}]}],{"kind":"EventList","items":[]}]')).toEqual([
      '{"kind":"Event","n":1}', '{"n":2}',
    ]);
    expect(split('{"kind":"EventList","items":[]}')).toEqual([]);
    expect(split('[]')).toEqual([]);
    expect(split('{"kind":"EventList","items":["s\\"]",  12.5e3, null]}')).toEqual(['"s\\"]"', '12.5e3', 'null']);
  });

  it('reads kind and items first-wins and decodes escaped keys', () => {
    expect(split('{"kind":"EventList","kind":"Pod","items":[{"a":1}],"items":"x"}')).toEqual(['{"a":1}']);
    expect(split('{"\\u006bind":"Event\\u004cist","items":[{"a":1}]}')).toEqual(['{"a":1}']);
    expect(reason('{"kind":"Pod","items":[{"a":1}],"kind":"EventList"}')).toBe(NOT_AUDIT);
  });

  it('rejects bodies that are not audit documents', () => {
    for (const b of ['{}', '{"kind":"Pod"}', '{"kind":"EventList"}', '{"kind":"EventList","items":{}}', '{"kind":1,"items":[]}', '"Event"', '42', 'null', '[1]', '[{"kind":"Event"},{"kind":"Pod"}]']) {
      expect(reason(b), b).toBe(NOT_AUDIT);
    }
  });

  it('rejects malformed JSON anywhere in the skeleton, and broken item structure', () => {
    const cases: [string, RegExp][] = [
      ['', /empty body/],
      ['{"kind":"EventList","items":[{"a":1}]', /expected ',' or '}'/],
      ['{"kind":"EventList","items":[{"a":1}]} x', /after the JSON document/],
      ['{"kind":"EventList","metadata":{"a":tru},"items":[]}', /expected a value/],
      ['{"kind":"EventList","metadata":{"a":01},"items":[]}', /after object key|expected ','/],
      ['{"kind":"EventList","metadata":"a\u0001b","items":[]}', /control character/],
      ['{"kind":"EventList","items":[{"a":[1}]}', /brackets do not match/],
      ['{"kind":"EventList","items":[{"a":1},]}', /expected an item/],
      ['{"kind":"EventList","items":[{"a":"1}]}', /unterminated string/],
      ['{"kind":"EventList","items":[{"a":1} {"b":2}]}', /expected ',' or ']'/],
      ['{"kind":"EventList","items":[{"a":1}]', /expected ',' or '}'/],
      ['{kind:"EventList"}', /expected a string key/],
    ];
    for (const [b, re] of cases) expect(reason(b), b).toMatch(re);
    // Unknown escapes are accepted and kept verbatim, as Falco's parser does.
    expect(reason('{"kind":"EventList","metadata":"\\x","items":[]}')).toBe('accepted');
    expect(reason(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))).toBe('invalid UTF-8');
    expect(reason('['.repeat(400) + ']'.repeat(400))).toMatch(/nesting deeper/);
  });

  it('grows its range table for large lists and agrees with the engine on every event', () => {
    const ruleset = Ruleset.compile(readRuleFiles(defaultRulePaths()));
    const p = new Processor(ruleset, { format: { hostname: 'h', timeIso8601: false } });
    const items = [];
    for (let i = 0; i < 1500; i++) items.push(auditEvent(`e${i}`, { alert: i % 3 === 0 }));
    items.push({ kind: 'Event', noTimestamp: true });
    const body = Buffer.from(eventList(items));
    const whole: string[] = [];
    const r1 = p.process(body, 0, body.length, (a) => whole.push(a.json));
    const s = new BodySplitter();
    const n = s.split(body, 0, body.length);
    expect(n).toBe(1501);
    const parts: string[] = [];
    let events = 0;
    let issues = 0;
    for (let i = 0; i < n; i++) {
      const r = p.processItem(body, s.ranges[2 * i], s.ranges[2 * i + 1], (a) => parts.push(a.json));
      events += r.events;
      issues += r.issues.length;
    }
    expect(events).toBe(r1.events);
    expect(issues).toBe(r1.issues.length);
    const strip = (j: string) => j.replace(/"evt\.num":\d+/, '');
    expect(parts.map(strip)).toEqual(whole.map(strip));
    expect(parts.length).toBe(500);
  });
});
