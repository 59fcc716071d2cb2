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
