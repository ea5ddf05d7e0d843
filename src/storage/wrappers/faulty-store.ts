import { StorageError, type StorageFailure } from '../../errors/storage-error.ts';
import type { BlobInfo, BlobStore, ByteRange, ListOptions, PutBody, PutOptions } from '../blob-store.ts';
import { bodyChunks } from '../body.ts';

export type BlobOperation = 'get' | 'getStream' | 'put' | 'stat' | 'list' | 'delete';

/** One rule of injected failure. */
export interface Fault {
  /** Which calls it hits; all when omitted. */
  readonly operation?: BlobOperation;
  /** Which keys (or list prefixes) it hits; all when omitted. */
  readonly key?: string | RegExp;
  /** The class of error raised. */
  readonly failure: StorageFailure;
  /** How many calls it fails before it goes away (default: forever). */
  readonly times?: number;
  /**
   * For `put`: the body is passed to the backend and breaks after this many
   * bytes, as a dropped connection or a dying source would — the backend must
   * then leave nothing visible. For `list`: fails after this many keys.
   */
  readonly afterBytes?: number;
  readonly afterItems?: number;
}

interface ActiveFault {
  readonly fault: Fault;
  remaining: number;
}

/**
 * A BlobStore that fails on purpose (after kopia's `blobtesting` fault
 * injection): tests add rules, the wrapper raises classified errors before the
 * call, mid-stream in a put, or mid-way through a listing. It also counts
 * calls, so tests can see how often a retry wrapper tried.
 */
export class FaultyBlobStore implements BlobStore {
  readonly description: string;
  readonly inner: BlobStore;
  readonly calls: Record<BlobOperation, number> = {
    get: 0,
    getStream: 0,
    put: 0,
    stat: 0,
    list: 0,
    delete: 0,
  };
  readonly #faults: ActiveFault[] = [];
  // No localFile: a reader of the file itself would bypass the injected faults.
  /** Present when the inner store has it; faults and counts as a `get`. */
  readonly readInto?: (key: string, range: Required<ByteRange>, target: Uint8Array) => Promise<number>;

  constructor(inner: BlobStore) {
    this.inner = inner;
    this.description = inner.description;
    const readInto = inner.readInto?.bind(inner);
    if (readInto !== undefined) {
      this.readInto = async (key, range, target) => {
        this.#before('get', key);
        return readInto(key, range, target);
      };
    }
  }

  /** Adds a rule; rules are checked in the order added. */
  inject(fault: Fault): this {
    this.#faults.push({ fault, remaining: fault.times ?? Number.POSITIVE_INFINITY });
    return this;
  }

  /** Removes every rule. */
  heal(): void {
    this.#faults.length = 0;
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    this.#before('get', key);
    return this.inner.get(key, range);
  }

  async getStream(key: string, range?: ByteRange) {
    this.#before('getStream', key);
    return this.inner.getStream(key, range);
  }

  async put(key: string, body: PutBody, options?: PutOptions): Promise<BlobInfo> {
    const fault = this.#take('put', key);
    if (fault?.afterBytes === undefined) {
      if (fault !== undefined) throw injected(fault, 'put', key);
      return this.inner.put(key, body, options);
    }
    const limit = fault.afterBytes;
    async function* breaking(): AsyncIterable<Uint8Array> {
      let sent = 0;
      for await (const chunk of bodyChunks(body, key)) {
        if (sent + chunk.length > limit) {
          yield chunk.subarray(0, limit - sent);
          throw injected(fault as Fault, 'put', key);
        }
        sent += chunk.length;
        yield chunk;
      }
    }
    return this.inner.put(key, breaking(), options);
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    this.#before('stat', key);
    return this.inner.stat(key);
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    const fault = this.#take('list', prefix);
    if (fault !== undefined && fault.afterItems === undefined) throw injected(fault, 'list', prefix);
    let yielded = 0;
    for await (const info of this.inner.list(prefix, options)) {
      if (fault?.afterItems !== undefined && yielded >= fault.afterItems)
        throw injected(fault, 'list', prefix);
      yield info;
      yielded++;
    }
  }

  async delete(key: string): Promise<void> {
    this.#before('delete', key);
    return this.inner.delete(key);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #before(operation: BlobOperation, key: string): void {
    const fault = this.#take(operation, key);
    if (fault !== undefined) throw injected(fault, operation, key);
  }

  /** Counts the call and consumes the first matching rule, if any. */
  #take(operation: BlobOperation, key: string): Fault | undefined {
    this.calls[operation]++;
    for (const active of this.#faults) {
      const { fault } = active;
      if (active.remaining <= 0) continue;
      if (fault.operation !== undefined && fault.operation !== operation) continue;
      if (typeof fault.key === 'string' && fault.key !== key) continue;
      if (fault.key instanceof RegExp && !fault.key.test(key)) continue;
      active.remaining--;
      return fault;
    }
    return undefined;
  }
}

function injected(fault: Fault, operation: BlobOperation, key: string): StorageError {
  return new StorageError(fault.failure, `injected ${fault.failure} failure in ${operation} "${key}"`, {
    key,
  });
}
