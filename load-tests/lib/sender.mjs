// Simulated kube-apiservers: one autocannon instance per cluster, each with its own
// bearer token, connections, pace and batch sizes. Every request is recorded in a
// Ledger (what was sent, what came back) so that a run can be checked against what
// the server wrote.
//
// Bounded: the run stops sending at its deadline, lets every request in flight be
// answered (no request is cut off, so the books balance exactly), and is stopped hard
// `drainSeconds` later whatever happens.
import autocannon from 'autocannon';

export class Ledger {
  constructor() {
    /** {id, cluster, events, alerts, status (0 = no answer), t0, t1, latency, ms} */
    this.requests = [];
    /** time key → {rec, rules} for every event that must alert */
    this.byKey = new Map();
    this.problems = { responseMismatch: 0, noRetryAfter: 0, examples: [] };
    this.t0 = performance.now();
  }

  problem(kind, detail) {
    this.problems[kind]++;
    if (this.problems.examples.length < 5) this.problems.examples.push(`${kind}: ${detail}`);
  }
}

/**
 * spec: {cluster, token?, connections, rate? (requests/s per connection), batch(): n, start(): pool index,
 *        checkBody? (false: do not check the 200 answer's counts)}
 * Resolves when every sender has stopped: {started, deadline, ended, errors, timeouts}.
 */
export async function runSenders(url, specs, builder, ledger, { durationSeconds, maxRequests = Infinity, drainSeconds = 35, timeoutSeconds = 30 }) {
  const clients = [];
  const started = performance.now();
  let deadlineAt;
  const stopSending = () => {
    if (deadlineAt !== undefined) return;
    deadlineAt = performance.now();
    // Each client stops after the answer to the request it has in flight.
    for (const c of clients) c.responseMax = Math.max(1, c.reqsMade);
  };
  let errors = 0;
  let timeouts = 0;
  const runs = specs.map((spec) => new Promise((resolve, reject) => {
    const inst = autocannon({
      url,
      method: 'POST',
      connections: spec.connections,
      // The deadline below ends the run; this only bounds a run that would not drain.
      duration: durationSeconds + drainSeconds + 5,
      timeout: timeoutSeconds,
      ...(spec.rate ? { connectionRate: spec.rate } : {}),
      headers: { 'content-type': 'application/json', ...(spec.token ? { authorization: `Bearer ${spec.token}` } : {}) },
      setupClient: (c) => clients.push(c),
      requests: [{
        setupRequest(req, ctx) {
          const n = spec.batch();
          const { body, ms, alerting } = builder.build(spec.start(), n);
          const rec = { id: ledger.requests.length, cluster: spec.cluster, events: n, bytes: body.length, alerts: 0, status: 0, t0: performance.now(), t1: 0, latency: 0, ms };
          ledger.requests.push(rec);
          for (const a of alerting) {
            ledger.byKey.set(a.key, { rec, rules: a.rules });
            rec.alerts += a.rules.length;
          }
          ctx.rec = rec;
          if (ledger.requests.length >= maxRequests) stopSending();
          req.body = body;
          return req;
        },
        onResponse(status, body, ctx, headers) {
          const rec = ctx.rec;
          if (!rec || rec.status !== 0) return;
          rec.t1 = performance.now();
          rec.status = status;
          rec.latency = rec.t1 - rec.t0;
          if (status === 200 && spec.checkBody !== false) {
            let r;
            try {
              r = JSON.parse(body);
            } catch {
              r = {};
            }
            if (r.events !== rec.events || r.alerts !== rec.alerts || r.rejected_events !== 0) {
              ledger.problem('responseMismatch', `request ${rec.id} of ${rec.cluster}: sent ${rec.events} events expecting ${rec.alerts} alerts, answer ${body.slice(0, 200)}`);
            }
          } else if (status === 429 || status === 503) {
            const ra = Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === 'retry-after');
            if (!ra || !/^\d+$/.test(String(ra[1]))) ledger.problem('noRetryAfter', `request ${rec.id}: ${status} without an integer Retry-After`);
          }
        },
      }],
    }, (err, result) => {
      if (err) reject(err);
      else {
        errors += result.errors;
        timeouts += result.timeouts;
        resolve(result);
      }
    });
    spec.instance = inst;
  }));

  const deadline = setTimeout(stopSending, durationSeconds * 1000);
  const hardStop = setTimeout(() => { for (const s of specs) s.instance.stop(); }, (durationSeconds + drainSeconds) * 1000);
  try {
    await Promise.all(runs);
  } finally {
    clearTimeout(deadline);
    clearTimeout(hardStop);
  }
  const lastAnswer = ledger.requests.reduce((m, r) => Math.max(m, r.t1), started);
  return { started, deadline: deadlineAt ?? performance.now(), ended: lastAnswer, errors, timeouts };
}
