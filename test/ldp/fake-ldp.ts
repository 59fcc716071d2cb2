// A local stand-in for an OVHcloud LDP WebSocket broadcast: accepts or refuses the
// handshake with a chosen status, sends frames to whoever is connected, drops
// connections, and can stop answering pings (a half-open connection).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';

export const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

export interface TestCert { cert: string; key: string; file: string }

/** A self-signed P-256 certificate named `name` for the subjectAltNames `sans`, its files in dir. */
export function selfSigned(dir: string, name: string, sans: string): TestCert {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`,
    '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${sans}`], { cwd: dir, stdio: 'pipe' });
  return { cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8'), file: join(dir, `${name}.crt`) };
}

export class FakeLdp {
  readonly http: Server;
  private readonly wss: WebSocketServer;
  /** Status to refuse handshakes with (0: accept). */
  refuse = 0;
  /** The only token taken (others get a 401); undefined: any. */
  onlyToken: string | undefined;
  /** Answer pings (false: a connection that went half-open). */
  autoPong = true;
  readonly clients = new Set<WebSocket>();
  handshakes = 0;
  tokens: string[] = [];

  private constructor(private readonly tls?: { cert: string; key: string; host: string }) {
    const notFound = (_q: IncomingMessage, s: ServerResponse): void => void s.writeHead(404).end();
    this.http = tls ? createTlsServer({ cert: tls.cert, key: tls.key }, notFound) : createServer(notFound);
    this.wss = new WebSocketServer({ noServer: true, autoPong: false });
    this.http.on('upgrade', (req, socket, head) => {
      // A client that gives up on a refusal may reset the connection.
      socket.on('error', () => undefined);
      this.handshakes++;
      const tk = new URL(req.url ?? '/', 'http://x').searchParams.get('tk') ?? '';
      this.tokens.push(tk);
      const refuse = this.refuse !== 0 ? this.refuse : this.onlyToken !== undefined && tk !== this.onlyToken ? 401 : 0;
      if (refuse !== 0) {
        socket.end(`HTTP/1.1 ${refuse} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.clients.add(ws);
        ws.on('ping', (d) => { if (this.autoPong) ws.pong(d); });
        ws.on('close', () => this.clients.delete(ws));
        ws.on('error', () => undefined);
      });
    });
  }

  /** With `tls`, a wss:// stand-in serving that certificate, dialled as `host`. */
  static async start(tls?: { cert: string; key: string; host: string }): Promise<FakeLdp> {
    const f = new FakeLdp(tls);
    await new Promise<void>((r) => f.http.listen(0, '127.0.0.1', r));
    return f;
  }

  get url(): string {
    const port = (this.http.address() as AddressInfo).port;
    return this.tls ? `wss://${this.tls.host}:${port}/tail/?tk=secret-token-123` : `ws://127.0.0.1:${port}/tail/?tk=secret-token-123`;
  }

  /** Sends a frame to every connected client; resolves when written to the sockets. */
  send(frame: string): Promise<void> {
    return Promise.all([...this.clients].map((c) => new Promise<void>((r) => c.send(frame, () => r())))).then(() => undefined);
  }

  /** Bytes queued on the server side, not yet taken by the client. */
  buffered(): number {
    let n = 0;
    for (const c of this.clients) n += c.bufferedAmount;
    return n;
  }

  dropAll(): void {
    for (const c of this.clients) c.terminate();
  }

  /** An LDP frame around an audit payload, as the platform wraps it. */
  static frame(payload: string, appId = 'a1b2c3d4-mks-audit'): string {
    return JSON.stringify({ message: JSON.stringify({ version: '1.1', host: 'mks', _appID: appId, short_message: payload, timestamp: 1765100000.123 }), _stream: 'k8s-audit' });
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.terminate();
    this.wss.close();
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}
