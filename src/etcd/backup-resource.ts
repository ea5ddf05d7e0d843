/**
 * The `EtcdBackup` custom resource's spec and status, and the schedule
 * decisions its controller (a later issue) will make — pure functions, so the
 * reconciler and the one-shot CronJob path (`snapshot save --prune`) agree.
 * The cluster spec in storage (`control/etcd/<cluster>/spec.json`) stays the
 * source of truth for members and retention; the resource says where and
 * how often.
 */
import type { EtcdBackupSpec, EtcdBackupStatus } from '../api/etcd-backup.ts';
import { parseDuration } from '../util/duration.ts';
import { DEFAULT_RETENTION, DEFAULT_SCHEDULE } from './spec.ts';

export type { EtcdBackupSpec, EtcdBackupStatus };

/** Fills in kops' etcd-manager defaults (every 15 minutes, all for 1 h, hourly 1 week, daily 1 year). */
export function withEtcdBackupDefaults(
  spec: Partial<EtcdBackupSpec> & Pick<EtcdBackupSpec, 'cluster' | 'location' | 'endpoints'>,
): EtcdBackupSpec {
  const out: EtcdBackupSpec = {
    ...spec,
    interval: spec.interval ?? DEFAULT_SCHEDULE.interval,
    retention: { ...DEFAULT_RETENTION, ...spec.retention },
    paused: spec.paused ?? false,
  };
  parseDuration(out.interval, 'interval');
  return out;
}

/**
 * When the next snapshot is due: one interval after the last attempt (a
 * failure retries after a quarter interval, at least a minute), immediately
 * when there has never been one.
 */
export function nextSnapshotAt(
  input: { lastSuccessAt?: Date; lastAttemptAt?: Date; lastAttemptFailed?: boolean },
  intervalMs: number,
): Date | undefined {
  const { lastSuccessAt, lastAttemptAt, lastAttemptFailed } = input;
  if (lastAttemptAt === undefined && lastSuccessAt === undefined) return undefined;
  if (lastAttemptFailed && lastAttemptAt !== undefined) {
    return new Date(lastAttemptAt.getTime() + Math.max(60_000, intervalMs / 4));
  }
  const last = Math.max(lastAttemptAt?.getTime() ?? 0, lastSuccessAt?.getTime() ?? 0);
  return new Date(last + intervalMs);
}

/**
 * Stale = no successful snapshot for more than twice the interval: the
 * condition the PrometheusRule alerts on, and the `Stale` phase.
 */
export function isStale(lastSuccessAt: Date | undefined, intervalMs: number, now: Date): boolean {
  return lastSuccessAt === undefined || now.getTime() - lastSuccessAt.getTime() > 2 * intervalMs;
}

export function backupPhase(input: {
  paused: boolean;
  lastSuccessAt?: Date;
  lastAttemptFailed?: boolean;
  controlFilesHealthy: boolean;
  intervalMs: number;
  now: Date;
}): EtcdBackupStatus['phase'] {
  if (input.paused) return 'Paused';
  if (!input.controlFilesHealthy || input.lastAttemptFailed) return 'Failing';
  return isStale(input.lastSuccessAt, input.intervalMs, input.now) ? 'Stale' : 'Healthy';
}
