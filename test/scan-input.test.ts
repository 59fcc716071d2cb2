// `peregrine scan` reads the same events in every input form it accepts (JSON lines,
// pretty-printed and concatenated documents, .gz, stdin) with the same alerts, and the
// framer finds the same documents wherever the read chunks happen to split the input.
import { describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import { Framer, Frames, type FrameIssue } from '../src/ingest/framing.js';
// @ts-expect-error plain ES module without types
import { generateEvents, rng } from '../native-bench/corpus.mjs';
import { CLI, CONFORMANCE, runScan } from './conformance-lib.js';

const RULES = ['rules/falco_rules.lists.yaml', 'rules/k8s_audit_rules.latest.yaml'].flatMap((r) => ['--rules', join(CONFORMANCE, r)]);

describe('scan input forms', () => {
  const events: object[] = generateEvents(900, 11, 0.3);
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-input-'));
  const write = (name: string, data: string | Buffer): string => {
    const f = join(dir, name);
    writeFileSync(f, data);
    return f;
  };
  const lines = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  const list = (items: object[]): object => ({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items });

  it('give the same alerts as JSON lines', () => {
    const reference = runScan([...RULES, write('events.jsonl', lines)]);
    expect(reference.status).toBe(0);
    expect(reference.alerts.length).toBeGreaterThan(10);
    const forms: Array<[string, string[], Buffer | undefined]> = [
      ['pretty EventList', [write('list.json', JSON.stringify(list(events), null, 2))], undefined],
      ['concatenated pretty documents', [write('docs.json', events.map((e) => JSON.stringify(e, null, 1)).join('\n'))], undefined],
      ['EventLists, one per line', [write('lists.jsonl', [list(events.slice(0, 250)), list(events.slice(250))].map((l) => JSON.stringify(l)).join('\n'))], undefined],
      ['CRLF lines', [write('crlf.jsonl', lines.replace(/\n/g, '\r\n'))], undefined],
      ['gzip', [write('events.jsonl.gz', gzipSync(lines))], undefined],
      ['stdin', ['-'], Buffer.from(lines)],
    ];
    // Plain files are read 1 MiB at a time into one reused buffer: lines cross reads.
    expect(lines.length).toBeGreaterThan(2 * 1024 * 1024);
    for (const [name, files, input] of forms) {
      const r = runScan([...RULES, ...files], {}, input);
      expect(r.stderr, name).toBe('');
      expect(r.status, name).toBe(0);
      expect(r.stdout, name).toBe(reference.stdout);
    }
    // A pipe given by its path is read as a stream, not by the plain-file reader.
    const file = write('piped.jsonl', lines);
    const piped = spawnSync('sh', ['-c', 'cat "$1" | "$2" "$3" scan "$4" "$5" "$6" "$7" /dev/stdin', 'sh', file, process.execPath, CLI, ...RULES], { maxBuffer: 1 << 28 });
    expect(piped.stderr.toString()).toBe('');
    expect(piped.stdout.toString()).toBe(reference.stdout);
  });

  it('report a broken line by file:line and evaluate the rest', () => {
    const broken = lines.split('\n');
    broken[7] = broken[7].slice(0, 40);
    const f = write('broken.jsonl', broken.join('\n'));
    const r = runScan([...RULES, f]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:8: invalid JSON`));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.alerts.length).toBeGreaterThan(10);
  });

  it('refuse a directory with a clear error', () => {
    const r = runScan([...RULES, dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`cannot read '${dir}': it is a directory`);
  });

  it('report a corrupt .gz as a read error, not a crash', () => {
    const gz = gzipSync(lines);
    const r = runScan([...RULES, write('bad.jsonl.gz', gz.subarray(0, gz.length >> 1))]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.jsonl\.gz:\d+: read error/);
  });

  it('a reader that stops at a corrupt .gz leaves no read behind it (no stray error, the descriptor closed)', async () => {
    const { openInput } = await import('../src/ingest/file-input.js');
    const { readdirSync } = await import('node:fs');
    // A FIFO keeps a read in flight when the reader stops: a whole member and garbage
    // first, more bytes a moment later.
    const fifo = join(dir, 'stream.log.gz');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    write('member.gz', Buffer.concat([gzipSync(lines), Buffer.alloc(65536, 7)]));
    // (Opened read-write here so neither side's open waits for the other.)
    const end = openSync(fifo, 'r+');
    const writer = spawn('sh', ['-c', `cat '${join(dir, 'member.gz')}'; sleep 0.5; head -c 4096 /dev/zero`], { stdio: ['ignore', end, 'ignore'] });
    const stray: unknown[] = [];
    const onStray = (e: unknown): void => { stray.push(e); };
    process.on('uncaughtException', onStray);
    const fds = readdirSync('/proc/self/fd').length;
    try {
      const input = await openInput(fifo);
      let failed: unknown;
      try {
        for await (const chunk of input.chunks as AsyncIterable<Buffer>) expect(chunk.length).toBeGreaterThan(0);
      } catch (e) {
        failed = e;
      } finally {
        input.close();
      }
      expect((failed as NodeJS.ErrnoException | undefined)?.code).toBe('Z_DATA_ERROR');
      await new Promise((r) => writer.once('exit', r));
      await new Promise((r) => setTimeout(r, 300));
      expect(stray).toEqual([]);
      expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fds);
    } finally {
      process.off('uncaughtException', onStray);
      writer.kill();
      closeSync(end);
    }
  });
});

describe('framer', () => {
  /**
   * Documents (text and line) the framer finds when `input` arrives in pieces cut at
   * `cuts`. Every piece is read into the same buffer, which is scribbled over once its
   * frames are taken, as scan reuses its read buffer.
   */
  const frame = (input: Buffer, cuts: number[]): string[] => {
    const f = new Framer();
    const frames = new Frames();
    const issues: FrameIssue[] = [];
    const found: string[] = [];
    const take = (): void => {
      for (let k = 0; k < frames.count; k++) {
        found.push(`${frames.lines[k]}:${frames.bufs[k].subarray(frames.ranges[2 * k], frames.ranges[2 * k + 1]).toString()}`);
      }
      frames.clear();
    };
    const chunk = Buffer.alloc(input.length);
    let at = 0;
    for (const c of [...cuts, input.length]) {
      input.copy(chunk, 0, at, c);
      f.push(chunk.subarray(0, c - at), frames, issues);
      take();
      chunk.fill(0x23);
      at = c;
    }
    f.finish(frames, issues);
    take();
    return [...found, ...issues.map((i) => `!${i.line}:${i.message}`)];
  };

  it('finds the same documents and line numbers wherever the chunks split the input', () => {
    const r = rng(5);
    const ev = generateEvents(12, 3, 0.5) as object[];
    const inputs = [
      ev.map((e) => JSON.stringify(e)).join('\n') + '\n',
      '\n  \n' + ev.map((e) => JSON.stringify(e)).join('\r\n'),
      ev.map((e) => JSON.stringify(e, null, 2)).join('\n'),
      ev.map((e) => JSON.stringify(e, null, 2)).join(''),
      JSON.stringify({ kind: 'EventList', items: ev }, null, 3),
      ev.map((e) => JSON.stringify(e)).join('\n').replace(/"verb"/, '"ve\\"rb"') + '\n{"broken": ',
      '}\n' + ev.map((e) => JSON.stringify(e, null, 2)).join('\n') + '\n]',
      // More frames in one chunk than the frame list starts with.
      Array.from({ length: 3000 }, (_, i) => `{"n":${i}}`).join('\n'),
    ];
    for (const text of inputs) {
      const input = Buffer.from(text);
      const whole = frame(input, []);
      expect(whole.length).toBeGreaterThan(0);
      for (let k = 0; k < 40; k++) {
        const cuts = Array.from({ length: 1 + Math.floor(r() * 6) }, () => Math.floor(r() * input.length)).sort((a, b) => a - b);
        expect(frame(input, cuts)).toEqual(whole);
      }
      // One byte at a time, the worst case.
      expect(frame(input, Array.from({ length: input.length - 1 }, (_, i) => i + 1))).toEqual(whole);
    }
  });
});
