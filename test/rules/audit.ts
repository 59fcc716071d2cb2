// Builds audit.k8s.io/v1 Events shaped the way kube-apiserver records them, and runs
// `peregrine scan` over them with the bundled rules (plus optional user files).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const CLI = join(REPO, 'dist/cli/main.js');
export const RULES_DIR = join(REPO, 'rules');

export type Level = 'Metadata' | 'Request' | 'RequestResponse';
export type Stage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete';

/** Resources outside the core group, for objectRef.apiGroup and the request URI. */
const GROUPS: Record<string, [string, string]> = {
  deployments: ['apps', 'v1'], daemonsets: ['apps', 'v1'], statefulsets: ['apps', 'v1'], replicasets: ['apps', 'v1'],
  controllerrevisions: ['apps', 'v1'],
  jobs: ['batch', 'v1'], cronjobs: ['batch', 'v1'],
  roles: ['rbac.authorization.k8s.io', 'v1'], clusterroles: ['rbac.authorization.k8s.io', 'v1'],
  rolebindings: ['rbac.authorization.k8s.io', 'v1'], clusterrolebindings: ['rbac.authorization.k8s.io', 'v1'],
  certificatesigningrequests: ['certificates.k8s.io', 'v1'],
  mutatingwebhookconfigurations: ['admissionregistration.k8s.io', 'v1'],
  validatingwebhookconfigurations: ['admissionregistration.k8s.io', 'v1'],
  validatingadmissionpolicies: ['admissionregistration.k8s.io', 'v1'],
  validatingadmissionpolicybindings: ['admissionregistration.k8s.io', 'v1'],
  selfsubjectrulesreviews: ['authorization.k8s.io', 'v1'], selfsubjectaccessreviews: ['authorization.k8s.io', 'v1'],
  subjectaccessreviews: ['authorization.k8s.io', 'v1'], tokenreviews: ['authentication.k8s.io', 'v1'],
  leases: ['coordination.k8s.io', 'v1'], endpointslices: ['discovery.k8s.io', 'v1'],
  ingresses: ['networking.k8s.io', 'v1'], networkpolicies: ['networking.k8s.io', 'v1'],
  horizontalpodautoscalers: ['autoscaling', 'v2'], poddisruptionbudgets: ['policy', 'v1'],
  customresourcedefinitions: ['apiextensions.k8s.io', 'v1'], storageclasses: ['storage.k8s.io', 'v1'],
  csinodes: ['storage.k8s.io', 'v1'], volumeattachments: ['storage.k8s.io', 'v1'],
  apiservers: ['config.openshift.io', 'v1'], clusteroperators: ['config.openshift.io', 'v1'],
  constrainttemplates: ['templates.gatekeeper.sh', 'v1'], clusterpolicies: ['kyverno.io', 'v1'],
  updaterequests: ['kyverno.io', 'v1beta1'], certificates: ['cert-manager.io', 'v1'],
  applications: ['argoproj.io', 'v1alpha1'], servicemonitors: ['monitoring.coreos.com', 'v1'],
  nodes_metrics: ['metrics.k8s.io', 'v1beta1'], pods_metrics: ['metrics.k8s.io', 'v1beta1'],
};
const CLUSTER_SCOPED = new Set([
  'nodes', 'namespaces', 'persistentvolumes', 'clusterroles', 'clusterrolebindings', 'certificatesigningrequests',
  'mutatingwebhookconfigurations', 'validatingwebhookconfigurations', 'validatingadmissionpolicies',
  'validatingadmissionpolicybindings', 'selfsubjectrulesreviews', 'selfsubjectaccessreviews', 'subjectaccessreviews',
  'tokenreviews', 'customresourcedefinitions', 'storageclasses', 'csinodes', 'volumeattachments', 'apiservers',
  'clusteroperators', 'constrainttemplates', 'clusterpolicies',
]);

export interface Actor { username: string; groups?: string[]; extra?: Record<string, string[]>; uid?: string }

export const person = (username: string, ...groups: string[]): Actor =>
  ({ username, groups: [...groups, 'system:authenticated'] });
export const sa = (ns: string, name: string, pod?: string): Actor => ({
  username: `system:serviceaccount:${ns}:${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
  ...(pod ? { extra: { 'authentication.kubernetes.io/pod-name': [pod], 'authentication.kubernetes.io/pod-uid': ['0d3c9f7e-1b2a-4c5d-8e9f-a0b1c2d3e4f5'] } } : {}),
});
export const node = (name: string): Actor => ({ username: `system:node:${name}`, groups: ['system:nodes', 'system:authenticated'] });
export const component = (username: string, ...groups: string[]): Actor => ({ username, groups: [...groups, 'system:authenticated'] });
export const anonymous: Actor = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

export interface EventSpec {
  verb: string;
  user: Actor;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  apiGroup?: string;
  apiVersion?: string;
  /** Request URI; built from the object reference when absent. */
  uri?: string;
  query?: string;
  level?: Level;
  stage?: Stage;
  code?: number;
  decision?: 'allow' | 'forbid';
  reason?: string;
  requestObject?: unknown;
  responseObject?: unknown;
  annotations?: Record<string, string>;
  impersonatedUser?: Actor;
  userAgent?: string;
  sourceIP?: string;
  auditID?: string;
  time?: Date;
  cluster?: string;
  /** responseStatus.message (failures carry the apiserver's explanation). */
  message?: string;
}

let seq = 0;
export function resetIds(): void { seq = 0; }

function uuidFor(n: number): string {
  const h = n.toString(16).padStart(12, '0');
  return `5e1f0c2a-7b3d-4e8f-9a6b-${h}`;
}

function defaultCode(verb: string, stage: Stage, sub?: string): number {
  if (stage === 'ResponseStarted' || sub === 'exec' || sub === 'attach' || sub === 'portforward') return 101;
  return verb === 'create' ? 201 : 200;
}

export function requestURI(e: EventSpec): string {
  if (e.uri) return e.uri;
  const resource = e.resource!;
  const g = e.apiGroup !== undefined ? [e.apiGroup, e.apiVersion ?? 'v1'] : GROUPS[resource];
  let base = g && g[0] !== '' ? `/apis/${g[0]}/${g[1]}` : '/api/v1';
  if (e.namespace && !CLUSTER_SCOPED.has(resource)) base += `/namespaces/${e.namespace}`;
  let path = `${base}/${resource}`;
  const named = e.name && !(e.verb === 'create' && !e.subresource) && e.verb !== 'list' && e.verb !== 'watch' && e.verb !== 'deletecollection';
  if (named) path += `/${e.name}`;
  if (e.subresource) path += `/${e.subresource}`;
  const q = e.query ?? (e.verb === 'watch' ? 'watch=true&resourceVersion=123456&timeoutSeconds=540' : '');
  return q ? `${path}?${q}` : path;
}

/** One audit event, as the apiserver writes it at the given level. */
export function auditEvent(e: EventSpec): Record<string, unknown> {
  const level = e.level ?? 'Metadata';
  if (e.requestObject !== undefined && level === 'Metadata') throw new Error('requestObject needs level Request or RequestResponse');
  if (e.responseObject !== undefined && level !== 'RequestResponse') throw new Error('responseObject needs level RequestResponse');
  const stage = e.stage ?? 'ResponseComplete';
  const n = ++seq;
  const t = e.time ?? new Date(Date.UTC(2025, 9, 23, 17, 0, 0) + n * 37);
  const received = new Date(t.getTime() - 3);
  const decision = e.decision ?? ((e.code ?? 200) === 403 ? 'forbid' : 'allow');
  const annotations: Record<string, string> = {
    'authorization.k8s.io/decision': decision,
    'authorization.k8s.io/reason': e.reason ?? (decision === 'allow' ? 'RBAC: allowed by ClusterRoleBinding "peregrine-test" of ClusterRole "peregrine-test" to User "x"' : ''),
    ...(e.cluster ? { cluster_name: e.cluster } : {}),
    ...e.annotations,
  };
  const ev: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level,
    auditID: e.auditID ?? uuidFor(n),
    stage,
    requestURI: requestURI(e),
    verb: e.verb,
    user: { username: e.user.username, uid: e.user.uid ?? `uid-${e.user.username.length}`, groups: e.user.groups ?? ['system:authenticated'], ...(e.user.extra ? { extra: e.user.extra } : {}) },
  };
  if (e.impersonatedUser) ev.impersonatedUser = { username: e.impersonatedUser.username, groups: e.impersonatedUser.groups ?? ['system:authenticated'] };
  ev.sourceIPs = [e.sourceIP ?? '10.20.30.40'];
  ev.userAgent = e.userAgent ?? 'kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46';
  if (e.resource) {
    const g = e.apiGroup !== undefined ? [e.apiGroup, e.apiVersion ?? 'v1'] : GROUPS[e.resource];
    const ref: Record<string, string> = { resource: e.resource };
    if (e.namespace && !CLUSTER_SCOPED.has(e.resource)) ref.namespace = e.namespace;
    if (e.name) ref.name = e.name;
    if (g && g[0] !== '') ref.apiGroup = g[0];
    ref.apiVersion = g ? g[1] : 'v1';
    if (e.subresource) ref.subresource = e.subresource;
    ev.objectRef = ref;
  }
  const code = e.code ?? defaultCode(e.verb, stage, e.subresource);
  const status: Record<string, unknown> = { metadata: {}, code };
  if (code >= 400) {
    status.status = 'Failure';
    status.reason = code === 403 ? 'Forbidden' : code === 404 ? 'NotFound' : code === 409 ? 'AlreadyExists' : 'Invalid';
    status.message = `${e.resource ?? 'request'} is ${status.reason}`;
  }
  if (e.message !== undefined) status.message = e.message;
  ev.responseStatus = status;
  if (e.requestObject !== undefined && stage !== 'RequestReceived') ev.requestObject = e.requestObject;
  if (e.responseObject !== undefined && stage === 'ResponseComplete') ev.responseObject = e.responseObject;
  ev.requestReceivedTimestamp = received.toISOString().replace('Z', '123Z');
  ev.stageTimestamp = t.toISOString().replace('Z', '456Z');
  ev.annotations = annotations;
  return ev;
}

export interface Alert {
  rule: string;
  priority: string;
  tags: string[];
  output: string;
  output_fields: Record<string, unknown>;
  source: string;
  time: string;
}

export interface ScanResult { status: number | null; alerts: Alert[]; stderr: string }

/** Runs `peregrine scan` over JSON lines; rules default to the bundled directory. */
export function scan(lines: string | Buffer, opts: { rules?: string[]; extraRules?: string[]; matching?: 'first' | 'all'; args?: string[] } = {}): ScanResult {
  const dir = mkdtempSync(join(tmpdir(), 'pg-rules-'));
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, lines);
  const args = [CLI, 'scan', '--quiet'];
  for (const r of opts.rules ?? [RULES_DIR]) args.push('--rules', r);
  for (const r of opts.extraRules ?? []) args.push('--rules', r);
  if (opts.matching) args.push('--rule-matching', opts.matching);
  args.push(...(opts.args ?? []), file);
  const r = spawnSync(process.execPath, args, { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 512 * 1024 * 1024 });
  const alerts = r.stdout.toString().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Alert);
  return { status: r.status, alerts, stderr: r.stderr.toString() };
}

/**
 * JSON as kube-apiserver writes audit events: Go's encoding/json escapes <, > and & (and
 * U+2028/U+2029) inside strings, so a command `a >& b` is recorded as `a \u003e\u0026 b`.
 * Those characters only occur inside strings, so replacing them in the text is safe.
 */
export function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export const jsonl = (events: Array<Record<string, unknown>>): string => events.map(goJson).join('\n') + '\n';

export function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pg-rules-'));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Alerts grouped by the audit ID every Peregrine rule prints. */
export function byAuditId(alerts: Alert[]): Map<string, Alert[]> {
  const m = new Map<string, Alert[]>();
  for (const a of alerts) {
    const id = String(a.output_fields['ka.auditid']);
    const l = m.get(id) ?? [];
    l.push(a);
    m.set(id, l);
  }
  return m;
}
