/** The `BackupLocation` kind: where backups are stored (filesystem/NFS or S3-compatible). */
import { type Static, Type } from '@sinclair/typebox';
import { API_VERSION, Duration, resourceSchema, StringEnum, Timestamp } from './common.ts';

export const BACKUP_LOCATION_KIND = 'BackupLocation';
export const BACKUP_LOCATION_PLURAL = 'backuplocations';

export const LOCATION_PROVIDERS = ['filesystem', 's3'] as const;
export type LocationProvider = (typeof LOCATION_PROVIDERS)[number];
export const ACCESS_MODES = ['ReadWrite', 'ReadOnly'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];
export const LOCATION_PHASES = ['Available', 'Unavailable'] as const;
export type LocationPhase = (typeof LOCATION_PHASES)[number];

/** Default `syncPeriod`: how often the controller checks the location and syncs its backups in. */
export const DEFAULT_SYNC_PERIOD = '1m';

export const BackupLocationSpecSchema = Type.Object(
  {
    provider: StringEnum(LOCATION_PROVIDERS),
    url: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'a Cairn location URL: /var/lib/cairn, file:///…, s3://bucket/prefix?endpoint=…; or use config',
      }),
    ),
    config: Type.Optional(
      Type.Object(
        {
          path: Type.Optional(
            Type.String({ minLength: 1, description: 'filesystem: folder (NFS mount, hostPath, PVC)' }),
          ),
          bucket: Type.Optional(Type.String({ minLength: 1 })),
          prefix: Type.Optional(Type.String()),
          endpoint: Type.Optional(
            Type.String({ description: 'S3-compatible endpoint URL (MinIO, Ceph RGW)' }),
          ),
          region: Type.Optional(Type.String()),
          forcePathStyle: Type.Optional(Type.Boolean()),
          caBundle: Type.Optional(Type.String({ description: 'PEM CA bundle for the endpoint' })),
          insecureSkipTLSVerify: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    credential: Type.Optional(
      Type.Object(
        {
          name: Type.String({ minLength: 1, description: 'Secret in the same namespace' }),
          key: Type.String({ minLength: 1, description: 'key holding an AWS shared-credentials file' }),
        },
        { additionalProperties: false },
      ),
    ),
    accessMode: Type.Optional(
      StringEnum(ACCESS_MODES, { description: 'ReadOnly locations are never written (default ReadWrite)' }),
    ),
    default: Type.Optional(
      Type.Boolean({ description: 'used by Backups and Schedules that name no location' }),
    ),
    syncPeriod: Type.Optional(Duration('how often to check the location and sync its backups (default 1m)')),
  },
  { additionalProperties: false },
);
export type BackupLocationSpec = Static<typeof BackupLocationSpecSchema>;

export const BackupLocationStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(LOCATION_PHASES)),
    message: Type.Optional(Type.String({ description: 'why it is Unavailable' })),
    lastCheckedTime: Type.Optional(Timestamp('last availability check')),
    lastSyncedTime: Type.Optional(Timestamp('last sync of its backups into the cluster')),
    controlFilesHealthy: Type.Optional(Type.Boolean()),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type BackupLocationStatus = Static<typeof BackupLocationStatusSchema>;

export const BackupLocationSchema = resourceSchema(
  BACKUP_LOCATION_KIND,
  BackupLocationSpecSchema,
  BackupLocationStatusSchema,
);
export type BackupLocation = Static<typeof BackupLocationSchema>;

export function newBackupLocation(name: string, namespace: string, spec: BackupLocationSpec): BackupLocation {
  return { apiVersion: API_VERSION, kind: BACKUP_LOCATION_KIND, metadata: { name, namespace }, spec };
}

/** The provider a location URL implies (`s3://…` is s3, everything else the filesystem). */
export function providerOfUrl(url: string): LocationProvider {
  return /^s3:\/\//i.test(url) ? 's3' : 'filesystem';
}
