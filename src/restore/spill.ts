/**
 * Prepared objects of a restore plan, spilled to a local temp file so the plan
 * in memory holds only small references (offset, length) per object: a
 * restore of 100k objects then needs tens of MB for its plan, not the size of
 * every object. Written once while the archive is read, then read back by
 * position when each object's turn comes (page-cache reads, cheap next to an
 * API call).
 */
import { readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

export interface SpillRef {
  readonly offset: number;
  readonly length: number;
}

const FLUSH_BYTES = 1 << 20;

export class ObjectSpill {
  readonly #file: FileHandle;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #size = 0;
  #written = 0;

  private constructor(file: FileHandle) {
    this.#file = file;
  }

  /** Creates the spill file (which must not exist yet). */
  static async create(path: string): Promise<ObjectSpill> {
    return new ObjectSpill(await open(path, 'wx+', 0o600));
  }

  /** Appends one value as JSON; returns where it lies. */
  async append(value: unknown): Promise<SpillRef> {
    const bytes = Buffer.from(JSON.stringify(value), 'utf8');
    const ref = { offset: this.#size, length: bytes.length };
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    this.#size += bytes.length;
    if (this.#pendingBytes >= FLUSH_BYTES) await this.flush();
    return ref;
  }

  /** Writes what is buffered; call before reading. */
  async flush(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const chunk = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#file.write(chunk, 0, chunk.length, this.#written);
    this.#written += chunk.length;
  }

  /**
   * Reads one value back. Synchronously on purpose: a few KB from the page cache take
   * microseconds, while an async FileHandle read per object (100k of them) cost seconds of the
   * main thread in promise and thread-pool round trips.
   */
  async read<T>(ref: SpillRef): Promise<T> {
    const buffer = Buffer.allocUnsafe(ref.length);
    const bytesRead = readSync(this.#file.fd, buffer, 0, ref.length, ref.offset);
    if (bytesRead !== ref.length) throw new Error(`restore spill file is short at ${ref.offset}`);
    return JSON.parse(buffer.toString('utf8')) as T;
  }

  async close(): Promise<void> {
    await this.#file.close();
  }
}
