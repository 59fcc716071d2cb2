// mTLS front: client certificates as the credential that decides the cluster.
//
// Why not uWebSockets.js's own TLS: the native build we ship verifies a client
// certificate against `ca_file_name` when one is sent, but accepts a connection that
// sends none, and gives JavaScript no access to the peer certificate; so it can
// neither require a certificate nor say whose it is. Here Node's TLS server does the
// handshake (`requestCert` + `rejectUnauthorized`: no valid certificate, no
// connection), maps the verified certificate to a cluster (subject CN or SHA-256
// fingerprint, auth.client_certs), and pipes the decrypted stream to a private
// uWebSockets.js listener bound to that cluster: one Unix socket per cluster in a
// fresh 0700 directory, so no other user can reach them and the cluster cannot be
// forged by anything the client sends. A certificate that maps to no cluster reaches
// a listener whose requests must carry a token or JWT, or is refused when none is
// configured.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type PeerCertificate, type Server, type TLSSocket } from 'node:tls';
import type { us_listen_socket } from 'uWebSockets.js';
import type { ClientCertRule, ServeConfig } from '../config/schema.js';
import { ErrorCode, PeregrineError } from '../errors.js';
import type { IngestServer } from './server.js';
import type { UwsModule } from './uws.js';

const UNAUTHORIZED_BODY = '{"error":{"code":"unauthorized","message":"client certificate not mapped to a cluster"}}';
const UNAUTHORIZED = 'HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n'
  + `Content-Length: ${Buffer.byteLength(UNAUTHORIZED_BODY)}\r\n\r\n${UNAUTHORIZED_BODY}`;

export function clusterOfCert(cert: PeerCertificate, rules: readonly ClientCertRule[]): string | undefined {
  const fp = (cert.fingerprint256 ?? '').replace(/:/g, '').toUpperCase();
  const cn = Array.isArray(cert.subject?.CN) ? undefined : cert.subject?.CN;
  for (const r of rules) {
    if (r.fingerprint256 !== undefined && r.fingerprint256 === fp) return r.cluster;
    if (r.subjectCN !== undefined && cn !== undefined && r.subjectCN === cn) return r.cluster;
  }
  return undefined;
}

export class MtlsFront {
  private readonly dir: string;
  private readonly socketOf = new Map<string | undefined, string>();
  private readonly listenSockets: us_listen_socket[] = [];
  private server: Server | undefined;
  private readonly conns = new Set<Socket>();
  /** Raw connections whose TLS handshake has not finished, oldest first. */
  private readonly pending = new Map<string, Socket>();

  constructor(
    private readonly cfg: ServeConfig, private readonly uws: UwsModule, private readonly ingest: IngestServer, private readonly tokensToo: boolean,
    /** A handshake that did not finish: 'timeout', 'evicted' (over tls.max_pending_handshakes) or 'failed'. */
    private readonly onHandshakeFailure: (reason: 'timeout' | 'evicted' | 'failed') => void = () => undefined,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'peregrine-mtls-'));
  }

  async start(): Promise<number> {
    const clusters = new Set(this.cfg.auth.clientCerts.map((r) => r.cluster));
    const targets: (string | undefined)[] = [...clusters];
    if (this.tokensToo) targets.push(undefined);
    let i = 0;
    for (const cluster of targets) {
      const path = join(this.dir, `${i++}.sock`);
      const app = this.uws.App();
      this.ingest.attach(app, cluster);
      const ls = await new Promise<us_listen_socket | false>((r) => app.listen_unix((s) => r(s), path));
      if (!ls) throw new PeregrineError(ErrorCode.LISTEN, `cannot listen on internal socket ${path}`);
      this.listenSockets.push(ls);
      this.socketOf.set(cluster, path);
    }
    const tls = this.cfg.tls!;
    let cert: Buffer, key: Buffer, ca: Buffer;
    try {
      cert = readFileSync(tls.certFile);
      key = readFileSync(tls.keyFile);
      ca = readFileSync(tls.clientCAFile!);
    } catch (e) {
      throw new PeregrineError(ErrorCode.CONFIG, `tls: cannot read ${(e as NodeJS.ErrnoException).path ?? ''}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.server = createServer({
      cert, key, ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
      handshakeTimeout: tls.handshakeTimeoutSeconds * 1000,
    }, (s) => this.onConnection(s));
    // Node only reports a failed or timed-out handshake: the socket must be closed here,
    // or it stays open (a descriptor held by someone who never finished the handshake).
    this.server.on('tlsClientError', (e, s) => {
      this.onHandshakeFailure((e as NodeJS.ErrnoException).code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'timeout' : 'failed');
      s.destroy();
    });
    // Handshakes in progress are bounded: past the bound the oldest is closed (an honest
    // client finishes in milliseconds; an idle one is the oldest).
    this.server.on('connection', (raw: Socket) => this.onRawConnection(raw));
    const { host, port } = this.cfg.listen;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (e) => reject(new PeregrineError(ErrorCode.LISTEN, `cannot listen on ${host}:${port}: ${(e as Error).message}`)));
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  private onRawConnection(raw: Socket): void {
    const key = `${raw.remoteAddress}|${raw.remotePort}`;
    this.pending.set(key, raw);
    raw.once('close', () => { if (this.pending.get(key) === raw) this.pending.delete(key); });
    if (this.pending.size > this.cfg.tls!.maxPendingHandshakes) {
      const oldest = this.pending.entries().next().value!;
      this.pending.delete(oldest[0]);
      this.onHandshakeFailure('evicted');
      oldest[1].destroy();
    }
  }

  private onConnection(s: TLSSocket): void {
    this.pending.delete(`${s.remoteAddress}|${s.remotePort}`);
    const cluster = clusterOfCert(s.getPeerCertificate(), this.cfg.auth.clientCerts);
    const path = this.socketOf.get(cluster) ?? this.socketOf.get(undefined);
    if (path === undefined) {
      const cert = s.getPeerCertificate();
      const cn = Array.isArray(cert.subject?.CN) ? cert.subject.CN.join('+') : cert.subject?.CN ?? '';
      this.ingest.refusedCertificate(s.remoteAddress ?? '?', `client certificate CN=${JSON.stringify(cn)} SHA-256 ${cert.fingerprint256 ?? '?'} maps to no cluster`);
      s.end(UNAUTHORIZED);
      return;
    }
    const up = connect(path);
    this.conns.add(s);
    this.conns.add(up);
    const done = (): void => {
      this.conns.delete(s);
      this.conns.delete(up);
      s.destroy();
      up.destroy();
    };
    s.on('error', done).on('close', done);
    up.on('error', done).on('close', done);
    s.pipe(up);
    up.pipe(s);
  }

  /** Stop accepting connections (in-flight ones continue). */
  stopListening(): void {
    this.server?.close();
  }

  close(): void {
    this.server?.close();
    for (const c of this.conns) c.destroy();
    for (const c of this.pending.values()) c.destroy();
    for (const ls of this.listenSockets) this.uws.us_listen_socket_close(ls);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
