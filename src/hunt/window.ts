// The hunt's time window: since ≤ stageTimestamp < until, in nanoseconds since the epoch
// (audit times carry micro- or nanoseconds: compared at full precision).
import { ErrorCode, PeregrineError } from '../errors.js';
import { TimeParseError, parseEventTime } from '../events/time.js';

export interface TimeWindow {
  since?: bigint;
  until?: bigint;
}

const UNIT_NS: Record<string, bigint> = {
  ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n, w: 604_800_000_000_000n,
};

/** An RFC 3339 time, or a duration back from `nowNs` (`90s`, `15m`, `2h`, `7d`, `1w`, `1h30m`). */
export function parseTimeArg(v: string, flag: string, nowNs: bigint): bigint {
  const s = v.trim();
  if (/^(\d+(ms|s|m|h|d|w))+$/.test(s)) {
    let ns = 0n;
    for (const m of s.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) ns += BigInt(m[1]) * UNIT_NS[m[2]];
    if (ns > nowNs) throw new PeregrineError(ErrorCode.USAGE, `${flag}: ${v} back from now is before 1970`);
    return nowNs - ns;
  }
  // Event times are nanoseconds in 64 bits: past 2262 they would wrap to some other time.
  const year = /^(\d{4,})-/.exec(s);
  if (year && Number(year[1]) >= 2262) throw new PeregrineError(ErrorCode.USAGE, `${flag}: ${v} is beyond 2262, the last year audit event times can hold`);
  try {
    const t = parseEventTime(s);
    // Before 1970 the plugin's time wraps to a huge unsigned value: not a window anyone means.
    if (t > 0x7fffffffffffffffn) throw new TimeParseError('before 1970');
    return t;
  } catch (e) {
    if (!(e instanceof TimeParseError)) throw e;
    throw new PeregrineError(ErrorCode.USAGE, `${flag}: expected an RFC 3339 time (2026-12-07T10:00:00Z) or a duration back from now (2h, 7d, 1h30m), got '${v}'`);
  }
}

export function inWindow(w: TimeWindow, t: bigint): boolean {
  return (w.since === undefined || t >= w.since) && (w.until === undefined || t < w.until);
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
