/** The `Restore` kind: restore one Backup into this cluster. */
import { type Static, Type } from '@sinclair/typebox';
import { API_VERSION, Condition, Name, resourceSchema, StringEnum, Timestamp } from './common.ts';

export const RESTORE_KIND = 'Restore';
export const RESTORE_PLURAL = 'restores';

export const RESTORE_PHASES = [
  'New',
  'FailedValidation',
  'InProgress',
  'Completed',
  'PartiallyFailed',
  'Failed',
] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number];
export const RESTORE_FINAL_PHASES: readonly RestorePhase[] = [
  'FailedValidation',
  'Completed',
  'PartiallyFailed',
  'Failed',
];

export const EXISTING_RESOURCE_POLICIES = ['skip', 'update', 'recreate', 'fail'] as const;
export type ExistingResourcePolicyName = (typeof EXISTING_RESOURCE_POLICIES)[number];

const StringMap = (description: string) =>
  Type.Record(Type.String(), Type.String({ minLength: 1 }), { description });

/** The same fields as `cairn restore` flags (src/restore/options.ts `RestoreOptions`). */
export const RestoreSpecSchema = Type.Object(
  {
    backupName: Name('the Backup to restore'),
    storageLocation: Type.Optional(
      Type.String({
        description: "BackupLocation to read from; empty = the backup's location, else the default",
      }),
    ),
    includeNamespaces: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    excludeNamespaces: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    includeResources: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    excludeResources: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    labelSelector: Type.Optional(
      Type.String({ description: 'kubectl label selector; empty = every object' }),
    ),
    namespaceMapping: Type.Optional(StringMap('old:new namespace names')),
    storageClassMapping: Type.Optional(StringMap('old:new storage class names')),
    existingResourcePolicy: Type.Optional(
      StringEnum(EXISTING_RESOURCE_POLICIES, {
        description: 'for objects that exist and differ (default skip)',
      }),
    ),
    existingResourcePolicyByType: Type.Optional(
      Type.Record(Type.String(), StringEnum(EXISTING_RESOURCE_POLICIES), {
        description: 'per resource type, e.g. {secrets: update}',
      }),
    ),
    restoreStatus: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { description: 'types whose .status is restored (* = all)' }),
    ),
  },
  { additionalProperties: false },
);
export type RestoreResourceSpec = Static<typeof RestoreSpecSchema>;

export const RestoreStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(RESTORE_PHASES)),
    validationErrors: Type.Optional(Type.Array(Type.String())),
    startTimestamp: Type.Optional(Timestamp('when the restore started')),
    completionTimestamp: Type.Optional(Timestamp('when the restore finished')),
    progress: Type.Optional(
      Type.Object(
        {
          itemsTotal: Type.Optional(Type.Integer({ minimum: 0 })),
          itemsDone: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    created: Type.Optional(Type.Integer({ minimum: 0 })),
    updated: Type.Optional(Type.Integer({ minimum: 0 })),
    skipped: Type.Optional(Type.Integer({ minimum: 0 })),
    failed: Type.Optional(Type.Integer({ minimum: 0 })),
    warnings: Type.Optional(Type.Integer({ minimum: 0 })),
    failureReason: Type.Optional(Type.String()),
    conditions: Type.Optional(Type.Array(Condition)),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type RestoreStatus = Static<typeof RestoreStatusSchema>;

export const RestoreSchema = resourceSchema(RESTORE_KIND, RestoreSpecSchema, RestoreStatusSchema);
export type Restore = Static<typeof RestoreSchema>;

export function newRestore(
  name: string,
  namespace: string,
  spec: RestoreResourceSpec,
  labels: Record<string, string> = {},
): Restore {
  return {
    apiVersion: API_VERSION,
    kind: RESTORE_KIND,
    metadata: { name, namespace, ...(Object.keys(labels).length > 0 ? { labels } : {}) },
    spec,
  };
}
