import { Transform } from 'node:stream';

/**
 * Gathers small writes into chunks of at least `bytes` before passing them on.
 * zlib streams hand every write to the thread pool: a backup writes a 512-byte
 * tar header and a small JSON body per object, and feeding those to zstd one by
 * one cost ~5× the CPU of feeding the same bytes in 256 KiB pieces (measured by
 * the resources benchmark). Output bytes are identical.
 */
export function coalesce(bytes = 256 * 1024): Transform {
  let pending: Buffer[] = [];
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending.push(chunk);
      size += chunk.length;
      if (size < bytes) return done();
      const out = Buffer.concat(pending, size);
      pending = [];
      size = 0;
      done(null, out);
    },
    flush(done) {
      done(null, size > 0 ? Buffer.concat(pending, size) : undefined);
    },
  });
}
