// Deterministic, realistic audit traffic: mostly Metadata-level get/list/watch/update
// by controllers and kubelets, about 10 % RequestResponse pod creates with full specs
// and managedFields. Used by the native benchmark and the load tests.

export function rng(seed = 42) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

const pick = (r, a) => a[Math.floor(r() * a.length)];
const hex = (r, n) => { let s = ''; for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(r() * 16)]; return s; };
const uuid = (r) => `${hex(r, 8)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 12)}`;

const NAMESPACES = ['default', 'kube-system', 'monitoring', 'payments', 'web', 'batch', 'ingress-nginx', 'cert-manager'];
const NODES = Array.from({ length: 12 }, (_, i) => `ip-10-0-${i}-${10 + i}.ec2.internal`);
const CONTROLLERS = [
  ['system:kube-controller-manager', ['system:authenticated'], 'kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/leader-election'],
  ['system:kube-scheduler', ['system:authenticated'], 'kube-scheduler/v1.30.2 (linux/amd64) kubernetes/3968350/leader-election'],
  ['system:serviceaccount:kube-system:replicaset-controller', ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'], 'kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:replicaset-controller'],
  ['system:serviceaccount:kube-system:endpointslice-controller', ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'], 'kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:endpointslice-controller'],
  ['system:serviceaccount:kube-system:coredns', ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'], 'coredns/v0.0.0 (linux/amd64) kubernetes/$Format'],
];

function time(r, t0, i) {
  const ms = t0 + i * 3 + Math.floor(r() * 3);
  const d = new Date(ms);
  const us = String(Math.floor(r() * 1000)).padStart(3, '0');
  return d.toISOString().replace('Z', `${us}Z`);
}

function metadataEvent(r, ts) {
  const kubelet = r() < 0.45;
  let user, groups, ua, verb, resource, ns, name, group = '', sub;
  if (kubelet) {
    const node = pick(r, NODES);
    user = `system:node:${node}`;
    groups = ['system:nodes', 'system:authenticated'];
    ua = 'kubelet/v1.30.2 (linux/amd64) kubernetes/3968350';
    [verb, resource, group, sub] = pick(r, [
      ['get', 'nodes', '', undefined], ['patch', 'nodes', '', 'status'], ['update', 'leases', 'coordination.k8s.io', undefined],
      ['get', 'pods', '', undefined], ['patch', 'pods', '', 'status'], ['list', 'configmaps', '', undefined],
      ['watch', 'secrets', '', undefined], ['create', 'events', '', undefined], ['get', 'csinodes', 'storage.k8s.io', undefined],
    ]);
    ns = resource === 'nodes' || resource === 'csinodes' ? undefined : resource === 'leases' ? 'kube-node-lease' : pick(r, NAMESPACES);
    name = resource === 'nodes' || resource === 'leases' || resource === 'csinodes' ? node : `${pick(r, ['web', 'api', 'worker', 'coredns'])}-${hex(r, 5)}`;
  } else {
    const c = pick(r, CONTROLLERS);
    [user, groups, ua] = c;
    [verb, resource, group] = pick(r, [
      ['get', 'leases', 'coordination.k8s.io'], ['update', 'leases', 'coordination.k8s.io'], ['list', 'pods', ''],
      ['watch', 'endpointslices', 'discovery.k8s.io'], ['update', 'endpointslices', 'discovery.k8s.io'], ['get', 'replicasets', 'apps'],
      ['update', 'replicasets', 'apps'], ['list', 'configmaps', ''], ['watch', 'services', ''],
    ]);
    ns = pick(r, NAMESPACES);
    name = verb === 'list' || verb === 'watch' ? undefined : `${pick(r, ['kube-controller-manager', 'web', 'api', 'payments'])}-${hex(r, 4)}`;
  }
  const base = group ? `/apis/${group}/v1` : '/api/v1';
  const uri = `${base}${ns ? `/namespaces/${ns}` : ''}/${resource}${name ? `/${name}` : ''}${sub ? `/${sub}` : ''}${verb === 'watch' ? '?allowWatchBookmarks=true&resourceVersion=' + Math.floor(r() * 1e7) + '&timeout=7m1s&watch=true' : verb === 'list' ? '?limit=500&resourceVersion=0' : ''}`;
  const objectRef = { resource, ...(ns ? { namespace: ns } : {}), ...(name ? { name } : {}), ...(group ? { apiGroup: group } : {}), apiVersion: 'v1', ...(sub ? { subresource: sub } : {}) };
  return {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: uuid(r), stage: 'ResponseComplete',
    requestURI: uri, verb, user: { username: user, uid: uuid(r), groups }, sourceIPs: [`10.0.${Math.floor(r() * 16)}.${Math.floor(r() * 250) + 2}`],
    userAgent: ua, objectRef, responseStatus: { metadata: {}, code: verb === 'create' ? 201 : 200 },
    requestReceivedTimestamp: ts, stageTimestamp: ts,
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': `RBAC: allowed by ClusterRoleBinding "system:${kubelet ? 'node' : 'controller'}" of ClusterRole "system:${kubelet ? 'node' : 'controller'}" to User "${user}"` },
  };
}

function podSpec(r, name, ns) {
  const n = 1 + Math.floor(r() * 2);
  const containers = Array.from({ length: n }, (_, i) => ({
    name: i === 0 ? 'app' : 'sidecar',
    image: pick(r, ['nginx:1.25.3', 'registry.example.com/payments/api:2.14.1', 'ghcr.io/acme/worker@sha256:' + hex(r, 64), 'busybox:1.36']),
    command: r() < 0.3 ? ['/bin/sh', '-c', 'exec /app/server --port=8080'] : undefined,
    args: r() < 0.3 ? ['--log-level=info', '--metrics'] : undefined,
    ports: [{ containerPort: 8080, protocol: 'TCP', name: 'http' }],
    env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }, { name: 'LOG_LEVEL', value: 'info' }],
    resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    volumeMounts: [{ name: 'kube-api-access-' + hex(r, 5), readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }],
    terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent',
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
  }));
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: {
      name, generateName: name.slice(0, -5), namespace: ns, uid: uuid(r), creationTimestamp: null,
      labels: { app: 'web', 'pod-template-hash': hex(r, 10) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: name.slice(0, -6), uid: uuid(r), controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-11-01T10:00:00Z', fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': { '.': {}, [`k:{"uid":"${uuid(r)}"}`]: {} } },
          'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:imagePullPolicy': {}, 'f:name': {}, 'f:ports': {}, 'f:resources': {} } }, 'f:dnsPolicy': {}, 'f:restartPolicy': {} } } }],
    },
    spec: {
      volumes: [{ name: 'kube-api-access-' + hex(r, 5), projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }], defaultMode: 420 } }],
      containers, restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', serviceAccountName: 'default',
      serviceAccount: 'default', securityContext: { runAsUser: 1000, fsGroup: 2000 }, schedulerName: 'default-scheduler',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], priority: 0,
      enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {},
  };
}

function podCreate(r, ts) {
  const ns = pick(r, NAMESPACES);
  const name = `web-${hex(r, 10)}-${hex(r, 5)}`;
  const spec = podSpec(r, name, ns);
  const resp = JSON.parse(JSON.stringify(spec));
  resp.metadata.creationTimestamp = ts.slice(0, 19) + 'Z';
  resp.metadata.resourceVersion = String(Math.floor(r() * 1e7));
  resp.status = { phase: 'Pending', qosClass: 'Burstable' };
  return {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: uuid(r), stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/${ns}/pods`, verb: 'create',
    user: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: uuid(r), groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
    sourceIPs: ['10.0.0.10'], userAgent: 'kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:replicaset-controller',
    objectRef: { resource: 'pods', namespace: ns, apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 },
    requestObject: spec, responseObject: resp,
    requestReceivedTimestamp: ts, stageTimestamp: ts,
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller" of ClusterRole "system:controller:replicaset-controller" to ServiceAccount "replicaset-controller/kube-system"' },
  };
}

/** `n` events as objects. */
export function generateEvents(n, seed = 42, podCreateShare = 0.1) {
  const r = rng(seed);
  const t0 = Date.UTC(2026, 10, 1, 10, 0, 0);
  const out = [];
  for (let i = 0; i < n; i++) {
    const ts = time(r, t0, i);
    out.push(r() < podCreateShare ? podCreate(r, ts) : metadataEvent(r, ts));
  }
  return out;
}

/** JSON lines, one Event per line. */
export function generateLines(n, seed = 42, podCreateShare = 0.1) {
  return generateEvents(n, seed, podCreateShare).map((e) => JSON.stringify(e));
}

/** EventList bodies of `batch` events, as an apiserver's webhook sends them. */
export function generateEventLists(n, batch = 400, seed = 42, podCreateShare = 0.1) {
  const events = generateEvents(n, seed, podCreateShare);
  const out = [];
  for (let i = 0; i < events.length; i += batch) {
    out.push(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: events.slice(i, i + batch) }));
  }
  return out;
}
