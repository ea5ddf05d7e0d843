import { Readable } from 'node:stream';
import { blobNotFound } from '../../errors/storage-error.ts';
import {
  assertValidKey,
  assertValidPrefix,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  compareKeys,
  type ListOptions,
  type PutBody,
  type PutOptions,
} from '../blob-store.ts';
import { bodyChunks } from '../body.ts';
import { sliceRange } from '../range.ts';

interface StoredBlob {
  readonly data: Buffer;
  readonly modified: Date;
}

/**
 * An in-memory BlobStore for unit tests of pure logic. It keeps the same
 * guarantees as the real backends (the conformance suite runs against it), so
 * code tested on it behaves the same on disk or S3 — but it is never the only
 * test of an integration.
 */
export class MemoryBlobStore implements BlobStore {
  readonly description: string;
  readonly #blobs = new Map<string, StoredBlob>();

  constructor(name = 'memory') {
    this.description = `memory://${name}`;
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const blob = this.#require(key);
    return Buffer.from(sliceRange(blob.data, range, key));
  }

  async getStream(key: string, range?: ByteRange): Promise<Readable> {
    return Readable.from([await this.get(key, range)]);
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<BlobInfo> {
    assertValidKey(key);
    const chunks: Buffer[] = [];
    for await (const chunk of bodyChunks(body, key, options.length)) chunks.push(chunk);
    // Only now, with the whole body in hand, does the object become visible.
    const blob: StoredBlob = { data: Buffer.concat(chunks), modified: new Date() };
    this.#blobs.set(key, blob);
    return { key, size: blob.data.length, modified: blob.modified };
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    assertValidKey(key);
    const blob = this.#blobs.get(key);
    return blob === undefined ? undefined : { key, size: blob.data.length, modified: blob.modified };
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    assertValidPrefix(prefix);
    const keys = [...this.#blobs.keys()]
      .filter((k) => k.startsWith(prefix))
      .filter((k) => options.startAfter === undefined || compareKeys(k, options.startAfter) > 0)
      .sort(compareKeys);
    for (const key of keys) {
      const blob = this.#blobs.get(key);
      if (blob !== undefined) yield { key, size: blob.data.length, modified: blob.modified };
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    this.#blobs.delete(key);
  }

  async close(): Promise<void> {}

  #require(key: string): StoredBlob {
    assertValidKey(key);
    const blob = this.#blobs.get(key);
    if (blob === undefined) throw blobNotFound(key, this.description);
    return blob;
  }
}
