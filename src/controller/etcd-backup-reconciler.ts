/**
 * Reconciles an EtcdBackup: periodic etcd snapshots of one cluster into a
 * BackupLocation, as idempotent steps driven by the injected clock. The
 * decisions (when due, which phase) are the pure functions of
 * src/etcd/backup-resource.ts; the snapshot, retention and observation are
 * the same code the CLI and its CronJob path run, so all three agree.
 *
 * Every run, in order:
 * - validate the spec and resolve the BackupLocation (a ReadOnly one is
 *   refused: snapshots are writes);
 * - observe the location FRESH — the cluster spec `control/etcd/<cluster>/
 *   spec.json` and the snapshot listing — and export the three etcd gauges.
 *   No cache of the spec survives a run: etcd-manager cached its control file,
 *   a lifecycle rule deleted it, and nobody noticed until a restart
 *   re-initialised an empty cluster;
 * - a missing (or unreadable) spec is Failing, loudly: the message names the
 *   newest snapshot and its age, a Warning event, the control-files gauge at
 *   0. Nothing is written and nothing is initialised — ever — from here;
 * - paused: phase Paused, no snapshot;
 * - due (`nextSnapshotAt`; never snapshotted = due now): read the TLS and
 *   auth Secrets fresh, stream a snapshot with `saveSnapshot`, then apply the
 *   cluster spec's retention (`planRetention` + `pruneSnapshots`);
 * - status (phase, lastSuccessfulSnapshot, lastAttemptAt, lastError,
 *   nextSnapshotAt, controlFilesHealthy) and a requeue at the next due time.
 *
 * Interval comes from the resource ("where and how often"); retention from the
 * cluster spec in storage, the source of truth that `snapshot prune` and
 * `save --prune` also apply — a CronJob and the controller on the same
 * cluster never prune differently. A resource retention that differs is
 * logged.
 *
 * Never two snapshots of one EtcdBackup at once: the work queue runs a key on
 * one worker at a time, and `ctx.running` holds `etcdbackup/<name>` (plus
 * `etcd/<location>/<cluster>`, so two resources naming the same cluster and
 * location do not snapshot it together) for the length of a snapshot.
 */
import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import type { EtcdBackup, EtcdBackupStatus } from '../api/etcd-backup.ts';
import { validateEtcdBackupSpec } from '../api/validation.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { backupPhase, nextSnapshotAt, withEtcdBackupDefaults } from '../etcd/backup-resource.ts';
import { listSnapshots } from '../etcd/catalog.ts';
import { EtcdClient, type EtcdConnectOptions, type EtcdTls } from '../etcd/client.ts';
import {
  type EtcdClusterObservation,
  etcdMetricSamples,
  METRIC_HELP,
  observeEtcdCluster,
} from '../etcd/metrics.ts';
import { planRetention, pruneSnapshots, retentionPolicy } from '../etcd/retention.ts';
import { saveSnapshot } from '../etcd/save.ts';
import { requireClusterSpec } from '../etcd/spec.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { parseDuration } from '../util/duration.ts';
import { resolveLocation } from './backup-reconciler.ts';
import { type ControllerContext, kubeTime, messageOf, note } from './context.ts';
import { openBackupLocation } from './location-access.ts';
import type { ReconcileResult } from './work-queue.ts';

/** The longest wait between two looks (a deleted spec shows in status and metrics within this, whatever the interval). */
const MAX_REQUEUE_MS = 15 * 60_000;

const ETCD_GAUGE_NAMES = [
  'cairn_etcd_snapshot_last_successful_timestamp_seconds',
  'cairn_etcd_snapshot_size_bytes',
  'cairn_etcd_control_files_healthy',
] as const;
type EtcdGaugeName = (typeof ETCD_GAUGE_NAMES)[number];

const gaugesByRegistry = new WeakMap<Registry, Record<EtcdGaugeName, Gauge<'cluster'>>>();
/** Which cluster each EtcdBackup exported, per registry: a deleted resource's series are removed on its next requeue. */
const exportedByRegistry = new WeakMap<Registry, Map<string, string>>();

/**
 * The etcd gauges in the controller's registry, created on first use. Names,
 * help and values come from src/etcd/metrics.ts (`etcdMetricSamples`), so the
 * controller's `/metrics` and `cairn etcd cluster status -o prometheus` print
 * the same samples.
 */
export function etcdGauges(registry: Registry): Record<EtcdGaugeName, Gauge<'cluster'>> {
  let gauges = gaugesByRegistry.get(registry);
  if (gauges === undefined) {
    const make = (name: EtcdGaugeName) =>
      new Gauge({
        name,
        help: METRIC_HELP[name] ?? name,
        labelNames: ['cluster'] as const,
        registers: [registry],
      });
    gauges = {
      cairn_etcd_snapshot_last_successful_timestamp_seconds: make(
        'cairn_etcd_snapshot_last_successful_timestamp_seconds',
      ),
      cairn_etcd_snapshot_size_bytes: make('cairn_etcd_snapshot_size_bytes'),
      cairn_etcd_control_files_healthy: make('cairn_etcd_control_files_healthy'),
    };
    gaugesByRegistry.set(registry, gauges);
  }
  return gauges;
}

function exportObservation(ctx: ControllerContext, name: string, observation: EtcdClusterObservation): void {
  const gauges = etcdGauges(ctx.metrics.registry);
  let exported = exportedByRegistry.get(ctx.metrics.registry);
  if (exported === undefined) {
    exported = new Map();
    exportedByRegistry.set(ctx.metrics.registry, exported);
  }
  exported.set(name, observation.cluster);
  const labels = { cluster: observation.cluster };
  // A series without a sample this time (no complete snapshot left) must go, not keep its old value.
  for (const name of ETCD_GAUGE_NAMES) gauges[name].remove(labels);
  for (const sample of etcdMetricSamples([observation]))
    gauges[sample.name as EtcdGaugeName]?.set(labels, sample.value);
}

/** Drops the series of an EtcdBackup that is gone, unless another one still exports its cluster. */
function forgetExported(ctx: ControllerContext, name: string): void {
  const exported = exportedByRegistry.get(ctx.metrics.registry);
  const cluster = exported?.get(name);
  if (exported === undefined || cluster === undefined) return;
  exported.delete(name);
  if ([...exported.values()].includes(cluster)) return;
  const gauges = etcdGauges(ctx.metrics.registry);
  for (const gaugeName of ETCD_GAUGE_NAMES) gauges[gaugeName].remove({ cluster });
}

function dateOf(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

function sameStatus(a: EtcdBackupStatus | undefined, b: EtcdBackupStatus): boolean {
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b)]) as Set<keyof EtcdBackupStatus>;
  for (const k of keys) if (JSON.stringify(a?.[k]) !== JSON.stringify(b[k])) return false;
  return true;
}

export async function reconcileEtcdBackup(ctx: ControllerContext, name: string): Promise<ReconcileResult> {
  // Read fresh, not from the cache: the last attempt's status decides whether a snapshot is due,
  // and a cache that has not seen our own write yet would take a second one.
  const resource = await ctx.resources.get<EtcdBackup>('etcdbackups', name);
  if (resource === undefined || resource.metadata.deletionTimestamp !== undefined) {
    forgetExported(ctx, name);
    return undefined;
  }
  const previous = resource.status;
  const write = async (status: EtcdBackupStatus) => {
    if (sameStatus(previous, status)) return;
    // Fields dropped from the status are removed explicitly (merge patch: null).
    const removed: Record<string, null> = {};
    for (const key of Object.keys(previous ?? {})) if (!(key in status)) removed[key] = null;
    await ctx.resources.patchStatus('etcdbackups', name, { ...removed, ...status });
  };
  const carried = {
    ...(previous?.lastSuccessfulSnapshot === undefined
      ? {}
      : { lastSuccessfulSnapshot: previous.lastSuccessfulSnapshot }),
    ...(previous?.lastAttemptAt === undefined ? {} : { lastAttemptAt: previous.lastAttemptAt }),
  };
  const fail = async (reason: string, message: string, controlFilesHealthy: boolean) => {
    await write({ ...carried, phase: 'Failing', lastError: message, controlFilesHealthy });
    if (previous?.phase !== 'Failing' || previous.lastError !== message)
      await note(ctx, resource, 'Warning', reason, message);
  };

  const problems = validateEtcdBackupSpec(resource.spec);
  const resolved = resolveLocation(ctx, resource.spec.location);
  if ('problem' in resolved)
    problems.push(resolved.problem.replace(/^spec\.storageLocation/, 'spec.location'));
  else if (resolved.location.spec.accessMode === 'ReadOnly')
    problems.push(`spec.location: BackupLocation "${resolved.location.metadata.name}" is ReadOnly`);
  if (problems.length > 0 || 'problem' in resolved) {
    await fail(
      'FailedValidation',
      `EtcdBackup is invalid: ${problems.join('; ')}`,
      previous?.controlFilesHealthy ?? false,
    );
    return undefined;
  }
  const spec = withEtcdBackupDefaults(resource.spec);
  const intervalMs = parseDuration(spec.interval, 'spec.interval');
  const cluster = spec.cluster;

  const access = await openBackupLocation(resolved.location, ctx.resources);
  try {
    let observation = await observeEtcdCluster(access.store, cluster);
    exportObservation(ctx, name, observation);
    if (!observation.controlFilesHealthy) {
      // The refusal message of the CLI: names the newest snapshot and its age. Nothing is written.
      const message = await refusalOf(access.store, cluster, ctx.clock.now());
      await fail(
        observation.specState === 'invalid'
          ? 'ControlFilesCorrupt'
          : observation.completeSnapshots + observation.incompleteSnapshots > 0
            ? 'ControlFilesMissing'
            : 'ClusterNotInitialized',
        message,
        false,
      );
      return { requeueAfterMs: Math.min(MAX_REQUEUE_MS, intervalMs) };
    }

    const lastSuccess = lastSuccessOf(observation, previous);
    if (spec.paused) {
      await write({
        ...carried,
        ...lastSuccess,
        phase: 'Paused',
        ...(previous?.lastError === undefined ? {} : { lastError: previous.lastError }),
        controlFilesHealthy: true,
      });
      if (previous?.phase !== 'Paused') await note(ctx, resource, 'Normal', 'Paused', 'Snapshots paused');
      return undefined;
    }
    if (previous?.phase === 'Paused') await note(ctx, resource, 'Normal', 'Unpaused', 'Snapshots resumed');

    const lastSuccessAt = dateOf(lastSuccess.lastSuccessfulSnapshot?.completedAt);
    const lastAttemptAt = dateOf(previous?.lastAttemptAt);
    const lastAttemptFailed = previous?.lastError !== undefined && previous.controlFilesHealthy !== false;
    const next = nextSnapshotAt(
      {
        ...(lastSuccessAt === undefined ? {} : { lastSuccessAt }),
        ...(lastAttemptAt === undefined ? {} : { lastAttemptAt }),
        lastAttemptFailed,
      },
      intervalMs,
    );
    const now = ctx.clock.now();
    let status: EtcdBackupStatus;
    if (next !== undefined && next.getTime() > now.getTime()) {
      status = {
        ...carried,
        ...lastSuccess,
        phase: backupPhase({
          paused: false,
          ...(lastSuccessAt === undefined ? {} : { lastSuccessAt }),
          lastAttemptFailed,
          controlFilesHealthy: true,
          intervalMs,
          now,
        }),
        ...(previous?.lastError === undefined || !lastAttemptFailed ? {} : { lastError: previous.lastError }),
        nextSnapshotAt: kubeTime(next),
        controlFilesHealthy: true,
      };
    } else {
      const key = `etcdbackup/${name}`;
      const clusterKey = `etcd/${resolved.location.metadata.name}/${cluster}`;
      if (ctx.running.has(key) || ctx.running.has(clusterKey)) return { requeueAfterMs: 1_000 };
      ctx.running.add(key);
      ctx.running.add(clusterKey);
      try {
        const outcome = await takeSnapshot(ctx, resource, access.store, spec);
        observation = await observeEtcdCluster(access.store, cluster);
        exportObservation(ctx, name, observation);
        const attemptAt = kubeTime(now);
        const after = ctx.clock.now();
        const success = lastSuccessOf(observation, previous);
        const successAt = dateOf(success.lastSuccessfulSnapshot?.completedAt);
        const failed = outcome.error !== undefined;
        const following = nextSnapshotAt(
          {
            ...(successAt === undefined ? {} : { lastSuccessAt: successAt }),
            lastAttemptAt: now,
            lastAttemptFailed: failed,
          },
          intervalMs,
        );
        status = {
          ...success,
          lastAttemptAt: attemptAt,
          phase: backupPhase({
            paused: false,
            ...(successAt === undefined ? {} : { lastSuccessAt: successAt }),
            lastAttemptFailed: failed,
            controlFilesHealthy: observation.controlFilesHealthy,
            intervalMs,
            now: after,
          }),
          ...(outcome.error === undefined ? {} : { lastError: outcome.error }),
          ...(following === undefined ? {} : { nextSnapshotAt: kubeTime(following) }),
          controlFilesHealthy: observation.controlFilesHealthy,
        };
      } finally {
        ctx.running.delete(key);
        ctx.running.delete(clusterKey);
      }
    }
    // Leadership lost during a long snapshot: the new leader observes storage and writes the record.
    if (!ctx.isLeader()) return undefined;
    await write(status);
    const due = dateOf(status.nextSnapshotAt);
    const wait = due === undefined ? MAX_REQUEUE_MS : due.getTime() - ctx.clock.now().getTime();
    return { requeueAfterMs: Math.max(1, Math.min(MAX_REQUEUE_MS, wait)) };
  } finally {
    await access.close();
  }
}

/** The newest complete snapshot, from storage (the truth), else what the status last said. */
function lastSuccessOf(
  observation: EtcdClusterObservation,
  previous: EtcdBackupStatus | undefined,
): Pick<EtcdBackupStatus, 'lastSuccessfulSnapshot'> {
  const last = observation.lastSuccessful ?? previous?.lastSuccessfulSnapshot;
  return last === undefined
    ? {}
    : { lastSuccessfulSnapshot: { ...last, completedAt: kubeTime(new Date(last.completedAt)) } };
}

/** Why the spec check refuses (the CLI's message), or a generic one. */
async function refusalOf(store: BlobStore, cluster: string, now: Date): Promise<string> {
  try {
    await requireClusterSpec(store, cluster, { now, doing: 'take a snapshot' });
    return `the cluster spec of "${cluster}" changed while it was read; will look again`;
  } catch (err) {
    if (err instanceof CairnError) return `${err.message}. ${err.hint ?? ''}`.trim();
    return messageOf(err);
  }
}

/** One snapshot and, after a success, retention. Failures are the outcome's `error`, with a Warning event. */
async function takeSnapshot(
  ctx: ControllerContext,
  resource: EtcdBackup,
  store: BlobStore,
  spec: EtcdBackup['spec'],
): Promise<{ error?: string }> {
  let client: EtcdClient | undefined;
  try {
    // Secrets read fresh each time: rotated certificates and passwords apply at the next snapshot.
    client = await EtcdClient.connect(await connectOptions(ctx, spec));
    const manifest = await saveSnapshot({
      store,
      client,
      cluster: spec.cluster,
      createdBy: ctx.createdBy,
      now: () => ctx.clock.now(),
    });
    await note(
      ctx,
      resource,
      'Normal',
      'SnapshotSaved',
      `Saved snapshot ${manifest.id} of etcd cluster "${spec.cluster}" (revision ${manifest.revision}, ${manifest.size} bytes)`,
    );
    await applyRetention(ctx, resource, store, spec);
    return {};
  } catch (err) {
    const message =
      err instanceof CairnError ? `${err.message}${err.hint ? `. ${err.hint}` : ''}` : messageOf(err);
    await note(ctx, resource, 'Warning', 'SnapshotFailed', `Snapshot failed: ${message}`);
    return { error: message };
  } finally {
    client?.close();
  }
}

async function applyRetention(
  ctx: ControllerContext,
  resource: EtcdBackup,
  store: BlobStore,
  spec: EtcdBackup['spec'],
): Promise<void> {
  // Fresh again: the spec may have been edited (or deleted) during a long snapshot.
  const clusterSpec = await requireClusterSpec(store, spec.cluster, {
    now: ctx.clock.now(),
    doing: 'apply retention',
  });
  if (
    JSON.stringify(clusterSpec.retention) !== JSON.stringify({ ...clusterSpec.retention, ...spec.retention })
  )
    ctx.log.warn(
      { etcdBackup: resource.metadata.name, stored: clusterSpec.retention, resource: spec.retention },
      'spec.retention differs from the cluster spec in storage; applying the stored one (the source of truth)',
    );
  const entries = await listSnapshots(store, spec.cluster);
  const plan = planRetention(entries, retentionPolicy(clusterSpec.retention), ctx.clock.now());
  if (plan.prune.length === 0) return;
  const result = await pruneSnapshots(store, spec.cluster, plan, entries);
  if (result.deleted.length > 0)
    await note(
      ctx,
      resource,
      'Normal',
      'SnapshotsPruned',
      `Retention deleted ${result.deleted.length} snapshot${result.deleted.length === 1 ? '' : 's'}: ${result.deleted.join(', ')}`,
    );
  if (result.failed.length > 0)
    await note(
      ctx,
      resource,
      'Warning',
      'PruneFailed',
      `Retention could not delete ${result.failed.map((f) => `${f.id} (${f.error})`).join(', ')}`,
    );
}

/** Endpoints, TLS (Secret keys ca.crt, tls.crt, tls.key) and auth (username, password). */
async function connectOptions(ctx: ControllerContext, spec: EtcdBackup['spec']): Promise<EtcdConnectOptions> {
  const secret = async (secretName: string, key: string, required: boolean) => {
    const value = await ctx.resources.secretValue(secretName, key);
    if (value === undefined && required)
      throw new CairnError(
        'ETCD_SECRET_MISSING',
        `Secret "${secretName}" key "${key}" does not exist in namespace ${ctx.namespace}`,
        {
          hint: `Create it (kubectl -n ${ctx.namespace} create secret …) or fix the EtcdBackup's secret name.`,
        },
      );
    return value;
  };
  let tls: EtcdTls | undefined;
  if (spec.tlsSecretName !== undefined && spec.tlsSecretName !== '') {
    const ca = await secret(spec.tlsSecretName, 'ca.crt', false);
    const cert = await secret(spec.tlsSecretName, 'tls.crt', false);
    const key = await secret(spec.tlsSecretName, 'tls.key', cert !== undefined);
    tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  let auth: EtcdConnectOptions['auth'];
  if (spec.authSecretName !== undefined && spec.authSecretName !== '') {
    const user = await secret(spec.authSecretName, 'username', true);
    const password = await secret(spec.authSecretName, 'password', true);
    auth = { user: String(user), password: String(password) };
  }
  return { endpoints: spec.endpoints, ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) };
}
