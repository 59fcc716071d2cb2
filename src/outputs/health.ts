// Whether an output's receiver is up, since when it is down and why (what /readyz and the
// metrics show), kept by the delivery report its target calls.
import type { OutputHooks } from './outputs.js';
import type { DeliveryReport } from './target.js';

export interface TargetHealth {
  up: boolean;
  lastError: string | undefined;
  downSinceMs: number | undefined;
}

/**
 * The report that keeps `h` current and tells the hooks. With `stop`, a failure after it
 * fired is the shutdown cutting a delivery short, not the receiver's: not reported.
 */
export function healthReport(h: TargetHealth, name: string, hooks: OutputHooks, stop?: AbortSignal): DeliveryReport {
  return {
    failed: (err) => {
      if (stop?.aborted === true) return;
      if (h.up) h.downSinceMs = Date.now();
      h.up = false;
      h.lastError = err.message;
      hooks.onFailure(name, err);
    },
    ok: () => {
      h.up = true;
      h.downSinceMs = undefined;
    },
    refused: (a, why) => hooks.onRefused(name, a, why),
    delivered: (a) => hooks.onDelivered(name, a),
  };
}
