// The egress proxy an LDP stream is dialled through, chosen from the environment as
// k8saudit-ovh's client chooses it (gorilla/websocket's default dialer: Go's
// ProxyFromEnvironment): HTTPS_PROXY (then https_proxy) for wss://, except for
// localhost, loopback addresses and hosts NO_PROXY names; a value without a scheme is
// an http:// proxy. The tunnel is an HTTP CONNECT (over TLS to an https:// proxy) or a
// SOCKS5 CONNECT (the host name resolved by the proxy, as the plugin's dialer does).
// The proxy URL may hold credentials: only its host is ever shown.
import { BlockList, connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ErrorCode, PeregrineError } from '../../errors.js';
import { isLoopback } from '../../config/schema.js';

export interface Proxy {
  kind: 'http' | 'https' | 'socks5';
  host: string;
  port: number;
  /** The URL's user and password, percent-decoded ('' when absent). */
  user: string;
  password: string;
  /** host:port, and the variable it came from: what logs and errors show. */
  shown: string;
}

/** The proxy for a wss:// URL, or undefined for a direct connection. */
export function proxyFor(href: string, env: NodeJS.ProcessEnv): Proxy | undefined {
  const target = new URL(href);
  if (target.protocol !== 'wss:') return undefined; // ws:// is loopback-only, never proxied
  const name = env.HTTPS_PROXY ? 'HTTPS_PROXY' : env.https_proxy ? 'https_proxy' : undefined;
  if (name === undefined) return undefined;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || '443';
  if (host === 'localhost' || isLoopback(host)) return undefined;
  if (bypassed(env.NO_PROXY || env.no_proxy || '', host, port)) return undefined;
  return parseProxy(env[name]!, name);
}

function parseProxy(value: string, name: string): Proxy {
  const u = tryUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  // The value is not shown: it may hold a password.
  if (u === undefined || u.hostname === '') throw new PeregrineError(ErrorCode.CONFIG, `${name}: not a proxy URL (expected http://HOST:PORT, https://HOST:PORT or socks5://HOST:PORT)`);
  // socks5h (the proxy resolves the name) is what socks5 does here anyway.
  const kind = u.protocol === 'socks5h:' ? 'socks5' : u.protocol.slice(0, -1);
  if (kind !== 'http' && kind !== 'https' && kind !== 'socks5') {
    throw new PeregrineError(ErrorCode.CONFIG, `${name}: a ${kind} proxy (${u.host}) is not supported for LDP streams: use http://, https:// or socks5://, or name the LDP host in NO_PROXY`);
  }
  const port = u.port === '' ? DEFAULT_PORT[kind] : Number(u.port);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return {
    kind, host, port, user: decodeCredential(u.username, name), password: decodeCredential(u.password, name),
    shown: `${kind}://${isIP(host) === 6 ? `[${host}]` : host}:${port} (${name})`,
  };
}

const DEFAULT_PORT = { http: 80, https: 443, socks5: 1080 };

function decodeCredential(s: string, name: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new PeregrineError(ErrorCode.CONFIG, `${name}: the proxy URL's user or password has a malformed %-escape`);
  }
}

function tryUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

/**
 * NO_PROXY as Go reads it: comma-separated; `*` is everything; an IP or CIDR matches
 * addresses only; a name matches itself and its subdomains (`.name` and `*.name` only
 * the subdomains); any entry may end in `:port`.
 */
export function bypassed(noProxy: string, host: string, port: string): boolean {
  const ip = isIP(host);
  for (const raw of noProxy.split(',')) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    if (p === '*') return true;
    const slash = p.indexOf('/');
    if (slash > 0) {
      const net = p.slice(0, slash);
      const bits = Number(p.slice(slash + 1));
      const family = isIP(net);
      if (family !== 0 && Number.isInteger(bits) && bits >= 0 && bits <= (family === 4 ? 32 : 128)) {
        if (ip === family) {
          const list = new BlockList();
          list.addSubnet(net, bits, family === 4 ? 'ipv4' : 'ipv6');
          if (list.check(host, family === 4 ? 'ipv4' : 'ipv6')) return true;
        }
        continue;
      }
    }
    let [phost, pport] = splitHostPort(p);
    if (phost.startsWith('[') && phost.endsWith(']')) phost = phost.slice(1, -1);
    if (isIP(phost) !== 0) {
      if (ip !== 0 && sameIp(phost, host) && (pport === '' || pport === port)) return true;
      continue;
    }
    if (phost === '' || ip !== 0) continue;
    if (phost.startsWith('*.')) phost = phost.slice(1);
    const matchHost = !phost.startsWith('.');
    if (matchHost) phost = `.${phost}`;
    if ((host.endsWith(phost) || (matchHost && host === phost.slice(1))) && (pport === '' || pport === port)) return true;
  }
  return false;
}

/** `host:port` split as Go's SplitHostPort; without a port (or unsplittable), the whole entry is the host. */
function splitHostPort(p: string): [string, string] {
  if (p.startsWith('[')) {
    const end = p.indexOf(']');
    if (end > 0 && p[end + 1] === ':' && /^\d*$/.test(p.slice(end + 2))) return [p.slice(1, end), p.slice(end + 2)];
    return [p, ''];
  }
  const colon = p.indexOf(':');
  if (colon < 0 || colon !== p.lastIndexOf(':')) return [p, ''];
  return [p.slice(0, colon), p.slice(colon + 1)];
}

function sameIp(a: string, b: string): boolean {
  const fa = isIP(a);
  if (fa !== isIP(b)) return false;
  const list = new BlockList();
  list.addAddress(a, fa === 4 ? 'ipv4' : 'ipv6');
  return list.check(b, fa === 4 ? 'ipv4' : 'ipv6');
}

/** The longest answer to CONNECT that is read before giving up. */
const MAX_ANSWER = 16 * 1024;

/** A failure of the tunnel, with a code for metrics and a message a user can act on. */
function proxyError(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/**
 * Opens a tunnel to host:port through the proxy; `done` gets the socket once the proxy
 * has opened it, or the failure. `ca` also checks an https:// proxy.
 */
export function openTunnel(proxy: Proxy, host: string, port: number, timeoutMs: number, ca: string[] | undefined,
  done: (err: NodeJS.ErrnoException | undefined, socket?: Socket) => void): void {
  const sock: Socket = proxy.kind === 'https'
    ? tlsConnect({ host: proxy.host, port: proxy.port, servername: isIP(proxy.host) ? undefined : proxy.host, ...(ca ? { ca } : {}) })
    : netConnect({ host: proxy.host, port: proxy.port });
  const handshake = proxy.kind === 'socks5' ? new Socks5Handshake(proxy, host, port) : new ConnectHandshake(proxy, host, port);
  let settled = false;
  const finish = (err: NodeJS.ErrnoException | undefined): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    sock.off('data', onData);
    if (err) {
      sock.destroy();
      done(err);
      return;
    }
    sock.removeAllListeners('close');
    sock.removeAllListeners('error');
    done(undefined, sock);
  };
  const timer = setTimeout(() => finish(proxyError('PROXY_TIMEOUT', `the proxy ${proxy.shown} did not open a tunnel within ${timeoutMs / 1000} s`)), timeoutMs);
  sock.once(proxy.kind === 'https' ? 'secureConnect' : 'connect', () => sock.write(handshake.first()));
  sock.on('error', (e: NodeJS.ErrnoException) => {
    const code = e.code ?? 'ERROR';
    finish(proxyError(`PROXY_${code}`, `cannot reach the proxy ${proxy.shown}: ${code}`));
  });
  sock.on('close', () => finish(proxyError('PROXY_CLOSED', `the proxy ${proxy.shown} closed the connection before opening a tunnel`)));
  let got: Buffer = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    got = got.length === 0 ? d : Buffer.concat([got, d]);
    for (;;) {
      const step = handshake.read(got);
      if (step === 'more') {
        if (got.length > MAX_ANSWER) finish(proxyError('PROXY_BAD_ANSWER', `the proxy ${proxy.shown} sent ${got.length} bytes without completing its answer`));
        return;
      }
      if (step instanceof Error) {
        finish(step);
        return;
      }
      got = got.subarray(step.used);
      if (step.send) sock.write(step.send);
      if (!step.open) continue;
      // The stream's server speaks only after the client's TLS hello: bytes already here
      // came from the proxy, and TLS, taking over the socket's handle, would not see them.
      if (got.length > 0) finish(proxyError('PROXY_BAD_ANSWER', `the proxy ${proxy.shown} sent data after opening the tunnel, before the stream spoke`));
      else finish(undefined);
      return;
    }
  };
  sock.on('data', onData);
}

/** One step of a proxy's handshake: bytes consumed, what to send, whether the tunnel is open. */
type Step = 'more' | NodeJS.ErrnoException | { used: number; send?: Buffer | string; open: boolean };

interface Handshake {
  first(): Buffer | string;
  read(got: Buffer): Step;
}

/** HTTP CONNECT: one request, one answer whose status must be 200. */
class ConnectHandshake implements Handshake {
  private readonly authority: string;
  constructor(private readonly proxy: Proxy, host: string, port: number) {
    this.authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  }

  first(): string {
    const p = this.proxy;
    const auth = p.user !== '' || p.password !== '' ? `Proxy-Authorization: Basic ${Buffer.from(`${p.user}:${p.password}`).toString('base64')}\r\n` : '';
    return `CONNECT ${this.authority} HTTP/1.1\r\nHost: ${this.authority}\r\n${auth}\r\n`;
  }

  read(got: Buffer): Step {
    const end = got.indexOf('\r\n\r\n');
    if (end < 0) return 'more';
    const status = /^HTTP\/1\.[01] (\d{3})([^\r\n]*)/.exec(got.toString('latin1', 0, end));
    if (status === null) return proxyError('PROXY_BAD_ANSWER', `the proxy ${this.proxy.shown} did not answer CONNECT in HTTP/1.1`);
    const code = Number(status[1]);
    if (code === 200) return { used: end + 4, open: true };
    const hint = code === 407 ? ': check the credentials in the proxy URL' : code === 403 ? ': the proxy does not let this host through' : '';
    return proxyError(`PROXY_HTTP_${code}`, `the proxy ${this.proxy.shown} refused the tunnel to ${this.authority} (HTTP ${code}${status[2].trimEnd()})${hint}`);
  }
}

/** RFC 1928's replies, by code. */
const SOCKS_REPLIES = ['succeeded', 'general SOCKS server failure', 'connection not allowed by ruleset', 'network unreachable',
  'host unreachable', 'connection refused', 'TTL expired', 'command not supported', 'address type not supported'];

/**
 * SOCKS5 (RFC 1928), as the plugin's dialer speaks it: no authentication, or user and
 * password (RFC 1929) offered too when the URL has a user; a host name is sent as a name.
 */
class Socks5Handshake implements Handshake {
  private state: 'method' | 'auth' | 'reply' = 'method';
  private readonly offersPassword: boolean;
  constructor(private readonly proxy: Proxy, private readonly host: string, private readonly port: number) {
    this.offersPassword = proxy.user !== '' && Buffer.byteLength(proxy.user) < 256 && Buffer.byteLength(proxy.password) < 256;
  }

  first(): Buffer {
    return Buffer.from(this.offersPassword ? [5, 2, 0, 2] : [5, 1, 0]);
  }

  private fail(code: string, what: string): NodeJS.ErrnoException {
    return proxyError(`PROXY_SOCKS_${code}`, `the SOCKS5 proxy ${this.proxy.shown} ${what}`);
  }

  private request(): Buffer {
    const family = isIP(this.host);
    let addr: Buffer;
    if (family === 4) addr = Buffer.from([1, ...this.host.split('.').map(Number)]);
    else if (family === 6) addr = Buffer.concat([Buffer.from([4]), ipv6Bytes(this.host)]);
    else addr = Buffer.concat([Buffer.from([3, Buffer.byteLength(this.host)]), Buffer.from(this.host)]);
    return Buffer.concat([Buffer.from([5, 1, 0]), addr, Buffer.from([this.port >> 8, this.port & 0xff])]);
  }

  read(got: Buffer): Step {
    if (this.state === 'method') {
      if (got.length < 2) return 'more';
      if (got[0] !== 5) return this.fail('BAD_ANSWER', `answered with version ${got[0]}, not 5`);
      if (got[1] === 0) {
        this.state = 'reply';
        return { used: 2, send: this.request(), open: false };
      }
      if (got[1] === 2 && this.offersPassword) {
        this.state = 'auth';
        const u = Buffer.from(this.proxy.user);
        const pw = Buffer.from(this.proxy.password);
        return { used: 2, send: Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([pw.length]), pw]), open: false };
      }
      return this.fail('AUTH', this.offersPassword ? 'accepts neither no authentication nor a user and password'
        : 'requires authentication: put user:password@ in the proxy URL');
    }
    if (this.state === 'auth') {
      if (got.length < 2) return 'more';
      if (got[1] !== 0) return this.fail('AUTH', 'rejected the user and password: check the credentials in the proxy URL');
      this.state = 'reply';
      return { used: 2, send: this.request(), open: false };
    }
    if (got.length < 5) return 'more';
    if (got[0] !== 5) return this.fail('BAD_ANSWER', `answered with version ${got[0]}, not 5`);
    if (got[1] !== 0) {
      const to = `${isIP(this.host) === 6 ? `[${this.host}]` : this.host}:${this.port}`;
      return this.fail(`REPLY_${got[1]}`, `did not connect to ${to}: ${SOCKS_REPLIES[got[1]] ?? `reply ${got[1]}`}`);
    }
    const len = got[3] === 1 ? 4 : got[3] === 4 ? 16 : got[3] === 3 ? 1 + got[4] : -1;
    if (len < 0) return this.fail('BAD_ANSWER', `answered with address type ${got[3]}`);
    if (got.length < 4 + len + 2) return 'more';
    return { used: 4 + len + 2, open: true };
  }
}

/** The 16 bytes of an IPv6 address (`::` expanded; a trailing dotted IPv4 taken). */
function ipv6Bytes(ip: string): Buffer {
  let text = ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) text = text.slice(0, v4.index) + `${((+v4[1] << 8) | +v4[2]).toString(16)}:${((+v4[3] << 8) | +v4[4]).toString(16)}`;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}
