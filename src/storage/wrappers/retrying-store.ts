import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError } from '../../errors/storage-error.ts';
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  ListOptions,
  PutBody,
  PutOptions,
  StagedWrite,
} from '../blob-store.ts';
import { isBufferedBody } from '../body.ts';

export interface RetryPolicy {
  /** Total attempts, the first included (default 5). */
  readonly maxAttempts: number;
  /** Delay before the second attempt in ms; doubles each time (default 200). */
  readonly baseDelayMs: number;
  /** Upper bound of one delay in ms (default 10 s). */
  readonly maxDelayMs: number;
  /** Attempts for `unreachable` (default 2): a refused connection rarely heals in seconds and users wait. */
  readonly maxUnreachableAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  maxUnreachableAttempts: 2,
};

export interface RetryHooks {
  /** Waits between attempts; tests inject a fake. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform random in [0, 1) for jitter; tests inject a fixed one. */
  readonly random?: () => number;
  /** Told about each retry (for logs and metrics). */
  readonly onRetry?: (event: {
    operation: string;
    key: string;
    attempt: number;
    delayMs: number;
    error: StorageError;
  }) => void;
}

/**
 * Retries calls whose error is retryable by class (`transient`, `unreachable`)
 * with exponential backoff and full jitter; everything else (not-found,
 * access-denied, invalid…) fails at once. Streamed puts cannot be replayed, so
 * they are tried once; in-memory puts are retried. A listing that fails midway
 * resumes after the last key it yielded, so no key is yielded twice.
 */
export class RetryingBlobStore implements BlobStore {
  readonly description: string;
  readonly inner: BlobStore;
  readonly #policy: RetryPolicy;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #onRetry: RetryHooks['onRetry'];
  /** Present when the inner store has it (see BlobStore.readInto). */
  readonly readInto?: (key: string, range: Required<ByteRange>, target: Uint8Array) => Promise<number>;
  /** Present when the inner store has it (see BlobStore.localFile). */
  readonly localFile?: (key: string) => string;

  /** The inner store's staging, when it has one; tried once, like streamed puts. */
  readonly stage?: () => Promise<StagedWrite>;

  constructor(inner: BlobStore, policy: Partial<RetryPolicy> = {}, hooks: RetryHooks = {}) {
    this.inner = inner;
    if (inner.stage !== undefined) this.stage = () => (inner.stage as () => Promise<StagedWrite>).call(inner);
    this.description = inner.description;
    this.#policy = { ...DEFAULT_RETRY_POLICY, ...policy };
    this.#sleep = hooks.sleep ?? ((ms) => sleep(ms));
    this.#random = hooks.random ?? Math.random;
    this.#onRetry = hooks.onRetry;
    const readInto = inner.readInto?.bind(inner);
    if (readInto !== undefined) {
      this.readInto = (key, range, target) => this.#attempt('get', key, () => readInto(key, range, target));
    }
    // Local files: a failed read there is not the kind of fault a retry fixes.
    const localFile = inner.localFile?.bind(inner);
    if (localFile !== undefined) this.localFile = localFile;
  }

  get(key: string, range?: ByteRange): Promise<Buffer> {
    return this.#attempt('get', key, () => this.inner.get(key, range));
  }

  getStream(key: string, range?: ByteRange) {
    return this.#attempt('getStream', key, () => this.inner.getStream(key, range));
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<BlobInfo> {
    if (!isBufferedBody(body)) return this.inner.put(key, body, options);
    return this.#attempt('put', key, () => this.inner.put(key, body, options));
  }

  stat(key: string): Promise<BlobInfo | undefined> {
    return this.#attempt('stat', key, () => this.inner.stat(key));
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    let startAfter = options.startAfter;
    let failures = 0;
    for (;;) {
      try {
        const listing = this.inner.list(prefix, startAfter === undefined ? {} : { startAfter });
        for await (const info of listing) {
          yield info;
          startAfter = info.key;
          failures = 0;
        }
        return;
      } catch (err) {
        failures++;
        await this.#backoffOrThrow('list', prefix, failures, err);
      }
    }
  }

  delete(key: string): Promise<void> {
    return this.#attempt('delete', key, () => this.inner.delete(key));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async #attempt<T>(operation: string, key: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        await this.#backoffOrThrow(operation, key, attempt, err);
      }
    }
  }

  /** Sleeps before the next attempt, or rethrows when the error is final or attempts are used up. */
  async #backoffOrThrow(operation: string, key: string, attempt: number, err: unknown): Promise<void> {
    if (!(err instanceof StorageError) || !err.retryable) throw err;
    const limit =
      err.failure === 'unreachable' ? this.#policy.maxUnreachableAttempts : this.#policy.maxAttempts;
    if (attempt >= limit) throw err;
    const ceiling = Math.min(this.#policy.maxDelayMs, this.#policy.baseDelayMs * 2 ** (attempt - 1));
    const delayMs = Math.round(this.#random() * ceiling);
    this.#onRetry?.({ operation, key, attempt, delayMs, error: err });
    await this.#sleep(delayMs);
  }
}
