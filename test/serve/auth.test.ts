// JWT authentication (keys made with jose here: PEM and JWKS) and mTLS (a CA and
// certificates made with openssl here), against the real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { connect } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { auditEvent, eventList } from './fixtures.js';
import { metricValue, metricsText, post, readAlerts, startServer, tempDir, waitFor, type Server } from './harness.js';

async function alertCluster(s: Server, id: string): Promise<string> {
  const a = await waitFor(() => readAlerts(s.outFile).find((x) => x.output_fields['ka.auditid'] === id), `alert ${id}`);
  return a.output_fields['ka.cluster.name'];
}

describe('JWT authentication', () => {
  let s: Server;
  let sj: Server;
  let es: CryptoKey;
  let rs: CryptoKey;
  let other: CryptoKey;

  const jwt = (claims: Record<string, unknown>, key = es, alg = 'ES256', exp: string | number = '10m') =>
    new SignJWT(claims).setProtectedHeader({ alg, kid: 'k1' }).setIssuer('https://issuer.example').setAudience('peregrine')
      .setIssuedAt().setExpirationTime(exp).sign(key);

  beforeAll(async () => {
    const dir = tempDir();
    const esPair = await generateKeyPair('ES256', { extractable: true });
    const rsPair = await generateKeyPair('RS256', { extractable: true });
    es = esPair.privateKey;
    rs = rsPair.privateKey;
    other = (await generateKeyPair('ES256')).privateKey;
    writeFileSync(join(dir, 'es.pem'), await exportSPKI(esPair.publicKey));
    writeFileSync(join(dir, 'rs.pem'), await exportSPKI(rsPair.publicKey));
    const base = { issuer: 'https://issuer.example', audience: 'peregrine', cluster_claim: 'k8s_cluster' };
    s = await startServer({ dir, config: { listen: '127.0.0.1:0', auth: { jwt: { ...base, public_key_files: ['es.pem', 'rs.pem'], algorithms: ['ES256', 'RS256'] } } } });
    const dir2 = tempDir();
    const jwk = { ...(await exportJWK(esPair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    writeFileSync(join(dir2, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    sj = await startServer({ dir: dir2, config: { auth: { jwt: { ...base, jwks_file: 'jwks.json', algorithms: ['ES256'] } } } });
  });
  afterAll(async () => {
    await s.stop();
    await sj.stop();
  });

  it('accepts valid JWTs signed by any configured key; the cluster comes from the claim', async () => {
    const body = eventList([auditEvent('jwt-es', { alert: true, clusterAnnotation: 'evil' })]);
    const r = await post(s.webhook, body, { authorization: `Bearer ${await jwt({ k8s_cluster: 'east' })}` });
    expect(r.status).toBe(200);
    expect(await alertCluster(s, 'jwt-es')).toBe('east');
    const r2 = await post(s.webhook, eventList([auditEvent('jwt-rs', { alert: true })]), { authorization: `Bearer ${await jwt({ k8s_cluster: 'west' }, rs, 'RS256')}` });
    expect(r2.status).toBe(200);
    expect(await alertCluster(s, 'jwt-rs')).toBe('west');
  });

  it('rejects bad signatures, other algorithms, wrong audience or issuer, expired tokens, and missing cluster claims', async () => {
    const body = eventList([auditEvent('jwt-bad', { alert: true })]);
    const hs = await new SignJWT({ k8s_cluster: 'x' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://issuer.example').setAudience('peregrine')
      .setExpirationTime('10m').sign(new TextEncoder().encode('a-shared-secret-that-is-long-enough!!'));
    const bad = [
      await jwt({ k8s_cluster: 'east' }, other),
      hs,
      await new SignJWT({ k8s_cluster: 'east' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://issuer.example').setAudience('someone-else').setExpirationTime('10m').sign(es),
      await new SignJWT({ k8s_cluster: 'east' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://evil.example').setAudience('peregrine').setExpirationTime('10m').sign(es),
      await jwt({ k8s_cluster: 'east' }, es, 'ES256', Math.floor(Date.now() / 1000) - 3600),
      await new SignJWT({ k8s_cluster: 'east' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://issuer.example').setAudience('peregrine').sign(es),
      await jwt({ cluster: 'east' }),
      await jwt({ k8s_cluster: 'has spaces!' }),
      await new SignJWT({ k8s_cluster: 'east' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://issuer.example').setAudience('peregrine')
        .setNotBefore(Math.floor(Date.now() / 1000) + 3600).setExpirationTime('2h').sign(es),
    ];
    const reasons = ['jwt_signature', 'jwt_algorithm', 'jwt_audience', 'jwt_issuer', 'jwt_expired', 'jwt_claims', 'jwt_cluster_claim', 'jwt_cluster_claim', 'jwt_not_yet_valid'];
    const before = await metricsText(s);
    for (const [i, t] of bad.entries()) {
      const r = await post(s.webhook, body, { authorization: `Bearer ${t}` });
      expect(r.status, `case ${i}`).toBe(401);
    }
    expect(readAlerts(s.outFile).filter((a) => a.output_fields['ka.auditid'] === 'jwt-bad')).toEqual([]);
    // Each refusal is counted by its reason, and the first of each reason is logged.
    const after = await metricsText(s);
    for (const reason of new Set(reasons)) {
      const sample = `peregrine_auth_failures_total{reason="${reason}"}`;
      expect(metricValue(after, sample) - metricValue(before, sample), reason).toBe(reasons.filter((x) => x === reason).length);
    }
    for (const what of ['JWT signature does not verify', 'JWT algorithm not in auth.jwt.algorithms', 'JWT audience (aud)', 'JWT issuer (iss)', 'JWT expired', 'JWT not valid yet (nbf)']) {
      expect(s.stderr()).toContain(what);
    }
    for (const t of bad) expect(s.stderr()).not.toContain(t.split('.')[2]);
  });

  it('bounds how far a JWT reaches: lifetime over max_lifetime_seconds, iat in the future', async () => {
    const body = eventList([auditEvent('jwt-life', { alert: true })]);
    const now = Math.floor(Date.now() / 1000);
    const sign = (iat: number | undefined, exp: number) => {
      const j = new SignJWT({ k8s_cluster: 'east' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://issuer.example').setAudience('peregrine');
      if (iat !== undefined) j.setIssuedAt(iat);
      return j.setExpirationTime(exp).sign(es);
    };
    const before = await metricsText(s);
    // exp far away (1e300 is not a valid NumericDate for jose's signer; 10^12 s is), with and without iat.
    expect((await post(s.webhook, body, { authorization: `Bearer ${await sign(now, 1e12)}` })).status).toBe(401);
    expect((await post(s.webhook, body, { authorization: `Bearer ${await sign(undefined, now + 2 * 86_400)}` })).status).toBe(401);
    expect((await post(s.webhook, body, { authorization: `Bearer ${await sign(now + 600, now + 1200)}` })).status).toBe(401);
    // Within bounds: a day, and iat within the clock tolerance.
    expect((await post(s.webhook, body, { authorization: `Bearer ${await sign(now, now + 86_000)}` })).status).toBe(200);
    expect((await post(s.webhook, body, { authorization: `Bearer ${await sign(now + 10, now + 600)}` })).status).toBe(200);
    const after = await metricsText(s);
    const delta = (r: string) => metricValue(after, `peregrine_auth_failures_total{reason="${r}"}`) - metricValue(before, `peregrine_auth_failures_total{reason="${r}"}`);
    expect(delta('jwt_lifetime')).toBe(2);
    expect(delta('jwt_issued_in_future')).toBe(1);
  });

  it('warns at start when a JWT config beyond loopback checks neither issuer nor audience', async () => {
    const dir = tempDir();
    const pair = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(join(dir, 'k.pem'), await exportSPKI(pair.publicKey));
    const open = await startServer({ dir, config: { listen: '0.0.0.0:0', auth: { jwt: { public_key_files: ['k.pem'], algorithms: ['ES256'] } } } });
    await open.stop();
    expect(open.stderr()).toContain('auth.jwt sets neither issuer nor audience');
    const dir2 = tempDir();
    writeFileSync(join(dir2, 'k.pem'), await exportSPKI(pair.publicKey));
    const withAud = await startServer({ dir: dir2, config: { listen: '0.0.0.0:0', auth: { jwt: { public_key_files: ['k.pem'], algorithms: ['ES256'], audience: 'peregrine' } } } });
    await withAud.stop();
    expect(withAud.stderr()).not.toContain('neither issuer nor audience');
  });

  it('verifies against a JWKS file, and serves repeated tokens from the cache', async () => {
    const t = await jwt({ k8s_cluster: 'north' });
    for (let i = 0; i < 5; i++) {
      const r = await post(sj.webhook, eventList([auditEvent(`jwks-${i}`, { alert: true })]), { authorization: `Bearer ${t}` });
      expect(r.status).toBe(200);
    }
    expect(await alertCluster(sj, 'jwks-4')).toBe('north');
    expect((await post(sj.webhook, eventList([]), { authorization: `Bearer ${await jwt({ k8s_cluster: 'north' }, rs, 'RS256')}` })).status).toBe(401);
  });
});

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!haveOpenssl)('mTLS (client certificates decide the cluster)', () => {
  let s: Server;
  let dir: string;

  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  function makeCa(name: string): void {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
  }
  function makeCert(name: string, ca: string, cn: string, ext?: string): void {
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    const args = ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2'];
    if (ext) {
      writeFileSync(join(dir, `${name}.ext`), ext);
      args.push('-extfile', `${name}.ext`);
    }
    openssl(...args);
  }

  function mtlsPost(client: string | undefined, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    const u = new URL(s.webhook);
    return new Promise((resolve, reject) => {
      const req = request({
        host: u.hostname, port: Number(u.port), path: u.pathname, method: 'POST',
        ca: readFileSync(join(dir, 'serverca.crt')),
        ...(client ? { cert: readFileSync(join(dir, `${client}.crt`)), key: readFileSync(join(dir, `${client}.key`)) } : {}),
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
        servername: 'localhost',
      }, (res) => {
        let data = '';
        res.on('data', (d) => { data += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  beforeAll(async () => {
    dir = tempDir();
    makeCa('serverca');
    makeCa('clientca');
    makeCa('rogueca');
    makeCert('server', 'serverca', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
    makeCert('apiserver-a', 'clientca', 'kube-apiserver-a');
    makeCert('apiserver-b', 'clientca', 'kube-apiserver-b');
    makeCert('unmapped', 'clientca', 'somebody-else');
    makeCert('rogue', 'rogueca', 'kube-apiserver-a');
    const fpB = execFileSync('openssl', ['x509', '-in', 'apiserver-b.crt', '-noout', '-fingerprint', '-sha256'], { cwd: dir }).toString().split('=')[1].trim();
    writeFileSync(join(dir, 'tok'), 'a-token-for-cluster-c-123456\n');
    s = await startServer({
      dir,
      config: {
        listen: '127.0.0.1:0',
        tls: { cert_file: 'server.crt', key_file: 'server.key', client_ca_file: 'clientca.crt' },
        auth: {
          client_certs: [{ cluster: 'cert-a', subject_cn: 'kube-apiserver-a' }, { cluster: 'cert-b', fingerprint_sha256: fpB }],
          tokens: [{ cluster: 'cert-c', file: 'tok' }],
        },
      },
    });
    expect(s.webhook.startsWith('https://')).toBe(true);
  });
  afterAll(async () => {
    await s.stop();
  });

  it('plain TLS (no client CA) is served by uWebSockets.js itself, with tokens', async () => {
    const t = await startServer({
      dir: tempDir(),
      config: {
        tls: { cert_file: join(dir, 'server.crt'), key_file: join(dir, 'server.key') },
        auth: { tokens: [{ cluster: 'tls-c', file: join(dir, 'tok') }] },
      },
    });
    try {
      expect(t.webhook.startsWith('https://')).toBe(true);
      const saved = s;
      s = t;
      try {
        expect((await mtlsPost(undefined, eventList([auditEvent('tls-1', { alert: true })]))).status).toBe(401);
        expect((await mtlsPost(undefined, eventList([auditEvent('tls-2', { alert: true })]), { authorization: 'Bearer a-token-for-cluster-c-123456' })).status).toBe(200);
        expect(await alertCluster(t, 'tls-2')).toBe('tls-c');
      } finally {
        s = saved;
      }
    } finally {
      await t.stop();
    }
  });

  it('maps certificates to clusters by subject CN or fingerprint', async () => {
    const ra = await mtlsPost('apiserver-a', eventList([auditEvent('mtls-a', { alert: true, clusterAnnotation: 'cert-b' })]));
    expect(ra.status).toBe(200);
    expect(await alertCluster(s, 'mtls-a')).toBe('cert-a');
    const rb = await mtlsPost('apiserver-b', eventList([auditEvent('mtls-b', { alert: true })]));
    expect(rb.status).toBe(200);
    expect(await alertCluster(s, 'mtls-b')).toBe('cert-b');
  });

  it('refuses connections without a certificate or with one from another CA', async () => {
    await expect(mtlsPost(undefined, eventList([]))).rejects.toThrow();
    await expect(mtlsPost('rogue', eventList([]))).rejects.toThrow();
  });

  it('closes handshakes that do not finish in time, and the oldest beyond the pending bound; real clients still get in', async () => {
    const t = await startServer({
      dir,
      config: {
        listen: '127.0.0.1:0',
        tls: { cert_file: 'server.crt', key_file: 'server.key', client_ca_file: 'clientca.crt', handshake_timeout_seconds: 1, max_pending_handshakes: 20 },
        auth: { client_certs: [{ cluster: 'cert-a', subject_cn: 'kube-apiserver-a' }] },
      },
    });
    const saved = s;
    try {
      const u = new URL(t.webhook);
      // 60 connections that never send a ClientHello.
      const closedAt: number[] = [];
      const t0 = Date.now();
      const idle = Array.from({ length: 60 }, () => new Promise<void>((resolve) => {
        const c = connect(Number(u.port), u.hostname);
        c.on('error', () => undefined);
        c.on('close', () => { closedAt.push(Date.now() - t0); resolve(); });
      }));
      await new Promise((r) => setTimeout(r, 200));
      s = t;
      // While they are pending, a client with a certificate is served.
      const r = await mtlsPost('apiserver-a', eventList([auditEvent('mtls-hs', { alert: true })]));
      expect(r.status).toBe(200);
      await Promise.all(idle);
      // 40 were closed at once as the oldest beyond 20 pending; the other 20 by the 1 s timeout.
      expect(closedAt.filter((ms) => ms < 900).length).toBeGreaterThanOrEqual(40);
      expect(Math.max(...closedAt)).toBeLessThan(5000);
      const text = await metricsText(t);
      expect(metricValue(text, 'peregrine_tls_handshake_failures_total{reason="evicted"}')).toBeGreaterThanOrEqual(40);
      expect(metricValue(text, 'peregrine_tls_handshake_failures_total{reason="timeout"}')).toBeGreaterThanOrEqual(1);
      // No token or JWT to fall back on: an unmapped certificate gets the front's own 401,
      // counted and logged like any other.
      const u401 = await mtlsPost('unmapped', eventList([auditEvent('mtls-nomap', { alert: true })]));
      expect(u401.status).toBe(401);
      expect(JSON.parse(u401.body).error.code).toBe('unauthorized');
      const text2 = await metricsText(t);
      expect(metricValue(text2, 'peregrine_auth_failures_total{reason="cert_unmapped"}')).toBe(1);
      expect(metricValue(text2, 'peregrine_requests_rejected_total{cluster="none",reason="unauthorized"}')).toBe(1);
      await waitFor(() => /401 for \S+: client certificate CN="somebody-else" SHA-256 [0-9A-F:]{95} maps to no cluster/.test(t.stderr()), 'the refusal logged');
    } finally {
      s = saved;
      await t.stop();
    }
  });

  it('an unmapped certificate needs a token; a token contradicting a mapped certificate is refused', async () => {
    expect((await mtlsPost('unmapped', eventList([auditEvent('mtls-u0', { alert: true })]))).status).toBe(401);
    const r = await mtlsPost('unmapped', eventList([auditEvent('mtls-u', { alert: true })]), { authorization: 'Bearer a-token-for-cluster-c-123456' });
    expect(r.status).toBe(200);
    expect(await alertCluster(s, 'mtls-u')).toBe('cert-c');
    expect((await mtlsPost('apiserver-a', eventList([]), { authorization: 'Bearer a-token-for-cluster-c-123456' })).status).toBe(401);
    const text = await metricsText(s);
    expect(metricValue(text, 'peregrine_events_total{cluster="cert-a"}')).toBe(1);
  });
});
