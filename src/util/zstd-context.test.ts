import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { ZstdCompressor, ZstdDecompressor, zstdBound, zstdFrameLength } from './zstd-context.ts';

/** Text-like bytes: words and numbers from a seeded generator (compresses ~3×, like the benchmark's text files). */
const text = (bytes: number, seed: number): Buffer => {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'theta', 'kappa'];
  let s = '';
  let x = seed;
  while (s.length < bytes) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += `${words[x % words.length]}${x % 997} `;
  }
  return Buffer.from(s.slice(0, bytes));
};

const sync = (input: Uint8Array, level: number) =>
  zlib.zstdCompressSync(input, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });

// Sizes around the ones where zstd ends a frame in a call of its own (seen at 52 KiB), block
// and buffer sizes, tiny inputs; levels 1 and 3.
const SIZES = [64, 1000, 16_383, 16_384, 16_385, 43_000, 52_686, 65_536, 131_072, 131_073, 256 * 1024, 70, 5];

for (const reuse of [true, false]) {
  describe(`zstd contexts (${reuse ? 'reused native context' : 'one-shot fallback'})`, () => {
    it('writes frames that zstdCompressSync reads back, and reads zstdCompressSync frames, one context for all', () => {
      for (const level of [1, 3]) {
        const compressor = new ZstdCompressor(level, { reuse });
        const decompressor = new ZstdDecompressor({ reuse });
        const out = Buffer.alloc(zstdBound(300 * 1024));
        const back = Buffer.alloc(300 * 1024);
        for (const [i, size] of [...SIZES, ...SIZES].entries()) {
          const input = i % 3 === 2 ? randomBytes(size) : text(size, i);
          const n = compressor.compressInto(input, out);
          assert.equal(zstdFrameLength(out, n), n, `level ${level}, ${size} bytes: one whole frame`);
          assert.deepEqual(
            zlib.zstdDecompressSync(out.subarray(0, n)),
            input,
            `level ${level}, ${size} bytes`,
          );
          // Same level, same input: no bigger than the one-shot call's frame.
          assert.ok(n <= sync(input, level).length + 16, `level ${level}, ${size} bytes: ${n} bytes`);
          const theirs = sync(input, level);
          const m = decompressor.decompressInto(theirs, back.subarray(0, size + 1));
          assert.equal(m, size);
          assert.deepEqual(back.subarray(0, m), input);
        }
      }
    });

    it('round-trips many text-like inputs of every size through one pair of contexts', () => {
      const compressor = new ZstdCompressor(1, { reuse });
      const decompressor = new ZstdDecompressor({ reuse });
      const out = Buffer.alloc(zstdBound(70_000));
      const back = Buffer.alloc(70_001);
      for (let i = 0; i < 400; i++) {
        const size = 64 + ((i * 7919) % 65_000);
        const input = text(size, i * 31);
        const n = compressor.compressInto(input, out);
        assert.equal(decompressor.decompressInto(out.subarray(0, n), back.subarray(0, size + 1)), size);
        assert.ok(back.subarray(0, size).equals(input), `input ${i} (${size} bytes)`);
      }
    });

    it('refuses an output buffer below the bound', () => {
      const compressor = new ZstdCompressor(1, { reuse });
      assert.throws(() => compressor.compressInto(text(1000, 1), Buffer.alloc(1000)), /below the bound/);
    });

    it('throws on input that is not zstd, content longer than expected or a truncated frame, and recovers', () => {
      const decompressor = new ZstdDecompressor({ reuse });
      const input = text(40_000, 3);
      const frame = sync(input, 1);
      const out = Buffer.alloc(50_000);
      assert.throws(() => decompressor.decompressInto(randomBytes(1000), out));
      assert.throws(
        () => decompressor.decompressInto(frame, out.subarray(0, 40_000)),
        /longer|exceed|Cannot create/i,
      );
      assert.throws(
        () => decompressor.decompressInto(frame.subarray(0, frame.length >> 1), out),
        /end of file/,
      );
      assert.equal(decompressor.decompressInto(frame, out), input.length);
      assert.deepEqual(out.subarray(0, input.length), input);
    });

    it('reads a frame followed by the empty frame zstdCompressSync appends at a multiple of 16 KiB', () => {
      // zstdCompressSync's output for such inputs: the whole frame, then a 9-byte empty one
      // (Node calls zstd once more when the frame filled its 16 KiB output chunk exactly).
      const decompressor = new ZstdDecompressor({ reuse });
      const input = text(52_686, 11);
      const empty = sync(Buffer.alloc(0), 1);
      assert.equal(empty.length, 9);
      const frames = Buffer.concat([sync(input, 1), empty]);
      const out = Buffer.alloc(input.length + 1);
      assert.equal(decompressor.decompressInto(frames, out), input.length);
      assert.deepEqual(out.subarray(0, input.length), input);
      assert.equal(
        decompressor.decompressInto(sync(input, 1), out),
        input.length,
        'and the next frame alone',
      );
    });
  });
}

describe('zstdFrameLength', () => {
  it('finds the end of whole frames and says -1 for every proper prefix', () => {
    for (const input of [text(52_686, 5), randomBytes(3000), Buffer.alloc(200_000, 9), Buffer.alloc(0)]) {
      for (const checksum of [false, true]) {
        const frame = zlib.zstdCompressSync(input, {
          params: { [zlib.constants.ZSTD_c_checksumFlag]: checksum ? 1 : 0 },
        });
        const padded = Buffer.concat([frame, Buffer.from('trailing bytes')]);
        assert.equal(zstdFrameLength(padded, padded.length), frame.length);
        for (let end = 0; end < frame.length; end += Math.max(1, frame.length >> 6))
          assert.equal(zstdFrameLength(frame, end), -1, `prefix of ${end} of ${frame.length}`);
        assert.equal(zstdFrameLength(frame, frame.length - 1), -1);
      }
    }
    assert.throws(() => zstdFrameLength(Buffer.from('not zstd at all'), 15), /not a zstd frame/);
  });
});
