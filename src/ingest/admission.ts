// Which accepted-but-unanswered bodies the webhook holds, and whether one more fits.
//
// Two budgets, both checked before a body is read: the server's (bodies in flight,
// limits.max_inflight_bytes; queued tasks; the outputs' backlog) and each cluster's
// share of the bytes. A cluster that already holds bytes may hold at most
// max_inflight_bytes ÷ (clusters holding bytes + 1): the "+ 1" keeps room for a
// cluster that is not sending yet, so one cluster (or a few) with slow or huge
// uploads cannot take the whole budget while others wait. A cluster holding nothing
// is admitted on the server's budget alone, so every cluster can always have one
// body in flight when there is room. Shares apply only where credentials can name
// more than one cluster.

import type { ServeConfig } from '../config/schema.js';

export type Refusal = 'overloaded' | 'cluster_share';

export interface AdmissionLimits {
  maxInflightBytes: number;
  maxQueuedTasks: number;
}

/** Whether the credentials configured can name more than one cluster. */
export function manyClusters(auth: ServeConfig['auth']): boolean {
  const named = new Set([...auth.tokens.map((t) => t.cluster), ...auth.clientCerts.map((c) => c.cluster)]);
  return auth.jwt !== undefined || named.size > 1;
}

export class Admission {
  bytes = 0;
  requests = 0;
  /** Bytes per cluster that has sent (0 when it holds nothing now). */
  private readonly held = new Map<string, number>();
  /** Clusters holding more than 0 bytes. */
  private holders = 0;

  constructor(private readonly limits: AdmissionLimits, private readonly shares: boolean) {}

  /** Why a body of `len` bytes from `cluster` cannot be held now, or undefined (then call `hold`). */
  check(cluster: string, len: number, queuedTasks: number, newTasks: number, outputsFull: boolean): Refusal | undefined {
    const L = this.limits;
    if (this.bytes + len > L.maxInflightBytes || queuedTasks + newTasks > L.maxQueuedTasks || outputsFull) return 'overloaded';
    const mine = this.held.get(cluster) ?? 0;
    if (this.shares && mine > 0 && mine + len > L.maxInflightBytes / (this.holders + 1)) return 'cluster_share';
    return undefined;
  }

  hold(cluster: string, len: number): void {
    this.bytes += len;
    this.requests++;
    const mine = this.held.get(cluster) ?? 0;
    if (mine === 0) this.holders++;
    this.held.set(cluster, mine + len);
  }

  release(cluster: string, len: number): void {
    this.bytes -= len;
    this.requests--;
    const left = (this.held.get(cluster) ?? 0) - len;
    this.held.set(cluster, left);
    if (left === 0) this.holders--;
  }

  /** Bytes held per cluster (for /readyz). */
  clusters(): Record<string, number> {
    return Object.fromEntries(this.held);
  }
}
