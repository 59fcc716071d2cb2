// A bounded single-producer/single-consumer ring of records in a SharedArrayBuffer.
// The producer is one worker thread (it writes alerts); the consumer is the main
// thread (it drains them into the outputs). Nothing is copied through postMessage and
// nothing is allocated per record on the producer side.
//
// Layout: a 64-byte header of Int32 slots (names in SLOT), then `capacity` bytes of
// data, capacity a power of two. WRITE and READ are byte counters that only grow
// (modulo 2^32); `WRITE - READ` is the space in use. A record never wraps around the
// end of the data area: when it does not fit before the end, the producer writes a
// PAD marker and starts again at offset 0, so a consumer never sees half a record or
// half a multi-byte character.
//
// Record: u32 total length (header + payload, padded to 8; PAD = 0xffffffff),
// u32 payload length, u32 tag, u32 seq, u32 kind, u32 gen, f64 time, payload bytes.
//
// Publication order: the producer writes the record bytes, then `Atomics.store`s WRITE;
// the consumer `Atomics.load`s WRITE before reading bytes, and stores READ after it has
// copied them out. Atomics are sequentially consistent, so plain byte accesses before
// the store are visible after the load (the same argument as pinojs/thread-stream).
//
// Full ring: the producer raises WAITING, bumps SIGNAL and notifies it (the consumer
// awaits SIGNAL with Atomics.waitAsync), then sleeps on READ with Atomics.wait until the
// consumer frees space. That wait is the back-pressure that stops a worker, fills the
// task queue and finally makes the HTTP front end answer 429.

export const SLOT = {
  WRITE: 0,
  READ: 1,
  /** Producer is sleeping for space. */
  WAITING: 2,
  /** Bumped + notified by the producer when the consumer should drain now. */
  SIGNAL: 3,
  /** Set by the consumer to make a waiting producer give up (shutdown, dead consumer). */
  CLOSED: 4,
  /** Thread id of the worker that owns this ring, 0 = free. */
  OWNER: 5,
} as const;

const HEADER_BYTES = 64;

// Atomics.waitAsync is in Node 20 but not in TypeScript's ES2022 lib.
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as {
  waitAsync(ta: Int32Array, index: number, value: number, timeoutMs?: number): WaitAsyncResult;
}).waitAsync;
export const RECORD_HEADER = 32;
const PAD = 0xffffffff;

export function ringCapacity(bytes: number): number {
  let c = 1 << 16;
  while (c < bytes && c < 1 << 30) c <<= 1;
  return c;
}

export function createRingBuffer(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + ringCapacity(bytes));
}

export class RingClosedError extends Error {
  constructor() {
    super('ring closed by its consumer');
  }
}

class RingBase {
  protected readonly ctl: Int32Array;
  protected readonly u32: Uint32Array;
  protected readonly f64: Float64Array;
  protected readonly bytes: Buffer;
  readonly capacity: number;
  protected readonly mask: number;

  constructor(readonly sab: SharedArrayBuffer) {
    this.ctl = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.capacity = sab.byteLength - HEADER_BYTES;
    if (this.capacity <= 0 || (this.capacity & (this.capacity - 1)) !== 0) throw new RangeError('ring capacity must be a power of two');
    this.mask = this.capacity - 1;
    this.u32 = new Uint32Array(sab, HEADER_BYTES, this.capacity / 4);
    this.f64 = new Float64Array(sab, HEADER_BYTES, this.capacity / 8);
    this.bytes = Buffer.from(sab, HEADER_BYTES, this.capacity);
  }

  /** Bytes in use (written, not yet consumed). */
  used(): number {
    return (Atomics.load(this.ctl, SLOT.WRITE) - Atomics.load(this.ctl, SLOT.READ)) >>> 0;
  }
}

export interface RecordMeta {
  tag: number;
  seq: number;
  kind: number;
  gen: number;
  time: number;
}

export class RingWriter extends RingBase {
  /** Largest payload accepted; bigger ones must travel another way (see worker.ts). */
  readonly maxPayload: number;
  /** Total ms spent waiting for space (for metrics). */
  waitedMs = 0;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.maxPayload = (this.capacity >>> 1) - RECORD_HEADER;
  }

  fits(payloadBytes: number): boolean {
    return payloadBytes <= this.maxPayload;
  }

  /**
   * Appends a record whose payload is the UTF-8 of `text`. Blocks (Atomics.wait) while
   * the ring is full. `timeoutMs` bounds the whole wait: false = timed out, nothing
   * written. Throws RingClosedError when the consumer closed the ring.
   */
  write(meta: RecordMeta, text: string, timeoutMs = Infinity): boolean {
    const len = Buffer.byteLength(text, 'utf8');
    if (len > this.maxPayload) throw new RangeError(`record of ${len} bytes exceeds the ring's limit of ${this.maxPayload}`);
    const total = (RECORD_HEADER + len + 7) & ~7;
    const ctl = this.ctl;
    const w = Atomics.load(ctl, SLOT.WRITE) >>> 0;
    const off = w & this.mask;
    const tail = this.capacity - off;
    // A record that would cross the end is preceded by padding up to the end.
    const pad = total > tail ? tail : 0;
    if (!this.reserve(w, pad + total, timeoutMs)) return false;
    let at = off;
    if (pad > 0) {
      this.u32[off >>> 2] = PAD;
      at = 0;
    }
    const u = at >>> 2;
    this.u32[u] = total;
    this.u32[u + 1] = len;
    this.u32[u + 2] = meta.tag;
    this.u32[u + 3] = meta.seq;
    this.u32[u + 4] = meta.kind;
    this.u32[u + 5] = meta.gen;
    this.f64[(at >>> 3) + 3] = meta.time;
    this.bytes.write(text, at + RECORD_HEADER, len, 'utf8');
    Atomics.store(ctl, SLOT.WRITE, (w + pad + total) | 0);
    return true;
  }

  /** Waits until `need` bytes are free after write position `w`. */
  private reserve(w: number, need: number, timeoutMs: number): boolean {
    const ctl = this.ctl;
    let r = Atomics.load(ctl, SLOT.READ) >>> 0;
    if (this.capacity - ((w - r) >>> 0) >= need) return true;
    const started = Date.now();
    try {
      for (;;) {
        if (Atomics.load(ctl, SLOT.CLOSED) !== 0) throw new RingClosedError();
        Atomics.store(ctl, SLOT.WAITING, 1);
        Atomics.add(ctl, SLOT.SIGNAL, 1);
        Atomics.notify(ctl, SLOT.SIGNAL);
        // Re-check after raising WAITING: the consumer may have freed space meanwhile.
        r = Atomics.load(ctl, SLOT.READ) >>> 0;
        if (this.capacity - ((w - r) >>> 0) >= need) return true;
        const left = timeoutMs - (Date.now() - started);
        if (left <= 0) return false;
        // Short sleeps: a lost wake-up costs at most 50 ms, never a hang.
        Atomics.wait(ctl, SLOT.READ, r | 0, Math.min(left, 50));
        r = Atomics.load(ctl, SLOT.READ) >>> 0;
        if (this.capacity - ((w - r) >>> 0) >= need) return true;
      }
    } finally {
      Atomics.store(ctl, SLOT.WAITING, 0);
      this.waitedMs += Date.now() - started;
    }
  }

  /** Wakes the consumer (end of a task, so it drains without waiting for the result message). */
  signal(): void {
    Atomics.add(this.ctl, SLOT.SIGNAL, 1);
    Atomics.notify(this.ctl, SLOT.SIGNAL);
  }
}

/** A record as the consumer sees it; `payload` is only valid during the callback. */
export interface RingRecord extends RecordMeta {
  payload: Buffer;
}

export class RingReader extends RingBase {
  private readonly rec: RingRecord = { tag: 0, seq: 0, kind: 0, gen: 0, time: 0, payload: Buffer.alloc(0) };

  /**
   * Hands every published record to `onRecord` (the payload view is reused: copy what
   * you keep), then frees the space and wakes a waiting producer. Returns the count.
   */
  drain(onRecord: (r: RingRecord) => void): number {
    const ctl = this.ctl;
    const w = Atomics.load(ctl, SLOT.WRITE) >>> 0;
    let r = Atomics.load(ctl, SLOT.READ) >>> 0;
    let n = 0;
    const rec = this.rec;
    while (r !== w) {
      const off = r & this.mask;
      const total = this.u32[off >>> 2];
      if (total === PAD) {
        r = (r + (this.capacity - off)) >>> 0;
        continue;
      }
      const u = off >>> 2;
      const len = this.u32[u + 1];
      rec.tag = this.u32[u + 2];
      rec.seq = this.u32[u + 3];
      rec.kind = this.u32[u + 4];
      rec.gen = this.u32[u + 5];
      rec.time = this.f64[(off >>> 3) + 3];
      rec.payload = this.bytes.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len);
      onRecord(rec);
      r = (r + total) >>> 0;
      n++;
    }
    Atomics.store(ctl, SLOT.READ, r | 0);
    if (Atomics.load(ctl, SLOT.WAITING) !== 0) Atomics.notify(ctl, SLOT.READ);
    return n;
  }

  /** Resolves when the producer signals (or after `timeoutMs`). */
  waitSignal(timeoutMs: number): Promise<unknown> | undefined {
    const v = Atomics.load(this.ctl, SLOT.SIGNAL);
    const res = waitAsync(this.ctl, SLOT.SIGNAL, v, timeoutMs);
    return res.async ? res.value : undefined;
  }

  /** Makes a waiting (or future) producer fail instead of blocking. */
  close(): void {
    Atomics.store(this.ctl, SLOT.CLOSED, 1);
    Atomics.notify(this.ctl, SLOT.READ);
    Atomics.notify(this.ctl, SLOT.SIGNAL);
  }

  get producerWaiting(): boolean {
    return Atomics.load(this.ctl, SLOT.WAITING) !== 0;
  }

  get owner(): number {
    return Atomics.load(this.ctl, SLOT.OWNER);
  }

  /** Frees the ring for another worker (after its owner died; call after drain()). */
  release(): void {
    Atomics.store(this.ctl, SLOT.OWNER, 0);
  }
}

/** A worker takes the first free ring; returns its index or -1. */
export function claimRing(rings: readonly SharedArrayBuffer[], threadId: number): number {
  for (let i = 0; i < rings.length; i++) {
    const ctl = new Int32Array(rings[i], 0, HEADER_BYTES / 4);
    if (Atomics.compareExchange(ctl, SLOT.OWNER, 0, threadId) === 0) return i;
  }
  return -1;
}
