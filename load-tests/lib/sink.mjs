// A falcosidekick stand-in for the HTTP output: takes each POSTed Falco alert, notes
// its time key, rule and arrival time. It runs on its own thread so that the load
// generator's work on the main thread does not delay arrival times.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createServer } from 'node:http';

if (!isMainThread && parentPort) {
  const got = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      try {
        const a = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        got.push({ key: a.time, rule: a.rule, at });
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
  parentPort.on('message', (m) => {
    if (m === 'take') {
      parentPort.postMessage({ alerts: got.splice(0) });
    } else if (m === 'close') {
      server.close();
      server.closeAllConnections();
      parentPort.close();
    }
  });
}

export class AlertSink {
  static async start() {
    const w = new Worker(new URL(import.meta.url));
    const port = await new Promise((resolve, reject) => {
      w.once('message', (m) => resolve(m.port));
      w.once('error', reject);
    });
    return new AlertSink(w, port);
  }

  constructor(worker, port) {
    this.worker = worker;
    this.url = `http://127.0.0.1:${port}/`;
  }

  /** Every alert received since the last call: [{key, rule, at}]. */
  take() {
    return new Promise((resolve) => {
      const on = (m) => {
        if (m.alerts) {
          this.worker.off('message', on);
          resolve(m.alerts);
        }
      };
      this.worker.on('message', on);
      this.worker.postMessage('take');
    });
  }

  async close() {
    this.worker.postMessage('close');
    await new Promise((r) => this.worker.once('exit', r));
  }
}
