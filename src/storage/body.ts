import { Readable } from 'node:stream';
import { StorageError } from '../errors/storage-error.ts';
import type { PutBody } from './blob-store.ts';

/** True when the body is already in memory (and so can be sent again by a retry). */
export function isBufferedBody(body: PutBody): body is Uint8Array | string {
  return typeof body === 'string' || body instanceof Uint8Array;
}

/** The body as bytes when it is in memory. */
export function bufferedBytes(body: Uint8Array | string): Buffer {
  return typeof body === 'string'
    ? Buffer.from(body, 'utf8')
    : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * Iterates a body chunk by chunk, turning any failure of the source into a
 * `source-failed` StorageError and checking the promised length, so every
 * backend reports a bad body the same way.
 */
export async function* bodyChunks(
  body: PutBody,
  key: string,
  expectedLength?: number,
): AsyncIterable<Buffer> {
  let seen = 0;
  if (isBufferedBody(body)) {
    const bytes = bufferedBytes(body);
    seen = bytes.length;
    if (expectedLength === undefined || expectedLength === seen) {
      yield bytes;
      return;
    }
  } else {
    const iterable: AsyncIterable<Uint8Array> = body;
    try {
      for await (const chunk of iterable) {
        // Views, never copies: a copy per chunk doubles memory traffic on the hot path.
        const bytes =
          typeof chunk === 'string'
            ? Buffer.from(chunk)
            : Buffer.isBuffer(chunk)
              ? chunk
              : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        seen += bytes.length;
        if (expectedLength !== undefined && seen > expectedLength) break;
        yield bytes;
      }
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError('source-failed', `the data for "${key}" could not be read: ${messageOf(err)}`, {
        key,
        cause: err,
      });
    }
  }
  if (expectedLength !== undefined && seen !== expectedLength) {
    throw new StorageError(
      'source-failed',
      `the data for "${key}" was ${seen > expectedLength ? 'longer' : 'shorter'} than the promised ${expectedLength} bytes`,
      { key },
    );
  }
}

/** A Node stream over {@link bodyChunks}, for APIs that want a Readable. */
export function bodyStream(body: PutBody, key: string, expectedLength?: number): Readable {
  return Readable.from(bodyChunks(body, key, expectedLength), { objectMode: false });
}

/** The message of any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
