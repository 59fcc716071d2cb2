// Who is sending: the credential of a request decides its cluster. Bearer tokens per
// cluster (files), JWTs (verified with jose: PEM keys or a JWKS file, algorithm
// allow-list, iss/aud/exp/nbf, cluster from a claim, cached until they expire), and
// client certificates under mTLS (decided by the TLS front, see mtls.ts). Nothing
// here logs a credential.
import { createHash, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { ErrorCode, PeregrineError } from '../errors.js';
import type { JwtConfig, ServeConfig, TokenSource } from '../config/schema.js';

export type AuthResult = { ok: true; cluster: string | undefined } | { ok: false; reason: string };

const CLUSTER_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

interface TokenEntry {
  cluster: string;
  digest: Buffer;
}

function readTokens(sources: TokenSource[]): TokenEntry[] {
  const out: TokenEntry[] = [];
  for (const s of sources) {
    let text: string;
    try {
      text = readFileSync(s.file, 'utf8');
    } catch (e) {
      throw new PeregrineError(ErrorCode.CONFIG, `auth.tokens: cannot read token file for cluster '${s.cluster}' (${s.file}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // One token per line (several allow rotation); blank lines and # comments ignored.
    const tokens = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    if (tokens.length === 0) throw new PeregrineError(ErrorCode.CONFIG, `auth.tokens: token file for cluster '${s.cluster}' (${s.file}) is empty`);
    for (const t of tokens) {
      if (t.length < 16) throw new PeregrineError(ErrorCode.CONFIG, `auth.tokens: a token in ${s.file} is shorter than 16 characters`);
      out.push({ cluster: s.cluster, digest: sha256(t) });
    }
  }
  return out;
}

type KeySource = { kind: 'keys'; keys: KeyObject[] } | { kind: 'jwks'; jwks: ReturnType<typeof createLocalJWKSet> };

function readJwtKeys(cfg: JwtConfig): KeySource {
  if (cfg.jwksFile !== undefined) {
    try {
      return { kind: 'jwks', jwks: createLocalJWKSet(JSON.parse(readFileSync(cfg.jwksFile, 'utf8'))) };
    } catch (e) {
      throw new PeregrineError(ErrorCode.CONFIG, `auth.jwt.jwks_file: cannot load ${cfg.jwksFile}: ${(e as Error).message}`);
    }
  }
  return {
    kind: 'keys',
    keys: cfg.publicKeyFiles.map((f, i) => {
      try {
        return createPublicKey(readFileSync(f, 'utf8'));
      } catch (e) {
        throw new PeregrineError(ErrorCode.CONFIG, `auth.jwt.public_key_files[${i}]: cannot load ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }),
  };
}

class JwtVerifier {
  private readonly cache = new Map<string, { cluster: string; untilMs: number }>();
  private readonly opts: JWTVerifyOptions;

  constructor(private readonly cfg: JwtConfig, private keys: KeySource) {
    this.opts = {
      algorithms: cfg.algorithms,
      issuer: cfg.issuer,
      audience: cfg.audience,
      clockTolerance: cfg.clockToleranceSeconds,
      requiredClaims: cfg.requireExp ? ['exp'] : [],
    };
  }

  reloadKeys(): void {
    this.keys = readJwtKeys(this.cfg);
    this.cache.clear();
  }

  /** Synchronous cache hit, else undefined. */
  cached(token: string): string | undefined {
    const hit = this.cache.get(token);
    if (hit === undefined) return undefined;
    if (hit.untilMs <= Date.now()) {
      this.cache.delete(token);
      return undefined;
    }
    return hit.cluster;
  }

  async verify(token: string): Promise<AuthResult> {
    let payload: JWTPayload | undefined;
    let lastErr: unknown;
    if (this.keys.kind === 'jwks') {
      try {
        payload = (await jwtVerify(token, this.keys.jwks, this.opts)).payload;
      } catch (e) {
        lastErr = e;
      }
    } else {
      for (const k of this.keys.keys) {
        try {
          payload = (await jwtVerify(token, k, this.opts)).payload;
          break;
        } catch (e) {
          lastErr = e;
          // Another key may have signed it; any other failure is final.
          if (!(e instanceof joseErrors.JWSSignatureVerificationFailed) && !(e instanceof joseErrors.JOSENotSupported)
            && !((e as { code?: string }).code === 'ERR_JOSE_ALG_NOT_ALLOWED')) break;
        }
      }
    }
    if (payload === undefined) {
      const code = (lastErr as { code?: string })?.code ?? 'ERR_JWT_INVALID';
      return { ok: false, reason: `JWT rejected (${code})` };
    }
    const cluster = payload[this.cfg.clusterClaim];
    if (typeof cluster !== 'string' || !CLUSTER_RE.test(cluster)) {
      return { ok: false, reason: `JWT has no valid '${this.cfg.clusterClaim}' claim` };
    }
    const untilMs = typeof payload.exp === 'number' ? payload.exp * 1000 : Date.now() + 300_000;
    if (this.cfg.cacheSize > 0) {
      if (this.cache.size >= this.cfg.cacheSize) {
        // Evict the oldest entry (Map keeps insertion order).
        const first = this.cache.keys().next();
        if (!first.done) this.cache.delete(first.value);
      }
      this.cache.set(token, { cluster, untilMs });
    }
    return { ok: true, cluster };
  }
}

export class Authenticator {
  private tokens: TokenEntry[];
  private readonly jwt: JwtVerifier | undefined;
  /** Any credential configured at all (otherwise requests are anonymous). */
  readonly required: boolean;

  constructor(private readonly cfg: ServeConfig['auth'], mtlsClusters: boolean) {
    this.tokens = readTokens(cfg.tokens);
    this.jwt = cfg.jwt ? new JwtVerifier(cfg.jwt, readJwtKeys(cfg.jwt)) : undefined;
    this.required = this.tokens.length > 0 || this.jwt !== undefined || mtlsClusters;
  }

  /** SIGHUP: re-read token files and keys (rotation). Throws on error; old ones stay. */
  reload(): void {
    const t = readTokens(this.cfg.tokens);
    this.jwt?.reloadKeys();
    this.tokens = t;
  }

  /**
   * `authorization`: the header ('' when absent). `certCluster`: the cluster of a
   * verified client certificate (mTLS front), if any. A cached or token answer is
   * synchronous; a JWT seen for the first time is verified asynchronously.
   */
  authenticate(authorization: string, certCluster: string | undefined): AuthResult | Promise<AuthResult> {
    if (authorization === '') {
      if (certCluster !== undefined) return { ok: true, cluster: certCluster };
      if (!this.required) return { ok: true, cluster: undefined };
      return { ok: false, reason: 'missing credentials' };
    }
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (m === null) return { ok: false, reason: 'unsupported authorization scheme' };
    const token = m[1];
    const r = this.matchToken(token) ?? this.matchJwtSync(token);
    if (r instanceof Promise) return r.then((res) => this.agree(res, certCluster));
    return this.agree(r, certCluster);
  }

  /** A certificate and a token naming different clusters: refuse. */
  private agree(r: AuthResult, certCluster: string | undefined): AuthResult {
    if (r.ok && certCluster !== undefined && r.cluster !== certCluster) return { ok: false, reason: 'client certificate and token name different clusters' };
    return r;
  }

  /** Constant time in the token and in which entry matches: every entry is compared. */
  private matchToken(token: string): AuthResult | undefined {
    if (this.tokens.length === 0) return undefined;
    const d = sha256(token);
    let found: string | undefined;
    for (const e of this.tokens) {
      if (timingSafeEqual(d, e.digest) && found === undefined) found = e.cluster;
    }
    return found === undefined ? undefined : { ok: true, cluster: found };
  }

  private matchJwtSync(token: string): AuthResult | Promise<AuthResult> {
    if (this.jwt === undefined || token.split('.').length !== 3) return { ok: false, reason: 'invalid token' };
    const c = this.jwt.cached(token);
    if (c !== undefined) return { ok: true, cluster: c };
    return this.jwt.verify(token);
  }
}
