// docs/: the audit policy is a valid audit.k8s.io/v1 Policy and feeds the bundled rules
// (same alerts on a policy-filtered corpus as on the full one); the YAML examples parse
// (webhook kubeconfigs point at serve's path with a credential, Peregrine config
// snippets load through the real config loader); the kube-apiserver flags named exist;
// relative links resolve.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { parsePolicy } from '../../src/policy/parse.js';
import { applyPolicy, ruleFor } from '../../src/policy/evaluate.js';
import { emptyRule } from '../../src/policy/model.js';
import { generatePool } from '../../load-tests/corpus.mjs';
import { tempDir } from '../serve/harness.js';

const ROOT = process.cwd();
const DOCS = join(ROOT, 'docs');
const docs = readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => ({ file: `docs/${f}`, text: readFileSync(join(DOCS, f), 'utf8') }));
const readme = { file: 'README.md', text: readFileSync(join(ROOT, 'README.md'), 'utf8') };
const policy = parsePolicy('docs/audit-policy.yaml', readFileSync(join(DOCS, 'audit-policy.yaml'), 'utf8'));

function yamlBlocks(text: string): string[] {
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
}

function scan(file: string): string[] {
  const r = spawnSync(process.execPath, ['dist/cli/main.js', 'scan', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}

describe('docs/audit-policy.yaml', () => {
  it('is a valid audit.k8s.io/v1 Policy', () => {
    // parsePolicy refuses what kube-apiserver refuses, and unknown fields.
    expect(policy.rules.length).toBeGreaterThan(0);
    // The last rule catches everything at Metadata: nothing security-relevant goes unlogged by omission.
    const { loc: _loc, ...last } = policy.rules[policy.rules.length - 1];
    expect(last).toEqual(emptyRule('Metadata'));
  });

  it('sends the bodies the bundled rules read, and never those of secrets', () => {
    const ev = (verb: string, resource: string, extra: Record<string, unknown> = {}) => ({
      verb, user: { username: 'alice', groups: ['system:authenticated'] }, stage: 'ResponseComplete',
      objectRef: { resource, ...extra }, requestURI: '/x',
    });
    expect(ruleFor(policy, ev('create', 'pods'))?.level).toBe('Request');
    expect(ruleFor(policy, ev('create', 'clusterrolebindings', { apiGroup: 'rbac.authorization.k8s.io' }))?.level).toBe('Request');
    expect(ruleFor(policy, ev('get', 'pods', { subresource: 'exec' }))?.level).toBe('Metadata');
    expect(ruleFor(policy, ev('create', 'secrets'))?.level).toBe('Metadata');
    expect(ruleFor(policy, ev('update', 'configmaps'))?.level).toBe('Request');
    expect(ruleFor(policy, { verb: 'get', user: { username: 'system:node:n1', groups: ['system:nodes'] }, requestURI: '/healthz' })?.level).toBe('None');
  });

  it('feeds the bundled rules: the same alerts on a policy-filtered corpus as on the full one', () => {
    const events = generatePool(20_000, { seed: 11, attackShare: 0.01 });
    const filtered = events.map((e: unknown) => applyPolicy(policy, e)).filter((e: unknown) => e !== undefined);
    const dir = tempDir();
    const full = join(dir, 'full.jsonl');
    const cut = join(dir, 'policy.jsonl');
    const fullText = events.map((e: unknown) => JSON.stringify(e)).join('\n') + '\n';
    const cutText = filtered.map((e: unknown) => JSON.stringify(e)).join('\n') + '\n';
    writeFileSync(full, fullText);
    writeFileSync(cut, cutText);
    const a = scan(full);
    const b = scan(cut);
    expect(a.length).toBeGreaterThan(50);
    expect(b).toEqual(a);
    // What it saves on this corpus (quoted in docs/audit-policy.md).
    const keptEvents = filtered.length / events.length;
    const keptBytes = cutText.length / fullText.length;
    expect(keptEvents).toBeLessThan(0.9);
    expect(keptBytes).toBeLessThan(0.9);
    const doc = docs.find((d) => d.file === 'docs/audit-policy.md')!.text;
    expect(doc).toContain(`keeps ${Math.round(keptEvents * 100)} % of the events and ${Math.round(keptBytes * 100)} % of the bytes`);
  });
});

describe('docs: examples and references', () => {
  it('webhook kubeconfigs point at serve\'s path over HTTPS with a credential', async () => {
    const { DEFAULT_PATH } = await import('../../dist/config/defaults.js');
    const configs = [...docs, readme].flatMap((d) => yamlBlocks(d.text).map((b) => ({ file: d.file, doc: yaml.load(b) as any })))
      .filter((x) => x.doc?.kind === 'Config');
    expect(configs.length).toBeGreaterThanOrEqual(3);
    for (const { file, doc } of configs) {
      const server = new URL(doc.clusters[0].cluster.server);
      expect(server.protocol, file).toBe('https:');
      expect(server.pathname, file).toBe(DEFAULT_PATH);
      const user = doc.users[0].user;
      expect(user.token !== undefined || (user['client-certificate'] !== undefined && user['client-key'] !== undefined), file).toBe(true);
      expect(doc.contexts.some((c: any) => c.name === doc['current-context']), file).toBe(true);
    }
  });

  it('Peregrine config snippets use real keys and values (through the real loader)', async () => {
    const { applyDocument } = await import('../../dist/config/load.js');
    const { defaultConfig } = await import('../../dist/config/defaults.js');
    const TOP = ['listen', 'path', 'metrics_listen', 'insecure', 'workers', 'rules', 'tls', 'auth', 'rate_limit', 'clusters', 'limits', 'outputs', 'sources'];
    let n = 0;
    for (const d of [...docs, readme]) {
      for (const b of yamlBlocks(d.text)) {
        const doc = yaml.load(b) as Record<string, unknown> | null;
        if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !Object.keys(doc).every((k) => TOP.includes(k))) continue;
        n++;
        expect(() => applyDocument(defaultConfig(), doc, '/'), `${d.file}:\n${b}`).not.toThrow();
      }
    }
    expect(n).toBeGreaterThanOrEqual(3);
  });

  it('name only kube-apiserver audit flags that exist', () => {
    const known = new Set([
      'audit-policy-file', 'audit-webhook-config-file', 'audit-webhook-mode', 'audit-webhook-initial-backoff', 'audit-webhook-batch-buffer-size',
      'audit-webhook-batch-max-size', 'audit-webhook-batch-max-wait', 'audit-webhook-batch-throttle-enable', 'audit-webhook-batch-throttle-qps',
      'audit-webhook-batch-throttle-burst', 'audit-webhook-truncate-enabled', 'audit-webhook-truncate-max-batch-size',
      'audit-webhook-truncate-max-event-size', 'audit-webhook-version', 'audit-log-path', 'audit-log-maxage', 'audit-log-maxbackup',
      'audit-log-maxsize', 'audit-log-format', 'audit-log-mode', 'audit-log-compress', 'audit-log-version', 'audit-log-batch-buffer-size',
      'audit-log-batch-max-size', 'audit-log-batch-max-wait', 'audit-log-batch-throttle-enable', 'audit-log-batch-throttle-qps',
      'audit-log-batch-throttle-burst', 'audit-log-truncate-enabled', 'audit-log-truncate-max-batch-size', 'audit-log-truncate-max-event-size',
    ]);
    for (const d of [...docs, readme]) {
      for (const m of d.text.matchAll(/--(audit-[a-z-]+)(\*)?/g)) {
        // `--audit-webhook-*` names a family.
        const ok = m[2] ? [...known].some((k) => k.startsWith(m[1])) : known.has(m[1]);
        expect(ok, `${d.file}: --${m[1]}${m[2] ?? ''}`).toBe(true);
      }
    }
  });

  it('link only to files that exist', () => {
    for (const d of [...docs, readme, { file: 'load-tests/README.md', text: readFileSync(join(ROOT, 'load-tests/README.md'), 'utf8') }]) {
      for (const m of d.text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(m[1])) continue;
        expect(existsSync(resolve(dirname(join(ROOT, d.file)), m[1])), `${d.file}: ${m[1]}`).toBe(true);
      }
    }
  });
});
