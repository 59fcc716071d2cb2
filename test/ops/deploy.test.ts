// deploy/: the Kubernetes manifests parse, fit together (names, labels, ports, probes,
// Secrets and ConfigMaps), reference only the image, ports, paths and config keys that
// exist, and the ConfigMap's config loads through the real config loader. Then a pod
// is simulated: the volumes written where deployment.yaml mounts them (generated
// tokens and a self-signed certificate for the Secrets), the image's entrypoint run with
// the container's args and env, its probes asked, and an audit event POSTed over TLS
// with a cluster's token. The follower DaemonSet (daemonset.yaml, applied on its own)
// likewise: control-plane nodes only, the audit log directory read-only, checkpoints on
// the node, no overlap with the Deployment's pods; and a simulated follower pod reads
// an audit log written into its hostPath and survives a restart from its checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, cpSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { basename, join, posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import yaml from 'js-yaml';
import { parseDockerfile } from './dockerfile.js';
import { tempDir, waitFor } from '../serve/harness.js';
import { auditEvent, eventList } from '../serve/fixtures.js';

const ROOT = process.cwd();
const DEPLOY = join(ROOT, 'deploy');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = dockerfile.stages[dockerfile.stages.length - 1];

type Doc = Record<string, any> & { _file: string };

function load(file: string): Doc[] {
  // Kubernetes reads YAML 1.1, where a file mode's leading 0 means octal; js-yaml reads
  // 1.2, where it takes 0o.
  const text = readFileSync(join(DEPLOY, file), 'utf8').replace(/(\b(?:defaultMode|mode):\s*)0([0-7]+)\b/g, '$10o$2');
  return yaml.loadAll(text).filter((d) => d != null).map((d) => ({ ...(d as object), _file: file }));
}

const files = readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml'));
const docs = files.flatMap(load);
const kust = docs.find((d) => d.kind === 'Kustomization')!;
const resources = docs.filter((d) => kust.resources.includes(d._file));
const one = (kind: string, name?: string): Doc => {
  const d = docs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!d) throw new Error(`no ${kind} ${name ?? ''} in deploy/`);
  return d;
};
const deployment = one('Deployment', 'peregrine');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const configGen = kust.configMapGenerator.find((g: any) => g.name === 'peregrine-config');
const configFile = join(DEPLOY, configGen.files[0]);
const config = yaml.load(readFileSync(configFile, 'utf8')) as Record<string, any>;
const portOf = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const containerPort = (name: string | number) => (typeof name === 'number' ? name : container.ports.find((p: any) => p.name === name)?.containerPort);
const containerPortOf = (c: any, name: string) => c.ports.find((p: any) => p.name === name)?.containerPort;

/** The mount (and its volume) a path in the container lies under. */
function mountOf(path: string): { mount: any; volume: any } | undefined {
  const m = [...container.volumeMounts].sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)
    .find((x: any) => path === x.mountPath || path.startsWith(x.mountPath.replace(/\/$/, '') + '/'));
  return m ? { mount: m, volume: pod.volumes.find((v: any) => v.name === m.name) } : undefined;
}

/** A Kubernetes quantity (`1280Mi`, `1Gi`, `500M`) in bytes. */
function quantity(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const unit: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? unit[m[2]] : 1);
}

/** Keys a ConfigMap (from a generator) or Secret (from the example file or cert-manager) provides. */
function keysOf(volume: any): string[] {
  if (volume.configMap) {
    const g = kust.configMapGenerator.find((x: any) => x.name === volume.configMap.name);
    return g ? g.files.map((f: string) => basename(f)) : [];
  }
  if (volume.secret) {
    const s = docs.find((d) => d.kind === 'Secret' && d.metadata.name === volume.secret.secretName);
    const cert = docs.find((d) => d.kind === 'Certificate' && d.spec.secretName === volume.secret.secretName);
    return [...Object.keys(s?.stringData ?? {}), ...Object.keys(s?.data ?? {}), ...(cert ? ['tls.crt', 'tls.key', 'ca.crt'] : [])];
  }
  return [];
}

/** Is this path, in the container, a file or directory the image or a volume provides? */
function provided(path: string): boolean {
  const m = mountOf(path);
  if (m) {
    if (m.volume.emptyDir) return true;
    const rest = posix.relative(m.mount.mountPath, path);
    return rest === '' || keysOf(m.volume).includes(rest.split('/')[0]);
  }
  // In the image: what the runtime stage copies from the build context.
  const copy = runtime.copies.find((c) => c.from === undefined && path.startsWith(posix.resolve(runtime.workdir, c.dest)));
  return copy !== undefined && existsSync(join(ROOT, copy.sources[0], posix.relative(posix.resolve(runtime.workdir, copy.dest), path)));
}

describe('deploy manifests', () => {
  it('parse, with known kinds and apiVersions, names and (for the applied ones) labels', () => {
    const api: Record<string, string> = {
      Kustomization: 'kustomize.config.k8s.io/v1beta1', Namespace: 'v1', ServiceAccount: 'v1', Deployment: 'apps/v1', Service: 'v1',
      PodDisruptionBudget: 'policy/v1', HorizontalPodAutoscaler: 'autoscaling/v2', ServiceMonitor: 'monitoring.coreos.com/v1',
      Secret: 'v1', Issuer: 'cert-manager.io/v1', Certificate: 'cert-manager.io/v1',
      ConfigMap: 'v1', DaemonSet: 'apps/v1', PodMonitor: 'monitoring.coreos.com/v1',
    };
    for (const d of docs) {
      expect(api[d.kind], `${d._file}: kind ${d.kind}`).toBeDefined();
      expect(d.apiVersion, `${d._file}: ${d.kind}`).toBe(api[d.kind]);
      if (d.kind !== 'Kustomization') expect(d.metadata?.name, d._file).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    for (const r of kust.resources) expect(files, `kustomization resource ${r}`).toContain(r);
    for (const g of kust.configMapGenerator) for (const f of g.files) expect(existsSync(join(DEPLOY, f)), f).toBe(true);
    for (const d of resources.filter((x) => x.kind !== 'Namespace')) expect(d.metadata.labels?.['app.kubernetes.io/name'], `${d.kind} ${d.metadata.name}`).toBe('peregrine');
    // Secrets are not applied by the kustomization (real ones are created out of git).
    expect(resources.some((d) => d.kind === 'Secret')).toBe(false);
    // Files applied on their own live in the kustomization's namespace, or in one they define.
    const ownNamespaces = (file: string) => docs.filter((x) => x._file === file && x.kind === 'Namespace').map((x) => x.metadata.name);
    for (const d of docs.filter((x) => x.kind !== 'Kustomization' && x.kind !== 'Namespace' && !resources.includes(x))) {
      expect([kust.namespace, ...ownNamespaces(d._file)], `${d._file} ${d.metadata.name}`).toContain(d.metadata.namespace);
    }
  });

  it('render with kustomize: generated ConfigMap names are the ones the Deployment mounts', () => {
    const r = spawnSync('kubectl', ['kustomize', 'deploy/'], { encoding: 'utf8' });
    if (r.error) return; // no kubectl here: the checks on the sources stand
    expect(r.status, r.stderr).toBe(0);
    const out = yaml.loadAll(r.stdout) as any[];
    const cms = out.filter((d) => d.kind === 'ConfigMap').map((d) => d.metadata.name);
    const dep = out.find((d) => d.kind === 'Deployment');
    for (const v of dep.spec.template.spec.volumes.filter((x: any) => x.configMap)) expect(cms).toContain(v.configMap.name);
    for (const d of out.filter((x) => x.kind !== 'Namespace')) expect(d.metadata.namespace, `${d.kind} ${d.metadata.name}`).toBe('peregrine');
    expect(dep.spec.template.spec.containers[0].image).toBe(`peregrine:${pkg.version}`);
  });

  it('use the image the Dockerfile builds, peregrine:<package version>', () => {
    expect(container.image).toBe(`peregrine:${pkg.version}`);
    expect(kust.images).toEqual([{ name: 'peregrine', newName: 'peregrine', newTag: pkg.version }]);
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toContain(`docker build -t peregrine:${pkg.version} .`);
  });

  it('config: loads through the real config loader, listens beyond loopback with authentication, on the container ports', async () => {
    const { loadServeConfig, hasAuthentication } = await import('../../dist/config/load.js');
    const cfg = loadServeConfig({ config: configFile });
    expect(hasAuthentication(cfg)).toBe(true);
    expect(cfg.listen.host).toBe('0.0.0.0');
    expect(cfg.metricsListen.host).toBe('0.0.0.0');
    expect(containerPort('webhook')).toBe(cfg.listen.port);
    expect(containerPort('metrics')).toBe(cfg.metricsListen.port);
    const { DEFAULT_LISTEN, DEFAULT_METRICS_LISTEN, DEFAULT_PATH } = await import('../../dist/config/defaults.js');
    expect([cfg.listen.port, cfg.metricsListen.port, cfg.path]).toEqual([DEFAULT_LISTEN.port, DEFAULT_METRICS_LISTEN.port, DEFAULT_PATH]);
    expect(cfg.tls).toBeDefined();
    expect(cfg.workers).toBeGreaterThanOrEqual(1);
  });

  it('config: every file it names is provided by the image or a mounted ConfigMap/Secret', () => {
    const paths = [
      ...config.rules.files, config.tls.cert_file, config.tls.key_file, ...config.auth.tokens.map((t: any) => t.file),
    ];
    for (const p of paths) expect(provided(p), `${p} is provided by nothing`).toBe(true);
    const configPath = container.args[container.args.indexOf('--config') + 1];
    expect(provided(configPath), configPath).toBe(true);
    expect(container.args[0]).toBe('serve');
  });

  it('Deployment: probes on real paths and ports, Secrets and ConfigMaps that exist, non-root as the image, a grace period that covers the drain', () => {
    expect(deployment.spec.selector.matchLabels).toEqual(expect.objectContaining({ 'app.kubernetes.io/name': 'peregrine' }));
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) expect(deployment.spec.template.metadata.labels[k]).toBe(v);
    const endpoints = readFileSync(join(ROOT, 'dist/metrics/endpoints.js'), 'utf8');
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const p = container[probe].httpGet;
      expect(endpoints, `${probe} ${p.path}`).toContain(`app.get('${p.path}'`);
      expect(containerPort(p.port), `${probe} port`).toBe(portOf(config.metrics_listen));
    }
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    for (const v of pod.volumes) {
      if (v.configMap) expect(kust.configMapGenerator.map((g: any) => g.name), v.name).toContain(v.configMap.name);
      if (v.secret) expect(keysOf(v).length, `Secret ${v.secret.secretName} is defined nowhere in deploy/`).toBeGreaterThan(0);
    }
    for (const m of container.volumeMounts) expect(pod.volumes.map((v: any) => v.name)).toContain(m.name);
    const uid = runtime.instructions.filter((i) => i.op === 'USER').pop()!.args.split(':')[0];
    expect(String(pod.securityContext.runAsUser)).toBe(uid);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    // Writable /tmp (the mTLS front's sockets live in the temporary directory).
    expect(mountOf('/tmp/x')?.volume.emptyDir).toBeDefined();
    const preStop = Number(container.lifecycle.preStop.exec.command[1]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(config.limits.shutdown_timeout_seconds + preStop);
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(one('ServiceAccount', pod.serviceAccountName)).toBeDefined();
  });

  it('the spool: outputs.spool_dir is a writable volume of its own, larger than spool_max_bytes plus the bodies in flight, and requested', async () => {
    const { loadServeConfig } = await import('../../dist/config/load.js');
    const cfg = loadServeConfig({ config: configFile });
    const dir = cfg.outputs.spoolDir as string;
    expect(dir).toBe(config.outputs.spool_dir);
    const m = mountOf(`${dir}/seg-0000000000000001.spool`)!;
    expect(m.mount.mountPath).toBe(dir);
    expect(m.mount.readOnly).toBeFalsy();
    expect(m.volume.emptyDir).toBeDefined();
    const size = quantity(m.volume.emptyDir.sizeLimit);
    expect(size).toBeGreaterThan(cfg.outputs.spoolMaxBytes + cfg.limits.maxInflightBytes);
    expect(quantity(container.resources.requests['ephemeral-storage'])).toBeGreaterThanOrEqual(size);
  });

  it('Services, ServiceMonitor, PodDisruptionBudget and HorizontalPodAutoscaler point at the Deployment and its ports', () => {
    const podLabels = deployment.spec.template.metadata.labels;
    const services = docs.filter((d) => d.kind === 'Service');
    expect(services.map((s) => s.metadata.name).sort()).toEqual(['peregrine', 'peregrine-metrics']);
    for (const s of services) {
      for (const [k, v] of Object.entries(s.spec.selector)) expect(podLabels[k], `${s.metadata.name} selector ${k}`).toBe(v);
      for (const p of s.spec.ports) expect(containerPort(p.targetPort), `${s.metadata.name} → ${p.targetPort}`).toBeDefined();
    }
    expect(one('Service', 'peregrine').spec.ports.map((p: any) => p.targetPort)).toEqual(['webhook']);
    expect(one('Service', 'peregrine-metrics').spec.ports.map((p: any) => p.targetPort)).toEqual(['metrics']);
    const sm = one('ServiceMonitor');
    const selected = services.filter((s) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels[k] === v));
    expect(selected.map((s) => s.metadata.name)).toEqual(['peregrine-metrics']);
    expect(sm.spec.endpoints[0].path).toBe('/metrics');
    expect(selected[0].spec.ports.map((p: any) => p.name)).toContain(sm.spec.endpoints[0].port);
    const pdb = one('PodDisruptionBudget');
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(podLabels[k]).toBe(v);
    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThan(pdb.spec.maxUnavailable);
    expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
    expect(deployment.spec.replicas).toBe(hpa.spec.minReplicas);
    // The HPA's CPU target is relative to the request.
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
  });

  it('rules: the bundled and local rules load together, and the local example does what it says', () => {
    const rulesDirs = config.rules.files.map((p: string) => (p.startsWith('/app/') ? join(ROOT, p.slice(5)) : join(DEPLOY, 'config/rules')));
    const check = spawnSync(process.execPath, ['dist/cli/main.js', 'rules', 'check', '--strict', ...rulesDirs], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const ev = (user: string) => ({ ...auditEvent(`x-${user}`), stage: 'ResponseStarted', verb: 'get', requestURI: '/api/v1/namespaces/default/pods/web/exec?command=sh',
      user: { username: user, groups: ['system:authenticated'] }, objectRef: { resource: 'pods', namespace: 'default', name: 'web', apiVersion: 'v1', subresource: 'exec' } });
    const dir = tempDir();
    writeFileSync(join(dir, 'ev.json'), eventList([ev('ops-breakglass@example.com'), ev('mallory')]));
    const scan = spawnSync(process.execPath, ['dist/cli/main.js', 'scan', ...rulesDirs.flatMap((r: string) => ['--rules', r]), join(dir, 'ev.json')], { encoding: 'utf8' });
    expect(scan.status, scan.stderr).toBe(0);
    const alerts = scan.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(alerts.map((a) => [a.rule, a.output_fields['ka.user.name']])).toEqual([['Pod Exec Or Attach', 'mallory']]);
  });
});

/** A container path as this machine has it: /app/ is the repository, the rest under root. */
function hereIn(root: string): (p: string) => string {
  return (p) => (p.startsWith('/app/') ? join(ROOT, p.slice('/app/'.length)) : join(root, p));
}

/** The image's ENTRYPOINT with a container's args and env, run here; what it prints goes to `printed`. */
function startContainer(c: any, here: (p: string) => string, printed: { out: string; err: string }): ChildProcess {
  const entry = runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.exec!;
  const args = c.args.map((a: string) => (a.startsWith('/') ? here(a) : a));
  const env = { PATH: process.env.PATH, ...runtime.env, ...Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e.value])) };
  printed.out = '';
  printed.err = '';
  const p = spawn(entry[0], [here(entry[1]), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d) => { printed.out += d; });
  p.stderr!.on('data', (d) => { printed.err += d; });
  return p;
}

describe('deploy: a simulated pod', () => {
  const root = tempDir();
  const tokens: Record<string, string> = {};
  let proc: ChildProcess | undefined;
  const printed = { out: '', err: '' };
  let cert = '';

  /** Container path → this machine. */
  const here = hereIn(root);

  function materialize(tokenValue: (key: string) => string): void {
    for (const m of container.volumeMounts) {
      const v = pod.volumes.find((x: any) => x.name === m.name);
      const dir = join(root, m.mountPath);
      mkdirSync(dir, { recursive: true });
      if (v.configMap) {
        const g = kust.configMapGenerator.find((x: any) => x.name === v.configMap.name);
        for (const f of g.files) cpSync(join(DEPLOY, f), join(dir, basename(f)));
      } else if (v.secret?.secretName === 'peregrine-tokens') {
        for (const key of keysOf(v)) writeFileSync(join(dir, key), tokenValue(key) + '\n');
      } else if (v.secret) {
        const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
          '-subj', '/CN=peregrine.peregrine.svc', '-addext', 'subjectAltName=DNS:peregrine.peregrine.svc,IP:127.0.0.1',
          '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
        cert = readFileSync(join(dir, 'tls.crt'), 'utf8');
      }
    }
    // The mounted config, with its container paths mapped here, and ephemeral ports.
    const text = readFileSync(configFile, 'utf8')
      .replaceAll('/etc/peregrine/', join(root, 'etc/peregrine') + '/')
      .replaceAll('/app/', ROOT + '/')
      .replace(/^listen: (\S+):\d+$/m, 'listen: $1:0')
      .replace(/^metrics_listen: (\S+):\d+$/m, 'metrics_listen: $1:0');
    writeFileSync(here(container.args[container.args.indexOf('--config') + 1]), text);
  }

  const start = (): ChildProcess => startContainer(container, here, printed);

  it('refuses to start with the placeholder tokens of secrets.example.yaml', async () => {
    const secret = one('Secret', 'peregrine-tokens');
    materialize((key) => secret.stringData[key]);
    const p = start();
    const code = await new Promise((r) => p.once('exit', r));
    expect(code).toBe(2);
    expect(printed.err).toMatch(/shorter than 16 characters/);
  });

  describe('with real tokens', () => {
    let webhook: URL;
    let metrics: string;
    beforeAll(async () => {
      materialize((key) => (tokens[key] = randomBytes(24).toString('hex')));
      proc = start();
      const m = await waitFor(() => /listening webhook=(\S+) metrics=(\S+)/.exec(printed.err), `the server to start:\n${printed.err}`, 20_000);
      webhook = new URL(m[1]);
      metrics = m[2].replace('0.0.0.0', '127.0.0.1');
    });
    afterAll(async () => {
      if (proc && proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc!.once('exit', r));
      }
    });

    it('answers its probes', async () => {
      // stdout only, as shipped: the spool waits for an http output.
      expect(printed.err).toMatch(/outputs\.spool_dir is set but no network output is configured/);
      expect(webhook.protocol).toBe('https:');
      expect(webhook.pathname).toBe(config.path);
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        const r = await fetch(`${metrics}${container[probe].httpGet.path}`);
        expect(r.status, `${probe}: ${await r.text()}`).toBe(200);
      }
    });

    it('takes a cluster\'s events over TLS with its token and names the cluster by it', async () => {
      const cluster = config.auth.tokens[0].cluster as string;
      const ev = auditEvent('sim-1', { alert: true, clusterAnnotation: 'spoofed' });
      const body = eventList([ev]);
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({
          host: '127.0.0.1', port: Number(webhook.port), path: webhook.pathname, method: 'POST', ca: cert, servername: 'peregrine.peregrine.svc',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${tokens[cluster]}` },
        }, (r) => {
          let b = '';
          r.on('data', (d) => { b += d; });
          r.on('end', () => resolve({ status: r.statusCode!, body: b }));
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(res.status, res.body).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ events: 1, alerts: 1 });
      await waitFor(() => printed.out.includes('Anonymous Request Allowed'), 'the alert on stdout');
      const m = await (await fetch(`${metrics}/metrics`)).text();
      expect(m).toContain(`peregrine_events_total{cluster="${cluster}"} 1`);
    });

    it('stops within the grace period on SIGTERM, exit 0', async () => {
      const t0 = Date.now();
      proc!.kill('SIGTERM');
      const code = await new Promise((r) => proc!.once('exit', r));
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(pod.terminationGracePeriodSeconds * 1000);
    });
  });
});

// ---------------------------------------------------------------- the follower DaemonSet

const daemonset = one('DaemonSet', 'peregrine-follower');
const fpod = daemonset.spec.template.spec;
const fcontainer = fpod.containers[0];
const followConfigMap = one('ConfigMap', 'peregrine-follow-config');
const fconfigPath = fcontainer.args[fcontainer.args.indexOf('--config') + 1] as string;
const followText = followConfigMap.data[posix.basename(fconfigPath)] as string;
const follow = yaml.load(followText) as Record<string, any>;

/** The follower container's mount (and volume) a path lies under. */
function fmountOf(path: string): { mount: any; volume: any } | undefined {
  const m = [...fcontainer.volumeMounts].sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)
    .find((x: any) => path === x.mountPath || path.startsWith(x.mountPath.replace(/\/$/, '') + '/'));
  return m ? { mount: m, volume: fpod.volumes.find((v: any) => v.name === m.name) } : undefined;
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy: the follower DaemonSet', () => {
  it('runs on control-plane nodes only, tolerating their taint, from the same image', () => {
    expect(daemonset._file).toBe('daemonset.yaml');
    expect(kust.resources).not.toContain('daemonset.yaml');
    expect(fpod.nodeSelector).toEqual({ 'node-role.kubernetes.io/control-plane': '' });
    const tolerated = fpod.tolerations.map((t: any) => `${t.key}:${t.effect}:${t.operator}`);
    expect(tolerated).toContain('node-role.kubernetes.io/control-plane:NoSchedule:Exists');
    expect(fcontainer.image).toBe(`peregrine:${pkg.version}`);
    expect(fcontainer.args[0]).toBe('serve');
    expect(daemonset.spec.updateStrategy.type).toBe('RollingUpdate');
  });

  it('config: loads through the real loader, no webhook, one file source whose file and state are on hostPath mounts', async () => {
    const { loadServeConfig } = await import('../../dist/config/load.js');
    const dir = tempDir();
    writeFileSync(join(dir, 'follow.yaml'), followText);
    const cfg = loadServeConfig({ config: join(dir, 'follow.yaml') });
    expect(cfg.webhook).toBe(false);
    expect(cfg.sources.length).toBe(1);
    const src = cfg.sources[0];
    // The audit log directory: the node's, read-only.
    const logMount = fmountOf(src.path)!;
    expect(logMount.volume.hostPath.path).toBe(posix.dirname(src.path));
    expect(logMount.mount.readOnly).toBe(true);
    expect(src.path).toBe('/var/log/kubernetes/audit/audit.log');
    // Checkpoints: on the node, writable, created if missing, outliving the pod.
    const stateMount = fmountOf(src.stateDir)!;
    expect(stateMount.volume.hostPath).toMatchObject({ path: src.stateDir, type: 'DirectoryOrCreate' });
    expect(stateMount.mount.readOnly).toBeFalsy();
    // The spool (for an http output) on the same node directory: the next pod sends what this one had not.
    expect(fmountOf(cfg.outputs.spoolDir)?.volume.hostPath?.path).toBe(src.stateDir);
    // Rules: the image's, and a directory (optional ConfigMap) for local ones.
    for (const r of follow.rules.files as string[]) {
      const m = fmountOf(r);
      if (m) expect(m.volume.configMap?.optional, r).toBe(true);
      else expect(r.startsWith('/app/') && existsSync(join(ROOT, r.slice(5))), r).toBe(true);
    }
    expect(fmountOf(fconfigPath)!.volume.configMap.name).toBe(followConfigMap.metadata.name);
    expect(containerPortOf(fcontainer, 'metrics')).toBe(portOf(follow.metrics_listen));
    expect(fpod.terminationGracePeriodSeconds).toBeGreaterThan(follow.limits.shutdown_timeout_seconds);
  });

  it('probes on real paths, least privilege, and no overlap with the Deployment\'s pods', () => {
    const endpoints = readFileSync(join(ROOT, 'dist/metrics/endpoints.js'), 'utf8');
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const p = fcontainer[probe].httpGet;
      expect(endpoints, `${probe} ${p.path}`).toContain(`app.get('${p.path}'`);
      expect(p.port).toBe('metrics');
    }
    expect(fcontainer.readinessProbe.httpGet.path).toBe('/readyz');
    expect(fcontainer.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(fpod.automountServiceAccountToken).toBe(false);
    expect(fpod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
    expect(fmountOf('/tmp/x')?.volume.emptyDir).toBeDefined();
    expect(fcontainer.resources.limits.memory).toBeDefined();
    const podLabels = daemonset.spec.template.metadata.labels;
    expect(matches(daemonset.spec.selector.matchLabels, podLabels)).toBe(true);
    // The Deployment (its immutable selector), the Services and the PDB must not take them.
    expect(matches(deployment.spec.selector.matchLabels, podLabels)).toBe(false);
    for (const svc of docs.filter((d) => d.kind === 'Service')) expect(matches(svc.spec.selector, podLabels), svc.metadata.name).toBe(false);
    expect(matches(one('PodDisruptionBudget').spec.selector.matchLabels, podLabels)).toBe(false);
    expect(matches(deployment.spec.template.metadata.labels, podLabels)).toBe(false);
    // Prometheus finds them through the PodMonitor.
    const pm = one('PodMonitor', 'peregrine-follower');
    expect(matches(pm.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(fcontainer.ports.map((p: any) => p.name)).toContain(pm.spec.podMetricsEndpoints[0].port);
    expect(pm.spec.podMetricsEndpoints[0].path).toBe('/metrics');
  });

  describe('a simulated follower pod', () => {
    const root = tempDir();
    const here = hereIn(root);
    const src = follow.sources[0];
    let proc: ChildProcess | undefined;
    const printed = { out: '', err: '' };

    const start = (): ChildProcess => startContainer(fcontainer, here, printed);

    beforeAll(() => {
      // The volumes: the ConfigMap's config (container paths mapped here, an ephemeral
      // metrics port), no local rules (the optional ConfigMap absent), the node's audit
      // log directory with the apiserver's log in it, an empty state directory.
      for (const m of fcontainer.volumeMounts) mkdirSync(here(m.mountPath), { recursive: true });
      const text = followText
        .replaceAll('/var/log/kubernetes/audit/', here('/var/log/kubernetes/audit') + '/')
        .replaceAll('/var/lib/peregrine', here('/var/lib/peregrine'))
        .replaceAll('/etc/peregrine/', here('/etc/peregrine') + '/')
        .replaceAll('/app/', ROOT + '/')
        .replace(/^metrics_listen: (\S+):\d+$/m, 'metrics_listen: 127.0.0.1:0');
      writeFileSync(here(fconfigPath), text);
      writeFileSync(here(src.path), JSON.stringify(auditEvent('before-start', { alert: true })) + '\n');
    });
    afterAll(async () => {
      if (proc && proc.exitCode === null) {
        proc.kill('SIGKILL');
        await new Promise((r) => proc!.once('exit', r));
      }
    });

    it('follows the log from its end, names the configured cluster, answers its probes, and resumes from its checkpoint after SIGTERM', async () => {
      proc = start();
      const m = await waitFor(() => /listening webhook=none metrics=(\S+)/.exec(printed.err), `the follower to start:\n${printed.err}`, 20_000);
      const metrics = m[1];
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        const r = await fetch(`${metrics}${fcontainer[probe].httpGet.path}`);
        expect(r.status, `${probe}: ${await r.text()}`).toBe(200);
      }
      const log = here(src.path);
      const ev = (id: string) => JSON.stringify(auditEvent(id, { alert: true, clusterAnnotation: 'spoofed' })) + '\n';
      appendFileSync(log, ev('after-start'));
      await waitFor(() => printed.out.includes('after-start'), 'the alert of the appended event');
      expect(printed.out).not.toContain('before-start');
      const alert = JSON.parse(printed.out.trim().split('\n').pop()!);
      expect(alert.output_fields['ka.cluster.name']).toBe(src.cluster);
      const t0 = Date.now();
      proc.kill('SIGTERM');
      expect(await new Promise((r) => proc!.once('exit', r))).toBe(0);
      expect(Date.now() - t0).toBeLessThan(fpod.terminationGracePeriodSeconds * 1000);
      expect(readdirSync(here(src.state_dir)).some((n) => n.endsWith('.checkpoint.json'))).toBe(true);
      // Written while the pod was away (a rollout): read by the next pod, nothing again.
      appendFileSync(log, ev('while-away'));
      proc = start();
      await waitFor(() => printed.out.includes('while-away'), 'the line written while no pod ran');
      expect(printed.out).not.toContain('after-start');
      proc.kill('SIGTERM');
      expect(await new Promise((r) => proc!.once('exit', r))).toBe(0);
    });
  });
});

// ---------------------------------------------------------------- every pod

describe('deploy: every pod', () => {
  const pods = docs.filter((d) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(d.kind));

  it('is admitted by its namespace\'s Pod Security level, the namespace being in deploy/', () => {
    for (const d of pods) {
      const ns = one('Namespace', d.metadata.namespace);
      expect(ns, `${d._file}: namespace ${d.metadata.namespace} is defined nowhere in deploy/`).toBeDefined();
      const level = ns.metadata.labels?.['pod-security.kubernetes.io/enforce'] ?? 'privileged';
      const pod = d.spec.template.spec;
      const where = `${d._file} ${d.metadata.name} in ${ns.metadata.name} (${level})`;
      const containers = [...(pod.initContainers ?? []), ...pod.containers];
      if (level === 'baseline' || level === 'restricted') {
        expect(pod.volumes?.some((v: any) => v.hostPath) ?? false, `${where}: hostPath`).toBe(false);
        expect(pod.hostNetwork || pod.hostPID || pod.hostIPC || false, `${where}: host namespaces`).toBe(false);
        for (const c of containers) expect(c.securityContext?.privileged ?? false, `${where}: privileged`).toBe(false);
      }
      if (level === 'restricted') {
        for (const c of containers) {
          const sc = { ...pod.securityContext, ...c.securityContext };
          expect(sc.runAsNonRoot, `${where}: runAsNonRoot`).toBe(true);
          expect(sc.runAsUser ?? 1, `${where}: runAsUser`).not.toBe(0);
          expect(c.securityContext?.allowPrivilegeEscalation, `${where}: allowPrivilegeEscalation`).toBe(false);
          expect(c.securityContext?.capabilities?.drop, `${where}: capabilities`).toContain('ALL');
          expect(sc.seccompProfile?.type, `${where}: seccomp`).toMatch(/^(RuntimeDefault|Localhost)$/);
        }
        const allowed = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
        for (const v of pod.volumes ?? []) expect(Object.keys(v).filter((k) => k !== 'name').every((k) => allowed.includes(k)), `${where}: volume ${v.name}`).toBe(true);
      }
    }
  });

  it('its user can read the Secrets and ConfigMaps it mounts (kubelet writes them as root)', () => {
    expect(pods.length).toBeGreaterThanOrEqual(3);
    for (const d of pods) {
      const pod = d.spec.template.spec;
      const sc = pod.securityContext ?? {};
      for (const v of pod.volumes ?? []) {
        const src = v.secret ?? v.configMap ?? v.projected;
        if (!src) continue;
        // Kubernetes' default mode is 0644; files are root's, with group fsGroup if set.
        const mode: number = src.defaultMode ?? 0o644;
        const readable = sc.runAsUser === 0 || (mode & 0o004) !== 0 || (sc.fsGroup !== undefined && (mode & 0o040) !== 0);
        expect(readable, `${d._file} ${d.metadata.name}: volume ${v.name} (mode ${mode.toString(8)}) unreadable by uid ${sc.runAsUser}`).toBe(true);
      }
    }
  });
});

// ---------------------------------------------------------------- the LDP stream reader

describe('deploy: the LDP stream reader', () => {
  const ldpDeploy = one('Deployment', 'peregrine-ldp');
  const lpod = ldpDeploy.spec.template.spec;
  const lcontainer = lpod.containers[0];
  const lcm = one('ConfigMap', 'peregrine-ldp-config');
  const lconfigPath = lcontainer.args[lcontainer.args.indexOf('--config') + 1] as string;
  const ltext = lcm.data[posix.basename(lconfigPath)] as string;
  const mountOf = (path: string) => {
    const m = [...lcontainer.volumeMounts].sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)
      .find((x: any) => path === x.mountPath || path.startsWith(x.mountPath.replace(/\/$/, '') + '/'));
    return m ? { mount: m, volume: lpod.volumes.find((v: any) => v.name === m.name) } : undefined;
  };

  it('one replica, never two at once, applied on its own', () => {
    expect(ldpDeploy._file).toBe('ldp-stream.yaml');
    expect(kust.resources).not.toContain('ldp-stream.yaml');
    expect(ldpDeploy.spec.replicas).toBe(1);
    expect(ldpDeploy.spec.strategy.type).toBe('Recreate');
    expect(lcontainer.image).toBe(`peregrine:${pkg.version}`);
  });

  it('config: loads through the real loader, no webhook, one ldp source whose URL comes from a Secret', async () => {
    const { loadServeConfig } = await import('../../dist/config/load.js');
    const dir = tempDir();
    writeFileSync(join(dir, 'ldp.yaml'), ltext);
    const cfg = loadServeConfig({ config: join(dir, 'ldp.yaml') });
    expect(cfg.webhook).toBe(false);
    expect(cfg.sources).toHaveLength(1);
    const src = cfg.sources[0];
    expect(src.type).toBe('ldp');
    const m = mountOf(src.urlFile)!;
    expect(m.volume.secret.secretName).toBe('peregrine-ldp-url');
    expect(m.mount.readOnly).toBe(true);
    expect(mountOf(lconfigPath)!.volume.configMap.name).toBe(lcm.metadata.name);
    expect(containerPortOf(lcontainer, 'metrics')).toBe(portOf((yaml.load(ltext) as any).metrics_listen));
  });

  it('least privilege, and no overlap with the Deployment\'s pods', () => {
    expect(lcontainer.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(lpod.securityContext.runAsNonRoot).toBe(true);
    expect(lcontainer.readinessProbe.httpGet.path).toBe('/readyz');
    const podLabels = ldpDeploy.spec.template.metadata.labels;
    expect(matches(ldpDeploy.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(matches(deployment.spec.selector.matchLabels, podLabels)).toBe(false);
    for (const svc of docs.filter((d) => d.kind === 'Service')) expect(matches(svc.spec.selector, podLabels), svc.metadata.name).toBe(false);
    expect(matches(one('PodDisruptionBudget').spec.selector.matchLabels, podLabels)).toBe(false);
    expect(matches(one('PodMonitor', 'peregrine-ldp').spec.selector.matchLabels, podLabels)).toBe(true);
  });
});
