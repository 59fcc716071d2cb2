// Kubernetes objects as they appear in requestObject/responseObject (apiserver defaults
// left out where a client would not send them).

export type Obj = Record<string, unknown>;

export function container(name: string, image: string, extra: Obj = {}): Obj {
  return {
    name, image, resources: {},
    terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent',
    ...extra,
  };
}

/** A restricted-profile container: non-root, no escalation, read-only root. */
export function safeContainer(name: string, image: string, extra: Obj = {}): Obj {
  return container(name, image, {
    securityContext: {
      allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 10001,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    },
    ...extra,
  });
}

export function podSpec(containers: Obj[], extra: Obj = {}): Obj {
  return {
    containers, restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst',
    securityContext: {}, schedulerName: 'default-scheduler', enableServiceLinks: true, ...extra,
  };
}

export function pod(name: string, ns: string, spec: Obj, metaExtra: Obj = {}): Obj {
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { name, namespace: ns, creationTimestamp: null, labels: { run: name }, ...metaExtra },
    spec, status: {},
  };
}

export function podTemplate(labels: Obj, spec: Obj): Obj {
  return { metadata: { creationTimestamp: null, labels }, spec };
}

export function workload(kind: 'Deployment' | 'DaemonSet' | 'StatefulSet' | 'ReplicaSet', name: string, ns: string, spec: Obj): Obj {
  const labels = { app: name };
  const base: Obj = { selector: { matchLabels: labels }, template: podTemplate(labels, spec) };
  if (kind === 'Deployment') Object.assign(base, { replicas: 2, strategy: { type: 'RollingUpdate' }, revisionHistoryLimit: 10, progressDeadlineSeconds: 600 });
  if (kind === 'DaemonSet') Object.assign(base, { updateStrategy: { type: 'RollingUpdate' }, revisionHistoryLimit: 10 });
  if (kind === 'StatefulSet') Object.assign(base, { replicas: 1, serviceName: name, podManagementPolicy: 'OrderedReady' });
  if (kind === 'ReplicaSet') Object.assign(base, { replicas: 2 });
  return {
    kind, apiVersion: 'apps/v1',
    metadata: { name, namespace: ns, creationTimestamp: null, labels },
    spec: base, status: {},
  };
}

export function job(name: string, ns: string, spec: Obj): Obj {
  return {
    kind: 'Job', apiVersion: 'batch/v1',
    metadata: { name, namespace: ns, creationTimestamp: null },
    spec: { backoffLimit: 2, template: podTemplate({ 'job-name': name }, { ...spec, restartPolicy: 'Never' }) },
    status: {},
  };
}

export function cronJob(name: string, ns: string, schedule: string, spec: Obj): Obj {
  return {
    kind: 'CronJob', apiVersion: 'batch/v1',
    metadata: { name, namespace: ns, creationTimestamp: null },
    spec: {
      schedule, concurrencyPolicy: 'Forbid', suspend: false,
      jobTemplate: { metadata: { creationTimestamp: null }, spec: { template: podTemplate({}, { ...spec, restartPolicy: 'OnFailure' }) } },
      successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1,
    },
    status: {},
  };
}

export function hostPathVolume(name: string, path: string, type = 'Directory'): Obj {
  return { name, hostPath: { path, type } };
}

export function role(kind: 'Role' | 'ClusterRole', name: string, ns: string | undefined, rules: Obj[]): Obj {
  return {
    kind, apiVersion: 'rbac.authorization.k8s.io/v1',
    metadata: { name, ...(ns ? { namespace: ns } : {}), creationTimestamp: null },
    rules,
  };
}

export function binding(kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, ns: string | undefined, roleRef: { kind: string; name: string }, subjects: Obj[]): Obj {
  return {
    kind, apiVersion: 'rbac.authorization.k8s.io/v1',
    metadata: { name, ...(ns ? { namespace: ns } : {}), creationTimestamp: null },
    subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
  };
}

export const userSubject = (name: string): Obj => ({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name });
export const groupSubject = (name: string): Obj => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name });
export const saSubject = (ns: string, name: string): Obj => ({ kind: 'ServiceAccount', name, namespace: ns });

export function configMap(name: string, ns: string, data: Record<string, string>): Obj {
  return { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: ns, creationTimestamp: null }, data };
}

export function csr(name: string, signerName: string, usages: string[]): Obj {
  return {
    kind: 'CertificateSigningRequest', apiVersion: 'certificates.k8s.io/v1',
    metadata: { name, creationTimestamp: null },
    spec: {
      request: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlJQ1ZqQ0NBVDRDQVFBd0VURVBNQTBHQTFVRUF3d0diV0ZzYkc5eQ==',
      signerName, usages, expirationSeconds: 86400,
    },
    status: {},
  };
}
