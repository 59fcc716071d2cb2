// FALCO-SEMANTICS.md §7: k8saudit field quirks (k8saudit plugin 0.18.0 extract.go).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Json, type Row, checkRows, ev, firesOn, renderRows, ruleYaml, runCli, tempDir } from './lib.js';

const pod = (spec: { [k: string]: Json }): Record<string, Json> => ({ 'requestObject/spec': spec });

describe('§7 k8saudit field quirks', () => {
  const two = [{ name: 'a', image: 'docker.io/nginx:1.25@sha256:abc' }, { name: 'b', image: 'redis:7' }];
  const rows: Row[] = [
    { token: '%ka.sourceips', text: '<NA>', fields: { 'ka.sourceips': null } },
    { token: '%ka.sourceips', set: { requestObject: { rules: [{ sourceIPs: ['9.9.9.9'] }] } }, text: '(9.9.9.9)', fields: { 'ka.sourceips': ['9.9.9.9'] } },
    { token: '%ka.req.pod.containers.privileged', text: '<NA>', fields: { 'ka.req.pod.containers.privileged': null } },
    { token: '%ka.req.pod.containers.privileged', set: pod({ containers: [{ securityContext: { privileged: true } }, { securityContext: {} }] }), text: '(true)', fields: { 'ka.req.pod.containers.privileged': ['true'] } },
    { token: '%ka.req.container.privileged', text: 'false', fields: { 'ka.req.container.privileged': 'false' } },
    { token: '%ka.req.container.privileged', set: pod({ containers: [{ image: 'a' }, { securityContext: { privileged: true } }] }), text: 'true', fields: { 'ka.req.container.privileged': 'true' } },
    { token: '%ka.req.container.privileged', set: { requestObject: undefined }, text: '<NA>', fields: { 'ka.req.container.privileged': null } },
    { token: '%ka.target.subresource', text: '<NA>', fields: { 'ka.target.subresource': null } },
    { token: '%ka.target.subresource', set: { 'objectRef/subresource': '' }, text: '', fields: { 'ka.target.subresource': '' } },
    { token: '%ka.target.pod.name', text: '<NA>', fields: { 'ka.target.pod.name': null } },
    { token: '%ka.target.pod.name', set: { 'responseObject/metadata/name': 'from-response' }, text: 'from-response', fields: { 'ka.target.pod.name': 'from-response' } },
    { token: '%ka.target.pod.name', set: { 'responseObject/metadata/name': 'from-response', 'objectRef/subresource': 'exec' }, text: '<NA>', fields: { 'ka.target.pod.name': null } },
    { token: '%ka.target.pod.name', set: { 'responseObject/metadata/name': 'from-response', 'objectRef/resource': 'deployments' }, text: '<NA>', fields: { 'ka.target.pod.name': null } },
    { token: '%ka.cluster.name', set: { annotations: { cluster_name: 'prod' } }, text: 'prod', fields: { 'ka.cluster.name': 'prod' } },
    { token: '%ka.cluster.name', text: '<NA>', fields: { 'ka.cluster.name': null } },
    { token: '%ka.req.pod.containers.eff_run_as_user', set: pod({ securityContext: { runAsUser: 1000 }, containers: [{ name: 'a' }, { name: 'b' }] }), text: '(0,0)', fields: { 'ka.req.pod.containers.eff_run_as_user': ['0', '0'] } },
    { token: '%ka.req.pod.containers.eff_run_as_user', set: pod({ containers: [{ runAsUser: 3 }, { securityContext: { runAsUser: 5 } }] }), text: '(3,0)', fields: { 'ka.req.pod.containers.eff_run_as_user': ['3', '0'] } },
    { token: '%ka.req.pod.containers.eff_run_as_user', set: pod({ runAsUser: 7, containers: [{}, { securityContext: { runAsUser: 5 } }] }), text: '(7,7)', fields: { 'ka.req.pod.containers.eff_run_as_user': ['7', '7'] } },
    { token: '%ka.req.pod.containers.image.repository', set: pod({ containers: [{ image: 'myreg:5000/team/app:1.2' }, { image: 'docker.io/nginx:1.25@sha256:abc' }] }), text: '(myreg,docker.io/nginx)', fields: { 'ka.req.pod.containers.image.repository': ['myreg', 'docker.io/nginx'] } },
    { token: '%ka.req.container.image', set: pod({ containers: two }), text: 'docker.io/nginx:1.25@sha256:abc', fields: { 'ka.req.container.image': 'docker.io/nginx:1.25@sha256:abc' } },
    { token: '%ka.req.pod.containers.command', set: pod({ containers: [{ command: ['sh', '-c', 'echo hi'] }] }), text: '(sh -c echo hi)', fields: { 'ka.req.pod.containers.command': ['sh -c echo hi'] } },
    { token: '%ka.req.pod.containers.image[1]', set: pod({ containers: two }), text: '(redis:7)', fields: { 'ka.req.pod.containers.image[1]': ['redis:7'] } },
    // Go compares and joins whole strings (a NUL inside included); Falco cuts the result.
    { token: '%ka.req.volume.hostpath[/etc]', set: pod({ volumes: [{ name: 'a' }, { name: 'b', hostPath: { path: '/etc\u0000x' } }] }), text: 'false', fields: { 'ka.req.volume.hostpath[/etc]': 'false' } },
    { token: '%ka.req.volume.hostpath[/etc]', set: pod({ volumes: [{ name: 'b', hostPath: { path: '/etc' } }] }), text: 'true', fields: { 'ka.req.volume.hostpath[/etc]': 'true' } },
    { token: '%ka.req.binding.subjects.user_names', set: { requestObject: { subjects: [{ kind: 'User\u0000x', name: 'bob' }, { kind: 'User', name: 'al\u0000ice' }] } }, text: '(al)', fields: { 'ka.req.binding.subjects.user_names': ['al'] } },
    { token: '%ka.req.binding.subjects.serviceaccount_ns_names', set: { requestObject: { subjects: [{ kind: 'ServiceAccount', namespace: 'ns\u0000q', name: 'sa' }] } }, text: '(ns)', fields: { 'ka.req.binding.subjects.serviceaccount_ns_names': ['ns'] } },
    // The plugin's int(ArgIndex()) makes 2^64-1 its "no index": every container.
    { token: '%ka.req.pod.containers.image[18446744073709551615]', set: pod({ containers: two }), text: '(docker.io/nginx:1.25@sha256:abc,redis:7)', fields: { 'ka.req.pod.containers.image[18446744073709551615]': ['docker.io/nginx:1.25@sha256:abc', 'redis:7'] } },
    { token: '%ka.req.pod.containers.image[18446744073709551614]', set: pod({ containers: two }), text: '<NA>', fields: { 'ka.req.pod.containers.image[18446744073709551614]': null } },
    { token: '%ka.req.binding.subject.has_name[x]', text: 'true', fields: { 'ka.req.binding.subject.has_name[x]': 'true' } },
    { token: '%ka.req.pod.volumes.volume_type', set: pod({ volumes: [{ name: 'a', hostPath: { path: '/' } }, { name: 'b', emptyDir: {} }] }), text: '(hostPath,emptyDir)', fields: { 'ka.req.pod.volumes.volume_type': ['hostPath', 'emptyDir'] } },
    { token: '%ka.req.configmap.obj', set: { 'requestObject/data': { k: 'v', n: 1 } }, text: '{"k":"v","n":1}', fields: { 'ka.req.configmap.obj': '{"k":"v","n":1}' } },
  ];

  it('renders each field as the plugin computes it', async () => {
    checkRows(rows, await renderRows(rows));
  });

  it('conditions on the quirky fields', async () => {
    const B = ev({ auditID: 'B' });
    const S = ev({ auditID: 'S', requestObject: { rules: [{ sourceIPs: ['10.0.0.1'] }] } });
    const SUB = ev({ auditID: 'SUB', 'objectRef/subresource': '' });
    const conds = [
      'ka.sourceips intersects (10.0.0.1)',
      'ka.req.pod.containers.privileged in (false)',
      'ka.req.container.privileged = false',
      'ka.target.subresource = ""',
      'not ka.target.subresource exists',
      'ka.req.pod.containers.image[0] in (nginx)',
      'ka.req.pod.containers.image[1] exists',
      'ka.req.binding.subject.has_name[anything] = true',
    ];
    const { fired } = await firesOn(conds, [B, S, SUB]);
    expect(fired).toEqual([['S'], [], ['B', 'SUB'], ['SUB'], ['B', 'S'], ['B', 'SUB'], [], ['B', 'S', 'SUB']]);
  });

  it('ka.req.pod.containers.image[1] is still a list field: = is Falco\'s list-filter error (rules check --strict)', async () => {
    const f = join(tempDir(), 'r.yaml');
    writeFileSync(f, ruleYaml({ name: 'R', condition: 'ka.req.pod.containers.image[1] = redis:7' }));
    const r = await runCli(['rules', 'check', '--strict', f]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("filter error: '=' operator not supported list filters");
  });
});
