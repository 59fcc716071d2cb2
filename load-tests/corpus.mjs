// Realistic audit traffic for the load tests, and the request bodies made from it.
//
// The events are native-bench/corpus.mjs's (Metadata-heavy controller and kubelet
// activity, ~10 % RequestResponse pod creates with full specs) with a sprinkling of
// attack events mixed in (exec into a pod, a privileged pod, anonymous access, a
// cluster-admin binding) and as many benign look-alikes that must not alert.
//
// Every event of every request gets its own stageTimestamp when the request is sent:
// the send time (ms) plus a 6-digit sequence number in the sub-millisecond digits.
// Falco's alert carries that time back (`time`, nanoseconds), so an alert names the
// exact event, and therefore the request, it came from: the accounting in verify.mjs
// rests on it, and detection latency is measured from it.
import { generateEvents, rng } from '../native-bench/corpus.mjs';

/** 30 bytes, the width of every stamped time: 2026-11-23T18:42:12.123000042Z. */
export const TIME_PLACEHOLDER = '2000-01-01T00:00:00.000000000Z';
const PH = Buffer.from(`"${TIME_PLACEHOLDER}"`);

const ATTACKERS = [
  ['alice@example.com', ['system:authenticated', 'oidc:developers']],
  ['system:serviceaccount:ci:deployer', ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated']],
  ['mallory', ['system:authenticated']],
];

function base(r, ev, overrides) {
  return { ...ev, auditID: ev.auditID.slice(0, -4) + Math.floor(r() * 1e4).toString().padStart(4, '0'), ...overrides };
}

function exec(r, ev, allow) {
  const [user, groups] = ATTACKERS[Math.floor(r() * ATTACKERS.length)];
  const ns = ev.objectRef?.namespace ?? 'default';
  const pod = `web-${Math.floor(r() * 1e6).toString(16)}`;
  const sub = r() < 0.8 ? 'exec' : 'attach';
  const cmd = sub === 'exec' ? '&command=sh&command=-c&command=cat%20%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken' : '';
  return base(r, ev, {
    level: 'Metadata', stage: 'ResponseComplete', verb: r() < 0.7 ? 'get' : 'create',
    requestURI: `/api/v1/namespaces/${ns}/pods/${pod}/${sub}?container=app${cmd}&stdin=true&stdout=true&tty=true`,
    user: { username: user, groups }, userAgent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/3968350',
    objectRef: { resource: 'pods', namespace: ns, name: pod, apiVersion: 'v1', subresource: sub },
    responseStatus: { metadata: {}, code: allow ? 101 : 403 },
    annotations: { 'authorization.k8s.io/decision': allow ? 'allow' : 'forbid', 'authorization.k8s.io/reason': allow ? 'RBAC: allowed by RoleBinding "debug/default"' : '' },
  });
}

function anonymous(r, ev, harmless) {
  const uri = harmless ? '/healthz' : `/api/v1/namespaces/kube-system/secrets${r() < 0.5 ? '' : '/bootstrap-token-' + Math.floor(r() * 1e6).toString(16)}`;
  return base(r, ev, {
    level: 'Metadata', stage: 'ResponseComplete', verb: harmless ? 'get' : (uri.endsWith('secrets') ? 'list' : 'get'),
    requestURI: uri, user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, userAgent: 'curl/8.5.0',
    sourceIPs: [`203.0.113.${1 + Math.floor(r() * 250)}`],
    objectRef: harmless ? undefined : { resource: 'secrets', namespace: 'kube-system', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "oops-anonymous"' },
  });
}

function binding(r, ev, role) {
  const [user, groups] = ATTACKERS[Math.floor(r() * ATTACKERS.length)];
  const name = `tmp-${Math.floor(r() * 1e6).toString(16)}`;
  const obj = {
    kind: 'ClusterRoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'default' }],
  };
  return base(r, ev, {
    level: 'RequestResponse', stage: 'ResponseComplete', verb: 'create',
    requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', user: { username: user, groups },
    userAgent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/3968350',
    objectRef: { resource: 'clusterrolebindings', name, apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 }, requestObject: obj, responseObject: { ...obj, metadata: { ...obj.metadata, uid: ev.auditID } },
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  });
}

function privileged(r, ev, on) {
  const e = structuredClone(ev);
  for (const o of [e.requestObject, e.responseObject]) o.spec.containers[0].securityContext = { privileged: on, ...(on ? {} : { runAsNonRoot: true }) };
  return base(r, e, {});
}

/**
 * `n` events: the native-bench corpus with `attackShare` of them replaced by attack
 * events (and as many benign look-alikes). Deterministic for a seed.
 */
export function generatePool(n, { seed = 7, attackShare = 0.005 } = {}) {
  const events = generateEvents(n, seed);
  const r = rng(seed * 31 + 1);
  const podCreates = events.filter((e) => e.level === 'RequestResponse' && e.verb === 'create');
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x >= attackShare * 2) continue;
    const attack = x < attackShare;
    const kind = Math.floor(r() * 4);
    const ev = events[i];
    events[i] = kind === 0 ? exec(r, ev, attack)
      : kind === 1 ? anonymous(r, ev, !attack)
      : kind === 2 ? binding(r, ev, attack ? 'cluster-admin' : 'view')
      : privileged(r, podCreates[Math.floor(r() * podCreates.length)], attack);
  }
  return events;
}

/** One event, serialized once, with the byte offsets of its two timestamps. */
export class PoolEvent {
  constructor(ev) {
    const e = { ...ev, requestReceivedTimestamp: TIME_PLACEHOLDER, stageTimestamp: TIME_PLACEHOLDER };
    this.bytes = Buffer.from(JSON.stringify(e));
    this.stamps = [];
    for (let at = this.bytes.indexOf(PH); at >= 0; at = this.bytes.indexOf(PH, at + 1)) this.stamps.push(at + 1);
    if (this.stamps.length !== 2) throw new Error(`expected 2 timestamps in an event, found ${this.stamps.length}`);
    /** Rule names this event must alert with (filled from `peregrine scan`). */
    this.expected = [];
  }
}

const HEAD = Buffer.from('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[');
const TAIL = Buffer.from(']}');

/** Writes `${msPrefix}${seq:6}Z` (30 bytes) at `at`. */
function writeStamp(buf, at, msPrefix, seq) {
  buf.write(msPrefix, at, 23, 'latin1');
  for (let k = 28; k >= 23; k--) {
    buf[at + k] = 48 + (seq % 10);
    seq = Math.floor(seq / 10);
  }
  buf[at + 29] = 0x5a; // Z
}

/**
 * Builds EventList bodies from a pool, giving every event a unique stageTimestamp.
 * `now()` is the time source (Date.now by default).
 */
export class BodyBuilder {
  constructor(pool, { now = Date.now } = {}) {
    this.pool = pool;
    this.now = now;
    this.seq = 0;
  }

  /**
   * Events [start, start+n) of the pool (wrapping). Returns the body, for each event
   * that must alert its time key and expected rules, and `key(i)`: the time key of
   * the i-th event of the body.
   */
  build(start, n) {
    const pool = this.pool;
    let size = HEAD.length + TAIL.length + (n - 1);
    for (let i = 0; i < n; i++) size += pool[(start + i) % pool.length].bytes.length;
    const buf = Buffer.allocUnsafe(size);
    let at = HEAD.copy(buf, 0);
    const ms = this.now();
    const prefix = new Date(ms).toISOString().slice(0, 23);
    const firstSeq = this.seq;
    const alerting = [];
    for (let i = 0; i < n; i++) {
      if (i > 0) buf[at++] = 0x2c;
      const ev = pool[(start + i) % pool.length];
      ev.bytes.copy(buf, at);
      const seq = this.seq;
      this.seq = (this.seq + 1) % 1_000_000;
      for (const s of ev.stamps) writeStamp(buf, at + s, prefix, seq);
      if (ev.expected.length > 0) alerting.push({ key: `${prefix}${String(seq).padStart(6, '0')}Z`, rules: ev.expected });
      at += ev.bytes.length;
    }
    TAIL.copy(buf, at);
    return { body: buf, ms, alerting, key: (i) => `${prefix}${String((firstSeq + i) % 1_000_000).padStart(6, '0')}Z` };
  }
}

/** Parses a stamped time key back into its millisecond part. */
export function keyMillis(key) {
  return Date.parse(key.slice(0, 23) + 'Z');
}
