// Log lines for refused requests, rate-limited per reason: the first of each reason is
// logged at once, then at most one line per interval naming how many were not, so a
// flood of bad credentials cannot flood the log. Lines never hold a credential.

const INTERVAL_MS = 10_000;

interface ReasonState {
  lastMs: number;
  suppressed: number;
}

export class RefusalLog {
  private readonly reasons = new Map<string, ReasonState>();

  constructor(private readonly log: (msg: string) => void, private readonly intervalMs = INTERVAL_MS, private readonly now = Date.now) {}

  note(reason: string, line: string): void {
    const t = this.now();
    const r = this.reasons.get(reason);
    if (r !== undefined && t - r.lastMs < this.intervalMs) {
      r.suppressed++;
      return;
    }
    const more = r !== undefined && r.suppressed > 0 ? ` (and ${r.suppressed} more '${reason}' refusals not logged in the last ${Math.round((t - r.lastMs) / 1000)} s)` : '';
    this.log(line + more);
    this.reasons.set(reason, { lastMs: t, suppressed: 0 });
  }
}
