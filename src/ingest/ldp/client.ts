// The WebSocket side of an LDP stream: dial, read frames, keep the connection honest,
// and dial again after anything goes wrong, forever (until stop).
//
// Better than k8saudit-ovh on faults: every failure is retried on a jittered backoff
// (1 s doubling to 60 s), including 400/401/403/404 at the handshake, which the plugin
// treats as final (here they are reported as not ready, and retried with the URL asked
// anew before each dial: a token fixed in the Secret heals without a restart); a ping goes out after `pingAfterMs`
// without a frame and the connection is dropped when no pong comes within
// `pongTimeoutMs` (a half-open connection would otherwise look idle forever); every
// disconnection is reported with how long the stream was then down. While paused
// (back-pressure) the socket is not read, so TCP pushes back to the sender, and the
// idle and pong timers are off.
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, rootCertificates, type ConnectionOptions } from 'node:tls';
import WebSocket from 'ws';
import { Backoff } from '../../outputs/target.js';
import { openTunnel, type Proxy } from './proxy.js';
import type { LdpUrl } from './url.js';

export interface StreamClientOptions {
  url: LdpUrl;
  caFile?: string;
  /** Dial through this proxy (from HTTPS_PROXY: proxyFor). */
  proxy?: Proxy;
  /** Asked before each redial: the URL and proxy to dial now. */
  refresh?: () => { url: LdpUrl; proxy: Proxy | undefined };
  pingAfterMs: number;
  pongTimeoutMs: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Each frame's bytes (valid only during the call). */
  onFrame(data: Buffer): void;
  /** Connected (true) or not; `why` says what broke or refused. */
  onState(up: boolean, why: string): void;
  /** A disconnection and how long the stream was down until it came back. */
  onGap(reason: string, downMs: number): void;
  /** A connection that was up broke (when it breaks, not when it comes back). */
  onDrop?(reason: string): void;
  /** A dial that did not get a connection up (refused handshake, TLS, proxy, network). */
  onDialFailed?(reason: string): void;
}

/** OpenSSL's verdicts on a certificate chain that Node passes on as error codes. */
const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE', 'CERT_REJECTED']);

/** Why dialling failed, in words a user can act on (TLS refusals especially). */
function connectProblem(host: string, e: NodeJS.ErrnoException): string {
  const code = e.code ?? e.message;
  if (code.startsWith('PROXY_')) return e.message;
  if (UNTRUSTED.has(code)) return `cannot connect to ${host}: its TLS certificate is not trusted (${code}); if a proxy or a private CA signs it, give that CA as ca_file`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `cannot connect to ${host}: its TLS certificate is for other names (${e.message})`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `cannot connect to ${host}: its TLS certificate is out of its validity dates (${code})`;
  return `cannot connect to ${host}: ${code}`;
}

const HANDSHAKE_TIMEOUT_MS = 30_000;

/** NODE_EXTRA_CA_CERTS, as Node adds it to its own store (unreadable: Node warned at start). */
function extraCaCerts(): string[] {
  const f = process.env.NODE_EXTRA_CA_CERTS;
  if (!f) return [];
  try {
    return [readFileSync(f, 'utf8')];
  } catch {
    return [];
  }
}

/** A connection that lasted this long (or delivered a frame) was good: back off from 1 s again. */
const GOOD_CONNECTION_MS = 10_000;

export class StreamClient {
  private ws: WebSocket | undefined;
  private stopped = false;
  private paused = false;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private heardAt = 0;
  private pongTimer: NodeJS.Timeout | undefined;
  private downSince = Date.now();
  private openedAt = 0;
  private gotFrame = false;
  /** What broke the last connection that was up. */
  private dropReason = '';
  private everUp = false;
  private readonly ca: string[] | undefined;
  private url: LdpUrl;
  private proxy: Proxy | undefined;
  /** Drops the current connection with a reason (the pong timeout). */
  private failCurrent: ((reason: string) => void) | undefined;
  /** The last handshake refusal or error, for readiness. */
  problem: string | undefined = 'connecting';

  constructor(private readonly o: StreamClientOptions) {
    this.backoff = new Backoff(o.backoffInitialMs ?? 1000, o.backoffMaxMs ?? 60_000);
    this.url = o.url;
    this.proxy = o.proxy;
    // Beside Node's CAs, not instead of them (the `ca` option replaces its store, which
    // holds the bundled roots and NODE_EXTRA_CA_CERTS).
    this.ca = o.caFile === undefined ? undefined : [...rootCertificates, ...extraCaCerts(), readFileSync(o.caFile, 'utf8')];
  }

  start(): void {
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.clearTimers();
    this.ws?.terminate();
  }

  /** Stop reading the socket (the sender is pushed back by TCP). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.clearTimers();
    this.ws?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.ws?.resume();
    this.armIdle();
  }

  /** How long the stream has been down since a connection that was up broke (0 while up, or before the first). */
  downMs(): number {
    return this.everUp && this.openedAt === 0 && !this.stopped ? Date.now() - this.downSince : 0;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  private dial(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url.href, {
      ...(this.ca ? { ca: this.ca } : {}),
      ...(this.proxy ? { createConnection: this.throughProxy(this.proxy) } : {}),
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // Frames can be large EventLists; the ws default (100 MiB) stays the bound.
      perMessageDeflate: false,
      // As k8saudit-ovh's gorilla/websocket: a text frame with invalid UTF-8 is read (and
      // decoded with U+FFFD, as Go's JSON decoding does), not a reason to close.
      skipUTF8Validation: true,
    });
    this.ws = ws;
    let failed = false;
    const fail = (reason: string): void => {
      if (failed) return;
      failed = true;
      this.failCurrent = undefined;
      this.clearTimers();
      if (this.ws === ws) this.ws = undefined;
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      this.disconnected(reason);
    };
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      this.problem = code === 401 || code === 403 ? `LDP refused the token (HTTP ${code}): check the URL in the Secret`
        : code === 404 ? 'LDP knows no such stream (HTTP 404): check the URL'
          : `LDP answered HTTP ${code} to the WebSocket handshake`;
      fail(`http_${code}`);
    });
    this.failCurrent = fail;
    ws.on('open', () => {
      this.problem = undefined;
      this.openedAt = Date.now();
      this.gotFrame = false;
      if (this.paused) ws.pause();
      // Before the first connection nothing was being received, so nothing was lost.
      if (this.everUp) this.o.onGap(this.dropReason, Date.now() - this.downSince);
      this.everUp = true;
      this.o.onState(true, 'connected');
      this.armIdle();
    });
    ws.on('message', (data) => {
      this.gotFrame = true;
      this.heardAt = performance.now();
      if (this.idleTimer === undefined) this.armIdle();
      this.o.onFrame(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    });
    ws.on('pong', () => {
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
      this.armIdle();
    });
    ws.on('ping', () => this.armIdle());
    ws.on('close', (code) => fail(code === 1000 ? 'closed' : `closed_${code}`));
    ws.on('error', (e: NodeJS.ErrnoException) => {
      if (this.problem !== undefined && this.openedAt === 0) this.problem = connectProblem(this.url.host, e);
      fail(e.code ? e.code.toLowerCase() : 'error');
    });
  }

  /**
   * ws's createConnection, through a CONNECT tunnel: Node's request waits for the
   * callback when it returns nothing. TLS to the stream then runs inside the tunnel.
   */
  private throughProxy(proxy: Proxy): typeof import('node:net').createConnection {
    const connect = (opts: ConnectionOptions & { host: string; port: number | string }, cb: (err: Error | null, s?: Socket) => void): undefined => {
      openTunnel(proxy, opts.host, Number(opts.port), HANDSHAKE_TIMEOUT_MS, this.ca, (err, tunnel) => {
        if (err) return cb(err);
        cb(null, tlsConnect({ ...opts, path: undefined, socket: tunnel, servername: isIP(opts.host) ? undefined : opts.host }));
      });
      return undefined;
    };
    return connect as unknown as typeof import('node:net').createConnection;
  }

  private disconnected(reason: string): void {
    const openedAt = this.openedAt;
    this.openedAt = 0;
    // Closed by stop(): not a disconnection.
    if (this.stopped) return;
    if (openedAt !== 0) {
      this.downSince = Date.now();
      this.dropReason = reason;
      if (this.downSince - openedAt >= GOOD_CONNECTION_MS || this.gotFrame) this.backoff.reset();
      this.o.onDrop?.(reason);
      this.o.onState(false, reason);
    } else {
      this.o.onDialFailed?.(reason);
      if (this.problem !== undefined) this.o.onState(false, reason);
    }
    this.problem ??= `disconnected (${reason}), reconnecting`;
    this.retryTimer = setTimeout(() => {
      // A redial asks again what to dial (the url_file may have changed).
      if (this.o.refresh) ({ url: this.url, proxy: this.proxy } = this.o.refresh());
      this.dial();
    }, this.backoff.delay());
  }

  /**
   * After pingAfterMs without a frame: ping, and expect a pong within pongTimeoutMs.
   * Frames only stamp heardAt (a timer reset per frame costs more than the frame's own
   * handling); the timer looks at the stamp when it fires and waits out the rest.
   */
  private armIdle(): void {
    if (this.paused || this.stopped) return;
    this.heardAt = performance.now();
    if (this.idleTimer === undefined) this.idleTimer = setTimeout(() => this.idleCheck(), this.o.pingAfterMs);
  }

  private idleCheck(): void {
    this.idleTimer = undefined;
    if (this.paused || this.stopped) return;
    const quiet = performance.now() - this.heardAt;
    if (quiet < this.o.pingAfterMs) {
      this.idleTimer = setTimeout(() => this.idleCheck(), this.o.pingAfterMs - quiet);
      return;
    }
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.ping();
    this.pongTimer = setTimeout(() => this.failCurrent?.('pong_timeout'), this.o.pongTimeoutMs);
  }

  private clearTimers(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.pongTimer);
    this.idleTimer = undefined;
    this.pongTimer = undefined;
  }
}
