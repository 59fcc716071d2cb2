// Query parameters of a request URI, with Go's net/url rules (url.Parse then
// url.ParseQuery), since ka.uri.param is computed that way: any parse error makes the
// whole field unavailable.

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function hexVal(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87;
}

/** Go's unescape; undefined on a malformed %-escape. */
function unescape(s: string, plusIsSpace: boolean): string | undefined {
  if (s.indexOf('%') < 0 && (!plusIsSpace || s.indexOf('+') < 0)) return s;
  const src = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === 0x25) {
      if (i + 2 >= src.length || !isHex(src[i + 1]) || !isHex(src[i + 2])) return undefined;
      out[o++] = (hexVal(src[i + 1]) << 4) | hexVal(src[i + 2]);
      i += 2;
    } else if (c === 0x2b && plusIsSpace) {
      out[o++] = 0x20;
    } else {
      out[o++] = c;
    }
  }
  return out.toString('utf8', 0, o);
}

function hasCtl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** The raw query of a URI as url.Parse splits it, or undefined if Parse fails. */
export function rawQuery(uri: string): string | undefined {
  const hash = uri.indexOf('#');
  const u = hash < 0 ? uri : uri.slice(0, hash);
  if (hash >= 0 && unescape(uri.slice(hash + 1), false) === undefined) return undefined;
  if (hasCtl(u)) return undefined;
  if (u === '*') return '';
  // Scheme, as getScheme does.
  let rest = u;
  let scheme = '';
  for (let i = 0; i < u.length; i++) {
    const c = u.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) continue;
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) {
      if (i === 0) break;
      continue;
    }
    if (c === 58) {
      if (i === 0) return undefined;
      scheme = u.slice(0, i);
      rest = u.slice(i + 1);
    }
    break;
  }
  let query = '';
  if (rest.endsWith('?') && rest.indexOf('?') === rest.length - 1) {
    rest = rest.slice(0, -1);
  } else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      query = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith('/')) {
    if (scheme !== '') return query;
    const seg = rest.split('/', 1)[0];
    if (seg.includes(':')) return undefined;
  }
  if (rest.startsWith('//') && (scheme !== '' || !rest.startsWith('///'))) {
    let authority = rest.slice(2);
    const slash = authority.indexOf('/');
    rest = slash >= 0 ? authority.slice(slash) : '';
    if (slash >= 0) authority = authority.slice(0, slash);
    const at = authority.lastIndexOf('@');
    const host = at >= 0 ? authority.slice(at + 1) : authority;
    if (!validHost(host)) return undefined;
    if (at >= 0 && !validUserinfo(authority.slice(0, at))) return undefined;
  }
  if (unescape(rest, false) === undefined) return undefined;
  return query;
}

function validHost(host: string): boolean {
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0) return false;
    if (!validPort(host.slice(close + 1))) return false;
    // A zone (%25...) has rules of its own; without one, the host's.
    return host.slice(0, close).includes('%25') ? unescape(host, false) !== undefined : hostBytesValid(host);
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && !validPort(host.slice(colon))) return false;
  return hostBytesValid(host);
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Bytes Go's shouldEscape(c, encodeHost) lets into a host: alphanumerics and these. */
const HOST_OK = new Set(Array.from("-_.~!$&'()*+,;=:[]<>\"", (c) => c.charCodeAt(0)));

/**
 * Go's unescape(host, encodeHost): %-escapes must be hex and, but for %25, of non-ASCII
 * bytes; other ASCII must be a byte hosts allow.
 */
function hostBytesValid(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const h = s.charCodeAt(i + 1);
      if (i + 2 >= s.length || !isHex(h) || !isHex(s.charCodeAt(i + 2))) return false;
      if (hexVal(h) < 8 && s.slice(i, i + 3) !== '%25') return false;
      i += 2;
    } else if (c < 0x80 && !isAlnum(c) && !HOST_OK.has(c)) {
      return false;
    }
  }
  return true;
}

/** Go's validUserinfo, then unescape(userinfo, encodeUserPassword): well-formed %-escapes. */
function validUserinfo(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (!isAlnum(s.charCodeAt(i)) && !"-._:~!$&'()*+,;=%@".includes(s[i])) return false;
  }
  return unescape(s, false) !== undefined;
}

function validPort(p: string): boolean {
  if (p === '') return true;
  if (p[0] !== ':') return false;
  for (let i = 1; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** First value of query parameter `name`, as url.ParseQuery(...)[name][0]; undefined if absent or malformed. */
export function queryParam(uri: string, name: string): string | undefined {
  const query = rawQuery(uri);
  if (query === undefined) return undefined;
  let found: string | undefined;
  let failed = false;
  for (const part of query.split('&')) {
    if (part.includes(';')) { failed = true; continue; }
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = unescape(eq < 0 ? part : part.slice(0, eq), true);
    if (k === undefined) { failed = true; continue; }
    const v = unescape(eq < 0 ? '' : part.slice(eq + 1), true);
    if (v === undefined) { failed = true; continue; }
    if (k === name && found === undefined) found = v;
  }
  return failed ? undefined : found;
}
