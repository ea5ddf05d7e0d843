/**
 * Reusable buffers for response bodies that are read, used and dropped one
 * after the other (a backup's LIST pages). Every new Buffer is memory outside
 * V8's heap, and V8 starts a full mark-compact for each ~64 MB of it: a
 * 100k-object backup allocated ~300 MB of page bodies, one of the reasons it
 * ran ~23 full GCs where the same LIST parsed into objects ran 17. Pooled,
 * the pages of a backup reuse a few dozen buffers.
 */
export class BufferPool {
  readonly #free: Buffer[] = [];
  readonly #keep: number;
  readonly #minBytes: number;

  /** Keeps up to `keep` released buffers; new ones have at least `minBytes`. */
  constructor(keep = 32, minBytes = 1 << 20) {
    this.#keep = keep;
    this.#minBytes = minBytes;
  }

  /** A buffer of at least `bytes` (its contents are garbage). */
  take(bytes: number): Buffer {
    for (let i = this.#free.length - 1; i >= 0; i--) {
      const buffer = this.#free[i] as Buffer;
      if (buffer.length >= bytes) {
        this.#free.splice(i, 1);
        return buffer;
      }
    }
    // Rounded up to a power of two, so a few sizes serve every page.
    let size = this.#minBytes;
    while (size < bytes) size *= 2;
    return Buffer.allocUnsafeSlow(size); // never a slice of Node's shared pool: see requestPooled
  }

  /** Gives a buffer from {@link take} back (the whole buffer, not a view of it). Nothing may use it after. */
  release(buffer: Buffer): void {
    if (this.#free.length < this.#keep) this.#free.push(buffer);
  }
}

/** A response body in a pooled buffer: `bytes` is valid until `release()`. */
export interface PooledBytes {
  readonly bytes: Buffer;
  release(): void;
}
