// The Dockerfile, checked without a Docker engine: every file it copies exists (and is
// in the build context), the runtime image holds what the entrypoint, the addon loader,
// the bundled rules and the production dependencies need, the production install
// builds the addon and skips the TypeScript build, ports and health check match the
// server. With PEREGRINE_LONG_TESTS=1 (or npm run test:image) the prod-deps and runtime
// stages are replayed for real: `npm ci --omit=dev` in a copy of what that stage copies,
// then the runtime file layout serving a request with only production dependencies.
import { describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, posix } from 'node:path';
import { destIn, dockerIgnored, parseDockerfile, readDockerignore, type Stage } from './dockerfile.js';
import { tempDir, waitFor } from '../serve/harness.js';
import { batch } from '../serve/fixtures.js';

const ROOT = process.cwd();
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const df = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const ignore = readDockerignore(ROOT);
const runtime = df.stages[df.stages.length - 1];
const LONG = process.env.PEREGRINE_LONG_TESTS === '1' || process.env.PEREGRINE_IMAGE_TEST === '1';

/** Every file under a path (or the file itself), relative to ROOT. */
function filesUnder(rel: string): string[] {
  const abs = join(ROOT, rel);
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => posix.relative(ROOT, join(d.parentPath, d.name)));
}

/**
 * Where a file of the runtime image comes from, as a path on this machine: `roots`
 * maps each stage to the directory that plays its WORKDIR (the build context is ROOT).
 */
function sourceOf(path: string, roots: Record<string, string>): string | undefined {
  for (const c of [...runtime.copies].reverse()) {
    const dest = destIn(runtime, c.dest);
    const src = c.sources[0];
    const base = c.from === undefined ? ROOT : roots[c.from];
    const srcStage = c.from === undefined ? undefined : df.stage(c.from);
    const srcPath = srcStage ? join(base, posix.relative(srcStage.workdir, src)) : join(ROOT, src);
    if (c.dest.endsWith('/') && !src.endsWith('/') && path === posix.join(dest, posix.basename(src))) return srcPath;
    if (src.endsWith('/') && (path === dest || path.startsWith(dest + '/'))) return join(srcPath, posix.relative(dest, path));
    if (!c.dest.endsWith('/') && path === dest) return srcPath;
  }
  return undefined;
}

function runs(stage: Stage): string {
  return stage.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
}

describe('Dockerfile', () => {
  it('is multi-stage: build and prod-deps on the full Node 20 image (toolchain), runtime on the slim one', () => {
    expect(df.stages.map((s) => s.name)).toEqual(['build', 'prod-deps', 'runtime']);
    const major = /(\d+)/.exec(pkg.engines.node)![1];
    expect(df.args.NODE_VERSION).toBe(major);
    expect(df.stage('build').image).toBe(`node:${major}-bookworm`);
    expect(df.stage('prod-deps').image).toBe(`node:${major}-bookworm`);
    expect(runtime.image).toBe(`node:${major}-bookworm-slim`);
  });

  it('copies only files that exist and are in the build context', () => {
    for (const s of df.stages) {
      for (const c of s.copies.filter((x) => x.from === undefined)) {
        for (const src of c.sources) {
          expect(existsSync(join(ROOT, src)), `${s.name}: COPY ${src}`).toBe(true);
          for (const f of filesUnder(src.replace(/\/$/, ''))) expect(dockerIgnored(ignore, f), `${f} is excluded by .dockerignore`).toBe(false);
        }
      }
      for (const c of s.copies.filter((x) => x.from !== undefined)) {
        const from = df.stage(c.from!);
        for (const src of c.sources) expect(src.startsWith(from.workdir + '/'), `${s.name}: COPY --from=${c.from} ${src} is outside ${from.workdir}`).toBe(true);
      }
    }
    // And keeps the host's builds and dependencies out (rebuilt inside, for the image's platform).
    for (const f of ['node_modules/piscina/package.json', 'dist/cli/main.js', 'build/Release/peregrine_json.node', 'test/serve/harness.ts', 'load-tests/run.mjs']) {
      expect(dockerIgnored(ignore, f), f).toBe(true);
    }
  });

  it('builds the addon in the production install: what binding.gyp and the install/prepare scripts need is there', () => {
    const prod = df.stage('prod-deps');
    expect(runs(prod)).toMatch(/npm ci --omit=dev/);
    expect(runs(prod)).not.toMatch(/--ignore-scripts/);
    expect(runs(prod)).toMatch(/test -f build\/Release\/peregrine_json\.node/);
    expect(pkg.scripts.install).toBe('node-gyp rebuild');
    expect(pkg.scripts.prepare).toBe('node scripts/prepare.mjs');
    const copied = prod.copies.flatMap((c) => c.sources);
    const inStage = (p: string) => copied.some((s) => p === s || p.startsWith(s.endsWith('/') ? s : s + '/'));
    expect(inStage('binding.gyp')).toBe(true);
    expect(inStage('scripts/prepare.mjs')).toBe(true);
    const gyp = JSON.parse(readFileSync(join(ROOT, 'binding.gyp'), 'utf8')).targets[0];
    const refs: string[] = [...gyp.sources, ...gyp.include_dirs.filter((d: string) => !d.startsWith('<!'))];
    for (const r of refs) {
      const mod = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(r)?.[1];
      if (mod) expect(pkg.dependencies[mod], `${r}: ${mod} must be a regular dependency`).toBeDefined();
      else expect(inStage(r), `${r} is not copied into prod-deps`).toBe(true);
    }
    // include_dirs' <!(node -p "require('node-addon-api').include_dir")
    expect(gyp.include_dirs.join(' ')).toContain("require('node-addon-api')");
    expect(pkg.dependencies['node-addon-api']).toBeDefined();
    // The build stage skips install scripts (prod-deps builds the addon once) and builds dist/.
    expect(runs(df.stage('build'))).toMatch(/npm ci --ignore-scripts[\s\S]*npm run build/);
  });

  it('prepare skips the TypeScript build without the compiler (production install) and says so', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(ROOT, 'scripts/prepare.mjs'), join(dir, 'scripts/prepare.mjs'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', type: 'module', scripts: { build: 'exit 3' } }));
    const r = spawnSync(process.execPath, ['scripts/prepare.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/no TypeScript compiler/);
    expect(existsSync(join(dir, 'dist'))).toBe(false);
  });

  it('puts in the runtime image what the entrypoint, the addon loader, the bundled rules and the dependencies need', () => {
    const roots = { build: ROOT, 'prod-deps': ROOT };
    const entry = runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.exec!;
    expect(entry[0]).toBe('node');
    const needed = [
      entry[1],
      // "type": "module" for dist/*.js
      '/app/package.json',
      // dist/native/loader.js → ../../build/Release/peregrine_json.node
      posix.resolve(posix.dirname(entry[1]), '../native', '../../build/Release/peregrine_json.node'),
      // dist/config/rules-files.js → ../../rules/
      '/app/rules/peregrine_rules.yaml',
      '/app/dist/pipeline/worker.js',
      ...Object.keys(pkg.dependencies).map((d) => `/app/node_modules/${d}/package.json`),
    ];
    for (const p of needed) {
      const src = sourceOf(p, roots);
      expect(src, `${p} is not copied into the runtime image`).toBeDefined();
      expect(existsSync(src!), `${p} ← ${src} does not exist after npm ci`).toBe(true);
    }
    expect(entry[1]).toBe('/app/' + pkg.bin.peregrine);
  });

  it('runs as a numeric non-root user, with PEREGRINE_NATIVE=1, the server\'s ports and a /healthz health check', async () => {
    const user = runtime.instructions.filter((i) => i.op === 'USER').pop()!.args;
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(runtime.env.PEREGRINE_NATIVE).toBe('1');
    const { DEFAULT_LISTEN, DEFAULT_METRICS_LISTEN, DEFAULT_PATH } = await import('../../dist/config/defaults.js');
    const expose = runtime.instructions.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map(Number);
    expect(expose.sort()).toEqual([DEFAULT_LISTEN.port, DEFAULT_METRICS_LISTEN.port].sort());
    expect(DEFAULT_PATH).toBe('/k8s-audit');
    const hc = runtime.instructions.find((i) => i.op === 'HEALTHCHECK')!;
    expect(hc.args).toContain('PEREGRINE_HEALTHCHECK_URL');
    const url = new URL(runtime.env.PEREGRINE_HEALTHCHECK_URL);
    expect(url.pathname).toBe('/healthz');
    expect(Number(url.port)).toBe(DEFAULT_METRICS_LISTEN.port);
    expect(readFileSync(join(ROOT, 'dist/metrics/endpoints.js'), 'utf8')).toContain("app.get('/healthz'");
    const cmd = runtime.instructions.find((i) => i.op === 'CMD')!.exec!;
    expect(cmd).toEqual(['serve', '--config', '/etc/peregrine/peregrine.yaml']);
  });

  it('names the image peregrine:<package version>, in its label and build command', () => {
    const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(text).toContain(`docker build -t peregrine:${pkg.version} .`);
    expect(text).toContain(`org.opencontainers.image.version="${pkg.version}"`);
  });
});

describe.skipIf(!LONG)('Dockerfile stages replayed (PEREGRINE_LONG_TESTS=1)', () => {
  it('npm ci --omit=dev builds the addon, skips tsc; the runtime layout serves with production dependencies only', async () => {
    const prodDir = tempDir();
    const prod = df.stage('prod-deps');
    for (const c of prod.copies) for (const s of c.sources) cpSync(join(ROOT, s), join(prodDir, s), { recursive: true });
    const env: Record<string, string | undefined> = { ...process.env, ...prod.env };
    // This machine's Node headers (the image uses its own, at /usr/local).
    delete env.npm_config_nodedir;
    const ci = spawnSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: prodDir, encoding: 'utf8', env, timeout: 300_000 });
    expect(ci.status, ci.stderr.slice(-2000)).toBe(0);
    expect(existsSync(join(prodDir, 'build/Release/peregrine_json.node'))).toBe(true);
    expect(existsSync(join(prodDir, 'dist'))).toBe(false);
    expect(existsSync(join(prodDir, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(prodDir, 'node_modules/vitest'))).toBe(false);

    // Assemble /app as the runtime stage does, then run it.
    const app = tempDir();
    const roots = { build: ROOT, 'prod-deps': prodDir };
    for (const c of runtime.copies) {
      const dest = join(app, posix.relative(runtime.workdir, destIn(runtime, c.dest)));
      const srcStage = c.from === undefined ? undefined : df.stage(c.from);
      const src = srcStage ? join(roots[c.from as keyof typeof roots], posix.relative(srcStage.workdir, c.sources[0])) : join(ROOT, c.sources[0]);
      const target = c.dest.endsWith('/') && !c.sources[0].endsWith('/') ? join(dest, posix.basename(c.sources[0])) : dest;
      mkdirSync(dirname(target), { recursive: true });
      cpSync(src, target, { recursive: true });
    }
    const outFile = join(app, 'alerts.jsonl');
    writeFileSync(join(app, 'peregrine.yaml'), `listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\noutputs: { file: { path: ${outFile} } }\n`);
    const entry = runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.exec!;
    const proc = spawn(entry[0], [join(app, posix.relative('/app', entry[1])), 'serve', '--config', join(app, 'peregrine.yaml')], {
      cwd: app, env: { PATH: process.env.PATH, ...runtime.env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    proc.stderr.on('data', (d) => { err += d; });
    try {
      const m = await waitFor(() => /listening webhook=(\S+) metrics=(\S+)/.exec(err), `the server to start:\n${err}`, 20_000);
      expect((await fetch(`${m[2]}/healthz`)).status).toBe(200);
      const b = batch('img', 5, 5);
      const r = await fetch(m[1], { method: 'POST', body: b.body, headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ events: 5, alerts: 1 });
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    const alerts = readFileSync(outFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(alerts.map((a) => a.rule)).toEqual(['Anonymous Request Allowed']);
  }, 400_000);
});
