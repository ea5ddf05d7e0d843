import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { ZstdCompressor, ZstdDecompressor } from './zstd-context.ts';

const text = (bytes: number, seed: number): Buffer => {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'theta', 'kappa'];
  let s = '';
  let x = seed;
  while (s.length < bytes) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += `${words[x % words.length]}${x % 97} `;
  }
  return Buffer.from(s.slice(0, bytes));
};

for (const reuse of [true, false]) {
  describe(`zstd contexts (${reuse ? 'reused native context' : 'one-shot fallback'})`, () => {
    it('writes the frames zstdCompressSync writes, and reads them back, over many inputs', () => {
      const compressor = new ZstdCompressor(3, { reuse });
      const decompressor = new ZstdDecompressor({ reuse });
      const out = Buffer.alloc(300 * 1024);
      const back = Buffer.alloc(300 * 1024);
      for (const [i, size] of [64, 1000, 43_000, 65_536, 256 * 1024, 70, 5].entries()) {
        const input = text(size, i);
        const n = compressor.compressInto(input, out.subarray(0, input.length - 1));
        const expected = zlib.zstdCompressSync(input, {
          params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 },
        });
        if (expected.length >= input.length) {
          assert.equal(n, -1, `size ${size}: does not shrink`);
          continue;
        }
        assert.equal(n, expected.length, `size ${size}`);
        assert.deepEqual(out.subarray(0, n), expected, `size ${size}: the same frame`);
        const m = decompressor.decompressInto(out.subarray(0, n), back.subarray(0, size + 1));
        assert.equal(m, size);
        assert.deepEqual(back.subarray(0, m), input);
      }
    });

    it('reports "does not fit" for incompressible data and keeps working after it', () => {
      const compressor = new ZstdCompressor(1, { reuse });
      const random = randomBytes(50_000);
      const out = Buffer.alloc(60_000);
      assert.equal(compressor.compressInto(random, out.subarray(0, random.length - 1)), -1);
      const input = text(50_000, 7);
      const n = compressor.compressInto(input, out.subarray(0, input.length - 1));
      assert.ok(n > 0 && n < input.length);
      assert.deepEqual(zlib.zstdDecompressSync(out.subarray(0, n)), input);
    });

    it('throws on input that is not zstd, on content longer than expected, and recovers', () => {
      const decompressor = new ZstdDecompressor({ reuse });
      const input = text(40_000, 3);
      const frame = zlib.zstdCompressSync(input);
      const out = Buffer.alloc(50_000);
      assert.throws(() => decompressor.decompressInto(randomBytes(1000), out));
      assert.throws(
        () => decompressor.decompressInto(frame, out.subarray(0, 39_999)),
        /longer|exceed|Cannot create/i,
      );
      // A truncated frame is an error too, and leaves nothing behind for the next call.
      assert.throws(
        () => decompressor.decompressInto(frame.subarray(0, frame.length >> 1), out),
        /end of file/,
      );
      assert.equal(decompressor.decompressInto(frame, out), input.length);
      assert.deepEqual(out.subarray(0, input.length), input);
    });
  });
}
