/**
 * The EtcdBackup reconciler against a real etcd (auth enabled, credentials
 * from a Secret) and the sandbox, under a controlled clock: the first
 * snapshot at once, none before the interval passed (a forced reconcile in
 * between takes nothing), the next one when due; status and the etcd gauges
 * scraped from the controller's /metrics over HTTP; retention after a
 * snapshot prunes per the cluster spec in storage; a deleted cluster spec
 * with snapshots present gives Failing, controlFilesHealthy false, the gauge
 * at 0, a Warning event naming the newest snapshot — and writes nothing;
 * paused takes nothing.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { API_VERSION } from '../../src/api/common.ts';
import type { EtcdBackup } from '../../src/api/etcd-backup.ts';
import { openLocation } from '../../src/catalog/open-location.ts';
import { ManualClock } from '../../src/controller/clock.ts';
import type { Controller } from '../../src/controller/controller.ts';
import { compactUtc } from '../../src/etcd/catalog.ts';
import { initCluster } from '../../src/etcd/spec.ts';
import { type HttpEndpoint, startHttpEndpoint } from '../../src/server/http-server.ts';
import { startEtcd, type TestEtcd } from '../support/etcd.ts';
import { runCairn } from '../support/run-cairn.ts';
import {
  type ControllerCluster,
  eventsOf,
  fsBackupLocation,
  metricValue,
  NAMESPACE,
  startControllerCluster,
  startTestController,
  waitFor,
  withReasons,
} from './support.ts';

const MIN = 60_000;
const DAY = 86_400_000;
/** Noon UTC, so the synthetic history's hours and days are far from any boundary. */
const T0 = new Date('2026-06-10T12:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const kube = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('controller: EtcdBackup (real etcd, controlled clock)', () => {
  let cluster: ControllerCluster;
  let etcd: TestEtcd;
  let controller: Controller;
  let http: HttpEndpoint;
  let clock: ManualClock;
  let base: string;
  let loc: string;
  const snapshotsDir = () => path.join(loc, 'etcd/main/snapshots');
  const specFile = () => path.join(loc, 'control/etcd/main/spec.json');
  const snapshotIds = async () => (await readdir(snapshotsDir())).sort();
  const get = () => cluster.resources.get<EtcdBackup>('etcdbackups', 'main');
  const scrape = async () => {
    const answer = await fetch(`${http.url}/metrics`);
    assert.equal(answer.status, 200);
    return answer.text();
  };
  /** Moves the clock to `to` once the reconciler armed its requeue for exactly then. */
  async function fireAt(to: Date): Promise<void> {
    await waitFor(
      `the EtcdBackup requeue for ${to.toISOString()}`,
      () => controller.queue('etcdbackup')?.dueAt('main') === to.getTime(),
    );
    clock.set(to);
  }
  /** Waits for the newest snapshot in the status to be the one taken at `when`. */
  const waitForSnapshotAt = (when: Date) =>
    waitFor(`a snapshot taken at ${when.toISOString()}`, async () => {
      const e = await get();
      return e?.status?.lastSuccessfulSnapshot?.id.startsWith(compactUtc(when)) ? e : undefined;
    });

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cairn-etcd-controller-'));
    loc = path.join(base, 'loc');
    [cluster, etcd] = await Promise.all([startControllerCluster(), startEtcd({ auth: true })]);
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
    await initCluster(openLocation(loc).store, 'main', {
      interval: '15m',
      retention: { keepAllFor: '1h', hourlyFor: '2h', dailyFor: '48h', minKeep: 1 },
    });
    await etcd.etcdctl(['put', '/registry/pods/default/web', 'hello']);
    await fsBackupLocation(cluster, 'primary', { path: loc });
    const auth = etcd.auth;
    assert.ok(auth);
    await cluster.connection.request('POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, {
      body: { metadata: { name: 'etcd-auth' }, stringData: { username: auth.user, password: auth.password } },
    });
    await cluster.resources.create<EtcdBackup>('etcdbackups', {
      apiVersion: API_VERSION,
      kind: 'EtcdBackup',
      metadata: { name: 'main', namespace: NAMESPACE },
      spec: {
        cluster: 'main',
        location: 'primary',
        endpoints: [etcd.endpoint],
        authSecretName: 'etcd-auth',
        interval: '15m',
        retention: { keepAllFor: '1h', hourlyFor: '2h', dailyFor: '48h', minKeep: 1 },
        paused: false,
      },
    });
    clock = new ManualClock(T0);
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
    await cluster?.stop();
    await etcd?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('takes the first snapshot at once (credentials from the Secret); status and /metrics say so', async () => {
    const e = await waitForSnapshotAt(T0);
    const s = e.status;
    assert.ok(s?.lastSuccessfulSnapshot);
    assert.equal(s.phase, 'Healthy');
    assert.equal(s.controlFilesHealthy, true);
    assert.equal(s.lastAttemptAt, kube(T0));
    assert.equal(s.nextSnapshotAt, kube(at(15 * MIN)));
    assert.equal(s.lastError, undefined);
    assert.deepEqual(await snapshotIds(), [s.lastSuccessfulSnapshot.id]);
    const manifest = JSON.parse(
      await readFile(path.join(snapshotsDir(), s.lastSuccessfulSnapshot.id, 'manifest.json'), 'utf8'),
    );
    assert.equal(s.lastSuccessfulSnapshot.size, manifest.size);
    assert.equal(s.lastSuccessfulSnapshot.revision, manifest.revision);

    const text = await scrape();
    const labels = { cluster: 'main' };
    assert.equal(
      metricValue(text, 'cairn_etcd_snapshot_last_successful_timestamp_seconds', labels),
      T0.getTime() / 1000,
    );
    assert.equal(metricValue(text, 'cairn_etcd_snapshot_size_bytes', labels), manifest.size);
    assert.equal(metricValue(text, 'cairn_etcd_control_files_healthy', labels), 1);
    const events = await eventsOf(cluster, 'EtcdBackup', 'main', withReasons('SnapshotSaved'));
    assert.ok(events.some((x) => x.reason === 'SnapshotSaved' && x.type === 'Normal'));
  });

  it('takes none before the interval passed, even when reconciled', async () => {
    clock.set(at(10 * MIN));
    controller.context.enqueue('etcdbackup', 'main');
    await controller.idle();
    assert.equal((await snapshotIds()).length, 1);
    assert.equal(controller.queue('etcdbackup')?.dueAt('main'), at(15 * MIN).getTime());
    const s = (await get())?.status;
    assert.equal(s?.lastAttemptAt, kube(T0));
    assert.equal(s?.nextSnapshotAt, kube(at(15 * MIN)));
  });

  it('takes the next one when due, then prunes per the cluster spec in storage', async () => {
    // Synthetic older history (complete = has a manifest): retention 1h all / 2h hourly / 48h daily.
    const synthetic = {
      fourDaysOld: `${compactUtc(at(-4 * DAY))}-1`,
      threeDaysOld: `${compactUtc(at(-3 * DAY))}-2`,
      yesterdayEarlier: `${compactUtc(at(-DAY - 7 * 60 * MIN))}-3`,
      yesterdayNewest: `${compactUtc(at(-DAY - 6 * 60 * MIN))}-4`,
    };
    for (const id of Object.values(synthetic)) {
      await mkdir(path.join(snapshotsDir(), id), { recursive: true });
      await writeFile(path.join(snapshotsDir(), id, 'snapshot.db'), 'db');
      await writeFile(path.join(snapshotsDir(), id, 'manifest.json'), '{}');
    }
    const first = (await snapshotIds()).filter((id) => id.startsWith(compactUtc(T0)));
    await fireAt(at(15 * MIN));
    const e = await waitForSnapshotAt(at(15 * MIN));
    assert.equal(e.status?.phase, 'Healthy');
    assert.equal(e.status?.nextSnapshotAt, kube(at(30 * MIN)));
    const second = e.status?.lastSuccessfulSnapshot?.id as string;
    await waitFor('retention to prune', async () => (await snapshotIds()).length === 3);
    assert.deepEqual(await snapshotIds(), [synthetic.yesterdayNewest, ...first, second].sort());
    const events = await eventsOf(cluster, 'EtcdBackup', 'main', withReasons('SnapshotsPruned'));
    const pruned = events.find((x) => x.reason === 'SnapshotsPruned');
    assert.ok(pruned);
    for (const id of [synthetic.fourDaysOld, synthetic.threeDaysOld, synthetic.yesterdayEarlier])
      assert.match(pruned.message, new RegExp(id));
    const text = await scrape();
    assert.equal(
      metricValue(text, 'cairn_etcd_snapshot_last_successful_timestamp_seconds', { cluster: 'main' }),
      at(15 * MIN).getTime() / 1000,
    );
  });

  it('a deleted cluster spec with snapshots present: Failing, loud, gauge 0, nothing written', async () => {
    const savedSpec = await readFile(specFile(), 'utf8');
    await rm(specFile());
    const treeBefore = [
      ...(await readdir(path.join(loc, 'etcd'), { recursive: true })),
      ...(await readdir(path.join(loc, 'control'), { recursive: true })),
    ].sort();
    const newest = (await get())?.status?.lastSuccessfulSnapshot?.id as string;
    await fireAt(at(30 * MIN));
    const e = await waitFor('phase Failing', async () => {
      const x = await get();
      return x?.status?.phase === 'Failing' ? x : undefined;
    });
    assert.equal(e.status?.controlFilesHealthy, false);
    assert.match(e.status?.lastError ?? '', /MISSING/);
    assert.match(e.status?.lastError ?? '', new RegExp(`newest ${newest}`));
    assert.match(e.status?.lastError ?? '', /15 min ago/);
    const warning = (await eventsOf(cluster, 'EtcdBackup', 'main', withReasons('ControlFilesMissing'))).find(
      (x) => x.reason === 'ControlFilesMissing',
    );
    assert.equal(warning?.type, 'Warning');
    assert.match(warning?.message ?? '', new RegExp(newest));
    const text = await scrape();
    assert.equal(metricValue(text, 'cairn_etcd_control_files_healthy', { cluster: 'main' }), 0);
    const treeAfter = [
      ...(await readdir(path.join(loc, 'etcd'), { recursive: true })),
      ...(await readdir(path.join(loc, 'control'), { recursive: true })),
    ].sort();
    assert.deepEqual(treeAfter, treeBefore);
    // Put it back (as an operator would, from a copy) for the next test.
    await writeFile(specFile(), savedSpec);
  });

  it('paused takes no snapshot', async () => {
    await cluster.resources.patch('etcdbackups', 'main', { spec: { paused: true } });
    await waitFor('phase Paused', async () => (await get())?.status?.phase === 'Paused' || undefined);
    const before = await snapshotIds();
    clock.set(at(120 * MIN));
    controller.context.enqueue('etcdbackup', 'main');
    await controller.idle();
    assert.deepEqual(await snapshotIds(), before);
    assert.equal((await get())?.status?.phase, 'Paused');
    assert.equal((await get())?.status?.controlFilesHealthy, true);
  });
});

describe('controller: EtcdBackup over TLS (client certificate from a Secret), and a failing snapshot', () => {
  let cluster: ControllerCluster;
  let etcd: TestEtcd;
  let controller: Controller;
  let clock: ManualClock;
  let base: string;
  let loc: string;
  const get = (name: string) => cluster.resources.get<EtcdBackup>('etcdbackups', name);
  const resource = (name: string, secret: string): EtcdBackup => ({
    apiVersion: API_VERSION,
    kind: 'EtcdBackup',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      cluster: name,
      location: 'primary',
      endpoints: [etcd.endpoint],
      tlsSecretName: secret,
      interval: '1h',
      retention: { keepAllFor: '1h', hourlyFor: '168h', dailyFor: '365d', minKeep: 3 },
      paused: false,
    },
  });

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cairn-etcd-controller-tls-'));
    loc = path.join(base, 'loc');
    [cluster, etcd] = await Promise.all([startControllerCluster(), startEtcd({ tls: true })]);
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
    for (const name of ['tls', 'nokey']) await initCluster(openLocation(loc).store, name, { interval: '1h' });
    await fsBackupLocation(cluster, 'primary', { path: loc });
    const certs = etcd.certs;
    assert.ok(certs);
    const secret = async (name: string, files: Record<string, string>) => {
      const data: Record<string, string> = {};
      for (const [key, file] of Object.entries(files)) data[key] = (await readFile(file)).toString('base64');
      await cluster.connection.request('POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, {
        body: { metadata: { name }, data },
      });
    };
    await secret('etcd-client', {
      'ca.crt': certs.ca,
      'tls.crt': certs.clientCert,
      'tls.key': certs.clientKey,
    });
    // No client certificate: etcd (--client-cert-auth) refuses the connection.
    await secret('etcd-ca-only', { 'ca.crt': certs.ca });
    await cluster.resources.create('etcdbackups', resource('tls', 'etcd-client'));
    await cluster.resources.create('etcdbackups', resource('nokey', 'etcd-ca-only'));
    clock = new ManualClock(T0);
    controller = startTestController(cluster, { clock });
  });

  after(async () => {
    await controller?.stop();
    await cluster?.stop();
    await etcd?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('snapshots over TLS with the Secret’s client certificate', async () => {
    const e = await waitFor('a TLS snapshot', async () => {
      const x = await get('tls');
      return x?.status?.lastSuccessfulSnapshot !== undefined ? x : undefined;
    });
    assert.equal(e.status?.phase, 'Healthy');
    assert.equal(e.status?.nextSnapshotAt, kube(at(60 * MIN)));
    assert.equal((await readdir(path.join(loc, 'etcd/tls/snapshots'))).length, 1);
  });

  it('a failed snapshot: Failing with lastError, a Warning event, retried after a quarter interval', async () => {
    const e = await waitFor('the failed attempt', async () => {
      const x = await get('nokey');
      return x?.status?.lastError !== undefined ? x : undefined;
    });
    assert.equal(e.status?.phase, 'Failing');
    assert.equal(e.status?.controlFilesHealthy, true);
    assert.match(e.status?.lastError ?? '', /unreachable.*bad certificate/s);
    assert.equal(e.status?.lastAttemptAt, kube(T0));
    assert.equal(e.status?.nextSnapshotAt, kube(at(15 * MIN)));
    assert.equal(e.status?.lastSuccessfulSnapshot, undefined);
    const events = await eventsOf(cluster, 'EtcdBackup', 'nokey', withReasons('SnapshotFailed'));
    assert.ok(events.some((x) => x.reason === 'SnapshotFailed' && x.type === 'Warning'));
    const written = await readdir(path.join(loc, 'etcd/nokey/snapshots')).catch(() => []);
    assert.deepEqual(written, []);
  });

  it('a deleted EtcdBackup stops exporting its gauges (at its next requeue)', async () => {
    const value = async () =>
      metricValue(await controller.metrics.registry.metrics(), 'cairn_etcd_control_files_healthy', {
        cluster: 'tls',
      });
    assert.equal(await value(), 1);
    const due = controller.queue('etcdbackup')?.dueAt('tls');
    assert.ok(due !== undefined);
    await cluster.resources.delete('etcdbackups', 'tls');
    await waitFor('the EtcdBackup to be gone', async () => (await get('tls')) === undefined);
    clock.set(new Date(due));
    await waitFor('the tls series to go', async () => (await value()) === undefined);
    // The data stays: deleting the resource never deletes snapshots.
    assert.equal((await readdir(path.join(loc, 'etcd/tls/snapshots'))).length, 1);
  });
});
