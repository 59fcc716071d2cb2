// The egress proxy an LDP stream is dialled through, chosen from the environment as
// k8saudit-ovh's client chooses it (gorilla/websocket's default dialer: Go's
// ProxyFromEnvironment): HTTPS_PROXY (then https_proxy) for wss://, except for
// localhost, loopback addresses and hosts NO_PROXY names; a value without a scheme is
// an http:// proxy. The tunnel is an HTTP CONNECT, over TLS to an https:// proxy.
// The proxy URL may hold credentials: only its host is ever shown.
import { BlockList, connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ErrorCode, PeregrineError } from '../../errors.js';
import { isLoopback } from '../../config/schema.js';

export interface Proxy {
  tls: boolean;
  host: string;
  port: number;
  /** `Proxy-Authorization` value, when the URL carries credentials. */
  authorization: string | undefined;
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
  if (u === undefined || u.hostname === '') throw new PeregrineError(ErrorCode.CONFIG, `${name}: not a proxy URL (expected http://HOST:PORT or https://HOST:PORT)`);
  const tls = u.protocol === 'https:';
  if (!tls && u.protocol !== 'http:') {
    throw new PeregrineError(ErrorCode.CONFIG, `${name}: a ${u.protocol.slice(0, -1)} proxy (${u.host}) is not supported for LDP streams: use an HTTP proxy (CONNECT), or name the LDP host in NO_PROXY`);
  }
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  const port = u.port === '' ? (tls ? 443 : 80) : Number(u.port);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return {
    tls, host, port,
    authorization: user !== '' || pass !== '' ? `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` : undefined,
    shown: `${u.protocol}//${isIP(host) === 6 ? `[${host}]` : host}:${port} (${name})`,
  };
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
 * Opens a CONNECT tunnel to host:port through the proxy; `done` gets the socket once
 * the proxy has answered 200, or the failure. `ca` also checks an https:// proxy.
 */
export function openTunnel(proxy: Proxy, host: string, port: number, timeoutMs: number, ca: string[] | undefined,
  done: (err: NodeJS.ErrnoException | undefined, socket?: Socket) => void): void {
  const sock: Socket = proxy.tls
    ? tlsConnect({ host: proxy.host, port: proxy.port, servername: isIP(proxy.host) ? undefined : proxy.host, ...(ca ? { ca } : {}) })
    : netConnect({ host: proxy.host, port: proxy.port });
  let settled = false;
  const finish = (err: NodeJS.ErrnoException | undefined): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    sock.off('data', onData);
    if (err) {
      sock.destroy();
      done(err);
    } else done(undefined, sock);
  };
  const timer = setTimeout(() => finish(proxyError('PROXY_TIMEOUT', `the proxy ${proxy.shown} did not open a tunnel within ${timeoutMs / 1000} s`)), timeoutMs);
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  sock.once(proxy.tls ? 'secureConnect' : 'connect', () => {
    sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${proxy.authorization ? `Proxy-Authorization: ${proxy.authorization}\r\n` : ''}\r\n`);
  });
  sock.on('error', (e: NodeJS.ErrnoException) => {
    const code = e.code ?? 'ERROR';
    finish(proxyError(`PROXY_${code}`, `cannot reach the proxy ${proxy.shown}: ${code}`));
  });
  sock.on('close', () => finish(proxyError('PROXY_CLOSED', `the proxy ${proxy.shown} closed the connection before opening a tunnel`)));
  let answer = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    answer = Buffer.concat([answer, d]);
    const end = answer.indexOf('\r\n\r\n');
    if (end < 0) {
      if (answer.length > MAX_ANSWER) finish(proxyError('PROXY_BAD_ANSWER', `the proxy ${proxy.shown} answered CONNECT with no end of headers in ${MAX_ANSWER} bytes`));
      return;
    }
    const status = /^HTTP\/1\.[01] (\d{3})([^\r\n]*)/.exec(answer.toString('latin1', 0, end));
    if (status === null) {
      finish(proxyError('PROXY_BAD_ANSWER', `the proxy ${proxy.shown} did not answer CONNECT in HTTP/1.1`));
      return;
    }
    const code = Number(status[1]);
    if (code !== 200) {
      const hint = code === 407 ? ': check the credentials in the proxy URL' : code === 403 ? `: the proxy does not let this host through` : '';
      finish(proxyError(`PROXY_HTTP_${code}`, `the proxy ${proxy.shown} refused the tunnel to ${authority} (HTTP ${code}${status[2].trimEnd()})${hint}`));
      return;
    }
    // The stream's server speaks only after the client's TLS hello: bytes already here
    // came from the proxy, and TLS, taking over the socket's handle, would not see them.
    if (end + 4 < answer.length) {
      finish(proxyError('PROXY_BAD_ANSWER', `the proxy ${proxy.shown} sent data after its answer to CONNECT, before the stream spoke`));
      return;
    }
    sock.removeAllListeners('close');
    sock.removeAllListeners('error');
    finish(undefined);
  };
  sock.on('data', onData);
}
