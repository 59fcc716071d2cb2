// An OVHcloud Logs Data Platform WebSocket URL. It is a secret (its `tk` parameter is
// the credential): read from a file, never printed; logs and metrics name its host.
// k8saudit-ovh takes it without a scheme (`gra1.logs.ovh.com/tail/?tk=…`) and dials
// wss://; both forms are accepted here. ws:// only to loopback addresses (tests).
import { ErrorCode, PeregrineError } from '../../errors.js';
import { isLoopback } from '../../config/schema.js';

export interface LdpUrl {
  /** What is dialled. */
  href: string;
  /** What may be shown: the host only. */
  host: string;
}

export function parseLdpUrl(text: string, key: string): LdpUrl {
  const raw = text.trim();
  // Spaces, control characters (a NUL included) and non-ASCII: not one URL as written.
  if (raw === '' || /[^\x21-\x7e]/.test(raw)) throw new PeregrineError(ErrorCode.CONFIG, `${key}: expected one URL (wss://HOST/tail/?tk=TOKEN or HOST/tail/?tk=TOKEN)`);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `wss://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    // Not even the host is shown: the text may be nothing but the token.
    throw new PeregrineError(ErrorCode.CONFIG, `${key}: not a valid URL`);
  }
  if (u.protocol === 'ws:') {
    const h = u.hostname.replace(/^\[|\]$/g, '');
    if (!isLoopback(h)) throw new PeregrineError(ErrorCode.CONFIG, `${key}: ws:// (no TLS) only to a loopback address, not ${u.host}: use wss://`);
  } else if (u.protocol !== 'wss:') {
    throw new PeregrineError(ErrorCode.CONFIG, `${key}: expected wss://, not ${u.protocol}//${u.host}`);
  }
  if (u.username !== '' || u.password !== '') throw new PeregrineError(ErrorCode.CONFIG, `${key}: user:password in the URL is not used by LDP (${u.host})`);
  if (u.hash !== '') throw new PeregrineError(ErrorCode.CONFIG, `${key}: a #fragment is not part of an LDP stream URL (${u.host})`);
  // The token is the credential: without one, LDP can only refuse.
  if (!u.searchParams.get('tk')) throw new PeregrineError(ErrorCode.CONFIG, `${key}: no token: expected ?tk=TOKEN in the URL (${u.host})`);
  return { href: u.href, host: u.host };
}
