// `peregrine rules check FILE...` and `peregrine rules fields`.
import { parseArgs } from 'node:util';
import { ErrorCode, PeregrineError, describeWarning, formatLoc } from '../errors.js';
import { readRuleFiles } from '../config/rules-files.js';
import { Ruleset } from '../rules/ruleset.js';
import { withoutOptimizer } from '../rules/jit.js';
import { ALL_FIELDS } from '../fields/registry.js';

export const RULES_USAGE = `Usage:
  peregrine rules check [--strict] FILE|DIR...
      Loads the rules files in order as scan/serve would; prints warnings and
      errors (file:line:col). With --strict, constructs current Falco rejects
      (operators on list fields) are errors. Exit 2 on error.
  peregrine rules fields [--json]
      Lists every field conditions and outputs may use.`;

export function runRules(argv: string[]): number {
  const sub = argv[0];
  if (sub === 'check') return check(argv.slice(1));
  if (sub === 'fields') return fields(argv.slice(1));
  if (sub === undefined || sub === '-h' || sub === '--help') {
    process.stdout.write(RULES_USAGE + '\n');
    return sub === undefined ? 2 : 0;
  }
  throw new PeregrineError(ErrorCode.USAGE, `unknown rules command '${sub}' (expected check or fields)`);
}

function check(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { strict: { type: 'boolean' } } });
  if (positionals.length === 0) throw new PeregrineError(ErrorCode.USAGE, 'rules check needs at least one rules file');
  const files = readRuleFiles(positionals);
  const rs = withoutOptimizer(() => Ruleset.compile(files, { legacyListOperators: true }));
  for (const w of rs.warnings) process.stderr.write(describeWarning(w) + '\n');
  if (values.strict && rs.legacy.length > 0) {
    for (const w of rs.legacy) process.stderr.write(`${w.loc ? formatLoc(w.loc) + ': ' : ''}error ${w.code}: ${w.message}\n`);
    process.stdout.write(`${files.map((f) => f.name).join(', ')}: invalid under --strict (${rs.legacy.length} legacy list operator uses)\n`);
    return 2;
  }
  const disabled = rs.allRules.length - rs.rules.length;
  process.stdout.write(`${files.map((f) => f.name).join(', ')}: Ok, ${rs.allRules.length} k8s_audit rules (${disabled} disabled), ${rs.warnings.length} warnings\n`);
  return 0;
}

function fields(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } } });
  if (values.json) {
    process.stdout.write(JSON.stringify(ALL_FIELDS.map((f) => ({
      name: f.name, type: f.type, list: f.list,
      arg: f.arg.required ? 'required key' : f.arg.index ? 'optional index' : 'none', desc: f.desc,
    })), null, 2) + '\n');
    return 0;
  }
  for (const f of ALL_FIELDS) {
    const arg = f.arg.required ? '[KEY]' : f.arg.index ? '[INDEX]' : '';
    const type = f.list ? `${f.type} list` : f.type;
    process.stdout.write(`${(f.name + arg).padEnd(48)} ${type.padEnd(12)} ${f.desc}\n`);
  }
  return 0;
}
