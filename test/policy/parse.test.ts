// Reading audit Policy files: what kube-apiserver accepts is read with every rule's
// place; what it refuses (and unknown fields, which it would silently ignore) is an
// error at file:line:col; random and mutated policies never crash the reader.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { PeregrineError } from '../../src/errors.js';
import { parsePolicy } from '../../src/policy/parse.js';

const HEAD = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n';

function error(text: string): string {
  try {
    parsePolicy('p.yaml', text);
  } catch (e) {
    expect(e).toBeInstanceOf(PeregrineError);
    return (e as PeregrineError).describe();
  }
  throw new Error('no error');
}

describe('policy files', () => {
  it('reads a policy with every field, and where each rule is', () => {
    const p = parsePolicy('p.yaml', HEAD + [
      'omitStages: ["RequestReceived"]',
      'omitManagedFields: true',
      'rules:',
      '  - level: None',
      '    users: ["system:kube-proxy"]',
      '    verbs: ["watch"]',
      '    resources:',
      '      - group: ""',
      '        resources: ["endpoints", "services"]',
      '  # a comment',
      '  - level: RequestResponse',
      '    userGroups: [system:masters]',
      '    namespaces: [kube-system, ""]',
      '    resources: [{group: apps, resources: [deployments], resourceNames: [coredns]}]',
      '    omitStages: [ResponseStarted]',
      '    omitManagedFields: false',
      '  - level: Metadata',
      '    nonResourceURLs: ["/healthz*"]',
      '  - {level: Request}',
    ].join('\n') + '\n');
    expect(p.omitStages).toEqual(['RequestReceived']);
    expect(p.omitManagedFields).toBe(true);
    expect(p.rules.map((r) => [r.level, r.loc?.line])).toEqual([['None', 6], ['RequestResponse', 13], ['Metadata', 19], ['Request', 21]]);
    expect(p.rules[0].resources).toEqual([{ group: '', resources: ['endpoints', 'services'], resourceNames: [] }]);
    expect(p.rules[1]).toMatchObject({ userGroups: ['system:masters'], namespaces: ['kube-system', ''], omitStages: ['ResponseStarted'], omitManagedFields: false });
    expect(p.rules[1].resources[0]).toEqual({ group: 'apps', resources: ['deployments'], resourceNames: ['coredns'] });
    expect(p.rules[2].omitManagedFields).toBeUndefined();
    expect(p.rulesLoc?.line).toBe(5);
    expect(p.omitStagesLoc?.line).toBe(3);
  });

  it('reads JSON too, and YAML 1.1 booleans as the apiserver does', () => {
    const p = parsePolicy('p.json', JSON.stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitManagedFields: true, rules: [{ level: 'Metadata' }] }));
    expect(p.omitManagedFields).toBe(true);
    expect(parsePolicy('p.yaml', HEAD + 'omitManagedFields: yes\nrules: [{level: None}]\n').omitManagedFields).toBe(true);
  });

  it.each([
    ['', 'p.yaml:1:1: ERR_POLICY: empty policy file'],
    ['rules: [{level: None}]\n', "p.yaml:1:1: ERR_POLICY: apiVersion is required"],
    ['apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]\n', "p.yaml:1:13: ERR_POLICY: unknown apiVersion 'audit.k8s.io/v1beta1'"],
    [HEAD + 'kind2: x\nrules: [{level: None}]\n', "p.yaml:3:1: ERR_POLICY: unknown field 'kind2' in the Policy"],
    [HEAD + 'rules: []\n', 'p.yaml:3:8: ERR_POLICY: rules is empty'],
    [HEAD + 'rules:\n', 'p.yaml:3:1: ERR_POLICY: rules is empty'],
    [HEAD, 'ERR_POLICY: rules is required'],
    [HEAD + 'rules:\n  - level: Loud\n', "p.yaml:4:12: ERR_POLICY: rules[0].level: 'Loud' is not a level (None, Metadata, Request, RequestResponse)"],
    [HEAD + 'rules:\n  - verbs: [get]\n', 'p.yaml:4:5: ERR_POLICY: rules[0].level is required'],
    [HEAD + 'rules:\n  - level: None\n    verb: [get]\n', "p.yaml:5:5: ERR_POLICY: unknown field 'verb' in rules[0] (kube-apiserver would ignore it"],
    [HEAD + 'rules:\n  - level: None\n    verbs: get\n', 'p.yaml:5:12: ERR_POLICY: rules[0].verbs must be a list of strings, not a scalar'],
    [HEAD + 'rules:\n  - level: None\n    verbs: [[get]]\n', 'p.yaml:5:13: ERR_POLICY: rules[0].verbs[0] must be a string'],
    [HEAD + 'rules:\n  - level: None\n    nonResourceURLs: [healthz]\n', "p.yaml:5:23: ERR_POLICY: rules[0].nonResourceURLs[0]: 'healthz': non-resource URL rules must begin with a '/' character"],
    [HEAD + 'rules:\n  - level: None\n    nonResourceURLs: ["/a*/b"]\n', "ERR_POLICY: rules[0].nonResourceURLs[0]: '/a*/b': non-resource URL wildcards '*' must be the final character of the rule"],
    [HEAD + 'rules:\n  - level: None\n    namespaces: [a]\n    nonResourceURLs: [/a]\n', 'p.yaml:6:5: ERR_POLICY: rules[0]: rules cannot apply to both regular resources and non-resource URLs'],
    [HEAD + 'rules:\n  - level: None\n    resources: [{group: Apps}]\n', "p.yaml:5:25: ERR_POLICY: rules[0].resources[0].group: 'Apps' is not a valid API group"],
    [HEAD + 'rules:\n  - level: None\n    resources: [{group: "", resourceNames: [a]}]\n', 'ERR_POLICY: rules[0].resources[0].resourceNames: using resourceNames requires at least one resource'],
    [HEAD + 'rules:\n  - level: None\n    resources: [{group: "", resource: [pods]}]\n', "ERR_POLICY: unknown field 'resource' in rules[0].resources[0]"],
    [HEAD + 'omitStages: [ResponseCompleted]\nrules: [{level: None}]\n', "p.yaml:3:14: ERR_POLICY: omitStages[0]: 'ResponseCompleted' is not a stage"],
    [HEAD + 'rules:\n  - level: None\n    omitManagedFields: "true"\n', 'p.yaml:5:24: ERR_POLICY: rules[0].omitManagedFields must be true or false'],
    [HEAD + 'rules: [{level: None}]\n---\n' + HEAD + 'rules: [{level: None}]\n', 'p.yaml:4:1: ERR_POLICY: more than one YAML document'],
    [HEAD + 'rules:\n  - level: None\n   verbs: [get]\n', 'p.yaml:5:4: ERR_POLICY: invalid YAML'],
    [HEAD + 'rules:\n  - level: None\n    verbs: [get]\n    verbs: [list]\n', 'p.yaml:6:5: ERR_POLICY: invalid YAML: duplicated mapping key'],
  ])('refuses %j', (text, want) => {
    expect(error(text)).toContain(want);
  });

  it('never crashes on mutated or random policies: a result, or an error with a place', () => {
    const seeds = [
      readFileSync('docs/audit-policy.yaml', 'utf8'),
      HEAD + 'omitStages: [RequestReceived]\nrules:\n  - level: Request\n    resources: [{group: "*", resources: ["pods/*", "*/scale"], resourceNames: [a]}]\n  - {level: Metadata, nonResourceURLs: ["/x*"]}\n',
    ];
    const pieces = ['- ', ': ', '[', ']', '{', '}', '"', "'", '\n', '  ', '#', '*', '/', 'level', 'None', 'rules', 'verbs', 'resources', 'group', '~', '&a', '*a', '!!str ', '---\n', '\t', '\\', '\u00e9', 'null', 'true', '0'];
    let s = 12345;
    const rnd = (n: number): number => {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      return s % n;
    };
    let parsed = 0;
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      let t = seeds[rnd(seeds.length)];
      const edits = 1 + rnd(4);
      for (let k = 0; k < edits; k++) {
        const at = rnd(t.length + 1);
        const op = rnd(3);
        if (op === 0) t = t.slice(0, at) + pieces[rnd(pieces.length)] + t.slice(at);
        else if (op === 1) t = t.slice(0, at) + t.slice(at + 1 + rnd(8));
        else t = t.slice(0, at) + t.slice(rnd(t.length + 1));
      }
      if (i % 10 === 0) t = Array.from({ length: rnd(60) }, () => pieces[rnd(pieces.length)]).join('');
      try {
        const p = parsePolicy('f.yaml', t);
        expect(p.rules.length).toBeGreaterThan(0);
        parsed++;
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(PeregrineError);
        const loc = (e as PeregrineError).loc!;
        expect(loc.file).toBe('f.yaml');
        expect(loc.line).toBeGreaterThanOrEqual(1);
        refused++;
      }
    }
    expect(parsed).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  });
});
