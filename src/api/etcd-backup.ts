/**
 * The `EtcdBackup` kind: periodic etcd snapshots of one cluster into a
 * location. The schedule decisions live in src/etcd/backup-resource.ts; the
 * cluster spec in storage stays the source of truth for members and retention.
 */
import { type Static, Type } from '@sinclair/typebox';
import { API_VERSION, Duration, resourceSchema, StringEnum, Timestamp } from './common.ts';

export const ETCD_BACKUP_KIND = 'EtcdBackup';
export const ETCD_BACKUP_PLURAL = 'etcdbackups';

export const ETCD_BACKUP_PHASES = ['Healthy', 'Stale', 'Failing', 'Paused'] as const;
export type EtcdBackupPhase = (typeof ETCD_BACKUP_PHASES)[number];

/** Retention as durations, after kops' etcd-manager (structurally src/etcd/spec.ts `EtcdRetentionSpec`). */
export const EtcdRetentionSchema = Type.Object(
  {
    keepAllFor: Duration('keep every snapshot younger than this'),
    hourlyFor: Duration('keep the newest snapshot of each UTC hour younger than this'),
    dailyFor: Duration('keep the newest snapshot of each UTC day younger than this'),
    minKeep: Type.Integer({ minimum: 0, description: 'never keep fewer complete snapshots than this' }),
  },
  { additionalProperties: false },
);

export const EtcdBackupSpecSchema = Type.Object(
  {
    cluster: Type.String({
      minLength: 1,
      description: 'etcd/<cluster>/snapshots/ and control/etcd/<cluster>/spec.json',
    }),
    location: Type.String({ minLength: 1, description: 'a BackupLocation name or a location URL' }),
    endpoints: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    tlsSecretName: Type.Optional(Type.String({ description: 'Secret with ca.crt, tls.crt, tls.key' })),
    authSecretName: Type.Optional(Type.String({ description: 'Secret with username and password' })),
    interval: Duration('snapshot interval (kops default 15m)'),
    retention: EtcdRetentionSchema,
    paused: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type EtcdBackupSpec = Static<typeof EtcdBackupSpecSchema>;

export const EtcdBackupStatusSchema = Type.Object(
  {
    phase: StringEnum(ETCD_BACKUP_PHASES),
    lastSuccessfulSnapshot: Type.Optional(
      Type.Object(
        {
          id: Type.String(),
          completedAt: Timestamp('when the snapshot completed'),
          size: Type.Integer({ minimum: 0 }),
          revision: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    lastAttemptAt: Type.Optional(Timestamp('last snapshot attempt')),
    lastError: Type.Optional(Type.String()),
    nextSnapshotAt: Type.Optional(Timestamp('next snapshot due')),
    controlFilesHealthy: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type EtcdBackupStatus = Static<typeof EtcdBackupStatusSchema>;

export const EtcdBackupSchema = resourceSchema(
  ETCD_BACKUP_KIND,
  EtcdBackupSpecSchema,
  EtcdBackupStatusSchema,
);
export type EtcdBackup = Static<typeof EtcdBackupSchema>;

export function newEtcdBackup(name: string, namespace: string, spec: EtcdBackupSpec): EtcdBackup {
  return { apiVersion: API_VERSION, kind: ETCD_BACKUP_KIND, metadata: { name, namespace }, spec };
}
