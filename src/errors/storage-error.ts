import { CairnError } from './cairn-error.ts';

/**
 * Why a storage call failed, as far as a caller needs to decide what to do.
 * Retry wrappers act on this alone (kopia's `retry` decides from the error
 * class, never from message text).
 */
export type StorageFailure =
  /** The key does not exist. Never retried. */
  | 'not-found'
  /** Credentials missing, rejected or not allowed to do this. Never retried. */
  | 'access-denied'
  /** The bucket (or root folder) itself does not exist. Never retried. */
  | 'bucket-missing'
  /** The endpoint cannot be reached at all (DNS, refused, TLS). Retried a few times. */
  | 'unreachable'
  /** Throttling, 5xx, connection reset, timeout: worth another try. */
  | 'transient'
  /** Range outside the object, malformed key and similar caller mistakes. Never retried. */
  | 'invalid'
  /** The location is read-only (by configuration, not by permission). Never retried. */
  | 'read-only'
  /** The body stream given to a put failed; the put left nothing visible. Never retried. */
  | 'source-failed'
  /** Anything else the backend reported. Not retried. */
  | 'other';

const CODES: Record<StorageFailure, string> = {
  'not-found': 'STORAGE_NOT_FOUND',
  'access-denied': 'STORAGE_ACCESS_DENIED',
  'bucket-missing': 'STORAGE_BUCKET_MISSING',
  unreachable: 'STORAGE_UNREACHABLE',
  transient: 'STORAGE_TRANSIENT',
  invalid: 'STORAGE_INVALID_REQUEST',
  'read-only': 'STORAGE_READ_ONLY',
  'source-failed': 'STORAGE_SOURCE_FAILED',
  other: 'STORAGE_FAILED',
};

const RETRYABLE: ReadonlySet<StorageFailure> = new Set(['transient', 'unreachable']);

/** A failed storage call, classified. `code` is derived from `failure` so both stay stable. */
export class StorageError extends CairnError {
  readonly failure: StorageFailure;
  /** The key involved, relative to the location root, when there is one. */
  readonly key: string | undefined;

  constructor(
    failure: StorageFailure,
    message: string,
    options: { key?: string; hint?: string; cause?: unknown } = {},
  ) {
    super(CODES[failure], message, options);
    this.name = 'StorageError';
    this.failure = failure;
    this.key = options.key;
  }

  /** Whether another attempt of the same call may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.failure);
  }
}

/** True when `err` is a StorageError of the given failure class. */
export function isStorageFailure(err: unknown, failure: StorageFailure): err is StorageError {
  return err instanceof StorageError && err.failure === failure;
}

/** The canonical "no such key" error, shared by every backend so messages read the same. */
export function blobNotFound(key: string, where: string): StorageError {
  return new StorageError('not-found', `object "${key}" does not exist in ${where}`, { key });
}
