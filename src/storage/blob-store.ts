import type { Readable } from 'node:stream';
import { StorageError } from '../errors/storage-error.ts';

/**
 * What a backend knows about one stored object.
 */
export interface BlobInfo {
  /** Key relative to the store's root: `/`-separated, no leading `/`. */
  readonly key: string;
  /** Size in bytes. */
  readonly size: number;
  /** Last modification time as reported by the backend. */
  readonly modified: Date;
}

/** A byte range inside an object: `length` bytes from `offset` (to the end when omitted). */
export interface ByteRange {
  readonly offset: number;
  readonly length?: number;
}

/** The body of a put: bytes in memory, or a stream of known or unknown length. */
export type PutBody = Uint8Array | string | Readable | AsyncIterable<Uint8Array>;

export interface PutOptions {
  /**
   * Exact length of a streamed body when the caller knows it. Backends use it
   * to choose a single request over multipart; a stream that ends at another
   * length fails the put (and leaves nothing visible).
   */
  readonly length?: number;
  /** MIME type recorded where the backend keeps one. */
  readonly contentType?: string;
}

/**
 * A write built up piece by piece in a temp file of the backend's own, then
 * committed under a key that may be known only at the end (a pack's name is
 * its hash). See {@link BlobStore.stage}.
 */
export interface StagedWrite {
  /** Appends bytes; the caller may reuse `bytes` once this resolves. */
  write(bytes: Uint8Array): Promise<void>;
  /** Makes the bytes durable and visible under `key`, atomically as a put. The staged write is spent. */
  commit(key: string): Promise<BlobInfo>;
  /** Drops the temp file (after a failure); safe to call after commit or twice. */
  abort(): Promise<void>;
}

export interface ListOptions {
  /** Resume listing strictly after this key (used by the retry wrapper to continue a listing). */
  readonly startAfter?: string;
}

/**
 * The one storage abstraction every Cairn capability writes through
 * (after kopia's `blob.Storage`). Keys are validated by {@link assertValidKey}.
 *
 * Every backend guarantees, and the conformance suite (`conformance.ts`) checks:
 *
 * - **Read-after-write.** Once `put` resolves, `get`, `stat` and `list` by any
 *   client see the new content; once `delete` resolves, none of them see the key.
 * - **Atomic visibility.** Readers see either the whole previous object or the
 *   whole new one, never a mix or a prefix. A put that fails — network error,
 *   a body stream that errors, a length mismatch — leaves nothing visible under
 *   the key (the previous object, if any, stays as it was), and no temporary
 *   names show in `list`.
 * - **List completeness and order.** `list(prefix)` yields every key that starts
 *   with `prefix` (a plain string prefix, not only a folder) exactly once, in
 *   ascending order of the keys' UTF-8 bytes, however many there are.
 * - **Errors are classified.** Failures are {@link StorageError}s whose
 *   `failure` says whether a retry can help; absent keys are `not-found`.
 * - **Idempotent delete.** Deleting an absent key succeeds.
 * - **Ranges are exact.** A ranged get returns exactly the bytes asked for, or
 *   fails with `invalid` when the range starts at or beyond the end.
 */
export interface BlobStore {
  /** Human-readable location for messages, e.g. `file:///backups` or `s3://bucket/prefix`. Never holds secrets. */
  readonly description: string;

  /** Reads a whole object, or a range of it. Rejects with `not-found` when absent. */
  get(key: string, range?: ByteRange): Promise<Buffer>;

  /**
   * Optional: reads a range into `target` (from its start; `target` holds at
   * least `range.length` bytes) and resolves with the bytes read — fewer only
   * where the object ends. For readers that reuse one buffer for many reads
   * (a restore reads every pack once): a fresh buffer per read is external
   * memory to V8, and each ~64 MiB of it forces a full garbage collection of
   * the process's heap. Use {@link readRange}, which falls back to `get`.
   */
  readInto?(key: string, range: Required<ByteRange>, target: Uint8Array): Promise<number>;

  /**
   * Optional: the path of an object's bytes on this machine, for readers that
   * read it themselves (restore's file workers read their batch of a pack
   * with one synchronous call instead of the main thread holding the span).
   * Only stores whose objects are plain local files have it; wrappers that
   * change what a read does (fault injection) leave it out.
   */
  localFile?(key: string): string;

  /** Streams a whole object, or a range of it, with bounded memory. Rejects with `not-found` when absent. */
  getStream(key: string, range?: ByteRange): Promise<Readable>;

  /** Writes an object atomically (see the guarantees above) and returns what was stored. */
  put(key: string, body: PutBody, options?: PutOptions): Promise<BlobInfo>;

  /**
   * Optional: a {@link StagedWrite} whose temp file lives where committing it
   * costs no copy — the filesystem backend's is in its root, so commit is a
   * rename. Backends without a cheap local staging area leave it out (callers
   * then buffer in memory and `put`). Like streamed puts, it is not retried.
   */
  stage?(): Promise<StagedWrite>;

  /** Describes an object, or returns `undefined` when it does not exist. */
  stat(key: string): Promise<BlobInfo | undefined>;

  /** Every object whose key starts with `prefix`, in ascending key order. */
  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo>;

  /** Removes an object; succeeds when it is already absent. */
  delete(key: string): Promise<void>;

  /** Releases connections and handles. The store is unusable afterwards. */
  close(): Promise<void>;
}

const TEMP_MARKER = '.cairn-tmp-';

/**
 * Checks a key against the rules every backend relies on: non-empty, at most
 * 1024 UTF-8 bytes (the S3 limit), `/`-separated segments that are neither
 * empty, `.` nor `..`, no NUL or other control characters, and never the
 * filesystem backend's temp-file marker (so a temp file can never be mistaken
 * for an object). Throws a `StorageError('invalid')` otherwise.
 */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw invalidKey(key, problem);
  }
}

/** Why a key is invalid, or undefined when it is fine. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'it is empty';
  if (Buffer.byteLength(key, 'utf8') > 1024) return 'it is longer than 1024 bytes';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'it contains control characters';
  if (key.includes('\\')) return 'it contains a backslash';
  if (key.includes(TEMP_MARKER)) return `it contains the reserved marker "${TEMP_MARKER}"`;
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      return 'it has an empty, "." or ".." path segment';
    }
  }
  return undefined;
}

/** Checks a list prefix: empty, or a key-like string that may end with `/`. */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  const problem = keyProblem(trimmed);
  if (problem !== undefined) throw invalidKey(prefix, problem);
}

/** The reserved infix of filesystem temp files; exported for the backend and its tests. */
export const TEMP_FILE_MARKER = TEMP_MARKER;

function invalidKey(key: string, problem: string): StorageError {
  return new StorageError('invalid', `invalid object key ${JSON.stringify(key)}: ${problem}`, {
    key,
    hint: 'Keys are built by Cairn; this is a bug unless you passed the key yourself.',
  });
}

/** Compares two keys by their UTF-8 bytes, the order S3 lists in and the order `list` promises. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Reads a range into `target` through {@link BlobStore.readInto} when the store has it, else `get` and a copy; returns the bytes read (a view of `target`). */
export async function readRange(
  store: BlobStore,
  key: string,
  range: Required<ByteRange>,
  target: Buffer,
): Promise<Buffer> {
  if (store.readInto !== undefined) return target.subarray(0, await store.readInto(key, range, target));
  const bytes = await store.get(key, range);
  bytes.copy(target);
  return target.subarray(0, bytes.length);
}
