// The webhook front end on the main thread (uWebSockets.js): POST /k8s-audit.
//
// Order of checks, all before the body is read (a rejected request costs a header
// parse, and its connection is closed so its body is never read):
//   shutting down → 503 · authentication → 401 · Content-Type → 415 ·
//   Content-Length → 411/413 · rate limit → 429 · admission (bytes and tasks in
//   flight, the cluster's share of the bytes, output backlog) → 429 with Retry-After.
// Then the body is copied once, chunk by chunk, into a SharedArrayBuffer of exactly
// Content-Length bytes (the workers read it in place), split into event ranges
// (split.ts, no JSON.parse), evaluated (pipeline/batch.ts), and acknowledged 200 only
// once every event was evaluated and its alerts were handed to the outputs (with
// outputs.spool_dir: and are durable in the spool, outputs/spool.ts).
//
// What a hostile client gets: refusals that close are answered on the next turn, so
// requests pipelined behind one make uWS close the connection unparsed; a body that
// arrives slower than limits.min_upload_bytes_per_second (judged over
// limits.upload_rate_window_seconds) is cut with 408; a body of more events than
// limits.max_events_per_request is refused before any is evaluated.
import { performance } from 'node:perf_hooks';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ServeConfig } from '../config/schema.js';
import type { Authenticator, AuthResult } from './auth.js';
import type { RateLimiter } from './rate-limit.js';
import { BodySplitter, NOT_AUDIT, SplitError, TooManyEvents, nativeSplit } from './split.js';
import { Admission, manyClusters } from './admission.js';
import { BodyPool, sizeClass } from './body-pool.js';
import { RefusalLog } from './refusal-log.js';
import { answerLater } from './uws.js';
import type { BatchRunner, ReleasedAlert } from '../pipeline/batch.js';
import type { EvalPool } from '../pipeline/pool.js';
import type { ServeMetrics } from '../metrics/metrics.js';
import type { Outputs } from '../outputs/outputs.js';

const STATUS: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 401: '401 Unauthorized', 404: '404 Not Found', 405: '405 Method Not Allowed',
  408: '408 Request Timeout', 411: '411 Length Required', 413: '413 Payload Too Large', 415: '415 Unsupported Media Type',
  429: '429 Too Many Requests', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

/** Label for requests that carry no credential (no authentication configured). */
export const ANONYMOUS = 'none';

/**
 * Events a body is charged against its cluster's rate limit when admitted, per byte
 * declared, before it is read (a Metadata event is about 1 KiB); corrected to the real
 * count once it is split.
 */
const RATE_BYTES_PER_EVENT = 1024;
const UPLOAD_CHECK_MS = 500;
/**
 * Bodies up to this are split here (about 1 ms natively, a few in TypeScript); larger
 * ones on a worker, so no body holds the main thread for long.
 */
const MAIN_SPLIT_MAX = 1024 * 1024;

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

/** A body being received, watched for its rate. */
interface Upload {
  len: number;
  got: number;
  windowStart: number;
  gotAtWindowStart: number;
  cut: () => void;
}

function isJsonContentType(ct: string): boolean {
  const base = ct.split(';', 1)[0].trim().toLowerCase();
  return base === 'application/json';
}

export class IngestServer {
  readonly admission: Admission;
  draining = false;
  private readonly splitter: BodySplitter;
  private idleWaiters: (() => void)[] = [];
  private readonly retryAfter: string;
  private readonly refusals: RefusalLog;
  private readonly uploads = new Set<Upload>();
  private readonly bodies: BodyPool;
  private uploadTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: IngestDeps) {
    this.retryAfter = String(d.cfg.limits.retryAfterSeconds);
    this.admission = new Admission(d.cfg.limits, manyClusters(d.cfg.auth));
    this.splitter = new BodySplitter(nativeSplit(), d.cfg.limits.maxEventsPerRequest);
    this.refusals = new RefusalLog(d.log);
    // The admission keeps the buffers in use within max_inflight_bytes; one more of the
    // largest class lets a free buffer of another size wait for reuse.
    this.bodies = new BodyPool(d.cfg.limits.maxInflightBytes + sizeClass(d.cfg.limits.maxBodyBytes));
  }

  /** Routes on `app`; `certCluster` is the cluster of every request on it (mTLS front). */
  attach(app: TemplatedApp, certCluster?: string): void {
    const path = this.d.cfg.path;
    app.post(path, (res, req) => this.onPost(res, req, certCluster));
    app.any(path, (res) => {
      this.d.metrics.rejected.inc({ cluster: ANONYMOUS, reason: 'method_not_allowed' });
      answerLater(res, (r) => {
        r.writeStatus(STATUS[405]).writeHeader('Allow', 'POST');
        this.json(r, { error: { code: 'method_not_allowed', message: 'use POST' } }, true);
      });
    });
    app.any('/*', (res) => {
      this.d.metrics.rejected.inc({ cluster: ANONYMOUS, reason: 'not_found' });
      answerLater(res, (r) => {
        r.writeStatus(STATUS[404]);
        this.json(r, { error: { code: 'not_found', message: `the webhook path is ${path}` } }, true);
      });
    });
  }

  /** Resolves when no accepted request is left unanswered. */
  idle(): Promise<void> {
    if (this.admission.requests === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  close(): void {
    clearInterval(this.uploadTimer);
    this.uploadTimer = undefined;
  }

  private json(res: HttpResponse, body: unknown, close = false): void {
    res.writeHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(body), close);
  }

  /**
   * Answers a request whose body is not read. A 429 keeps the connection: uWS discards
   * the rest of the body as it arrives, so the sender reads the whole answer and its
   * Retry-After (closing with body bytes unread would reset the connection instead).
   * Other refusals close it, reading nothing more from a sender that failed the checks,
   * and are written on the next turn (see the top of this file).
   */
  /**
   * The mTLS front's own 401 (a certificate that maps to no cluster, and no token or JWT
   * to fall back on): counted and logged as the 401s answered here are.
   */
  refusedCertificate(remote: string, why: string): void {
    const m = this.d.metrics;
    m.authFailures.inc({ reason: 'cert_unmapped' });
    m.rejected.inc({ cluster: ANONYMOUS, reason: 'unauthorized' });
    m.requests.inc({ cluster: ANONYMOUS, code: '401' });
    this.refusals.note('cert_unmapped', `401 for ${remote}: ${why}`);
  }

  private reject(res: HttpResponse, st: RequestState, status: number, reason: string, message: string, extra?: (r: HttpResponse) => void): void {
    if (st.done || st.aborted) return;
    st.done = true;
    const m = this.d.metrics;
    m.rejected.inc({ cluster: st.cluster, reason });
    m.requests.inc({ cluster: st.cluster, code: String(status) });
    m.requestDuration.observe({ cluster: st.cluster, code: String(status) }, (performance.now() - st.t0) / 1000);
    const close = status !== 429;
    const write = (): void => {
      if (st.aborted) return;
      res.cork(() => {
        res.writeStatus(STATUS[status]);
        extra?.(res);
        this.json(res, { error: { code: reason, message } }, close);
      });
    };
    if (close) setImmediate(write);
    else write();
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
      // The client is told nothing more; the operator gets the reason, counted and logged.
      metrics.authFailures.inc({ reason: a.code });
      if (!st.aborted) this.refusals.note(a.code, `401 for ${Buffer.from(res.getRemoteAddressAsText()).toString()}: ${a.reason}`);
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
    // What the body holds in memory: its buffer, of a rounded size (body-pool.ts).
    const cost = sizeClass(len);
    const refusal = this.admission.check(st.cluster, cost, this.d.pool.pending, tasks, this.d.outputs.underPressure);
    if (refusal !== undefined) {
      const message = refusal === 'overloaded' ? 'the evaluation queue is full; retry later'
        : `cluster '${st.cluster}' holds its share of the bodies in flight; retry later`;
      this.reject(res, st, 429, refusal, message, (r) => r.writeHeader('Retry-After', this.retryAfter));
      return;
    }

    // Accepted: reserve its bytes until it is answered (or aborted), and its declared
    // size in events against the rate limit, before any of it is read.
    const estimate = Math.ceil(len / RATE_BYTES_PER_EVENT);
    limiter.charge(st.cluster, estimate);
    this.admission.hold(st.cluster, cost);
    let reserved = true;
    const releaseReservation = (): void => {
      if (!reserved) return;
      reserved = false;
      this.uploads.delete(upload);
      this.admission.release(st.cluster, cost);
      this.bodies.release(sab);
      if (this.admission.requests === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    // An aborted upload frees its reservation at once; an aborted evaluation when it ends.
    let evaluating = false;
    setRelease(() => {
      if (evaluating) return;
      if (reserved) metrics.rejected.inc({ cluster: st.cluster, reason: 'upload_aborted' });
      releaseReservation();
    });
    metrics.bytes.inc({ cluster: st.cluster }, len);

    const sab = this.bodies.acquire(len);
    const body = Buffer.from(sab, 0, len);
    const upload: Upload = {
      len, got: 0, windowStart: performance.now(), gotAtWindowStart: 0,
      cut: () => {
        releaseReservation();
        const L = cfg.limits;
        this.reject(res, st, 408, 'slow_upload',
          `body arrived slower than ${L.minUploadBytesPerSecond} bytes/s over ${L.uploadRateWindowSeconds} s (limits.min_upload_bytes_per_second)`);
      },
    };
    const onChunk = (chunk: ArrayBuffer, last: boolean): void => {
      if (st.done || st.aborted) return;
      const n = chunk.byteLength;
      if (upload.got + n > len) {
        releaseReservation();
        this.reject(res, st, 400, 'malformed', 'body longer than Content-Length');
        return;
      }
      // The one copy: uWS's chunk is only valid during this callback.
      body.set(new Uint8Array(chunk), upload.got);
      upload.got += n;
      if (!last) return;
      this.uploads.delete(upload);
      if (upload.got !== len) {
        releaseReservation();
        this.reject(res, st, 400, 'malformed', `body has ${upload.got} bytes, Content-Length said ${len}`);
        return;
      }
      evaluating = true;
      this.evaluate(res, st, sab, len, cluster, estimate)
        .catch((e: unknown) => {
          // A worker that died splitting the body: not acknowledged, the sender retries.
          this.d.log(`cluster ${st.cluster}: request failed: ${(e as Error).message}`);
          this.answerAfterBody(res, st, 500, { error: { code: 'internal', message: 'evaluation failed; retry' } }, 'internal');
        })
        .finally(releaseReservation);
    };
    if (early) {
      for (const c of early) onChunk(c.data, c.last);
      if (early.some((c) => c.last)) return;
    }
    if (len === 0) {
      onChunk(new ArrayBuffer(0), true);
      return;
    }
    if (!st.done && cfg.limits.minUploadBytesPerSecond > 0) this.watch(upload);
    setOnChunk(onChunk);
  }

  private watch(u: Upload): void {
    this.uploads.add(u);
    this.uploadTimer ??= setInterval(() => this.checkUploads(), UPLOAD_CHECK_MS);
  }

  /** Cuts bodies that received less than the minimum rate over the last window. */
  private checkUploads(): void {
    const L = this.d.cfg.limits;
    const now = performance.now();
    for (const u of this.uploads) {
      if (now - u.windowStart < L.uploadRateWindowSeconds * 1000) continue;
      const need = Math.min(L.minUploadBytesPerSecond * L.uploadRateWindowSeconds, u.len - u.gotAtWindowStart);
      if (u.got - u.gotAtWindowStart < need) {
        u.cut();
      } else {
        u.windowStart = now;
        u.gotAtWindowStart = u.got;
      }
    }
    if (this.uploads.size === 0) {
      clearInterval(this.uploadTimer);
      this.uploadTimer = undefined;
    }
  }

  private async evaluate(
    res: HttpResponse, st: RequestState, sab: SharedArrayBuffer, len: number, cluster: string | undefined, charged: number,
  ): Promise<void> {
    const { runner, limiter, metrics, cfg } = this.d;
    let count: number;
    let ranges: Uint32Array;
    if (len <= MAIN_SPLIT_MAX) {
      try {
        count = this.splitter.split(Buffer.from(sab), 0, len);
        ranges = this.splitter.ranges;
      } catch (e) {
        if (!(e instanceof SplitError)) throw e;
        this.refuseBody(res, st, e.message, e.offset, e instanceof TooManyEvents);
        return;
      }
    } else {
      // A long walk would hold the main thread (tens of ms for 12 MiB): a worker does it.
      const r = await this.d.pool.split({ body: sab, len, maxEvents: cfg.limits.maxEventsPerRequest });
      if (!r.ok) {
        this.refuseBody(res, st, r.message, r.offset, r.tooMany);
        return;
      }
      count = r.count;
      ranges = r.ranges;
    }
    limiter.charge(st.cluster, count - charged);
    const outcome = await runner.run(sab, ranges, count, cluster, st.cluster, this.d.sink, () => st.aborted);
    if (!outcome.ok) {
      if (outcome.reason === 'aborted') {
        metrics.rejected.inc({ cluster: st.cluster, reason: 'aborted' });
        return;
      }
      this.answerAfterBody(res, st, outcome.status, { error: { code: outcome.reason, message: outcome.message } }, outcome.reason);
      return;
    }
    // With a spool, acknowledged means durable there (outputs/spool.ts).
    if (outcome.alerts > 0) await this.d.outputs.whenSpooled();
    metrics.events.inc({ cluster: st.cluster }, outcome.events);
    for (const is of outcome.issues) this.d.log(`cluster ${st.cluster}: event ${is.item} not evaluated: ${is.code}: ${is.message}`);
    if (outcome.issueCount > outcome.issues.length) this.d.log(`cluster ${st.cluster}: ${outcome.issueCount - outcome.issues.length} more events not evaluated in the same request`);
    for (const [code, n] of Object.entries(outcome.issueCodes)) metrics.eventIssues.inc({ cluster: st.cluster, reason: code }, n);
    this.answerAfterBody(res, st, 200, {
      events: outcome.events,
      alerts: outcome.alerts,
      rejected_events: outcome.issueCount,
      ...(outcome.issueCount > 0 ? { issues: outcome.issues } : {}),
    });
  }

  /** A body the splitter refused: 413 for too many events, else 400 with the reason. */
  private refuseBody(res: HttpResponse, st: RequestState, message: string, offset: number, tooMany: boolean): void {
    if (tooMany) {
      this.answerAfterBody(res, st, 413, { error: { code: 'too_many_events', message } }, 'too_many_events');
      return;
    }
    const reason = message === NOT_AUDIT ? 'not_audit' : 'malformed';
    this.answerAfterBody(res, st, 400, { error: { code: reason, message: message === NOT_AUDIT ? message : `invalid JSON at byte ${offset}: ${message}` } }, reason);
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
