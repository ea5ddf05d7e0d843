/**
 * The controller's Prometheus metrics (prom-client), one registry per
 * controller so two in-process controllers (tests) do not share counters.
 * Names follow Velero's where they exist (`*_attempts_total`, `*_successes_total`,
 * ...), all under `cairn_`. The `schedule` label is the Schedule's name, or
 * empty for a Backup made by hand.
 *
 * `cairn_backup_last_successful_timestamp_seconds` and
 * `cairn_location_control_files_healthy` are the two to alert on: a pipeline
 * that silently stopped shows as a timestamp that stops moving.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly backupAttempts: Counter<'schedule'>;
  readonly backupSuccesses: Counter<'schedule'>;
  readonly backupPartialFailures: Counter<'schedule'>;
  readonly backupFailures: Counter<'schedule'>;
  readonly backupValidationFailures: Counter<'schedule'>;
  readonly backupDuration: Histogram<'schedule'>;
  readonly backupItems: Counter<'schedule'>;
  readonly backupItemErrors: Counter<'schedule'>;
  readonly backupLastSuccessfulTimestamp: Gauge<'schedule'>;
  readonly backupDeletions: Counter<'schedule'>;
  readonly restoreAttempts: Counter;
  readonly restoreSuccesses: Counter;
  readonly restorePartialFailures: Counter;
  readonly restoreFailures: Counter;
  readonly locationAvailable: Gauge<'location'>;
  readonly locationControlFilesHealthy: Gauge<'location'>;
  readonly isLeader: Gauge;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const counter = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['schedule'] as const, registers });
    this.backupAttempts = counter('cairn_backup_attempts_total', 'Backups started.');
    this.backupSuccesses = counter('cairn_backup_successes_total', 'Backups that ended Completed.');
    this.backupPartialFailures = counter(
      'cairn_backup_partial_failures_total',
      'Backups that ended PartiallyFailed (some items failed).',
    );
    this.backupFailures = counter('cairn_backup_failures_total', 'Backups that ended Failed.');
    this.backupValidationFailures = counter(
      'cairn_backup_validation_failures_total',
      'Backups rejected by validation (FailedValidation).',
    );
    this.backupDuration = new Histogram({
      name: 'cairn_backup_duration_seconds',
      help: 'Time a backup took, start to completion.',
      labelNames: ['schedule'] as const,
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400],
      registers,
    });
    this.backupItems = counter('cairn_backup_items_total', 'Items backed up.');
    this.backupItemErrors = counter('cairn_backup_item_errors_total', 'Items that failed to back up.');
    this.backupLastSuccessfulTimestamp = new Gauge({
      name: 'cairn_backup_last_successful_timestamp_seconds',
      help: 'Completion time (Unix seconds) of the newest Completed backup, per schedule.',
      labelNames: ['schedule'] as const,
      registers,
    });
    this.backupDeletions = counter(
      'cairn_backup_deletions_total',
      'Backups deleted by retention (storage first, then the resource).',
    );
    this.restoreAttempts = new Counter({
      name: 'cairn_restore_attempts_total',
      help: 'Restores started.',
      registers,
    });
    this.restoreSuccesses = new Counter({
      name: 'cairn_restore_successes_total',
      help: 'Restores that ended Completed.',
      registers,
    });
    this.restorePartialFailures = new Counter({
      name: 'cairn_restore_partial_failures_total',
      help: 'Restores that ended PartiallyFailed.',
      registers,
    });
    this.restoreFailures = new Counter({
      name: 'cairn_restore_failures_total',
      help: 'Restores that ended Failed or FailedValidation.',
      registers,
    });
    this.locationAvailable = new Gauge({
      name: 'cairn_location_available',
      help: '1 when the BackupLocation answered its last check, else 0.',
      labelNames: ['location'] as const,
      registers,
    });
    this.locationControlFilesHealthy = new Gauge({
      name: 'cairn_location_control_files_healthy',
      help: '1 when the location marker and control files are present and readable, else 0.',
      labelNames: ['location'] as const,
      registers,
    });
    this.isLeader = new Gauge({
      name: 'cairn_controller_is_leader',
      help: '1 while this replica holds the leader lease.',
      registers,
    });
    if (options.processMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'cairn_' });
  }
}
