/**
 * CustomResourceDefinitions for every Cairn kind, generated from the typebox
 * schemas (the one source of truth) — never hand-kept YAML.
 *
 * Kubernetes requires *structural* OpenAPI v3 schemas (every node has a type,
 * no $ref/const/patternProperties, `properties` and `additionalProperties`
 * never together, metadata only `type: object` at the root). typebox emits
 * JSON Schema that is close but not quite that, so `toStructural` converts the
 * few constructs we use and REFUSES anything else: a future schema change that
 * Kubernetes would reject fails the unit tests, not `cairn install`.
 * `structuralProblems` is the checker the tests (and `cairn install`) run.
 */
import type { TSchema } from '@sinclair/typebox';
import { BACKUP_KIND, BACKUP_PLURAL, BackupSpecSchema, BackupStatusSchema } from './backup.ts';
import {
  BACKUP_LOCATION_KIND,
  BACKUP_LOCATION_PLURAL,
  BackupLocationSpecSchema,
  BackupLocationStatusSchema,
} from './backup-location.ts';
import { GROUP, LABELS, VERSION } from './common.ts';
import {
  ETCD_BACKUP_KIND,
  ETCD_BACKUP_PLURAL,
  EtcdBackupSpecSchema,
  EtcdBackupStatusSchema,
} from './etcd-backup.ts';
import { RESTORE_KIND, RESTORE_PLURAL, RestoreSpecSchema, RestoreStatusSchema } from './restore.ts';
import { SCHEDULE_KIND, SCHEDULE_PLURAL, ScheduleSpecSchema, ScheduleStatusSchema } from './schedule.ts';

/** An OpenAPI v3 schema node as apiextensions.k8s.io/v1 stores it. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  enum?: unknown[];
  default?: unknown;
  required?: string[];
  items?: JSONSchemaProps;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [key: string]: unknown;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** Everything that differs between Cairn's kinds in their CRDs. */
export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: string[];
  readonly spec: TSchema;
  readonly status: TSchema;
  readonly printerColumns: PrinterColumn[];
}

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** Cairn's kinds, in install order (locations first: everything else names one). */
export const KINDS: readonly KindDefinition[] = [
  {
    kind: BACKUP_LOCATION_KIND,
    plural: BACKUP_LOCATION_PLURAL,
    singular: 'backuplocation',
    shortNames: ['cbl'],
    spec: BackupLocationSpecSchema,
    status: BackupLocationStatusSchema,
    printerColumns: [
      { name: 'Provider', type: 'string', jsonPath: '.spec.provider' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Access', type: 'string', jsonPath: '.spec.accessMode' },
      { name: 'Default', type: 'boolean', jsonPath: '.spec.default' },
      { name: 'Last Checked', type: 'date', jsonPath: '.status.lastCheckedTime' },
      { name: 'URL', type: 'string', jsonPath: '.spec.url', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
      age,
    ],
  },
  {
    kind: BACKUP_KIND,
    plural: BACKUP_PLURAL,
    singular: 'backup',
    shortNames: ['cbk'],
    spec: BackupSpecSchema,
    status: BackupStatusSchema,
    printerColumns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Items', type: 'integer', jsonPath: '.status.itemsBackedUp' },
      { name: 'Errors', type: 'integer', jsonPath: '.status.errors' },
      { name: 'Location', type: 'string', jsonPath: '.status.storageLocation' },
      { name: 'Completed', type: 'date', jsonPath: '.status.completionTimestamp', priority: 1 },
      { name: 'Expires', type: 'date', jsonPath: '.status.expiration', priority: 1 },
      age,
    ],
  },
  {
    kind: RESTORE_KIND,
    plural: RESTORE_PLURAL,
    singular: 'restore',
    shortNames: ['crs'],
    spec: RestoreSpecSchema,
    status: RestoreStatusSchema,
    printerColumns: [
      { name: 'Backup', type: 'string', jsonPath: '.spec.backupName' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Created', type: 'integer', jsonPath: '.status.created' },
      { name: 'Failed', type: 'integer', jsonPath: '.status.failed' },
      age,
    ],
  },
  {
    kind: SCHEDULE_KIND,
    plural: SCHEDULE_PLURAL,
    singular: 'schedule',
    shortNames: ['csch'],
    spec: ScheduleSpecSchema,
    status: ScheduleStatusSchema,
    printerColumns: [
      { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
      { name: 'Time Zone', type: 'string', jsonPath: '.spec.timeZone' },
      { name: 'Paused', type: 'boolean', jsonPath: '.spec.paused' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Last Backup', type: 'string', jsonPath: '.status.lastBackup' },
      { name: 'Next Run', type: 'date', jsonPath: '.status.nextRunTime' },
      age,
    ],
  },
  {
    kind: ETCD_BACKUP_KIND,
    plural: ETCD_BACKUP_PLURAL,
    singular: 'etcdbackup',
    shortNames: ['ceb'],
    spec: EtcdBackupSpecSchema,
    status: EtcdBackupStatusSchema,
    printerColumns: [
      { name: 'Cluster', type: 'string', jsonPath: '.spec.cluster' },
      { name: 'Interval', type: 'string', jsonPath: '.spec.interval' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Last Snapshot', type: 'date', jsonPath: '.status.lastSuccessfulSnapshot.completedAt' },
      age,
    ],
  },
];

/** The kind definition by kind name or plural; undefined when not Cairn's. */
export function kindDefinition(kindOrPlural: string): KindDefinition | undefined {
  const wanted = kindOrPlural.toLowerCase();
  return KINDS.find((k) => k.kind.toLowerCase() === wanted || k.plural === wanted || k.singular === wanted);
}

/** `<plural>.cairn.dev` — the CRD's name, and what `kubectl get` accepts unambiguously. */
export function crdName(kind: KindDefinition): string {
  return `${kind.plural}.${GROUP}`;
}

const COPIED = [
  'description',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'default',
  'enum',
] as const;

/** A typebox schema as a structural Kubernetes schema; throws on constructs it does not know. */
export function toStructural(schema: TSchema, where = '$'): JSONSchemaProps {
  const s = schema as Record<string, unknown>;
  const out: JSONSchemaProps = {};
  const copy = () => {
    for (const key of COPIED)
      if (s[key] !== undefined) (out as Record<string, unknown>)[key] = structuredClone(s[key]);
  };
  // A union of string literals (StringEnum) → enum. Kubernetes has no `const`.
  if (Array.isArray(s.anyOf)) {
    const members = s.anyOf as Record<string, unknown>[];
    if (members.length > 0 && members.every((m) => typeof m.const === 'string')) {
      out.type = 'string';
      copy();
      out.enum = members.map((m) => m.const);
      return out;
    }
    throw new Error(`${where}: unions other than string literals have no structural form`);
  }
  if (typeof s.const === 'string') {
    copy();
    return { ...out, type: 'string', enum: [s.const] };
  }
  switch (s.type) {
    case 'object': {
      out.type = 'object';
      copy();
      const properties = s.properties as Record<string, TSchema> | undefined;
      const pattern = s.patternProperties as Record<string, TSchema> | undefined;
      if (properties !== undefined) {
        if (pattern !== undefined) throw new Error(`${where}: properties and patternProperties together`);
        out.properties = {};
        for (const [name, child] of Object.entries(properties))
          out.properties[name] = toStructural(child, `${where}.${name}`);
        const required = s.required as string[] | undefined;
        if (required !== undefined && required.length > 0) out.required = [...required];
        // `additionalProperties: false` only drives typebox's typo detection; Kubernetes prunes
        // unknown fields anyway and forbids it beside `properties`.
        if (s.additionalProperties === true) out['x-kubernetes-preserve-unknown-fields'] = true;
        return out;
      }
      if (pattern !== undefined) {
        // Type.Record(String, X) → a map: `additionalProperties: X`.
        const entries = Object.entries(pattern);
        const [only] = entries;
        if (entries.length !== 1 || only === undefined || only[0] !== '^(.*)$')
          throw new Error(`${where}: patternProperties other than a string-keyed record`);
        out.additionalProperties = toStructural(only[1], `${where}.*`);
        return out;
      }
      throw new Error(`${where}: an object needs properties or a record value type`);
    }
    case 'array': {
      out.type = 'array';
      copy();
      if (s.items === undefined || Array.isArray(s.items))
        throw new Error(`${where}: arrays need one items schema`);
      out.items = toStructural(s.items as TSchema, `${where}[]`);
      return out;
    }
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      out.type = s.type;
      copy();
      return out;
    case undefined:
      if (Object.keys(s).filter((k) => k !== 'description').length === 0) {
        // Type.Unknown(): free-form JSON, the one place unknown fields must survive.
        copy();
        return { ...out, 'x-kubernetes-preserve-unknown-fields': true };
      }
      throw new Error(`${where}: schema without a type`);
    default:
      throw new Error(`${where}: type ${String(s.type)} has no structural form`);
  }
}

/** The top-level OpenAPI schema of a kind. */
export function openApiSchema(kind: KindDefinition): JSONSchemaProps {
  return {
    type: 'object',
    description: `${kind.kind} (${GROUP}/${VERSION}) — see docs/controller.md`,
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: toStructural(kind.spec, 'spec'),
      status: toStructural(kind.status, 'status'),
    },
    required: ['spec'],
  };
}

/** One CustomResourceDefinition (apiextensions.k8s.io/v1). */
export function crdManifest(kind: KindDefinition): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(kind),
      labels: { [LABELS.partOf]: 'cairn', [LABELS.managedBy]: 'cairn' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: kind.kind,
        listKind: `${kind.kind}List`,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: [...kind.shortNames],
        categories: ['cairn'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: openApiSchema(kind) },
          subresources: { status: {} },
          additionalPrinterColumns: kind.printerColumns.map((c) => ({ ...c })),
        },
      ],
    },
  };
}

/** Every Cairn CRD, in install order. */
export function crdManifests(): Record<string, unknown>[] {
  return KINDS.map(crdManifest);
}

const ALLOWED_KEYS = new Set<string>([
  ...COPIED,
  'type',
  'title',
  'example',
  'nullable',
  'required',
  'items',
  'properties',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

/**
 * Why a schema is not structural in Kubernetes' sense (empty = it is):
 * every node has a type (unless it preserves unknown fields or is
 * int-or-string), no $ref/$id/const/patternProperties/definitions/anyOf…,
 * `items` is one schema, `properties` and `additionalProperties` never
 * together, `required` names existing properties, enums match their type,
 * and the root's `metadata` is nothing but `type: object`.
 */
export function structuralProblems(root: JSONSchemaProps): string[] {
  const problems: string[] = [];
  const walk = (node: JSONSchemaProps, where: string): void => {
    for (const key of Object.keys(node))
      if (!ALLOWED_KEYS.has(key)) problems.push(`${where}: "${key}" is not allowed in a structural schema`);
    const free =
      node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true;
    if (node['x-kubernetes-preserve-unknown-fields'] === false)
      problems.push(`${where}: x-kubernetes-preserve-unknown-fields must be true or absent`);
    if (node.type === undefined) {
      if (!free) problems.push(`${where}: no type`);
    } else if (!TYPES.has(node.type)) problems.push(`${where}: unknown type ${String(node.type)}`);
    if (node.properties !== undefined && node.additionalProperties !== undefined)
      problems.push(`${where}: properties and additionalProperties are mutually exclusive`);
    if ((node.properties !== undefined || node.additionalProperties !== undefined) && node.type !== 'object')
      problems.push(`${where}: properties on a non-object`);
    if (node.items !== undefined && (node.type !== 'array' || Array.isArray(node.items)))
      problems.push(`${where}: items must be one schema on an array`);
    if (node.type === 'array' && node.items === undefined) problems.push(`${where}: array without items`);
    for (const name of node.required ?? [])
      if (node.properties?.[name] === undefined)
        problems.push(`${where}: required "${name}" is not a property`);
    if (node.enum !== undefined) {
      const typeOf = (v: unknown) => (Number.isInteger(v) && node.type === 'integer' ? 'integer' : typeof v);
      for (const v of node.enum)
        if (typeOf(v) !== node.type)
          problems.push(`${where}: enum value ${JSON.stringify(v)} is not a ${node.type}`);
    }
    for (const [name, child] of Object.entries(node.properties ?? {})) walk(child, `${where}.${name}`);
    if (node.items !== undefined && !Array.isArray(node.items)) walk(node.items, `${where}[]`);
    if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${where}.*`);
    if (node.additionalProperties === false)
      problems.push(`${where}: additionalProperties: false is not allowed`);
  };
  walk(root, '$');
  const metadata = root.properties?.metadata;
  if (metadata !== undefined && JSON.stringify(metadata) !== JSON.stringify({ type: 'object' }))
    problems.push('$.metadata: only `type: object` is allowed at the root');
  if (root.type !== 'object') problems.push('$: the root must be an object');
  return problems;
}

/** The schema node a printer column's `.a.b.c` path reaches; undefined when it reaches nothing. */
export function schemaAt(root: JSONSchemaProps, jsonPath: string): JSONSchemaProps | undefined {
  let node: JSONSchemaProps | undefined = root;
  for (const part of jsonPath.replace(/^\./, '').split('.')) {
    if (part === 'metadata' && node === root) return { type: 'object' };
    node = node?.properties?.[part];
  }
  return node;
}
