// Per-cluster rate limit in events per second: a token bucket that may go into debt.
// A request is admitted while the bucket is not empty (checked before its body is
// read, when its event count is not known yet) and charged at once an estimate from
// its declared size, so bodies still uploading count (slow uploads cannot pile up
// under the limit); after the split the charge is corrected to its real event count,
// possibly below zero, and the cluster waits until the debt is repaid. So a cluster
// gets its rate on average and at most one batch beyond its burst.
import type { RateLimit } from '../config/schema.js';

class Bucket {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Seconds until a request may be admitted; 0 = now. */
  wait(): number {
    this.refill();
    return this.tokens > 0 ? 0 : (1 - this.tokens) / this.rate;
  }

  /** `n` < 0 refunds an estimate that was too high. */
  charge(n: number): void {
    this.refill();
    this.tokens = Math.min(this.burst, this.tokens - n);
  }
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket | null>();

  constructor(private readonly fallback: RateLimit, private readonly perCluster: Record<string, { rateLimit?: RateLimit }>) {}

  private bucket(cluster: string): Bucket | null {
    let b = this.buckets.get(cluster);
    if (b === undefined) {
      const lim = this.perCluster[cluster]?.rateLimit ?? this.fallback;
      b = lim.eventsPerSecond > 0 ? new Bucket(lim.eventsPerSecond, Math.max(1, lim.burst)) : null;
      this.buckets.set(cluster, b);
    }
    return b;
  }

  /** 0 when the cluster may send now, else the seconds to wait (for Retry-After). */
  wait(cluster: string): number {
    return this.bucket(cluster)?.wait() ?? 0;
  }

  charge(cluster: string, events: number): void {
    this.bucket(cluster)?.charge(events);
  }
}
