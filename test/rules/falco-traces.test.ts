// Falco's own k8s-audit regression traces (real apiserver output, 2018-2019 clusters)
// through the bundled rules. Pods that the replicaset controller creates from a template
// are deliberately not re-checked: their template is checked when a person writes the
// Deployment, so the traces of privileged/host-mount pods stay quiet here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONFORMANCE } from '../conformance-lib.js';
import { scan } from './audit.js';

const TRACES = join(CONFORMANCE, 'traces');

const EXPECT: Record<string, string[]> = {
  'anonymous_creates_namespace_foo.json': ['Anonymous Request Allowed'],
  'attach_cluster_admin_role.json': ['Binding To Privileged Cluster Role'],
  'attach_pod.json': ['Pod Exec Or Attach'],
  'exec_pod.json': ['Pod Exec Or Attach'],
  'create_cluster_role_pod_exec.json': ['Role Grants Secrets Or Pod Exec'],
  'create_cluster_role_wildcard_resources.json': ['Role With Wildcard Permissions'],
  'create_cluster_role_wildcard_verbs.json': ['Role With Wildcard Permissions'],
  'create_configmap_sensitive_values.json': ['ConfigMap With Credentials Written'],
  'create_configmap_no_sensitive_values.json': [],
  'create_serviceaccount_kube_system_namespace.json': ['Service Account Created In System Namespace'],
  'create_serviceaccount_kube_public_namespace.json': ['Service Account Created In System Namespace'],
  'create_serviceaccount.json': [],
  'delete_cluster_role_kube_aggregator.json': ['System RBAC Object Modified'],
  'modify_cluster_role_node_problem_detector.json': ['System RBAC Object Modified'],
  'delete_namespace_foo.json': ['Namespace Deleted'],
  'create_deployment.json': [],
  'create_nginx_pod_privileged.json': [],
  'create_nginx_pod_sensitive_mount.json': [],
  'create_nginx_pod_hostnetwork.json': [],
  'create_service_account_token_secret.json': [],
  'minikube_creates_namespace_foo.json': [],
  'some-user_creates_namespace_foo.json': [],
};

// One scan over every trace; some traces share audit IDs, so each event's ID gets the
// trace's index as a prefix to attribute alerts.
function tagged(text: string, tag: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let doc: unknown;
    try { doc = JSON.parse(line); } catch { out.push(line); continue; }
    const d = doc as { items?: Array<{ auditID?: string }>; auditID?: string };
    for (const e of d.items ?? [d]) if (e.auditID) e.auditID = `${tag}-${e.auditID}`;
    out.push(JSON.stringify(d));
  }
  return out.join('\n');
}

describe("Falco's k8s-audit traces through the bundled rules", () => {
  const fired = new Map<string, Set<string>>();
  beforeAll(() => {
    const traces = Object.keys(EXPECT);
    const input = traces.map((t, i) => tagged(readFileSync(join(TRACES, t), 'utf8'), `t${i}`)).join('\n') + '\n';
    for (const t of traces) fired.set(t, new Set());
    const r = scan(input, { matching: 'all' });
    expect(r.status, r.stderr).toBe(0);
    for (const a of r.alerts) {
      const i = Number(/^t(\d+)-/.exec(String(a.output_fields['ka.auditid']))?.[1]);
      fired.get(traces[i])!.add(a.rule);
    }
  });
  for (const [trace, rules] of Object.entries(EXPECT)) {
    it(`${trace} → ${rules.length ? rules.join(', ') : 'no alert'}`, () => {
      expect([...fired.get(trace)!].sort()).toEqual([...rules].sort());
    });
  }
});
