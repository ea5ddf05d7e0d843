/**
 * Cairn's API (`cairn.dev/v1alpha1`): schemas, types, builders, CRDs and
 * validation of BackupLocation, Backup, Restore, Schedule and EtcdBackup.
 */
export * from './backup.ts';
export * from './backup-location.ts';
export * from './common.ts';
export * from './crd.ts';
export * from './cron.ts';
export * from './etcd-backup.ts';
export * from './label-selector.ts';
export * from './restore.ts';
export * from './schedule.ts';
export * from './validation.ts';
