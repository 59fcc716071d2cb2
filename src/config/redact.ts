// URLs as they may be shown (logs, /readyz, errors): no userinfo, no query values.
// Receivers take API keys in the query (falcosidekick-style `?apikey=`), and `/readyz`
// is unauthenticated.

/** `https://host:port/path?key=REDACTED`; text that is not a URL is fully redacted. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '<redacted URL>';
  }
  let q = '';
  if (u.search !== '') {
    const keys: string[] = [];
    for (const k of u.searchParams.keys()) keys.push(`${encodeURIComponent(k)}=REDACTED`);
    q = '?' + keys.join('&');
  }
  return `${u.protocol}//${u.host}${u.pathname}${q}`;
}

/**
 * `text` with `url` (as given, normalized, or without its credentials) replaced by its
 * redacted form, and any of its secrets (password, query values of 4+ characters)
 * that still show elsewhere replaced by REDACTED.
 */
export function redactIn(text: string, url: string): string {
  const shown = redactUrl(url);
  const forms = new Set<string>([url]);
  const secrets: string[] = [];
  try {
    const u = new URL(url);
    forms.add(u.href);
    if (u.password !== '') secrets.push(u.password, decodeURIComponent(u.password));
    for (const v of u.searchParams.values()) secrets.push(v, encodeURIComponent(v));
    u.username = '';
    u.password = '';
    forms.add(u.href);
  } catch {
    // Not a URL: only its literal text is replaced.
  }
  let out = text;
  for (const f of [...forms].sort((a, b) => b.length - a.length)) out = out.split(f).join(shown);
  for (const v of secrets.sort((a, b) => b.length - a.length)) if (v.length >= 4) out = out.split(v).join('REDACTED');
  return out;
}
