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

/**
 * Why a credential was refused: a fixed set, so it can label a metric. The client is
 * told none of it; the operator sees it in the log and in peregrine_auth_failures_total.
 */
export type AuthFailure =
  | 'missing' | 'scheme' | 'unknown_token' | 'jwt_malformed' | 'jwt_signature' | 'jwt_algorithm' | 'jwt_unknown_key'
  | 'jwt_expired' | 'jwt_not_yet_valid' | 'jwt_issued_in_future' | 'jwt_lifetime' | 'jwt_issuer' | 'jwt_audience'
  | 'jwt_claims' | 'jwt_cluster_claim' | 'cert_token_mismatch' | 'cert_unmapped';

export type AuthResult = { ok: true; cluster: string | undefined } | { ok: false; code: AuthFailure; reason: string };

function fail(code: AuthFailure, reason: string): AuthResult {
  return { ok: false, code, reason };
}

/** jose's error codes (and the claim a claim check names) → our reasons. */
function joseFailure(e: unknown): AuthResult {
  const err = e as { code?: string; claim?: string; message?: string };
  switch (err.code) {
    case 'ERR_JWT_EXPIRED': return fail('jwt_expired', 'JWT expired');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return fail('jwt_signature', 'JWT signature does not verify with any configured key');
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return fail('jwt_algorithm', 'JWT algorithm not in auth.jwt.algorithms');
    case 'ERR_JOSE_NOT_SUPPORTED': return fail('jwt_algorithm', 'JWT algorithm or key type not supported');
    case 'ERR_JWKS_NO_MATCHING_KEY': case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS': return fail('jwt_unknown_key', 'no single JWKS key matches the JWT header');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (err.claim === 'iss') return fail('jwt_issuer', 'JWT issuer (iss) is not auth.jwt.issuer');
      if (err.claim === 'aud') return fail('jwt_audience', 'JWT audience (aud) does not include auth.jwt.audience');
      if (err.claim === 'nbf') return fail('jwt_not_yet_valid', 'JWT not valid yet (nbf)');
      return fail('jwt_claims', `JWT claim check failed (${err.claim ?? 'unknown claim'}: ${(err.message ?? '').slice(0, 80)})`);
    default: return fail('jwt_malformed', `JWT malformed (${err.code ?? 'ERR_JWT_INVALID'})`);
  }
}

const CLUSTER_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

interface TokenEntry {
  cluster: string;
  digest: Buffer;
}

const MIN_TOKEN_LENGTH = 16;

/**
 * The valid tokens of each file, and what was wrong (`file:line: reason`, never the
 * token). One token per line (several allow rotation); blank lines and # comments are
 * ignored. A file that cannot be read, or holds no valid token, gives its cluster none.
 */
function readTokens(sources: TokenSource[]): { entries: TokenEntry[]; problems: string[] } {
  const entries: TokenEntry[] = [];
  const problems: string[] = [];
  const owner = new Map<string, { cluster: string; where: string }>();
  const shared = new Set<string>();
  for (const s of sources) {
    let text: string;
    try {
      text = readFileSync(s.file, 'utf8');
    } catch (e) {
      problems.push(`${s.file}: cannot read the token file of cluster '${s.cluster}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    let valid = 0;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const t = lines[i].trim();
      if (t === '' || t.startsWith('#')) continue;
      if (t.length < MIN_TOKEN_LENGTH) problems.push(`${s.file}:${i + 1}: token shorter than ${MIN_TOKEN_LENGTH} characters (ignored)`);
      else if (/\s/.test(t)) problems.push(`${s.file}:${i + 1}: token contains whitespace (ignored)`);
      // What an Authorization header can carry (RFC 9110 token68 and the like).
      else if (!/^[\x21-\x7e]+$/.test(t)) problems.push(`${s.file}:${i + 1}: token has characters beyond printable ASCII, which no header carries (ignored)`);
      else {
        const digest = sha256(t);
        const key = digest.toString('hex');
        const other = owner.get(key);
        if (other !== undefined && other.cluster !== s.cluster) {
          // One token, two clusters: whichever matched first would decide the cluster.
          problems.push(`${s.file}:${i + 1}: the same token as ${other.where}, for cluster '${other.cluster}' not '${s.cluster}' (ignored for both)`);
          shared.add(key);
          continue;
        }
        owner.set(key, { cluster: s.cluster, where: `${s.file}:${i + 1}` });
        entries.push({ cluster: s.cluster, digest });
        valid++;
      }
    }
    if (valid === 0) problems.push(`${s.file}: no valid token: cluster '${s.cluster}' has no token and its requests get 401`);
  }
  return { entries: entries.filter((e) => !shared.has(e.digest.toString('hex'))), problems };
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
    let sigErr: unknown;
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
          if (e instanceof joseErrors.JWSSignatureVerificationFailed) sigErr = e;
          // Another key may have signed it; any other failure is final.
          if (!(e instanceof joseErrors.JWSSignatureVerificationFailed) && !(e instanceof joseErrors.JOSENotSupported)
            && !((e as { code?: string }).code === 'ERR_JOSE_ALG_NOT_ALLOWED')) break;
        }
      }
    }
    // With several keys, a key of another type fails differently: a signature that no
    // key of the right type verifies is the reason to give.
    if (payload === undefined) return joseFailure(sigErr ?? lastErr);
    // jose checks exp, nbf and the types of iat; how far they reach is ours to bound.
    const now = Date.now() / 1000;
    const tol = this.cfg.clockToleranceSeconds;
    if (typeof payload.iat === 'number' && payload.iat > now + tol) return fail('jwt_issued_in_future', 'JWT issued in the future (iat)');
    if (typeof payload.exp === 'number' && payload.exp - (payload.iat ?? now) > this.cfg.maxLifetimeSeconds + tol) {
      return fail('jwt_lifetime', `JWT lifetime (exp − iat) over auth.jwt.max_lifetime_seconds (${this.cfg.maxLifetimeSeconds})`);
    }
    const cluster = payload[this.cfg.clusterClaim];
    if (typeof cluster !== 'string' || !CLUSTER_RE.test(cluster)) {
      return fail('jwt_cluster_claim', `JWT has no valid '${this.cfg.clusterClaim}' claim`);
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
    // At start a bad token file is a configuration error; at a reload it revokes (fails closed).
    const { entries, problems } = readTokens(cfg.tokens);
    if (problems.length > 0) throw new PeregrineError(ErrorCode.CONFIG, `auth.tokens: ${problems.join('; ')}`);
    this.tokens = entries;
    this.jwt = cfg.jwt ? new JwtVerifier(cfg.jwt, readJwtKeys(cfg.jwt)) : undefined;
    this.required = this.tokens.length > 0 || this.jwt !== undefined || mtlsClusters;
  }

  /**
   * SIGHUP: re-read token files and keys (rotation, revocation). Token files fail
   * closed: each cluster gets exactly the valid tokens its file holds now, none if it
   * holds none or cannot be read; the problems are returned as warnings. JWT keys that
   * do not load throw, and the old keys stay.
   */
  reload(): string[] {
    const { entries, problems } = readTokens(this.cfg.tokens);
    this.tokens = entries;
    this.jwt?.reloadKeys();
    return problems;
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
      return fail('missing', 'no Authorization header');
    }
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (m === null) return fail('scheme', 'Authorization is not "Bearer <token>"');
    const token = m[1];
    const r = this.matchToken(token) ?? this.matchJwtSync(token);
    if (r instanceof Promise) return r.then((res) => this.agree(res, certCluster));
    return this.agree(r, certCluster);
  }

  /** A certificate and a token naming different clusters: refuse. */
  private agree(r: AuthResult, certCluster: string | undefined): AuthResult {
    if (r.ok && certCluster !== undefined && r.cluster !== certCluster) return fail('cert_token_mismatch', 'client certificate and token name different clusters');
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
    if (this.jwt === undefined || token.split('.').length !== 3) return fail('unknown_token', 'bearer token matches no configured token');
    const c = this.jwt.cached(token);
    if (c !== undefined) return { ok: true, cluster: c };
    return this.jwt.verify(token);
  }
}
