/**
 * Reconciles a Restore resource with the Backup reconciler's lifecycle:
 * validate (the backup must exist as a resource or in the location), claim
 * with a conditional status write, run `runRestore`, store the results in the
 * location (unless it is ReadOnly), end Completed / PartiallyFailed / Failed
 * with counts. A Restore found InProgress and not running here failed with the
 * process that ran it.
 */
import type { Restore, RestorePhase, RestoreStatus } from '../api/restore.ts';
import { RESTORE_FINAL_PHASES } from '../api/restore.ts';
import { validateRestore } from '../api/validation.ts';
import { readBackupManifest } from '../catalog/backup-manifest.ts';
import { DEFAULT_RESTORE_OPTIONS, type RestoreOptions } from '../restore/options.ts';
import { type RestoreItemsProgress, runRestore } from '../restore/restore.ts';
import { restoreExists, saveRestoreRecord } from '../restore/results.ts';
import { resolveLocation } from './backup-reconciler.ts';
import { type ControllerContext, kubeTime, messageOf, note, wakeWaitingRuns } from './context.ts';
import { openBackupLocation } from './location-access.ts';
import { statusProgress } from './status-progress.ts';
import type { ReconcileResult } from './work-queue.ts';

export const RESTORE_RESTARTED_REASON = 'the controller restarted while the restore was running';

/** The engine's options from the resource's spec. */
export function restoreOptionsOf(spec: Restore['spec']): RestoreOptions {
  return {
    ...DEFAULT_RESTORE_OPTIONS,
    includeNamespaces: spec.includeNamespaces ?? [],
    excludeNamespaces: spec.excludeNamespaces ?? [],
    includeResources: spec.includeResources ?? [],
    excludeResources: spec.excludeResources ?? [],
    labelSelector: spec.labelSelector ?? '',
    namespaceMapping: spec.namespaceMapping ?? {},
    storageClassMapping: spec.storageClassMapping ?? {},
    existingResourcePolicy: {
      default: spec.existingResourcePolicy ?? 'skip',
      perType: spec.existingResourcePolicyByType ?? {},
    },
    restoreStatus: spec.restoreStatus ?? [],
    dryRun: false,
  };
}

export async function reconcileRestore(ctx: ControllerContext, name: string): Promise<ReconcileResult> {
  const restore = ctx.caches.restores.get(`${ctx.namespace}/${name}`);
  if (restore === undefined || restore.metadata.deletionTimestamp !== undefined) return undefined;
  const phase: RestorePhase = restore.status?.phase ?? 'New';
  if (RESTORE_FINAL_PHASES.includes(phase)) return undefined;
  if (phase === 'InProgress') {
    if (ctx.running.has(`restore/${name}`)) return undefined;
    if (
      await ctx.resources.replaceStatus('restores', restore, {
        ...restore.status,
        phase: 'Failed',
        failureReason: RESTORE_RESTARTED_REASON,
        completionTimestamp: kubeTime(ctx.clock.now()),
      } satisfies RestoreStatus)
    ) {
      ctx.metrics.restoreFailures.inc();
      await note(ctx, restore, 'Warning', 'RestoreFailed', `Restore failed: ${RESTORE_RESTARTED_REASON}`);
    }
    return undefined;
  }

  const problems = validateRestore(restore);
  const backupResource = ctx.caches.backups.get(`${ctx.namespace}/${restore.spec.backupName}`);
  const named =
    restore.spec.storageLocation ??
    backupResource?.status?.storageLocation ??
    backupResource?.spec.storageLocation;
  const resolved = resolveLocation(ctx, named);
  if ('problem' in resolved) problems.push(resolved.problem);
  else if (
    backupResource?.status?.phase !== undefined &&
    !['Completed', 'PartiallyFailed'].includes(backupResource.status.phase)
  )
    problems.push(
      `spec.backupName: Backup "${restore.spec.backupName}" is ${backupResource.status.phase}; only Completed or PartiallyFailed backups can be restored`,
    );
  if (problems.length > 0 || 'problem' in resolved) {
    if (
      await ctx.resources.replaceStatus('restores', restore, {
        phase: 'FailedValidation',
        validationErrors: problems,
      })
    ) {
      ctx.metrics.restoreFailures.inc();
      await note(ctx, restore, 'Warning', 'FailedValidation', `Restore is invalid: ${problems.join('; ')}`);
    }
    return undefined;
  }
  const location = resolved.location;
  if (location.status?.phase === undefined) return { requeueAfterMs: 1_000 };
  if (ctx.running.size >= ctx.settings.maxConcurrentRuns) return { requeueAfterMs: 1_000 };

  const started = ctx.clock.now();
  if (
    !(await ctx.resources.replaceStatus('restores', restore, {
      phase: 'InProgress',
      startTimestamp: kubeTime(started),
    } satisfies RestoreStatus))
  )
    return undefined;
  ctx.running.add(`restore/${name}`);
  ctx.metrics.restoreAttempts.inc();
  const finish = async (
    status: RestoreStatus,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ) => {
    if (!ctx.isLeader()) return;
    await ctx.resources.patchStatus('restores', name, {
      ...status,
      completionTimestamp: kubeTime(ctx.clock.now()),
    });
    await note(ctx, restore, type, reason, message);
  };
  let access: Awaited<ReturnType<typeof openBackupLocation>> | undefined;
  try {
    await note(
      ctx,
      restore,
      'Normal',
      'RestoreStarted',
      `Restoring backup "${restore.spec.backupName}" from BackupLocation "${location.metadata.name}"`,
    );
    access = await openBackupLocation(location, ctx.resources);
    if ((await readBackupManifest(access.store, restore.spec.backupName)) === undefined)
      throw new Error(
        `backup "${restore.spec.backupName}" is not a complete backup in BackupLocation "${location.metadata.name}"`,
      );
    const progress = statusProgress(ctx, 'restores', name, started, (p: RestoreItemsProgress) => ({
      progress: p,
    }));
    const record = !access.readOnly && !(await restoreExists(access.store, name));
    const output = await runRestore({
      connection: ctx.resources.connection,
      store: access.store,
      backupName: restore.spec.backupName,
      restoreName: name,
      options: restoreOptionsOf(restore.spec),
      ...(ctx.settings.tempRoot === undefined ? {} : { tempRoot: ctx.settings.tempRoot }),
      onItemDone: (p) => progress.offer(p),
    });
    await progress.settled();
    if (record) await saveRestoreRecord(access.store, output.summary, output.items);
    const t = output.summary.totals;
    const done = t.created + t.updated + t.recreated + t.skipped + t.failed;
    const status: RestoreStatus = {
      phase: output.summary.phase,
      created: t.created,
      updated: t.updated + t.recreated,
      skipped: t.skipped,
      failed: t.failed,
      progress: { itemsTotal: output.items.length, itemsDone: done },
    };
    if (output.summary.phase === 'Completed') {
      ctx.metrics.restoreSuccesses.inc();
      await finish(
        status,
        'Normal',
        'RestoreCompleted',
        `Restored: ${t.created} created, ${t.updated + t.recreated} updated, ${t.skipped} skipped`,
      );
    } else {
      ctx.metrics.restorePartialFailures.inc();
      await finish(
        status,
        'Warning',
        'RestorePartiallyFailed',
        `${t.failed} items failed (see cairn restore describe ${name})`,
      );
    }
  } catch (err) {
    ctx.metrics.restoreFailures.inc();
    await finish(
      { phase: 'Failed', failureReason: messageOf(err) },
      'Warning',
      'RestoreFailed',
      `Restore failed: ${messageOf(err)}`,
    );
  } finally {
    ctx.running.delete(`restore/${name}`);
    wakeWaitingRuns(ctx);
    await access?.close();
  }
  return undefined;
}
