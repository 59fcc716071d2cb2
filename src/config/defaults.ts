// Built-in defaults: loopback only, bundled rules, stdout. `npm start` runs on these.
import { availableParallelism } from 'node:os';
import type { ServeConfig } from './schema.js';

export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 9765 };
export const DEFAULT_METRICS_LISTEN = { host: '127.0.0.1', port: 8765 };
/** The k8saudit plugin's webhook path. */
export const DEFAULT_PATH = '/k8s-audit';

export function defaultConfig(): ServeConfig {
  return {
    webhook: true,
    listen: { ...DEFAULT_LISTEN },
    path: DEFAULT_PATH,
    metricsListen: { ...DEFAULT_METRICS_LISTEN },
    insecure: false,
    // The main thread needs little CPU (no JSON.parse there): one worker per core.
    workers: Math.max(1, availableParallelism()),
    rules: { files: [], ruleMatching: 'first', minPriority: 7, watch: true, timeIso8601: false },
    auth: { tokens: [], clientCerts: [] },
    rateLimit: { eventsPerSecond: 0, burst: 0 },
    clusters: {},
    limits: {
      // k8saudit's webhook limit; an apiserver batch of 400 events is ~0.6 MB.
      maxBodyBytes: 12 * 1024 * 1024,
      maxEventBytes: 262144,
      // Bodies accepted and not yet acknowledged. Beyond it: 429 + Retry-After.
      maxInflightBytes: 256 * 1024 * 1024,
      // An apiserver batch is 400 events by default; 100,000 averages 125 bytes each in
      // 12 MiB, below any real audit event.
      maxEventsPerRequest: 100_000,
      // 128 kbit/s: far below any apiserver's link, far above a slow-upload attack.
      minUploadBytesPerSecond: 16 * 1024,
      uploadRateWindowSeconds: 10,
      maxQueuedTasks: 4096,
      taskBytes: 256 * 1024,
      retryAfterSeconds: 1,
      ringBytes: 4 * 1024 * 1024,
      shutdownTimeoutSeconds: 30,
    },
    outputs: { stdout: true, bufferBytes: 64 * 1024 * 1024, spoolMaxBytes: 1024 * 1024 * 1024 },
    sources: [],
  };
}
