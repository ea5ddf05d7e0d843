/**
 * What every reconciler shares: the caches, the clients, the clock, events and
 * metrics. Reconcilers read from the caches (informers) and write through the
 * API; they never keep state of their own beyond `running` (what this process
 * is executing now), so any replica that becomes leader can pick up.
 */
import type { Logger } from 'pino';
import type { Backup } from '../api/backup.ts';
import type { BackupLocation } from '../api/backup-location.ts';
import type { EtcdBackup } from '../api/etcd-backup.ts';
import type { Restore } from '../api/restore.ts';
import type { Schedule } from '../api/schedule.ts';
import type { EventRecorder, EventType, InvolvedObject } from '../cluster/events.ts';
import type { Informer } from '../cluster/informer.ts';
import type { ControllerMetrics } from '../server/metrics.ts';
import type { Clock } from './clock.ts';
import type { CairnResources } from './resources.ts';

export type WorkKind = 'location' | 'backup' | 'restore' | 'schedule' | 'etcdbackup';

/** Tunables, all with production defaults (tests shorten them). */
export interface ControllerSettings {
  /** Least time between two progress writes of a running backup (default 2 s). */
  readonly progressIntervalMs: number;
  /** How often a location is checked when its syncPeriod is not set (default 60 s). */
  readonly defaultSyncPeriodMs: number;
  /** Backups (and restores) run at once (default 8). */
  readonly maxConcurrentRuns: number;
  /** Where restores keep their verified archive (default: OS temp dir). */
  readonly tempRoot?: string;
}

export interface ControllerContext {
  readonly namespace: string;
  readonly resources: CairnResources;
  readonly clock: Clock;
  readonly events: EventRecorder;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
  readonly settings: ControllerSettings;
  readonly caches: {
    readonly locations: Informer<BackupLocation>;
    readonly backups: Informer<Backup>;
    readonly restores: Informer<Restore>;
    readonly schedules: Informer<Schedule>;
    readonly etcdBackups: Informer<EtcdBackup>;
  };
  /** Queues work for a reconciler (after `afterMs`, if given). */
  readonly enqueue: (kind: WorkKind, name: string, afterMs?: number) => void;
  /** Whether this replica leads now; final status writes check it. */
  readonly isLeader: () => boolean;
  /** Runs this process executes now, as `backup/<name>` or `restore/<name>`. */
  readonly running: Set<string>;
  /** `cairn <version> controller <identity>`, recorded in manifests. */
  readonly createdBy: string;
}

/** The involved-object reference of one of Cairn's resources. */
export function involved(object: {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}): InvolvedObject {
  return {
    apiVersion: object.apiVersion ?? 'cairn.dev/v1alpha1',
    kind: object.kind ?? '',
    name: object.metadata.name,
    namespace: object.metadata.namespace ?? '',
    ...(object.metadata.uid === undefined ? {} : { uid: object.metadata.uid }),
  };
}

/** Records an event (best effort) and logs it. */
export function note(
  ctx: ControllerContext,
  object: Parameters<typeof involved>[0],
  type: EventType,
  reason: string,
  message: string,
): Promise<void> {
  ctx.log[type === 'Warning' ? 'warn' : 'info'](
    { kind: object.kind, name: object.metadata.name, reason },
    message,
  );
  return ctx.events.record(involved(object), type, reason, message);
}

/** RFC 3339 without milliseconds, as Kubernetes writes `metav1.Time`. */
export function kubeTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Queues every Backup and Restore still New: called when a run ends, so work
 * that waited for a free run slot starts at once (not on a timer).
 */
export function wakeWaitingRuns(ctx: ControllerContext): void {
  for (const b of ctx.caches.backups.list())
    if ((b.status?.phase ?? 'New') === 'New') ctx.enqueue('backup', b.metadata.name);
  for (const r of ctx.caches.restores.list())
    if ((r.status?.phase ?? 'New') === 'New') ctx.enqueue('restore', r.metadata.name);
}
