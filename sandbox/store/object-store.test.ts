import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ObjectStore, type StoredObject, type StoreEvent } from './object-store.ts';
import { DiskPersistence } from './persistence.ts';

const cm = (namespace: string, name: string, data: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});

describe('ObjectStore', () => {
  test('revisions grow with every write and are stamped on the object', () => {
    const store = new ObjectStore();
    const a = store.put('/configmaps', cm('ns', 'a'), 'ADDED');
    const b = store.put('/configmaps', cm('ns', 'b'), 'ADDED');
    const a2 = store.put('/configmaps', cm('ns', 'a', { k: 'v' }), 'MODIFIED');
    const gone = store.remove('/configmaps', cm('ns', 'b'));
    assert.deepEqual([a.rv, b.rv, a2.rv, gone.rv], [1, 2, 3, 4]);
    const stored = store.get('/configmaps', 'ns', 'a');
    assert.equal((stored?.obj.metadata as { resourceVersion?: string } | undefined)?.resourceVersion, '3');
    assert.equal(store.get('/configmaps', 'ns', 'b'), undefined);
    assert.equal(store.revision, 4);
  });

  test('list is ordered by namespace/name, scoped to a namespace, resumable after an id', () => {
    const store = new ObjectStore();
    for (const [ns, name] of [
      ['b', 'x'],
      ['a', 'z'],
      ['a-b', 'y'],
      ['a', 'y'],
      ['b', 'a'],
    ] as const)
      store.put('/configmaps', cm(ns, name), 'ADDED');
    const ids = (it: Iterable<{ id: string }>) => [...it].map((o) => o.id);
    assert.deepEqual(ids(store.list('/configmaps')), ['a-b/y', 'a/y', 'a/z', 'b/a', 'b/x']);
    assert.deepEqual(ids(store.list('/configmaps', 'a')), ['a/y', 'a/z']);
    assert.deepEqual(ids(store.list('/configmaps', 'a', 'a/y')), ['a/z']);
    assert.deepEqual(ids(store.list('/configmaps', undefined, 'a/z')), ['b/a', 'b/x']);
    assert.deepEqual(ids(store.list('/configmaps', 'c')), []);
    assert.deepEqual(ids(store.list('/secrets')), []);
  });

  test('event log replays after a revision and reports expiry once trimmed', () => {
    const store = new ObjectStore({ eventLogSize: 8 });
    const seen: StoreEvent[] = [];
    const stop = store.subscribe((e) => seen.push(e));
    for (let i = 0; i < 20; i++) store.put('/configmaps', cm('ns', `c${i}`), 'ADDED');
    stop();
    store.put('/configmaps', cm('ns', 'after'), 'ADDED');
    assert.equal(seen.length, 20);
    const recent = store.eventsSince(18);
    assert.ok(Array.isArray(recent));
    assert.deepEqual(
      (recent as StoreEvent[]).map((e) => e.rv),
      [19, 20, 21],
    );
    assert.equal(store.eventsSince(1), 'expired');
    assert.ok(store.compactedRevision > 1);
    store.compact();
    assert.equal(store.eventsSince(20), 'expired');
    assert.deepEqual(store.eventsSince(21), []);
  });

  test('MODIFIED events carry the previous object', () => {
    const store = new ObjectStore();
    store.put('/configmaps', cm('ns', 'a', { v: '1' }), 'ADDED');
    let prev: StoredObject | undefined;
    store.subscribe((e) => {
      prev = e.prev;
    });
    store.put('/configmaps', cm('ns', 'a', { v: '2' }), 'MODIFIED');
    assert.deepEqual(prev?.obj.data, { v: '1' });
  });

  test('disk persistence survives a restart, keeps revisions, and compacts the log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-store-'));
    try {
      const first = new ObjectStore({ persistence: new DiskPersistence(dir) });
      await first.load();
      first.put('/configmaps', cm('ns', 'a'), 'ADDED');
      first.put('/configmaps', cm('ns', 'b'), 'ADDED');
      first.put('/configmaps', cm('ns', 'a', { k: 'v' }), 'MODIFIED');
      first.remove('/configmaps', cm('ns', 'b'));
      await first.close();
      const second = new ObjectStore({ persistence: new DiskPersistence(dir) });
      await second.load();
      assert.equal(second.revision, 4);
      assert.deepEqual(second.get('/configmaps', 'ns', 'a')?.obj.data, { k: 'v' });
      assert.equal(second.get('/configmaps', 'ns', 'b'), undefined);
      assert.equal(second.eventsSince(2), 'expired', 'history before a restart is gone');
      assert.equal(second.put('/configmaps', cm('ns', 'c'), 'ADDED').rv, 5);
      await second.close();
      const third = new ObjectStore({ persistence: new DiskPersistence(dir) });
      await third.load();
      assert.deepEqual(
        [...third.list('/configmaps')].map((o) => o.id),
        ['ns/a', 'ns/c'],
      );
      await third.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
