// Audit events for the serve tests. With the bundled rules, an event made with
// `alert: true` fires exactly one alert ("Anonymous Request Allowed"); the others none.
export interface EventOpts {
  alert?: boolean;
  /** A cluster_name annotation the sender claims (must not be trusted). */
  clusterAnnotation?: string;
  /** Pads the event to about this many bytes. */
  padTo?: number;
  stageTimestamp?: string;
}

export function auditEvent(id: string, o: EventOpts = {}): Record<string, unknown> {
  const ev: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: id,
    stage: 'ResponseComplete',
    requestURI: o.alert ? `/api/v1/namespaces/default/secrets/${id}` : '/api/v1/namespaces/default/pods',
    verb: o.alert ? 'get' : 'list',
    user: o.alert ? { username: 'system:anonymous', groups: ['system:unauthenticated'] } : { username: 'alice', groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.1'],
    objectRef: { resource: o.alert ? 'secrets' : 'pods', namespace: 'default', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: new Date(Date.now() - 5).toISOString().replace('Z', '000Z'),
    stageTimestamp: o.stageTimestamp ?? new Date().toISOString().replace('Z', '000Z'),
    annotations: {
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': '',
      ...(o.clusterAnnotation ? { cluster_name: o.clusterAnnotation } : {}),
    },
  };
  if (o.padTo) {
    const base = JSON.stringify(ev).length;
    if (o.padTo > base) (ev.annotations as Record<string, string>)['example.com/pad'] = 'p'.repeat(o.padTo - base - 30);
  }
  return ev;
}

export function eventList(items: unknown[]): string {
  return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
}

/** n events, every `every`-th one alerting; ids `${prefix}-${i}`. */
export function batch(prefix: string, n: number, every = 1, o: EventOpts = {}): { body: string; alertIds: string[] } {
  const items = [];
  const alertIds: string[] = [];
  for (let i = 0; i < n; i++) {
    const alert = i % every === 0;
    const id = `${prefix}-${i}`;
    if (alert) alertIds.push(id);
    items.push(auditEvent(id, { ...o, alert }));
  }
  return { body: eventList(items), alertIds };
}
