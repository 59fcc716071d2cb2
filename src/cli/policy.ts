// `peregrine policy check|generate|cost`: the audit Policy advisor.
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCode, PeregrineError, describeWarning } from '../errors.js';
import { defaultRulePaths, readRuleFiles } from '../config/rules-files.js';
import { Ruleset } from '../rules/ruleset.js';
import { withoutOptimizer } from '../rules/jit.js';
import { JsonInputError } from '../engine/backend.js';
import { chooseBackend } from '../engine/select-backend.js';
import { readFramed } from '../ingest/file-input.js';
import { readPolicyFile } from '../policy/parse.js';
import { RulesetModel, checkPolicy, describeDetail, type RuleReport } from '../policy/check.js';
import { generatePolicy } from '../policy/generate.js';
import { type PolicyCost, Releveller, type SampleCost, type Tally } from '../policy/cost.js';
import { LEVELS, type Policy } from '../policy/model.js';

export const POLICY_USAGE = `Usage:
  peregrine policy check --policy FILE [--rules F]... [--rule-matching first|all] [--format text|json]
      For every loaded rule (default: the bundled rules), whether the audit Policy
      feeds it: fed, partly fed (some of its requests, verbs or stages lose what it
      reads, only its output does, or an earlier rule starved there changes what it
      gets under rule_matching first, the default) or starved, with the policy rule
      (FILE:line) responsible and why. Exit 0 when every rule is fed, 1 when some
      rule is not, 2 for a bad policy or rules file.
  peregrine policy generate [--rules F]... [--output FILE]
      The smallest audit.k8s.io/v1 Policy that feeds every loaded rule, commented.
  peregrine policy cost --policy FILE [--write OUT] [--policy FILE [--write OUT]]... [--format text|json] [--top N] AUDIT_LOG...
      Replays audit logs recorded at a high level as kube-apiserver would have written
      them under each policy; reports events and bytes per level and per resource, and
      the ratio to the sample. --write FILE, after a --policy, writes the log as
      re-levelled under that policy (kept bytes as they were; .gz compresses), for
      'peregrine scan'.
      AUDIT_LOG is read as scan reads it (JSON lines, documents, .gz, - for stdin).`;

function loadRules(paths: string[] | undefined): { ruleset: Ruleset; sources: string[] } {
  const sources = paths && paths.length > 0 ? paths : defaultRulePaths();
  const ruleset = withoutOptimizer(() => Ruleset.compile(readRuleFiles(sources)));
  return { ruleset, sources: paths && paths.length > 0 ? paths : ['the bundled rules'] };
}

export async function runPolicy(argv: string[]): Promise<number> {
  const sub = argv[0];
  switch (sub) {
    case 'check': return check(argv.slice(1));
    case 'generate': return generate(argv.slice(1));
    case 'cost': return cost(argv.slice(1));
    case undefined: case '-h': case '--help':
      process.stdout.write(POLICY_USAGE + '\n');
      return sub === undefined ? 2 : 0;
    default:
      throw new PeregrineError(ErrorCode.USAGE, `unknown policy command '${sub}' (expected check, generate or cost)`);
  }
}

function format(v: string | undefined): 'text' | 'json' {
  const f = v ?? 'text';
  if (f !== 'text' && f !== 'json') throw new PeregrineError(ErrorCode.USAGE, `--format must be 'text' or 'json', not '${f}'`);
  return f;
}

const STATUS_TEXT = { fed: 'fed', partly_fed: 'partly fed', starved: 'starved' } as const;

async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      policy: { type: 'string' }, rules: { type: 'string', short: 'r', multiple: true }, format: { type: 'string' },
      'rule-matching': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(POLICY_USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new PeregrineError(ErrorCode.USAGE, `unexpected argument '${positionals[0]}'`);
  if (values.policy === undefined) throw new PeregrineError(ErrorCode.USAGE, 'policy check needs --policy FILE');
  const ruleMatching = values['rule-matching'] ?? 'first';
  if (ruleMatching !== 'first' && ruleMatching !== 'all') throw new PeregrineError(ErrorCode.USAGE, `--rule-matching must be 'first' or 'all', not '${ruleMatching}'`);
  const fmt = format(values.format);
  const policy = await readPolicyFile(values.policy);
  const { ruleset, sources } = loadRules(values.rules);
  const reports = withoutOptimizer(() => checkPolicy(new RulesetModel(ruleset), policy, { ruleMatching }));
  const notFed = reports.filter((r) => r.status !== 'fed');
  if (fmt === 'json') {
    process.stdout.write(JSON.stringify({
      policy: values.policy,
      rules: reports.map((r) => ({ rule: r.rule, status: r.status, by: r.by, reason: r.reason, details: r.details.map((d) => ({ ...d, text: describeDetail(d) })) })),
    }, null, 2) + '\n');
  } else {
    const count = (s: RuleReport['status']): number => reports.filter((r) => r.status === s).length;
    process.stdout.write(`${values.policy} against ${reports.length} rules from ${sources.join(', ')}: `
      + `${count('fed')} fed, ${count('partly_fed')} partly fed, ${count('starved')} starved\n`);
    for (const r of notFed) {
      process.stdout.write(`\n${STATUS_TEXT[r.status].padEnd(11)} ${r.rule}  (by ${r.by})\n`);
      if (r.status === 'partly_fed' && r.details.every((d) => d.effect === 'output')) process.stdout.write(`${' '.repeat(12)}only its output:\n`);
      for (const d of r.details) process.stdout.write(`${' '.repeat(12)}- ${describeDetail(d)}\n`);
    }
  }
  return notFed.length > 0 ? 1 : 0;
}

async function generate(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { rules: { type: 'string', short: 'r', multiple: true }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(POLICY_USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new PeregrineError(ErrorCode.USAGE, `unexpected argument '${positionals[0]}'`);
  const { ruleset, sources } = loadRules(values.rules);
  for (const w of ruleset.legacy) process.stderr.write(describeWarning(w) + '\n');
  const { text } = withoutOptimizer(() => generatePolicy(ruleset, sources));
  if (values.output === undefined || values.output === '-') {
    process.stdout.write(text);
  } else {
    writeFile(values.output, Buffer.from(text));
  }
  return 0;
}

function writeFile(file: string, data: Buffer): void {
  let fd: number;
  try {
    fd = openSync(file, 'w');
  } catch (e) {
    throw new PeregrineError(ErrorCode.IO, `cannot write '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** A file the re-levelled log goes to, written in 1 MiB blocks (gzip members for .gz). */
class Sink {
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  private readonly fd: number;
  private readonly gz: typeof import('node:zlib') | undefined;

  constructor(readonly file: string, zlib: typeof import('node:zlib') | undefined) {
    try {
      this.fd = openSync(file, 'w');
    } catch (e) {
      throw new PeregrineError(ErrorCode.IO, `cannot write '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.gz = file.endsWith('.gz') ? zlib : undefined;
  }

  write(parts: Buffer[]): void {
    for (const p of parts) {
      if (p.length > this.buf.length - this.used) {
        this.flush();
        if (p.length > this.buf.length) {
          this.out(p);
          continue;
        }
      }
      p.copy(this.buf, this.used);
      this.used += p.length;
    }
  }

  private out(b: Buffer): void {
    writeSync(this.fd, this.gz ? this.gz.gzipSync(b) : b);
  }

  flush(): void {
    if (this.used > 0) this.out(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

const NL = Buffer.from('\n');

/** A --write that is an input (or another --write) would be truncated before it is read. */
function refuseOverwrites(writes: Array<string | undefined>, inputs: string[]): void {
  const same = (a: string, b: string): boolean => {
    if (resolve(a) === resolve(b)) return true;
    try {
      const sa = statSync(a);
      const sb = statSync(b);
      return sa.dev === sb.dev && sa.ino === sb.ino;
    } catch {
      return false;
    }
  };
  const seen: string[] = [];
  for (const w of writes) {
    if (w === undefined) continue;
    const input = inputs.find((f) => f !== '-' && same(w, f));
    if (input !== undefined) throw new PeregrineError(ErrorCode.USAGE, `--write ${w} is the input ${input}: it would be emptied before it is read`);
    if (seen.some((o) => same(o, w))) throw new PeregrineError(ErrorCode.USAGE, `--write ${w} is given twice`);
    seen.push(w);
  }
}

async function cost(argv: string[]): Promise<number> {
  const { values, positionals, tokens } = parseArgs({
    args: argv, allowPositionals: true, tokens: true,
    options: {
      policy: { type: 'string', multiple: true }, write: { type: 'string', multiple: true }, format: { type: 'string' },
      top: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(POLICY_USAGE + '\n');
    return 0;
  }
  const files = values.policy ?? [];
  if (files.length === 0) throw new PeregrineError(ErrorCode.USAGE, 'policy cost needs at least one --policy FILE');
  if (positionals.length === 0) throw new PeregrineError(ErrorCode.USAGE, 'policy cost needs audit log files (- for stdin)');
  // Each --write goes with the --policy before it.
  const writes: Array<string | undefined> = files.map(() => undefined);
  let current = -1;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (t.name === 'policy') current++;
    if (t.name !== 'write') continue;
    if (current < 0) throw new PeregrineError(ErrorCode.USAGE, '--write FILE goes after the --policy whose log it writes');
    if (writes[current] !== undefined) throw new PeregrineError(ErrorCode.USAGE, `two --write for --policy ${files[current]}`);
    writes[current] = t.value;
  }
  refuseOverwrites(writes, positionals);
  const fmt = format(values.format);
  const top = values.top === undefined ? 15 : /^\d+$/.test(values.top) ? Number(values.top) : NaN;
  if (!Number.isInteger(top) || top < 0) throw new PeregrineError(ErrorCode.USAGE, `--top: expected a whole number of resources, got '${values.top}'`);
  const policies: Policy[] = [];
  for (const f of files) policies.push(await readPolicyFile(f));
  const zlib = writes.some((w) => w?.endsWith('.gz')) ? await import('node:zlib') : undefined;
  const sinks = writes.map((w) => (w === undefined ? undefined : new Sink(w, zlib)));
  const relevel = new Releveller(policies, chooseBackend().backend);
  let invalid = 0;
  try {
    for (const file of positionals) {
      const label = file === '-' ? '<stdin>' : file;
      const report = (line: number, msg: string): void => {
        invalid++;
        process.stderr.write(`${label}:${line}: ${msg}\n`);
      };
      const emit = (i: number, parts: Buffer[]): void => {
        const s = sinks[i];
        if (s) {
          s.write(parts);
          s.write([NL]);
        }
      };
      await readFramed(file, label, report, (frames, progress) => {
        for (let k = 0; k < frames.count; k++) {
          try {
            if (!relevel.document(frames.bufs[k], frames.ranges[2 * k], frames.ranges[2 * k + 1], emit)) {
              report(frames.lines[k], 'data not recognized as a k8s audit event');
            }
          } catch (e) {
            if (!(e instanceof JsonInputError)) throw e;
            report(frames.lines[k], e.message);
          }
        }
        progress.events = relevel.sample.events.events;
      });
    }
  } finally {
    for (const s of sinks) s?.close();
  }
  const out = fmt === 'json' ? costJson(relevel.sample, relevel.costs, files) : costText(relevel.sample, relevel.costs, files, top);
  process.stdout.write(out);
  return invalid > 0 ? 1 : 0;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

function costJson(s: SampleCost, costs: PolicyCost[], files: string[]): string {
  const obj = (m: Map<string, Tally>): Record<string, Tally> => Object.fromEntries([...m.entries()].sort((a, b) => b[1].bytes - a[1].bytes));
  return JSON.stringify({
    sample: { documents: s.documents, events: s.events.events, eventBytes: s.events.bytes, bytes: s.fileBytes, byLevel: obj(s.byLevel), byResource: obj(s.byResource) },
    policies: costs.map((c, i) => ({
      policy: files[i], events: c.kept.events, eventBytes: c.kept.bytes, bytes: c.fileBytes,
      ratio: { events: ratio(c.kept.events, s.events.events), bytes: ratio(c.fileBytes, s.fileBytes) },
      byLevel: obj(c.byLevel as Map<string, Tally>), byResource: obj(c.byResource),
      omittedStage: c.omittedStage, underRecorded: c.underRecorded,
    })),
  }, null, 2) + '\n';
}

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

const pct = (a: number, b: number): string => {
  if (b === 0) return '';
  const r = (100 * a) / b;
  return r === 0 || r >= 10 ? `${r.toFixed(0)} %` : r >= 1 ? `${r.toFixed(1)} %` : `${r.toFixed(2)} %`;
};
const num = (n: number): string => n.toLocaleString('en-US');

function costText(s: SampleCost, costs: PolicyCost[], files: string[], top: number): string {
  const cols = ['sample', ...files];
  const rows: string[][] = [];
  const cell = (t: Tally, base?: Tally): string => (base ? `${num(t.events)} ev ${humanBytes(t.bytes)} (${pct(t.bytes, base.bytes) || '-'})` : `${num(t.events)} ev ${humanBytes(t.bytes)}`);
  rows.push(['total (file bytes)', `${num(s.events.events)} ev ${humanBytes(s.fileBytes)}`,
    ...costs.map((c) => `${num(c.kept.events)} ev (${pct(c.kept.events, s.events.events) || '-'}) ${humanBytes(c.fileBytes)} (${pct(c.fileBytes, s.fileBytes) || '-'})`)]);
  rows.push(['']);
  rows.push(['by level']);
  for (const l of LEVELS) {
    const sample = s.byLevel.get(l) ?? { events: 0, bytes: 0 };
    rows.push([`  ${l}`, l === 'None' ? '' : cell(sample), ...costs.map((c) => {
      const t = c.byLevel.get(l)!;
      return l === 'None' ? (t.events ? `${num(t.events)} ev dropped` : '') : t.events ? cell(t) : '';
    })]);
  }
  const res = [...s.byResource.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
  rows.push(['']);
  rows.push([`by resource (largest ${Math.min(top, res.length)} of ${res.length} in the sample)`]);
  for (const [name, t] of res.slice(0, top)) {
    rows.push([`  ${name}`, cell(t), ...costs.map((c) => {
      const k = c.byResource.get(name);
      return k ? cell(k, t) : 'none';
    })]);
  }
  const widths = cols.map((_, i) => Math.max(...rows.map((r) => (r[i + 1] ?? '').length), cols[i].length));
  const first = Math.max(...rows.filter((r) => r.length > 1).map((r) => r[0].length), 10);
  const lines: string[] = [];
  lines.push(`${''.padEnd(first)}  ${cols.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd());
  for (const r of rows) {
    if (r.length === 1) {
      lines.push(r[0]);
      continue;
    }
    lines.push(`${r[0].padEnd(first)}  ${r.slice(1).map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd());
  }
  const notes: string[] = [];
  costs.forEach((c, i) => {
    if (c.omittedStage) notes.push(`${files[i]}: ${num(c.omittedStage)} events of omitted stages dropped.`);
    if (c.underRecorded) notes.push(`${files[i]}: ${num(c.underRecorded)} events are logged at a higher level than the sample holds them; their bodies are missing here, so the figures are a lower bound.`);
  });
  return lines.join('\n') + '\n' + (notes.length ? '\n' + notes.join('\n') + '\n' : '');
}
