// Audit policy evaluation as kube-apiserver's checker.go does it: a table of requests
// against rules, one case per documented (and, where they differ, coded) behaviour.
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/parse.js';
import { applyPolicy, evaluatePolicy, ruleMatches } from '../../src/policy/evaluate.js';
import type { RequestAttributes } from '../../src/policy/model.js';

const policyOf = (rules: string, head = ''): ReturnType<typeof parsePolicy> =>
  parsePolicy('p.yaml', `apiVersion: audit.k8s.io/v1\nkind: Policy\n${head}rules:\n${rules}`);

/** A resource request. */
function res(verb: string, resource: string, o: { sub?: string; group?: string; ns?: string; name?: string; user?: string; groups?: string[] } = {}): RequestAttributes {
  return {
    user: o.user ?? 'alice', groups: o.groups ?? ['system:authenticated'], verb,
    resource: { namespace: o.ns ?? '', apiGroup: o.group ?? '', resource, subresource: o.sub ?? '', name: o.name ?? '' },
    path: '/apis/x',
  };
}

/** A non-resource request. */
function url(path: string, o: { user?: string; groups?: string[]; verb?: string } = {}): RequestAttributes {
  return { user: o.user ?? 'alice', groups: o.groups ?? ['system:authenticated'], verb: o.verb ?? 'get', resource: undefined, path };
}

// [rule (YAML flow mapping), request, matches]
const TABLE: Array<[string, RequestAttributes, boolean]> = [
  // Selectors left out match everything; a rule with none matches every request.
  ['{level: Metadata}', res('get', 'pods'), true],
  ['{level: Metadata}', url('/healthz'), true],
  // users: exact names.
  ['{level: Metadata, users: [alice]}', res('get', 'pods'), true],
  ['{level: Metadata, users: [bob]}', res('get', 'pods'), false],
  ['{level: Metadata, users: [alic]}', res('get', 'pods'), false],
  // userGroups: any of the user's groups.
  ['{level: Metadata, userGroups: [system:nodes]}', res('get', 'pods', { groups: ['system:authenticated', 'system:nodes'] }), true],
  ['{level: Metadata, userGroups: [system:nodes, system:masters]}', res('get', 'pods', { groups: ['system:masters'] }), true],
  ['{level: Metadata, userGroups: [system:nodes]}', res('get', 'pods'), false],
  ['{level: Metadata, userGroups: [system:nodes]}', res('get', 'pods', { groups: [] }), false],
  // users and userGroups together: both must match.
  ['{level: Metadata, users: [alice], userGroups: [system:nodes]}', res('get', 'pods'), false],
  // verbs.
  ['{level: Metadata, verbs: [get, list]}', res('list', 'pods'), true],
  ['{level: Metadata, verbs: [get, list]}', res('watch', 'pods'), false],
  ['{level: Metadata, verbs: [get]}', url('/healthz'), true],
  // namespaces: "" is cluster scope; a rule with namespaces matches resource requests only.
  ['{level: Metadata, namespaces: [kube-system]}', res('get', 'pods', { ns: 'kube-system' }), true],
  ['{level: Metadata, namespaces: [kube-system]}', res('get', 'pods', { ns: 'default' }), false],
  ['{level: Metadata, namespaces: [""]}', res('get', 'nodes'), true],
  ['{level: Metadata, namespaces: [""]}', res('get', 'pods', { ns: 'default' }), false],
  ['{level: Metadata, namespaces: [kube-system]}', url('/healthz'), false],
  // resources: the group must match ("" core, "*" any), then the resource.
  ['{level: Metadata, resources: [{group: "", resources: [pods]}]}', res('get', 'pods'), true],
  ['{level: Metadata, resources: [{resources: [pods]}]}', res('get', 'pods'), true],
  ['{level: Metadata, resources: [{group: "", resources: [pods]}]}', res('get', 'pods', { group: 'metrics.k8s.io' }), false],
  ['{level: Metadata, resources: [{group: "*", resources: [pods]}]}', res('get', 'pods', { group: 'metrics.k8s.io' }), true],
  ['{level: Metadata, resources: [{group: apps, resources: [deployments]}]}', res('get', 'deployments', { group: 'apps' }), true],
  ['{level: Metadata, resources: [{group: "", resources: [pods]}]}', res('get', 'secrets'), false],
  ['{level: Metadata, resources: [{group: "", resources: [pods]}]}', url('/api/v1/pods'), false],
  // Subresources: `pods` is not `pods/log`; `pods/log` is; `pods/*` is every subresource
  // and, in the code (not the docs), pods itself; `*/scale`; `*` everything.
  ['{level: Metadata, resources: [{resources: [pods]}]}', res('get', 'pods', { sub: 'log' }), false],
  ['{level: Metadata, resources: [{resources: [pods/log]}]}', res('get', 'pods', { sub: 'log' }), true],
  ['{level: Metadata, resources: [{resources: [pods/log]}]}', res('get', 'pods', { sub: 'exec' }), false],
  ['{level: Metadata, resources: [{resources: [pods/log]}]}', res('get', 'pods'), false],
  ['{level: Metadata, resources: [{resources: ["pods/*"]}]}', res('get', 'pods', { sub: 'exec' }), true],
  ['{level: Metadata, resources: [{resources: ["pods/*"]}]}', res('get', 'pods'), true],
  ['{level: Metadata, resources: [{resources: ["pods/*"]}]}', res('get', 'podtemplates'), false],
  ['{level: Metadata, resources: [{group: apps, resources: ["*/scale"]}]}', res('update', 'deployments', { group: 'apps', sub: 'scale' }), true],
  ['{level: Metadata, resources: [{group: apps, resources: ["*/scale"]}]}', res('update', 'deployments', { group: 'apps' }), false],
  ['{level: Metadata, resources: [{group: apps, resources: ["*/scale"]}]}', res('update', 'deployments', { group: 'apps', sub: 'status' }), false],
  ['{level: Metadata, resources: [{group: "", resources: ["*"]}]}', res('get', 'pods', { sub: 'exec' }), true],
  // An empty resources list is the whole group.
  ['{level: Metadata, resources: [{group: rbac.authorization.k8s.io}]}', res('create', 'clusterroles', { group: 'rbac.authorization.k8s.io' }), true],
  ['{level: Metadata, resources: [{group: rbac.authorization.k8s.io}]}', res('create', 'pods'), false],
  // resourceNames narrow the resources listed with them.
  ['{level: Metadata, resources: [{resources: [configmaps], resourceNames: [cluster-info]}]}', res('get', 'configmaps', { name: 'cluster-info', ns: 'kube-public' }), true],
  ['{level: Metadata, resources: [{resources: [configmaps], resourceNames: [cluster-info]}]}', res('get', 'configmaps', { name: 'other' }), false],
  ['{level: Metadata, resources: [{resources: [configmaps], resourceNames: [cluster-info]}]}', res('list', 'configmaps'), false],
  // Namespaces and resources together.
  ['{level: Metadata, namespaces: [kube-system], resources: [{resources: [secrets]}]}', res('get', 'secrets', { ns: 'kube-system' }), true],
  ['{level: Metadata, namespaces: [kube-system], resources: [{resources: [secrets]}]}', res('get', 'secrets', { ns: 'default' }), false],
  // nonResourceURLs: exact, `*`, or a trailing `*` as a prefix; never a resource request.
  ['{level: Metadata, nonResourceURLs: [/healthz]}', url('/healthz'), true],
  ['{level: Metadata, nonResourceURLs: [/healthz]}', url('/healthz/etcd'), false],
  ['{level: Metadata, nonResourceURLs: ["/healthz*"]}', url('/healthz/etcd'), true],
  ['{level: Metadata, nonResourceURLs: ["/healthz*"]}', url('/healthzz'), true],
  ['{level: Metadata, nonResourceURLs: ["/healthz/*"]}', url('/healthz'), false],
  ['{level: Metadata, nonResourceURLs: ["*"]}', url('/anything'), true],
  ['{level: Metadata, nonResourceURLs: ["*"]}', res('get', 'pods'), false],
  ['{level: Metadata, nonResourceURLs: ["/api*"]}', res('get', 'pods'), false],
];

describe('policy evaluation (k8s.io/apiserver pkg/audit/policy/checker.go)', () => {
  it.each(TABLE.map(([rule, req, want], i) => [i, rule, req, want] as const))('%i: %s', (_i, rule, req, want) => {
    const p = policyOf(`- ${rule}\n`);
    expect(ruleMatches(p.rules[0], req)).toBe(want);
  });

  it('the first matching rule decides; no match is None', () => {
    const p = policyOf([
      '- level: None',
      '  users: [system:kube-proxy]',
      '- level: RequestResponse',
      '  resources: [{group: "", resources: [pods]}]',
      '- level: Metadata',
      '  resources: [{group: "", resources: [pods, secrets]}]',
      '- level: Request',
      '  namespaces: [kube-system]',
    ].join('\n') + '\n');
    expect(evaluatePolicy(p, res('get', 'pods', { user: 'system:kube-proxy' })).level).toBe('None');
    expect(evaluatePolicy(p, res('get', 'pods')).level).toBe('RequestResponse');
    expect(evaluatePolicy(p, res('get', 'pods')).rule).toBe(1);
    expect(evaluatePolicy(p, res('get', 'secrets', { ns: 'kube-system' })).level).toBe('Metadata');
    expect(evaluatePolicy(p, res('get', 'configmaps', { ns: 'kube-system' })).level).toBe('Request');
    const none = evaluatePolicy(p, res('get', 'configmaps', { ns: 'default' }));
    expect(none.level).toBe('None');
    expect(none.rule).toBe(-1);
  });

  it('omitStages of the policy and of the rule both apply; omitManagedFields of a rule overrides the policy', () => {
    const p = policyOf([
      '- level: Metadata',
      '  verbs: [watch]',
      '  omitStages: [ResponseStarted]',
      '  omitManagedFields: false',
      '- level: Request',
      '  verbs: [create]',
      '  omitManagedFields: true',
      '- level: Metadata',
    ].join('\n') + '\n', 'omitStages: [RequestReceived]\nomitManagedFields: true\n');
    const watch = evaluatePolicy(p, res('watch', 'pods'));
    expect([...watch.omitStages].sort()).toEqual(['RequestReceived', 'ResponseStarted']);
    expect(watch.omitManagedFields).toBe(false);
    expect([...evaluatePolicy(p, res('create', 'pods')).omitStages]).toEqual(['RequestReceived']);
    expect(evaluatePolicy(p, res('create', 'pods')).omitManagedFields).toBe(true);
    expect(evaluatePolicy(p, res('get', 'pods')).omitManagedFields).toBe(true);
    // The default (no rule matches) carries the policy's omissions too.
    const q = policyOf('- level: Metadata\n  verbs: [get]\n', 'omitStages: [Panic]\n');
    expect([...evaluatePolicy(q, res('list', 'pods')).omitStages]).toEqual(['Panic']);
  });

  it('applyPolicy keeps what each level keeps: Request adds requestObject, RequestResponse responseObject', () => {
    const p = policyOf([
      '- level: None',
      '  nonResourceURLs: [/healthz]',
      '- level: RequestResponse',
      '  verbs: [create]',
      '- level: Request',
      '  verbs: [update, patch]',
      '- level: Metadata',
    ].join('\n') + '\n', 'omitStages: [RequestReceived]\nomitManagedFields: true\n');
    const obj = (name: string) => ({ kind: 'Pod', metadata: { name, managedFields: [{ manager: 'x' }] }, spec: {} });
    const ev = (verb: string, extra: object = {}) => ({
      kind: 'Event', level: 'RequestResponse', stage: 'ResponseComplete', verb, requestURI: '/api/v1/namespaces/d/pods',
      user: { username: 'alice', groups: [] }, objectRef: { resource: 'pods', namespace: 'd' },
      requestObject: obj('a'), responseObject: obj('b'), ...extra,
    });
    const c = applyPolicy(p, ev('create'));
    expect(c.level).toBe('RequestResponse');
    expect(c.requestObject.metadata).toEqual({ name: 'a' });
    expect(c.responseObject.metadata).toEqual({ name: 'b' });
    const u = applyPolicy(p, ev('update'));
    expect(u.level).toBe('Request');
    expect(u.responseObject).toBeUndefined();
    expect(u.requestObject.metadata).toEqual({ name: 'a' });
    // A patch's request body is the patch: managed fields in it stay.
    expect(applyPolicy(p, ev('patch')).requestObject.metadata.managedFields).toHaveLength(1);
    const g = applyPolicy(p, ev('get'));
    expect(g.level).toBe('Metadata');
    expect(g.requestObject).toBeUndefined();
    expect(g.responseObject).toBeUndefined();
    expect(applyPolicy(p, ev('get', { stage: 'RequestReceived' }))).toBeUndefined();
    expect(applyPolicy(p, { ...ev('get'), objectRef: undefined, requestURI: '/healthz?verbose' })).toBeUndefined();
    // Lists: every item's managed fields go.
    const list = applyPolicy(p, ev('create', { responseObject: { kind: 'PodList', items: [obj('x'), obj('y')] } }));
    expect(list.responseObject.items.map((i: any) => i.metadata)).toEqual([{ name: 'x' }, { name: 'y' }]);
    // A level above what the event was recorded at is not invented.
    expect(applyPolicy(p, ev('create', { level: 'Metadata', requestObject: undefined, responseObject: undefined })).level).toBe('Metadata');
  });
});
