// LDP streams through an egress proxy, chosen as k8saudit-ovh's client chooses it (Go's
// ProxyFromEnvironment: HTTPS_PROXY, NO_PROXY, never for loopback), dialled with an
// HTTP CONNECT (over TLS to an https:// proxy); the proxy's credentials are never shown.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server as NetServer, type Socket, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StreamClient } from '../../src/ingest/ldp/client.js';
import { bypassed, openTunnel, proxyFor, type Proxy } from '../../src/ingest/ldp/proxy.js';
import { PeregrineError } from '../../src/errors.js';
// @ts-expect-error plain ES module without types
import { rng } from '../../native-bench/corpus.mjs';
import { parseLdpUrl } from '../../src/ingest/ldp/url.js';
import { FakeLdp, haveOpenssl, selfSigned, type TestCert } from './fake-ldp.js';
import { auditEvent } from '../serve/fixtures.js';
import { readAlerts, startServer, tempDir, waitFor, type Server } from '../serve/harness.js';

const LDP = 'wss://gra1.logs.ovh.com/tail/?tk=secret-token-123';

describe('the proxy for a stream', () => {
  it('is HTTPS_PROXY (then https_proxy) for wss://, a bare host:port being an http:// proxy', () => {
    expect(proxyFor(LDP, {})).toBeUndefined();
    expect(proxyFor(LDP, { HTTP_PROXY: 'http://p:3128' })).toBeUndefined();
    expect(proxyFor(LDP, { HTTPS_PROXY: 'http://upper:3128', https_proxy: 'http://lower:3128' })).toMatchObject({ host: 'upper', port: 3128, kind: 'http', shown: 'http://upper:3128 (HTTPS_PROXY)' });
    expect(proxyFor(LDP, { https_proxy: 'lower:8080' })).toMatchObject({ host: 'lower', port: 8080, kind: 'http', shown: 'http://lower:8080 (https_proxy)' });
    expect(proxyFor(LDP, { HTTPS_PROXY: 'proxy.corp' })).toMatchObject({ host: 'proxy.corp', port: 80 });
    expect(proxyFor(LDP, { HTTPS_PROXY: 'https://proxy.corp' })).toMatchObject({ host: 'proxy.corp', port: 443, kind: 'https' });
    expect(proxyFor(LDP, { HTTPS_PROXY: 'socks5://s' })).toMatchObject({ host: 's', port: 1080, kind: 'socks5' });
    expect(proxyFor(LDP, { HTTPS_PROXY: 'socks5h://s:9050' })).toMatchObject({ host: 's', port: 9050, kind: 'socks5', shown: 'socks5://s:9050 (HTTPS_PROXY)' });
    expect(proxyFor(LDP, { HTTPS_PROXY: 'http://[fd00::1]:3128' })).toMatchObject({ host: 'fd00::1', port: 3128, shown: 'http://[fd00::1]:3128 (HTTPS_PROXY)' });
  });

  it('takes the URL\'s credentials percent-decoded, and never shows them', () => {
    const p = proxyFor(LDP, { HTTPS_PROXY: 'http://alice:p%40ss@proxy.corp:3128' })!;
    expect([p.user, p.password]).toEqual(['alice', 'p@ss']);
    expect(p.shown).not.toContain('alice');
    expect(proxyFor(LDP, { HTTPS_PROXY: 'http://proxy.corp:3128' })).toMatchObject({ user: '', password: '' });
  });

  it('is never used for localhost or loopback addresses, nor for ws://', () => {
    expect(proxyFor('wss://localhost:8443/tail/?tk=x', { HTTPS_PROXY: 'http://p:1' })).toBeUndefined();
    expect(proxyFor('wss://127.0.0.5/tail/?tk=x', { HTTPS_PROXY: 'http://p:1' })).toBeUndefined();
    expect(proxyFor('wss://[::1]/tail/?tk=x', { HTTPS_PROXY: 'http://p:1' })).toBeUndefined();
    expect(proxyFor('ws://127.0.0.1:9/tail/?tk=x', { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://p:1' })).toBeUndefined();
  });

  it('reads NO_PROXY as Go does', () => {
    const cases: [string, string, string, boolean][] = [
      ['*', 'gra1.logs.ovh.com', '443', true],
      ['ovh.com', 'gra1.logs.ovh.com', '443', true],
      ['ovh.com', 'ovh.com', '443', true],
      ['.ovh.com', 'ovh.com', '443', false],
      ['.ovh.com', 'gra1.logs.ovh.com', '443', true],
      ['*.ovh.com', 'ovh.com', '443', false],
      ['*.ovh.com', 'a.ovh.com', '443', true],
      ['h.ovh.com', 'gra1.logs.ovh.com', '443', false],
      ['xovh.com', 'ovh.com', '443', false],
      ['ovh.com:443', 'a.ovh.com', '443', true],
      ['ovh.com:8443', 'a.ovh.com', '443', false],
      [' OVH.COM , other', 'a.ovh.com', '443', true],
      ['10.0.0.0/8', '10.1.2.3', '443', true],
      ['10.0.0.0/8', 'ten.example', '443', false],
      ['10.1.2.3', '10.1.2.3', '443', true],
      ['10.1.2.3:80', '10.1.2.3', '443', false],
      ['[fd00::1]:443', 'fd00::1', '443', true],
      ['fd00::/8', 'fd12::5', '443', true],
      ['example.com', '93.184.216.34', '443', false],
      ['', 'a.ovh.com', '443', false],
      [',,', 'a.ovh.com', '443', false],
    ];
    for (const [np, host, port, want] of cases) expect(bypassed(np, host, port), `${np} ${host}:${port}`).toBe(want);
    expect(proxyFor(LDP, { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'logs.ovh.com' })).toBeUndefined();
    expect(proxyFor(LDP, { HTTPS_PROXY: 'http://p:1', no_proxy: 'logs.ovh.com' })).toBeUndefined();
    expect(proxyFor(LDP, { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'other.net', no_proxy: 'logs.ovh.com' })).toBeDefined();
  });

  it('refuses a proxy it cannot use, naming the variable and not the value', () => {
    expect(() => proxyFor(LDP, { HTTPS_PROXY: 'socks4://bob:hunter2@s:1080' })).toThrow(/HTTPS_PROXY: a socks4 proxy \(s:1080\) is not supported/);
    expect(() => proxyFor(LDP, { HTTPS_PROXY: 'socks4://bob:hunter2@s:1080' })).not.toThrow(/hunter2/);
    expect(() => proxyFor(LDP, { HTTPS_PROXY: 'http://bad host:hunter2' })).toThrow(/^HTTPS_PROXY: not a proxy URL/);
    expect(() => proxyFor(LDP, { HTTPS_PROXY: 'http://bad host:hunter2' })).not.toThrow(/hunter2/);
    expect(() => proxyFor(LDP, { HTTPS_PROXY: 'http://bob:hunter2%zz@p:1' })).toThrow(/^HTTPS_PROXY: the proxy URL's user or password has a malformed %-escape$/);
  });
});

describe('proxy answers, fuzzed', () => {
  const random: () => number = rng(1207);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  function mutate(b: Buffer): Buffer {
    const out = Buffer.from(b);
    const n = 1 + Math.floor(random() * 3);
    for (let i = 0; i < n && out.length > 0; i++) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
    return random() < 0.3 ? out.subarray(0, Math.floor(random() * out.length)) : out;
  }
  const GOOD: Record<Proxy['kind'], Buffer[]> = {
    http: [Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n'), Buffer.from('HTTP/1.0 407 Auth\r\nProxy-Authenticate: Basic\r\n\r\n')],
    https: [],
    socks5: [Buffer.from([5, 0, 5, 0, 0, 1, 10, 0, 0, 1, 1, 187]), Buffer.from([5, 2, 1, 0, 5, 0, 0, 3, 4, 104, 111, 115, 116, 0, 80]), Buffer.from([5, 0, 5, 3, 0, 4, ...new Array<number>(18).fill(0)])],
  };

  it('always end in a tunnel or a PROXY_ error, never a throw or a hang', async () => {
    let current = Buffer.alloc(0);
    const server = createServer((c) => {
      c.on('error', () => undefined);
      // The answer in random pieces, then the end.
      let at = 0;
      const next = (): void => {
        if (at >= current.length) return void c.end();
        const n = 1 + Math.floor(random() * 8);
        c.write(current.subarray(at, at + n), next);
        at += n;
      };
      next();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    let tunnels = 0;
    try {
      for (let i = 0; i < 300; i++) {
        const kind = pick<Proxy['kind']>(['http', 'socks5']);
        current = random() < 0.2 ? bytes(Math.floor(random() * 40)) : mutate(pick(GOOD[kind]));
        const proxy: Proxy = { kind, host: '127.0.0.1', port, user: random() < 0.5 ? 'u' : '', password: 'p', shown: `proxy:${port}` };
        const r = await new Promise<{ err?: NodeJS.ErrnoException; sock?: Socket }>((resolve) => {
          let calls = 0;
          openTunnel(proxy, 'gra1.logs.ovh.com', 443, 5_000, undefined, (err, sock) => {
            calls++;
            expect(calls).toBe(1);
            resolve({ err, sock });
          });
        });
        if (r.err) expect(r.err.code, `${kind} ${current.toString('hex')}: ${r.err.message}`).toMatch(/^PROXY_[A-Z0-9_]+$/);
        else {
          tunnels++;
          r.sock!.destroy();
        }
      }
    } finally {
      server.close();
    }
    // Some unmutated answers open tunnels: the fuzz reaches past the first byte.
    expect(tunnels).toBeGreaterThan(0);
  });

  it('proxy and NO_PROXY values never throw but a PeregrineError', () => {
    const parts = ['http://', 'https://', 'socks5://', 'ftp://', 'u:p@', '[', ']', '::1', 'host', ':', '3128', '%', '%zz', ' ', '/', '*', '.', ',', '10.0.0.0/8', '/99'];
    for (let i = 0; i < 2000; i++) {
      const v = Array.from({ length: 1 + Math.floor(random() * 5) }, () => pick(parts)).join('');
      try {
        proxyFor(LDP, { HTTPS_PROXY: v, NO_PROXY: v });
      } catch (e) {
        expect(e, v).toBeInstanceOf(PeregrineError);
      }
      expect(typeof bypassed(v, pick(['a.ovh.com', '10.1.2.3', 'fd00::1']), '443')).toBe('boolean');
    }
  });
});

/** A proxy on loopback whose every tunnel goes to 127.0.0.1, at the port asked for. */
abstract class LoopbackProxy {
  private readonly sockets = new Set<Socket>();
  constructor(readonly server: NetServer, tls = false) {
    server.on(tls ? 'secureConnection' : 'connection', (c: Socket) => {
      this.track(c);
      c.on('error', () => undefined);
      this.serve(c);
    });
  }

  protected abstract serve(c: Socket): void;

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Joins the client to 127.0.0.1:port once `answer` (the proxy's success) is written. */
  protected tunnel(c: Socket, port: number, answer: Buffer | string): void {
    const up = netConnect({ host: '127.0.0.1', port }, () => {
      c.write(answer);
      c.pipe(up).pipe(c);
    });
    this.track(up);
    up.on('close', () => c.destroy());
    up.on('error', () => c.destroy());
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** An HTTP CONNECT proxy (over TLS when given a certificate). */
class FakeProxy extends LoopbackProxy {
  readonly requests: string[] = [];
  /** Status to refuse tunnels with (0: open them). */
  refuse = 0;

  static start(tls?: { cert: string; key: string }): Promise<FakeProxy> {
    return new FakeProxy(tls ? createTlsServer({ cert: tls.cert, key: tls.key }) : createServer(), tls !== undefined).listen();
  }

  protected serve(c: Socket): void {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      c.off('data', onData);
      this.requests.push(head.slice(0, end));
      if (this.refuse !== 0) {
        c.end(`HTTP/1.1 ${this.refuse} Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      this.tunnel(c, Number(/^CONNECT [^ ]+:(\d+) /.exec(head)![1]), 'HTTP/1.1 200 Connection established\r\n\r\n');
    };
    c.on('data', onData);
  }
}

/** A SOCKS5 proxy. */
class FakeSocks extends LoopbackProxy {
  /** Each CONNECT request as sent (bytes), and the user:password tried, if any. */
  readonly requests: Buffer[] = [];
  readonly logins: string[] = [];
  /** Credentials it requires (undefined: none), and the reply code to CONNECT with. */
  login: string | undefined;
  reply = 0;

  static start(): Promise<FakeSocks> {
    return new FakeSocks(createServer()).listen();
  }

  protected serve(c: Socket): void {
    let got = Buffer.alloc(0);
    let state: 'greeting' | 'auth' | 'request' = 'greeting';
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (state === 'greeting') {
        if (got.length < 2 || got.length < 2 + got[1]) return;
        const methods = [...got.subarray(2, 2 + got[1])];
        got = got.subarray(2 + got[1]);
        if (this.login === undefined) {
          c.write(Buffer.from([5, 0]));
          state = 'request';
        } else if (methods.includes(2)) {
          c.write(Buffer.from([5, 2]));
          state = 'auth';
        } else {
          c.end(Buffer.from([5, 0xff]));
          return;
        }
      }
      if (state === 'auth') {
        if (got.length < 2 || got.length < 3 + got[1] || got.length < 3 + got[1] + got[2 + got[1]]) return;
        const user = got.subarray(2, 2 + got[1]).toString();
        const pass = got.subarray(3 + got[1], 3 + got[1] + got[2 + got[1]]).toString();
        got = got.subarray(3 + got[1] + got[2 + got[1]]);
        this.logins.push(`${user}:${pass}`);
        if (`${user}:${pass}` !== this.login) {
          c.end(Buffer.from([1, 1]));
          return;
        }
        c.write(Buffer.from([1, 0]));
        state = 'request';
      }
      if (got.length < 5) return;
      const len = got[3] === 1 ? 4 : got[3] === 4 ? 16 : 1 + got[4];
      if (got.length < 4 + len + 2) return;
      this.requests.push(Buffer.from(got.subarray(0, 4 + len + 2)));
      c.off('data', onData);
      if (this.reply !== 0) {
        c.end(Buffer.from([5, this.reply, 0, 1, 0, 0, 0, 0, 0, 0]));
        return;
      }
      // The bound address as a name, to take the variable-length form.
      this.tunnel(c, got.readUInt16BE(4 + len), Buffer.concat([Buffer.from([5, 0, 0, 3, 9]), Buffer.from('localhost'), Buffer.from([0, 0])]));
    };
    c.on('data', onData);
  }
}

describe.skipIf(!haveOpenssl)('an LDP stream through a proxy', () => {
  let dir: string;
  let ldp: FakeLdp | undefined;
  let proxy: FakeProxy | undefined;
  let socks: FakeSocks | undefined;
  let client: StreamClient | undefined;
  let srv: Server | undefined;
  let ldpCert: TestCert;
  let proxyCert: TestCert;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peregrine-ldp-proxy-'));
    // The stream's name does not resolve: only a tunnel reaches it.
    ldpCert = selfSigned(dir, 'ldp', 'DNS:gra1.ldp.invalid');
    proxyCert = selfSigned(dir, 'proxy', 'IP:127.0.0.1');
    writeFileSync(join(dir, 'both.crt'), ldpCert.cert + proxyCert.cert);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    client?.stop();
    client = undefined;
    await srv?.stop('SIGKILL');
    srv = undefined;
    await ldp?.close();
    await proxy?.close();
    await socks?.close();
    ldp = undefined;
    proxy = undefined;
    socks = undefined;
  });

  function connect(env: NodeJS.ProcessEnv, caFile = ldpCert.file) {
    const got: string[] = [];
    const url = parseLdpUrl(ldp!.url, 'test');
    client = new StreamClient({
      url, caFile, proxy: proxyFor(url.href, env), pingAfterMs: 30_000, pongTimeoutMs: 10_000, backoffInitialMs: 50, backoffMaxMs: 200,
      onFrame: (d) => got.push(d.toString()), onState: () => undefined, onGap: () => undefined,
    });
    client.start();
    return got;
  }

  it('reads the stream through an HTTP proxy, with the proxy\'s credentials', async () => {
    ldp = await FakeLdp.start({ cert: ldpCert.cert, key: ldpCert.key, host: 'gra1.ldp.invalid' });
    proxy = await FakeProxy.start();
    const got = connect({ HTTPS_PROXY: `http://alice:p%40ss@127.0.0.1:${proxy.port}` });
    await waitFor(() => ldp!.clients.size === 1, 'connected through the proxy');
    await ldp.send('via proxy');
    await waitFor(() => got.length === 1, 'a frame');
    expect(got).toEqual(['via proxy']);
    const port = new URL(ldp.url).port;
    expect(proxy.requests).toEqual([`CONNECT gra1.ldp.invalid:${port} HTTP/1.1\r\nHost: gra1.ldp.invalid:${port}\r\nProxy-Authorization: Basic ${Buffer.from('alice:p@ss').toString('base64')}`]);
    expect(ldp.tokens).toEqual(['secret-token-123']);
    expect(client!.problem).toBeUndefined();
  });

  it('reads the stream through an https:// proxy, ca_file trusting both', async () => {
    ldp = await FakeLdp.start({ cert: ldpCert.cert, key: ldpCert.key, host: 'gra1.ldp.invalid' });
    proxy = await FakeProxy.start({ cert: proxyCert.cert, key: proxyCert.key });
    const got = connect({ HTTPS_PROXY: `https://127.0.0.1:${proxy.port}` }, join(dir, 'both.crt'));
    await waitFor(() => ldp!.clients.size === 1, 'connected through the proxy');
    await ldp.send('via tls proxy');
    await waitFor(() => got.length === 1, 'a frame');
    expect(proxy.requests.length).toBe(1);
  });

  it('a proxy that refuses the tunnel is reported (without its credentials) and retried until it lets it through', async () => {
    ldp = await FakeLdp.start({ cert: ldpCert.cert, key: ldpCert.key, host: 'gra1.ldp.invalid' });
    proxy = await FakeProxy.start();
    proxy.refuse = 407;
    const got = connect({ HTTPS_PROXY: `http://alice:hunter2@127.0.0.1:${proxy.port}` });
    await waitFor(() => proxy!.requests.length >= 2, 'tried twice');
    expect(client!.problem).toBe(`the proxy http://127.0.0.1:${proxy.port} (HTTPS_PROXY) refused the tunnel to gra1.ldp.invalid:${new URL(ldp.url).port} (HTTP 407 Proxy Authentication Required): check the credentials in the proxy URL`);
    expect(ldp.handshakes).toBe(0);
    proxy.refuse = 0;
    await waitFor(() => ldp!.clients.size === 1, 'connected once the proxy let it through');
    await ldp.send('at last');
    await waitFor(() => got.length === 1, 'a frame');
    expect(client!.problem).toBeUndefined();
  });

  it('a proxy that is not there is reported as such', async () => {
    ldp = await FakeLdp.start({ cert: ldpCert.cert, key: ldpCert.key, host: 'gra1.ldp.invalid' });
    proxy = await FakeProxy.start();
    const port = proxy.port;
    await proxy.close();
    proxy = undefined;
    connect({ HTTPS_PROXY: `127.0.0.1:${port}` });
    await waitFor(() => client!.problem?.startsWith('cannot reach'), 'a refusal');
    expect(client!.problem).toBe(`cannot reach the proxy http://127.0.0.1:${port} (HTTPS_PROXY): ECONNREFUSED`);
  });

  it('reads the stream through a SOCKS5 proxy, the host name resolved by the proxy', async () => {
    ldp = await FakeLdp.start({ cert: ldpCert.cert, key: ldpCert.key, host: 'gra1.ldp.invalid' });
    socks = await FakeSocks.start();
    const got = connect({ HTTPS_PROXY: `socks5://127.0.0.1:${socks.port}` });
    await waitFor(() => ldp!.clients.size === 1, 'connected through the proxy');
    await ldp.send('via socks');
    await waitFor(() => got.length === 1, 'a frame');
    const port = Number(new URL(ldp.url).port);
    const name = Buffer.from('gra1.ldp.invalid');
    expect(socks.requests).toEqual([Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([port >> 8, port & 0xff])])]);
    expect(socks.logins).toEqual([]);
  });

  it('logs in to a SOCKS5 proxy with the URL\'s user and password, and says so when it refuses them', async () => {
    ldp = await FakeLdp.start({ cert: ldpCert.cert, key: ldpCert.key, host: 'gra1.ldp.invalid' });
    socks = await FakeSocks.start();
    socks.login = 'alice:right';
    connect({ HTTPS_PROXY: `socks5://alice:wrong@127.0.0.1:${socks.port}` });
    await waitFor(() => client!.problem?.includes('SOCKS5'), 'a refusal');
    expect(client!.problem).toBe(`the SOCKS5 proxy socks5://127.0.0.1:${socks.port} (HTTPS_PROXY) rejected the user and password: check the credentials in the proxy URL`);
    client!.stop();
    const got = connect({ HTTPS_PROXY: `socks5://alice:right@127.0.0.1:${socks.port}` });
    await waitFor(() => ldp!.clients.size === 1, 'connected once logged in');
    await ldp.send('logged in');
    await waitFor(() => got.length === 1, 'a frame');
    expect(socks.logins.at(-1)).toBe('alice:right');
    expect(client!.problem).toBeUndefined();
  });

  it('a SOCKS5 proxy that cannot reach the host, or wants a login it was not given, is reported', async () => {
    socks = await FakeSocks.start();
    socks.reply = 4;
    const url = parseLdpUrl('wss://[fd00::1:2]:8443/tail/?tk=x', 'test');
    client = new StreamClient({
      url, proxy: proxyFor(url.href, { HTTPS_PROXY: `socks5://127.0.0.1:${socks.port}` }), pingAfterMs: 30_000, pongTimeoutMs: 10_000, backoffInitialMs: 50, backoffMaxMs: 200,
      onFrame: () => undefined, onState: () => undefined, onGap: () => undefined,
    });
    client.start();
    await waitFor(() => client!.problem?.includes('SOCKS5'), 'a refusal');
    expect(client!.problem).toBe(`the SOCKS5 proxy socks5://127.0.0.1:${socks.port} (HTTPS_PROXY) did not connect to [fd00::1:2]:8443: host unreachable`);
    // An IPv6 address is sent as its 16 bytes.
    expect(socks.requests[0]).toEqual(Buffer.from([5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 8443 >> 8, 8443 & 0xff]));
    client.stop();
    socks.login = 'a:b';
    client = new StreamClient({
      url, proxy: proxyFor(url.href, { HTTPS_PROXY: `socks5://127.0.0.1:${socks.port}` }), pingAfterMs: 30_000, pongTimeoutMs: 10_000, backoffInitialMs: 50, backoffMaxMs: 200,
      onFrame: () => undefined, onState: () => undefined, onGap: () => undefined,
    });
    client.start();
    await waitFor(() => client!.problem?.includes('requires'), 'a refusal');
    expect(client!.problem).toBe(`the SOCKS5 proxy socks5://127.0.0.1:${socks.port} (HTTPS_PROXY) requires authentication: put user:password@ in the proxy URL`);
  });

  it('peregrine serve takes HTTPS_PROXY from its environment, as the plugin does', async () => {
    ldp = await FakeLdp.start({ cert: ldpCert.cert, key: ldpCert.key, host: 'gra1.ldp.invalid' });
    proxy = await FakeProxy.start();
    const d = tempDir();
    writeFileSync(join(d, 'ldp.url'), `${ldp.url}\n`);
    srv = await startServer({
      dir: d, env: { HTTPS_PROXY: `http://alice:hunter2@127.0.0.1:${proxy.port}`, NO_PROXY: 'elsewhere.example' },
      config: { listen: 'none', sources: [{ type: 'ldp', url_file: 'ldp.url', cluster: 'mks-prod', ca_file: ldpCert.file }] },
    });
    await waitFor(() => ldp!.clients.size === 1, 'connected through the proxy');
    await ldp.send(FakeLdp.frame(JSON.stringify(auditEvent('via-proxy', { alert: true }))));
    await waitFor(() => readAlerts(srv!.outFile).length === 1, 'the alert');
    expect(srv.stderr()).toContain(`through the proxy http://127.0.0.1:${proxy.port} (HTTPS_PROXY)`);
    expect(srv.stderr()).not.toContain('hunter2');
    expect(srv.stderr()).not.toContain('secret-token-123');
  });
});
