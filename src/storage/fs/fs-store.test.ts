import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { StorageError } from '../../errors/storage-error.ts';
import { TEMP_FILE_MARKER } from '../blob-store.ts';
import { describeBlobStoreConformance } from '../conformance.ts';
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
});
