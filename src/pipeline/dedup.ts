// Events seen recently, shared by all workers: a stream that replays what it already
// sent after a reconnect (an LDP stream may) must not alert twice. Keys are
// (auditID, stage) hashed to 64 bits in an open-addressing table of BigInt64 slots in
// a SharedArrayBuffer. Each slot keeps the second it was written, which is also its
// lock (taken with Atomics.compareExchange while the key is written), so two workers
// that meet the same event at once agree on which saw it first. A slot older than the
// window is free again. Only events that raise an
// alert are looked up (others cannot alert twice), so the cost is off the hot path.

const PROBES = 64;
const WRITING = -1;

export interface DedupOptions {
  windowSeconds: number;
  maxKeys: number;
}

export function createDedupTable(o: DedupOptions): SharedArrayBuffer {
  // Load ≤ 1/2 at maxKeys keeps probe runs short; a power of two masks the index.
  const slots = 2 ** Math.ceil(Math.log2(Math.max(16, 2 * o.maxKeys)));
  const sab = new SharedArrayBuffer(16 + slots * 12);
  const head = new Int32Array(sab, 0, 4);
  head[0] = slots;
  head[1] = o.windowSeconds;
  // Times are seconds since the table was made (Int32: no 2038 problem).
  head[2] = Math.floor(Date.now() / 1000);
  return sab;
}

/** FNV-1a over UTF-16 code units, twice with different seeds, as one 64-bit key (never 0). */
function keyOf(auditId: string, stage: string): bigint {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  const mix = (c: number): void => {
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  };
  for (let i = 0; i < auditId.length; i++) mix(auditId.charCodeAt(i));
  mix(0x1f);
  for (let i = 0; i < stage.length; i++) mix(stage.charCodeAt(i));
  const k = (BigInt(a >>> 0) << 32n) | BigInt(b >>> 0);
  return k === 0n ? 1n : BigInt.asIntN(64, k);
}

export type DedupVerdict = 'first' | 'repeat' | 'full';

export class DedupTable {
  private readonly slots: number;
  private readonly windowSeconds: number;
  private readonly keys: BigInt64Array;
  private readonly times: Int32Array;

  private readonly base: number;

  constructor(sab: SharedArrayBuffer, private readonly nowSeconds = (): number => Math.floor(Date.now() / 1000)) {
    const head = new Int32Array(sab, 0, 4);
    this.slots = head[0];
    this.windowSeconds = head[1];
    this.base = head[2];
    this.keys = new BigInt64Array(sab, 16, this.slots);
    this.times = new Int32Array(sab, 16 + this.slots * 8, this.slots);
  }

  /**
   * Records (auditID, stage); 'repeat' when it was recorded within the window. 'full'
   * when no slot could be had (every probed slot fresh): the event is let through.
   */
  check(auditId: string, stage: string): DedupVerdict {
    const key = keyOf(auditId, stage);
    // From 1: an empty slot's time is 0, and a written one must never look like it.
    const now = this.nowSeconds() - this.base + 1;
    const mask = this.slots - 1;
    let i = Number(BigInt.asUintN(32, key) & BigInt(mask));
    for (let p = 0; p < PROBES;) {
      // A slot's time is also its lock: -1 while a worker writes it.
      const t = Atomics.load(this.times, i);
      if (t === WRITING) continue;
      const cur = Atomics.load(this.keys, i);
      const fresh = cur !== 0n && now - t < this.windowSeconds;
      if (fresh) {
        if (cur === key) return 'repeat';
        p++;
        i = (i + 1) & mask;
        continue;
      }
      // Empty or expired: take it, unless another worker took it meanwhile (look again).
      if (Atomics.compareExchange(this.times, i, t, WRITING) !== t) continue;
      Atomics.store(this.keys, i, key);
      Atomics.store(this.times, i, now);
      return 'first';
    }
    return 'full';
  }
}
