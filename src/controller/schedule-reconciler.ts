/**
 * Reconciles a Schedule: validation, pause, firing on time and retention, as
 * idempotent steps driven by the injected clock (`src/schedule` decides when
 * and what; this file acts):
 *
 * - FailedValidation with the reasons (bad cron, time zone, unknown
 *   location...); Paused; otherwise Enabled with `nextRunTime`.
 * - Due slot: if a Backup of this schedule is still New or InProgress, the
 *   slot is skipped — recorded as consumed and a Warning event — never two
 *   runs at once; else the Backup `<schedule>-<UTC yyyymmddhhmmss>` is created
 *   from the template (AlreadyExists means this slot ran already: a retry or
 *   another replica).
 * - Retention after backups finished: `planRetention` over the schedule's
 *   finished Backups; each one to delete gets the `cairn.dev/delete-data`
 *   finalizer and is deleted, so its data leaves storage BEFORE the resource
 *   goes (the Backup reconciler does the storage part). The plan never drops
 *   below `minGoodBackups` and never deletes the newest good backup.
 * - `status.lastSuccessfulBackup/Time` and the last-success metric are
 *   derived from the Backups each time (a restarted controller exports the
 *   right timestamp at once, not only after the next success).
 *
 * Unpausing with `skipImmediately` stamps the annotation
 * `cairn.dev/resumed-at`, so slots missed while paused are not caught up.
 */
import { BACKUP_FINAL_PHASES, type Backup } from '../api/backup.ts';
import { LABELS } from '../api/common.ts';
import type { Schedule, ScheduleStatus } from '../api/schedule.ts';
import { validateSchedule } from '../api/validation.ts';
import { planRetention } from '../schedule/retention.ts';
import { parseScheduledBackupName, planScheduleRun, scheduledBackupName } from '../schedule/run-plan.ts';
import { deleteWithData, resolveLocation } from './backup-reconciler.ts';
import { type ControllerContext, kubeTime, note } from './context.ts';
import type { ReconcileResult } from './work-queue.ts';

export const RESUMED_AT_ANNOTATION = 'cairn.dev/resumed-at';

/** The longest wait between two looks at a schedule (clock changes, missed events). */
const MAX_REQUEUE_MS = 15 * 60_000;

function dateOf(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** When a backup counts as made, for retention and "newest": its slot (from the name), else its start, else its creation. */
function timeOf(backup: Backup): Date {
  return (
    parseScheduledBackupName(backup.metadata.name)?.slot ??
    dateOf(backup.status?.startTimestamp) ??
    dateOf(backup.metadata.creationTimestamp) ??
    new Date(0)
  );
}

function sameStatus(a: ScheduleStatus | undefined, b: ScheduleStatus): boolean {
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b)]) as Set<keyof ScheduleStatus>;
  for (const k of keys) if (JSON.stringify(a?.[k]) !== JSON.stringify(b[k])) return false;
  return true;
}

export async function reconcileSchedule(ctx: ControllerContext, name: string): Promise<ReconcileResult> {
  const schedule = ctx.caches.schedules.get(`${ctx.namespace}/${name}`);
  if (schedule === undefined || schedule.metadata.deletionTimestamp !== undefined) return undefined;
  const previous = schedule.status;
  const base: ScheduleStatus = {
    ...(schedule.metadata.generation === undefined
      ? {}
      : { observedGeneration: schedule.metadata.generation }),
  };
  const write = async (status: ScheduleStatus) => {
    if (sameStatus(previous, status)) return;
    // Fields dropped from the status are removed explicitly (merge patch: null).
    const removed: Record<string, null> = {};
    for (const key of Object.keys(previous ?? {})) if (!(key in status)) removed[key] = null;
    await ctx.resources.patchStatus('schedules', name, { ...removed, ...status });
  };

  const problems = validateSchedule(schedule);
  const resolved = resolveLocation(ctx, schedule.spec.template?.storageLocation);
  if ('problem' in resolved) problems.push(resolved.problem.replace(/^spec\./, 'spec.template.'));
  if (problems.length > 0) {
    await write({ ...base, phase: 'FailedValidation', validationErrors: problems });
    if (
      previous?.phase !== 'FailedValidation' ||
      JSON.stringify(previous.validationErrors) !== JSON.stringify(problems)
    )
      await note(ctx, schedule, 'Warning', 'FailedValidation', `Schedule is invalid: ${problems.join('; ')}`);
    return undefined;
  }

  const backups = ctx.caches.backups.list().filter((b) => b.metadata.labels?.[LABELS.schedule] === name);
  const now = ctx.clock.now();
  const history = summarize(ctx, name, backups);
  const carried: ScheduleStatus = {
    ...base,
    ...(previous?.lastScheduleTime === undefined ? {} : { lastScheduleTime: previous.lastScheduleTime }),
    ...history,
  };

  if (schedule.spec.paused === true) {
    await write({ ...carried, phase: 'Paused' });
    if (previous?.phase !== 'Paused') await note(ctx, schedule, 'Normal', 'Paused', 'Schedule paused');
    return undefined;
  }
  let resumedAt = dateOf(schedule.metadata.annotations?.[RESUMED_AT_ANNOTATION]);
  if (previous?.phase === 'Paused') {
    await note(ctx, schedule, 'Normal', 'Unpaused', 'Schedule unpaused');
    if (schedule.spec.skipImmediately === true) {
      resumedAt = now;
      await ctx.resources.patch('schedules', name, {
        metadata: { annotations: { [RESUMED_AT_ANNOTATION]: kubeTime(now) } },
      });
    }
  }

  const plan = planScheduleRun({
    schedule: schedule.spec.schedule,
    ...(schedule.spec.timeZone === undefined ? {} : { timeZone: schedule.spec.timeZone }),
    skipImmediately: schedule.spec.skipImmediately === true,
    createdAt: dateOf(schedule.metadata.creationTimestamp) ?? now,
    ...(dateOf(previous?.lastScheduleTime) === undefined
      ? {}
      : { lastScheduleTime: dateOf(previous?.lastScheduleTime) as Date }),
    ...(resumedAt === undefined ? {} : { resumedAt }),
    now,
  });
  let status: ScheduleStatus = {
    ...carried,
    phase: 'Enabled',
    ...(plan.nextRunTime === undefined ? {} : { nextRunTime: kubeTime(plan.nextRunTime) }),
  };

  if (plan.due) {
    const slot = kubeTime(plan.slot);
    const active = backups.find(
      (b) =>
        b.metadata.deletionTimestamp === undefined &&
        ['New', 'InProgress'].includes(b.status?.phase ?? 'New'),
    );
    const backupName = scheduledBackupName(name, plan.slot);
    if (active !== undefined && active.metadata.name !== backupName) {
      status = { ...status, lastScheduleTime: slot };
      await note(
        ctx,
        schedule,
        'Warning',
        'BackupSkipped',
        `Slot ${slot} skipped: backup "${active.metadata.name}" of this schedule is still ${active.status?.phase ?? 'New'}`,
      );
    } else {
      const template = schedule.spec.template ?? {};
      const location = 'location' in resolved ? resolved.location.metadata.name : undefined;
      const created = await ctx.resources.create<Backup>('backups', {
        apiVersion: 'cairn.dev/v1alpha1',
        kind: 'Backup',
        metadata: {
          name: backupName,
          namespace: ctx.namespace,
          labels: {
            [LABELS.schedule]: name,
            ...(location === undefined ? {} : { [LABELS.location]: location }),
          },
        },
        spec: {
          ...template,
          ...(template.ttl === undefined && schedule.spec.retention?.ttl !== undefined
            ? { ttl: schedule.spec.retention.ttl }
            : {}),
        },
      });
      status = { ...status, lastScheduleTime: slot, lastBackup: backupName };
      if (created !== undefined)
        await note(
          ctx,
          schedule,
          'Normal',
          'BackupCreated',
          `Created Backup "${backupName}" for slot ${slot}`,
        );
    }
  }
  await write(status);
  await applyRetention(ctx, schedule, backups);

  const next = dateOf(status.nextRunTime);
  const wait = next === undefined ? MAX_REQUEUE_MS : next.getTime() - ctx.clock.now().getTime();
  return { requeueAfterMs: Math.max(1, Math.min(MAX_REQUEUE_MS, wait)) };
}

/** lastBackup / lastSuccessfulBackup from the schedule's Backups; sets the last-success metric. */
function summarize(ctx: ControllerContext, schedule: string, backups: readonly Backup[]): ScheduleStatus {
  const newestFirst = [...backups].sort((a, b) => timeOf(b).getTime() - timeOf(a).getTime());
  const last = newestFirst[0];
  const good = newestFirst.find((b) => b.status?.phase === 'Completed');
  const goodTime = good?.status?.completionTimestamp;
  if (goodTime !== undefined)
    ctx.metrics.backupLastSuccessfulTimestamp.set({ schedule }, Math.floor(Date.parse(goodTime) / 1000));
  return {
    ...(last === undefined ? {} : { lastBackup: last.metadata.name }),
    ...(good === undefined ? {} : { lastSuccessfulBackup: good.metadata.name }),
    ...(goodTime === undefined ? {} : { lastSuccessfulTime: goodTime }),
  };
}

async function applyRetention(
  ctx: ControllerContext,
  schedule: Schedule,
  backups: readonly Backup[],
): Promise<void> {
  const policy = schedule.spec.retention;
  if (policy === undefined) return;
  const finished = backups.filter(
    (b) =>
      b.metadata.deletionTimestamp === undefined && BACKUP_FINAL_PHASES.includes(b.status?.phase ?? 'New'),
  );
  // FailedValidation backups made nothing; they are history only as failures.
  const plan = planRetention(
    finished.map((b) => ({
      name: b.metadata.name,
      time: timeOf(b),
      good: b.status?.phase === 'Completed',
      ...(dateOf(b.status?.expiration) === undefined
        ? {}
        : { expiration: dateOf(b.status?.expiration) as Date }),
    })),
    policy,
    ctx.clock.now(),
    schedule.spec.timeZone === undefined ? {} : { timeZone: schedule.spec.timeZone },
  );
  for (const victim of plan.delete) {
    const backup = finished.find((b) => b.metadata.name === victim.name);
    if (backup === undefined) continue;
    await deleteWithData(ctx, backup, `retention of Schedule "${schedule.metadata.name}": ${victim.reason}`);
  }
}
