/**
 * The controller runs Backups: a Backup resource on a folder and on RGW
 * (credentials from a Secret) ends Completed with counts, events and metrics
 * scraped over HTTP with their values; invalid Backups end FailedValidation
 * with the reasons in status; a Backup left InProgress by a dead controller
 * is failed with a reason instead of hanging.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/backup.ts';
import type { BackupLocation } from '../../src/api/backup-location.ts';
import { readBackupManifest } from '../../src/catalog/backup-manifest.ts';
import { openLocation } from '../../src/catalog/open-location.ts';
import { RESTARTED_REASON } from '../../src/controller/backup-reconciler.ts';
import { ManualClock } from '../../src/controller/clock.ts';
import type { Controller } from '../../src/controller/controller.ts';
import { type HttpEndpoint, startHttpEndpoint } from '../../src/server/http-server.ts';
import {
  type ControllerCluster,
  eventsOf,
  fsBackupLocation,
  metricValue,
  newBackup,
  s3BackupLocation,
  startControllerCluster,
  startTestController,
  waitFor,
  waitForBackupPhase,
  withReasons,
} from './support.ts';

const START = new Date('2026-03-01T10:00:00Z');

for (const storage of (process.env.CAIRN_TEST_STORAGE === 'filesystem'
  ? ['filesystem']
  : ['filesystem', 'rgw']) as ('filesystem' | 'rgw')[]) {
  describe(`controller: Backup resources (${storage})`, () => {
    let cluster: ControllerCluster;
    let controller: Controller;
    let http: HttpEndpoint;
    let clock: ManualClock;
    let cleanup: () => Promise<void> = async () => {};

    before(async () => {
      cluster = await startControllerCluster({ sampleApp: true });
      if (storage === 'filesystem') await fsBackupLocation(cluster, 'primary', { default: true });
      else {
        const made = await s3BackupLocation(cluster, 'primary', 'controller-backup');
        cleanup = made.remove;
        await cluster.resources.patch('backuplocations', 'primary', { spec: { default: true } });
      }
      clock = new ManualClock(START);
      controller = startTestController(cluster, { clock });
      http = await startHttpEndpoint({
        port: 0,
        host: '127.0.0.1',
        registry: controller.metrics.registry,
        readiness: () => controller.readiness(),
      });
    });

    after(async () => {
      await http?.close();
      await controller?.stop();
      await cluster?.stop(); // the sandbox, the connection and the temp folders
      await cleanup();
    });

    it('checks the location and reports it Available, with healthy control files', async () => {
      const location = await waitFor('the location check', async () => {
        const l = await cluster.resources.get<BackupLocation>('backuplocations', 'primary');
        return l?.status?.phase !== undefined ? l : undefined;
      });
      assert.equal(location.status?.phase, 'Available', location.status?.message);
      assert.equal(location.status?.controlFilesHealthy, true);
      assert.equal(location.status?.lastCheckedTime, '2026-03-01T10:00:00Z');
    });

    it('runs a Backup to Completed, with counts, expiration, events and its manifest in the location', async () => {
      await cluster.resources.create(
        'backups',
        newBackup('shop-1', { includeNamespaces: ['shop'], ttl: '24h' }),
      );
      const backup = await waitForBackupPhase(cluster, 'shop-1', ['Completed', 'PartiallyFailed', 'Failed']);
      assert.equal(backup.status?.phase, 'Completed', backup.status?.failureReason);
      assert.ok((backup.status?.itemsBackedUp ?? 0) > 5);
      assert.equal(backup.status?.errors, 0);
      assert.equal(backup.status?.storageLocation, 'primary');
      assert.equal(backup.status?.startTimestamp, '2026-03-01T10:00:00Z');
      assert.equal(backup.status?.completionTimestamp, '2026-03-01T10:00:00Z');
      assert.equal(backup.status?.expiration, '2026-03-02T10:00:00Z');
      const reasons = (
        await eventsOf(cluster, 'Backup', 'shop-1', withReasons('BackupStarted', 'BackupCompleted'))
      ).map((e) => e.reason);
      assert.deepEqual(reasons, ['BackupStarted', 'BackupCompleted']);

      const location = await cluster.resources.get<BackupLocation>('backuplocations', 'primary');
      if (storage === 'filesystem') {
        const { store } = openLocation(location?.spec.url ?? '', { readOnly: true });
        const manifest = await readBackupManifest(store, 'shop-1');
        assert.equal(manifest?.status.itemsBackedUp, backup.status?.itemsBackedUp);
        assert.match(manifest?.createdBy ?? '', new RegExp(`controller ${controller.identity}$`));
        await store.close();
      }
    });

    it('serves metrics whose values match what happened', async () => {
      const text = await (await fetch(`${http.url}/metrics`)).text();
      const schedule = { schedule: '' };
      assert.equal(metricValue(text, 'cairn_backup_attempts_total', schedule), 1);
      assert.equal(metricValue(text, 'cairn_backup_successes_total', schedule), 1);
      assert.equal(metricValue(text, 'cairn_backup_failures_total', schedule), undefined);
      const backup = await cluster.resources.get<Backup>('backups', 'shop-1');
      assert.equal(metricValue(text, 'cairn_backup_items_total', schedule), backup?.status?.itemsBackedUp);
      assert.equal(
        metricValue(text, 'cairn_backup_last_successful_timestamp_seconds', schedule),
        Date.parse(backup?.status?.completionTimestamp ?? '') / 1000,
      );
      assert.equal(metricValue(text, 'cairn_backup_duration_seconds_count', schedule), 1);
      assert.equal(metricValue(text, 'cairn_location_available', { location: 'primary' }), 1);
      assert.equal(metricValue(text, 'cairn_location_control_files_healthy', { location: 'primary' }), 1);
      assert.equal(metricValue(text, 'cairn_controller_is_leader'), 1);
      assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${http.url}/readyz`)).status, 200);
    });

    it('puts validation errors in status: unknown location, conflicting selectors, bad ttl', async () => {
      await cluster.resources.create('backups', newBackup('bad-location', { storageLocation: 'nowhere' }));
      await cluster.resources.create(
        'backups',
        newBackup('bad-selectors', {
          includeNamespaces: ['shop'],
          excludeNamespaces: ['shop'],
          labelSelectors: ['app in (a'],
        }),
      );
      const a = await waitForBackupPhase(cluster, 'bad-location', ['FailedValidation']);
      assert.match(a.status?.validationErrors?.join('\n') ?? '', /BackupLocation "nowhere" does not exist/);
      const b = await waitForBackupPhase(cluster, 'bad-selectors', ['FailedValidation']);
      const errors = b.status?.validationErrors?.join('\n') ?? '';
      assert.match(errors, /namespace "shop" is both included and excluded/);
      assert.match(errors, /invalid label selector/);
      const events = await eventsOf(cluster, 'Backup', 'bad-location', withReasons('FailedValidation'));
      assert.deepEqual(
        events.map((e) => [e.type, e.reason]),
        [['Warning', 'FailedValidation']],
      );
      const text = await (await fetch(`${http.url}/metrics`)).text();
      assert.equal(metricValue(text, 'cairn_backup_validation_failures_total', { schedule: '' }), 2);
      assert.equal(metricValue(text, 'cairn_backup_attempts_total', { schedule: '' }), 1);
    });
  });
}

describe('controller: a Backup left InProgress by a dead controller', () => {
  let cluster: ControllerCluster;
  let controller: Controller | undefined;

  before(async () => {
    cluster = await startControllerCluster();
    await fsBackupLocation(cluster, 'primary', { default: true });
  });

  after(async () => {
    await controller?.stop();
    await cluster?.stop(); // the sandbox, the connection and the temp folders
  });

  it('is failed with the reason when a controller starts, never left hanging', async () => {
    const created = await cluster.resources.create<Backup>('backups', newBackup('orphan'));
    assert.ok(created);
    // What a controller killed mid-backup leaves behind.
    await cluster.resources.patchStatus('backups', 'orphan', {
      phase: 'InProgress',
      startTimestamp: '2026-03-01T09:00:00Z',
      progress: { typesTotal: 40, typesDone: 3, itemsBackedUp: 120 },
    });
    controller = startTestController(cluster, { clock: new ManualClock(START) });
    const backup = await waitForBackupPhase(cluster, 'orphan', ['Failed']);
    assert.equal(backup.status?.failureReason, RESTARTED_REASON);
    assert.equal(backup.status?.completionTimestamp, '2026-03-01T10:00:00Z');
    assert.equal(backup.status?.progress?.itemsBackedUp, 120, 'the progress made is kept for the record');
    const events = await eventsOf(cluster, 'Backup', 'orphan', withReasons('BackupFailed'));
    assert.deepEqual(
      events.map((e) => [e.type, e.reason]),
      [['Warning', 'BackupFailed']],
    );
  });
});
