/**
 * The behaviour suite every BlobStore backend must pass (after kopia's
 * `blobtesting.VerifyStorage`). Each backend's test file calls
 * {@link describeBlobStoreConformance} with a factory; the suite checks every
 * guarantee promised in `blob-store.ts`. It lives beside the interface, not in
 * `test/`, because a new backend is not done until it runs this.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { StorageError } from '../errors/storage-error.ts';
import { pseudoRandomStream } from '../util/pseudo-random.ts';
import { type BlobInfo, type BlobStore, compareKeys } from './blob-store.ts';
import { FaultyBlobStore } from './wrappers/faulty-store.ts';

export interface ConformanceOptions {
  /** Whether memory must stay bounded while streaming (false for the in-memory backend). */
  readonly boundedMemory: boolean;
  /** Size of the large streamed object (default 200 MiB). */
  readonly largeObjectBytes?: number;
  /** How far Buffer memory may grow while streaming the large object (default 128 MiB). */
  readonly memoryBudgetBytes?: number;
  /** Extra check after a failed put, e.g. "no multipart upload left" for S3 or "no temp file" for disks. */
  readonly assertNoLeftovers?: (store: BlobStore, prefix: string) => Promise<void>;
}

export interface ConformanceTarget {
  readonly store: BlobStore;
  /** Removes whatever the suite created. */
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: hash.digest('hex'), size };
}

async function collect(listing: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const info of listing) out.push(info);
  return out;
}

async function rejectsWith(promise: Promise<unknown>, failure: string): Promise<StorageError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof StorageError, `expected a StorageError, got ${String(err)}`);
    assert.equal(err.failure, failure, `expected failure ${failure}, got ${err.failure}: ${err.message}`);
    return err;
  }
  assert.fail(`expected a ${failure} failure, but the call succeeded`);
}

/** Runs `work` while sampling Buffer memory; returns the peak growth over the starting level. */
async function peakBufferGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const start = process.memoryUsage().arrayBuffers;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }, 20);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    return { result, growth: peak - start };
  } finally {
    clearInterval(timer);
  }
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/** Registers the whole suite under `describe(name)`. */
export function describeBlobStoreConformance(
  name: string,
  open: () => Promise<ConformanceTarget>,
  options: ConformanceOptions,
): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let store: BlobStore;
    // A fresh prefix per run, so a shared bucket or folder never mixes runs.
    const run = `conformance-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const k = (key: string) => `${run}/${key}`;

    before(async () => {
      target = await open();
      store = target.store;
    });
    after(async () => {
      await target?.cleanup();
    });

    it('reports an absent key as not-found on get/getStream, undefined on stat', async () => {
      await rejectsWith(store.get(k('absent/key')), 'not-found');
      await rejectsWith(store.getStream(k('absent/key')), 'not-found');
      assert.equal(await store.stat(k('absent/key')), undefined);
      assert.deepEqual(await collect(store.list(k('absent/'))), []);
    });

    it('puts, gets, stats and overwrites', async () => {
      const before = Date.now();
      const info = await store.put(k('rw/object.json'), '{"v":1}');
      assert.equal(info.key, k('rw/object.json'));
      assert.equal(info.size, 7);
      assert.equal((await store.get(k('rw/object.json'))).toString(), '{"v":1}');
      const stat = await store.stat(k('rw/object.json'));
      assert.ok(stat);
      assert.equal(stat.size, 7);
      // Clocks of a remote server may differ a little; a minute either way is plenty.
      assert.ok(
        Math.abs(stat.modified.getTime() - before) < 60_000,
        `modified ${stat.modified.toISOString()}`,
      );

      await store.put(k('rw/object.json'), Buffer.from('{"v":2,"longer":true}'));
      assert.equal((await store.get(k('rw/object.json'))).toString(), '{"v":2,"longer":true}');
      assert.equal((await store.stat(k('rw/object.json')))?.size, 21);
    });

    it('stores an empty object and binary data exactly', async () => {
      await store.put(k('rw/empty'), Buffer.alloc(0));
      assert.equal((await store.get(k('rw/empty'))).length, 0);
      assert.equal((await store.stat(k('rw/empty')))?.size, 0);
      const binary = randomBytes(70_000);
      await store.put(k('rw/binary'), binary);
      assert.deepEqual(await store.get(k('rw/binary')), binary);
    });

    it('reads exact byte ranges, clips a long range and rejects one past the end', async () => {
      const data = randomBytes(1000);
      await store.put(k('range/blob'), data);
      assert.deepEqual(await store.get(k('range/blob'), { offset: 10, length: 20 }), data.subarray(10, 30));
      assert.deepEqual(await store.get(k('range/blob'), { offset: 990 }), data.subarray(990));
      assert.deepEqual(await store.get(k('range/blob'), { offset: 995, length: 100 }), data.subarray(995));
      assert.deepEqual(await store.get(k('range/blob'), { offset: 0, length: 1 }), data.subarray(0, 1));
      assert.equal((await store.get(k('range/blob'), { offset: 5, length: 0 })).length, 0);
      await rejectsWith(store.get(k('range/blob'), { offset: 1000 }), 'invalid');
      await rejectsWith(store.get(k('range/blob'), { offset: -1 }), 'invalid');
      const streamed = await sha256Of(await store.getStream(k('range/blob'), { offset: 100, length: 400 }));
      assert.equal(streamed.size, 400);
      assert.equal(streamed.digest, createHash('sha256').update(data.subarray(100, 500)).digest('hex'));
      await rejectsWith(store.get(k('range/absent'), { offset: 0, length: 0 }), 'not-found');
    });

    it('lists ≥ 2,500 keys completely, once each, in UTF-8 byte order, by any string prefix', async () => {
      const keys: string[] = [];
      for (let i = 0; i < 2_600; i++) keys.push(k(`many/item-${String(i).padStart(5, '0')}`));
      const odd = [
        'many/with space/a b.txt',
        'many/ünïcödé/日本語.json',
        'many/emoji-🙂',
        'many/a-b',
        'many/a/b',
        'many/a.b',
        'many/Z-upper',
        'many/plus+and=equals&amp',
      ].map(k);
      keys.push(...odd);
      await mapLimit(keys, 32, (key) => store.put(key, key));

      const all = await collect(store.list(k('many/')));
      const expected = [...keys].sort(compareKeys);
      assert.equal(all.length, expected.length);
      assert.deepEqual(
        all.map((i) => i.key),
        expected,
      );
      const spaced = all.find((i) => i.key === k('many/with space/a b.txt'));
      assert.equal(spaced?.size, Buffer.byteLength(k('many/with space/a b.txt')));

      // A prefix that ends inside a segment, as S3 allows.
      const partial = await collect(store.list(k('many/item-001')));
      assert.equal(partial.length, 100);
      assert.ok(partial.every((i) => i.key.startsWith(k('many/item-001'))));

      // Resuming a listing after a key yields exactly the rest.
      const resumeAfter = expected[1_234] as string;
      const rest = await collect(store.list(k('many/'), { startAfter: resumeAfter }));
      assert.deepEqual(
        rest.map((i) => i.key),
        expected.slice(1_235),
      );

      assert.equal(
        (await store.get(k('many/ünïcödé/日本語.json'))).toString(),
        k('many/ünïcödé/日本語.json'),
      );
      await mapLimit(keys, 32, (key) => store.delete(key));
      assert.deepEqual(await collect(store.list(k('many/'))), []);
    });

    it('deletes idempotently', async () => {
      await store.put(k('del/one'), 'x');
      await store.delete(k('del/one'));
      await store.delete(k('del/one'));
      await store.delete(k('del/never-existed'));
      await rejectsWith(store.get(k('del/one')), 'not-found');
      assert.equal(await store.stat(k('del/one')), undefined);
      assert.deepEqual(await collect(store.list(k('del/'))), []);
    });

    it('rejects malformed keys before touching the backend', async () => {
      for (const bad of [
        '',
        '/leading',
        'double//slash',
        '../escape',
        'a/./b',
        'trailing/',
        'nul\u0000byte',
      ]) {
        await rejectsWith(store.put(bad, 'x'), 'invalid');
        await rejectsWith(store.get(bad), 'invalid');
      }
    });

    const large = options.largeObjectBytes ?? 200 * MiB;
    it(`streams a ${Math.round(large / MiB)} MiB object of unknown length up and back, SHA-256 equal${options.boundedMemory ? ', with bounded memory' : ''}`, async (t) => {
      const expected = await sha256Of(pseudoRandomStream(large, run));
      const { growth: upGrowth } = await peakBufferGrowth(() =>
        store.put(k('large/object.bin'), pseudoRandomStream(large, run)),
      );
      assert.equal((await store.stat(k('large/object.bin')))?.size, large);
      const { result: readBack, growth: downGrowth } = await peakBufferGrowth(async () =>
        sha256Of(await store.getStream(k('large/object.bin'))),
      );
      assert.equal(readBack.size, large);
      assert.equal(readBack.digest, expected.digest);
      t.diagnostic(
        `Buffer memory growth: upload ${Math.round(upGrowth / MiB)} MiB, download ${Math.round(downGrowth / MiB)} MiB`,
      );
      if (options.boundedMemory) {
        const budget = options.memoryBudgetBytes ?? 128 * MiB;
        assert.ok(upGrowth < budget, `upload grew Buffer memory by ${Math.round(upGrowth / MiB)} MiB`);
        assert.ok(downGrowth < budget, `download grew Buffer memory by ${Math.round(downGrowth / MiB)} MiB`);
      }
      await store.delete(k('large/object.bin'));
    });

    it('streams a body of known length, and refuses one that is shorter or longer than promised', async () => {
      const size = 20 * MiB + 123;
      const expected = await sha256Of(pseudoRandomStream(size, `${run}-known`));
      await store.put(k('known/exact.bin'), pseudoRandomStream(size, `${run}-known`), { length: size });
      assert.equal((await sha256Of(await store.getStream(k('known/exact.bin')))).digest, expected.digest);

      await rejectsWith(
        store.put(k('known/short.bin'), pseudoRandomStream(1000, run), { length: 2000 }),
        'source-failed',
      );
      await rejectsWith(
        store.put(k('known/long.bin'), pseudoRandomStream(3000, run), { length: 2000 }),
        'source-failed',
      );
      await rejectsWith(store.put(k('known/buffer.bin'), Buffer.alloc(10), { length: 11 }), 'source-failed');
      for (const key of ['known/short.bin', 'known/long.bin', 'known/buffer.bin']) {
        assert.equal(await store.stat(k(key)), undefined, `${key} must not be visible`);
      }
      await options.assertNoLeftovers?.(store, k('known/'));
    });

    it('keeps concurrent puts atomic: each key ends up whole, with one writer’s content', async () => {
      const distinct = Array.from({ length: 48 }, (_, i) => i);
      await Promise.all(
        distinct.map((i) => store.put(k(`concurrent/key-${i}`), Buffer.alloc(64 * 1024 + i, i))),
      );
      for (const i of distinct) {
        const data = await store.get(k(`concurrent/key-${i}`));
        assert.equal(data.length, 64 * 1024 + i);
        assert.ok(data.every((b) => b === i));
      }
      const writers = Array.from({ length: 12 }, (_, i) => i + 1);
      await Promise.all(
        writers.map((i) =>
          store.put(k('concurrent/same'), pseudoRandomStream(256 * 1024, `w${i}`, 16 * 1024)),
        ),
      );
      const final = await sha256Of(await store.getStream(k('concurrent/same')));
      const candidates = await Promise.all(
        writers.map((i) => sha256Of(pseudoRandomStream(256 * 1024, `w${i}`))),
      );
      assert.ok(
        candidates.some((c) => c.digest === final.digest),
        'the final object must be exactly one writer’s content',
      );
      const listed = await collect(store.list(k('concurrent/')));
      assert.equal(listed.length, 49, 'no temporary names may show in a listing');
    });

    it('leaves nothing visible when a put fails mid-stream, and keeps the previous object', async () => {
      const faulty = new FaultyBlobStore(store);
      // Fail after 12 MiB: past the first multipart part on S3, deep into the temp file on disks.
      faulty.inject({ operation: 'put', failure: 'transient', afterBytes: 12 * MiB, times: 1 });
      await rejectsWith(faulty.put(k('failed/new.bin'), pseudoRandomStream(30 * MiB, run)), 'transient');
      assert.equal(await store.stat(k('failed/new.bin')), undefined);
      await rejectsWith(store.get(k('failed/new.bin')), 'not-found');

      await store.put(k('failed/existing.bin'), 'previous content');
      faulty.inject({ operation: 'put', failure: 'transient', afterBytes: 1 * MiB, times: 1 });
      await rejectsWith(faulty.put(k('failed/existing.bin'), pseudoRandomStream(4 * MiB, run)), 'transient');
      assert.equal((await store.get(k('failed/existing.bin'))).toString(), 'previous content');

      const listed = await collect(store.list(k('failed/')));
      assert.deepEqual(
        listed.map((i) => i.key),
        [k('failed/existing.bin')],
      );
      await options.assertNoLeftovers?.(store, k('failed/'));
    });
  });
}
