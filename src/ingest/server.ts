// The webhook front end on the main thread (uWebSockets.js): POST /k8s-audit.
//
// Order of checks, all before the body is read (a rejected request costs a header
// parse, and its connection is closed so its body is never read):
//   shutting down → 503 · authentication → 401 · Content-Type → 415 ·
//   Content-Length → 411/413 · rate limit → 429 · admission (bytes and tasks in
//   flight, output backlog) → 429 with Retry-After.
// Then the body is copied once, chunk by chunk, into a SharedArrayBuffer of exactly
// Content-Length bytes (the workers read it in place), split into event ranges
// (split.ts, no JSON.parse), evaluated (pipeline/batch.ts), and acknowledged 200 only
// once every event was evaluated and its alerts were handed to the outputs.
import { performance } from 'node:perf_hooks';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ServeConfig } from '../config/schema.js';
import type { Authenticator, AuthResult } from './auth.js';
import type { RateLimiter } from './rate-limit.js';
import { BodySplitter, NOT_AUDIT, SplitError, nativeSplit } from './split.js';
import type { BatchRunner, ReleasedAlert } from '../pipeline/batch.js';
import type { EvalPool } from '../pipeline/pool.js';
import type { ServeMetrics } from '../metrics/metrics.js';
import type { Outputs } from '../outputs/outputs.js';

const STATUS: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 401: '401 Unauthorized', 404: '404 Not Found', 405: '405 Method Not Allowed',
  411: '411 Length Required', 413: '413 Payload Too Large', 415: '415 Unsupported Media Type', 429: '429 Too Many Requests',
  500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

/** Label for requests that carry no credential (no authentication configured). */
export const ANONYMOUS = 'none';

export interface IngestDeps {
  cfg: ServeConfig;
  auth: Authenticator;
  limiter: RateLimiter;
  runner: BatchRunner;
  pool: EvalPool;
  outputs: Outputs;
  metrics: ServeMetrics;
  log: (msg: string) => void;
  /** Releases one alert to the outputs. */
  sink: (a: ReleasedAlert) => void;
}

interface EarlyChunk {
  data: ArrayBuffer;
  last: boolean;
}

interface RequestState {
  aborted: boolean;
  done: boolean;
  t0: number;
  cluster: string;
}

function isJsonContentType(ct: string): boolean {
  const base = ct.split(';', 1)[0].trim().toLowerCase();
  return base === 'application/json';
}

export class IngestServer {
  inflightBytes = 0;
  inflightRequests = 0;
  draining = false;
  private readonly splitter = new BodySplitter(nativeSplit());
  private idleWaiters: (() => void)[] = [];
  private readonly retryAfter: string;

  constructor(private readonly d: IngestDeps) {
    this.retryAfter = String(d.cfg.limits.retryAfterSeconds);
  }

  /** Routes on `app`; `certCluster` is the cluster of every request on it (mTLS front). */
  attach(app: TemplatedApp, certCluster?: string): void {
    const path = this.d.cfg.path;
    app.post(path, (res, req) => this.onPost(res, req, certCluster));
    app.any(path, (res) => {
      res.writeStatus(STATUS[405]).writeHeader('Allow', 'POST');
      this.json(res, { error: { code: 'method_not_allowed', message: 'use POST' } });
    });
    app.any('/*', (res) => {
      res.writeStatus(STATUS[404]);
      this.json(res, { error: { code: 'not_found', message: `the webhook path is ${path}` } });
    });
  }

  /** Resolves when no accepted request is left unanswered. */
  idle(): Promise<void> {
    if (this.inflightRequests === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private json(res: HttpResponse, body: unknown, close = false): void {
    res.writeHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(body), close);
  }

  /**
   * Answers a request whose body is not read. A 429 keeps the connection: uWS discards
   * the rest of the body as it arrives, so the sender reads the whole answer and its
   * Retry-After (closing with body bytes unread would reset the connection instead).
   * Other refusals close it, reading nothing more from a sender that failed the checks.
   */
  private reject(res: HttpResponse, st: RequestState, status: number, reason: string, message: string, extra?: (r: HttpResponse) => void): void {
    if (st.done || st.aborted) return;
    st.done = true;
    const m = this.d.metrics;
    m.rejected.inc({ cluster: st.cluster, reason });
    m.requests.inc({ cluster: st.cluster, code: String(status) });
    m.requestDuration.observe({ cluster: st.cluster, code: String(status) }, (performance.now() - st.t0) / 1000);
    res.cork(() => {
      res.writeStatus(STATUS[status]);
      extra?.(res);
      this.json(res, { error: { code: reason, message } }, status !== 429);
    });
  }

  private onPost(res: HttpResponse, req: HttpRequest, certCluster: string | undefined): void {
    // Headers must be read now: `req` is only valid during this call.
    const st: RequestState = { aborted: false, done: false, t0: performance.now(), cluster: certCluster ?? ANONYMOUS };
    const contentType = req.getHeader('content-type');
    const contentLength = req.getHeader('content-length');
    const authorization = req.getHeader('authorization');
    let release: (() => void) | undefined;
    res.onAborted(() => {
      st.aborted = true;
      release?.();
    });
    // Data may arrive before an asynchronous (JWT) verification ends; keep what came
    // with the headers (one socket read at most: the socket is paused) and decide later.
    let early: EarlyChunk[] | undefined;
    let onChunk: ((chunk: ArrayBuffer, last: boolean) => void) | undefined;
    res.onData((chunk, last) => {
      if (onChunk) onChunk(chunk, last);
      else if (early && !st.done && !st.aborted) early.push({ data: chunk.slice(0), last });
    });

    if (this.draining) {
      this.reject(res, st, 503, 'shutting_down', 'the server is shutting down; retry', (r) => r.writeHeader('Retry-After', this.retryAfter));
      return;
    }
    const a = this.d.auth.authenticate(authorization, certCluster);
    if (a instanceof Promise) {
      early = [];
      res.pause();
      a.then(
        (r) => {
          if (st.aborted) return;
          res.resume();
          this.afterAuth(res, st, r, contentType, contentLength, early!, (fn) => { onChunk = fn; }, (fn) => { release = fn; });
        },
        (e: unknown) => {
          this.d.log(`authentication error: ${(e as Error).message}`);
          this.reject(res, st, 401, 'unauthorized', 'invalid credentials');
        },
      );
      return;
    }
    this.afterAuth(res, st, a, contentType, contentLength, undefined, (fn) => { onChunk = fn; }, (fn) => { release = fn; });
  }

  private afterAuth(
    res: HttpResponse, st: RequestState, a: AuthResult, contentType: string, contentLength: string, early: EarlyChunk[] | undefined,
    setOnChunk: (fn: (chunk: ArrayBuffer, last: boolean) => void) => void, setRelease: (fn: () => void) => void,
  ): void {
    const { cfg, limiter, metrics } = this.d;
    if (!a.ok) {
      // The reason is logged for the operator, not told to the client.
      this.reject(res, st, 401, 'unauthorized', 'missing or invalid credentials', (r) => r.writeHeader('WWW-Authenticate', 'Bearer'));
      return;
    }
    const cluster = a.cluster;
    st.cluster = cluster ?? ANONYMOUS;
    if (!isJsonContentType(contentType)) {
      this.reject(res, st, 415, 'content_type', `Content-Type must be application/json, not '${contentType.slice(0, 100)}'`);
      return;
    }
    if (contentLength === '' || !/^\d{1,12}$/.test(contentLength)) {
      this.reject(res, st, 411, 'length_required', 'a Content-Length header is required');
      return;
    }
    const len = Number(contentLength);
    if (len > cfg.limits.maxBodyBytes) {
      this.reject(res, st, 413, 'too_large', `body of ${len} bytes exceeds the limit of ${cfg.limits.maxBodyBytes}`);
      return;
    }
    const wait = limiter.wait(st.cluster);
    if (wait > 0) {
      this.reject(res, st, 429, 'rate_limited', `cluster '${st.cluster}' is over its rate limit`,
        (r) => r.writeHeader('Retry-After', String(Math.max(1, Math.ceil(wait)))));
      return;
    }
    const tasks = Math.max(1, Math.ceil(len / cfg.limits.taskBytes));
    const overloaded = this.inflightBytes + len > cfg.limits.maxInflightBytes
      || this.d.pool.pending + tasks > cfg.limits.maxQueuedTasks
      || this.d.outputs.underPressure;
    if (overloaded) {
      this.reject(res, st, 429, 'overloaded', 'the evaluation queue is full; retry later', (r) => r.writeHeader('Retry-After', this.retryAfter));
      return;
    }

    // Accepted: reserve its bytes until it is answered (or aborted).
    this.inflightBytes += len;
    this.inflightRequests++;
    let reserved = true;
    const releaseReservation = (): void => {
      if (!reserved) return;
      reserved = false;
      this.inflightBytes -= len;
      this.inflightRequests--;
      if (this.inflightRequests === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    // An aborted upload frees its reservation at once; an aborted evaluation when it ends.
    let evaluating = false;
    setRelease(() => { if (!evaluating) releaseReservation(); });
    metrics.bytes.inc({ cluster: st.cluster }, len);

    const sab = new SharedArrayBuffer(len);
    const body = Buffer.from(sab);
    let got = 0;
    const onChunk = (chunk: ArrayBuffer, last: boolean): void => {
      if (st.done || st.aborted) return;
      const n = chunk.byteLength;
      if (got + n > len) {
        releaseReservation();
        this.reject(res, st, 400, 'malformed', 'body longer than Content-Length');
        return;
      }
      // The one copy: uWS's chunk is only valid during this callback.
      body.set(new Uint8Array(chunk), got);
      got += n;
      if (!last) return;
      if (got !== len) {
        releaseReservation();
        this.reject(res, st, 400, 'malformed', `body has ${got} bytes, Content-Length said ${len}`);
        return;
      }
      evaluating = true;
      this.evaluate(res, st, sab, len, cluster).finally(releaseReservation);
    };
    if (early) {
      for (const c of early) onChunk(c.data, c.last);
      if (early.some((c) => c.last)) return;
    }
    if (len === 0) {
      onChunk(new ArrayBuffer(0), true);
      return;
    }
    setOnChunk(onChunk);
  }

  private async evaluate(res: HttpResponse, st: RequestState, sab: SharedArrayBuffer, len: number, cluster: string | undefined): Promise<void> {
    const { runner, limiter, metrics } = this.d;
    const body = Buffer.from(sab);
    let count: number;
    try {
      count = this.splitter.split(body, 0, len);
    } catch (e) {
      if (!(e instanceof SplitError)) throw e;
      const reason = e.message === NOT_AUDIT ? 'not_audit' : 'malformed';
      this.answerAfterBody(res, st, 400, { error: { code: reason, message: e.message === NOT_AUDIT ? e.message : `invalid JSON at byte ${e.offset}: ${e.message}` } }, reason);
      return;
    }
    limiter.charge(st.cluster, count);
    const outcome = await runner.run(sab, this.splitter.ranges, count, cluster, st.cluster, this.d.sink, () => st.aborted);
    if (!outcome.ok) {
      if (outcome.reason === 'aborted') {
        metrics.rejected.inc({ cluster: st.cluster, reason: 'aborted' });
        return;
      }
      this.answerAfterBody(res, st, outcome.status, { error: { code: outcome.reason, message: outcome.message } }, outcome.reason);
      return;
    }
    metrics.events.inc({ cluster: st.cluster }, outcome.events);
    for (const is of outcome.issues) this.d.log(`cluster ${st.cluster}: event ${is.item} not evaluated: ${is.code}: ${is.message}`);
    if (outcome.issueCount > outcome.issues.length) this.d.log(`cluster ${st.cluster}: ${outcome.issueCount - outcome.issues.length} more events not evaluated in the same request`);
    for (const is of outcome.issues) metrics.eventIssues.inc({ cluster: st.cluster, reason: is.code });
    if (outcome.issueCount > outcome.issues.length) metrics.eventIssues.inc({ cluster: st.cluster, reason: 'other' }, outcome.issueCount - outcome.issues.length);
    this.answerAfterBody(res, st, 200, {
      events: outcome.events,
      alerts: outcome.alerts,
      rejected_events: outcome.issueCount,
      ...(outcome.issueCount > 0 ? { issues: outcome.issues } : {}),
    });
  }

  private answerAfterBody(res: HttpResponse, st: RequestState, status: number, body: unknown, reason?: string): void {
    if (st.aborted || st.done) return;
    st.done = true;
    const m = this.d.metrics;
    if (reason) m.rejected.inc({ cluster: st.cluster, reason });
    m.requests.inc({ cluster: st.cluster, code: String(status) });
    m.requestDuration.observe({ cluster: st.cluster, code: String(status) }, (performance.now() - st.t0) / 1000);
    res.cork(() => {
      res.writeStatus(STATUS[status]);
      // While shutting down, tell keep-alive clients to reconnect (to a live instance).
      this.json(res, body, this.draining);
    });
  }
}
