/**
 * Reconciles a Backup resource, as idempotent steps (VolSync's mover shape):
 *
 * - deleting, with the `cairn.dev/delete-data` finalizer: delete the data in
 *   the location (manifest first, so a cut-short delete leaves an incomplete
 *   backup, never one that looks whole), then drop the finalizer;
 * - New: validate (FailedValidation + validationErrors), wait for its
 *   location's first check ("not ready yet" is a result), claim the backup
 *   with a conditional status write (two replicas never both run it), run
 *   `runBackup` with progress written at most every `progressIntervalMs`, end
 *   Completed / PartiallyFailed / Failed with counts and expiration;
 * - InProgress but not running in this process: the run died with a previous
 *   leader or process — Failed with that reason, never left hanging;
 * - final, not from a schedule, with a passed expiration: garbage-collected
 *   like retention does (finalizer, then delete).
 *
 * Deleting a Backup resource by hand keeps its data: only resources carrying
 * the finalizer (retention and expiry add it; a user may too) take the data
 * with them. Location sync would bring a data-bearing backup back anyway.
 */
import {
  BACKUP_FINAL_PHASES,
  type Backup,
  type BackupPhase,
  type BackupStatus,
  withBackupDefaults,
} from '../api/backup.ts';
import type { BackupLocation } from '../api/backup-location.ts';
import { LABELS } from '../api/common.ts';
import { validateBackup } from '../api/validation.ts';
import { type BackupProgress, runBackup } from '../backup/engine.ts';
import { layout } from '../catalog/layout.ts';
import { parseDuration } from '../util/duration.ts';
import { type ControllerContext, kubeTime, messageOf, note, wakeWaitingRuns } from './context.ts';
import { openBackupLocation } from './location-access.ts';
import { statusProgress } from './status-progress.ts';
import type { ReconcileResult } from './work-queue.ts';

/** On a Backup whose resource deletion must delete its data first. */
export const DELETE_DATA_FINALIZER = 'cairn.dev/delete-data';

export const RESTARTED_REASON = 'the controller restarted while the backup was running';

/** How long to wait for a location's first availability check before looking again. */
const LOCATION_WAIT_MS = 1_000;

/** The BackupLocation a spec names, or the default one. */
export function resolveLocation(
  ctx: ControllerContext,
  named: string | undefined,
): { location: BackupLocation } | { problem: string } {
  const all = ctx.caches.locations.list();
  if (named !== undefined && named !== '') {
    const location = all.find((l) => l.metadata.name === named);
    if (location !== undefined) return { location };
    return {
      problem: `spec.storageLocation: BackupLocation "${named}" does not exist in namespace ${ctx.namespace}${
        all.length > 0 ? ` (there are: ${all.map((l) => l.metadata.name).join(', ')})` : ''
      }`,
    };
  }
  const defaults = all.filter((l) => l.spec.default === true);
  if (defaults.length === 1 && defaults[0] !== undefined) return { location: defaults[0] };
  if (defaults.length === 0 && all.length === 1 && all[0] !== undefined) return { location: all[0] };
  return {
    problem:
      defaults.length > 1
        ? `spec.storageLocation: several BackupLocations are marked default (${defaults.map((l) => l.metadata.name).join(', ')}); name one`
        : `spec.storageLocation: no storage location named and no default BackupLocation in namespace ${ctx.namespace}`,
  };
}

function scheduleOf(backup: Backup): string {
  return backup.metadata.labels?.[LABELS.schedule] ?? '';
}

export async function reconcileBackup(ctx: ControllerContext, name: string): Promise<ReconcileResult> {
  const backup = ctx.caches.backups.get(`${ctx.namespace}/${name}`);
  if (backup === undefined) return undefined;
  if (backup.metadata.deletionTimestamp !== undefined) return ensureDataDeleted(ctx, backup);
  const phase: BackupPhase = backup.status?.phase ?? 'New';
  if (phase === 'InProgress') return ensureNotOrphaned(ctx, backup);
  if (BACKUP_FINAL_PHASES.includes(phase)) return ensureExpired(ctx, backup);
  return runNewBackup(ctx, backup);
}

async function ensureNotOrphaned(ctx: ControllerContext, backup: Backup): Promise<ReconcileResult> {
  const name = backup.metadata.name;
  if (ctx.running.has(`backup/${name}`)) return undefined;
  const status: BackupStatus = {
    ...backup.status,
    phase: 'Failed',
    failureReason: RESTARTED_REASON,
    completionTimestamp: kubeTime(ctx.clock.now()),
  };
  if (!(await ctx.resources.replaceStatus('backups', backup, status))) return undefined;
  ctx.metrics.backupFailures.inc({ schedule: scheduleOf(backup) });
  await note(ctx, backup, 'Warning', 'BackupFailed', `Backup failed: ${RESTARTED_REASON}`);
  const schedule = scheduleOf(backup);
  if (schedule !== '') ctx.enqueue('schedule', schedule);
  return undefined;
}

async function runNewBackup(ctx: ControllerContext, backup: Backup): Promise<ReconcileResult> {
  const name = backup.metadata.name;
  const schedule = scheduleOf(backup);
  const problems = validateBackup(backup);
  const resolved = resolveLocation(ctx, backup.spec.storageLocation);
  if ('problem' in resolved) problems.push(resolved.problem);
  else if (resolved.location.spec.accessMode === 'ReadOnly')
    problems.push(`spec.storageLocation: BackupLocation "${resolved.location.metadata.name}" is ReadOnly`);
  if (problems.length > 0 || 'problem' in resolved) {
    const status: BackupStatus = { phase: 'FailedValidation', validationErrors: problems };
    if (!(await ctx.resources.replaceStatus('backups', backup, status))) return undefined;
    ctx.metrics.backupValidationFailures.inc({ schedule });
    await note(ctx, backup, 'Warning', 'FailedValidation', `Backup is invalid: ${problems.join('; ')}`);
    if (schedule !== '') ctx.enqueue('schedule', schedule);
    return undefined;
  }
  const location = resolved.location;
  if (location.status?.phase === undefined) return { requeueAfterMs: LOCATION_WAIT_MS };
  if (ctx.running.size >= ctx.settings.maxConcurrentRuns) return { requeueAfterMs: 1_000 };

  const started = ctx.clock.now();
  const claimed = await ctx.resources.replaceStatus('backups', backup, {
    phase: 'InProgress',
    startTimestamp: kubeTime(started),
    storageLocation: location.metadata.name,
    progress: { typesTotal: 0, typesDone: 0, itemsBackedUp: 0 },
  } satisfies BackupStatus);
  // Someone else wrote it first (another replica, or a newer version in the cache): the watch
  // brings the new state and a new reconcile.
  if (!claimed) return undefined;
  ctx.running.add(`backup/${name}`);
  ctx.metrics.backupAttempts.inc({ schedule });
  try {
    await note(
      ctx,
      backup,
      'Normal',
      'BackupStarted',
      `Backing up into BackupLocation "${location.metadata.name}"`,
    );
    if (location.status.phase !== 'Available')
      await finishFailed(
        ctx,
        backup,
        started,
        `BackupLocation "${location.metadata.name}" is unavailable: ${location.status.message ?? 'no reason given'}`,
      );
    else await executeBackup(ctx, backup, location, started);
  } finally {
    ctx.running.delete(`backup/${name}`);
    wakeWaitingRuns(ctx);
  }
  if (schedule !== '') ctx.enqueue('schedule', schedule);
  return undefined;
}

async function executeBackup(
  ctx: ControllerContext,
  backup: Backup,
  location: BackupLocation,
  started: Date,
): Promise<void> {
  const name = backup.metadata.name;
  const schedule = scheduleOf(backup);
  const progress = statusProgress(ctx, 'backups', name, started, (p: BackupProgress) => ({
    progress: { typesTotal: p.typesTotal, typesDone: p.typesDone, itemsBackedUp: p.items },
  }));
  let access: Awaited<ReturnType<typeof openBackupLocation>> | undefined;
  try {
    access = await openBackupLocation(location, ctx.resources);
    const manifest = await runBackup({
      name,
      spec: withBackupDefaults(backup.spec),
      connection: ctx.resources.connection,
      store: access.store,
      createdBy: ctx.createdBy,
      now: () => ctx.clock.now(),
      onProgress: (p) => progress.offer(p),
    });
    await progress.settled();
    const completed = ctx.clock.now();
    const s = manifest.status;
    const status: BackupStatus = {
      phase: s.phase,
      completionTimestamp: kubeTime(completed),
      progress: { typesTotal: s.resourceTypes, typesDone: s.resourceTypes, itemsBackedUp: s.itemsBackedUp },
      itemsBackedUp: s.itemsBackedUp,
      errors: s.errors,
      warnings: s.warnings,
      ...(backup.spec.ttl === undefined
        ? {}
        : { expiration: kubeTime(new Date(completed.getTime() + parseDuration(backup.spec.ttl))) }),
    };
    if (!ctx.isLeader()) {
      ctx.log.warn(
        { backup: name },
        'leadership lost during the backup; its status is left to the new leader',
      );
      return;
    }
    await ctx.resources.patchStatus('backups', name, status);
    const seconds = (completed.getTime() - started.getTime()) / 1000;
    ctx.metrics.backupDuration.observe({ schedule }, seconds);
    ctx.metrics.backupItems.inc({ schedule }, s.itemsBackedUp);
    ctx.metrics.backupItemErrors.inc({ schedule }, s.errors);
    if (s.phase === 'Completed') {
      ctx.metrics.backupSuccesses.inc({ schedule });
      ctx.metrics.backupLastSuccessfulTimestamp.set({ schedule }, Math.floor(completed.getTime() / 1000));
      await note(
        ctx,
        backup,
        'Normal',
        'BackupCompleted',
        `Backed up ${s.itemsBackedUp} items of ${s.resourceTypes} types`,
      );
    } else if (s.phase === 'PartiallyFailed') {
      ctx.metrics.backupPartialFailures.inc({ schedule });
      await note(
        ctx,
        backup,
        'Warning',
        'BackupPartiallyFailed',
        `Backed up ${s.itemsBackedUp} items; ${s.errors} errors (see cairn backup describe ${name})`,
      );
    } else {
      ctx.metrics.backupFailures.inc({ schedule });
      await note(ctx, backup, 'Warning', 'BackupFailed', `Backup failed with ${s.errors} errors`);
    }
  } catch (err) {
    await progress.settled();
    await finishFailed(ctx, backup, started, messageOf(err));
  } finally {
    await access?.close();
  }
}

async function finishFailed(
  ctx: ControllerContext,
  backup: Backup,
  started: Date,
  reason: string,
): Promise<void> {
  const schedule = scheduleOf(backup);
  if (!ctx.isLeader()) return;
  const completed = ctx.clock.now();
  await ctx.resources.patchStatus('backups', backup.metadata.name, {
    phase: 'Failed',
    failureReason: reason,
    completionTimestamp: kubeTime(completed),
  } satisfies BackupStatus);
  ctx.metrics.backupFailures.inc({ schedule });
  ctx.metrics.backupDuration.observe({ schedule }, (completed.getTime() - started.getTime()) / 1000);
  await note(ctx, backup, 'Warning', 'BackupFailed', `Backup failed: ${reason}`);
}

/** Expiry of backups made by hand (a schedule's backups expire through its retention, which keeps the floor). */
async function ensureExpired(ctx: ControllerContext, backup: Backup): Promise<ReconcileResult> {
  const expiration = backup.status?.expiration;
  if (expiration === undefined || scheduleOf(backup) !== '') return undefined;
  const due = Date.parse(expiration) - ctx.clock.now().getTime();
  if (due > 0) return { requeueAfterMs: Math.min(due, 3_600_000) };
  await deleteWithData(ctx, backup, `expired at ${expiration}`);
  return undefined;
}

/** Deletes a Backup resource together with its data: finalizer first, so the data goes before the resource. */
export async function deleteWithData(ctx: ControllerContext, backup: Backup, why: string): Promise<void> {
  const finalizers = backup.metadata.finalizers ?? [];
  if (!finalizers.includes(DELETE_DATA_FINALIZER)) {
    const patched = await ctx.resources.patch('backups', backup.metadata.name, {
      metadata: {
        finalizers: [...finalizers, DELETE_DATA_FINALIZER],
        resourceVersion: backup.metadata.resourceVersion,
      },
    });
    if (patched === undefined) return;
  }
  await note(ctx, backup, 'Normal', 'BackupDeleting', `Deleting backup and its data: ${why}`);
  await ctx.resources.delete('backups', backup.metadata.name);
}

async function ensureDataDeleted(ctx: ControllerContext, backup: Backup): Promise<ReconcileResult> {
  const finalizers = backup.metadata.finalizers ?? [];
  if (!finalizers.includes(DELETE_DATA_FINALIZER)) return undefined;
  const name = backup.metadata.name;
  if (ctx.running.has(`backup/${name}`)) return { requeueAfterMs: 5_000 };
  const named = backup.status?.storageLocation ?? backup.spec.storageLocation;
  const resolved = resolveLocation(ctx, named);
  if ('location' in resolved && resolved.location.spec.accessMode !== 'ReadOnly') {
    const access = await openBackupLocation(resolved.location, ctx.resources);
    try {
      const keys: string[] = [];
      for await (const info of access.store.list(layout.backupPrefix(name))) keys.push(info.key);
      const manifestKey = layout.backupManifest(name);
      if (keys.includes(manifestKey)) await access.store.delete(manifestKey);
      for (const key of keys) if (key !== manifestKey) await access.store.delete(key);
      ctx.metrics.backupDeletions.inc({ schedule: scheduleOf(backup) });
      await note(
        ctx,
        backup,
        'Normal',
        'BackupDataDeleted',
        `Deleted ${keys.length} files from ${access.store.description}`,
      );
    } finally {
      await access.close();
    }
  } else {
    const why = 'location' in resolved ? `BackupLocation "${named}" is ReadOnly` : resolved.problem;
    await note(ctx, backup, 'Warning', 'BackupDataKept', `The backup's data was not deleted: ${why}`);
  }
  await ctx.resources.patch('backups', name, {
    metadata: { finalizers: finalizers.filter((f) => f !== DELETE_DATA_FINALIZER) },
  });
  const schedule = scheduleOf(backup);
  if (schedule !== '') ctx.enqueue('schedule', schedule);
  return undefined;
}
