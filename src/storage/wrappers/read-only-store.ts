import { StorageError } from '../../errors/storage-error.ts';
import type { BlobInfo, BlobStore, ByteRange, ListOptions, PutBody } from '../blob-store.ts';

/**
 * A location opened read-only (Velero's `accessMode: ReadOnly`): reads pass
 * through, writes and deletes fail with `read-only` before reaching the backend,
 * so a restore-only cluster can never modify the backups it restores from.
 */
export class ReadOnlyBlobStore implements BlobStore {
  readonly description: string;
  readonly inner: BlobStore;
  readonly readInto?: (key: string, range: Required<ByteRange>, target: Uint8Array) => Promise<number>;
  readonly localFile?: (key: string) => string;

  constructor(inner: BlobStore) {
    this.inner = inner;
    this.description = `${inner.description} (read-only)`;
    const readInto = inner.readInto?.bind(inner);
    if (readInto !== undefined) this.readInto = readInto;
    const localFile = inner.localFile?.bind(inner);
    if (localFile !== undefined) this.localFile = localFile;
  }

  get(key: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.get(key, range);
  }

  getStream(key: string, range?: ByteRange) {
    return this.inner.getStream(key, range);
  }

  async put(key: string, _body: PutBody): Promise<BlobInfo> {
    throw this.#refuse('write', key);
  }

  stat(key: string): Promise<BlobInfo | undefined> {
    return this.inner.stat(key);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    return this.inner.list(prefix, options);
  }

  async delete(key: string): Promise<void> {
    throw this.#refuse('delete', key);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #refuse(verb: string, key: string): StorageError {
    return new StorageError('read-only', `cannot ${verb} "${key}": ${this.inner.description} is read-only`, {
      key,
      hint: 'The location is opened read-only (for example for restores into another cluster). Use a read-write location to change it.',
    });
  }
}
