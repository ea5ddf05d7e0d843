/**
 * Schedules under a controlled clock: nothing before the first slot
 * (skipImmediately), one Backup per slot named `<schedule>-<UTC
 * yyyymmddhhmmss>`, retention after backups finish (data deleted from the
 * location before the resource goes), a slot skipped with a Warning while the
 * previous backup still runs, validation errors and pause in status, and the
 * per-schedule metrics with their values — on a folder and on RGW.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/backup.ts';
import { API_VERSION } from '../../src/api/common.ts';
import type { Schedule, ScheduleSpec } from '../../src/api/schedule.ts';
import { listBackups } from '../../src/catalog/backup-manifest.ts';
import { openLocation } from '../../src/catalog/open-location.ts';
import { ClusterConnection } from '../../src/cluster/connection.ts';
import { ManualClock } from '../../src/controller/clock.ts';
import type { Controller } from '../../src/controller/controller.ts';
import { nextRunAfter, scheduledBackupName } from '../../src/schedule/run-plan.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { testS3 } from '../support/s3-env.ts';
import {
  type ControllerCluster,
  eventsOf,
  fsBackupLocation,
  type HoldingProxy,
  metricValue,
  NAMESPACE,
  s3BackupLocation,
  startControllerCluster,
  startHoldingProxy,
  startTestController,
  waitFor,
  waitForBackupPhase,
  withReasons,
} from './support.ts';

const storages = (
  process.env.CAIRN_TEST_STORAGE === 'filesystem' ? ['filesystem'] : ['filesystem', 'rgw']
) as ('filesystem' | 'rgw')[];

function schedule(name: string, spec: ScheduleSpec): Schedule {
  return { apiVersion: API_VERSION, kind: 'Schedule', metadata: { name, namespace: NAMESPACE }, spec };
}

for (const storage of storages) {
  describe(`controller: Schedules and retention (${storage})`, () => {
    let cluster: ControllerCluster;
    let proxy: HoldingProxy;
    let connection: ClusterConnection;
    let controller: Controller;
    let clock: ManualClock;
    let store: BlobStore;
    let cleanup: () => Promise<void> = async () => {};
    /** The schedule's slots from its creation on (the sandbox stamps creation with the real time). */
    const slots: Date[] = [];
    const slot = (i: number) => slots[i] as Date;
    const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const nameAt = (i: number) => scheduledBackupName('shop', slot(i));

    /** Moves the clock to slot `i` once the schedule's timer for it is armed (so no slot is raced). */
    async function fireAt(i: number): Promise<void> {
      const at = slot(i).getTime();
      await waitFor(
        `the timer of schedule shop for ${iso(slot(i))}`,
        () => controller.queue('schedule')?.dueAt('shop') === at,
      );
      clock.set(new Date(at));
    }

    const backupsInLocation = async () => (await listBackups(store)).map((b) => b.name);

    before(async () => {
      cluster = await startControllerCluster({ sampleApp: true });
      if (storage === 'filesystem') {
        const { path } = await fsBackupLocation(cluster, 'primary', { default: true });
        store = openLocation(path, { readOnly: true }).store;
      } else {
        const made = await s3BackupLocation(cluster, 'primary', 'controller-schedule');
        cleanup = made.remove;
        await cluster.resources.patch('backuplocations', 'primary', { spec: { default: true } });
        const s3 = testS3();
        store = openLocation(
          `s3://${made.bucket}/cairn?endpoint=${s3.endpoint}&region=${s3.region}&forcePathStyle=true`,
          {
            readOnly: true,
            credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
          },
        ).store;
      }
      proxy = await startHoldingProxy(cluster);
      connection = await ClusterConnection.connect({ kubeconfig: proxy.kubeconfig });
      // The controller's clock starts at the real time (creation timestamps come from the sandbox) and
      // then only moves when the test says so.
      clock = new ManualClock(new Date());
      controller = startTestController(cluster, { clock, connection });
    });

    after(async () => {
      proxy?.release();
      await controller?.stop();
      connection?.close();
      await proxy?.close();
      await store?.close();
      await cluster?.stop(); // the sandbox, the connection and the temp folders
      await cleanup();
    });

    it('waits for the first slot (skipImmediately), then names each backup after its UTC slot', async () => {
      await cluster.resources.create(
        'schedules',
        schedule('shop', {
          schedule: '*/5 * * * *',
          skipImmediately: true,
          template: { includeNamespaces: ['shop'] },
          retention: { keepLast: 2 },
        }),
      );
      const s = await waitFor('schedule shop Enabled', async () => {
        const got = await cluster.resources.get<Schedule>('schedules', 'shop');
        return got?.status?.phase === 'Enabled' ? got : undefined;
      });
      let next = new Date(s.metadata.creationTimestamp ?? '');
      for (let i = 0; i < 6; i++) {
        next = nextRunAfter('*/5 * * * *', next) as Date;
        slots.push(next);
      }
      assert.equal(s.status?.nextRunTime, iso(slot(0)));
      assert.equal(s.status?.lastBackup, undefined);
      const before = await cluster.connection.request<{ items: Backup[] }>(
        'GET',
        cluster.resources.path('backups'),
      );
      assert.equal(before.items.length, 0);
      await fireAt(0);
      assert.match(nameAt(0), /^shop-\d{14}$/);
      const backup = await waitForBackupPhase(cluster, nameAt(0), ['Completed', 'PartiallyFailed', 'Failed']);
      assert.equal(backup.status?.phase, 'Completed', backup.status?.failureReason);
      assert.equal(backup.metadata.labels?.['cairn.dev/schedule'], 'shop');
      assert.equal(backup.status?.startTimestamp, iso(slot(0)));
      const after = await waitFor('schedule status after the run', async () => {
        const got = await cluster.resources.get<Schedule>('schedules', 'shop');
        return got?.status?.lastSuccessfulBackup === nameAt(0) ? got : undefined;
      });
      assert.equal(after.status?.lastBackup, nameAt(0));
      assert.equal(after.status?.lastScheduleTime, iso(slot(0)));
      assert.equal(after.status?.nextRunTime, iso(slot(1)));
      const all = await cluster.connection.request<{ items: Backup[] }>(
        'GET',
        cluster.resources.path('backups'),
      );
      assert.deepEqual(
        all.items.map((b) => b.metadata.name),
        [nameAt(0)],
      );
    });

    it('applies retention after backups finish: data deleted from the location first, then the resource', async () => {
      await fireAt(1);
      await waitForBackupPhase(cluster, nameAt(1), ['Completed']);
      await fireAt(2);
      await waitForBackupPhase(cluster, nameAt(2), ['Completed']);
      await waitFor('retention to delete the oldest Backup resource', async () =>
        (await cluster.resources.get('backups', nameAt(0))) === undefined ? true : undefined,
      );
      assert.deepEqual(await backupsInLocation(), [nameAt(1), nameAt(2)]);
      const events = await eventsOf(
        cluster,
        'Backup',
        nameAt(0),
        withReasons('BackupDeleting', 'BackupDataDeleted'),
      );
      const reasons = events.map((e) => e.reason);
      assert.ok(reasons.indexOf('BackupDeleting') < reasons.indexOf('BackupDataDeleted'), reasons.join(','));
      assert.match(
        events.find((e) => e.reason === 'BackupDeleting')?.message ?? '',
        /retention of Schedule "shop"/,
      );
    });

    it('skips a slot with a Warning while the previous backup of the schedule still runs', async () => {
      // Freeze the backup's listing of the shop namespace: the 10:20 backup stays InProgress.
      proxy.hold(/^GET \/api(s\/[^?]*)?\/namespaces\/shop\/(?!.*watch=true)/);
      await fireAt(3);
      await waitForBackupPhase(cluster, nameAt(3), ['InProgress']);
      await waitFor('the backup to be held mid-run', () => proxy.held > 0);
      await fireAt(4);
      const skipped = await waitFor('the skip event', async () =>
        (await eventsOf(cluster, 'Schedule', 'shop')).find((e) => e.reason === 'BackupSkipped'),
      );
      assert.equal(skipped.type, 'Warning');
      assert.equal(
        skipped.message,
        `Slot ${iso(slot(4))} skipped: backup "${nameAt(3)}" of this schedule is still InProgress`,
      );
      assert.equal(await cluster.resources.get('backups', nameAt(4)), undefined);
      proxy.release();
      const done = await waitForBackupPhase(cluster, nameAt(3), ['Completed']);
      assert.equal(done.status?.completionTimestamp, iso(slot(4)));
      const s = await waitFor('schedule status', async () => {
        const got = await cluster.resources.get<Schedule>('schedules', 'shop');
        return got?.status?.lastSuccessfulBackup === nameAt(3) ? got : undefined;
      });
      assert.equal(s.status?.lastScheduleTime, iso(slot(4)));
      assert.equal(s.status?.nextRunTime, iso(slot(5)));
      await waitFor('retention down to two', async () =>
        (await cluster.resources.get('backups', nameAt(1))) === undefined ? true : undefined,
      );
      assert.deepEqual(await backupsInLocation(), [nameAt(2), nameAt(3)]);
    });

    it('exports per-schedule metrics with their values', async () => {
      const text = await controller.metrics.registry.metrics();
      const labels = { schedule: 'shop' };
      assert.equal(metricValue(text, 'cairn_backup_attempts_total', labels), 4);
      assert.equal(metricValue(text, 'cairn_backup_successes_total', labels), 4);
      assert.equal(metricValue(text, 'cairn_backup_deletions_total', labels), 2);
      const last = await cluster.resources.get<Backup>('backups', nameAt(3));
      assert.equal(
        metricValue(text, 'cairn_backup_last_successful_timestamp_seconds', labels),
        Date.parse(last?.status?.completionTimestamp ?? '') / 1000,
      );
    });

    it('reports validation errors (bad cron, unknown location) and pause in status', async () => {
      await cluster.resources.create(
        'schedules',
        schedule('bad-cron', { schedule: 'every day', template: {} }),
      );
      await cluster.resources.create(
        'schedules',
        schedule('bad-location', { schedule: '@daily', template: { storageLocation: 'nowhere' } }),
      );
      await cluster.resources.create(
        'schedules',
        schedule('paused', {
          schedule: '* * * * *',
          paused: true,
          template: { includeNamespaces: ['shop'] },
        }),
      );
      const get = (name: string, phase: string) =>
        waitFor(`schedule ${name} ${phase}`, async () => {
          const got = await cluster.resources.get<Schedule>('schedules', name);
          return got?.status?.phase === phase ? got : undefined;
        });
      const cron = await get('bad-cron', 'FailedValidation');
      assert.match(cron.status?.validationErrors?.join('\n') ?? '', /spec\.schedule: .*every day/);
      const location = await get('bad-location', 'FailedValidation');
      assert.match(
        location.status?.validationErrors?.join('\n') ?? '',
        /spec\.template\.storageLocation: BackupLocation "nowhere" does not exist/,
      );
      const paused = await get('paused', 'Paused');
      assert.equal(paused.status?.nextRunTime, undefined);
      const events = await eventsOf(cluster, 'Schedule', 'bad-cron', withReasons('FailedValidation'));
      assert.deepEqual(
        events.map((e) => [e.type, e.reason]),
        [['Warning', 'FailedValidation']],
      );
      const all = await cluster.connection.request<{ items: Backup[] }>(
        'GET',
        cluster.resources.path('backups'),
      );
      assert.ok(all.items.every((b) => b.metadata.labels?.['cairn.dev/schedule'] === 'shop'));
    });
  });
}
