/**
 * `cairn server`'s core: informers over Cairn's four kinds (every replica
 * keeps its caches warm, so a standby is ready to lead at once), a work queue
 * per kind, and leader election — only the leader's queues run; losing the
 * lease stops them. On gaining leadership every cached object is queued, so
 * a Backup left InProgress by a dead leader is failed with a reason at once.
 *
 * Shutdown (SIGTERM): stop taking work, let running backups and restores
 * finish up to a timeout, then release the lease so a standby takes over on
 * its next try rather than after the lease expires.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import type { Backup } from '../api/backup.ts';
import type { BackupLocation } from '../api/backup-location.ts';
import { LABELS } from '../api/common.ts';
import type { EtcdBackup } from '../api/etcd-backup.ts';
import type { Restore } from '../api/restore.ts';
import type { Schedule } from '../api/schedule.ts';
import type { ClusterConnection } from '../cluster/connection.ts';
import { EventRecorder } from '../cluster/events.ts';
import { Informer, type KubeResource } from '../cluster/informer.ts';
import { KubeLeaseStore } from '../cluster/lease.ts';
import type { Readiness } from '../server/http-server.ts';
import { ControllerMetrics } from '../server/metrics.ts';
import { reconcileBackup } from './backup-reconciler.ts';
import { type Clock, systemClock } from './clock.ts';
import type { ControllerContext, ControllerSettings, WorkKind } from './context.ts';
import { messageOf } from './context.ts';
import { reconcileEtcdBackup } from './etcd-backup-reconciler.ts';
import { LeaderElector } from './leader-election.ts';
import { reconcileLocation } from './location-reconciler.ts';
import { type CairnPlural, CairnResources } from './resources.ts';
import { reconcileRestore } from './restore-reconciler.ts';
import { reconcileSchedule } from './schedule-reconciler.ts';
import { type ReconcileResult, WorkQueue } from './work-queue.ts';

export interface LeaderElectionSettings {
  /** Lease name (default `cairn-controller`), in the controller's namespace. */
  readonly leaseName?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
}

export interface ControllerOptions {
  readonly connection: ClusterConnection;
  /** Where Cairn's resources live (default namespace of the install, e.g. cairn-system). */
  readonly namespace: string;
  readonly clock?: Clock;
  /** This replica's name in the lease (default: hostname + random suffix). */
  readonly identity?: string;
  /** `false` runs as the only replica (no lease). */
  readonly leaderElection?: false | LeaderElectionSettings;
  readonly metrics?: ControllerMetrics;
  readonly log?: Logger;
  readonly settings?: Partial<ControllerSettings>;
  /** Recorded in manifests (`cairn <version>`). */
  readonly version?: string;
  /** How long shutdown waits for running backups and restores (default 10 min). */
  readonly shutdownTimeoutMs?: number;
}

const DEFAULT_SETTINGS: ControllerSettings = {
  progressIntervalMs: 2_000,
  defaultSyncPeriodMs: 60_000,
  maxConcurrentRuns: 8,
};

type Handler = (ctx: ControllerContext, name: string) => Promise<ReconcileResult>;

const HANDLERS: Record<WorkKind, Handler> = {
  location: reconcileLocation,
  backup: reconcileBackup,
  restore: reconcileRestore,
  schedule: reconcileSchedule,
  etcdbackup: reconcileEtcdBackup,
};

export class Controller {
  readonly identity: string;
  readonly metrics: ControllerMetrics;
  readonly context: ControllerContext;
  readonly #options: ControllerOptions;
  readonly #informers: Informer<KubeResource>[];
  readonly #elector: LeaderElector | undefined;
  #queues: Map<WorkKind, WorkQueue> | undefined;
  #leader = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.identity = options.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.metrics = options.metrics ?? new ControllerMetrics();
    const log = options.log ?? pino({ base: { controller: this.identity } }, pino.destination(2));
    const clock = options.clock ?? systemClock;
    const resources = new CairnResources(options.connection, options.namespace);
    const informer = <T extends KubeResource>(
      plural: CairnPlural,
      onEvent: (type: 'add' | 'update' | 'delete', object: T, previous?: T) => void,
    ) =>
      new Informer<T>(options.connection, {
        path: resources.path(plural),
        onEvent,
        onError: (err) => log.warn({ resource: plural, err: messageOf(err) }, 'list/watch failed; retrying'),
      });
    const generationChanged = (o: KubeResource, p?: KubeResource) =>
      p === undefined ||
      o.metadata.generation !== p.metadata.generation ||
      o.metadata.deletionTimestamp !== p.metadata.deletionTimestamp;
    const caches = {
      locations: informer<BackupLocation>('backuplocations', (type, o, p) => {
        if (type !== 'update' || generationChanged(o, p)) this.#enqueue('location', o.metadata.name);
        // Backups and restores waiting for this location's first check can go on.
        if (type === 'update' && o.status?.phase !== p?.status?.phase) {
          for (const b of caches.backups.list())
            if ((b.status?.phase ?? 'New') === 'New') this.#enqueue('backup', b.metadata.name);
          for (const r of caches.restores.list())
            if ((r.status?.phase ?? 'New') === 'New') this.#enqueue('restore', r.metadata.name);
        }
      }),
      backups: informer<Backup>('backups', (type, o) => {
        if (type !== 'delete') this.#enqueue('backup', o.metadata.name);
        const schedule = o.metadata.labels?.[LABELS.schedule];
        if (schedule !== undefined) this.#enqueue('schedule', schedule);
      }),
      restores: informer<Restore>('restores', (type, o) => {
        if (type !== 'delete') this.#enqueue('restore', o.metadata.name);
      }),
      schedules: informer<Schedule>('schedules', (type, o, p) => {
        if (type !== 'delete' && (type === 'add' || generationChanged(o, p)))
          this.#enqueue('schedule', o.metadata.name);
      }),
      // Status writes (our own) do not requeue; the reconciler requeues itself at the next due time.
      etcdBackups: informer<EtcdBackup>('etcdbackups', (type, o, p) => {
        if (type !== 'delete' && (type === 'add' || generationChanged(o, p)))
          this.#enqueue('etcdbackup', o.metadata.name);
      }),
    };
    this.#informers = Object.values(caches) as unknown as Informer<KubeResource>[];
    this.context = {
      namespace: options.namespace,
      resources,
      clock,
      events: new EventRecorder(options.connection, {
        instance: this.identity,
        now: () => clock.now(),
        onError: (err) => log.debug({ err: messageOf(err) }, 'event not recorded'),
      }),
      metrics: this.metrics,
      log,
      settings: { ...DEFAULT_SETTINGS, ...options.settings },
      caches,
      enqueue: (kind, name, afterMs) => this.#enqueue(kind, name, afterMs),
      isLeader: () => this.#leader,
      running: new Set(),
      createdBy: `cairn ${options.version ?? ''} controller ${this.identity}`.replace(/\s+/g, ' '),
    };
    const election = options.leaderElection;
    this.#elector =
      election === false
        ? undefined
        : new LeaderElector({
            store: new KubeLeaseStore(
              options.connection,
              options.namespace,
              election?.leaseName ?? 'cairn-controller',
            ),
            identity: this.identity,
            clock,
            ...(election?.leaseDurationMs === undefined ? {} : { leaseDurationMs: election.leaseDurationMs }),
            ...(election?.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: election.renewDeadlineMs }),
            ...(election?.retryPeriodMs === undefined ? {} : { retryPeriodMs: election.retryPeriodMs }),
            onStartedLeading: () => this.#startLeading(),
            onStoppedLeading: () => this.#stopLeading(),
            onError: (err) => log.warn({ err: messageOf(err) }, 'lease request failed'),
          });
    this.metrics.isLeader.set(0);
  }

  /** Starts the informers and the campaign for leadership (or leads at once without election). */
  start(): this {
    for (const i of this.#informers) i.start();
    const begin = async () => {
      await this.waitForSync();
      if (this.#stopping) return;
      if (this.#elector === undefined) this.#startLeading();
      else this.#elector.start();
    };
    begin().catch((err) => this.context.log.error({ err: messageOf(err) }, 'controller start failed'));
    return this;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  get synced(): boolean {
    return this.#informers.every((i) => i.synced);
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.waitForSync()));
  }

  /** For `/readyz`: caches synced (leader and standby alike). */
  readiness(): Readiness {
    const waitingFor = this.#stopping
      ? ['shutdown in progress']
      : this.synced
        ? []
        : ['informer caches to sync'];
    return { ready: waitingFor.length === 0, waitingFor };
  }

  /** Resolves when every queue is idle (tests: "the controller did all it had to"). */
  async idle(): Promise<void> {
    for (const q of this.#queues?.values() ?? []) await q.idle();
  }

  /** The queue of a kind while leading (tests and diagnostics). */
  queue(kind: WorkKind): WorkQueue | undefined {
    return this.#queues?.get(kind);
  }

  /** Graceful stop: no new work, running work finishes (up to the timeout), lease released, watches closed. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    const queues = [...(this.#queues?.values() ?? [])];
    const finished = await Promise.all(
      queues.map((q) => q.shutdown(this.#options.shutdownTimeoutMs ?? 600_000)),
    );
    if (finished.some((f) => !f))
      this.context.log.warn('shutdown timeout: some backups or restores were still running');
    if (this.#elector !== undefined) await this.#elector.stop();
    else this.#stopLeading();
    await Promise.all(this.#informers.map((i) => i.stop()));
  }

  #enqueue(kind: WorkKind, name: string, afterMs?: number): void {
    const queue = this.#queues?.get(kind);
    if (queue === undefined) return;
    if (afterMs === undefined || afterMs <= 0) queue.add(name);
    else queue.addAfter(name, afterMs);
  }

  #startLeading(): void {
    if (this.#leader || this.#stopping) return;
    this.#leader = true;
    this.metrics.isLeader.set(1);
    this.context.log.info('became the leader; reconciling');
    const settings = this.context.settings;
    const make = (kind: WorkKind, workers: number) =>
      new WorkQueue({
        name: kind,
        clock: this.context.clock,
        workers,
        handler: (name) => HANDLERS[kind](this.context, name),
        onError: (name, err, retryInMs) =>
          this.context.log.warn(
            { kind, name, err: messageOf(err), retryInMs },
            'reconcile failed; will retry',
          ),
      });
    this.#queues = new Map([
      ['location', make('location', 2)],
      ['backup', make('backup', settings.maxConcurrentRuns + 2)],
      ['restore', make('restore', settings.maxConcurrentRuns)],
      ['schedule', make('schedule', 4)],
      ['etcdbackup', make('etcdbackup', 2)],
    ]);
    const caches = this.context.caches;
    for (const l of caches.locations.list()) this.#enqueue('location', l.metadata.name);
    for (const b of caches.backups.list()) this.#enqueue('backup', b.metadata.name);
    for (const r of caches.restores.list()) this.#enqueue('restore', r.metadata.name);
    for (const s of caches.schedules.list()) this.#enqueue('schedule', s.metadata.name);
    for (const e of caches.etcdBackups.list()) this.#enqueue('etcdbackup', e.metadata.name);
  }

  #stopLeading(): void {
    if (!this.#leader) return;
    this.#leader = false;
    this.metrics.isLeader.set(0);
    if (this.#stopping) this.context.log.info('stopped leading (shutdown)');
    else this.context.log.warn('lost leadership; reconcilers stopped');
    const queues = this.#queues;
    this.#queues = undefined;
    // Not awaited: running backups cannot be interrupted mid-stream; their final status writes
    // check leadership and leave the record to the new leader.
    for (const q of queues?.values() ?? []) void q.shutdown();
  }
}
