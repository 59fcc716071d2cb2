// The stable id of an alert: the `uuid` the HTTP output sends, so a receiver can drop a
// repeat. An alert sent again (replayed from the spool after a crash, or an apiserver
// retrying a batch whose acknowledgement it never saw) is the same rule firing on the
// same audit event, so its id is derived from exactly that:
//
//   uuid = UUIDv5(ALERT_ID_NAMESPACE, cluster + "\n" + auditID + "\n" + stage + "\n" + rule)
//
// cluster is ka.cluster.name (the credential's cluster, or the event's cluster_name
// annotation when unauthenticated), auditID and stage are the event's, rule is the rule's
// name. An event without an auditID (no k8saudit field reads such an event, but json.*
// fields can) adds "\n" + its stageTimestamp in nanoseconds. Anyone can recompute it
// (RFC 9562 §5.5: SHA-1 of the namespace's 16 bytes then the name's UTF-8).
import { createHash } from 'node:crypto';

export const ALERT_ID_NAMESPACE = '0b9f3c0e-5d1a-4c7e-9f3a-7e0d6a1b2c45';
const NAMESPACE_BYTES = Buffer.from(ALERT_ID_NAMESPACE.replace(/-/g, ''), 'hex');

/** Length of an id as text (8-4-4-4-12 hex digits). */
export const ALERT_ID_LENGTH = 36;

/** The UUIDv5 of `name` in Peregrine's alert namespace. */
export function alertIdOf(name: string): string {
  const h = createHash('sha1').update(NAMESPACE_BYTES).update(name, 'utf8').digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex', 0, 16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The name an alert's id is derived from (see the top of this file). */
export function alertIdName(cluster: string, auditId: string | undefined, stage: string, rule: string, timeNs: string): string {
  return auditId === undefined ? `${cluster}\n\n${stage}\n${rule}\n${timeNs}` : `${cluster}\n${auditId}\n${stage}\n${rule}`;
}
