// The stream URL: both spellings k8saudit-ovh users have, TLS required beyond loopback,
// and the token never in an error.
import { describe, expect, it } from 'vitest';
import { parseLdpUrl } from '../../src/ingest/ldp/url.js';

describe('LDP stream URL', () => {
  it('takes wss:// and the plugin\'s scheme-less form, and shows the host only', () => {
    expect(parseLdpUrl('gra1.logs.ovh.com/tail/?tk=abc123secret\n', 'k')).toEqual({ href: 'wss://gra1.logs.ovh.com/tail/?tk=abc123secret', host: 'gra1.logs.ovh.com' });
    expect(parseLdpUrl('wss://gra1.logs.ovh.com/tail/?tk=abc123secret', 'k').host).toBe('gra1.logs.ovh.com');
    expect(parseLdpUrl('ws://127.0.0.1:9000/tail/?tk=t', 'k').href).toBe('ws://127.0.0.1:9000/tail/?tk=t');
    expect(parseLdpUrl('ws://[::1]:9000/tail/?tk=t', 'k').host).toBe('[::1]:9000');
  });

  it('refuses plain ws:// beyond loopback, other schemes, credentials and junk, without the token', () => {
    const bad = ['ws://gra1.logs.ovh.com/tail/?tk=abc123secret', 'https://gra1.logs.ovh.com/tail/?tk=abc123secret', 'wss://u:p@h/tail/?tk=abc123secret', 'two words', '', 'wss://',
      'wss://h/tail/?tk=abc123secret#frag', 'wss://h/tail/?tk=abc123secret\u0000', 'wss://h/tail/?tk=abc123secr\u00e9t', 'wss://h/tail/', 'wss://h/tail/?tk=', 'junk'];
    for (const b of bad) {
      let msg = '';
      try {
        parseLdpUrl(b, 'sources[0].url_file');
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg, b).toMatch(/^sources\[0\]\.url_file: /);
      expect(msg).not.toContain('abc123secret');
    }
  });
});
