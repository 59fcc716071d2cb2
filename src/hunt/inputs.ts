// The hunt's inputs: files, directories of the apiserver's log and its rotated backups,
// or stdin; and what can be learnt of a file's time span without reading it through
// (its first and last lines, and the rotation time in a backup's name).
import { closeSync, createReadStream, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ErrorCode, PeregrineError } from '../errors.js';
import { TimeParseError, parseEventTime } from '../events/time.js';
import type { TimeWindow } from './window.js';

export interface HuntInput {
  path: string;
  label: string;
  size: number;
}

/** Files a directory holds that may be audit logs: `*.log`, `*.json`, `*.jsonl`, their `.gz`. */
const LOG_NAME = /\.(log|json|jsonl)(\.gz)?$|\.gz$/;

/** The inputs the arguments name; `notice` hears of what a directory holds that is not read. */
export function expandInputs(args: string[], notice: (msg: string) => void = () => undefined): HuntInput[] {
  const out: HuntInput[] = [];
  for (const a of args) {
    if (a === '-') {
      out.push({ path: '-', label: '<stdin>', size: 0 });
      continue;
    }
    let st;
    try {
      st = statSync(a);
    } catch (e) {
      throw new PeregrineError(ErrorCode.IO, `cannot open '${a}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!st.isDirectory()) {
      out.push({ path: a, label: a, size: st.size });
      continue;
    }
    // Name order puts lumberjack's backups (audit-<time>.log) oldest first, before audit.log.
    const all = readdirSync(a).filter((n) => !n.startsWith('.'));
    const names = all.filter((n) => LOG_NAME.test(n)).sort();
    let files = 0;
    for (const n of names) {
      const p = join(a, n);
      const s = statSync(p);
      if (s.isFile()) {
        out.push({ path: p, label: p, size: s.size });
        files++;
      }
    }
    const skipped = all.length - files;
    if (skipped > 0) {
      const some = all.filter((n) => !names.includes(n) || !statSync(join(a, n)).isFile()).slice(0, 3).join(', ');
      notice(`peregrine: hunt: ${a}: ${skipped} entr${skipped === 1 ? 'y' : 'ies'} not read (not files named *.log, *.json, *.jsonl or *.gz: ${some}${skipped > 3 ? ', …' : ''}); name them to read them`);
    }
    if (files === 0) notice(`peregrine: hunt: ${a}: no audit log files in it`);
  }
  return out;
}

/** A lumberjack backup's rotation time (`audit-2006-01-02T15-04-05.000.log[.gz]`, UTC): after its last event. */
export function rotationTime(path: string): bigint | undefined {
  const m = /-(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})\.(\d{3})\.[a-z]+(\.gz)?$/.exec(basename(path));
  if (!m) return undefined;
  try {
    return parseEventTime(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`);
  } catch {
    return undefined;
  }
}

export interface TimeSpan {
  /** Earliest stageTimestamp of the first line, if readable. */
  first?: bigint;
  /** Latest stageTimestamp of the last line (or the rotation time), if known. */
  last?: bigint;
}

const PEEK = 1024 * 1024;

/** The stageTimestamps of one JSON line (an Event, an EventList or an array), if it parses. */
function lineTimes(line: string): bigint[] {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    return [];
  }
  const times: bigint[] = [];
  const visit = (d: unknown): void => {
    if (Array.isArray(d)) {
      for (const x of d) visit(x);
      return;
    }
    if (d === null || typeof d !== 'object') return;
    const o = d as Record<string, unknown>;
    if (o.kind === 'EventList' && Array.isArray(o.items)) {
      for (const x of o.items) visit(x);
      return;
    }
    if (typeof o.stageTimestamp === 'string') {
      try {
        times.push(parseEventTime(o.stageTimestamp));
      } catch (e) {
        if (!(e instanceof TimeParseError)) throw e;
      }
    }
  };
  visit(doc);
  return times;
}

const min = (ts: bigint[]): bigint | undefined => (ts.length === 0 ? undefined : ts.reduce((a, b) => (b < a ? b : a)));
const max = (ts: bigint[]): bigint | undefined => (ts.length === 0 ? undefined : ts.reduce((a, b) => (b > a ? b : a)));

function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  const n = readSync(fd, buf, 0, len, pos);
  return buf.subarray(0, n);
}

/** The first line of a .gz, decompressing no more than it needs. */
async function firstGzLine(path: string): Promise<string | undefined> {
  const { createGunzip } = await import('node:zlib');
  const src = createReadStream(path, { highWaterMark: 64 * 1024 });
  const gz = src.pipe(createGunzip());
  let acc = '';
  try {
    for await (const chunk of gz) {
      acc += (chunk as Buffer).toString('utf8');
      const nl = acc.indexOf('\n');
      if (nl >= 0) return acc.slice(0, nl);
      if (acc.length > PEEK) return undefined;
    }
    return acc === '' ? undefined : acc;
  } catch {
    return undefined;
  } finally {
    src.destroy();
    gz.destroy();
  }
}

/**
 * What the first and last lines (and a backup's name) say of a file's time span. Files
 * are written in time order; a file that is not JSON lines gives nothing, and is read.
 */
export async function timeSpan(input: HuntInput): Promise<TimeSpan> {
  if (input.path === '-') return {};
  const rotated = rotationTime(input.path);
  if (input.path.endsWith('.gz')) {
    const line = await firstGzLine(input.path);
    return { first: line === undefined ? undefined : min(lineTimes(line)), last: rotated };
  }
  if (input.size === 0) return {};
  let fd: number;
  try {
    fd = openSync(input.path, 'r');
  } catch {
    return {};
  }
  try {
    const head = readAt(fd, 0, Math.min(PEEK, input.size)).toString('utf8');
    const nl = head.indexOf('\n');
    const first = min(lineTimes(nl >= 0 ? head.slice(0, nl) : head));
    const from = Math.max(0, input.size - PEEK);
    let tail = readAt(fd, from, input.size - from).toString('utf8');
    tail = tail.replace(/\s+$/, '');
    const lastNl = tail.lastIndexOf('\n');
    // The last line must be whole: in the window read, after a newline (or the file's start).
    const lastLine = lastNl >= 0 ? tail.slice(lastNl + 1) : from === 0 ? tail : '';
    const lastT = max(lineTimes(lastLine));
    const last = lastT === undefined ? rotated : rotated === undefined || lastT < rotated ? lastT : rotated;
    return { first, last };
  } finally {
    closeSync(fd);
  }
}

/** Events out of order by this much within a file still do not make it skipped (or opened late) wrongly. */
export const SLACK_NS = 1_000_000_000n;

/** True when a file's span shows that none of its events falls in the window. */
export function outsideWindow(span: TimeSpan, w: TimeWindow): boolean {
  if (w.until !== undefined && span.first !== undefined && span.first >= w.until + SLACK_NS) return true;
  if (w.since !== undefined && span.last !== undefined && span.last + SLACK_NS < w.since) return true;
  return false;
}
