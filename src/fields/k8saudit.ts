// The k8saudit plugin's fields (ka.*), computed from the event as the plugin's
// extract.go does. Facts taken from falcosecurity/plugins k8saudit v0.18.0; our code.
import {
  type NodeTable, ARR, OBJ, STR, TRUE, TYPE_MASK, getMember, getPath, keyOf, stringOf,
} from '../events/nodes.js';
import type { EventView, Extractor, FieldValue } from '../events/view.js';
import {
  key, keys, asString, values, arrayAsStrings, arrayAsStringsSkipNil, list, list as list_, elements,
  stringOrEmpty, cString, asGoString,
} from './json-values.js';
import { queryParam } from './uri.js';
import { type FieldDef, type FieldArg, type BuildContext, NO_ARG, INDEX_ARG, KEY_ARG } from './types.js';

const AUDIT_ID = [key('auditID')];

/** The plugin returns nothing at all for events without an auditID member. */
function hasAuditId(ev: EventView, slot: number): boolean {
  if (ev.auditIdGen !== ev.gen) {
    ev.auditIdGen = ev.gen;
    ev.hasAuditId = ev.pathNode(slot, AUDIT_ID) !== -1;
  }
  return ev.hasAuditId;
}

type Fn = (t: NodeTable, root: number, arg: FieldArg, ev: EventView) => FieldValue;
type Build = (arg: FieldArg, ctx: BuildContext) => Extractor;
interface Builder {
  build: Build;
  symbolSlot?: (arg: FieldArg, ctx: BuildContext) => number;
  needsAuditId?: boolean;
}

/** A field computed by `fn` from the subtrees at `reads` (declared in the plan). */
function ka(fn: Fn, reads: (arg: FieldArg) => string[][] = () => []): Build {
  return (arg, ctx) => {
    const audit = ctx.plan.slot(['auditID']);
    for (const r of reads(arg)) ctx.plan.need(r);
    return (ev) => (hasAuditId(ev, audit) ? fn(ev.t, ev.root, arg, ev) : undefined);
  };
}

/** extractFromKeys for a scalar field: a plan slot, matched against the rules' constants. */
function fromKeys(...path: string[]): Builder {
  const p = keys(...path);
  return {
    build: (_arg, ctx) => {
      const audit = ctx.plan.slot(['auditID']);
      const slot = ctx.plan.slot(path);
      return (ev) => {
        if (!hasAuditId(ev, audit)) return undefined;
        const n = ev.pathNode(slot, p);
        if (n === -1) return undefined;
        const sym = ev.pathSymbol(slot);
        return sym >= 0 ? ev.symbols[sym] : asString(ev.t, n);
      };
    },
    symbolSlot: (_arg, ctx) => ctx.plan.slot(path),
    needsAuditId: true,
  };
}

/** extractFromKeys for a list field: the value must be an array. */
function listFromKeys(...path: string[]): Build {
  const p = keys(...path);
  return (_arg, ctx) => {
    const audit = ctx.plan.slot(['auditID']);
    const slot = ctx.plan.slot(path);
    return (ev) => {
      if (!hasAuditId(ev, audit)) return undefined;
      const t = ev.t;
      const n = ev.pathNode(slot, p);
      if (n === -1 || (t.kind[n] & TYPE_MASK) !== ARR) return undefined;
      return list(arrayAsStrings(t, elements(t, n)));
    };
  };
}

const idx = (arg: FieldArg): number => (arg.present ? arg.index : -1);

const pathCache = new Map<string, Map<string, Buffer[]>>();

/**
 * Encoded key path requestObject.spec.<listName>.<sub> (sub dot-separated), built once
 * per distinct path: the per-event path only does two map lookups.
 */
function containerPath(listName: string, sub: string): Buffer[] {
  let byList = pathCache.get(listName);
  if (byList === undefined) {
    byList = new Map();
    pathCache.set(listName, byList);
  }
  let k = byList.get(sub);
  if (k === undefined) {
    // '-': the sub path alone (walks that start at the list); '': requestObject.spec.<sub>.
    k = listName === '-' ? keys(...sub.split('.')) : keys('requestObject', 'spec', ...(listName === '' ? [] : [listName]), ...sub.split('.'));
    byList.set(sub, k);
  }
  return k;
}

/** A container list of the pod spec, with the plan slot of its array. */
interface ListRef {
  name: string;
  slot: number;
  keys: Buffer[];
}

/**
 * getValuesRecursive over requestObject.spec.<list>.<sub>. When the list is reachable
 * through objects (its plan slot), the walk starts there; otherwise (absent, or an
 * array on the way, which fans out) it walks from the root as the plugin does.
 */
function containerValues(ev: EventView, list: ListRef, indexFilter: number, sub: string): number[] | undefined {
  const t = ev.t;
  const node = ev.pathNode(list.slot, list.keys);
  if (node !== -1) return values(t, node, indexFilter, containerPath('-', sub));
  return values(t, ev.root, indexFilter, containerPath(list.name, sub));
}

function readImages(ev: EventView, list: ListRef, indexFilter: number): string[] | undefined {
  const arr = containerValues(ev, list, indexFilter, 'image');
  return arr === undefined ? undefined : arrayAsStrings(ev.t, arr);
}

/** The image up to its first ':' or '@' (the plugin's two splits, without their arrays). */
function repository(image: string): string {
  let end = image.indexOf(':');
  if (end < 0) end = image.length;
  const at = image.indexOf('@');
  return image.slice(0, at >= 0 && at < end ? at : end);
}

/** Joined string arrays (command, args) per container; missing ones skipped. */
function readJoined(ev: EventView, list: ListRef, indexFilter: number, sub: string): string[] | undefined {
  const t = ev.t;
  const arr = containerValues(ev, list, indexFilter, sub);
  if (arr === undefined) return undefined;
  const res: string[] = [];
  for (const n of arr) {
    if (n === -1) continue;
    if ((t.kind[n] & TYPE_MASK) !== ARR) return undefined;
    const parts: string[] = [];
    for (const c of elements(t, n)) {
      if ((t.kind[c] & TYPE_MASK) !== STR) return undefined;
      parts.push(stringOf(t, c));
    }
    res.push(cString(parts.join(' ')));
  }
  return list_(res);
}

const K_HOST_PORT = key('hostPort');
const K_CONTAINER_PORT = key('containerPort');

function readHostPorts(ev: EventView, list: ListRef, indexFilter: number): string[] | undefined {
  const t = ev.t;
  const arr = containerValues(ev, list, indexFilter, 'ports');
  if (arr === undefined) return undefined;
  const res: string[] = [];
  for (const ports of arr) {
    if (ports === -1) continue;
    if ((t.kind[ports] & TYPE_MASK) !== ARR) return undefined;
    for (const port of elements(t, ports)) {
      let v = getMember(t, port, K_HOST_PORT);
      if (v === -1) v = getMember(t, port, K_CONTAINER_PORT);
      if (v !== -1) res.push(asString(t, v)!);
    }
  }
  return list_(res);
}

/** eff_run_as_user / eff_run_as_group: the container's own key, else the pod's, else "0". */
function readEffective(ev: EventView, list: ListRef, indexFilter: number, k: string): string[] | undefined {
  const t = ev.t;
  let podId = '0';
  const podValue = getPath(t, ev.root, containerPath('', k));
  if (podValue !== -1) podId = asString(t, podValue)!;
  const arr = containerValues(ev, list, indexFilter, k);
  if (arr === undefined) return undefined;
  return list_(arr.map((n) => (n === -1 ? podId : asString(t, n)!)));
}

/**
 * What a container field reads: `sub` (dot path) of each element of the container list,
 * and the pod-level defaults. The rest of each container (env, resources, mounts...) is
 * skipped by the extractor.
 */
const podReads = (listName: string, sub: string) => (): string[][] => [
  ['requestObject', 'spec', listName, ...sub.split('.')], ['requestObject', 'spec', 'runAsUser'], ['requestObject', 'spec', 'runAsGroup'],
];

/**
 * A container-list field reading `sub` of each container: `fn` gets the event and the
 * list (slot resolved at build time).
 */
function onList(listName: string, sub: string, fn: (ev: EventView, list: ListRef, arg: FieldArg) => FieldValue): Build {
  return (arg, ctx) => {
    const path = ['requestObject', 'spec', listName];
    const list: ListRef = { name: listName, slot: ctx.plan.slot(path, false), keys: keys(...path) };
    return ka((_t, _root, a, ev) => fn(ev, list, a), podReads(listName, sub))(arg, ctx);
  };
}

function skipNil(listName: string, ...sub: string[]): Build {
  const subPath = sub.join('.');
  return onList(listName, subPath, (ev, list, arg) => {
    const arr = containerValues(ev, list, idx(arg), subPath);
    return arr === undefined ? undefined : list_(arrayAsStringsSkipNil(ev.t, arr));
  });
}

function containerFields(listName: string, label: string, withHostPort: boolean): FieldDef[] {
  const prefix = `ka.req.pod.${listName}.`;
  const f = (name: string, desc: string, build: Build): FieldDef =>
    ({ name: prefix + name, desc, type: 'string', list: true, arg: INDEX_ARG, build });
  const on = (sub: string, fn: (ev: EventView, list: ListRef, arg: FieldArg) => FieldValue): Build => onList(listName, sub, fn);
  // skipNil fields: the native prefilter can walk them (FieldDef.listPath).
  const fs = (name: string, desc: string, ...sub: string[]): FieldDef =>
    ({ ...f(name, desc, skipNil(listName, ...sub)), listPath: (arg) => ({ keys: ['requestObject', 'spec', listName, ...sub], index: idx(arg) }) });
  const defs: FieldDef[] = [
    f('name', `When the request object refers to a pod, the ${label} names.`,
      on('name', (ev, l, arg) => {
        const arr = containerValues(ev, l, idx(arg), 'name');
        return arr === undefined ? undefined : list_(arrayAsStrings(ev.t, arr));
      })),
    f('image', `When the request object refers to a pod, the ${label} images.`,
      on('image', (ev, l, arg) => list_(readImages(ev, l, idx(arg))))),
    f('image.repository', `The same as ${prefix}image, but only the repository part (e.g. falcosecurity/falco).`,
      on('image', (ev, l, arg) => list_(readImages(ev, l, idx(arg))?.map(repository)))),
    f('command', `When the request object refers to a pod, the ${label} commands.`,
      on('command', (ev, l, arg) => readJoined(ev, l, idx(arg), 'command'))),
    f('args', `When the request object refers to a pod, the ${label} args.`,
      on('args', (ev, l, arg) => readJoined(ev, l, idx(arg), 'args'))),
    fs('privileged', `When the request object refers to a pod, the value of the privileged flag for all ${label}.`,
      'securityContext', 'privileged'),
    fs('allow_privilege_escalation', `When the request object refers to a pod, the value of the allowPrivilegeEscalation flag for all ${label}.`,
      'securityContext', 'allowPrivilegeEscalation'),
    fs('read_only_fs', `When the request object refers to a pod, the value of the readOnlyRootFilesystem flag for all ${label}.`,
      'securityContext', 'readOnlyRootFilesystem'),
    fs('run_as_user', `When the request object refers to a pod, the runAsUser uid for all ${label}.`,
      'securityContext', 'runAsUser'),
    f('eff_run_as_user', `When the request object refers to a pod, the initial uid that will be used for all ${label}. This combines information from both the pod and container security contexts and uses 0 if no uid is specified.`,
      on('runAsUser', (ev, l, arg) => readEffective(ev, l, idx(arg), 'runAsUser'))),
    fs('run_as_group', `When the request object refers to a pod, the runAsGroup gid for all ${label}.`,
      'securityContext', 'runAsGroup'),
    f('eff_run_as_group', `When the request object refers to a pod, the initial gid that will be used for all ${label}. This combines information from both the pod and container security contexts and uses 0 if no gid is specified.`,
      on('runAsGroup', (ev, l, arg) => readEffective(ev, l, idx(arg), 'runAsGroup'))),
    fs('proc_mount', `When the request object refers to a pod, the procMount type for all ${label}.`,
      'securityContext', 'procMount'),
    fs('add_capabilities', `When the request object refers to a pod, the capabilities added for all ${label}.`,
      'securityContext', 'capabilities', 'add'),
  ];
  if (withHostPort) {
    defs.push(f('host_port', `When the request object refers to a pod, all ${label} hostPort values.`,
      on('ports', (ev, l, arg) => readHostPorts(ev, l, idx(arg)))));
  }
  return defs;
}

function subjectNames(kind: string): Build {
  const subjectsPath = keys('requestObject', 'subjects');
  const kKind = key('kind');
  const kName = key('name');
  const kNamespace = key('namespace');
  const namespaced = kind === 'NamespacedServiceAccount';
  const want = namespaced ? 'ServiceAccount' : kind;
  return ka((t, root) => {
    const subjects = getPath(t, root, subjectsPath);
    if (subjects === -1) return undefined;
    if ((t.kind[subjects] & TYPE_MASK) !== ARR) return undefined;
    const res: string[] = [];
    for (const s of elements(t, subjects)) {
      const kn = getMember(t, s, kKind);
      const nn = getMember(t, s, kName);
      if (kn === -1 || nn === -1) continue;
      // Go compares and joins whole strings; Falco then reads the result as a C string.
      if (asGoString(t, kn) !== want) continue;
      let name = asGoString(t, nn)!;
      if (namespaced) {
        const ns = asGoString(t, getMember(t, s, kNamespace));
        if (ns === undefined) continue;
        name = ns + ':' + name;
      }
      res.push(cString(name));
    }
    return list(res);
  }, () => [['requestObject', 'subjects']]);
}

/** extractRulesField: requestObject.rules[*].<k>, each an array of strings, flattened. */
function rulesField(k: string): Build {
  const p = keys('requestObject', 'rules', k);
  return ka((t, root, arg) => {
    const arr = values(t, root, idx(arg), p);
    if (arr === undefined) return undefined;
    const res: string[] = [];
    for (const n of arr) {
      if (n !== -1 && (t.kind[n] & TYPE_MASK) === ARR) res.push(...arrayAsStringsSkipNil(t, elements(t, n)));
    }
    return list(res);
  }, () => [['requestObject', 'rules']]);
}

const VOLUMES = (): string[][] => [['requestObject', 'spec', 'volumes']];

function volumeValues(...sub: string[]): Build {
  const p = keys('requestObject', 'spec', 'volumes', ...sub);
  return ka((t, root, arg) => {
    const arr = values(t, root, idx(arg), p);
    return arr === undefined ? undefined : list(arrayAsStringsSkipNil(t, arr));
  }, () => [['requestObject', 'spec', 'volumes', ...sub]]);
}

const builder = (b: Build | Builder): Builder => (typeof b === 'function' ? { build: b } : b);
const s = (name: string, desc: string, b: Build | Builder): FieldDef =>
  ({ name, desc, type: 'string', list: false, arg: NO_ARG, ...builder(b) });
const l = (name: string, desc: string, build: Build, indexed = true): FieldDef =>
  ({ name, desc, type: 'string', list: true, arg: indexed ? INDEX_ARG : NO_ARG, build });
/** A volumes field, arrayAsStringsSkipNil over requestObject.spec.volumes.<sub> (see FieldDef.listPath). */
const lv = (name: string, desc: string, ...sub: string[]): FieldDef =>
  ({ ...l(name, desc, volumeValues(...sub)), listPath: (arg) => ({ keys: ['requestObject', 'spec', 'volumes', ...sub], index: idx(arg) }) });
const keyed = (name: string, desc: string, build: Build): FieldDef =>
  ({ name, desc, type: 'string', list: false, arg: KEY_ARG, build });

export const K8SAUDIT_FIELDS: FieldDef[] = [
  s('ka.auditid', 'The unique id of the audit event', fromKeys('auditID')),
  s('ka.stage', 'Stage of the request (e.g. RequestReceived, ResponseComplete, etc.)', fromKeys('stage')),
  s('ka.auth.decision', 'The authorization decision', fromKeys('annotations', 'authorization.k8s.io/decision')),
  s('ka.auth.reason', 'The authorization reason', fromKeys('annotations', 'authorization.k8s.io/reason')),
  s('ka.auth.openshift.decision', 'The authentication decision of the openshfit apiserver extention. Only available on openshift clusters',
    fromKeys('annotations', 'authentication.openshift.io/decision')),
  s('ka.validations.admission.policy.failure', 'The validation failure reason from a Validation Admission Policy',
    fromKeys('annotations', 'validation.policy.admission.k8s.io/validation_failure')),
  s('ka.security.pod.violations', 'The violation reason for pod security policy ',
    fromKeys('annotations', 'pod-security.kubernetes.io/audit-violations')),
  s('ka.auth.openshift.username', 'The user name performing the openshift authentication operation. Only available on openshift clusters',
    fromKeys('annotations', 'authentication.openshift.io/username')),
  s('ka.user.name', 'The user name performing the request', fromKeys('user', 'username')),
  l('ka.user.groups', 'The groups to which the user belongs', listFromKeys('user', 'groups'), false),
  s('ka.impuser.name', 'The impersonated user name', fromKeys('impersonatedUser', 'username')),
  s('ka.verb', 'The action being performed', fromKeys('verb')),
  s('ka.uri', 'The request URI as sent from client to server', fromKeys('requestURI')),
  keyed('ka.uri.param', 'The value of a given query parameter in the uri (e.g. when uri=/foo?key=val, ka.uri.param[key] is val).',
    (arg, ctx) => {
      const uriKeys = keys('requestURI');
      const slot = ctx.plan.slot(['requestURI']);
      return ka((t, _root, _arg, ev) => {
        // url.Parse sees the whole Go string: a NUL in it is a control byte it refuses.
        const uri = asGoString(t, ev.pathNode(slot, uriKeys));
        if (uri === undefined) return undefined;
        const v = queryParam(uri, arg.key);
        return v === undefined ? undefined : cString(v);
      })(arg, ctx);
    }),
  s('ka.target.name', 'The target object name', fromKeys('objectRef', 'name')),
  s('ka.target.namespace', 'The target object namespace', fromKeys('objectRef', 'namespace')),
  s('ka.target.resource', 'The target object resource', fromKeys('objectRef', 'resource')),
  s('ka.target.subresource', 'The target object subresource', fromKeys('objectRef', 'subresource')),
  s('ka.target.pod.name', 'The target pod name', (arg, ctx) => {
    const resource = keys('objectRef', 'resource');
    const subresource = keys('objectRef', 'subresource');
    const name = keys('responseObject', 'metadata', 'name');
    const rs = ctx.plan.slot(['objectRef', 'resource']);
    const ss = ctx.plan.slot(['objectRef', 'subresource']);
    const ns = ctx.plan.slot(['responseObject', 'metadata', 'name']);
    return ka((t, _root, _arg, ev) => {
      if (stringOrEmpty(t, ev.pathNode(rs, resource)) !== 'pods') return undefined;
      if (stringOrEmpty(t, ev.pathNode(ss, subresource)) !== '') return undefined;
      return asString(t, ev.pathNode(ns, name));
    })(arg, ctx);
  }),
  l('ka.req.binding.subjects', 'When the request object refers to a cluster role binding, the subject (e.g. account/users) being linked by the binding',
    listFromKeys('requestObject', 'subjects'), false),
  l('ka.req.binding.subjects.user_names', 'When the request object refers to a cluster role binding, the subject user names being linked by the binding',
    subjectNames('User'), false),
  l('ka.req.binding.subjects.serviceaccount_names', 'When the request object refers to a cluster role binding, the subject service account names being linked by the binding',
    subjectNames('ServiceAccount'), false),
  l('ka.req.binding.subjects.serviceaccount_ns_names', 'When the request object refers to a cluster role binding, the subject serviceaccount namespaced names being linked by the binding, e.g. a list containing: mynamespace:myserviceaccount',
    subjectNames('NamespacedServiceAccount'), false),
  l('ka.req.binding.subjects.group_names', 'When the request object refers to a cluster role binding, the subject group names being linked by the binding',
    subjectNames('Group'), false),
  s('ka.req.binding.role', 'When the request object refers to a cluster role binding, the role being linked by the binding',
    fromKeys('requestObject', 'roleRef', 'name')),
  keyed('ka.req.binding.subject.has_name', 'Deprecated, always returns "N/A". Only provided for backwards compatibility',
    ka(() => 'true')),
  s('ka.req.configmap.name', 'If the request object refers to a configmap, the configmap name', fromKeys('objectRef', 'name')),
  s('ka.req.configmap.obj', 'If the request object refers to a configmap, the entire configmap object', fromKeys('requestObject', 'data')),
  ...containerFields('containers', 'containers', true),
  s('ka.req.container.image', 'Deprecated by ka.req.pod.containers.image. Returns the image of the first container only',
    onList('containers', 'image', (ev, l) => readImages(ev, l, 0)?.[0])),
  s('ka.req.container.image.repository', 'Deprecated by ka.req.pod.containers.image.repository. Returns the repository of the first container only',
    onList('containers', 'image', (ev, l) => {
      const images = readImages(ev, l, 0);
      return images === undefined || images.length === 0 ? undefined : repository(images[0]);
    })),
  s('ka.req.pod.host_ipc', 'When the request object refers to a pod, the value of the hostIPC flag.', fromKeys('requestObject', 'spec', 'hostIPC')),
  s('ka.req.pod.host_network', 'When the request object refers to a pod, the value of the hostNetwork flag.', fromKeys('requestObject', 'spec', 'hostNetwork')),
  s('ka.req.container.host_network', 'Deprecated alias for ka.req.pod.host_network', fromKeys('requestObject', 'spec', 'hostNetwork')),
  s('ka.req.pod.host_pid', 'When the request object refers to a pod, the value of the hostPID flag.', fromKeys('requestObject', 'spec', 'hostPID')),
  s('ka.req.container.privileged', 'Deprecated by ka.req.pod.containers.privileged. Returns true if any container has privileged=true',
    onList('containers', 'securityContext.privileged', (ev, l) => {
      const arr = containerValues(ev, l, -1, 'securityContext.privileged');
      if (arr === undefined) return undefined;
      for (const n of arr) if (n !== -1 && (ev.t.kind[n] & TYPE_MASK) === TRUE) return 'true';
      return 'false';
    })),
  s('ka.req.pod.run_as_user', 'When the request object refers to a pod, the runAsUser uid specified in the security context for the pod. See ....containers.run_as_user for the runAsUser for individual containers',
    fromKeys('requestObject', 'spec', 'securityContext', 'runAsUser')),
  s('ka.req.pod.run_as_group', 'When the request object refers to a pod, the runAsGroup gid specified in the security context for the pod. See ....containers.run_as_group for the runAsGroup for individual containers',
    fromKeys('requestObject', 'spec', 'securityContext', 'runAsGroup')),
  l('ka.req.role.rules', 'When the request object refers to a role/cluster role, the rules associated with the role',
    listFromKeys('requestObject', 'rules'), false),
  l('ka.req.role.rules.apiGroups', "When the request object refers to a role/cluster role, the api groups associated with the role's rules", rulesField('apiGroups')),
  l('ka.req.role.rules.nonResourceURLs', "When the request object refers to a role/cluster role, the non resource urls associated with the role's rules", rulesField('nonResourceURLs')),
  l('ka.req.role.rules.verbs', "When the request object refers to a role/cluster role, the verbs associated with the role's rules", rulesField('verbs')),
  l('ka.req.role.rules.resources', "When the request object refers to a role/cluster role, the resources associated with the role's rules", rulesField('resources')),
  s('ka.req.pod.fs_group', 'When the request object refers to a pod, the fsGroup gid specified by the security context.',
    fromKeys('requestObject', 'spec', 'securityContext', 'fsGroup')),
  l('ka.req.pod.supplemental_groups', 'When the request object refers to a pod, the supplementalGroup gids specified by the security context.',
    listFromKeys('requestObject', 'spec', 'securityContext', 'supplementalGroups'), false),
  s('ka.req.service.type', 'When the request object refers to a service, the service type', fromKeys('requestObject', 'spec', 'type')),
  l('ka.req.service.ports', "When the request object refers to a service, the service's ports", (arg, ctx) => {
    const p = keys('requestObject', 'spec', 'ports');
    return ka((t, root) => {
      const arr = values(t, root, idx(arg), p);
      return arr === undefined ? undefined : list(arrayAsStringsSkipNil(t, arr));
    }, () => [['requestObject', 'spec', 'ports']])(arg, ctx);
  }),
  lv('ka.req.pod.volumes.hostpath', 'When the request object refers to a pod, all hostPath paths specified for all volumes', 'hostPath', 'path'),
  keyed('ka.req.volume.hostpath', 'Deprecated by ka.req.pod.volumes.hostpath. Return true if the provided (host) path prefix is used by any volume',
    (arg, ctx) => {
      const p = keys('requestObject', 'spec', 'volumes', 'hostPath', 'path');
      const isPrefix = arg.key.endsWith('*');
      const prefix = arg.key.slice(0, -1);
      return ka((t, root) => {
        const arr = values(t, root, -1, p);
        if (arr === undefined) return undefined;
        for (const n of arr) {
          // The whole Go string: a NUL inside does not end it here.
          const v = asGoString(t, n);
          if (v !== undefined && ((isPrefix && v.startsWith(prefix)) || v === arg.key)) return 'true';
        }
        return 'false';
      }, () => [['requestObject', 'spec', 'volumes', 'hostPath', 'path']])(arg, ctx);
    }),
  lv('ka.req.pod.volumes.flexvolume_driver', 'When the request object refers to a pod, all flexvolume drivers specified for all volumes', 'flexVolume', 'driver'),
  l('ka.req.pod.volumes.volume_type', 'When the request object refers to a pod, all volume types for all volumes', (arg, ctx) => {
    const p = keys('requestObject', 'spec', 'volumes', '');
    return ka((t, root) => {
      const arr = values(t, root, idx(arg), p);
      if (arr === undefined) return undefined;
      const res: string[] = [];
      for (const v of arr) {
        if (v === -1 || (t.kind[v] & TYPE_MASK) !== OBJ) continue;
        for (const c of elements(t, v)) {
          const k = keyOf(t, c);
          if (k !== 'name') res.push(cString(k));
        }
      }
      return list(res);
    }, VOLUMES)(arg, ctx);
  }),
  s('ka.resp.name', 'The response object name', fromKeys('responseObject', 'metadata', 'name')),
  s('ka.response.code', 'The response code', fromKeys('responseStatus', 'code')),
  s('ka.response.reason', 'The response reason (usually present only for failures)', fromKeys('responseStatus', 'reason')),
  s('ka.useragent', 'The useragent of the client who made the request to the apiserver', fromKeys('userAgent')),
  l('ka.sourceips', 'The IP addresses of the client who made the request to the apiserver', rulesField('sourceIPs')),
  s('ka.cluster.name', 'The name of the k8s cluster', (arg, ctx) => {
    const inner = fromKeys('annotations', 'cluster_name').build(arg, ctx);
    // A credential-bound cluster (serve) overrides whatever the event claims.
    return (ev) => (ev.cluster !== undefined ? ev.cluster : inner(ev));
  }),
  ...containerFields('initContainers', 'init containers', true),
  ...containerFields('ephemeralContainers', 'ephemeral containers', false),
];
