import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { StorageError } from '../../errors/storage-error.ts';
import { MemoryBlobStore } from '../memory/memory-store.ts';
import { FaultyBlobStore } from './faulty-store.ts';
import { ReadOnlyBlobStore } from './read-only-store.ts';
import { RetryingBlobStore } from './retrying-store.ts';

function setup(policy = {}) {
  const memory = new MemoryBlobStore();
  const faulty = new FaultyBlobStore(memory);
  const delays: number[] = [];
  const store = new RetryingBlobStore(faulty, policy, {
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: () => 0.5,
  });
  return { memory, faulty, store, delays };
}

describe('RetryingBlobStore', () => {
  it('retries transient failures with exponential backoff and full jitter, then succeeds', async () => {
    const { memory, faulty, store, delays } = setup({ baseDelayMs: 100 });
    await memory.put('a', 'value');
    faulty.inject({ operation: 'get', failure: 'transient', times: 3 });
    assert.equal((await store.get('a')).toString(), 'value');
    assert.equal(faulty.calls.get, 4);
    // random() = 0.5 of a ceiling that doubles: 100, 200, 400.
    assert.deepEqual(delays, [50, 100, 200]);
  });

  it('gives up after maxAttempts and surfaces the last error', async () => {
    const { faulty, store } = setup({ maxAttempts: 3 });
    faulty.inject({ operation: 'stat', failure: 'transient' });
    await assert.rejects(
      store.stat('a'),
      (err: unknown) => err instanceof StorageError && err.failure === 'transient',
    );
    assert.equal(faulty.calls.stat, 3);
  });

  it('caps each delay at maxDelayMs', async () => {
    const { faulty, store, delays } = setup({ maxAttempts: 8, baseDelayMs: 1000, maxDelayMs: 3000 });
    faulty.inject({ operation: 'delete', failure: 'transient', times: 7 });
    await store.delete('x');
    assert.ok(delays.every((d) => d <= 1500));
    assert.equal(delays.at(-1), 1500);
  });

  for (const failure of ['not-found', 'access-denied', 'bucket-missing', 'invalid', 'read-only'] as const) {
    it(`never retries ${failure}`, async () => {
      const { faulty, store } = setup();
      faulty.inject({ operation: 'get', failure });
      await assert.rejects(
        store.get('a'),
        (err: unknown) => err instanceof StorageError && err.failure === failure,
      );
      assert.equal(faulty.calls.get, 1);
    });
  }

  it('tries unreachable endpoints only maxUnreachableAttempts times', async () => {
    const { faulty, store } = setup({ maxUnreachableAttempts: 2 });
    faulty.inject({ operation: 'get', failure: 'unreachable' });
    await assert.rejects(store.get('a'), /unreachable/);
    assert.equal(faulty.calls.get, 2);
  });

  it('retries in-memory puts but sends a stream only once (it cannot be replayed)', async () => {
    const { memory, faulty, store } = setup();
    faulty.inject({ operation: 'put', failure: 'transient', times: 1 });
    await store.put('buffered', 'abc');
    assert.equal((await memory.get('buffered')).toString(), 'abc');
    assert.equal(faulty.calls.put, 2);

    faulty.inject({ operation: 'put', failure: 'transient', times: 1 });
    await assert.rejects(store.put('streamed', Readable.from([Buffer.from('abc')])), /transient/);
    assert.equal(faulty.calls.put, 3);
    assert.equal(await memory.stat('streamed'), undefined);
  });

  it('resumes a listing that fails midway without yielding any key twice', async () => {
    const { memory, faulty, store } = setup();
    for (let i = 0; i < 10; i++) await memory.put(`p/${i}`, String(i));
    faulty.inject({ operation: 'list', failure: 'transient', afterItems: 4, times: 1 });
    const keys: string[] = [];
    for await (const info of store.list('p/')) keys.push(info.key);
    assert.deepEqual(
      keys,
      Array.from({ length: 10 }, (_, i) => `p/${i}`),
    );
    assert.equal(faulty.calls.list, 2);
  });
});

describe('ReadOnlyBlobStore', () => {
  it('reads through and refuses writes and deletes without touching the backend', async () => {
    const memory = new MemoryBlobStore();
    await memory.put('k', 'v');
    const faulty = new FaultyBlobStore(memory);
    const store = new ReadOnlyBlobStore(faulty);
    assert.equal((await store.get('k')).toString(), 'v');
    assert.equal((await store.stat('k'))?.size, 1);
    await assert.rejects(
      store.put('k', 'w'),
      (err: unknown) => err instanceof StorageError && err.failure === 'read-only',
    );
    await assert.rejects(
      store.delete('k'),
      (err: unknown) => err instanceof StorageError && err.code === 'STORAGE_READ_ONLY',
    );
    assert.equal(faulty.calls.put + faulty.calls.delete, 0);
    assert.equal((await memory.get('k')).toString(), 'v');
  });
});
