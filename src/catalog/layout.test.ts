import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CairnError } from '../errors/cairn-error.ts';
import { assertKnownKey, backupNameOfManifest, layout, placeOfKey } from './layout.ts';

describe('layout', () => {
  it('builds every key under a known area, control files under control/ only', () => {
    assert.equal(layout.backupManifest('nightly-20261125'), 'backups/nightly-20261125/manifest.json');
    assert.equal(layout.etcdClusterSpec('main'), 'control/etcd/main/spec.json');
    assert.equal(layout.etcdSnapshotsPrefix('main'), 'etcd/main/snapshots/');
    for (const key of [
      layout.markerCopy(),
      layout.repositoryConfig(),
      layout.etcdClusterSpec('a'),
      layout.probe('x'),
    ]) {
      assert.deepEqual(placeOfKey(key), { kind: 'area', area: 'control' });
    }
    for (const key of [
      layout.backupManifest('b'),
      layout.etcdSnapshotsPrefix('c'),
      layout.repositoryPrefix(),
    ]) {
      assert.notDeepEqual(placeOfKey(`${key}x`), { kind: 'area', area: 'control' });
    }
  });

  it('rejects names that could escape their folder or are not Kubernetes names', () => {
    for (const bad of ['', '..', 'a/b', 'UPPER', '-lead', 'trail-', 'a..b', 'x'.repeat(254)]) {
      assert.throws(
        () => layout.backupPrefix(bad),
        (e: unknown) => e instanceof CairnError && e.code === 'INVALID_NAME',
      );
    }
  });

  it('classifies keys and rejects unknown top-level prefixes', () => {
    assert.deepEqual(placeOfKey('cairn-location.json'), { kind: 'marker' });
    assert.deepEqual(placeOfKey('backups/a/manifest.json'), { kind: 'area', area: 'backups' });
    assert.deepEqual(placeOfKey('photos/cat.jpg'), { kind: 'foreign', topLevel: 'photos/' });
    assert.deepEqual(placeOfKey('backups'), { kind: 'foreign', topLevel: 'backups' });
    assert.throws(() => assertKnownKey('velero/backups/x'), /unknown top-level "velero\/"/);
    assert.doesNotThrow(() => assertKnownKey('etcd/main/snapshots/1.db'));
  });

  it('recognises backup manifests', () => {
    assert.equal(backupNameOfManifest('backups/nightly/manifest.json'), 'nightly');
    assert.equal(backupNameOfManifest('backups/nightly/items.ndjson.zst'), undefined);
  });
});
