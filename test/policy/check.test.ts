// `policy check`: which rules a policy feeds, and why not. Small rules for each way a
// policy starves a rule, Falco's rules under a Metadata policy with bodies for secrets
// and configmaps only, and the command's output and exit status.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Ruleset } from '../../src/rules/ruleset.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { RulesetModel, checkPolicy, type RuleReport } from '../../src/policy/check.js';
import { tempDir } from '../serve/harness.js';

const FALCO = 'test/fixtures/falco-k8saudit/rules/k8s_audit_rules.latest.yaml';
const HEAD = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n';

function rulesOf(...rules: Array<[string, string, string?]>): string {
  return rules.map(([name, cond, out]) => `- rule: ${name}\n  desc: d\n  condition: ${cond}\n  output: "${out ?? 'x %ka.user.name'}"\n  priority: WARNING\n  source: k8s_audit\n`).join('\n');
}

/** Each rule on its own (rule_matching: all), unless said otherwise. */
function check(rules: string, policy: string, ruleMatching: 'first' | 'all' = 'all'): Map<string, RuleReport> {
  const rs = Ruleset.compile([{ name: 'r.yaml', text: rules }]);
  const p = parsePolicy('p.yaml', HEAD + policy);
  return new Map(checkPolicy(new RulesetModel(rs), p, { ruleMatching }).map((r) => [r.rule, r]));
}

const POD_CREATE = 'ka.verb=create and ka.target.resource=pods and not ka.target.subresource exists and ka.stage=ResponseComplete';

describe('policy check', () => {
  it('a body the condition reads, dropped by the level, starves the rule; the policy rule responsible is named', () => {
    const r = check(rulesOf(['Privileged', `${POD_CREATE} and ka.req.pod.containers.privileged intersects (true)`]),
      'rules:\n  - level: RequestResponse\n    resources: [{group: "", resources: [secrets]}]\n  - level: Metadata\n');
    const x = r.get('Privileged')!;
    expect(x.status).toBe('starved');
    expect(x.by).toBe('p.yaml:6');
    expect(x.reason).toContain('create pods');
    expect(x.reason).toContain('ka.req.pod.containers.privileged, which needs Request');
    expect(x.details[0]).toMatchObject({ effect: 'level', level: 'Metadata', need: 'Request', stages: ['ResponseComplete'] });
  });

  it('Request feeds ka.req.*, not ka.resp.*; an output field alone makes it partly fed', () => {
    const rules = rulesOf(
      ['Req', `${POD_CREATE} and ka.req.pod.host_network intersects (true)`],
      ['RespOut', `${POD_CREATE} and ka.req.pod.host_network intersects (true)`, 'pod %ka.resp.name'],
      ['RespCond', `${POD_CREATE} and ka.resp.name startswith evil`],
    );
    const r = check(rules, 'rules:\n  - level: Request\n');
    expect(r.get('Req')!.status).toBe('fed');
    expect(r.get('RespOut')!.status).toBe('partly_fed');
    expect(r.get('RespOut')!.details.map((d) => d.effect)).toEqual(['output']);
    expect(r.get('RespCond')!.status).toBe('starved');
    const all = check(rules, 'rules:\n  - level: RequestResponse\n');
    for (const x of all.values()) expect(x.status, x.rule).toBe('fed');
  });

  it('a rule that would raise false alerts without the body is starved too', () => {
    const r = check(rulesOf(['No TLS', 'ka.verb=create and ka.target.resource=ingresses and not jevt.value[/requestObject/spec/tls] exists']),
      'rules:\n  - level: Metadata\n');
    expect(r.get('No TLS')!.status).toBe('starved');
  });

  it('only some of its requests: partly fed, naming them (verbs, resources, namespaces)', () => {
    const rules = rulesOf(['Writes', 'ka.verb in (create, update) and ka.target.resource in (configmaps, secrets) and ka.req.configmap.obj contains password']);
    const r = check(rules, [
      'rules:',
      '  - level: Request',
      '    verbs: [create]',
      '    resources: [{group: "", resources: [configmaps, secrets]}]',
      '  - level: Request',
      '    verbs: [update]',
      '    namespaces: [kube-system]',
      '  - level: Metadata',
    ].join('\n') + '\n');
    const x = r.get('Writes')!;
    expect(x.status).toBe('partly_fed');
    expect(x.by).toBe('p.yaml:10');
    const text = x.details.flatMap((d) => d.requests).join('; ');
    expect(text).toContain('update configmaps');
    expect(text).toContain('update secrets');
    expect(text).not.toContain('create');
  });

  it('events at None, by a rule or by the default, starve the rule', () => {
    const rules = rulesOf(['Exec', 'ka.target.resource=pods and ka.target.subresource=exec and ka.stage=ResponseStarted']);
    const none = check(rules, 'rules:\n  - level: None\n    resources: [{group: "", resources: ["pods/exec"]}]\n  - level: Metadata\n');
    expect(none.get('Exec')!.status).toBe('starved');
    expect(none.get('Exec')!.by).toBe('p.yaml:4');
    expect(none.get('Exec')!.details[0].effect).toBe('none');
    // No rule matches pods/exec: the apiserver's default is None.
    const dflt = check(rules, 'rules:\n  - level: Metadata\n    verbs: [list]\n');
    expect(dflt.get('Exec')!.status).toBe('starved');
    expect(dflt.get('Exec')!.by).toBe('p.yaml:3');
    expect(dflt.get('Exec')!.reason).toContain('no policy rule matches them');
  });

  it('omitted stages: the policy-wide omission is named by its line, a rule\'s by the rule', () => {
    const rules = rulesOf(
      ['Started', 'ka.target.subresource=portforward and ka.stage=ResponseStarted'],
      ['Any stage', 'ka.target.subresource=portforward'],
      ['Complete', 'ka.target.subresource=portforward and ka.stage=ResponseComplete'],
    );
    const r = check(rules, 'omitStages: [ResponseStarted]\nrules:\n  - level: Metadata\n');
    expect(r.get('Started')!.status).toBe('starved');
    expect(r.get('Started')!.by).toBe('p.yaml:3');
    expect(r.get('Any stage')!.status).toBe('partly_fed');
    expect(r.get('Any stage')!.details.map((d) => d.stages)).toEqual([['ResponseStarted']]);
    expect(r.get('Complete')!.status).toBe('fed');
    const perRule = check(rules, 'rules:\n  - level: Metadata\n    omitStages: [RequestReceived]\n');
    expect(perRule.get('Any stage')!.status).toBe('partly_fed');
    expect(perRule.get('Any stage')!.by).toBe('p.yaml:4');
    expect(perRule.get('Started')!.status).toBe('fed');
    // Requests without a ResponseStarted stage lose nothing when it is omitted.
    const creates = check(rulesOf(['Creates', 'ka.verb=create and ka.target.resource=configmaps']), 'omitStages: [ResponseStarted]\nrules:\n  - level: Metadata\n');
    expect(creates.get('Creates')!.status).toBe('fed');
  });

  it('managed fields: omitted where a rule reads them', () => {
    const rules = rulesOf(['Meta', `${POD_CREATE} and jevt.value[/requestObject/metadata] contains kubectl-client-side-apply`]);
    expect(check(rules, 'omitManagedFields: true\nrules:\n  - level: Request\n').get('Meta')!.status).toBe('starved');
    expect(check(rules, 'omitManagedFields: true\nrules:\n  - level: Request\n    omitManagedFields: false\n').get('Meta')!.status).toBe('fed');
    expect(check(rules, 'rules:\n  - level: Request\n').get('Meta')!.status).toBe('fed');
  });

  it('the first matching policy rule decides, with pods/* matching pods itself and group "*" any group', () => {
    const rules = rulesOf(['Privileged', `${POD_CREATE} and ka.req.pod.containers.privileged intersects (true)`]);
    expect(check(rules, 'rules:\n  - level: Request\n    resources: [{group: "*", resources: ["pods/*"]}]\n  - level: None\n').get('Privileged')!.status).toBe('fed');
    expect(check(rules, 'rules:\n  - level: Metadata\n    verbs: [create]\n  - level: Request\n').get('Privileged')!.status).toBe('starved');
    // pods of other API groups (metrics.k8s.io) cannot be created: core pods suffice.
    expect(check(rules, 'rules:\n  - level: Request\n    resources: [{group: "", resources: [pods]}]\n  - level: Metadata\n').get('Privileged')!.status).toBe('fed');
  });

  it('rule_matching first: a later rule\'s alerts change where an earlier one is starved for the same requests', () => {
    const rules = rulesOf(
      ['NodePort', 'ka.verb=create and ka.target.resource=services and ka.req.service.type=NodePort'],
      ['Service Created', 'ka.verb=create and ka.target.resource=services'],
      ['Secret Created', 'ka.verb=create and ka.target.resource=secrets'],
    );
    const first = check(rules, 'rules:\n  - level: Metadata\n', 'first');
    expect(first.get('NodePort')!.status).toBe('starved');
    const s = first.get('Service Created')!;
    expect(s.status).toBe('partly_fed');
    expect(s.details[0]).toMatchObject({ effect: 'shadow', earlier: ['NodePort'], by: 'p.yaml:4' });
    expect(first.get('Secret Created')!.status).toBe('fed');
    expect(check(rules, 'rules:\n  - level: Metadata\n', 'all').get('Service Created')!.status).toBe('fed');
  });

  it('a value can meet a prefix and a suffix at once, and a comparison with another field is never taken for false', () => {
    const rules = rulesOf(
      ['Both ends', `${POD_CREATE} and ka.user.name startswith "system:serviceaccount:" and ka.user.name endswith ":builder" and ka.req.pod.host_pid intersects (true)`],
      ['Own name', `${POD_CREATE} and ka.user.name endswith val(ka.target.namespace) and ka.req.pod.host_pid intersects (true)`],
      ['Regex', `${POD_CREATE} and ka.user.name regex "system:serviceaccount:[a-z]+:builder" and ka.req.pod.host_pid intersects (true)`],
      ['Glob', `${POD_CREATE} and ka.user.name glob "ci-?" and ka.req.pod.host_pid intersects (true)`],
    );
    const r = check(rules, 'rules:\n  - level: Metadata\n');
    for (const x of ['Both ends', 'Own name', 'Regex', 'Glob']) expect(r.get(x)!.status, x).toBe('starved');
  });

  it('rules that can never be true are fed', () => {
    const r = check(rulesOf(['Never', 'ka.verb=create and jevt.rawtime = 0 and ka.req.pod.host_pid intersects (true)'], ['Off', 'not jevt.rawtime exists and ka.req.pod.host_pid intersects (true)']), 'rules:\n  - level: None\n');
    expect(r.get('Never')!.status).toBe('fed');
    expect(r.get('Off')!.status).toBe('fed');
  });

  it("Falco's rules under Metadata with secrets and configmaps at RequestResponse: exactly the rules that lose alerts", () => {
    const rs = Ruleset.compile([{ name: FALCO, text: readFileSync(FALCO, 'utf8') }]);
    const p = parsePolicy('meta.yaml', HEAD + 'rules:\n  - level: RequestResponse\n    resources:\n      - group: ""\n        resources: ["secrets", "configmaps"]\n  - level: Metadata\n');
    const reports = checkPolicy(new RulesetModel(rs), p);
    const by = (s: string): string[] => reports.filter((r) => r.status === s).map((r) => r.rule).sort();
    expect(by('starved')).toEqual([
      'Attach to cluster-admin Role', 'ClusterRole With Pod Exec Created', 'ClusterRole With Wildcard Created', 'ClusterRole With Write Privileges Created',
      'Create HostIPC Pod', 'Create HostNetwork Pod', 'Create HostPid Pod', 'Create NodePort Service', 'Create Privileged Pod', 'Create Sensitive Mount Pod',
      'Ingress Object without TLS Certificate Created', 'Pod Created in Kube Namespace',
    ]);
    // Under rule_matching first, an anonymous privileged pod or a NodePort service now
    // alerts for a later rule instead.
    expect(by('partly_fed')).toEqual([
      'Anonymous Request Allowed', 'EphemeralContainers Created', 'K8s ClusterRole Created', 'K8s ClusterRoleBinding Created', 'K8s Role Created',
      'K8s RoleBinding Created', 'K8s Service Created',
    ]);
    for (const r of reports.filter((x) => x.status !== 'fed')) expect(r.by).toBe('meta.yaml:8');
  });
});

describe('peregrine policy check (CLI)', () => {
  const dir = tempDir();
  const run = (...args: string[]) => spawnSync(process.execPath, ['dist/cli/main.js', 'policy', 'check', ...args], { encoding: 'utf8' });

  it('exit 1 with the rules not fed, 0 when all are, JSON for CI', () => {
    const meta = join(dir, 'meta.yaml');
    writeFileSync(meta, HEAD + 'rules:\n  - level: Metadata\n');
    const a = run('--policy', meta, '--rules', FALCO);
    expect(a.status).toBe(1);
    expect(a.stdout).toContain('starved     Create Privileged Pod  (by ');
    expect(a.stdout).toMatch(/against 48 rules from .*: \d+ fed, \d+ partly fed, \d+ starved/);
    const j = run('--policy', meta, '--rules', FALCO, '--format', 'json');
    expect(j.status).toBe(1);
    const doc = JSON.parse(j.stdout);
    expect(doc.rules).toHaveLength(48);
    const priv = doc.rules.find((r: any) => r.rule === 'Create Privileged Pod');
    expect(priv).toMatchObject({ status: 'starved', by: `${meta}:4` });
    expect(typeof priv.reason).toBe('string');
    expect(doc.rules.find((r: any) => r.rule === 'Disallowed K8s User')).toMatchObject({ status: 'fed', by: null });
    const all = join(dir, 'all.yaml');
    writeFileSync(all, HEAD + 'rules:\n  - level: RequestResponse\n');
    expect(run('--policy', all, '--rules', FALCO).status).toBe(0);
  });

  it('exit 2 for a bad policy (file:line:col) or rules file, and for usage errors', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, HEAD + 'rules:\n  - level: Loud\n');
    const r = run('--policy', bad);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:4:12: ERR_POLICY: rules[0].level: 'Loud' is not a level`);
    const badRules = join(dir, 'bad-rules.yaml');
    writeFileSync(badRules, '- rule: x\n  desc: d\n  condition: ka.verb = \n  output: o\n  priority: WARNING\n  source: k8s_audit\n');
    const all = join(dir, 'all2.yaml');
    writeFileSync(all, HEAD + 'rules:\n  - level: RequestResponse\n');
    const rr = run('--policy', all, '--rules', badRules);
    expect(rr.status).toBe(2);
    expect(rr.stderr).toMatch(new RegExp(`${badRules}:\\d+:\\d+: LOAD_ERR_COMPILE_CONDITION`));
    expect(run().status).toBe(2);
    expect(run('--policy', join(dir, 'missing.yaml')).stderr).toContain('ERR_IO');
  });
});
