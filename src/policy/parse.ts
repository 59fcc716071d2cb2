// Reading an audit Policy file as kube-apiserver would (pkg/audit/policy/reader.go and
// pkg/apis/audit/validation), with every node's position, so that each problem and
// each rule can be named as FILE:line. Unknown fields, which the apiserver ignores after
// a strict-decoding warning, are errors here: they are nearly always typos that widen a
// rule (`verb:` for `verbs:`).
import { ErrorCode, PeregrineError } from '../errors.js';
import { type Loc, type YNode, YamlDoc, YamlError, locOf, parseYaml } from '../rules/yaml-source.js';
import {
  type GroupResources, type Policy, type PolicyRule, type Stage, LEVELS, STAGES, emptyRule, isLevel, isStage,
} from './model.js';

const TOP_KEYS = ['apiVersion', 'kind', 'metadata', 'rules', 'omitStages', 'omitManagedFields'];
export const RULE_KEYS = ['level', 'users', 'userGroups', 'verbs', 'namespaces', 'resources', 'nonResourceURLs', 'omitStages', 'omitManagedFields'];
const GROUP_RESOURCES_KEYS = ['group', 'resources', 'resourceNames'];
export const API_VERSION = 'audit.k8s.io/v1';

function fail(message: string, at: YNode | Loc): never {
  throw new PeregrineError(ErrorCode.POLICY, message, 'file' in at ? at : locOf(at));
}

const KIND_NAMES = { scalar: 'a scalar', mapping: 'a mapping', sequence: 'a list' } as const;

/** A plain (unquoted) scalar: only those can be YAML booleans or null. */
function plain(n: YNode): boolean {
  const c = n.doc.text[n.start];
  return c !== '"' && c !== "'";
}

/** A string field: any scalar, as sigs.k8s.io/yaml keeps a scalar's text for a string target. */
function stringOf(n: YNode, what: string): string {
  if (n.kind !== 'scalar') fail(`${what} must be a string, not ${KIND_NAMES[n.kind]}`, n);
  return n.value ?? '';
}

/** A list of strings; null (`key:` or `~`) is an empty list. */
function stringList(n: YNode, what: string): string[] {
  if (n.kind === 'scalar' && n.value === null && plain(n)) return [];
  if (n.kind !== 'sequence') fail(`${what} must be a list of strings, not ${KIND_NAMES[n.kind]}`, n);
  return n.items.map((it, i) => {
    if (it.kind !== 'scalar' || (it.value === null && plain(it))) fail(`${what}[${i}] must be a string`, it);
    return it.value ?? '';
  });
}

// YAML 1.1 booleans, as go-yaml v2 (under sigs.k8s.io/yaml) resolves them.
const TRUE = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'true', 'True', 'TRUE']);
const FALSE = new Set(['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF', 'false', 'False', 'FALSE']);

function boolOf(n: YNode, what: string): boolean | undefined {
  if (n.kind === 'scalar' && plain(n)) {
    if (n.value === null) return undefined;
    if (TRUE.has(n.value)) return true;
    if (FALSE.has(n.value)) return false;
  }
  fail(`${what} must be true or false`, n);
}

function mappingPairs(n: YNode, what: string, keys: readonly string[]): Map<string, [YNode, YNode]> {
  if (n.kind !== 'mapping') fail(`${what} must be a mapping, not ${KIND_NAMES[n.kind]}`, n);
  const out = new Map<string, [YNode, YNode]>();
  for (const [k, v] of n.pairs) {
    const key = k.value ?? '';
    if (!keys.includes(key)) {
      fail(`unknown field '${key}' in ${what} (kube-apiserver would ignore it with a warning; expected one of ${keys.join(', ')})`, k);
    }
    if (out.has(key)) fail(`duplicate field '${key}' in ${what}`, k);
    out.set(key, [k, v]);
  }
  return out;
}

function stagesOf(n: YNode, what: string): Stage[] {
  const list = stringList(n, what);
  return list.map((s, i) => {
    if (!isStage(s)) fail(`${what}[${i}]: '${s}' is not a stage (allowed stages are ${STAGES.join(',')})`, n.items[i]);
    return s;
  });
}

// validation.NameIsDNSSubdomain: lower-case RFC 1123 labels separated by dots, at most 253.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function groupResources(n: YNode, what: string): GroupResources {
  const m = mappingPairs(n, what, GROUP_RESOURCES_KEYS);
  const group = m.has('group') ? stringOf(m.get('group')![1], `${what}.group`) : '';
  if (group !== '' && group !== '*' && (group.length > 253 || !DNS_SUBDOMAIN.test(group))) {
    fail(`${what}.group: '${group}' is not a valid API group (a lower-case DNS subdomain such as rbac.authorization.k8s.io, "" for the core group, or "*")`, m.get('group')![1]);
  }
  const resources = m.has('resources') ? stringList(m.get('resources')![1], `${what}.resources`) : [];
  const resourceNames = m.has('resourceNames') ? stringList(m.get('resourceNames')![1], `${what}.resourceNames`) : [];
  if (resourceNames.length > 0 && resources.length === 0) fail(`${what}.resourceNames: using resourceNames requires at least one resource`, m.get('resourceNames')![1]);
  return { group, resources, resourceNames };
}

function policyRule(n: YNode, i: number): PolicyRule {
  const what = `rules[${i}]`;
  const m = mappingPairs(n, what, RULE_KEYS);
  const lv = m.get('level');
  if (lv === undefined || (lv[1].kind === 'scalar' && lv[1].value === null && plain(lv[1]))) fail(`${what}.level is required (${LEVELS.join(', ')})`, lv?.[1] ?? n);
  const level = stringOf(lv[1], `${what}.level`);
  if (!isLevel(level)) fail(`${what}.level: '${level}' is not a level (${LEVELS.join(', ')})`, lv[1]);
  const r = emptyRule(level);
  r.loc = locOf(n);
  const list = (k: 'users' | 'userGroups' | 'verbs' | 'namespaces' | 'nonResourceURLs'): void => {
    const v = m.get(k);
    if (v) r[k] = stringList(v[1], `${what}.${k}`);
  };
  list('users');
  list('userGroups');
  list('verbs');
  list('namespaces');
  list('nonResourceURLs');
  const res = m.get('resources');
  if (res) {
    const node = res[1];
    if (!(node.kind === 'scalar' && node.value === null && plain(node))) {
      if (node.kind !== 'sequence') fail(`${what}.resources must be a list of {group, resources, resourceNames}`, node);
      r.resources = node.items.map((it, j) => groupResources(it, `${what}.resources[${j}]`));
    }
  }
  const om = m.get('omitStages');
  if (om) r.omitStages = stagesOf(om[1], `${what}.omitStages`);
  const mf = m.get('omitManagedFields');
  if (mf) {
    const b = boolOf(mf[1], `${what}.omitManagedFields`);
    if (b !== undefined) r.omitManagedFields = b;
  }
  r.nonResourceURLs.forEach((url, j) => {
    const at = m.get('nonResourceURLs')![1].items[j] ?? n;
    if (url === '*') return;
    if (!url.startsWith('/')) fail(`${what}.nonResourceURLs[${j}]: '${url}': non-resource URL rules must begin with a '/' character`, at);
    if (url.slice(0, -1).includes('*')) fail(`${what}.nonResourceURLs[${j}]: '${url}': non-resource URL wildcards '*' must be the final character of the rule`, at);
  });
  if (r.nonResourceURLs.length > 0 && (r.resources.length > 0 || r.namespaces.length > 0)) {
    fail(`${what}: rules cannot apply to both regular resources and non-resource URLs`, m.get('nonResourceURLs')![0]);
  }
  return r;
}

/** Parses and validates a Policy; throws PeregrineError (ERR_POLICY) with file:line:col. */
export function parsePolicy(file: string, text: string): Policy {
  let docs: YNode[];
  try {
    docs = parseYaml(file, text);
  } catch (e) {
    if (e instanceof YamlError) throw new PeregrineError(ErrorCode.POLICY, `invalid YAML: ${e.message}`, e.loc);
    throw e;
  }
  const nonEmpty = docs.filter((d) => !(d.kind === 'scalar' && d.value === null));
  if (nonEmpty.length === 0) fail('empty policy file (kube-apiserver needs a Policy with at least one rule)', { file, line: 1, col: 1 });
  if (nonEmpty.length > 1) {
    const sep = /^---/m.exec(text.slice(Math.max(0, text.search(/\S/))+1));
    const at = sep ? new YamlDoc(file, text).loc(Math.max(0, text.search(/\S/)) + 1 + sep.index) : locOf(nonEmpty[1]);
    fail('more than one YAML document: kube-apiserver reads only the first; keep one Policy per file', at);
  }
  const root = nonEmpty[0];
  const m = mappingPairs(root, 'the Policy', TOP_KEYS);
  const av = m.get('apiVersion');
  const kind = m.get('kind');
  if (av === undefined) fail(`apiVersion is required (${API_VERSION})`, root);
  if (kind === undefined) fail('kind is required (Policy)', root);
  const apiVersion = stringOf(av[1], 'apiVersion');
  if (apiVersion !== API_VERSION) {
    fail(`unknown apiVersion '${apiVersion}' (kube-apiserver reads only ${API_VERSION}${apiVersion.startsWith('audit.k8s.io/') ? '; v1alpha1 and v1beta1 policies were removed in Kubernetes 1.24: change the apiVersion, the fields are the same' : ''})`, av[1]);
  }
  if (stringOf(kind[1], 'kind') !== 'Policy') fail(`kind must be Policy, not '${kind[1].value}'`, kind[1]);
  const policy: Policy = { rules: [], omitStages: [], omitManagedFields: false, file };
  const om = m.get('omitStages');
  if (om) {
    policy.omitStages = stagesOf(om[1], 'omitStages');
    policy.omitStagesLoc = locOf(om[0]);
  }
  const mf = m.get('omitManagedFields');
  if (mf) {
    policy.omitManagedFields = boolOf(mf[1], 'omitManagedFields') ?? false;
    policy.omitManagedFieldsLoc = locOf(mf[0]);
  }
  const rules = m.get('rules');
  if (rules === undefined) fail('rules is required: kube-apiserver refuses a policy with 0 rules', root);
  policy.rulesLoc = locOf(rules[0]);
  const rn = rules[1];
  if (rn.kind === 'scalar' && rn.value === null && plain(rn)) fail('rules is empty: kube-apiserver refuses a policy with 0 rules', rules[0]);
  if (rn.kind !== 'sequence') fail(`rules must be a list, not ${KIND_NAMES[rn.kind]}`, rn);
  if (rn.items.length === 0) fail('rules is empty: kube-apiserver refuses a policy with 0 rules', rn);
  policy.rules = rn.items.map((it, i) => policyRule(it, i));
  return policy;
}

/** Reads a policy file; unreadable files are ERR_IO. */
export async function readPolicyFile(file: string): Promise<Policy> {
  const { readFileSync } = await import('node:fs');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PeregrineError(ErrorCode.IO, `cannot read policy file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parsePolicy(file, text);
}
