import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertEtcdSnapshotId, etcdSnapshotOfKey, layout, placeOfKey } from '../catalog/layout.ts';
import { compactUtc, timeOfSnapshotId } from './catalog.ts';

describe('etcd keys in the location layout', () => {
  it('keeps the cluster spec under control/ and snapshots under etcd/, never one inside the other', () => {
    const spec = layout.etcdClusterSpec('prod');
    const data = layout.etcdSnapshotData('prod', '20260101T000000Z-42');
    const manifest = layout.etcdSnapshotManifest('prod', '20260101T000000Z-42');
    assert.equal(spec, 'control/etcd/prod/spec.json');
    assert.equal(data, 'etcd/prod/snapshots/20260101T000000Z-42/snapshot.db');
    assert.equal(manifest, 'etcd/prod/snapshots/20260101T000000Z-42/manifest.json');
    assert.deepEqual(placeOfKey(spec), { kind: 'area', area: 'control' });
    assert.deepEqual(placeOfKey(data), { kind: 'area', area: 'etcd' });
    assert.ok(!spec.startsWith(layout.etcdSnapshotsPrefix('prod')));
    assert.ok(spec.startsWith(layout.etcdControlPrefix('prod')));
  });

  it('accepts only snapshot ids of the form time-revision[-n], and cluster names as Kubernetes names', () => {
    assert.equal(assertEtcdSnapshotId('20260101T000000Z-42-2'), '20260101T000000Z-42-2');
    for (const bad of [
      'latest',
      '../x',
      '20260101T000000Z',
      '20260101T000000Z-42/x',
      '2026-01-01T00:00:00Z-1',
    ]) {
      assert.throws(() => assertEtcdSnapshotId(bad), /invalid etcd snapshot id/);
    }
    assert.throws(() => layout.etcdClusterSpec('Prod'), /invalid etcd cluster name/);
    assert.throws(() => layout.etcdSnapshotsPrefix('a/b'), /invalid etcd cluster name/);
  });

  it('maps keys back to snapshot ids and ids to times', () => {
    assert.deepEqual(etcdSnapshotOfKey('prod', 'etcd/prod/snapshots/20260101T000000Z-42/snapshot.db'), {
      id: '20260101T000000Z-42',
      file: 'snapshot.db',
    });
    assert.equal(etcdSnapshotOfKey('prod', 'etcd/other/snapshots/x/snapshot.db'), undefined);
    assert.equal(etcdSnapshotOfKey('prod', 'etcd/prod/snapshots/stray'), undefined);
    const at = new Date('2026-03-04T05:06:07.890Z');
    assert.equal(compactUtc(at), '20260304T050607Z');
    assert.equal(timeOfSnapshotId(`${compactUtc(at)}-9`).toISOString(), '2026-03-04T05:06:07.000Z');
    assert.ok(Number.isNaN(timeOfSnapshotId('junk').getTime()));
  });
});
