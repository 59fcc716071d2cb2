// The main-thread splitter: which bodies are audit documents, where their events are,
// and agreement with the engine's own document walk (Processor.process) on the same bodies.
import { beforeAll, describe, expect, it } from 'vitest';
import { BodySplitter, NOT_AUDIT, SplitError, nativeSplit, type NativeSplit } from '../../src/ingest/split.js';
import { Processor } from '../../src/engine/processor.js';
import { Ruleset } from '../../src/rules/ruleset.js';
import { defaultRulePaths, readRuleFiles } from '../../src/config/rules-files.js';
import { auditEvent, eventList } from './fixtures.js';

const NATIVE = nativeSplit({});
let impl: NativeSplit | undefined;

function split(text: string): string[] {
  const s = new BodySplitter(impl);
  const buf = Buffer.from(text);
  const n = s.split(buf, 0, buf.length);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(buf.toString('utf8', s.ranges[2 * i], s.ranges[2 * i + 1]));
  return out;
}

function reason(text: string | Buffer): string {
  const s = new BodySplitter(impl);
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text);
  try {
    s.split(buf, 0, buf.length);
  } catch (e) {
    if (e instanceof SplitError) return e.message;
    throw e;
  }
  return 'accepted';
}

describe.each([['TypeScript walk', false], ['native walk in front of it', true]])('body splitter (%s)', (_name, useNative) => {
  beforeAll(() => {
    if (useNative && NATIVE === undefined) throw new Error('native addon not built');
    impl = useNative ? NATIVE : undefined;
  });

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

  it('limits nesting as the plugin\'s parser does for the whole body: any value below level 300 (root 1)', () => {
    const nest = (k: number, inner: string): string => '['.repeat(k) + inner + ']'.repeat(k);
    // EventList 1, items 2, an item 3, its member `a` 4: k arrays there hold values at level k + 4.
    const list = (k: number, inner: string): string => `{"kind":"EventList","items":[{"kind":"Event","a":${nest(k, inner)}}]}`;
    expect(reason(list(296, '1'))).toBe('accepted');
    expect(reason(list(297, '1'))).toMatch(/nesting deeper/);
    expect(reason(list(297, ''))).toBe('accepted');
    expect(reason(list(297, ' '))).toBe('accepted');
    expect(reason(list(297, '"s"'))).toMatch(/nesting deeper/);
    expect(reason(list(298, ''))).toMatch(/nesting deeper/);
    // Members of the list itself, and a single event: root 1, member 2.
    const meta = (k: number, inner: string): string => `{"kind":"EventList","metadata":${nest(k, inner)},"items":[]}`;
    expect(reason(meta(298, '1'))).toBe('accepted');
    expect(reason(meta(299, '1'))).toMatch(/nesting deeper/);
    expect(reason(meta(299, ''))).toBe('accepted');
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
    const s = new BodySplitter(impl);
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

describe('native body splitter against the TypeScript walk', () => {
  /** The TypeScript walk's verdict: ranges, or its error. */
  function reference(buf: Buffer): number[] | string {
    const s = new BodySplitter();
    try {
      const n = s.walk(buf, 0, buf.length);
      return Array.from(s.ranges.subarray(0, 2 * n));
    } catch (e) {
      if (e instanceof SplitError) return e.message;
      throw e;
    }
  }

  function rng(seed: number): () => number {
    let x = seed >>> 0;
    return () => {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      return x / 2 ** 32;
    };
  }

  it('accepts only what the walk accepts, with the same ranges, over valid, odd and damaged bodies', () => {
    if (NATIVE === undefined) throw new Error('native addon not built');
    const r = rng(2026);
    const items = Array.from({ length: 40 }, (_, i) => auditEvent(`n${i}`, { alert: i % 4 === 0 }));
    const seeds = [
      eventList(items),
      eventList(items.slice(0, 3)),
      JSON.stringify({ kind: 'Event', ...items[0] }),
      `[${eventList(items.slice(0, 2))},${JSON.stringify({ kind: 'Event', a: 1 })},[${eventList([])}]]`,
      '{"apiVersion":"audit.k8s.io/v1","metadata":{"x":[1,2.5e-3,true,null,{"y":"\\u00e9\\n"}]},"items":[{"a":"x]}"},"s",12,[1,[2]]],"kind":"EventList"}',
      '{"kind":"EventList","kind":"Pod","items":[{"a":1}],"items":"x"}',
      '{"\\u006bind":"EventList","items":[{"a":1}]}',
      '{"kind":"Event\\u004cist","items":[{"a":1}]}',
      '{"kind":"Pod","items":[{"a":1}],"kind":"EventList"}',
      JSON.stringify(eventList(items.slice(0, 1))),
      '[' .repeat(260) + eventList(items.slice(0, 1)) + ']'.repeat(260),
      '{"kind":"EventList","items":[' + '['.repeat(290) + ']'.repeat(290) + ']}',
      ' \n {"kind":"EventList","items":[ {"a":1} , 2 ]} \t\r\n',
    ];
    const ALPHABET = ['{', '}', '[', ']', '"', ',', ':', '\\', ' ', 'x', '1', '-', 'e', '.', 't', 'n', '\u00e9', '\u0001', '\n'];
    let accepted = 0;
    let total = 0;
    const ranges = new Uint32Array(2 * 64);
    const check = (buf: Buffer): void => {
      total++;
      const want = reference(buf);
      let got = NATIVE(buf, 0, buf.length, ranges);
      let out = ranges;
      if (got > ranges.length / 2) {
        out = new Uint32Array(2 * got);
        got = NATIVE(buf, 0, buf.length, out);
      }
      if (got < 0) return; // deferred: the walk decides, whatever it says
      accepted++;
      expect(want, buf.toString().slice(0, 300)).toEqual(Array.from(out.subarray(0, 2 * got)));
    };
    for (const seed of seeds) {
      const base = Buffer.from(seed);
      check(base);
      for (let k = 0; k < 400; k++) {
        const b = Buffer.from(base);
        const edits = 1 + Math.floor(r() * 3);
        let text = b.toString('latin1');
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(r() * text.length);
          const op = r();
          if (op < 0.4) text = text.slice(0, at) + text.slice(at + 1);
          else if (op < 0.8) text = text.slice(0, at) + ALPHABET[Math.floor(r() * ALPHABET.length)] + text.slice(at);
          else text = text.slice(0, at);
        }
        check(Buffer.from(text, 'latin1'));
        check(Buffer.from(text, 'utf8'));
      }
    }
    // Random bytes (the native code must never read outside the body or crash).
    for (let k = 0; k < 2000; k++) {
      const b = Buffer.alloc(1 + Math.floor(r() * 200));
      for (let j = 0; j < b.length; j++) b[j] = r() < 0.5 ? '{}[]",:\\ 1tx'.charCodeAt(Math.floor(r() * 13)) : Math.floor(r() * 256);
      check(b);
    }
    // Bodies inside a larger buffer: offsets are absolute.
    const body = Buffer.from(eventList(items.slice(0, 5)));
    const framed = Buffer.concat([Buffer.from('garbage'), body, Buffer.from('more')]);
    const n = NATIVE(framed, 7, 7 + body.length, ranges);
    expect(n).toBe(5);
    const s = new BodySplitter();
    s.walk(framed, 7, 7 + body.length);
    expect(Array.from(ranges.subarray(0, 10))).toEqual(Array.from(s.ranges.subarray(0, 10)));
    // The native walk must carry the common case, not defer it.
    expect(accepted).toBeGreaterThan(seeds.length);
    expect(total).toBeGreaterThan(10_000);
  });
});
