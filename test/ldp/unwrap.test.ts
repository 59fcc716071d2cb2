// LDP frames unwrapped as k8saudit-ovh does (Go's encoding/json into a struct, then a
// map, then the template "{{._appID}}> {{.short_message}}" cut after the first "> ").
import { describe, expect, it } from 'vitest';
import { unwrapFrame } from '../../src/ingest/ldp/unwrap.js';
import { rng } from '../../native-bench/corpus.mjs';

const ev = '{"kind":"Event","auditID":"a","stage":"ResponseComplete"}';
const frame = (inner: unknown, outerKey = 'message'): string => JSON.stringify({ [outerKey]: JSON.stringify(inner), _stream: 's' });

describe('LDP frame unwrapping', () => {
  it('gives short_message as written for the three payload forms', () => {
    for (const payload of [ev, `{"kind":"EventList","items":[${ev},${ev}]}`, `[${ev},${ev}]`]) {
      expect(unwrapFrame(frame({ _appID: 'app-123', short_message: payload, host: 'h' }))).toEqual({ ok: true, payload });
    }
    // Escapes in the payload come through decoded once, as the plugin passes them on.
    const tricky = '{"kind":"Event","auditID":"\\u0061\\"q","stage":"ResponseComplete"}';
    expect(unwrapFrame(frame({ _appID: 'x', short_message: tricky }))).toEqual({ ok: true, payload: tricky });
  });

  it('matches the outer key as Go does: case-insensitively (and the long s), the last match winning; null leaves it', () => {
    const inner = JSON.stringify({ _appID: 'a', short_message: ev });
    expect(unwrapFrame(`{"MESSAGE":${JSON.stringify(inner)}}`)).toEqual({ ok: true, payload: ev });
    expect(unwrapFrame(`{"meſſage":${JSON.stringify(inner)}}`)).toEqual({ ok: true, payload: ev });
    expect(unwrapFrame(`{"message":"{}","Message":${JSON.stringify(inner)}}`)).toEqual({ ok: true, payload: ev });
    expect(unwrapFrame(`{"message":${JSON.stringify(inner)},"message":null}`)).toEqual({ ok: true, payload: ev });
    expect(unwrapFrame(`{"messages":${JSON.stringify(inner)}}`)).toEqual({ ok: false, reason: 'no_message' });
    expect(unwrapFrame(`{"message":42}`)).toEqual({ ok: false, reason: 'no_message' });
    // Duplicates are decoded in order, as Go does (JSON.parse would keep only the last).
    expect(unwrapFrame(`{"message":42,"message":${JSON.stringify(inner)}}`)).toEqual({ ok: false, reason: 'no_message' });
    // Also when the duplicate is spelled with an escape (JSON.parse merges the two).
    expect(unwrapFrame(`{"message":[1],"mess\\u0061ge":${JSON.stringify(inner)}}`)).toEqual({ ok: false, reason: 'no_message' });
    expect(unwrapFrame(`{"message":"{}","mess\\u0061ge":${JSON.stringify(inner)}}`)).toEqual({ ok: true, payload: ev });
    expect(unwrapFrame(`{ "a" : [1,{"message":2}] , "message" : ${JSON.stringify(inner)} , "b":"}" }`)).toEqual({ ok: true, payload: ev });
    expect(unwrapFrame('null')).toEqual({ ok: false, reason: 'no_message' });
    expect(unwrapFrame('[1]')).toEqual({ ok: false, reason: 'no_message' });
  });

  it('skips what the plugin skips, by reason', () => {
    expect(unwrapFrame('not json')).toEqual({ ok: false, reason: 'frame_not_json' });
    expect(unwrapFrame('{"message":"a plain log line"}')).toEqual({ ok: false, reason: 'message_not_json' });
    expect(unwrapFrame('{"message":"[1,2]"}')).toEqual({ ok: false, reason: 'message_not_json' });
    expect(unwrapFrame(frame({ _appID: 'a' }))).toEqual({ ok: false, reason: 'no_short_message' });
    expect(unwrapFrame(frame({ _appID: 'a', short_message: { kind: 'Event' } }))).toEqual({ ok: false, reason: 'no_short_message' });
    expect(unwrapFrame('{"message":"null"}')).toEqual({ ok: false, reason: 'no_short_message' });
    // Another application's log on the same stream: unwrapped, then not an audit event
    // (the caller's parser says so).
    expect(unwrapFrame(frame({ _appID: 'web', short_message: 'GET / 200' }))).toEqual({ ok: true, payload: 'GET / 200' });
  });

  it('cuts after the first "> " of the rendered template, as the plugin does', () => {
    // No _appID: "<no value>> ..." still cuts right before the payload.
    expect(unwrapFrame(frame({ short_message: ev }))).toEqual({ ok: true, payload: ev });
    // An _appID holding "> " moves the cut: the payload is not an event any more.
    expect(unwrapFrame(frame({ _appID: 'a> b', short_message: ev }))).toEqual({ ok: true, payload: `b> ${ev}` });
    expect(unwrapFrame(frame({ _appID: { x: 'y> z' }, short_message: ev }))).toEqual({ ok: true, payload: `z]> ${ev}` });
    expect(unwrapFrame(frame({ _appID: 7, short_message: ev }))).toEqual({ ok: true, payload: ev });
  });

  it('never throws on mutated frames', () => {
    const r = rng(5);
    const base = frame({ _appID: 'app', short_message: `{"kind":"EventList","items":[${ev}]}` });
    for (let n = 0; n < 3000; n++) {
      const b = Buffer.from(base);
      const edits = 1 + Math.floor(r() * 4);
      for (let e = 0; e < edits; e++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      const cut = r() < 0.3 ? b.subarray(0, Math.floor(r() * b.length)) : b;
      const u = unwrapFrame(cut.toString('utf8'));
      expect(u.ok ? typeof u.payload : u.reason).toMatch(/^(string|frame_not_json|no_message|message_not_json|no_short_message)$/);
    }
  });
});

describe('LDP frame unwrapping: the addon against the reference', () => {
  it('gives the same payloads and reasons over usual, odd and mutated frames', async () => {
    const { loadNative } = await import('../../src/native/loader.js');
    const { unwrapFrames } = await import('../../src/ingest/ldp/unwrap.js');
    const addon = loadNative();
    if (addon === undefined) throw new Error('native extractor not built: npm ci should have built it');
    const native = (b: Uint8Array, r: Uint32Array, n: number, st: Int32Array) => addon.unwrapLdp(b, r, n, st);
    const r = rng(11);
    const frames: string[] = [
      frame({ _appID: 'a', short_message: ev }), frame({ short_message: ev }), frame({ _appID: 7, short_message: ev }), frame({ _appID: null, short_message: ev }),
      frame({ _appID: 'a> b', short_message: ev }), frame({ _appID: { x: 'y> z' }, short_message: ev }), frame({ _appID: ['p> q'], short_message: ev }),
      frame({ _appID: 'a', short_message: 'plain text' }), frame({ _appID: 'a', short_message: 5 }), frame({ _appID: 'a' }),
      frame({ _appID: 'a', short_message: 'x', short_message2: 1 }), '{"message":"{\\"short_message\\":\\"a\\",\\"short_message\\":\\"b\\"}"}',
      '{"MESSAGE":"{\\"short_message\\":\\"c\\"}"}', '{"meſſage":"{\\"short_message\\":\\"d\\"}"}', '{"message":1,"message":"{}"}',
      '{"message":null}', '{"message":""}', 'null', '[]', '"s"', 'not json', '{"message":"[1]"}', '{"message":"null"}',
      '{"message":"{\\"short_message\\":\\"\\\\ud800\\"}"}', '{"message":"{\\"short_message\\":\\"é\\u00e9\\"}"}',
      `{"message":${JSON.stringify(JSON.stringify({ short_message: ev }))},"extra":{"message":1},"n":1e400}`,
    ];
    for (let k = 0; k < 1500; k++) {
      const b = Buffer.from(frames[k % 10]);
      for (let e = 0; e < 1 + Math.floor(r() * 3); e++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      frames.push(b.toString('latin1'));
    }
    const bufs = frames.map((f) => Buffer.from(f, frames.indexOf(f) >= 26 ? 'latin1' : 'utf8'));
    const all = Buffer.concat(bufs);
    const ranges = new Uint32Array(2 * bufs.length);
    let at = 0;
    bufs.forEach((b, i) => { ranges[2 * i] = at; at += b.length; ranges[2 * i + 1] = at; });
    const a = unwrapFrames(all, ranges, bufs.length, native);
    const t = unwrapFrames(all, ranges, bufs.length);
    expect(a.skipped).toEqual(t.skipped);
    expect(a.count).toBe(t.count);
    expect(Array.from(a.frameOf.subarray(0, a.count))).toEqual(Array.from(t.frameOf.subarray(0, t.count)));
    for (let i = 0; i < a.count; i++) {
      expect(a.buf.subarray(a.ranges[2 * i], a.ranges[2 * i + 1]).equals(t.buf.subarray(t.ranges[2 * i], t.ranges[2 * i + 1])), `frame ${a.frameOf[i]}`).toBe(true);
    }
    // The usual frames are the addon's own work, not deferred.
    const st = new Int32Array(8);
    const one = Buffer.from(frame({ _appID: 'a', short_message: ev }));
    addon.unwrapLdp(Buffer.concat([one, one, one, one]), Uint32Array.from([0, one.length, one.length, 2 * one.length, 2 * one.length, 3 * one.length, 3 * one.length, 4 * one.length]), 4, st);
    expect(Array.from(st.subarray(0, 4))).toEqual([0, 0, 0, 0]);
  });

  it('the one-pass path (tiers 1) agrees with the reference on every frame it takes, and takes the usual ones', async () => {
    const { loadNative } = await import('../../src/native/loader.js');
    const addon = loadNative();
    if (addon === undefined) throw new Error('native extractor not built: npm ci should have built it');
    const r = rng(23);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const sp = (): string => pick(['', '', ' ', '\n', '\t ', '\r\n']);
    // Strings holding what JSON escapes (JSON.stringify writes the escapes), and non-ASCII.
    const str = (): string => pick(['a', 'app-1', 'x> y', '', 'q"q', 'b\\s', 'tab\t', 'é', '\u2028', 'ctl\u0001', '/p/q', 'nl\n', 'emoji 😀', '\ud800']);
    const num = (): string => pick(['0', '-1', '7', '3.25', '1765100000.123', '1e3', '12345678901234567890', '-0.5', '1E-2', '01', '-']);
    const scalar = (): string => pick([JSON.stringify(str()), num(), 'true', 'false', 'null', 'nul']);
    const value = (depth: number): string => {
      const k = r();
      if (depth > 3 || k < 0.5) return scalar();
      if (k < 0.75) return `[${sp()}${Array.from({ length: Math.floor(r() * 3) }, () => value(depth + 1)).join(`${sp()},${sp()}`)}${sp()}]`;
      return `{${sp()}${Array.from({ length: Math.floor(r() * 3) }, () => `${JSON.stringify(str())}${sp()}:${sp()}${value(depth + 1)}`).join(`${sp()},${sp()}`)}${sp()}}`;
    };
    const obj = (members: [string, string][]): string => `${sp()}{${sp()}${members.map(([k, v]) => `${k}${sp()}:${sp()}${v}`).join(`${sp()},${sp()}`)}${sp()}}${sp()}`;
    const payloads = [ev, `{"kind":"EventList","items":[${ev}]}`, '{"kind":"Event","auditID":"\\u0061\\"q\\\\","stage":"RequestReceived"}', 'GET / 200', '', 'é\u2028'];
    // Long payloads put escapes of every kind, and runs of backslashes, at every offset of
    // the addon's 64-byte blocks.
    const long = (): string => Array.from({ length: 2 + Math.floor(r() * 16) }, () => 'x'.repeat(Math.floor(r() * 70)) + pick(['"', '\\', '\u0001', '\n', '/', '\t', 'é', '\\"', '\\'.repeat(1 + Math.floor(r() * 9)), '\\/\\"'])).join('');
    const frames: Buffer[] = [];
    for (let n = 0; n < 4000; n++) {
      const gelf: [string, string][] = [];
      if (r() < 0.8) gelf.push(['"_appID"', r() < 0.7 ? JSON.stringify(pick(['a1b2-mks-audit', 'a', 'x> y', 'q"', '>'])) : value(1)]);
      if (r() < 0.95) gelf.push(['"short_message"', r() < 0.9 ? JSON.stringify(r() < 0.3 ? long() : pick(payloads)) : value(1)]);
      for (let k = Math.floor(r() * 3); k > 0; k--) gelf.push([pick(['"version"', '"host"', '"timestamp"', '"_x"', '"short_message"', '"_appID"', '"\\u005fappID"']), value(1)]);
      for (let i = gelf.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [gelf[i], gelf[j]] = [gelf[j], gelf[i]]; }
      const message = r() < 0.9 ? obj(gelf) : pick(['null', '[1]', 'plain', '{}', obj(gelf) + 'x']);
      const outer: [string, string][] = [[pick(['"message"', '"message"', '"MESSAGE"', '"Message"', '"mess\\u0061ge"', '"meſſage"']), JSON.stringify(message)]];
      for (let k = Math.floor(r() * 3); k > 0; k--) outer.push([pick(['"_stream"', '"host"', '"message"', '"a"']), value(1)]);
      for (let i = outer.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [outer[i], outer[j]] = [outer[j], outer[i]]; }
      const b = Buffer.from(obj(outer));
      if (r() < 0.15) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      frames.push(r() < 0.05 ? b.subarray(0, Math.floor(r() * b.length)) : b);
    }
    const all = Buffer.concat(frames);
    const ranges = new Uint32Array(2 * frames.length);
    let at = 0;
    frames.forEach((b, i) => { ranges[2 * i] = at; at += b.length; ranges[2 * i + 1] = at; });
    // 5: the one-pass path without SSSE3 (what CPUs without it run).
    for (const tiers of [1, 5, 3]) {
      const st = new Int32Array(2 * frames.length);
      const out = addon.unwrapLdp(all, ranges, frames.length, st, tiers);
      let pos = 0;
      let taken = 0;
      for (let i = 0; i < frames.length; i++) {
        const ref = unwrapFrame(frames[i].toString('utf8'));
        const len = st[frames.length + i];
        if (st[i] === 0) {
          taken++;
          expect(ref.ok, `frame ${i} (tiers ${tiers}): ${frames[i].toString('utf8')}`).toBe(true);
          if (ref.ok) expect(out.subarray(pos, pos + len).toString('utf8'), `frame ${i} (tiers ${tiers}): ${frames[i].toString('utf8')}`).toBe(ref.payload);
        } else if (st[i] > 0) {
          expect(tiers, 'only the DOM path gives a reason').toBe(3);
          expect(ref.ok ? 'ok' : ref.reason, `frame ${i}: ${frames[i].toString('utf8')}`).toBe(['', 'frame_not_json', 'no_message', 'message_not_json', 'no_short_message'][st[i]]);
        } else {
          expect(len, 'a deferred frame writes nothing').toBe(0);
        }
        pos += len;
      }
      expect(pos).toBe(out.length);
      // Most generated frames are usual enough for the one-pass path.
      if (tiers !== 3) expect(taken).toBeGreaterThan(frames.length / 20);
    }
    // What the load test sends is all the one-pass path's.
    const usual = Buffer.from(JSON.stringify({ message: JSON.stringify({ version: '1.1', host: 'mks', _appID: 'a1b2c3d4-mks-audit', short_message: ev, timestamp: 1765100000.123 }), _stream: 'k8s-audit' }));
    for (const tiers of [1, 5]) {
      const st = new Int32Array(2);
      expect(addon.unwrapLdp(usual, Uint32Array.from([0, usual.length]), 1, st, tiers).toString()).toBe(ev);
      expect(st[0]).toBe(0);
    }
  });
});
