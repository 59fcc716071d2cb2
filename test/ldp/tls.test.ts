// The LDP client over wss://, as every real stream is: the platform's certificate is
// checked against the system's CAs plus ca_file, and its name against the URL's host;
// a stream whose certificate does not pass is not read, and readiness says why.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StreamClient } from '../../src/ingest/ldp/client.js';
import { parseLdpUrl } from '../../src/ingest/ldp/url.js';
import { FakeLdp, haveOpenssl, selfSigned } from './fake-ldp.js';
import { waitFor } from '../serve/harness.js';

describe.skipIf(!haveOpenssl)('LDP stream over TLS', () => {
  let dir: string;
  let ldp: FakeLdp | undefined;
  let client: StreamClient | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peregrine-ldp-tls-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    client?.stop();
    client = undefined;
    await ldp?.close();
  });

  function connect(caFile?: string) {
    const got: string[] = [];
    client = new StreamClient({
      url: parseLdpUrl(ldp!.url, 'test'), caFile, pingAfterMs: 30_000, pongTimeoutMs: 10_000, backoffInitialMs: 50, backoffMaxMs: 200,
      onFrame: (d) => got.push(d.toString()), onState: () => undefined, onGap: () => undefined,
    });
    client.start();
    return got;
  }

  it('reads a stream whose certificate ca_file trusts', async () => {
    const c = selfSigned(dir, 'ldp-ok', 'DNS:localhost,IP:127.0.0.1');
    ldp = await FakeLdp.start({ cert: c.cert, key: c.key, host: 'localhost' });
    const got = connect(c.file);
    await waitFor(() => ldp!.clients.size === 1, 'connected');
    await ldp.send('over tls');
    await waitFor(() => got.length === 1, 'a frame');
    expect(got).toEqual(['over tls']);
    expect(client!.problem).toBeUndefined();
    expect(ldp.tokens).toEqual(['secret-token-123']);
  });

  it('with ca_file, still trusts what NODE_EXTRA_CA_CERTS adds to Node\'s store', async () => {
    const c = selfSigned(dir, 'ldp-extra', 'DNS:localhost,IP:127.0.0.1');
    const other = selfSigned(dir, 'unrelated-ca', 'DNS:ca.example.net');
    ldp = await FakeLdp.start({ cert: c.cert, key: c.key, host: 'localhost' });
    const before = process.env.NODE_EXTRA_CA_CERTS;
    process.env.NODE_EXTRA_CA_CERTS = c.file;
    try {
      const got = connect(other.file);
      await waitFor(() => ldp!.clients.size === 1, 'connected');
      await ldp.send('trusted by the extra CAs');
      await waitFor(() => got.length === 1, 'a frame');
    } finally {
      if (before === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = before;
    }
  });

  it('does not read a stream whose certificate nothing trusts, and says so', async () => {
    const c = selfSigned(dir, 'ldp-untrusted', 'DNS:localhost,IP:127.0.0.1');
    ldp = await FakeLdp.start({ cert: c.cert, key: c.key, host: 'localhost' });
    const got = connect();
    await waitFor(() => ldp!.handshakes === 0 && client!.problem !== 'connecting' && client!.problem, 'a refusal');
    await new Promise((r) => setTimeout(r, 300));
    expect(client!.problem).toMatch(/^cannot connect to localhost:\d+: its TLS certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\); .* ca_file$/);
    expect(ldp.handshakes).toBe(0);
    expect(got).toEqual([]);
  });

  it('does not read a stream whose certificate names another host', async () => {
    const c = selfSigned(dir, 'ldp-other', 'DNS:logs.example.net');
    ldp = await FakeLdp.start({ cert: c.cert, key: c.key, host: 'localhost' });
    const got = connect(c.file);
    await waitFor(() => client!.problem !== 'connecting' && client!.problem, 'a refusal');
    await new Promise((r) => setTimeout(r, 300));
    expect(client!.problem).toMatch(/^cannot connect to localhost:\d+: its TLS certificate is for other names .*logs\.example\.net/);
    expect(ldp.handshakes).toBe(0);
    expect(got).toEqual([]);
  });
});
