// The follower's line cutter, fuzzed: random lines (blank, whitespace, too long, no
// final newline), read in random sizes into a few reused SharedArrayBuffer chunks,
// chunks given back in random order. Every complete line comes out once, whole, with
// its number, in its chunk's memory until that chunk is given back; long lines are
// reported, never cut; a chunk's end position is the start of the line after it; a
// last line without newline is held until endOfFile().
import { describe, expect, it } from 'vitest';
import { Chunk, LineChunker, type LineIssue } from '../../src/ingest/line-chunker.js';
import { rng } from '../rng.js';

interface Expected {
  frames: { line: number; text: string }[];
  tooLong: number[];
  lineStarts: number[];
}

function makeInput(r: () => number, maxLine: number): { bytes: Buffer; final: boolean } {
  const lines: string[] = [];
  const n = Math.floor(r() * 60);
  for (let i = 0; i < n; i++) {
    const k = r();
    let len: number;
    if (k < 0.05) len = 0;
    else if (k < 0.12) len = maxLine + 1 + Math.floor(r() * maxLine * 3);
    else if (k < 0.16) len = maxLine - Math.floor(r() * 3);
    else len = 1 + Math.floor(r() * maxLine * 0.8);
    let s = '';
    if (r() < 0.1) s += ' \t\r'.slice(0, 1 + Math.floor(r() * 3));
    while (s.length < len) s += String.fromCharCode(32 + Math.floor(r() * 90));
    if (r() < 0.03) s = '   ';
    lines.push(s.slice(0, Math.max(len, s.length === 3 && s.trim() === '' ? 3 : 0)));
  }
  const final = r() < 0.5;
  let text = lines.join('\n');
  if (lines.length > 0 && r() < 0.6) text += '\n';
  return { bytes: Buffer.from(text, 'latin1'), final };
}

function expected(bytes: Buffer, maxLine: number, final: boolean): Expected {
  const frames: Expected['frames'] = [];
  const tooLong: number[] = [];
  const lineStarts = [0];
  let start = 0;
  let line = 1;
  for (;;) {
    const nl = bytes.indexOf(10, start);
    const complete = nl >= 0;
    if (!complete && (start >= bytes.length || !final)) break;
    const end = complete ? nl : bytes.length;
    const raw = bytes.subarray(start, end);
    if (raw.length > maxLine) tooLong.push(line);
    else {
      let s = 0;
      while (s < raw.length && (raw[s] === 0x20 || raw[s] === 0x0d || raw[s] === 0x09)) s++;
      if (s < raw.length) frames.push({ line, text: raw.subarray(s).toString('latin1') });
    }
    line++;
    start = end + 1;
    lineStarts.push(Math.min(start, bytes.length));
    if (!complete) break;
  }
  return { frames, tooLong, lineStarts };
}

function run(seed: number): void {
  const r = rng(seed);
  const maxLine = 8 + Math.floor(r() * 200);
  const size = maxLine * 4 + Math.floor(r() * 64);
  const { bytes, final } = makeInput(r, maxLine);
  const exp = expected(bytes, maxLine, final);
  const free = Array.from({ length: 3 }, () => new Chunk(new SharedArrayBuffer(size)));
  const inFlight: { chunk: Chunk; copies: string[] }[] = [];
  const got: { line: number; text: string }[] = [];
  const issues: LineIssue[] = [];
  const c = new LineChunker(maxLine);
  let pos = 0;
  let cur: Chunk | undefined;
  const giveBack = (): void => {
    const i = Math.floor(r() * inFlight.length);
    const f = inFlight.splice(i, 1)[0];
    // Still intact: nothing wrote into a chunk the workers were reading.
    const now = Array.from({ length: f.chunk.frames.count }, (_, k) => f.chunk.buf.subarray(f.chunk.frames.ranges[2 * k], f.chunk.frames.ranges[2 * k + 1]).toString('latin1'));
    expect(now, `seed ${seed}: a chunk in flight was overwritten`).toEqual(f.copies);
    free.push(f.chunk);
  };
  const submit = (): void => {
    const chunk = c.detach();
    const copies: string[] = [];
    for (let k = 0; k < chunk.frames.count; k++) {
      const text = chunk.buf.subarray(chunk.frames.ranges[2 * k], chunk.frames.ranges[2 * k + 1]).toString('latin1');
      copies.push(text);
      got.push({ line: chunk.frames.lines[k], text });
    }
    // Where it ends is where the line after its last one starts.
    expect(chunk.endOffset, `seed ${seed}`).toBe(exp.lineStarts[chunk.endLine - 1] ?? bytes.length);
    inFlight.push({ chunk, copies });
  };
  while (pos < bytes.length) {
    if (!c.attached) {
      while (free.length === 0 || (inFlight.length > 0 && r() < 0.3)) giveBack();
      cur = free.pop()!;
      c.attach(cur);
      // Stale bytes after what the chunk holds (newlines, say) must not matter.
      cur.buf.fill(r() < 0.5 ? 10 : 65, c.readAt);
    }
    const want = Math.min(c.readLen, bytes.length - pos, 1 + Math.floor(r() * size));
    bytes.copy(cur!.buf, c.readAt, pos, pos + want);
    pos += want;
    c.consumed(want, issues);
    expect(c.readOffset).toBe(pos);
    if (c.ready) submit();
  }
  if (final) {
    if (!c.attached && c.pending > 0) {
      while (free.length === 0) giveBack();
      cur = free.pop()!;
      c.attach(cur);
    }
    c.endOfFile(issues);
    if (c.ready) submit();
  }
  while (inFlight.length > 0) giveBack();
  expect(got, `seed ${seed}`).toEqual(exp.frames);
  expect(issues.map((i) => i.line), `seed ${seed}`).toEqual(exp.tooLong);
  // What is held is exactly the incomplete last line (none after endOfFile).
  const lastStart = exp.lineStarts[exp.lineStarts.length - 1];
  expect(c.cutOffset, `seed ${seed}`).toBe(final ? bytes.length : lastStart);
  expect(c.pending, `seed ${seed}`).toBe(bytes.length - c.cutOffset);
  expect(c.line, `seed ${seed}`).toBe(exp.lineStarts.length);
}

describe('LineChunker', () => {
  it('cuts random input read in random pieces exactly as a split on newlines (fuzz)', () => {
    const rounds = process.env.PEREGRINE_LONG_TESTS === '1' ? 20_000 : 1_000;
    for (let seed = 1; seed <= rounds; seed++) run(seed);
  });

  it('holds a last line without newline until it is complete, then evaluates it whole', () => {
    const c = new LineChunker(100);
    const chunk = new Chunk(new SharedArrayBuffer(512));
    c.attach(chunk);
    const issues: LineIssue[] = [];
    const feed = (s: string): void => {
      const at = c.readAt;
      chunk.buf.write(s, at, 'latin1');
      c.consumed(s.length, issues);
    };
    feed('{"a":1}\n{"b":');
    expect(c.ready).toBe(true);
    const first = c.detach();
    expect(first.frames.count).toBe(1);
    expect([first.endOffset, first.endLine]).toEqual([8, 2]);
    expect(c.pending).toBe(5);
    const next = new Chunk(new SharedArrayBuffer(512));
    c.attach(next);
    chunk.buf.fill(0); // the carried bytes were copied at attach
    c.consumed(0, issues);
    expect(c.ready).toBe(false);
    next.buf.write('2}\n', c.readAt, 'latin1');
    c.consumed(3, issues);
    expect(c.ready).toBe(true);
    const second = c.detach();
    expect(second.buf.subarray(second.frames.ranges[0], second.frames.ranges[1]).toString()).toBe('{"b":2}');
    expect([second.frames.lines[0], second.endOffset, second.endLine]).toEqual([2, 16, 3]);
    expect(issues).toEqual([]);
  });
});
