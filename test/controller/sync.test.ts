/**
 * DR of Cairn itself: a backup made by the controller of one cluster appears,
 * through location sync, as a Backup resource in a fresh second cluster whose
 * BackupLocation points (read-only) at the same folder, and a Restore there
 * brings the application back — without writing a byte into the location.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/backup.ts';
import { API_VERSION } from '../../src/api/common.ts';
import type { Restore } from '../../src/api/restore.ts';
import type { Controller } from '../../src/controller/controller.ts';
import {
  type ControllerCluster,
  eventsOf,
  fsBackupLocation,
  metricValue,
  NAMESPACE,
  newBackup,
  startControllerCluster,
  startTestController,
  waitFor,
  waitForBackupPhase,
  withReasons,
} from './support.ts';

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('controller: location sync into a second cluster, then a restore there', () => {
  let source: ControllerCluster;
  let target: ControllerCluster;
  let sourceController: Controller | undefined;
  let targetController: Controller | undefined;
  let dir: string;

  before(async () => {
    source = await startControllerCluster({ sampleApp: true });
    target = await startControllerCluster();
    dir = (await fsBackupLocation(source, 'primary', { default: true })).path;
  });

  after(async () => {
    await sourceController?.stop();
    await targetController?.stop();
    for (const c of [source, target]) await c?.stop(); // the sandbox, the connection and the temp folders
  });

  it('shows the old backups in the fresh cluster and restores one', async () => {
    sourceController = startTestController(source);
    await source.resources.create(
      'backups',
      newBackup('shop-dr', { includeNamespaces: ['shop', 'shop-data'] }),
    );
    const original = await waitForBackupPhase(source, 'shop-dr', ['Completed']);
    await sourceController.stop();
    sourceController = undefined;

    const before = await files(dir);
    await fsBackupLocation(target, 'old-bucket', { path: dir, accessMode: 'ReadOnly', default: true });
    targetController = startTestController(target);
    const synced = await waitForBackupPhase(target, 'shop-dr', ['Completed']);
    assert.equal(synced.metadata.labels?.['cairn.dev/synced-from-location'], 'old-bucket');
    assert.equal(synced.status?.itemsBackedUp, original.status?.itemsBackedUp);
    assert.equal(synced.status?.completionTimestamp, original.status?.completionTimestamp);
    assert.equal(synced.spec.storageLocation, 'old-bucket');
    assert.deepEqual(synced.spec.includeNamespaces, ['shop', 'shop-data']);
    assert.deepEqual(
      (await eventsOf(target, 'Backup', 'shop-dr', withReasons('BackupSynced'))).map((e) => e.reason),
      ['BackupSynced'],
    );

    await target.resources.create<Restore>('restores', {
      apiVersion: API_VERSION,
      kind: 'Restore',
      metadata: { name: 'shop-dr-1', namespace: NAMESPACE },
      spec: { backupName: 'shop-dr' },
    });
    const restore = await waitFor('the restore to finish', async () => {
      const r = await target.resources.get<Restore>('restores', 'shop-dr-1');
      return ['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation'].includes(r?.status?.phase ?? '')
        ? r
        : undefined;
    });
    assert.equal(
      restore.status?.phase,
      'Completed',
      restore.status?.failureReason ?? restore.status?.validationErrors?.join('; '),
    );
    assert.ok((restore.status?.created ?? 0) > 10, `created ${restore.status?.created}`);
    assert.equal(restore.status?.failed, 0);
    assert.ok((restore.status?.progress?.itemsTotal ?? 0) > 10, 'progress counts the planned objects');
    assert.equal(restore.status?.progress?.itemsDone, restore.status?.progress?.itemsTotal);
    const deployments = await target.connection.request<{ items: { metadata: { name: string } }[] }>(
      'GET',
      '/apis/apps/v1/namespaces/shop/deployments',
    );
    assert.ok(deployments.items.length > 0, 'the app is back in the second cluster');
    assert.deepEqual(await files(dir), before, 'a ReadOnly location is never written');
    const text = await targetController.metrics.registry.metrics();
    assert.equal(metricValue(text, 'cairn_restore_successes_total'), 1);
    assert.equal(metricValue(text, 'cairn_location_available', { location: 'old-bucket' }), 1);
    const all = await target.connection.request<{ items: Backup[] }>('GET', target.resources.path('backups'));
    assert.deepEqual(
      all.items.map((b) => b.metadata.name),
      ['shop-dr'],
    );
  });
});
