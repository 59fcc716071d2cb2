// An OVHcloud Logs Data Platform WebSocket stream as a source of `peregrine serve`
// (what Falco's k8saudit-ovh plugin reads, for managed Kubernetes that sends its audit
// log to LDP instead of a webhook).
//
// The main thread only copies frames as they arrive into shared chunks (no JSON here:
// three layers of it cost ~28 µs per event); a chunk goes to BatchRunner in LDP mode
// once the socket's burst is read (or the chunk is full), and the workers unwrap each
// frame (ldp/unwrap.ts), evaluate its payload as a document and drop the alerts of
// events the shared dedup table has seen within its window (a stream may send again
// what it sent before a reconnect). Alerts are released in the order the frames came.
// Back-pressure: while too many chunks are being evaluated, or the outputs are over
// their bound, or the pool's queue is full, the socket is not read (TCP pushes back to
// LDP) and memory stays at the chunks in flight.
import { readFileSync } from 'node:fs';
import { ErrorCode, PeregrineError } from '../errors.js';
import type { ReleasedAlert } from '../pipeline/batch.js';
import { createDedupTable } from '../pipeline/dedup.js';
import { StreamClient } from './ldp/client.js';
import { proxyFor, type Proxy } from './ldp/proxy.js';
import { parseLdpUrl, type LdpUrl } from './ldp/url.js';
import { RefusalLog } from './refusal-log.js';
import type { Source, SourceDeps, SourceStats, StreamStats } from './source.js';

export interface LdpSourceConfig {
  type: 'ldp';
  /** A file holding the stream's URL: it is a secret. */
  urlFile: string;
  cluster: string;
  caFile?: string;
  pingAfterMs: number;
  pongTimeoutMs: number;
  dedupWindowSeconds: number;
  dedupMaxKeys: number;
}

const CHUNK_BYTES = 1024 * 1024;
/** Chunks being evaluated at once: beyond, the socket is not read. */
const MAX_IN_FLIGHT = 8;
// A chunk is one task: cut into four (limits.task_bytes' 256 KiB) the stream took 14.1 µs
// of CPU per event, whole 12.5 (bench:ldp, same run: fewer hand-offs and wake-ups between
// threads sharing 2 cores); the chunks in flight keep every worker busy.
const TASK_BYTES = CHUNK_BYTES;
const PRESSURE_CHECK_MS = 50;

/** Event issue codes → the reasons of peregrine_source_bad_lines_total. */
const ISSUE_REASON: Record<string, string> = {
  [ErrorCode.INPUT_NOT_AUDIT]: 'not_audit',
  [ErrorCode.INPUT_JSON]: 'invalid_json',
  [ErrorCode.INPUT_TIMESTAMP]: 'no_timestamp',
  [ErrorCode.INPUT_TOO_LARGE]: 'too_large',
};

interface Chunk {
  sab: SharedArrayBuffer;
  buf: Buffer;
  used: number;
  ranges: Uint32Array;
  count: number;
}

interface InFlight {
  chunk: Chunk;
  done: boolean;
  alerts: ReleasedAlert[];
  events: number;
}

export class LdpSource implements Source {
  readonly name: string;
  private url: LdpUrl | undefined;
  private proxy: Proxy | undefined;
  /** The host the source started with: its name in logs and metrics. */
  private shownHost: string | undefined;
  private client: StreamClient | undefined;
  private readonly dedup: SharedArrayBuffer;
  private chunk: Chunk | undefined;
  private readonly free: Chunk[] = [];
  private readonly inFlight: InFlight[] = [];
  private flushScheduled = false;
  private pressureTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private drainedWaiters: (() => void)[] = [];
  private readonly notes: RefusalLog;
  private up = false;
  private readonly st = {
    bytesRead: 0, frames: 0, badLines: new Map<string, number>(),
    stream: { connects: 0, disconnects: new Map<string, number>(), dialFailures: new Map<string, number>(), downSeconds: 0, repeats: 0, dedupFull: 0, paused: false } as StreamStats,
  };

  constructor(private readonly cfg: LdpSourceConfig, private readonly deps: SourceDeps) {
    this.name = `ldp:${cfg.urlFile}`;
    this.dedup = createDedupTable({ windowSeconds: cfg.dedupWindowSeconds, maxKeys: cfg.dedupMaxKeys });
    this.notes = new RefusalLog(deps.log);
  }

  /** What may be shown of the stream: its host (the URL's token is a secret). */
  get display(): string {
    return this.shownHost ? `ldp://${this.shownHost}` : this.name;
  }

  private readUrl(): LdpUrl {
    let text: string;
    try {
      text = readFileSync(this.cfg.urlFile, 'utf8');
    } catch (e) {
      throw new PeregrineError(ErrorCode.CONFIG, `sources: ldp url_file ${this.cfg.urlFile}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return parseLdpUrl(text, `sources: ldp url_file ${this.cfg.urlFile}`);
  }

  /**
   * Before each redial: the url_file again, so a token fixed in the Secret is taken
   * without a restart. A file that cannot be read or parsed keeps the URL dialled before.
   * Metrics and logs keep naming the host the source started with.
   */
  private refreshUrl(): { url: LdpUrl; proxy: Proxy | undefined } {
    try {
      const url = this.readUrl();
      if (url.href !== this.url!.href) {
        this.proxy = proxyFor(url.href, process.env);
        this.url = url;
        this.deps.log(`source ${this.display} (cluster ${this.cfg.cluster}): url_file changed; dialling ${url.host}${this.proxy ? ` through the proxy ${this.proxy.shown}` : ''}`);
      }
    } catch (e) {
      this.notes.note('url_file', `source ${this.display} (cluster ${this.cfg.cluster}): ${(e as Error).message}; dialling the URL read before`);
    }
    return { url: this.url!, proxy: this.proxy };
  }

  async start(): Promise<void> {
    this.url = this.readUrl();
    this.shownHost = this.url.host;
    if (this.cfg.caFile !== undefined) {
      try {
        readFileSync(this.cfg.caFile);
      } catch (e) {
        throw new PeregrineError(ErrorCode.CONFIG, `sources: ldp ca_file ${this.cfg.caFile}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    // As k8saudit-ovh: HTTPS_PROXY unless NO_PROXY names the host.
    this.proxy = proxyFor(this.url.href, process.env);
    if (this.proxy) this.deps.log(`source ${this.display} (cluster ${this.cfg.cluster}): through the proxy ${this.proxy.shown}`);
    this.client = new StreamClient({
      url: this.url, caFile: this.cfg.caFile, proxy: this.proxy, pingAfterMs: this.cfg.pingAfterMs, pongTimeoutMs: this.cfg.pongTimeoutMs,
      refresh: () => this.refreshUrl(),
      onFrame: (d) => this.onFrame(d),
      onState: (up, why) => {
        this.up = up;
        if (up) {
          this.st.stream.connects++;
          this.deps.log(`source ${this.display} (cluster ${this.cfg.cluster}): connected`);
        } else {
          this.notes.note(`down:${why}`, `source ${this.display} (cluster ${this.cfg.cluster}): ${this.client?.problem ?? `disconnected (${why})`}; reconnecting`);
        }
      },
      onDrop: (reason) => count(this.st.stream.disconnects, reason),
      onDialFailed: (reason) => count(this.st.stream.dialFailures, reason),
      onGap: (reason, ms) => {
        this.st.stream.downSeconds += ms / 1000;
        this.deps.log(`source ${this.display} (cluster ${this.cfg.cluster}): back after ${(ms / 1000).toFixed(1)} s down (${reason}); what LDP sent meanwhile is lost`);
      },
    });
    this.client.start();
  }

  // ---- frames in

  private onFrame(data: Buffer): void {
    if (this.stopping) return;
    this.st.bytesRead += data.length;
    this.st.frames++;
    let c = this.chunk;
    // Copies into shared memory go word by word only when source and target agree modulo
    // 8 (else byte by byte, ~1 µs a frame): the frame starts up to 7 bytes further on.
    let at = c === undefined ? 0 : c.used + ((data.byteOffset - c.used) & 7);
    if (c !== undefined && (at + data.length > c.sab.byteLength || 2 * c.count + 2 > c.ranges.length)) {
      this.flush();
      c = undefined;
    }
    if (c === undefined) {
      c = this.newChunk(data.length + 8);
      this.chunk = c;
      at = data.byteOffset & 7;
    }
    c.buf.set(data, at);
    c.ranges[2 * c.count] = at;
    c.used = at + data.length;
    c.ranges[2 * c.count + 1] = c.used;
    c.count++;
    // What one read of the socket delivered goes out together.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private newChunk(atLeast: number): Chunk {
    if (atLeast <= CHUNK_BYTES) {
      const c = this.free.pop();
      if (c !== undefined) {
        c.used = 0;
        c.count = 0;
        return c;
      }
    }
    const sab = new SharedArrayBuffer(Math.max(CHUNK_BYTES, atLeast));
    return { sab, buf: Buffer.from(sab), used: 0, ranges: new Uint32Array(2 * 4096), count: 0 };
  }

  private flush(): void {
    const c = this.chunk;
    if (c === undefined || c.count === 0) return;
    this.chunk = undefined;
    const f: InFlight = { chunk: c, done: false, alerts: [], events: 0 };
    this.inFlight.push(f);
    this.checkPressure();
    const cluster = this.cfg.cluster;
    this.deps.runner.run(c.sab, c.ranges.subarray(0, 2 * c.count), c.count, cluster, cluster, (a) => { f.alerts.push(a); }, () => false,
      { ldp: { dedup: this.dedup }, taskBytes: TASK_BYTES }).then(
      (out) => {
        if (!out.ok) {
          this.bad('internal', c.count);
          this.notes.note('internal', `source ${this.display}: ${c.count} frames not evaluated: ${out.message}`);
          return;
        }
        f.events = out.events;
        const l = out.ldp;
        if (l) {
          for (const [reason, n] of Object.entries(l.skipped)) {
            this.bad(reason, n);
            this.notes.note(reason, `source ${this.display}: frames skipped (${reason}): not an LDP audit record`);
          }
          this.st.stream.repeats += l.repeats;
          this.st.stream.dedupFull += l.dedupFull;
        }
        for (const is of out.issues) {
          const reason = ISSUE_REASON[is.code] ?? 'other';
          this.bad(reason);
          this.deps.metrics.eventIssues.inc({ cluster, reason: is.code });
          this.notes.note(reason, `source ${this.display}: a frame's payload not evaluated: ${is.message}`);
        }
      },
      (e: unknown) => {
        this.bad('internal', c.count);
        this.notes.note('internal', `source ${this.display}: ${c.count} frames not evaluated: ${(e as Error).message}`);
      },
    ).finally(() => {
      f.done = true;
      this.release();
    });
  }

  /** Finished chunks in arrival order: alerts to the outputs, the chunk back to the free list. */
  private release(): void {
    while (this.inFlight.length > 0 && this.inFlight[0].done) {
      const f = this.inFlight.shift()!;
      for (const a of f.alerts) this.deps.sink(a);
      if (f.events > 0) this.deps.metrics.events.inc({ cluster: this.cfg.cluster }, f.events);
      if (f.chunk.sab.byteLength === CHUNK_BYTES && this.free.length < MAX_IN_FLIGHT) this.free.push(f.chunk);
    }
    this.checkPressure();
    if (this.inFlight.length === 0) for (const w of this.drainedWaiters.splice(0)) w();
  }

  private bad(reason: string, n = 1): void {
    this.st.badLines.set(reason, (this.st.badLines.get(reason) ?? 0) + n);
  }

  // ---- back-pressure

  private checkPressure(): void {
    const full = this.inFlight.length >= MAX_IN_FLIGHT || this.deps.outputs.underPressure || this.deps.pool.pending >= this.deps.maxQueuedTasks;
    const c = this.client;
    if (c === undefined) return;
    if (full && !c.isPaused) {
      c.pause();
      this.st.stream.paused = true;
    } else if (!full && c.isPaused && !this.stopping) {
      c.resume();
      this.st.stream.paused = false;
    }
    // The outputs' pressure ends by itself: look again while paused.
    clearTimeout(this.pressureTimer);
    if (c.isPaused && !this.stopping) this.pressureTimer = setTimeout(() => this.checkPressure(), PRESSURE_CHECK_MS);
  }

  // ---- lifecycle

  async stop(deadlineMs: number): Promise<boolean> {
    this.stopping = true;
    clearTimeout(this.pressureTimer);
    this.client?.stop();
    this.flush();
    if (this.inFlight.length === 0) return true;
    let t: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((r) => this.drainedWaiters.push(() => r(true))),
      new Promise<boolean>((r) => { t = setTimeout(() => r(false), Math.max(0, deadlineMs)); }),
    ]);
    clearTimeout(t);
    return drained;
  }

  readiness(): string[] {
    const p = this.client?.problem;
    return p !== undefined && !this.up ? [`source ${this.display} (cluster ${this.cfg.cluster}): ${p}`] : [];
  }

  stats(): SourceStats {
    return {
      source: this.display,
      type: 'stream',
      cluster: this.cfg.cluster,
      bytesRead: this.st.bytesRead,
      lines: this.st.frames,
      badLines: this.st.badLines,
      rotations: 0,
      truncations: 0,
      lagBytes: 0,
      // A stream has no backlog to measure: what it holds is what it sent.
      lagSeconds: 0,
      checkpointAgeSeconds: 0,
      up: this.up,
      // The outage going on now counts too: its events are being lost as we speak.
      stream: { ...this.st.stream, downSeconds: this.st.stream.downSeconds + (this.client?.downMs() ?? 0) / 1000 },
    };
  }
}

function count(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}
