// `peregrine hunt`: every event of the audit logs that satisfies a Falco condition, in
// stageTimestamp order across all the inputs, as a table, JSON or the raw events; or
// counts per field values.
import { parseArgs } from 'node:util';
import { ErrorCode, PeregrineError, describeWarning } from '../errors.js';
import { Processor } from '../engine/processor.js';
import { chooseBackend } from '../engine/select-backend.js';
import { forBatch } from '../rules/jit.js';
import { defaultRulePaths, readRuleFiles } from '../config/rules-files.js';
import { HOSTNAME } from '../fields/event.js';
import { isoTime } from '../events/time.js';
import { Progress } from '../ingest/file-input.js';
import { LineWriter } from './output-writer.js';
import { BASE_FIELDS, compileHunt } from '../hunt/query.js';
import { nowNs, parseTimeArg, type TimeWindow } from '../hunt/window.js';
import { expandInputs, outsideWindow, timeSpan, type HuntInput } from '../hunt/inputs.js';
import { inputMatches, mergeByTime, type HuntMatch, type StreamContext } from '../hunt/matches.js';

export const HUNT_USAGE = `Usage: peregrine hunt --where CONDITION [options] FILE|DIR...

Prints the audit events that satisfy a Falco condition (k8saudit fields, and the
lists and macros of the rules files), in stageTimestamp order across all inputs.
FILE is JSON lines, a JSON document, a .gz of either, or - for stdin; DIR is read
for its *.log, *.json, *.jsonl and .gz files (the apiserver's audit.log and its
rotated audit-<time>.log[.gz] backups).

Options:
  -w, --where COND          the condition, e.g. "ka.user.name = alice and kcreate"
  -r, --rules FILE|DIR      rules files whose lists and macros COND may use
                            (repeatable; default: the bundled rules)
      --since TIME          from TIME on: RFC 3339 (2026-12-07T10:00:00Z) or a
                            duration back from now (30m, 2h, 7d, 1h30m)
      --until TIME          before TIME (same forms)
      --fields F1,F2        more fields to print (e.g. ka.req.pod.containers.image)
      --format FMT          table (default on a terminal), json (one object per
                            event) or raw (the events' JSON as written)
      --count-by F1,F2      count events per combination of these fields' values
  -h, --help                this help

Exit status: 0 something matched, 1 nothing matched, 2 usage, rules or read errors.`;

export interface HuntOptions {
  where: string;
  rules: string[];
  window: TimeWindow;
  fields: string[];
  format: 'table' | 'json' | 'raw';
  countBy: string[];
  files: string[];
}

/** Comma-separated field names (a field may take an [argument]); anything else is refused with its flag. */
function fieldList(v: string | undefined, flag: string): string[] {
  const list = v === undefined ? [] : v.split(',').map((f) => f.trim()).filter((f) => f !== '');
  for (const f of list) {
    if (!/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+(\[[^\]\s,]+\])?$/.test(f)) throw new PeregrineError(ErrorCode.USAGE, `${flag}: '${f}' is not a field name (ka.verb, ka.req.pod.containers.image, jevt.value[/path]; commas between them)`);
  }
  return list;
}

export function parseHuntArgs(argv: string[], isTTY = process.stdout.isTTY === true): HuntOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      where: { type: 'string', short: 'w' },
      rules: { type: 'string', short: 'r', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      fields: { type: 'string' },
      format: { type: 'string' },
      'count-by': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (values.where === undefined) throw new PeregrineError(ErrorCode.USAGE, '--where CONDITION is required (e.g. --where "ka.user.name = alice")');
  if (positionals.length === 0) throw new PeregrineError(ErrorCode.USAGE, 'no input files (use - for stdin)');
  const now = nowNs();
  const window: TimeWindow = {};
  if (values.since !== undefined) window.since = parseTimeArg(values.since, '--since', now);
  if (values.until !== undefined) window.until = parseTimeArg(values.until, '--until', now);
  if (window.since !== undefined && window.until !== undefined && window.since >= window.until) {
    throw new PeregrineError(ErrorCode.USAGE, '--since must be before --until');
  }
  const format = values.format ?? (isTTY ? 'table' : 'json');
  if (format !== 'table' && format !== 'json' && format !== 'raw') throw new PeregrineError(ErrorCode.USAGE, `--format must be table, json or raw, not '${format}'`);
  const countBy = fieldList(values['count-by'], '--count-by');
  if (values['count-by'] !== undefined && countBy.length === 0) throw new PeregrineError(ErrorCode.USAGE, '--count-by needs at least one field');
  if (countBy.length > 0 && format === 'raw') throw new PeregrineError(ErrorCode.USAGE, '--count-by prints counts: use --format table or json');
  return { where: values.where, rules: values.rules ?? [], window, fields: fieldList(values.fields, '--fields'), format, countBy, files: positionals };
}

type Fields = Record<string, unknown>;

function fieldsOf(m: HuntMatch): Fields {
  return (JSON.parse(m.json) as { output_fields: Fields }).output_fields;
}

function show(v: unknown): string {
  if (v === null || v === undefined) return '<NA>';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** `resource[/sub] namespace/name`, or the URI of a non-resource request. */
function target(f: Fields): string {
  const res = show(f['ka.target.resource']);
  if (res === '<NA>') return show(f['ka.uri']);
  const sub = show(f['ka.target.subresource']);
  const ns = show(f['ka.target.namespace']);
  const name = show(f['ka.target.name']);
  const obj = [ns !== '<NA>' ? ns : '', name !== '<NA>' ? name : ''].filter((x) => x !== '').join('/');
  return `${res}${sub !== '<NA>' ? `/${sub}` : ''}${obj ? ` ${obj}` : ''}`;
}

function cut(s: string, w: number): string {
  return s.length <= w ? s.padEnd(w) : s.slice(0, w - 1) + '…';
}

const TABLE_COLS: [string, number][] = [['TIME', 30], ['USER', 40], ['VERB', 8], ['TARGET', 44], ['CODE', 4], ['SOURCE IP', 15], ['USER AGENT', 40]];

export async function runHunt(opts: HuntOptions): Promise<number> {
  forBatch();
  const files = readRuleFiles(opts.rules.length > 0 ? opts.rules : defaultRulePaths());
  const extra = [...opts.fields, ...opts.countBy];
  const query = compileHunt(files, opts.where, extra);
  for (const w of query.ruleset.legacy) process.stderr.write(describeWarning(w) + '\n');
  const inputs = expandInputs(opts.files, (msg) => process.stderr.write(`${msg}\n`));
  let errors = 0;
  const report = (msg: string, error: boolean): void => {
    process.stderr.write(`${msg}\n`);
    if (error) errors++;
  };
  // Files whose first and last events (or backup name) lie outside the window are not
  // read; the others are opened when the merge reaches their first event.
  const chosen: HuntInput[] = [];
  const starts: (bigint | undefined)[] = [];
  for (const input of inputs) {
    const span = await timeSpan(input);
    if (outsideWindow(span, opts.window)) continue;
    chosen.push(input);
    starts.push(span.first);
  }
  const processor = new Processor(query.ruleset, { format: { hostname: HOSTNAME, timeIso8601: false }, backend: chooseBackend().backend, rawEvents: opts.format === 'raw' });
  const progress = new Progress(chosen.reduce((n, i) => n + i.size, 0), 'hunt');
  const ctx: StreamContext = { processor, window: opts.window, progress, report };
  const out = new LineWriter(process.stdout);
  let matched = 0;

  if (opts.countBy.length > 0) {
    const counts = new Map<string, { values: string[]; count: number }>();
    for (let i = 0; i < chosen.length; i++) {
      for await (const m of inputMatches(chosen[i], i, ctx)) {
        const f = fieldsOf(m);
        const values = opts.countBy.map((k) => show(f[k]));
        const key = JSON.stringify(values);
        const c = counts.get(key);
        if (c) c.count++;
        else counts.set(key, { values, count: 1 });
        matched++;
      }
    }
    progress.done();
    const rows = [...counts.values()].sort((a, b) => b.count - a.count || (a.values.join('\0') < b.values.join('\0') ? -1 : 1));
    if (opts.format === 'json') {
      for (const r of rows) await out.write(JSON.stringify({ ...Object.fromEntries(opts.countBy.map((k, j) => [k, r.values[j]])), count: r.count }));
    } else {
      await out.write(['COUNT', ...opts.countBy.map((k) => k.toUpperCase())].join('\t'));
      for (const r of rows) await out.write([String(r.count), ...r.values].join('\t'));
    }
  } else {
    const streams = chosen.map((input, i) => ({ start: starts[i], open: () => inputMatches(input, i, ctx) }));
    if (opts.format === 'table') {
      await out.write([...TABLE_COLS.map(([h, w]) => cut(h, w)), ...opts.fields.map((f) => f.toUpperCase())].join(' ').trimEnd());
    }
    let lastTs = -1n;
    let disorderWarned = false;
    for await (const m of mergeByTime(streams)) {
      matched++;
      if (m.ts < lastTs && !disorderWarned) {
        disorderWarned = true;
        process.stderr.write(`peregrine: hunt: ${chosen[m.input].label} is not in time order: the output is in time order only as far as each input is\n`);
      }
      lastTs = m.ts;
      let line: string;
      if (opts.format === 'raw') {
        line = m.raw!;
      } else if (opts.format === 'json') {
        const f = fieldsOf(m);
        const o: Fields = { time: isoTime(m.ts) };
        for (const [key, field] of BASE_FIELDS) o[key] = f[field] ?? null;
        for (const k of opts.fields) o[k] = f[k] ?? null;
        line = JSON.stringify(o);
      } else {
        const f = fieldsOf(m);
        const cells = [isoTime(m.ts), show(f['ka.user.name']), show(f['ka.verb']), target(f), show(f['ka.response.code']), show(f['jevt.value[/sourceIPs/0]']), show(f['ka.useragent'])];
        // The last column is not cut.
        const last = opts.fields.length === 0 ? cells.length - 1 : cells.length;
        line = [...cells.map((c, i) => (i === last ? c : cut(c, TABLE_COLS[i][1]))), ...opts.fields.map((k) => show(f[k]))].join(' ').trimEnd();
      }
      const w = out.write(line);
      if (w) await w;
    }
    progress.done();
  }
  await out.flush();
  if (errors > 0) return 2;
  return matched > 0 ? 0 : 1;
}
