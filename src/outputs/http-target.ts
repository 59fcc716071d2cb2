// HTTP output: each alert POSTed as one Falco JSON object with Content-Type
// application/json, exactly what Falco's http_output sends and falcosidekick's
// `POST /` expects. Up to `concurrency` requests in flight over keep-alive
// connections, started in queue order; a batch completes when all of its alerts are
// delivered. Network errors, timeouts, 408, 429 and 5xx are retried with backoff
// (forever, until shutdown); other 4xx mean the receiver will never take that alert:
// it is counted and logged as refused, not retried.
//
// An alert with an id (outputs/alert-id.ts) is sent with it as a last member, `"uuid":
// "<id>"` (Falco's keys are sorted and uuid sorts last), so a receiver that reads these
// POSTs can drop an alert it already has. falcosidekick replaces any incoming uuid with
// a random one (its handlers.go), so behind it the id does not reach the outputs.
import { Backoff, PermanentError, retrying, type DeliveryReport, type OutputTarget, type QueuedAlert } from './target.js';
import type { HttpOutputConfig } from '../config/schema.js';
import { redactIn } from '../config/redact.js';

const UUID_HEAD = Buffer.from(',"uuid":"');
const UUID_TAIL = Buffer.from('"}');

/** The Falco JSON object with `"uuid":"<id>"` as its last member. */
export function withUuid(json: Buffer, id: Buffer): Buffer {
  // json ends with the object's closing brace.
  const n = json.length - 1;
  const out = Buffer.allocUnsafe(n + UUID_HEAD.length + id.length + UUID_TAIL.length);
  let at = json.copy(out, 0, 0, n);
  at += UUID_HEAD.copy(out, at);
  at += id.copy(out, at);
  UUID_TAIL.copy(out, at);
  return out;
}

export class HttpTarget implements OutputTarget {
  readonly name = 'http';
  readonly network = true;
  private readonly headers: Record<string, string>;

  constructor(private readonly cfg: HttpOutputConfig) {
    this.headers = { 'content-type': 'application/json', 'user-agent': 'peregrine', ...cfg.headers };
  }

  async deliver(batch: QueuedAlert[], report: DeliveryReport, stop: AbortSignal): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      const backoff = new Backoff(this.cfg.retryInitialMs, this.cfg.retryMaxMs);
      while (next < batch.length) {
        const a = batch[next++];
        try {
          await retrying(() => this.post(a, stop), report, backoff, stop);
          report.delivered(a);
        } catch (e) {
          if (e instanceof PermanentError) report.refused(a, e.message);
          else throw e;
        }
      }
    };
    const lanes: Promise<void>[] = [];
    for (let i = 0; i < Math.min(this.cfg.concurrency, batch.length); i++) lanes.push(lane());
    await Promise.all(lanes);
  }

  private async post(a: QueuedAlert, stop: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.cfg.url, {
        method: 'POST',
        headers: this.headers,
        body: (a.id === undefined ? a.json : withUuid(a.json, a.id)) as unknown as RequestInit['body'],
        signal: AbortSignal.any([stop, AbortSignal.timeout(this.cfg.timeoutMs)]),
      });
    } catch (e) {
      if (stop.aborted) throw e;
      // Shown on /readyz and in logs: name the cause, never the URL's secrets.
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const cause = err.cause?.code ?? err.cause?.message;
      throw new Error(redactIn(`${err.message}${cause ? ` (${cause})` : ''}`, this.cfg.url));
    }
    // Drain the body so the connection can be reused.
    const text = await res.text().catch(() => '');
    if (res.status >= 200 && res.status < 300) return;
    const why = redactIn(`HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, this.cfg.url);
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      // Not retried: a 4xx is about this alert, not about the receiver being down.
      throw new PermanentError(why);
    }
    throw new Error(why);
  }

  async close(): Promise<void> {}
}
