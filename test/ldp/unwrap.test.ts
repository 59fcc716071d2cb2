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
});
