import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Backup } from '../src/api/backup.ts';
import { API_VERSION } from '../src/api/common.ts';
import type { Schedule } from '../src/api/schedule.ts';
import { ClusterConnection } from '../src/cluster/connection.ts';
import { discoverResources } from '../src/cluster/discovery.ts';
import { ManualClock } from '../src/controller/clock.ts';
import { Controller } from '../src/controller/controller.ts';
import { CairnResources } from '../src/controller/resources.ts';
import { ControllerMetrics } from '../src/server/metrics.ts';
import { installCairnApi, NAMESPACE, waitFor } from '../test/controller/support.ts';
import { createAll, type TestCluster } from '../test/restore/helpers.ts';
import { type Manifest, sampleApp } from '../test/support/fixtures/sample-app.ts';
import { startSandboxProcess } from './lib/sandbox-process.ts';

const SCHEDULES = Number(process.env.SCHEDULES ?? 50);

async function peakRssMiB(): Promise<number> {
  const m = /VmHWM:\s+(\d+) kB/.exec(await readFile('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function rssMiB(): number {
  return process.memoryUsage().rss / 1024 / 1024;
}

/** The sample app's `shop` namespace, copied into namespace `ns`. */
function shopCopy(ns: string): Manifest[] {
  return sampleApp()
    .filter((o) => o.metadata.namespace === 'shop' || (o.kind === 'Namespace' && o.metadata.name === 'shop'))
    .map((o) =>
      o.kind === 'Namespace'
        ? { ...o, metadata: { ...o.metadata, name: ns } }
        : { ...o, metadata: { ...o.metadata, namespace: ns } },
    );
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'cairn-bench-controller-'));
  const kubeconfig = path.join(work, 'kubeconfig');
  const sandbox = await startSandboxProcess(kubeconfig, 60_000);
  const connection = await ClusterConnection.connect({ kubeconfig, qps: 1000, burst: 1000 });
  let controller: Controller | undefined;
  try {
    await installCairnApi(connection);
    const cluster = {
      connection,
      kubeconfig,
      types: async () => (await discoverResources(connection)).types,
    } as unknown as TestCluster;
    // Cluster-scoped objects of the app once (CRD, StorageClass, ClusterRole...), then one copy per namespace.
    await createAll(
      cluster,
      sampleApp().filter((o) => o.metadata.namespace === undefined && o.kind !== 'Namespace'),
    );
    const namespaces = Array.from({ length: SCHEDULES }, (_, i) => `app-${String(i).padStart(2, '0')}`);
    for (const ns of namespaces) await createAll(cluster, shopCopy(ns));
    const objectsPerNamespace = shopCopy('x').length;

    const resources = new CairnResources(connection, NAMESPACE);
    await resources.create('backuplocations', {
      apiVersion: API_VERSION,
      kind: 'BackupLocation',
      metadata: { name: 'bench', namespace: NAMESPACE },
      spec: { provider: 'filesystem', url: path.join(work, 'location'), default: true },
    });
    const clock = new ManualClock(new Date());
    controller = new Controller({
      connection,
      namespace: NAMESPACE,
      clock,
      leaderElection: false,
      log: pino({ level: 'warn' }),
      metrics: new ControllerMetrics({ processMetrics: false }),
      version: 'bench',
    }).start();
    for (const ns of namespaces) {
      await resources.create<Schedule>('schedules', {
        apiVersion: API_VERSION,
        kind: 'Schedule',
        metadata: { name: ns, namespace: NAMESPACE },
        spec: { schedule: '* * * * *', skipImmediately: true, template: { includeNamespaces: [ns] } },
      });
    }
    const c = controller;
    // Every schedule armed; the clock then jumps to the latest armed minute, so all of them are due
    // at the same instant (schedules created across a minute boundary catch up with one run).
    const due = await waitFor('all schedules Enabled and armed', () => {
      const all = c.context.caches.schedules.list();
      if (all.length < SCHEDULES || !all.every((s) => s.status?.phase === 'Enabled')) return undefined;
      const times = all.map((s) => Date.parse(s.status?.nextRunTime ?? ''));
      const armed = all.every((s, i) => c.queue('schedule')?.dueAt(s.metadata.name) === times[i]);
      return armed ? Math.max(...times) : undefined;
    });
    const minute = due;
    const rssBefore = rssMiB();
    const started = performance.now();
    clock.set(new Date(minute));
    let peakLive = rssBefore;
    const done = await waitFor(
      'all backups finished',
      () => {
        peakLive = Math.max(peakLive, rssMiB());
        const backups = c.context.caches.backups.list();
        const finished = backups.filter((b) =>
          ['Completed', 'PartiallyFailed', 'Failed'].includes(b.status?.phase ?? ''),
        );
        return finished.length === SCHEDULES ? finished : undefined;
      },
      600_000,
    );
    const wallS = (performance.now() - started) / 1000;
    const failed = done.filter((b: Backup) => b.status?.phase !== 'Completed');
    const items = done.reduce((n, b) => n + (b.status?.itemsBackedUp ?? 0), 0);
    const result = {
      schedules: SCHEDULES,
      objectsPerNamespace,
      maxConcurrentRuns: c.context.settings.maxConcurrentRuns,
      wallSeconds: Number(wallS.toFixed(2)),
      backupsPerSecond: Number((SCHEDULES / wallS).toFixed(1)),
      itemsBackedUp: items,
      notCompleted: failed.map(
        (b) => `${b.metadata.name}: ${b.status?.phase} ${b.status?.failureReason ?? ''}`,
      ),
      rssBeforeFiringMiB: Number(rssBefore.toFixed(0)),
      peakRssMiB: Number((await peakRssMiB()).toFixed(0)),
      peakRssDuringRunMiB: Number(peakLive.toFixed(0)),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (failed.length > 0) process.exitCode = 1;
  } finally {
    await controller?.stop();
    connection.close();
    await sandbox.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
