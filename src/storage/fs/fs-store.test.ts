import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { StorageError } from '../../errors/storage-error.ts';
import { readRange, TEMP_FILE_MARKER } from '../blob-store.ts';
import { describeBlobStoreConformance } from '../conformance.ts';
import { MemoryBlobStore } from '../memory/memory-store.ts';
import { ReadOnlyBlobStore } from '../wrappers/read-only-store.ts';
import { RetryingBlobStore } from '../wrappers/retrying-store.ts';
import { FileSystemBlobStore } from './fs-store.ts';

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => []);
  return entries.map(String);
}

describeBlobStoreConformance(
  'filesystem',
  async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'cairn-fs-conformance-'));
    const store = new FileSystemBlobStore(root);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await rm(root, { recursive: true, force: true });
      },
    };
  },
  {
    boundedMemory: true,
    assertNoLeftovers: async (store, prefix) => {
      const root = (store as FileSystemBlobStore).root;
      const temps = (await filesUnder(path.join(root, prefix))).filter((f) => f.includes(TEMP_FILE_MARKER));
      assert.deepEqual(temps, [], 'a failed put must remove its temp file');
    },
  },
);

describe('filesystem backend specifics', () => {
  it('never recreates a missing root (an unmounted share): puts fail with bucket-missing', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'cairn-fs-root-'));
    const root = path.join(parent, 'mount-point');
    const store = new FileSystemBlobStore(root);
    await assert.rejects(
      store.put('backups/a/manifest.json', '{}'),
      (e: unknown) => e instanceof StorageError && e.failure === 'bucket-missing',
    );
    await assert.rejects(
      store.get('backups/a/manifest.json'),
      (e: unknown) => e instanceof StorageError && e.failure === 'bucket-missing',
    );
    assert.deepEqual(await readdir(parent), [], 'nothing was created');
    await store.ensureRoot();
    await store.put('backups/a/manifest.json', '{}');
    await store.delete('backups/a/manifest.json');
    assert.deepEqual(await readdir(root), [], 'emptied folders are pruned up to the root');
    await rm(parent, { recursive: true, force: true });
  });

  it('stages a write in a temp file and commits it by a rename: invisible until then, nothing left after', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'cairn-fs-stage-'));
    const store = new FileSystemBlobStore(root);
    const staged = await store.stage();
    await staged.write(Buffer.from('hello '));
    await staged.write(Buffer.from('world'));
    assert.deepEqual(await collect(store.list('')), [], 'a staged write is not an object yet');
    const info = await staged.commit('data/ab/abc');
    assert.equal(info.size, 11);
    assert.equal((await store.get('data/ab/abc')).toString(), 'hello world');
    assert.deepEqual(
      (await filesUnder(root)).filter((f) => f.includes(TEMP_FILE_MARKER)),
      [],
      'the temp file became the object',
    );
    await assert.rejects(staged.write(Buffer.from('x')), /after commit/);

    const dropped = await store.stage();
    await dropped.write(Buffer.from('partial'));
    await dropped.abort();
    await dropped.abort();
    assert.deepEqual(
      (await filesUnder(root)).filter((f) => f.includes(TEMP_FILE_MARKER)),
      [],
      'abort removes the temp file',
    );
    assert.deepEqual(
      (await collect(store.list(''))).map((i) => i.key),
      ['data/ab/abc'],
    );
    await rm(root, { recursive: true, force: true });
  });

  it('refuses to stage when the root is missing (an unmounted share)', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'cairn-fs-stage-root-'));
    const store = new FileSystemBlobStore(path.join(parent, 'mount-point'));
    await assert.rejects(
      store.stage(),
      (e: unknown) => e instanceof StorageError && e.failure === 'bucket-missing',
    );
    assert.deepEqual(await readdir(parent), [], 'nothing was created');
    await rm(parent, { recursive: true, force: true });
  });

  it('reads a range into a caller buffer (readInto), also through the retry and read-only wrappers', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'cairn-fs-readinto-'));
    const store = new FileSystemBlobStore(root);
    await store.put('packs/p1', Buffer.from('0123456789'));
    const target = Buffer.alloc(16, 0xff);
    for (const s of [
      store,
      new RetryingBlobStore(store),
      new ReadOnlyBlobStore(new RetryingBlobStore(store)),
    ]) {
      target.fill(0xff);
      assert.equal(await s.readInto?.('packs/p1', { offset: 2, length: 5 }, target), 5);
      assert.equal(target.subarray(0, 6).toString('latin1'), '23456\xff');
      // Short only where the object ends.
      assert.equal((await readRange(s, 'packs/p1', { offset: 7, length: 9 }, target)).toString(), '789');
    }
    await assert.rejects(
      store.readInto('packs/missing', { offset: 0, length: 1 }, target),
      (e: unknown) => e instanceof StorageError && e.failure === 'not-found',
    );
    await assert.rejects(
      store.readInto('packs/p1', { offset: 0, length: 10 }, Buffer.alloc(4)),
      (e: unknown) => e instanceof StorageError && e.failure === 'invalid',
    );
    // A store without readInto: readRange falls back to get and a copy.
    const memory = new MemoryBlobStore();
    await memory.put('k', Buffer.from('abcdef'));
    assert.equal((await readRange(memory, 'k', { offset: 1, length: 3 }, target)).toString(), 'bcd');
    await rm(root, { recursive: true, force: true });
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
