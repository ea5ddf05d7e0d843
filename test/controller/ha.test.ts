/**
 * Two controllers, one leader: only the Lease holder runs backups; when it
 * stops it releases the lease and the standby takes over. And a real
 * `cairn server` process killed with SIGKILL mid-backup: the next controller
 * fails that Backup with the reason instead of leaving it InProgress.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readBackupManifest } from '../../src/catalog/backup-manifest.ts';
import { openLocation } from '../../src/catalog/open-location.ts';
import { RESTARTED_REASON } from '../../src/controller/backup-reconciler.ts';
import type { Controller } from '../../src/controller/controller.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import {
  type ControllerCluster,
  eventsOf,
  fsBackupLocation,
  metricValue,
  NAMESPACE,
  newBackup,
  startControllerCluster,
  startHoldingProxy,
  startTestController,
  waitFor,
  waitForBackupPhase,
  withReasons,
} from './support.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const election = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };

describe('controller: two replicas, one leader', () => {
  let cluster: ControllerCluster;
  let store: BlobStore;
  const controllers: Controller[] = [];

  before(async () => {
    cluster = await startControllerCluster({ sampleApp: true });
    const { path: dir } = await fsBackupLocation(cluster, 'primary', { default: true });
    store = openLocation(dir, { readOnly: true }).store;
    controllers.push(startTestController(cluster, { identity: 'replica-a', leaderElection: election }));
    controllers.push(startTestController(cluster, { identity: 'replica-b', leaderElection: election }));
  });

  after(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
    await store?.close();
    await cluster?.stop(); // the sandbox, the connection and the temp folders
  });

  it('elects exactly one leader, which alone runs a backup; the standby takes over when it stops', async () => {
    const leader = await waitFor('a leader', () => controllers.find((c) => c.isLeader));
    const standby = controllers.find((c) => c !== leader) as Controller;
    assert.equal(standby.isLeader, false);
    const lease = await cluster.connection.request<{ spec: { holderIdentity: string } }>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/cairn-controller`,
    );
    assert.equal(lease.spec.holderIdentity, leader.identity);

    await cluster.resources.create('backups', newBackup('ha-1', { includeNamespaces: ['shop'] }));
    await waitForBackupPhase(cluster, 'ha-1', ['Completed']);
    assert.match(
      (await readBackupManifest(store, 'ha-1'))?.createdBy ?? '',
      new RegExp(`${leader.identity}$`),
    );
    const attempts = async (c: Controller) =>
      metricValue(await c.metrics.registry.metrics(), 'cairn_backup_attempts_total', { schedule: '' });
    assert.equal(await attempts(leader), 1);
    assert.equal(await attempts(standby), undefined, 'the standby never ran it');
    assert.equal(metricValue(await standby.metrics.registry.metrics(), 'cairn_controller_is_leader'), 0);
    assert.equal(standby.readiness().ready, true, 'a standby is ready');

    await leader.stop();
    await waitFor('the standby to take over', () => standby.isLeader);
    await cluster.resources.create('backups', newBackup('ha-2', { includeNamespaces: ['shop'] }));
    await waitForBackupPhase(cluster, 'ha-2', ['Completed']);
    assert.match(
      (await readBackupManifest(store, 'ha-2'))?.createdBy ?? '',
      new RegExp(`${standby.identity}$`),
    );
    assert.equal(await attempts(standby), 1);
    assert.equal(metricValue(await standby.metrics.registry.metrics(), 'cairn_controller_is_leader'), 1);
  });
});

describe('controller: `cairn server` killed mid-backup', () => {
  let cluster: ControllerCluster;
  let controller: Controller | undefined;

  before(async () => {
    cluster = await startControllerCluster({ sampleApp: true });
    await fsBackupLocation(cluster, 'primary', { default: true });
  });

  after(async () => {
    await controller?.stop();
    await cluster?.stop(); // the sandbox, the connection and the temp folders
  });

  it('leaves a Backup that the next controller fails with the reason', async () => {
    const proxy = await startHoldingProxy(cluster);
    // The backup's listing of namespace shop never gets an answer: the run is stuck mid-way.
    proxy.hold(/^GET \/api(s\/[^?]*)?\/namespaces\/shop\/(?!.*watch=true)/);
    const server = spawn(
      process.execPath,
      [
        path.join(root, 'bin/cairn.js'),
        'server',
        '--kubeconfig',
        proxy.kubeconfig,
        '--namespace',
        NAMESPACE,
        '--metrics-port',
        '0',
        '--leader-elect',
        'false',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    server.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise((resolve) => server.on('exit', resolve));
    try {
      await cluster.resources.create('backups', newBackup('mid', { includeNamespaces: ['shop'] }));
      await waitForBackupPhase(cluster, 'mid', ['InProgress']).catch((err: Error) => {
        throw new Error(`${err.message}\ncairn server said:\n${stderr}`);
      });
      await waitFor('the backup to be stuck listing', () => proxy.held > 0);
    } finally {
      server.kill('SIGKILL');
      await exited;
      proxy.release();
      await proxy.close();
    }
    assert.equal(
      (await cluster.resources.get<{ status?: { phase?: string } }>('backups', 'mid'))?.status?.phase,
      'InProgress',
    );
    controller = startTestController(cluster);
    const backup = await waitForBackupPhase(cluster, 'mid', ['Failed']);
    assert.equal(backup.status?.failureReason, RESTARTED_REASON);
    const reasons = (
      await eventsOf(cluster, 'Backup', 'mid', withReasons('BackupStarted', 'BackupFailed'))
    ).map((e) => e.reason);
    assert.deepEqual(reasons, ['BackupStarted', 'BackupFailed']);
  });
});
