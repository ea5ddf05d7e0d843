/**
 * Shared pieces of the `cairn.dev/v1alpha1` schemas: the group/version, the
 * labels Cairn sets, and small schema builders (string unions, durations,
 * timestamps, conditions). Every schema is written ONCE with typebox: the TS
 * types are `Static<…>`, the CRD OpenAPI schemas are generated from the same
 * objects (crd.ts), and validation runs typebox over them (validation.ts).
 */
import { FormatRegistry, type TLiteral, type TObject, type TUnion, Type } from '@sinclair/typebox';

import { API_VERSION } from './group-version.ts';

export { API_VERSION, GROUP, VERSION } from './group-version.ts';

/** Default namespace Cairn is installed in; its custom resources live there (as Velero's do). */
export const DEFAULT_NAMESPACE = 'cairn-system';

/** Labels Cairn puts on the resources it creates. */
export const LABELS = {
  /** On Backups made by a Schedule: the schedule's name. */
  schedule: 'cairn.dev/schedule',
  /** On Backups created by location sync: the BackupLocation they were found in. */
  syncedFromLocation: 'cairn.dev/synced-from-location',
  /** On Backups and Restores: the BackupLocation they use (for `kubectl get -l`). */
  location: 'cairn.dev/location',
  /** On Restores: the Backup restored. */
  backup: 'cairn.dev/backup',
  /** On everything `cairn install` creates. */
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
} as const;

// RFC 3339 timestamps as Kubernetes writes them (`metav1.Time`); typebox only checks formats that
// are registered, and the CRD schema carries the same `format: date-time`.
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set(
    'date-time',
    (value) =>
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) &&
      !Number.isNaN(Date.parse(value)),
  );
}

/**
 * A closed set of strings. Written as a union of literals so typebox checks it
 * natively; the CRD generator turns it into `type: string, enum: [...]`
 * (Kubernetes has no `const`).
 */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description?: string; default?: T[number] } = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as TUnion<TLiteral<T[number]>[]>;
}

/** Same grammar as src/util/duration.ts: `15m`, `168h`, `1h30m`, `30d`, `1y`. */
export const DURATION_PATTERN = '^([0-9]+[smhdwy])+$';

export function Duration(description: string) {
  return Type.String({ pattern: DURATION_PATTERN, description });
}

export function Timestamp(description: string) {
  return Type.String({ format: 'date-time', description });
}

/** A Kubernetes object name (RFC 1123 subdomain). */
export const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

export function Name(description: string) {
  return Type.String({ pattern: NAME_PATTERN, maxLength: 253, description });
}

/** `metav1.Condition`, as Kubernetes conventions define it. */
export const Condition = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    status: StringEnum(['True', 'False', 'Unknown'] as const),
    reason: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    lastTransitionTime: Type.Optional(Timestamp('when the status last changed')),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

/**
 * The object metadata Cairn reads and writes. Only the fields Cairn uses are
 * typed; the API server owns the rest, so it is open (and the CRD schema of
 * `metadata` is the plain `type: object` Kubernetes requires).
 */
export const ObjectMeta = Type.Object(
  {
    name: Type.String(),
    namespace: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    creationTimestamp: Type.Optional(Type.String()),
    deletionTimestamp: Type.Optional(Type.String()),
    finalizers: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: true },
);

/** apiVersion + kind + metadata + spec (+ status) of one of Cairn's kinds. */
export function resourceSchema<K extends string, S extends TObject, T extends TObject>(
  kind: K,
  spec: S,
  status: T,
) {
  return Type.Object({
    apiVersion: Type.Literal(API_VERSION),
    kind: Type.Literal(kind),
    metadata: ObjectMeta,
    spec,
    status: Type.Optional(status),
  });
}
