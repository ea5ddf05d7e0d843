import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { pseudoRandomStream } from '../util/pseudo-random.ts';
import { Chunker, gearTable } from './chunker.ts';
import { type ChunkerParams, DEFAULT_CHUNKER } from './format.ts';

const SMALL: ChunkerParams = { algorithm: 'fastcdc-gear32-v1', minSize: 2048, avgSize: 8192, maxSize: 65536 };
const gear = gearTable(Buffer.from('test seed'));

async function pseudoRandom(bytes: number, seed: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of pseudoRandomStream(bytes, seed)) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function lengths(chunker: Chunker, data: Uint8Array): number[] {
  return [...chunker.chunks(data)].map((c) => c.length);
}

function digests(chunker: Chunker, data: Uint8Array): string[] {
  return [...chunker.chunks(data)].map((c) => createHash('sha256').update(c).digest('hex'));
}

describe('FastCDC chunker', () => {
  it('cuts deterministically, covers the input exactly and respects min/max', async () => {
    const data = await pseudoRandom(4 * 1024 * 1024, 'det');
    const chunker = new Chunker(SMALL, gear);
    const a = lengths(chunker, data);
    assert.deepEqual(a, lengths(new Chunker(SMALL, gearTable(Buffer.from('test seed'))), data));
    assert.equal(
      a.reduce((s, n) => s + n, 0),
      data.length,
    );
    for (const n of a.slice(0, -1)) {
      assert.ok(n >= SMALL.minSize && n <= SMALL.maxSize, `chunk of ${n} bytes`);
    }
    const mean = data.length / a.length;
    assert.ok(mean > SMALL.avgSize * 0.7 && mean < SMALL.avgSize * 1.6, `mean chunk ${mean}`);
    // Another key gives other boundaries: sizes do not fingerprint plaintext across repositories.
    assert.notDeepEqual(a, lengths(new Chunker(SMALL, gearTable(Buffer.from('other seed'))), data));
  });

  it('cuts a run of one byte value (a constant hash) within the bounds', () => {
    const chunker = new Chunker(SMALL, gear);
    const zeros = new Uint8Array(SMALL.maxSize * 3 + 100);
    const got = lengths(chunker, zeros);
    // The gear hash of a run of one byte value is constant; whether it matches the mask depends on the table,
    // so only the bounds are certain.
    for (const n of got.slice(0, -1)) assert.ok(n >= SMALL.minSize && n <= SMALL.maxSize);
    assert.equal(
      got.reduce((s, n) => s + n, 0),
      zeros.length,
    );
  });

  it('is shift-resistant: inserting bytes at the front changes only the first chunks', async () => {
    const data = await pseudoRandom(4 * 1024 * 1024, 'shift');
    const chunker = new Chunker(SMALL, gear);
    const before = digests(chunker, data);
    const shifted = Buffer.concat([randomBytes(777), data]);
    const after = new Set(digests(chunker, shifted));
    const kept = before.filter((d) => after.has(d)).length;
    assert.ok(kept >= before.length - 3, `${kept} of ${before.length} chunks unchanged`);
    // And an edit in the middle changes only chunks near it.
    const edited = Buffer.from(data);
    edited.fill(0x55, 2_000_000, 2_000_100);
    const afterEdit = new Set(digests(chunker, edited));
    const keptEdit = before.filter((d) => afterEdit.has(d)).length;
    assert.ok(keptEdit >= before.length - 3, `${keptEdit} of ${before.length} chunks unchanged`);
  });

  it('gives the same chunks from a stream of any block size as from one buffer', async () => {
    const data = await pseudoRandom(1024 * 1024 + 12345, 'stream');
    const chunker = new Chunker(SMALL, gear);
    const whole = digests(chunker, data);
    for (const block of [1000, 65536, 70001, 1 << 20]) {
      async function* blocks() {
        for (let i = 0; i < data.length; i += block) yield data.subarray(i, i + block);
      }
      const streamed: string[] = [];
      for await (const c of chunker.chunkStream(blocks())) {
        streamed.push(createHash('sha256').update(c).digest('hex'));
      }
      assert.deepEqual(streamed, whole, `block size ${block}`);
    }
  });

  it('gives the same chunks from a file read through a window, whatever the size hint and read sizes', async () => {
    // Zeros have no cut points: maxSize chunks, so the window grows to its full size.
    const data = Buffer.concat([await pseudoRandom(300_000 + 777, 'file'), Buffer.alloc(200_000)]);
    const chunker = new Chunker(SMALL, gear);
    const whole = digests(chunker, data);
    for (const [hint, maxRead] of [
      [data.length, 1 << 30],
      [0, 1 << 30],
      [1000, 5000],
      [data.length * 2, 333],
    ] as const) {
      let at = 0;
      const read = async (target: Buffer, offset: number, length: number) => {
        const n = Math.min(length, maxRead, data.length - at);
        data.copy(target, offset, at, at + n);
        at += n;
        return n;
      };
      const got: string[] = [];
      for await (const group of chunker.chunkGroups(read, hint))
        for (const c of group) got.push(createHash('sha256').update(c).digest('hex'));
      assert.deepEqual(got, whole, `hint ${hint}, reads of ${maxRead}`);
    }
  });

  it('cuts a prefix where the whole input would, or asks for more bytes', async () => {
    const chunker = new Chunker(SMALL, gear);
    // Text-like and constant runs too, so both masks and the forced maxSize cut occur.
    const data = Buffer.concat([await pseudoRandom(200_000, 'prefix'), Buffer.alloc(150_000, 7)]);
    let start = 0;
    let asked = 0;
    while (start < data.length) {
      const whole = chunker.cut(data, start, data.length);
      for (let end = start; end <= Math.min(data.length - 1, start + SMALL.maxSize + 10); end += 97) {
        const n = chunker.cut(data, start, end, false);
        if (n < 0) asked++;
        else assert.equal(n, whole, `chunk at ${start}, ${end - start} bytes seen`);
        assert.ok(n < 0 || n <= end - start, 'never beyond what it saw');
      }
      assert.equal(
        chunker.cut(data, start, start + whole - 1, false),
        -1,
        'one byte short of the cut: undecided',
      );
      start += whole;
    }
    assert.ok(asked > 0);
  });

  it('cuts exactly where the plain byte-at-a-time FastCDC loop cuts (the format: boundaries must never move)', async () => {
    // The definition, written as simply as possible; cut() is an optimised version of it.
    const reference = (params: ChunkerParams, table: Int32Array, data: Uint8Array, start: number): number => {
      const { minSize, avgSize, maxSize } = params;
      const bits = Math.log2(avgSize);
      const top = (b: number) => ~((1 << (32 - b)) - 1) | 0;
      if (data.length - start <= minSize) return data.length - start;
      let h = 0;
      for (let i = start + minSize - 32; i < Math.min(data.length, start + maxSize); i++) {
        h = ((h << 1) + (table[data[i] as number] as number)) | 0;
        if (i < start + minSize) continue;
        if ((h & top(i - start < avgSize ? bits + 2 : bits - 2)) === 0) return i + 1 - start;
      }
      return Math.min(data.length - start, maxSize);
    };
    const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(30_000));
    for (const [params, data] of [
      [SMALL, await pseudoRandom(3_000_000, 'ref')],
      [
        SMALL,
        Buffer.concat([text.subarray(0, 500_000), Buffer.alloc(300_000), await pseudoRandom(77_777, 'tail')]),
      ],
      [DEFAULT_CHUNKER, await pseudoRandom(24 * 1024 * 1024, 'ref-default')],
    ] as const) {
      const chunker = new Chunker(params, gear);
      let start = 0;
      let chunks = 0;
      while (start < data.length) {
        const n = chunker.cut(data, start, data.length);
        assert.equal(n, reference(params, gear, data, start), `chunk ${chunks} at ${start}`);
        start += n;
        chunks++;
      }
      assert.ok(chunks > 3);
    }
  });

  it('handles empty input, inputs shorter than minSize and exactly at the bounds', () => {
    const chunker = new Chunker(SMALL, gear);
    assert.deepEqual(lengths(chunker, new Uint8Array(0)), []);
    assert.deepEqual(lengths(chunker, new Uint8Array(100)), [100]);
    assert.deepEqual(lengths(chunker, new Uint8Array(SMALL.minSize)), [SMALL.minSize]);
  });

  it('rejects parameters it cannot honour', () => {
    assert.throws(() => new Chunker({ ...SMALL, avgSize: 10000 }, gear), /unsupported chunker parameters/);
    assert.throws(() => new Chunker({ ...SMALL, minSize: 9000 }, gear), /unsupported chunker parameters/);
    assert.doesNotThrow(() => new Chunker(DEFAULT_CHUNKER, gear));
  });
});
