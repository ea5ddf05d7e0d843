import type { BlobStore } from './blob-store.ts';
import { FileSystemBlobStore } from './fs/fs-store.ts';
import type { LocationSpec } from './location-url.ts';
import { S3BlobStore } from './s3/s3-store.ts';
import { ReadOnlyBlobStore } from './wrappers/read-only-store.ts';
import { type RetryHooks, RetryingBlobStore, type RetryPolicy } from './wrappers/retrying-store.ts';

export interface OpenStoreOptions {
  /** Refuse every write and delete (Velero's `accessMode: ReadOnly`). */
  readonly readOnly?: boolean;
  readonly retry?: Partial<RetryPolicy>;
  readonly retryHooks?: RetryHooks;
  /** Explicit S3 credentials (e.g. from a Kubernetes Secret); otherwise the AWS default chain. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** An opened location: the store to use, and the bare backend for backend-specific checks. */
export interface OpenedStore {
  /** Retry-wrapped (and read-only-wrapped when asked) store: what every capability uses. */
  readonly store: BlobStore;
  /** The backend itself, for checks such as HeadBucket that are outside the BlobStore contract. */
  readonly backend: FileSystemBlobStore | S3BlobStore;
}

/** Opens the backend a spec names, wrapped with retries and, if asked, read-only protection. */
export function openStore(spec: LocationSpec, options: OpenStoreOptions = {}): OpenedStore {
  const backend =
    spec.provider === 'filesystem'
      ? new FileSystemBlobStore(spec.path)
      : new S3BlobStore(
          options.credentials === undefined ? spec : { ...spec, credentials: options.credentials },
        );
  let store: BlobStore = new RetryingBlobStore(backend, options.retry, options.retryHooks);
  if (options.readOnly) store = new ReadOnlyBlobStore(store);
  return { store, backend };
}
