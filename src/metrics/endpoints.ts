// /healthz (alive), /readyz (accepting, rules loaded, workers up, outputs delivering)
// and /metrics (Prometheus text) on their own listener, 127.0.0.1:8765 by default.
// Unauthenticated, so each answer closes its connection (answerLater): a flood of
// requests on one connection costs one, and scrapes that overlap share one rendering.
import type { TemplatedApp } from 'uWebSockets.js';
import { answerLater } from '../ingest/uws.js';
import type { ServeMetrics } from './metrics.js';

export interface Readiness {
  ready: boolean;
  reasons: string[];
  [k: string]: unknown;
}

export function attachEndpoints(app: TemplatedApp, metrics: ServeMetrics, readiness: () => Readiness): void {
  app.get('/healthz', (res) => {
    answerLater(res, (r) => r.writeHeader('Content-Type', 'text/plain').end('ok\n', true));
  });
  app.get('/readyz', (res) => {
    answerLater(res, (r) => {
      const rd = readiness();
      r.writeStatus(rd.ready ? '200 OK' : '503 Service Unavailable').writeHeader('Content-Type', 'application/json').end(JSON.stringify(rd) + '\n', true);
    });
  });
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    // Started on the next turn, as answerLater does (a render may finish within this one).
    setImmediate(() => {
      if (aborted) return;
      metrics.text().then(
        (text) => {
          if (aborted) return;
          res.cork(() => { res.writeHeader('Content-Type', metrics.contentType).end(text, true); });
        },
        (e: Error) => {
          if (aborted) return;
          res.cork(() => { res.writeStatus('500 Internal Server Error').end(`metrics collection failed: ${e.message}\n`, true); });
        },
      );
    });
  });
  app.any('/*', (res) => {
    answerLater(res, (r) => r.writeStatus('404 Not Found').writeHeader('Content-Type', 'text/plain').end('not found: try /healthz, /readyz or /metrics\n', true));
  });
}
