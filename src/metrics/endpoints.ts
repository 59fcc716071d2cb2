// /healthz (alive), /readyz (accepting, rules loaded, workers up, outputs delivering)
// and /metrics (Prometheus text) on their own listener, 127.0.0.1:8765 by default.
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ServeMetrics } from './metrics.js';

export interface Readiness {
  ready: boolean;
  reasons: string[];
  [k: string]: unknown;
}

export function attachEndpoints(app: TemplatedApp, metrics: ServeMetrics, readiness: () => Readiness): void {
  app.get('/healthz', (res) => {
    res.writeHeader('Content-Type', 'text/plain').end('ok\n');
  });
  app.get('/readyz', (res) => {
    const r = readiness();
    res.writeStatus(r.ready ? '200 OK' : '503 Service Unavailable').writeHeader('Content-Type', 'application/json').end(JSON.stringify(r) + '\n');
  });
  app.get('/metrics', (res: HttpResponse) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    metrics.text().then(
      (text) => {
        if (aborted) return;
        res.cork(() => { res.writeHeader('Content-Type', metrics.contentType).end(text); });
      },
      (e: Error) => {
        if (aborted) return;
        res.cork(() => { res.writeStatus('500 Internal Server Error').end(`metrics collection failed: ${e.message}\n`); });
      },
    );
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('Content-Type', 'text/plain').end('not found: try /healthz, /readyz or /metrics\n');
  });
}
