// The hunt's condition as a rule: `--where` becomes the condition of one synthetic rule
// appended to the loaded rules files, so their lists and macros resolve in it exactly as
// in a rule, and the rule's output carries the fields to print (Falco renders them in
// the alert's output_fields). Only that rule is evaluated.
import { ErrorCode, PeregrineError } from '../errors.js';
import { Ruleset, type RuleFile } from '../rules/ruleset.js';
import { withoutOptimizer } from '../rules/jit.js';

export const HUNT_RULE = 'peregrine hunt';
const WHERE_FILE = '--where';
/** Lines of the synthetic file before the condition's first line. */
const CONDITION_LINE = 4;
const INDENT = 4;

/**
 * What every match shows (table columns, `json` keys), before the user's `--fields`.
 * The source IP is read by pointer: the plugin's ka.sourceips reads requestObject.rules
 * (its extract.go), so it is empty for almost every event.
 */
export const BASE_FIELDS: readonly (readonly [key: string, field: string])[] = [
  ['user', 'ka.user.name'], ['verb', 'ka.verb'], ['resource', 'ka.target.resource'], ['subresource', 'ka.target.subresource'],
  ['namespace', 'ka.target.namespace'], ['name', 'ka.target.name'], ['uri', 'ka.uri'], ['code', 'ka.response.code'],
  ['source_ip', 'jevt.value[/sourceIPs/0]'], ['user_agent', 'ka.useragent'],
];
const BASE = BASE_FIELDS.map(([, f]) => f);

export interface HuntQuery {
  ruleset: Ruleset;
  /** Every field the output carries, in order (table fields, then the user's). */
  fields: string[];
}

/**
 * Falco's everyday macros (names and meanings of its k8s_audit rules), so conditions
 * read as they do there without loading Falco's file; any rules file may redefine them.
 */
const PRELUDE = `
- macro: kget
  condition: ka.verb=get
- macro: kcreate
  condition: ka.verb=create
- macro: kmodify
  condition: (ka.verb in (create,update,patch))
- macro: kdelete
  condition: ka.verb=delete
- macro: response_successful
  condition: (ka.response.code startswith 2)
- macro: pod
  condition: ka.target.resource=pods and not ka.target.subresource exists
- macro: pod_subresource
  condition: ka.target.resource=pods and ka.target.subresource exists
- macro: deployment
  condition: ka.target.resource=deployments
- macro: service
  condition: ka.target.resource=services
- macro: configmap
  condition: ka.target.resource=configmaps
- macro: namespace
  condition: ka.target.resource=namespaces
- macro: serviceaccount
  condition: ka.target.resource=serviceaccounts
- macro: clusterrole
  condition: ka.target.resource=clusterroles
- macro: clusterrolebinding
  condition: ka.target.resource=clusterrolebindings
- macro: role
  condition: ka.target.resource=roles
- macro: rolebinding
  condition: ka.target.resource=rolebindings
- macro: secret
  condition: ka.target.resource=secrets
`;

function huntRuleText(where: string, fields: string[]): string {
  const cond = where.split(/\r?\n/).map((l) => ' '.repeat(INDENT) + l).join('\n');
  return `- rule: ${HUNT_RULE}\n  desc: the condition of peregrine hunt\n  priority: DEBUG\n  condition: |-\n${cond}\n`
    + `  output: ${JSON.stringify(fields.map((f) => `%${f}`).join(' '))}\n  source: k8s_audit\n`;
}

/**
 * Compiles `where` against the lists and macros of `files`. A problem in the condition
 * is reported by its line and column within `--where`; one in a field name as `--fields`.
 */
export function compileHunt(files: RuleFile[], where: string, extraFields: string[]): HuntQuery {
  if (where.trim() === '') throw new PeregrineError(ErrorCode.USAGE, '--where: empty condition');
  const fields = [...BASE, ...extraFields.filter((f) => !BASE.includes(f))];
  const condLines = where.split(/\r?\n/).length;
  const text = huntRuleText(where, fields);
  try {
    const all = [{ name: 'peregrine hunt macros', text: PRELUDE }, ...files, { name: WHERE_FILE, text }];
    const ruleset = withoutOptimizer(() => Ruleset.compile(all, { only: HUNT_RULE, ruleMatching: 'first' }));
    if (ruleset.rules.length !== 1) throw new PeregrineError(ErrorCode.VALIDATE, `--where: the hunt rule did not load (a rules file redefines '${HUNT_RULE}'?)`);
    return { ruleset, fields };
  } catch (e) {
    if (!(e instanceof PeregrineError) || e.loc?.file !== WHERE_FILE) throw e;
    const line = e.loc.line - CONDITION_LINE;
    if (line >= 1 && line <= condLines) {
      const at = condLines > 1 ? `line ${line}, column ${Math.max(1, e.loc.col - INDENT)}` : `column ${Math.max(1, e.loc.col - INDENT)}`;
      throw new PeregrineError(e.code, `--where: ${at}: ${stripExcerpt(e.message)}`);
    }
    if (e.code === ErrorCode.COMPILE_OUTPUT) throw new PeregrineError(e.code, `--fields: ${e.message}`);
    throw new PeregrineError(e.code, `--where: ${stripExcerpt(e.message)}`);
  }
}

/** The compiler quotes the condition it failed on: the user has just typed it. */
function stripExcerpt(message: string): string {
  return message.replace(/ \(in condition: .*\)$/s, '').replace(/ \(rule 'peregrine hunt'\)$/, '');
}
