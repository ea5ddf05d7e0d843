import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CairnError } from '../errors/cairn-error.ts';
import { MemoryBlobStore } from '../storage/memory/memory-store.ts';
import { LayoutGuardedStore } from './layout-guard.ts';

const refused = (e: unknown) => e instanceof CairnError && e.code === 'LOCATION_UNKNOWN_PREFIX';

describe('LayoutGuardedStore', () => {
  it('passes layout keys and refuses everything else before the backend sees it', async () => {
    const memory = new MemoryBlobStore();
    await memory.put('photos/cat.jpg', 'foreign');
    const store = new LayoutGuardedStore(memory);
    await store.put('backups/b1/manifest.json', '{}');
    await store.put('cairn-location.json', '{}');
    assert.equal((await store.get('backups/b1/manifest.json')).toString(), '{}');

    await assert.rejects(store.put('photos/dog.jpg', 'x'), refused);
    await assert.rejects(store.get('photos/cat.jpg'), refused);
    await assert.rejects(store.delete('photos/cat.jpg'), refused);
    await assert.rejects(store.stat('backupz/x'), refused);
    await assert.rejects(async () => {
      for await (const _ of store.list('photos/')) assert.fail('nothing may be listed');
    }, refused);
    assert.equal(await memory.stat('photos/dog.jpg'), undefined);
    assert.equal((await memory.get('photos/cat.jpg')).toString(), 'foreign');

    // Listing the whole location is allowed, so surveys can report foreign data.
    const all: string[] = [];
    for await (const info of store.list('')) all.push(info.key);
    assert.deepEqual(all, ['backups/b1/manifest.json', 'cairn-location.json', 'photos/cat.jpg']);
    const areaKeys: string[] = [];
    for await (const info of store.list('backups/')) areaKeys.push(info.key);
    assert.deepEqual(areaKeys, ['backups/b1/manifest.json']);
  });
});
