import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
