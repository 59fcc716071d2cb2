// Throughput of `peregrine serve` end to end: autocannon POSTs 400-event EventLists
// (90 % Metadata, 10 % RequestResponse pod creates, like the apiserver's batches) to
// the real server with the bundled rules, alerts to a file.
//   npm run bench:serve -- [seconds=10] [connections=8] [workers]
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const [seconds = '10', connections = '8', workers] = process.argv.slice(2);

function event(i) {
  const write = i % 10 === 0;
  const ev = {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: write ? 'RequestResponse' : 'Metadata',
    auditID: `bench-${i}-0000-0000-0000-000000000000`, stage: 'ResponseComplete',
    requestURI: write ? '/api/v1/namespaces/default/pods' : '/api/v1/namespaces/default/pods?limit=500',
    verb: write ? 'create' : 'list',
    user: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
    sourceIPs: ['10.0.0.12'], userAgent: 'kube-controller-manager/v1.30.0 (linux/amd64) kubernetes/abcdef/system:serviceaccount:kube-system:replicaset-controller',
    objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1', ...(write ? { name: `web-${i}` } : {}) },
    responseStatus: { metadata: {}, code: write ? 201 : 200 },
    requestReceivedTimestamp: new Date().toISOString(), stageTimestamp: new Date().toISOString(),
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller"' },
  };
  if (write) {
    const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: `web-${i}`, namespace: 'default', labels: { app: 'web', 'pod-template-hash': '5d4f8b7c9' } },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27', securityContext: { privileged: i % 50 === 0 }, resources: { limits: { cpu: '500m', memory: '128Mi' } }, env: Array.from({ length: 20 }, (_, k) => ({ name: `VAR_${k}`, value: 'v'.repeat(40) })) }] } };
    ev.requestObject = pod;
    ev.responseObject = pod;
  }
  return ev;
}

const body = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: Array.from({ length: 400 }, (_, i) => event(i)) });
const dir = mkdtempSync(join(tmpdir(), 'peregrine-bench-'));
const args = ['dist/cli/main.js', 'serve', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--output-file', join(dir, 'alerts.jsonl')];
if (workers) args.push('--workers', workers);
const srv = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
let err = '';
const url = await new Promise((resolve, reject) => {
  srv.stderr.on('data', (d) => {
    err += d;
    const m = /listening webhook=(\S+) metrics=(\S+)/.exec(err);
    if (m) resolve(m[1]);
  });
  srv.on('exit', (c) => reject(new Error(`server exited ${c}: ${err}`)));
});

const result = await autocannon({
  url, method: 'POST', body, headers: { 'content-type': 'application/json' },
  connections: Number(connections), duration: Number(seconds),
});
const ok = result['2xx'];
console.log(`body ${(body.length / 1024).toFixed(0)} KiB × 400 events, ${connections} connections, ${seconds} s`);
console.log(`requests/s ${(ok / Number(seconds)).toFixed(1)}  events/s ${Math.round((ok * 400) / Number(seconds))}  MB/s ${((ok * body.length) / Number(seconds) / 1e6).toFixed(1)}`);
console.log(`latency ms p50 ${result.latency.p50}  p99 ${result.latency.p99}  max ${result.latency.max}  non-2xx ${result.non2xx} errors ${result.errors}`);
srv.kill('SIGTERM');
await new Promise((r) => srv.on('exit', r));
