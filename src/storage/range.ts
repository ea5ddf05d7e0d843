import { StorageError } from '../errors/storage-error.ts';
import type { ByteRange } from './blob-store.ts';

/**
 * Checks a range against an object's size and returns the absolute
 * `[start, endExclusive)` it covers. A range that starts at or past the end of
 * a non-empty object, or a negative/non-integer one, is the caller's mistake
 * (`invalid`); a length running past the end is clipped, as S3 does.
 */
export function resolveRange(size: number, range: ByteRange | undefined, key: string): [number, number] {
  if (range === undefined) return [0, size];
  const { offset, length } = range;
  const badNumber = (n: number) => !Number.isSafeInteger(n) || n < 0;
  if (badNumber(offset) || (length !== undefined && badNumber(length))) {
    throw new StorageError('invalid', `invalid range ${JSON.stringify(range)} for "${key}"`, { key });
  }
  if (offset >= size && !(offset === 0 && size === 0)) {
    throw new StorageError('invalid', `range starts at ${offset} but "${key}" has only ${size} bytes`, {
      key,
    });
  }
  const end = length === undefined ? size : Math.min(size, offset + length);
  return [offset, end];
}

/** The bytes of `data` covered by `range` (a view, not a copy). */
export function sliceRange(data: Buffer, range: ByteRange | undefined, key: string): Buffer {
  const [start, end] = resolveRange(data.length, range, key);
  return data.subarray(start, end);
}
