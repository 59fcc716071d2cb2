// Deterministic generator of a healthy cluster's audit stream: control plane, kubelets,
// scheduler, managed-cloud components (EKS, GKE, AKS, OpenShift, Exoscale SKS, OVH MKS,
// kubeadm), well-known operators, application service accounts, health probes, leader
// election, and people reading (plus a few routine, harmless writes).
//
// Used by healthy-cluster.test.ts; set PEREGRINE_HEALTHY_KEEP=<path> there to keep the stream.
import { closeSync, openSync, writeSync } from 'node:fs';
import { type Actor, type EventSpec, anonymous, auditEvent, component, goJson, node, person, resetIds, sa } from './audit.js';
import {
  configMap, container, cronJob, csr, hostPathVolume, job, pod, podSpec, role, safeContainer, workload, type Obj,
} from './objects.js';
import { rng } from '../rng.js';

type Flavor = 'eks' | 'gke' | 'aks' | 'openshift' | 'sks' | 'mks' | 'kubeadm';
const FLAVORS: Flavor[] = ['eks', 'gke', 'aks', 'openshift', 'sks', 'mks', 'kubeadm'];

const APP_NAMESPACES = ['team-a', 'team-b', 'payments', 'web', 'data'];
const KCM_UA = 'kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46';
const KUBELET_UA = 'kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46';

interface Ctx {
  r: () => number;
  flavor: Flavor;
  cluster: string;
  nodes: string[];
  out: Array<Record<string, unknown>>;
}

let ids = 0;

const pick = <T>(c: Ctx, a: readonly T[]): T => a[Math.floor(c.r() * a.length)];
const chance = (c: Ctx, p: number): boolean => c.r() < p;
const suffix = (c: Ctx, n = 5): string => {
  const abc = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0; i < n; i++) s += abc[Math.floor(c.r() * abc.length)];
  return s;
};

function emit(c: Ctx, s: EventSpec): void {
  // audit IDs of their own, distinct from those of hand-written test events
  const auditID = s.auditID ?? `c0ffee00-4a5b-4c6d-8e7f-${(++ids).toString(16).padStart(12, '0')}`;
  c.out.push(auditEvent({ cluster: c.cluster, sourceIP: s.sourceIP ?? `10.0.${Math.floor(c.r() * 4)}.${10 + Math.floor(c.r() * 200)}`, ...s, auditID }));
}

/** A watch is recorded twice: when the stream starts and when it ends. */
function watch(c: Ctx, s: EventSpec): void {
  const auditID = `c0ffee00-4a5b-4c6d-9e7f-${(++ids).toString(16).padStart(12, '0')}`;
  emit(c, { ...s, verb: 'watch', stage: 'ResponseStarted', code: 200, auditID });
  emit(c, { ...s, verb: 'watch', stage: 'ResponseComplete', code: 200, auditID });
}

const kss = (name: string): Actor => sa('kube-system', name);

// ---------------------------------------------------------------- platform identities
function nodeNames(flavor: Flavor): string[] {
  const n = (f: (i: number) => string) => Array.from({ length: 12 }, (_, i) => f(i));
  switch (flavor) {
    case 'eks': return n((i) => `ip-10-0-${i}-${20 + i}.eu-west-1.compute.internal`);
    case 'gke': return n((i) => `gke-prod-default-pool-3f2a9c1e-${i}x7q`);
    case 'aks': return n((i) => `aks-nodepool1-31718369-vmss00000${i}`);
    case 'openshift': return n((i) => (i < 3 ? `master-${i}.ocp.example.com` : `worker-${i}.ocp.example.com`));
    case 'sks': return n((i) => `pool-8a1b2-${i}ynzq`);
    case 'mks': return n((i) => `nodepool-b4c2-node-${i}a9e1f`);
    default: return n((i) => (i === 0 ? 'cp-1' : `worker-${i}`));
  }
}

/** Controller-manager style component identity (leases, generic writes). */
function controlPlaneUser(c: Ctx): Actor {
  const common = [component('system:kube-controller-manager'), component('system:kube-scheduler'), component('system:apiserver', 'system:masters')];
  const extra: Record<Flavor, Actor[]> = {
    eks: [component('eks:cloud-controller-manager'), component('eks:node-manager'), component('eks:vpc-resource-controller'), component('eks:k8s-metrics'), component('eks:cluster-event-watcher')],
    gke: [component('system:gcp-controller-manager'), component('system:addon-manager'), component('system:clustermetrics'), component('system:l7-lb-controller'), component('system:managed-certificate-controller'), component('system:resource-tracker'), component('system:cluster-autoscaler')],
    aks: [component('aksService'), component('masterclient'), kss('cloud-node-manager'), kss('konnectivity-agent')],
    openshift: [sa('openshift-kube-apiserver-operator', 'kube-apiserver-operator'), sa('openshift-monitoring', 'prometheus-operator'), sa('openshift-machine-config-operator', 'machine-config-daemon'), sa('openshift-authentication-operator', 'authentication-operator'), sa('openshift-infra', 'build-controller')],
    sks: [kss('exoscale-cloud-controller-manager'), kss('exoscale-csi-controller'), kss('konnectivity-agent')],
    mks: [kss('cloud-controller-manager'), kss('csi-cinder-controller-sa'), kss('konnectivity-agent')],
    kubeadm: [component('system:kube-proxy'), kss('kube-proxy')],
  };
  return pick(c, [...common, ...extra[c.flavor]]);
}

// ---------------------------------------------------------------- pod specs
function appPodSpec(c: Ctx, app: string): Obj {
  const restricted = chance(c, 0.6);
  const image = pick(c, ['nginx:1.27', `registry.example.com/${app}:1.${Math.floor(c.r() * 40)}.0`, 'redis:7.4', 'postgres:16', 'ghcr.io/example/api:2024.10']);
  const main = restricted ? safeContainer(app, image, { ports: [{ containerPort: 8080, protocol: 'TCP' }] }) : container(app, image, { ports: [{ containerPort: 80, protocol: 'TCP' }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 } }, livenessProbe: { exec: { command: ['sh', '-c', 'curl -fsS http://localhost:8080/healthz | grep -q ok'] } } });
  const spec = podSpec([main], {
    serviceAccountName: app,
    volumes: [
      { name: 'kube-api-access-' + suffix(c), projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }], defaultMode: 420 } },
      { name: 'config', configMap: { name: `${app}-config` } },
      ...(chance(c, 0.2) ? [{ name: 'tmp', emptyDir: { medium: 'Memory' } }] : []),
    ],
    ...(restricted ? { securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } } } : {}),
  });
  if (chance(c, 0.15)) (spec as { initContainers?: Obj[] }).initContainers = [container('wait-db', 'busybox:1.36', { command: ['sh', '-c', 'until nc -z db 5432; do echo waiting; sleep 2; done'] })];
  return spec;
}

/** Node agents the platform runs as DaemonSets: privileged, host network, host paths. */
function systemAgentSpec(c: Ctx): { name: string; ns: string; spec: Obj } {
  const agents: Record<Flavor, Array<[string, string]>> = {
    eks: [['aws-node', '602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.18.5'], ['kube-proxy', '602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/kube-proxy:v1.31.2'], ['ebs-csi-node', 'public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.35.0']],
    gke: [['kube-proxy', 'gke.gcr.io/kube-proxy-amd64:v1.31.2-gke.1'], ['netd', 'gke.gcr.io/netd:v0.5.1'], ['pdcsi-node', 'gke.gcr.io/gcp-compute-persistent-disk-csi-driver:v1.13.2']],
    aks: [['kube-proxy', 'mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.31.2'], ['csi-azuredisk-node', 'mcr.microsoft.com/oss/kubernetes-csi/azuredisk-csi:v1.30.4'], ['cloud-node-manager', 'mcr.microsoft.com/oss/kubernetes/azure-cloud-node-manager:v1.31.1']],
    openshift: [['machine-config-daemon', 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:1a2b'], ['ovnkube-node', 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:3c4d']],
    sks: [['cilium', 'quay.io/cilium/cilium:v1.16.3'], ['exoscale-csi-node', 'exoscale/csi-driver:0.31.1']],
    mks: [['canal', 'docker.io/calico/node:v3.28.2'], ['csi-cinder-nodeplugin', 'registry.k8s.io/provider-os/cinder-csi-plugin:v1.31.1']],
    kubeadm: [['kube-proxy', 'registry.k8s.io/kube-proxy:v1.31.2'], ['calico-node', 'docker.io/calico/node:v3.28.2']],
  };
  const [name, image] = pick(c, agents[c.flavor]);
  const ns = c.flavor === 'openshift' ? (name === 'ovnkube-node' ? 'openshift-ovn-kubernetes' : 'openshift-machine-config-operator') : 'kube-system';
  const spec = podSpec([container(name, image, {
    securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN', 'SYS_ADMIN'] } },
    volumeMounts: [{ name: 'lib-modules', mountPath: '/lib/modules', readOnly: true }, { name: 'xtables-lock', mountPath: '/run/xtables.lock' }],
  })], {
    hostNetwork: true, hostPID: name === 'machine-config-daemon', priorityClassName: 'system-node-critical',
    volumes: [hostPathVolume('lib-modules', '/lib/modules', ''), hostPathVolume('xtables-lock', '/run/xtables.lock', 'FileOrCreate'), hostPathVolume('kubelet-dir', '/var/lib/kubelet', 'Directory'), hostPathVolume('host-root', '/', 'Directory')],
  });
  return { name, ns, spec };
}

// ---------------------------------------------------------------- scenarios
type Scenario = [weight: number, run: (c: Ctx) => void];

const scenarios: Scenario[] = [
  // node heartbeats
  [18, (c) => {
    const n = pick(c, c.nodes);
    emit(c, { verb: pick(c, ['update', 'get']), user: node(n), resource: 'leases', namespace: 'kube-node-lease', name: n, userAgent: KUBELET_UA });
  }],
  // leader election of control-plane components, cloud controllers and operators
  [10, (c) => {
    const [user, ns, name] = pick(c, [
      [component('system:kube-controller-manager'), 'kube-system', 'kube-controller-manager'],
      [component('system:kube-scheduler'), 'kube-system', 'kube-scheduler'],
      [component('system:apiserver', 'system:masters'), 'kube-system', `apiserver-${suffix(c, 26)}`],
      [kss('cloud-controller-manager'), 'kube-system', 'cloud-controller-manager'],
      [sa('cert-manager', 'cert-manager'), 'kube-system', 'cert-manager-controller'],
      [sa('cert-manager', 'cert-manager-cainjector'), 'kube-system', 'cert-manager-cainjector-leader-election'],
      [sa('ingress-nginx', 'ingress-nginx'), 'ingress-nginx', 'ingress-nginx-leader'],
      [sa('argocd', 'argocd-application-controller'), 'argocd', 'argocd-application-controller'],
      [sa('team-a', 'app'), 'team-a', 'app-leader'],
      [controlPlaneUser(c), 'kube-system', 'cloud-provider-extraction-migration'],
    ] as Array<[Actor, string, string]>);
    emit(c, { verb: pick(c, ['get', 'update']), user, resource: 'leases', namespace: ns, name, userAgent: `leader-election/${user.username.split(':').pop()}` });
  }],
  // kubelet reads and status updates
  [14, (c) => {
    const n = pick(c, c.nodes);
    const u = node(n);
    const ns = pick(c, [...APP_NAMESPACES, 'kube-system']);
    const kind = Math.floor(c.r() * 9);
    if (kind === 0) watch(c, { verb: 'watch', user: u, resource: 'pods', query: `fieldSelector=spec.nodeName%3D${n}&resourceVersion=88213&timeoutSeconds=412&watch=true`, userAgent: KUBELET_UA });
    else if (kind === 1) emit(c, { verb: 'patch', user: u, resource: 'nodes', subresource: 'status', name: n, userAgent: KUBELET_UA });
    else if (kind === 2) emit(c, { verb: 'patch', user: u, resource: 'pods', subresource: 'status', namespace: ns, name: `web-${suffix(c)}`, userAgent: KUBELET_UA });
    else if (kind === 3) emit(c, { verb: 'get', user: u, resource: pick(c, ['configmaps', 'secrets']), namespace: ns, name: pick(c, ['app-config', 'kube-root-ca.crt', 'db-credentials', 'web-tls']), userAgent: KUBELET_UA });
    else if (kind === 4) emit(c, { verb: 'create', user: u, resource: 'serviceaccounts', subresource: 'token', namespace: ns, name: pick(c, ['app', 'default', 'web', 'kube-proxy', 'coredns']), userAgent: KUBELET_UA });
    else if (kind === 5) emit(c, { verb: 'create', user: u, resource: 'events', namespace: ns, userAgent: KUBELET_UA });
    else if (kind === 6) emit(c, { verb: 'get', user: u, resource: 'nodes', name: n, userAgent: KUBELET_UA });
    else if (kind === 7) emit(c, { verb: 'create', user: u, resource: 'tokenreviews', level: 'Request', userAgent: KUBELET_UA, requestObject: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: '' } } });
    else {
      // the kubelet authorizing the apiserver's exec/logs relay and metrics scrapes
      const [user, sub] = pick(c, [['kube-apiserver-kubelet-client', 'proxy'], [c.flavor === 'aks' ? 'masterclient' : c.flavor === 'openshift' ? 'system:openshift-node-admin' : 'kube-apiserver-kubelet-client', 'proxy'], ['system:serviceaccount:kube-system:metrics-server', 'metrics'], ['system:serviceaccount:monitoring:prometheus', 'metrics'], ['system:serviceaccount:monitoring:prometheus', 'stats']] as Array<[string, string]>);
      emit(c, { verb: 'create', user: u, resource: 'subjectaccessreviews', level: 'Request', userAgent: KUBELET_UA, requestObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec: { resourceAttributes: { verb: 'get', resource: 'nodes', subresource: sub, name: n }, user, groups: ['system:authenticated'] }, status: { allowed: false } } });
    }
  }],
  // kubelet certificates: rotation by nodes, bootstrap joins, platform approvers
  [1, (c) => {
    const n = pick(c, c.nodes);
    const name = `csr-${suffix(c)}`;
    const joiner = c.flavor === 'gke' ? component('kubelet') : c.flavor === 'aks' ? component('kubelet-nodepool-bootstrap') : component(`system:bootstrap:${suffix(c, 6)}`, 'system:bootstrappers');
    if (chance(c, 0.6)) emit(c, { verb: 'create', user: node(n), resource: 'certificatesigningrequests', name, level: 'Request', userAgent: KUBELET_UA, requestObject: csr(name, 'kubernetes.io/kubelet-serving', ['digital signature', 'server auth']) });
    else emit(c, { verb: 'create', user: joiner, resource: 'certificatesigningrequests', name: `node-${name}`, level: 'Request', userAgent: KUBELET_UA, requestObject: csr(name, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'client auth']) });
    const approver = c.flavor === 'eks' ? component('eks:certificate-controller') : c.flavor === 'gke' ? component('system:gcp-controller-manager') : kss('certificate-controller');
    emit(c, { verb: 'update', user: approver, resource: 'certificatesigningrequests', subresource: 'approval', name, userAgent: KCM_UA });
  }],
  // built-in controllers creating pods from templates (full spec recorded)
  [5, (c) => {
    if (chance(c, 0.25)) {
      const a = systemAgentSpec(c);
      emit(c, { verb: 'create', user: kss('daemon-set-controller'), resource: 'pods', namespace: a.ns, level: 'RequestResponse', userAgent: KCM_UA, requestObject: pod('', a.ns, a.spec, { generateName: `${a.name}-` }), responseObject: pod(`${a.name}-${suffix(c)}`, a.ns, a.spec) });
      return;
    }
    const ns = pick(c, APP_NAMESPACES);
    const app = pick(c, ['web', 'api', 'worker', 'app']);
    const ctl = pick(c, ['replicaset-controller', 'statefulset-controller', 'job-controller']);
    const spec = ctl === 'job-controller' ? podSpec([container('migrate', 'registry.example.com/migrate:7', { command: ['/bin/sh', '-c', 'migrate -path /migrations -database "$DB_URL" up && echo done'] })], { restartPolicy: 'Never' }) : appPodSpec(c, app);
    emit(c, { verb: 'create', user: kss(ctl), resource: 'pods', namespace: ns, level: 'RequestResponse', userAgent: `${KCM_UA}/system:serviceaccount:kube-system:${ctl}`, requestObject: pod('', ns, spec, { generateName: `${app}-` }), responseObject: pod(`${app}-${suffix(c)}`, ns, spec) });
  }],
  // other controller traffic
  [12, (c) => {
    const ns = pick(c, [...APP_NAMESPACES, 'kube-system', 'monitoring']);
    const k = Math.floor(c.r() * 14);
    const ua = KCM_UA;
    if (k === 0) emit(c, { verb: 'update', user: kss('endpointslice-controller'), resource: 'endpointslices', namespace: ns, name: `web-${suffix(c)}`, userAgent: ua });
    else if (k === 1) emit(c, { verb: 'update', user: kss('deployment-controller'), resource: 'deployments', subresource: 'status', namespace: ns, name: 'web', userAgent: ua });
    else if (k === 2) emit(c, { verb: 'create', user: kss('deployment-controller'), resource: 'replicasets', namespace: ns, level: 'RequestResponse', userAgent: ua, requestObject: workload('ReplicaSet', `web-${suffix(c, 9)}`, ns, appPodSpec(c, 'web')), responseObject: { kind: 'ReplicaSet', metadata: { name: 'web-x' } } });
    else if (k === 3) emit(c, { verb: 'delete', user: kss('generic-garbage-collector'), resource: pick(c, ['pods', 'replicasets', 'controllerrevisions']), namespace: ns, name: `web-${suffix(c)}`, userAgent: ua });
    else if (k === 4) emit(c, { verb: 'create', user: kss('cronjob-controller'), resource: 'jobs', namespace: ns, level: 'RequestResponse', userAgent: ua, requestObject: job(`report-${Math.floor(c.r() * 1e8)}`, ns, podSpec([container('report', 'registry.example.com/report:3', { command: ['/app/report', '--since=24h'] })])), responseObject: { kind: 'Job', metadata: { name: 'report-1' } } });
    else if (k === 5) emit(c, { verb: 'update', user: kss('clusterrole-aggregation-controller'), resource: 'clusterroles', name: pick(c, ['admin', 'edit', 'view', 'system:aggregate-to-edit']), level: 'Request', userAgent: ua, requestObject: role('ClusterRole', 'admin', undefined, [{ apiGroups: [''], resources: ['pods', 'pods/exec', 'pods/attach', 'secrets', 'serviceaccounts/token'], verbs: ['*'] }, { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['create', 'delete', 'bind', 'escalate'] }]) });
    else if (k === 6) emit(c, { verb: 'create', user: kss('root-ca-cert-publisher'), resource: 'configmaps', namespace: ns, name: 'kube-root-ca.crt', level: 'Request', userAgent: ua, requestObject: configMap('kube-root-ca.crt', ns, { 'ca.crt': '-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n-----END CERTIFICATE-----\n' }) });
    else if (k === 7) emit(c, { verb: 'deletecollection', user: kss('namespace-controller'), resource: pick(c, ['pods', 'configmaps', 'secrets', 'events', 'serviceaccounts']), namespace: `pr-${1000 + Math.floor(c.r() * 500)}`, userAgent: ua });
    else if (k === 8) emit(c, { verb: 'create', user: kss('service-account-controller'), resource: 'serviceaccounts', namespace: ns, name: 'default', userAgent: ua });
    else if (k === 9) emit(c, { verb: 'delete', user: kss('token-cleaner'), resource: 'secrets', namespace: 'kube-system', name: `bootstrap-token-${suffix(c, 6)}`, userAgent: ua });
    else if (k === 10) emit(c, { verb: 'patch', user: kss('node-controller'), resource: 'nodes', name: pick(c, c.nodes), userAgent: ua });
    else if (k === 11) emit(c, { verb: 'create', user: component('system:kube-scheduler'), resource: 'pods', subresource: 'binding', namespace: ns, name: `web-${suffix(c)}`, userAgent: 'kube-scheduler/v1.31.2 (linux/amd64) kubernetes/5864a46/scheduler' });
    else if (k === 12) emit(c, { verb: 'create', user: kss(pick(c, ['cluster-autoscaler', 'disruption-controller'])), resource: 'pods', subresource: 'eviction', namespace: ns, name: `web-${suffix(c)}`, userAgent: ua });
    else watch(c, { verb: 'watch', user: component('system:kube-controller-manager'), resource: pick(c, ['pods', 'secrets', 'configmaps', 'serviceaccounts', 'nodes', 'clusterroles']), userAgent: ua });
  }],
  // managed-cloud and distribution components
  [8, (c) => {
    const f = c.flavor;
    const r = Math.floor(c.r() * 6);
    if (f === 'eks') {
      if (r === 0) emit(c, { verb: 'patch', user: component('eks:addon-manager'), resource: 'daemonsets', namespace: 'kube-system', name: 'aws-node', level: 'Request', userAgent: 'eks-addon-manager/v1', requestObject: { spec: { template: { spec: systemAgentSpec(c).spec } } } });
      else if (r === 1) emit(c, { verb: 'get', user: component('eks:node-manager'), resource: 'configmaps', namespace: 'kube-system', name: 'aws-auth' });
      else if (r === 2) emit(c, { verb: 'list', user: component('eks:k8s-metrics'), resource: pick(c, ['pods', 'nodes', 'secrets']) });
      else if (r === 3) emit(c, { verb: 'create', user: component('eks:pod-identity-mutating-webhook'), resource: 'tokenreviews' });
      else if (r === 4) emit(c, { verb: 'get', user: kss('aws-load-balancer-controller'), resource: 'secrets', namespace: 'kube-system', name: 'aws-load-balancer-tls' });
      else emit(c, { verb: 'patch', user: component('eks:vpc-resource-controller'), resource: 'nodes', name: pick(c, c.nodes) });
    } else if (f === 'gke') {
      if (r === 0) emit(c, { verb: 'patch', user: component('system:addon-manager'), resource: 'daemonsets', namespace: 'kube-system', name: 'kube-proxy', level: 'Request', userAgent: 'kubectl/v1.31.2', requestObject: { spec: { template: { spec: systemAgentSpec(c).spec } } } });
      else if (r === 1) emit(c, { verb: 'list', user: component('system:clustermetrics'), resource: pick(c, ['pods', 'nodes', 'secrets']) });
      else if (r === 2) emit(c, { verb: 'update', user: component('system:l7-lb-controller'), resource: 'ingresses', subresource: 'status', namespace: pick(c, APP_NAMESPACES), name: 'web' });
      else if (r === 3) emit(c, { verb: 'list', user: sa('gke-managed-system', 'gke-metrics-agent'), resource: 'pods' });
      else if (r === 4) emit(c, { verb: 'get', user: sa('gmp-system', 'collector'), resource: 'secrets', namespace: 'gmp-public', name: 'webhook-tls' });
      else emit(c, { verb: 'update', user: component('system:managed-certificate-controller'), resource: 'clusterroles', name: 'system:managed-certificate-controller' });
    } else if (f === 'aks') {
      if (r === 0) emit(c, { verb: 'patch', user: component('aksService'), resource: 'deployments', namespace: 'kube-system', name: 'coredns', level: 'Request', requestObject: { spec: { template: { spec: { containers: [{ name: 'coredns', image: 'mcr.microsoft.com/oss/kubernetes/coredns:v1.11.3-2' }] } } } } });
      else if (r === 1) emit(c, { verb: 'get', user: component('masterclient'), resource: 'configmaps', namespace: 'kube-system', name: 'extension-apiserver-authentication' });
      else if (r === 2) emit(c, { verb: 'list', user: kss('csi-azurefile-node-sa'), resource: 'persistentvolumes' });
      else if (r === 3) emit(c, { verb: 'patch', user: sa('gatekeeper-system', 'gatekeeper-admin'), resource: 'validatingwebhookconfigurations', name: 'gatekeeper-validating-webhook-configuration' });
      else if (r === 4) {
        if (chance(c, 0.5)) emit(c, { verb: 'get', user: component('nodeclient'), resource: 'nodes', name: pick(c, c.nodes) });
        // AKS network policy: the tigera operator reconciling calico-node
        else emit(c, { verb: 'update', user: sa('tigera-operator', 'tigera-operator'), resource: 'daemonsets', namespace: 'calico-system', name: 'calico-node', level: 'Request', userAgent: 'operator/v1.34.5', requestObject: workload('DaemonSet', 'calico-node', 'calico-system', podSpec([container('calico-node', 'mcr.microsoft.com/oss/calico/node:v3.28.2', { securityContext: { privileged: true } })], { hostNetwork: true, volumes: [hostPathVolume('var-run-calico', '/var/run/calico'), hostPathVolume('lib-modules', '/lib/modules')] })) });
      }
      else emit(c, { verb: 'update', user: component('aksService'), resource: 'configmaps', namespace: 'kube-system', name: 'coredns-custom' });
    } else if (f === 'openshift') {
      const op = pick(c, [sa('openshift-kube-apiserver-operator', 'kube-apiserver-operator'), sa('openshift-authentication-operator', 'authentication-operator'), sa('openshift-monitoring', 'prometheus-operator')]);
      if (r === 0) {
        // static-pod installer pods created by the apiserver operator
        const spec = podSpec([container('installer', 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:9f8e', { command: ['cluster-kube-apiserver-operator', 'installer'], securityContext: { privileged: true, runAsUser: 0 } })], { volumes: [hostPathVolume('kubelet-dir', '/etc/kubernetes/'), hostPathVolume('manifests', '/etc/kubernetes/manifests')] });
        emit(c, { verb: 'create', user: sa('openshift-kube-apiserver-operator', 'kube-apiserver-operator'), resource: 'pods', namespace: 'openshift-kube-apiserver', name: `installer-${Math.floor(c.r() * 30)}-master-0`, level: 'RequestResponse', requestObject: pod('installer-12-master-0', 'openshift-kube-apiserver', spec), responseObject: pod('installer-12-master-0', 'openshift-kube-apiserver', spec) });
      } else if (r === 1) watch(c, { verb: 'watch', user: sa('openshift-monitoring', 'prometheus-operator'), resource: 'secrets' });
      else if (r === 2) emit(c, { verb: 'update', user: op, resource: 'secrets', namespace: 'openshift-config-managed', name: 'kube-apiserver-client-ca' });
      else if (r === 3) emit(c, { verb: 'update', user: sa('openshift-kube-apiserver-operator', 'kube-apiserver-operator'), resource: 'apiservers', name: 'cluster', subresource: 'status' });
      else if (r === 4) emit(c, { verb: 'create', user: sa('openshift-machine-config-operator', 'machine-config-daemon'), resource: 'pods', subresource: 'eviction', namespace: pick(c, APP_NAMESPACES), name: `web-${suffix(c)}` });
      else emit(c, { verb: 'patch', user: sa('openshift-cluster-version', 'default'), resource: 'clusterroles', name: 'system:openshift:scc:privileged' });
    } else if (f === 'sks') {
      if (r < 3) emit(c, { verb: pick(c, ['get', 'patch']), user: kss('exoscale-cloud-controller-manager'), resource: pick(c, ['nodes', 'services']), namespace: r === 1 ? 'web' : undefined, name: pick(c, c.nodes) });
      else emit(c, { verb: 'list', user: kss('exoscale-csi-controller'), resource: pick(c, ['persistentvolumes', 'volumeattachments']) });
    } else if (f === 'mks') {
      if (r < 3) emit(c, { verb: pick(c, ['get', 'update']), user: kss('cloud-controller-manager'), resource: pick(c, ['nodes', 'services']), name: pick(c, c.nodes) });
      else emit(c, { verb: 'create', user: kss('csi-cinder-controller-sa'), resource: 'volumeattachments', name: `csi-${suffix(c, 12)}` });
    } else {
      if (r < 3) emit(c, { verb: 'list', user: component('system:kube-proxy'), resource: pick(c, ['services', 'endpointslices', 'nodes']) });
      else emit(c, { verb: 'update', user: kss('bootstrap-signer'), resource: 'configmaps', namespace: 'kube-public', name: 'cluster-info' });
    }
  }],
  // health and discovery probes
  [6, (c) => {
    const uri = pick(c, ['/healthz', '/livez', '/readyz', '/readyz?verbose', '/livez?exclude=etcd', '/version', '/version?timeout=32s', '/readyz/shutdown', '/.well-known/openid-configuration', '/openid/v1/jwks']);
    const ua = pick(c, ['kube-probe/1.31', 'ELB-HealthChecker/2.0', 'GoogleHC/1.0', 'Go-http-client/2.0', 'kubectl/v1.31.2']);
    if (chance(c, 0.8)) emit(c, { verb: 'get', user: anonymous, uri, userAgent: ua, reason: 'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"' });
    else emit(c, { verb: 'get', user: pick(c, [node(pick(c, c.nodes)), sa('monitoring', 'prometheus'), controlPlaneUser(c)]), uri: pick(c, ['/healthz', '/metrics', '/api', '/apis', '/openapi/v2']), userAgent: ua });
  }],
  // people reading
  [9, (c) => {
    const who = pick(c, [
      person('alice@example.com', 'devs'), person('bob@example.com', 'sre'), person('kubernetes-admin', 'system:masters'),
      person('arn:aws:sts::123456789012:assumed-role/DevRole/carol', 'devs'), person('dave@corp.example'), person('5d6e7f80-1a2b-4c3d-9e8f-0123456789ab', 'aad:developers'),
      person('system:admin', 'system:masters'), person('kube:admin', 'system:cluster-admins'),
    ]);
    const ns = pick(c, APP_NAMESPACES);
    const k = Math.floor(c.r() * 12);
    const ua = 'kubectl/v1.31.2 (darwin/arm64) kubernetes/5864a46';
    if (k < 4) emit(c, { verb: pick(c, ['get', 'list']), user: who, resource: pick(c, ['pods', 'deployments', 'services', 'events', 'configmaps', 'ingresses', 'replicasets', 'jobs', 'cronjobs', 'persistentvolumeclaims']), namespace: ns, name: chance(c, 0.5) ? `web-${suffix(c)}` : undefined, userAgent: ua });
    else if (k === 4) emit(c, { verb: 'list', user: who, resource: pick(c, ['pods', 'nodes', 'namespaces', 'deployments', 'services']), userAgent: ua });
    else if (k === 5) emit(c, { verb: 'get', user: who, resource: 'pods', subresource: 'log', namespace: ns, name: `web-${suffix(c)}`, query: 'container=web&tailLines=100', userAgent: ua });
    else if (k === 6) watch(c, { verb: 'watch', user: who, resource: 'pods', namespace: ns, userAgent: ua });
    else if (k === 7) {
      if (chance(c, 0.7)) emit(c, { verb: pick(c, ['get', 'list']), user: who, resource: 'secrets', namespace: ns, name: chance(c, 0.5) ? 'db-credentials' : undefined, userAgent: ua });
      else emit(c, { verb: 'list', user: who, resource: 'secrets', query: pick(c, ['labelSelector=owner%3Dhelm', 'labelSelector=name%3Dweb%2Cowner%3Dhelm']), userAgent: 'Helm/3.16.2' }); // helm list -A
    }
    else if (k === 8) emit(c, { verb: 'create', user: who, resource: pick(c, ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']), userAgent: ua });
    else if (k === 9) emit(c, { verb: 'list', user: who, resource: pick(c, ['pods', 'nodes']), apiGroup: 'metrics.k8s.io', apiVersion: 'v1beta1', namespace: ns, userAgent: ua });
    else if (k === 10) emit(c, { verb: 'get', user: who, uri: pick(c, ['/api', '/apis', '/openapi/v3', '/api/v1?timeout=32s']), userAgent: ua });
    else emit(c, { verb: 'get', user: who, resource: pick(c, ['clusterroles', 'clusterrolebindings', 'nodes', 'namespaces', 'mutatingwebhookconfigurations']), name: 'x', userAgent: ua });
  }],
  // routine, harmless writes by people
  [1, (c) => {
    const who = pick(c, [person('alice@example.com', 'devs'), person('bob@example.com', 'sre')]);
    const ns = pick(c, APP_NAMESPACES);
    const k = Math.floor(c.r() * 5);
    if (k === 0) emit(c, { verb: 'patch', user: who, resource: 'deployments', subresource: 'scale', namespace: ns, name: 'web', level: 'Request', requestObject: { spec: { replicas: 1 + Math.floor(c.r() * 5) } } });
    else if (k === 1) emit(c, { verb: 'patch', user: who, resource: 'deployments', namespace: ns, name: 'web', level: 'Request', requestObject: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-10-23T17:00:00Z' } } } } } });
    else if (k === 2) emit(c, { verb: 'delete', user: who, resource: 'pods', namespace: ns, name: `web-${suffix(c)}` });
    else if (k === 3) emit(c, { verb: 'patch', user: who, resource: 'configmaps', namespace: ns, name: 'web-config', level: 'Request', requestObject: configMap('web-config', ns, { LOG_LEVEL: 'info', password_min_length: '12', DB_PASSWORD: '${DB_PASSWORD}' }) });
    else emit(c, { verb: 'patch', user: who, resource: 'namespaces', name: ns, level: 'Request', requestObject: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/audit': 'restricted' } } } });
  }],
  // operators with cluster-wide reach
  [9, (c) => {
    const ns = pick(c, APP_NAMESPACES);
    const k = Math.floor(c.r() * 12);
    if (k === 0) watch(c, { verb: 'watch', user: sa('cert-manager', 'cert-manager'), resource: 'secrets', userAgent: 'cert-manager-controller/v1.15.3' });
    else if (k === 1) emit(c, { verb: pick(c, ['get', 'update', 'create']), user: sa('cert-manager', 'cert-manager'), resource: 'secrets', namespace: ns, name: 'web-tls', userAgent: 'cert-manager-controller/v1.15.3' });
    else if (k === 2) emit(c, { verb: 'patch', user: sa('cert-manager', 'cert-manager-cainjector'), resource: pick(c, ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']), name: 'cert-manager-webhook', userAgent: 'cainjector/v1.15.3' });
    else if (k === 3) emit(c, { verb: 'list', user: sa('ingress-nginx', 'ingress-nginx'), resource: pick(c, ['secrets', 'ingresses', 'services', 'endpointslices']), userAgent: 'nginx-ingress-controller/v1.11.3' });
    else if (k === 4) watch(c, { verb: 'watch', user: sa('argocd', 'argocd-application-controller'), resource: pick(c, ['secrets', 'deployments', 'configmaps', 'services']), userAgent: 'argocd-application-controller/v2.12.4' });
    else if (k === 5) {
      // GitOps sync of an application deployment (image bump)
      emit(c, { verb: 'patch', user: sa('argocd', 'argocd-application-controller'), resource: 'deployments', namespace: ns, name: 'web', level: 'Request', userAgent: 'argocd-application-controller/v2.12.4', requestObject: { spec: { template: { spec: { containers: [{ name: 'web', image: `registry.example.com/web:1.${Math.floor(c.r() * 90)}.0` }] } } } } });
    } else if (k === 6) {
      const kind = pick(c, ['Deployment', 'StatefulSet'] as const);
      emit(c, { verb: 'create', user: sa('flux-system', 'kustomize-controller'), resource: `${kind.toLowerCase()}s`, namespace: ns, name: 'worker', level: 'Request', userAgent: 'kustomize-controller/v1.4.0', requestObject: workload(kind, 'worker', ns, appPodSpec(c, 'worker')) });
    } else if (k === 7) {
      if (chance(c, 0.5)) emit(c, { verb: 'list', user: sa('monitoring', 'prometheus'), resource: pick(c, ['pods', 'endpoints', 'services', 'nodes']), userAgent: 'Prometheus/2.54.1' });
      else emit(c, { verb: 'list', user: sa('monitoring', 'kube-state-metrics'), resource: pick(c, ['pods', 'secrets', 'configmaps', 'deployments']), userAgent: 'kube-state-metrics/v2.13.0' });
    }
    else if (k === 8) emit(c, { verb: 'create', user: sa('flux-system', 'kustomize-controller'), resource: 'cronjobs', namespace: ns, name: 'report', level: 'Request', userAgent: 'kustomize-controller/v1.4.0', requestObject: cronJob('report', ns, '0 6 * * *', podSpec([safeContainer('report', 'registry.example.com/report:3', { command: ['/app/report'], args: ['--since=24h'] })])) });
    else if (k === 9) emit(c, { verb: 'patch', user: sa('istio-system', 'istiod'), resource: 'mutatingwebhookconfigurations', name: 'istio-sidecar-injector', userAgent: 'pilot-discovery/1.23.2' });
    else if (k === 10) emit(c, { verb: 'list', user: sa('velero', 'velero'), resource: pick(c, ['secrets', 'configmaps', 'persistentvolumeclaims']), userAgent: 'velero-server/v1.14.1' });
    else emit(c, { verb: 'create', user: sa('flux-system', 'kustomize-controller'), resource: 'configmaps', namespace: ns, name: 'app-config', level: 'Request', userAgent: 'kustomize-controller/v1.4.0', requestObject: configMap('app-config', ns, { 'application.yaml': 'server:\n  port: 8080\nlogging:\n  level: info\n', FEATURE_FLAGS: 'search,checkout' }) });
  }],
  // application service accounts in their own namespace
  [6, (c) => {
    const ns = pick(c, APP_NAMESPACES);
    const who = sa(ns, pick(c, ['app', 'web', 'worker']), `app-${suffix(c, 9)}-${suffix(c)}`);
    const k = Math.floor(c.r() * 6);
    if (k === 0) emit(c, { verb: 'get', user: who, resource: pick(c, ['configmaps', 'secrets']), namespace: ns, name: 'app-config', userAgent: 'Go-http-client/2.0' });
    else if (k === 1) watch(c, { verb: 'watch', user: who, resource: pick(c, ['configmaps', 'endpoints', 'pods']), namespace: ns, userAgent: 'Go-http-client/2.0' });
    else if (k === 2) emit(c, { verb: 'create', user: who, resource: 'events', namespace: ns, userAgent: 'Go-http-client/2.0' });
    else if (k === 3) emit(c, { verb: 'create', user: who, resource: 'tokenreviews', userAgent: 'kube-rbac-proxy/v0.18.1' });
    else if (k === 4) emit(c, { verb: 'create', user: who, resource: 'serviceaccounts', subresource: 'token', namespace: ns, name: who.username.split(':')[3], userAgent: 'vault-agent/1.17' });
    else emit(c, { verb: 'list', user: who, resource: 'secrets', namespace: ns, userAgent: 'Go-http-client/2.0' });
  }],
];

const TOTAL_WEIGHT = scenarios.reduce((s, [w]) => s + w, 0);

/** Writes `count` events as JSON lines to `path`; returns the number written. */
export function writeHealthyCluster(path: string, count: number, seed: number): number {
  resetIds();
  ids = 0;
  const r = rng(seed);
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    while (written < count) {
      // each batch of about 550 events comes from one platform
      const flavor = FLAVORS[Math.floor(r() * FLAVORS.length)];
      const c: Ctx = { r, flavor, cluster: `${flavor}-prod-${1 + Math.floor(r() * 3)}`, nodes: nodeNames(flavor), out: [] };
      for (let i = 0; i < 500; i++) {
        let x = r() * TOTAL_WEIGHT;
        for (const [w, run] of scenarios) {
          if ((x -= w) < 0) { run(c); break; }
        }
      }
      const lines = c.out.slice(0, count - written).map(goJson).join('\n') + '\n';
      writeSync(fd, lines);
      written += Math.min(c.out.length, count - written);
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

