/** The `Backup` kind: one backup of API objects into a BackupLocation. */
import { type Static, Type } from '@sinclair/typebox';
import { API_VERSION, Condition, Duration, resourceSchema, StringEnum, Timestamp } from './common.ts';

export const BACKUP_KIND = 'Backup';
export const BACKUP_PLURAL = 'backups';

export const BACKUP_PHASES = [
  'New',
  'FailedValidation',
  'InProgress',
  'Completed',
  'PartiallyFailed',
  'Failed',
] as const;
export type BackupPhase = (typeof BACKUP_PHASES)[number];
/** Phases after which nothing changes any more. */
export const BACKUP_FINAL_PHASES: readonly BackupPhase[] = [
  'FailedValidation',
  'Completed',
  'PartiallyFailed',
  'Failed',
];

/**
 * What to back up: the same fields (and defaults) as `cairn backup create`'s
 * flags and src/catalog's `BackupSpec`. Every field is optional in the
 * resource; `withBackupDefaults` fills them in.
 */
export const backupFilterProperties = {
  includeNamespaces: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      description: 'namespace names or globs (team-*); empty = all',
    }),
  ),
  excludeNamespaces: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), { description: 'namespaces or globs to leave out' }),
  ),
  includeResources: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      description: 'resource types as kubectl names them; empty = all',
    }),
  ),
  excludeResources: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), { description: 'resource types to leave out' }),
  ),
  includeClusterResources: Type.Optional(
    StringEnum(['auto', 'true', 'false'] as const, {
      description: 'auto: all cluster-scoped objects for a whole-cluster backup, only related ones otherwise',
    }),
  ),
  labelSelectors: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      description: 'kubectl label selectors; an object matching any is included',
    }),
  ),
  allVersions: Type.Optional(
    Type.Boolean({ description: 'every served version of each group, not only the preferred one' }),
  ),
};

export const BackupSpecSchema = Type.Object(
  {
    storageLocation: Type.Optional(
      Type.String({
        description: 'name of a BackupLocation in the same namespace; empty = the default location',
      }),
    ),
    ...backupFilterProperties,
    ttl: Type.Optional(
      Duration('how long to keep the backup (e.g. 720h); empty = until retention removes it'),
    ),
  },
  { additionalProperties: false },
);
export type BackupResourceSpec = Static<typeof BackupSpecSchema>;

export const BackupStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(BACKUP_PHASES)),
    validationErrors: Type.Optional(Type.Array(Type.String())),
    startTimestamp: Type.Optional(Timestamp('when the backup started')),
    completionTimestamp: Type.Optional(Timestamp('when the backup finished')),
    expiration: Type.Optional(Timestamp('when the backup becomes eligible for deletion (from ttl)')),
    progress: Type.Optional(
      Type.Object(
        {
          typesTotal: Type.Optional(Type.Integer({ minimum: 0 })),
          typesDone: Type.Optional(Type.Integer({ minimum: 0 })),
          itemsBackedUp: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    itemsBackedUp: Type.Optional(Type.Integer({ minimum: 0 })),
    errors: Type.Optional(Type.Integer({ minimum: 0 })),
    warnings: Type.Optional(Type.Integer({ minimum: 0 })),
    failureReason: Type.Optional(Type.String()),
    /** Name of the BackupLocation actually used (the default one when spec.storageLocation is empty). */
    storageLocation: Type.Optional(Type.String()),
    conditions: Type.Optional(Type.Array(Condition)),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type BackupStatus = Static<typeof BackupStatusSchema>;

export const BackupSchema = resourceSchema(BACKUP_KIND, BackupSpecSchema, BackupStatusSchema);
export type Backup = Static<typeof BackupSchema>;

/** The backup filter with every default filled in (structurally src/catalog's `BackupSpec`). */
export interface BackupFilter {
  includeNamespaces: string[];
  excludeNamespaces: string[];
  includeResources: string[];
  excludeResources: string[];
  includeClusterResources: 'auto' | 'true' | 'false';
  labelSelectors: string[];
  allVersions: boolean;
}

/** The filter part of a Backup (or Schedule template) spec, defaults filled in. */
export function withBackupDefaults(spec: BackupResourceSpec): BackupFilter {
  return {
    includeNamespaces: spec.includeNamespaces ?? [],
    excludeNamespaces: spec.excludeNamespaces ?? [],
    includeResources: spec.includeResources ?? [],
    excludeResources: spec.excludeResources ?? [],
    includeClusterResources: spec.includeClusterResources ?? 'auto',
    labelSelectors: spec.labelSelectors ?? [],
    allVersions: spec.allVersions ?? false,
  };
}

/** A new Backup resource (no status: the controller sets it). */
export function newBackup(
  name: string,
  namespace: string,
  spec: BackupResourceSpec = {},
  labels: Record<string, string> = {},
): Backup {
  return {
    apiVersion: API_VERSION,
    kind: BACKUP_KIND,
    metadata: { name, namespace, ...(Object.keys(labels).length > 0 ? { labels } : {}) },
    spec,
  };
}
