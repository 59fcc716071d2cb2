// `peregrine scan`: evaluate audit log files offline and print Falco alerts.
import { parseArgs } from 'node:util';
import { ErrorCode, PeregrineError, describeWarning } from '../errors.js';
import { readFramed } from '../ingest/file-input.js';
import { type Alert, type DocumentResult, Processor } from '../engine/processor.js';
import { describeIssue, evaluateChunk } from '../engine/frames.js';
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
  const pendingWrites: Promise<void>[] = [];
  const onAlert = (a: Alert): void => {
    const w = out.write(text ? a.text : a.json);
    if (w) pendingWrites.push(w);
  };
  for (const file of opts.files) {
    const label = file === '-' ? '<stdin>' : file;
    const report = (line: number, msg: string): void => {
      invalid++;
      process.stderr.write(`${label}:${line}: ${msg}\n`);
    };
    let events = 0;
    const onDocument = (line: number, res: DocumentResult): void => {
      events += res.events;
      for (const is of res.issues) report(line, describeIssue(is));
    };
    await readFramed(file, label, report, async (frames, progress) => {
      let i = 0;
      while (i < frames.count) {
        i = evaluateChunk(processor, frames, i, onAlert, onDocument);
        if (pendingWrites.length) {
          await Promise.all(pendingWrites);
          pendingWrites.length = 0;
        }
      }
      progress.events = events;
    });
  }
  await out.flush();
  return invalid > 0 ? 1 : 0;
}
