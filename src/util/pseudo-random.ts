import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (AES-CTR keystream): fast, and the same for the same seed. */
export function pseudoRandomStream(totalBytes: number, seed: string, chunkBytes = MiB): Readable {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(chunkBytes);
  let left = totalBytes;
  return new Readable({
    highWaterMark: chunkBytes,
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkBytes, left);
      left -= n;
      this.push(cipher.update(zeros.subarray(0, n)));
    },
  });
}
