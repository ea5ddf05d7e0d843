import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  ListOptions,
  PutBody,
  PutOptions,
} from '../storage/blob-store.ts';
import { assertKnownKey, placeOfKey } from './layout.ts';

/**
 * A store that only lets through keys of the location layout: every
 * capability opens its location through this, so no code path can write a
 * key outside `cairn-location.json`, `control/`, `backups/`, `restores/`,
 * `repository/` and `etcd/` — and a typo in a key builder fails loudly
 * instead of scattering objects. Listing the whole location (`''`) stays
 * allowed, since surveys must see foreign data to report it.
 */
export class LayoutGuardedStore implements BlobStore {
  readonly description: string;
  readonly inner: BlobStore;

  constructor(inner: BlobStore) {
    this.inner = inner;
    this.description = inner.description;
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    assertKnownKey(key);
    return this.inner.get(key, range);
  }

  async getStream(key: string, range?: ByteRange) {
    assertKnownKey(key);
    return this.inner.getStream(key, range);
  }

  async put(key: string, body: PutBody, options?: PutOptions): Promise<BlobInfo> {
    assertKnownKey(key);
    return this.inner.put(key, body, options);
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    assertKnownKey(key);
    return this.inner.stat(key);
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    // A prefix inside one area must name a known area; '' (everything) is fine.
    if (prefix.includes('/') || placeOfKey(prefix).kind === 'area') assertKnownKey(prefix);
    yield* this.inner.list(prefix, options);
  }

  async delete(key: string): Promise<void> {
    assertKnownKey(key);
    return this.inner.delete(key);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
