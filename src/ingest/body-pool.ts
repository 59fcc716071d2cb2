// Reused SharedArrayBuffers for request bodies. A new SharedArrayBuffer per request
// is external memory the garbage collector barely feels: under a flood of refused or
// quickly answered bodies, dead buffers piled up to gigabytes of RSS before a GC
// freed them. Reusing them keeps the bodies' memory near limits.max_inflight_bytes,
// which the admission counts in these rounded sizes.
//
// Sizes are rounded up to a class (powers of two up to 1 MiB, whole MiB above), so a
// buffer fits the next body of its class. Free buffers are kept while everything the
// pool made stays within `limit`; past it, free buffers are dropped (to the GC)
// before a new one is made.

const MIN_CLASS = 4096;
const MIB = 1024 * 1024;

export function sizeClass(len: number): number {
  if (len <= MIN_CLASS) return MIN_CLASS;
  if (len <= MIB) return 2 ** Math.ceil(Math.log2(len));
  return Math.ceil(len / MIB) * MIB;
}

export class BodyPool {
  private readonly free = new Map<number, SharedArrayBuffer[]>();
  private freeBytes = 0;
  /** Bytes of every buffer made and not dropped, in use or free. */
  allocated = 0;

  constructor(private readonly limit: number) {}

  /** A buffer of at least `len` bytes (its first `len` are the body's; the rest is stale). */
  acquire(len: number): SharedArrayBuffer {
    const size = sizeClass(len);
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused !== undefined) {
      this.freeBytes -= size;
      return reused;
    }
    this.dropUntil(this.limit - size);
    this.allocated += size;
    return new SharedArrayBuffer(size);
  }

  /** Gives back a buffer no one reads any more (its request answered, its tasks done). */
  release(buf: SharedArrayBuffer): void {
    const size = buf.byteLength;
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    list.push(buf);
    this.freeBytes += size;
  }

  private dropUntil(target: number): void {
    if (this.allocated <= target) return;
    for (const [size, list] of this.free) {
      while (list.length > 0 && this.allocated > target) {
        list.pop();
        this.freeBytes -= size;
        this.allocated -= size;
      }
      if (this.allocated <= target) return;
    }
  }
}
