// A cluster's audit log as a policy that logs everything would record it: every request
// at RequestResponse with the objects it read or wrote (managedFields included), a
// RequestReceived event for many requests, ResponseStarted for watches, exec and
// port-forward, health probes and API discovery, people using kubectl, and attacks:
// the load tests' (exec, anonymous access, cluster-admin bindings, privileged pods) and
// every event of Falco's k8s-audit traces. `peregrine policy cost` and its tests replay
// it under policies; deterministic for a seed.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { rng } from './corpus.mjs';
import { generatePool } from '../load-tests/corpus.mjs';

const TRACES = new URL('../test/fixtures/falco-k8saudit/traces/', import.meta.url);

const pick = (r, a) => a[Math.floor(r() * a.length)];
const hex = (r, n) => { let s = ''; for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(r() * 16)]; return s; };
const uuid = (r) => `${hex(r, 8)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 12)}`;

const KINDS = {
  pods: 'Pod', nodes: 'Node', leases: 'Lease', configmaps: 'ConfigMap', secrets: 'Secret', services: 'Service', endpointslices: 'EndpointSlice',
  replicasets: 'ReplicaSet', events: 'Event', csinodes: 'CSINode', clusterrolebindings: 'ClusterRoleBinding', namespaces: 'Namespace',
  deployments: 'Deployment',
};

function managedFields(r, manager) {
  return [{
    manager, operation: 'Update', apiVersion: 'v1', time: '2026-11-01T10:00:00Z', fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} }, 'f:annotations': { '.': {}, [`f:example.com/${hex(r, 6)}`]: {} } }, 'f:spec': { '.': {}, 'f:replicas': {}, 'f:selector': {} }, 'f:status': { '.': {}, 'f:conditions': {} } },
  }, {
    manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-11-01T10:00:01Z', fieldsType: 'FieldsV1', subresource: 'status',
    fieldsV1: { 'f:status': { 'f:observedGeneration': {}, 'f:readyReplicas': {}, 'f:conditions': { [`k:{"type":"Available"}`]: { '.': {}, 'f:lastTransitionTime': {}, 'f:status': {} } } } },
  }];
}

/** An object of a resource, as a RequestResponse policy logs it. */
function objectOf(r, resource, name, ns, apiVersion = 'v1') {
  const metadata = {
    name: name ?? `${resource.slice(0, -1)}-${hex(r, 5)}`, ...(ns ? { namespace: ns } : {}), uid: uuid(r), resourceVersion: String(Math.floor(r() * 1e8)),
    creationTimestamp: '2026-10-30T08:12:44Z', labels: { app: pick(r, ['web', 'api', 'worker']), 'app.kubernetes.io/part-of': 'shop' },
    managedFields: managedFields(r, pick(r, ['kubectl-client-side-apply', 'helm', 'kube-controller-manager'])),
  };
  const base = { kind: KINDS[resource] ?? 'Object', apiVersion, metadata };
  switch (resource) {
    case 'nodes':
      return {
        ...base, spec: { podCIDR: '10.244.3.0/24', providerID: `aws:///eu-west-1a/i-${hex(r, 17)}` },
        status: {
          capacity: { cpu: '8', memory: '32766000Ki', pods: '110' }, allocatable: { cpu: '7910m', memory: '31000000Ki', pods: '110' },
          conditions: ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'].map((type) => ({ type, status: type === 'Ready' ? 'True' : 'False', lastHeartbeatTime: '2026-11-01T10:00:00Z', lastTransitionTime: '2026-10-30T08:12:44Z', reason: `Kubelet${type}`, message: `kubelet has ${type}` })),
          images: Array.from({ length: 24 }, () => ({ names: [`registry.example.com/team/${hex(r, 6)}@sha256:${hex(r, 64)}`, `registry.example.com/team/${hex(r, 6)}:1.${Math.floor(r() * 30)}`], sizeBytes: Math.floor(r() * 5e8) })),
          nodeInfo: { kubeletVersion: 'v1.30.2', containerRuntimeVersion: 'containerd://1.7.13', osImage: 'Ubuntu 22.04.4 LTS', kernelVersion: '6.5.0-1014-aws', architecture: 'amd64' },
        },
      };
    case 'leases':
      return { ...base, apiVersion: 'coordination.k8s.io/v1', spec: { holderIdentity: metadata.name, leaseDurationSeconds: 40, renewTime: '2026-11-01T10:00:00.000000Z' } };
    case 'configmaps':
      return { ...base, data: { 'app.properties': `log.level=info\nfeature.${hex(r, 4)}=true\n`.repeat(4) } };
    case 'secrets':
      return { ...base, type: 'Opaque', data: { password: Buffer.from(hex(r, 24)).toString('base64'), token: Buffer.from(hex(r, 48)).toString('base64') } };
    case 'services':
      return { ...base, spec: { type: 'ClusterIP', clusterIP: `10.96.${Math.floor(r() * 250)}.${Math.floor(r() * 250)}`, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { app: 'web' } } };
    case 'endpointslices':
      return { ...base, apiVersion: 'discovery.k8s.io/v1', addressType: 'IPv4', endpoints: Array.from({ length: 6 }, () => ({ addresses: [`10.244.${Math.floor(r() * 16)}.${Math.floor(r() * 250)}`], conditions: { ready: true }, nodeName: `node-${hex(r, 4)}`, targetRef: { kind: 'Pod', name: `web-${hex(r, 5)}`, namespace: ns, uid: uuid(r) } })), ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] };
    case 'replicasets':
      return { ...base, apiVersion: 'apps/v1', spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/shop/web:2.3.1', ports: [{ containerPort: 8080 }] }] } } }, status: { replicas: 3, readyReplicas: 3, availableReplicas: 3, observedGeneration: 4 } };
    case 'events':
      return { ...base, involvedObject: { kind: 'Pod', name: `web-${hex(r, 5)}`, namespace: ns, uid: uuid(r) }, reason: pick(r, ['Pulled', 'Created', 'Started', 'Scheduled']), message: 'Container image already present on machine', source: { component: 'kubelet' }, count: 1, type: 'Normal' };
    case 'csinodes':
      return { ...base, apiVersion: 'storage.k8s.io/v1', spec: { drivers: [{ name: 'ebs.csi.aws.com', nodeID: `i-${hex(r, 17)}`, allocatable: { count: 25 } }] } };
    case 'pods':
      return { ...base, spec: { containers: [{ name: 'app', image: 'registry.example.com/shop/web:2.3.1', resources: { requests: { cpu: '100m' } } }], nodeName: `node-${hex(r, 4)}`, serviceAccountName: 'default' }, status: { phase: 'Running', podIP: `10.244.1.${Math.floor(r() * 250)}`, conditions: [{ type: 'Ready', status: 'True' }] } };
    default:
      return base;
  }
}

const KIND_LIST = (resource) => `${KINDS[resource] ?? 'Object'}List`;

/** The event with the bodies a RequestResponse policy would have logged. */
function withBodies(r, ev) {
  const e = { ...ev, level: 'RequestResponse' };
  const ref = e.objectRef;
  if (!ref || ref.subresource === 'exec' || ref.subresource === 'attach' || ref.subresource === 'portforward') {
    delete e.requestObject;
    delete e.responseObject;
    return e;
  }
  if (e.requestObject || e.responseObject) return e; // already recorded with bodies
  const apiVersion = ref.apiGroup ? `${ref.apiGroup}/v1` : 'v1';
  const obj = () => objectOf(r, ref.resource, ref.name, ref.namespace, apiVersion);
  switch (e.verb) {
    case 'get': e.responseObject = obj(); break;
    case 'list':
      e.responseObject = { kind: KIND_LIST(ref.resource), apiVersion, metadata: { resourceVersion: String(Math.floor(r() * 1e8)) }, items: Array.from({ length: 2 + Math.floor(r() * 6) }, () => objectOf(r, ref.resource, undefined, ref.namespace, apiVersion)) };
      break;
    case 'update': case 'create': { const o = obj(); e.requestObject = o; e.responseObject = { ...o, metadata: { ...o.metadata, resourceVersion: String(Math.floor(r() * 1e8)) } }; break; }
    case 'patch':
      e.requestObject = ref.subresource === 'status' ? { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-11-01T10:00:00Z' }] } } : { metadata: { labels: { rollout: hex(r, 6) } } };
      e.responseObject = obj();
      break;
    case 'delete': e.responseObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: ref.name, kind: ref.resource } }; break;
    default: break;
  }
  return e;
}

function stageCopy(ev, stage) {
  const e = { ...ev, stage };
  delete e.responseObject;
  if (stage === 'RequestReceived') {
    delete e.responseStatus;
    delete e.requestObject;
    e.stageTimestamp = e.requestReceivedTimestamp;
  }
  return e;
}

const PEOPLE = [
  ['alice@example.com', ['oidc:developers', 'system:authenticated']],
  ['kubernetes-admin', ['system:masters', 'system:authenticated']],
];

function person(r, ev) {
  const [user, groups] = pick(r, PEOPLE);
  const ns = pick(r, ['default', 'shop', 'kube-system']);
  const [verb, resource] = pick(r, [['get', 'pods'], ['list', 'pods'], ['get', 'secrets'], ['list', 'configmaps'], ['get', 'deployments'], ['list', 'services']]);
  const group = resource === 'deployments' ? 'apps' : '';
  const name = verb === 'get' ? `${resource.slice(0, -1)}-${hex(r, 5)}` : undefined;
  return withBodies(r, {
    ...ev, auditID: uuid(r), verb, user: { username: user, groups }, userAgent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/3968350',
    requestURI: `/${group ? `apis/${group}` : 'api'}/v1/namespaces/${ns}/${resource}${name ? `/${name}` : ''}`,
    objectRef: { resource, namespace: ns, ...(name ? { name } : {}), ...(group ? { apiGroup: group } : {}), apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 }, requestObject: undefined, responseObject: undefined, level: 'RequestResponse',
    sourceIPs: ['198.51.100.7'], annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  });
}

function nonResource(r, ev) {
  const [user, groups, path, ua] = pick(r, [
    ['system:anonymous', ['system:unauthenticated'], '/healthz', 'kube-probe/1.30'],
    ['system:anonymous', ['system:unauthenticated'], '/readyz', 'ELB-HealthChecker/2.0'],
    ['system:anonymous', ['system:unauthenticated'], '/livez', 'kube-probe/1.30'],
    [`system:node:node-${hex(r, 3)}`, ['system:nodes', 'system:authenticated'], '/healthz', 'kubelet/v1.30.2'],
    ['system:serviceaccount:monitoring:prometheus', ['system:serviceaccounts', 'system:serviceaccounts:monitoring', 'system:authenticated'], '/metrics', 'Prometheus/2.51.0'],
    ['alice@example.com', ['oidc:developers', 'system:authenticated'], '/apis', 'kubectl/v1.30.2 (linux/amd64) kubernetes/3968350'],
    ['alice@example.com', ['oidc:developers', 'system:authenticated'], '/api/v1', 'kubectl/v1.30.2 (linux/amd64) kubernetes/3968350'],
    ['alice@example.com', ['oidc:developers', 'system:authenticated'], '/openapi/v2', 'kubectl/v1.30.2 (linux/amd64) kubernetes/3968350'],
    ['system:serviceaccount:kube-system:generic-garbage-collector', ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'], '/apis/apps/v1', 'kube-controller-manager/v1.30.2'],
    ['system:kube-scheduler', ['system:authenticated'], '/version', 'kube-scheduler/v1.30.2'],
  ]);
  const e = { ...ev, auditID: uuid(r), level: 'RequestResponse', verb: 'get', requestURI: path + (r() < 0.3 ? '?timeout=32s' : ''), user: { username: user, groups }, userAgent: ua, responseStatus: { metadata: {}, code: 200 }, sourceIPs: [`10.0.${Math.floor(r() * 16)}.${Math.floor(r() * 250)}`], annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer"' } };
  delete e.objectRef;
  delete e.requestObject;
  delete e.responseObject;
  return e;
}

/** Falco's k8s-audit traces, each event with a stageTimestamp (old ones carry `timestamp` only). */
export function falcoTraceEvents() {
  const out = [];
  for (const f of readdirSync(TRACES).filter((x) => x.endsWith('.json')).sort()) {
    for (const line of readFileSync(join(TRACES.pathname, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let d;
      try { d = JSON.parse(line); } catch { continue; }
      for (const e of d.kind === 'EventList' ? d.items : [d]) {
        if (!e || typeof e !== 'object' || e.kind !== 'Event') continue;
        const ts = e.stageTimestamp ?? e.timestamp ?? e.metadata?.creationTimestamp;
        if (typeof ts !== 'string') continue;
        out.push({ ...e, stageTimestamp: ts, requestReceivedTimestamp: e.requestReceivedTimestamp ?? ts });
      }
    }
  }
  return out;
}

/**
 * `n` requests (more events: stages), as objects in log order. attackShare: the load
 * tests' attacks and look-alikes; traces: Falco's trace events mixed in.
 */
export function fullLevelCorpus(n, { seed = 5, attackShare = 0.01, traces = true } = {}) {
  const r = rng(seed * 7 + 3);
  const pool = generatePool(n, { seed, attackShare });
  const extra = traces ? falcoTraceEvents() : [];
  const every = extra.length ? Math.max(1, Math.floor(n / (extra.length + 1))) : Infinity;
  const out = [];
  let t = 0;
  for (let i = 0; i < pool.length; i++) {
    let ev = pool[i];
    const x = r();
    if (x < 0.06) ev = person(r, ev);
    else if (x < 0.12) ev = nonResource(r, ev);
    else ev = withBodies(r, ev);
    const long = ev.verb === 'watch' || ['exec', 'attach', 'portforward'].includes(ev.objectRef?.subresource);
    if (r() < 0.25) out.push(stageCopy(ev, 'RequestReceived'));
    if (long) out.push(stageCopy(ev, 'ResponseStarted'));
    out.push(ev);
    if (i % every === every - 1 && t < extra.length) out.push(extra[t++]);
  }
  while (t < extra.length) out.push(extra[t++]);
  return out;
}

/** The corpus as a log: JSON lines, every `listEvery`-th run of `batch` events as one EventList line. */
export function corpusText(events, { batch = 50, listEvery = 4 } = {}) {
  const lines = [];
  for (let i = 0, b = 0; i < events.length; i += batch, b++) {
    const chunk = events.slice(i, i + batch);
    if (listEvery > 0 && b % listEvery === listEvery - 1) lines.push(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: chunk }));
    else for (const e of chunk) lines.push(JSON.stringify(e));
  }
  return lines.join('\n') + '\n';
}

// `node native-bench/policy-corpus.mjs [REQUESTS] [SEED] > cluster.jsonl`
if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const n = Number(process.argv[2] ?? 20000);
  const seed = Number(process.argv[3] ?? 5);
  process.stdout.write(corpusText(fullLevelCorpus(n, { seed })));
}
