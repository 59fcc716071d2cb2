// The API groups that serve the built-in resources (Kubernetes 1.30, plus the retired
// extensions/v1beta1 ones older logs still show). The policy checker assumes a
// resource named like a built-in one belongs to one of these groups: a rule that tests
// `ka.target.resource=configmaps` is fed by a policy that logs configmaps of the core
// group, whatever a custom resource of another group could be called.
export const BUILTIN_RESOURCE_GROUPS: ReadonlyMap<string, readonly string[]> = new Map(Object.entries({
  pods: ['', 'metrics.k8s.io'], nodes: ['', 'metrics.k8s.io'], services: [''], configmaps: [''], secrets: [''],
  serviceaccounts: [''], namespaces: [''], persistentvolumes: [''], persistentvolumeclaims: [''], endpoints: [''],
  events: ['', 'events.k8s.io'], limitranges: [''], resourcequotas: [''], replicationcontrollers: [''], podtemplates: [''],
  componentstatuses: [''], bindings: [''],
  deployments: ['apps', 'extensions'], daemonsets: ['apps', 'extensions'], replicasets: ['apps', 'extensions'],
  statefulsets: ['apps'], controllerrevisions: ['apps'],
  jobs: ['batch'], cronjobs: ['batch'],
  roles: ['rbac.authorization.k8s.io'], rolebindings: ['rbac.authorization.k8s.io'],
  clusterroles: ['rbac.authorization.k8s.io'], clusterrolebindings: ['rbac.authorization.k8s.io'],
  ingresses: ['networking.k8s.io', 'extensions'], networkpolicies: ['networking.k8s.io', 'extensions'],
  ingressclasses: ['networking.k8s.io'], ipaddresses: ['networking.k8s.io'], servicecidrs: ['networking.k8s.io'],
  poddisruptionbudgets: ['policy'], podsecuritypolicies: ['policy', 'extensions'],
  horizontalpodautoscalers: ['autoscaling'],
  leases: ['coordination.k8s.io'],
  endpointslices: ['discovery.k8s.io'],
  storageclasses: ['storage.k8s.io'], csidrivers: ['storage.k8s.io'], csinodes: ['storage.k8s.io'],
  csistoragecapacities: ['storage.k8s.io'], volumeattachments: ['storage.k8s.io'], volumeattributesclasses: ['storage.k8s.io'],
  mutatingwebhookconfigurations: ['admissionregistration.k8s.io'], validatingwebhookconfigurations: ['admissionregistration.k8s.io'],
  validatingadmissionpolicies: ['admissionregistration.k8s.io'], validatingadmissionpolicybindings: ['admissionregistration.k8s.io'],
  customresourcedefinitions: ['apiextensions.k8s.io'],
  apiservices: ['apiregistration.k8s.io'],
  certificatesigningrequests: ['certificates.k8s.io'], clustertrustbundles: ['certificates.k8s.io'],
  tokenreviews: ['authentication.k8s.io'], selfsubjectreviews: ['authentication.k8s.io'],
  subjectaccessreviews: ['authorization.k8s.io'], selfsubjectaccessreviews: ['authorization.k8s.io'],
  selfsubjectrulesreviews: ['authorization.k8s.io'], localsubjectaccessreviews: ['authorization.k8s.io'],
  priorityclasses: ['scheduling.k8s.io'],
  runtimeclasses: ['node.k8s.io'],
  flowschemas: ['flowcontrol.apiserver.k8s.io'], prioritylevelconfigurations: ['flowcontrol.apiserver.k8s.io'],
}));

/** Groups whose resources can only be read. */
export const READ_ONLY_GROUPS: ReadonlyMap<string, readonly string[]> = new Map([
  ['metrics.k8s.io', ['get', 'list', 'watch']],
]);

/** The subresources of the built-in resources; a built-in resource not listed has none. */
export const BUILTIN_SUBRESOURCES: ReadonlyMap<string, readonly string[]> = new Map(Object.entries({
  pods: ['status', 'log', 'exec', 'attach', 'portforward', 'proxy', 'binding', 'eviction', 'ephemeralcontainers', 'resize'],
  nodes: ['status', 'proxy'], services: ['status', 'proxy'], namespaces: ['status', 'finalize'],
  serviceaccounts: ['token'], persistentvolumes: ['status'], persistentvolumeclaims: ['status'],
  replicationcontrollers: ['status', 'scale'], resourcequotas: ['status'],
  deployments: ['status', 'scale', 'rollback'], replicasets: ['status', 'scale'], statefulsets: ['status', 'scale'], daemonsets: ['status'],
  jobs: ['status'], cronjobs: ['status'], horizontalpodautoscalers: ['status'], poddisruptionbudgets: ['status'],
  ingresses: ['status'], networkpolicies: ['status'], servicecidrs: ['status'], volumeattachments: ['status'],
  certificatesigningrequests: ['status', 'approval'], customresourcedefinitions: ['status'], apiservices: ['status'],
  flowschemas: ['status'], prioritylevelconfigurations: ['status'], validatingadmissionpolicies: ['status'],
}));
