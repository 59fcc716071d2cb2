// `peregrine scan`: evaluate audit log files offline and print Falco alerts.
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ErrorCode, PeregrineError, describeWarning } from '../errors.js';
import { Framer, Frames, type FrameIssue } from '../ingest/framing.js';
import { type Alert, Processor } from '../engine/processor.js';
import { Ruleset, type RuleMatching } from '../rules/ruleset.js';
import { forBatch, withoutOptimizer } from '../rules/jit.js';
import { parsePriority } from '../rules/priority.js';
import { defaultRulePaths, readRuleFiles } from '../config/rules-files.js';
import { HOSTNAME } from '../fields/event.js';
import { LineWriter } from './output-writer.js';
import { chooseBackend, describeBackend } from '../engine/select-backend.js';

export const SCAN_USAGE = `Usage: peregrine scan [options] FILE...

Evaluates Kubernetes audit events and prints one Falco JSON alert per line.
FILE is JSON lines (each line an Event or EventList), a JSON document
(pretty-printed or not), a .gz of either, or - for stdin.

Options:
  -r, --rules FILE|DIR      rules file or directory of *.yaml (repeatable, loaded
                            in order; default: the bundled rules)
      --rule-matching MODE  first (default) or all
      --min-priority P      skip rules less severe than P (e.g. warning)
      --format FMT          json (default) or text
      --time-iso8601        ISO 8601 time prefix in outputs (Falco's time_format_iso_8601)
      --quiet               do not print rule warnings
  -h, --help                this help

Exit status: 0 success, 1 some input records were invalid (reported on stderr,
the rest was processed), 2 usage or rules error.`;

export interface ScanOptions {
  rules: string[];
  ruleMatching: RuleMatching;
  minPriority: number;
  format: 'json' | 'text';
  timeIso8601: boolean;
  quiet: boolean;
  files: string[];
}

export function parseScanArgs(argv: string[]): ScanOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      rules: { type: 'string', short: 'r', multiple: true },
      'rule-matching': { type: 'string' },
      'min-priority': { type: 'string' },
      format: { type: 'string' },
      'time-iso8601': { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const rm = values['rule-matching'] ?? 'first';
  if (rm !== 'first' && rm !== 'all') throw new PeregrineError(ErrorCode.USAGE, `--rule-matching must be 'first' or 'all', not '${rm}'`);
  let minPriority = 7;
  if (values['min-priority'] !== undefined) {
    const p = parsePriority(values['min-priority']);
    if (p === undefined) throw new PeregrineError(ErrorCode.USAGE, `Unknown priority "${values['min-priority']}" (expected emergency, alert, critical, error, warning, notice, informational or debug)`);
    minPriority = p;
  }
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'text') throw new PeregrineError(ErrorCode.USAGE, `--format must be 'json' or 'text', not '${format}'`);
  if (positionals.length === 0) throw new PeregrineError(ErrorCode.USAGE, 'no input files (use - for stdin)');
  return {
    rules: values.rules ?? [],
    ruleMatching: rm,
    minPriority,
    format,
    timeIso8601: values['time-iso8601'] ?? false,
    quiet: values.quiet ?? false,
    files: positionals,
  };
}

const CHUNK = 1024 * 1024;

export interface Input {
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>;
  size: number;
  close(): void;
}

export async function openInput(file: string): Promise<Input> {
  if (file === '-') return { chunks: process.stdin, size: 0, close: () => {} };
  let size = 0;
  let regular = false;
  let fd: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new PeregrineError(ErrorCode.IO, `cannot read '${file}': it is a directory`);
    size = st.size;
    regular = st.isFile();
    fd = openSync(file, 'r');
  } catch (e) {
    if (e instanceof PeregrineError) throw e;
    throw new PeregrineError(ErrorCode.IO, `cannot open '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const close = (): void => closeSync(fd);
  const gz = file.endsWith('.gz');
  if (regular && !gz) return { chunks: fileChunks(fd), size, close };
  // Pipes and devices may not block on read: they are read as streams.
  const raw = createReadStream('', { fd, autoClose: false, highWaterMark: CHUNK });
  if (!gz) return { chunks: raw, size: 0, close };
  // zlib is loaded only when a file needs it: most scans read plain files.
  const { createGunzip } = await import('node:zlib');
  return { chunks: raw.pipe(createGunzip()), size: 0, close };
}

/**
 * A plain file, read into one buffer over and over: no stream machinery and no fresh
 * pages per chunk. Each chunk is evaluated before the next read (the framer copies
 * what it keeps of a chunk).
 */
function* fileChunks(fd: number): Generator<Buffer> {
  const buf = Buffer.allocUnsafeSlow(CHUNK);
  for (;;) {
    const n = readSync(fd, buf, 0, CHUNK, null);
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}

export class Progress {
  private last = 0;
  private readonly enabled: boolean;
  bytes = 0;
  events = 0;
  private started = Date.now();

  constructor(private readonly total: number, private readonly label: string) {
    this.enabled = process.stderr.isTTY === true;
  }

  tick(): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 500) return;
    this.last = now;
    const secs = Math.max(0.001, (now - this.started) / 1000);
    const pct = this.total > 0 ? ` ${((100 * this.bytes) / this.total).toFixed(1)}%` : '';
    process.stderr.write(`\r${this.label}:${pct} ${(this.bytes / 1048576).toFixed(1)} MiB, ${this.events} events, ${Math.round(this.events / secs)} events/s   `);
  }

  done(): void {
    if (this.enabled && this.last !== 0) process.stderr.write('\r\x1b[K');
  }
}

export async function runScan(opts: ScanOptions): Promise<number> {
  forBatch();
  const files = readRuleFiles(opts.rules.length > 0 ? opts.rules : defaultRulePaths());
  const ruleset = withoutOptimizer(() => Ruleset.compile(files, { ruleMatching: opts.ruleMatching, minPriority: opts.minPriority }));
  if (!opts.quiet) {
    for (const w of ruleset.legacy) process.stderr.write(describeWarning(w) + '\n');
  }
  const choice = chooseBackend();
  const backend = choice.backend;
  // Say which extractor runs on a terminal; elsewhere only when the addon failed to load.
  const unexpected = choice.reason !== undefined && process.env.PEREGRINE_NATIVE !== '0';
  if (!opts.quiet && (process.stderr.isTTY === true || unexpected)) {
    process.stderr.write(`peregrine: JSON extraction: ${describeBackend(choice)}\n`);
  }
  const processor = new Processor(ruleset, {
    format: { hostname: HOSTNAME, timeIso8601: opts.timeIso8601 },
    backend,
  });
  const out = new LineWriter(process.stdout);
  let invalid = 0;
  const text = opts.format === 'text';
  for (const file of opts.files) {
    const label = file === '-' ? '<stdin>' : file;
    const input = await openInput(file);
    const progress = new Progress(input.size, label);
    const framer = new Framer();
    const frames = new Frames();
    const issues: FrameIssue[] = [];
    const report = (line: number, msg: string): void => {
      invalid++;
      process.stderr.write(`${label}:${line}: ${msg}\n`);
    };
    const onAlert = (a: Alert): void => {
      const w = out.write(text ? a.text : a.json);
      if (w) pendingWrites.push(w);
    };
    const drain = async (): Promise<void> => {
      for (const is of issues) report(is.line, is.message);
      issues.length = 0;
      // Frames from one chunk share its buffer: evaluate them as one batch.
      let i = 0;
      while (i < frames.count) {
        const buf = frames.bufs[i];
        let j = i + 1;
        while (j < frames.count && frames.bufs[j] === buf) j++;
        const first = i;
        processor.processBatch(buf, frames.ranges.subarray(2 * i, 2 * j), j - i, false, onAlert, (k, res) => {
          progress.events += res.events;
          if (res.issues.length === 0) return;
          const line = frames.lines[first + k];
          for (const is of res.issues) report(line, is.item >= 0 ? `item ${is.item}: ${is.message}` : is.message);
        });
        i = j;
        if (pendingWrites.length) {
          await Promise.all(pendingWrites);
          pendingWrites.length = 0;
        }
      }
      frames.clear();
    };
    const pendingWrites: Promise<void>[] = [];
    try {
      for await (const chunk of input.chunks) {
        progress.bytes += chunk.length;
        framer.push(chunk, frames, issues);
        await drain();
        progress.tick();
      }
    } catch (e) {
      progress.done();
      const err = e as NodeJS.ErrnoException;
      // Node's messages start with the code for system errors (ENOENT: ...), zlib's do not.
      const msg = err.code === undefined || err.message.startsWith(err.code) ? err.message : `${err.code}: ${err.message}`;
      report(0, `read error: ${msg}`);
      continue;
    } finally {
      input.close();
    }
    framer.finish(frames, issues);
    await drain();
    progress.done();
  }
  await out.flush();
  return invalid > 0 ? 1 : 0;
}
