// The books of a run: what the server acknowledged against what its outputs wrote and
// what its metrics counted.
//
//   - every expected alert of every acknowledged (200) event was written exactly once,
//     by every output;
//   - no alert of a request answered with anything else (429, 4xx, 503): those were
//     never evaluated, their sender keeps the events and retries;
//   - no alert that matches no event sent (a corrupted or invented alert);
//   - per cluster, the server's peregrine_events_total / requests_total{code="200"} /
//     alerts_total equal what that cluster's acknowledged requests carried.
// Alerts of requests that got no answer at all (connection reset, timeout) may or may
// not exist (the sender cannot know, and retries): they are counted, not judged.
import { sumBy, sumOf } from './stats.mjs';

/** alerts: [{key, rule}] as one output wrote them. */
function checkOutput(ledger, alerts) {
  const seen = new Map();
  let unexpected = 0;
  let ofRejected = 0;
  let ofUnanswered = 0;
  const examples = [];
  for (const a of alerts) {
    const e = ledger.byKey.get(a.key);
    if (!e || !e.rules.includes(a.rule)) {
      unexpected++;
      if (examples.length < 3) examples.push(`unexpected alert ${a.rule} @ ${a.key}`);
      continue;
    }
    if (e.rec.status === 0) ofUnanswered++;
    else if (e.rec.status !== 200) {
      ofRejected++;
      if (examples.length < 3) examples.push(`alert of a request answered ${e.rec.status}: ${a.rule} @ ${a.key}`);
    }
    const k = `${a.key}\u0000${a.rule}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  let expected = 0;
  let missing = 0;
  let duplicated = 0;
  for (const [key, e] of ledger.byKey) {
    if (e.rec.status !== 200) continue;
    for (const rule of e.rules) {
      expected++;
      const n = seen.get(`${key}\u0000${rule}`) ?? 0;
      if (n === 0) {
        missing++;
        if (examples.length < 3) examples.push(`missing ${rule} @ ${key} (request ${e.rec.id}, ${e.rec.cluster})`);
      } else if (n > 1) {
        duplicated += n - 1;
        if (examples.length < 3) examples.push(`${n}× ${rule} @ ${key}`);
      }
    }
  }
  return { written: alerts.length, expected, missing, duplicated, unexpected, ofRejected, ofUnanswered, examples };
}

function clientTotals(ledger) {
  const per = new Map();
  for (const r of ledger.requests) {
    let c = per.get(r.cluster);
    if (!c) per.set(r.cluster, (c = { sent: 0, sentEvents: 0, acked: 0, ackedEvents: 0, ackedAlerts: 0, unanswered: 0, unansweredEvents: 0, rejected: 0 }));
    c.sent++;
    c.sentEvents += r.events;
    if (r.status === 200) {
      c.acked++;
      c.ackedEvents += r.events;
      c.ackedAlerts += r.alerts;
    } else if (r.status === 0) {
      c.unanswered++;
      c.unansweredEvents += r.events;
    } else c.rejected++;
  }
  return per;
}

/**
 * outputs: {name: [{key, rule}]}; samples: the server's final /metrics, parsed.
 * Returns {ok, outputs, clusters, failures}.
 */
export function verifyRun(ledger, outputs, samples) {
  const failures = [];
  const outs = {};
  for (const [name, alerts] of Object.entries(outputs)) {
    const r = checkOutput(ledger, alerts);
    outs[name] = r;
    if (r.missing || r.duplicated || r.unexpected || r.ofRejected) failures.push(`output ${name}: ${r.missing} missing, ${r.duplicated} duplicated, ${r.unexpected} unexpected, ${r.ofRejected} of rejected requests (${r.examples.join('; ')})`);
  }
  const events = sumBy(samples, 'peregrine_events_total', 'cluster');
  const alerts = sumBy(samples, 'peregrine_alerts_total', 'cluster');
  const clusters = [];
  for (const [cluster, c] of clientTotals(ledger)) {
    const server = {
      events: events.get(cluster) ?? 0,
      acked: sumOf(samples, 'peregrine_requests_total', { cluster, code: '200' }),
      alerts: alerts.get(cluster) ?? 0,
    };
    // Requests the server answered 200 but whose answer never arrived are counted by
    // the server only: allowed, as long as they explain the whole difference.
    const exact = server.events === c.ackedEvents && server.acked === c.acked && server.alerts === c.ackedAlerts;
    const explained = server.events >= c.ackedEvents && server.events - c.ackedEvents <= c.unansweredEvents
      && server.acked >= c.acked && server.acked - c.acked <= c.unanswered;
    clusters.push({ cluster, ...c, server, exact, explained });
    if (!explained) {
      failures.push(`cluster ${cluster}: acknowledged ${c.acked} requests / ${c.ackedEvents} events / ${c.ackedAlerts} alerts, `
        + `server counted ${server.acked} / ${server.events} / ${server.alerts}`);
    }
  }
  if (ledger.problems.responseMismatch) failures.push(`${ledger.problems.responseMismatch} 200 answers did not count the events/alerts sent (${ledger.problems.examples.join('; ')})`);
  if (ledger.problems.noRetryAfter) failures.push(`${ledger.problems.noRetryAfter} 429/503 answers without Retry-After`);
  return { ok: failures.length === 0, outputs: outs, clusters, failures };
}
