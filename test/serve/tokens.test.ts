// Token files read by the Authenticator: one token may not stand for two clusters (the
// first to match would decide whose events they are), and a token must be something an
// Authorization header can carry.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/ingest/auth.js';
import { tempDir } from './harness.js';

const auth = (tokens: { cluster: string; file: string }[]) => ({ tokens, clientCerts: [] }) as never;

describe('token files', () => {
  it('refuse at start a token given to two clusters, naming both places and neither token', () => {
    const dir = tempDir();
    const shared = 'the-same-token-for-both-0123456789';
    writeFileSync(join(dir, 'a'), `${shared}\n`);
    writeFileSync(join(dir, 'b'), `# b\nown-token-of-cluster-b-0123456789\n${shared}\n`);
    let msg = '';
    try {
      new Authenticator(auth([{ cluster: 'a', file: join(dir, 'a') }, { cluster: 'b', file: join(dir, 'b') }]), false);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain(`${join(dir, 'b')}:3: the same token as ${join(dir, 'a')}:1, for cluster 'a' not 'b' (ignored for both)`);
    expect(msg).not.toContain(shared);
    // The same token twice for one cluster is harmless.
    writeFileSync(join(dir, 'c'), `${shared}\n${shared}\n`);
    const ok = new Authenticator(auth([{ cluster: 'c', file: join(dir, 'c') }]), false);
    expect(ok.authenticate(`Bearer ${shared}`, undefined)).toMatchObject({ ok: true, cluster: 'c' });
  });

  it('at a reload, revoke the shared token for both clusters and keep the rest', () => {
    const dir = tempDir();
    const shared = 'the-same-token-for-both-0123456789';
    writeFileSync(join(dir, 'a'), `${shared}\n`);
    writeFileSync(join(dir, 'b'), 'own-token-of-cluster-b-0123456789\n');
    const a = new Authenticator(auth([{ cluster: 'a', file: join(dir, 'a') }, { cluster: 'b', file: join(dir, 'b') }]), false);
    writeFileSync(join(dir, 'b'), `own-token-of-cluster-b-0123456789\n${shared}\n`);
    const problems = a.reload();
    expect(problems.some((p) => p.includes("for cluster 'a' not 'b'"))).toBe(true);
    expect(a.authenticate(`Bearer ${shared}`, undefined)).toMatchObject({ ok: false });
    expect(a.authenticate('Bearer own-token-of-cluster-b-0123456789', undefined)).toMatchObject({ ok: true, cluster: 'b' });
  });

  it('ignore tokens no header can carry, with file:line', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a'), 'token-with-a-nul-\u0000-0123456789\ntoken-not-ascii-\u00e9\u00e9-0123456789\ngood-token-for-cluster-a-0123\n');
    expect(() => new Authenticator(auth([{ cluster: 'a', file: join(dir, 'a') }]), false)).toThrow(
      `auth.tokens: ${join(dir, 'a')}:1: token has characters beyond printable ASCII, which no header carries (ignored); `
      + `${join(dir, 'a')}:2: token has characters beyond printable ASCII, which no header carries (ignored)`);
  });
});
