// The baseline the load figures are compared with: a uWebSockets.js server (the same
// native binary `peregrine serve` uses) that only receives each POST body into one
// buffer of Content-Length bytes, as serve does, and answers 200. No authentication,
// no parsing, no rules: what the transport alone costs on this machine, in this run.
//   node load-tests/bare-receiver.mjs [port=0]
import { loadUws } from '../dist/ingest/uws.js';

const uws = loadUws();
const app = uws.App();
app.post('/*', (res, req) => {
  const len = Number(req.getHeader('content-length'));
  const body = Buffer.allocUnsafe(Number.isFinite(len) ? len : 0);
  let got = 0;
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  res.onData((chunk, last) => {
    const c = new Uint8Array(chunk);
    if (got + c.length <= body.length) body.set(c, got);
    got += c.length;
    if (last && !aborted) res.cork(() => res.writeHeader('Content-Type', 'application/json').end(`{"bytes":${got}}`));
  });
});
app.listen('127.0.0.1', Number(process.argv[2] ?? 0), (s) => {
  if (!s) {
    process.stderr.write('bare receiver: cannot listen\n');
    process.exit(1);
  }
  process.stderr.write(`listening http://127.0.0.1:${uws.us_socket_local_port(s)}/k8s-audit\n`);
  process.on('SIGTERM', () => {
    uws.us_listen_socket_close(s);
    process.exit(0);
  });
});
