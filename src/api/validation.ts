/**
 * Validation of Cairn's resources: typebox's schema errors (the same schema
 * the CRD carries, plus typo detection the API server's pruning would hide)
 * and the semantic checks a schema cannot express — cron and time zone,
 * durations, include/exclude conflicts, label selector syntax, mappings.
 * Every function returns human-readable problems (`spec.x: why`); empty means
 * valid. The controller puts them in `status.validationErrors`; the CLI
 * refuses to submit.
 */
import type { TSchema } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { parseDuration } from '../util/duration.ts';
import { type BackupResourceSpec, BackupSchema, BackupSpecSchema } from './backup.ts';
import {
  BackupLocationSchema,
  type BackupLocationSpec,
  BackupLocationSpecSchema,
  providerOfUrl,
} from './backup-location.ts';
import { DURATION_PATTERN, NAME_PATTERN } from './common.ts';
import { isKnownTimeZone, parseSchedule } from './cron.ts';
import { EtcdBackupSpecSchema } from './etcd-backup.ts';
import { labelSelectorProblem } from './label-selector.ts';
import { type RestoreResourceSpec, RestoreSchema, RestoreSpecSchema } from './restore.ts';
import { type Schedule, ScheduleSchema, type ScheduleSpec, ScheduleSpecSchema } from './schedule.ts';

/** A JSON pointer (`/spec/template/ttl`) as a field path (`spec.template.ttl`). */
function fieldPath(prefix: string, pointer: string): string {
  const parts = pointer
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = prefix;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out || '(root)';
}

function messageOf(error: ValueError): string {
  const s = error.schema as Record<string, unknown>;
  if (Array.isArray(s.anyOf) && s.anyOf.every((m) => typeof (m as { const?: unknown }).const === 'string'))
    return `must be one of ${(s.anyOf as { const: string }[]).map((m) => m.const).join(', ')}, not ${JSON.stringify(error.value)}`;
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return 'unknown field';
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.StringPattern:
      if (s.pattern === DURATION_PATTERN)
        return `invalid duration ${JSON.stringify(error.value)} (use a number and a unit s, m, h, d, w or y, e.g. 15m, 168h, 30d)`;
      if (s.pattern === NAME_PATTERN)
        return `invalid name ${JSON.stringify(error.value)} (lowercase letters, digits, - and .)`;
      return `${JSON.stringify(error.value)} does not match ${String(s.pattern)}`;
    case ValueErrorType.StringFormat:
      return `${JSON.stringify(error.value)} is not a ${String(s.format)}`;
    default:
      return `${error.message.charAt(0).toLowerCase()}${error.message.slice(1)}${
        error.value === undefined ? '' : ` (got ${JSON.stringify(error.value)})`
      }`;
  }
}

/** typebox's errors against `schema`, one line each, deduplicated (a bad union reports once). */
export function schemaProblems(schema: TSchema, value: unknown, prefix = ''): string[] {
  const out = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    // A missing required property is also reported as "expected X" for the undefined value.
    if (error.value === undefined && error.type !== ValueErrorType.ObjectRequiredProperty) continue;
    out.add(`${fieldPath(prefix, error.path)}: ${messageOf(error)}`);
  }
  return [...out];
}

function durationProblem(path: string, value: string | undefined): string[] {
  if (value === undefined) return [];
  try {
    parseDuration(value);
    return [];
  } catch (err) {
    return [`${path}: ${(err as Error).message}`];
  }
}

/** Names present in both lists (exact match; a glob overlapping a name is allowed, e.g. include team-*, exclude team-test). */
function overlap(include: readonly string[] | undefined, exclude: readonly string[] | undefined): string[] {
  const excluded = new Set(exclude ?? []);
  return [...new Set((include ?? []).filter((x) => excluded.has(x)))];
}

/** Semantic checks of the filter fields shared by Backup, Schedule template and Restore. */
function filterProblems(
  prefix: string,
  spec: {
    includeNamespaces?: string[];
    excludeNamespaces?: string[];
    includeResources?: string[];
    excludeResources?: string[];
  },
): string[] {
  const problems: string[] = [];
  for (const ns of overlap(spec.includeNamespaces, spec.excludeNamespaces))
    problems.push(
      `${prefix}includeNamespaces/excludeNamespaces: namespace "${ns}" is both included and excluded`,
    );
  for (const r of overlap(spec.includeResources, spec.excludeResources))
    problems.push(
      `${prefix}includeResources/excludeResources: resource "${r}" is both included and excluded`,
    );
  if ((spec.includeNamespaces ?? []).includes('*') && (spec.excludeNamespaces ?? []).includes('*'))
    problems.push(`${prefix}excludeNamespaces: "*" excludes every namespace`);
  return problems;
}

function selectorProblems(path: string, selectors: readonly string[]): string[] {
  return selectors.flatMap((s, i) => {
    const problem = labelSelectorProblem(s);
    return problem === undefined
      ? []
      : [
          `${path}${selectors.length > 1 ? `[${i}]` : ''}: invalid label selector ${JSON.stringify(s)}: ${problem}`,
        ];
  });
}

function backupSpecSemantics(prefix: string, spec: BackupResourceSpec): string[] {
  return [
    ...filterProblems(prefix, spec),
    ...selectorProblems(`${prefix}labelSelectors`, spec.labelSelectors ?? []),
    ...durationProblem(`${prefix}ttl`, spec.ttl),
  ];
}

/** Problems of a Backup spec (`spec.*`). */
export function validateBackupSpec(spec: unknown, prefix = 'spec'): string[] {
  const shape = schemaProblems(BackupSpecSchema, spec, prefix);
  if (shape.length > 0) return shape;
  return backupSpecSemantics(`${prefix}.`, spec as BackupResourceSpec);
}

/** Problems of a whole Backup resource. */
export function validateBackup(resource: unknown): string[] {
  const shape = schemaProblems(BackupSchema, resource);
  return shape.length > 0 ? shape : validateBackupSpec((resource as { spec: unknown }).spec);
}

/** Problems of a Restore spec, including a namespace mapping that merges two namespaces into one. */
export function validateRestoreSpec(spec: unknown, prefix = 'spec'): string[] {
  const shape = schemaProblems(RestoreSpecSchema, spec, prefix);
  if (shape.length > 0) return shape;
  const s = spec as RestoreResourceSpec;
  const problems = [
    ...filterProblems(`${prefix}.`, s),
    ...selectorProblems(`${prefix}.labelSelector`, s.labelSelector === undefined ? [] : [s.labelSelector]),
  ];
  for (const [field, mapping] of [
    ['namespaceMapping', s.namespaceMapping],
    ['storageClassMapping', s.storageClassMapping],
  ] as const) {
    const sources = new Map<string, string>();
    for (const [from, to] of Object.entries(mapping ?? {})) {
      const other = sources.get(to);
      if (other !== undefined && field === 'namespaceMapping')
        problems.push(
          `${prefix}.${field}: "${other}" and "${from}" both map to "${to}" (objects of both would collide)`,
        );
      sources.set(to, from);
    }
  }
  for (const [from, to] of Object.entries(s.namespaceMapping ?? {})) {
    if ((s.excludeNamespaces ?? []).includes(from))
      problems.push(`${prefix}.namespaceMapping: "${from}" is mapped but also excluded`);
    if (!new RegExp(NAME_PATTERN).test(to) || to.includes('.') || to.length > 63)
      problems.push(`${prefix}.namespaceMapping: target "${to}" is not a valid namespace name`);
  }
  return problems;
}

export function validateRestore(resource: unknown): string[] {
  const shape = schemaProblems(RestoreSchema, resource);
  return shape.length > 0 ? shape : validateRestoreSpec((resource as { spec: unknown }).spec);
}

/** Problems of a Schedule spec: cron + time zone, template, retention. */
export function validateScheduleSpec(spec: unknown, prefix = 'spec'): string[] {
  const shape = schemaProblems(ScheduleSpecSchema, spec, prefix);
  if (shape.length > 0) return shape;
  const s = spec as ScheduleSpec;
  const problems: string[] = [];
  let timeZone = s.timeZone ?? 'UTC';
  if (!isKnownTimeZone(timeZone)) {
    problems.push(
      `${prefix}.timeZone: unknown time zone "${timeZone}" (use an IANA name such as Europe/Berlin or UTC)`,
    );
    timeZone = 'UTC';
  }
  try {
    parseSchedule(s.schedule, timeZone);
  } catch (err) {
    problems.push(`${prefix}.schedule: ${(err as Error).message}`);
  }
  if (/^@every\s/.test(s.schedule.trim()) && s.timeZone !== undefined && s.timeZone !== 'UTC')
    problems.push(`${prefix}.timeZone: has no meaning for an @every schedule; remove it`);
  problems.push(...backupSpecSemantics(`${prefix}.template.`, s.template));
  problems.push(...durationProblem(`${prefix}.retention.ttl`, s.retention?.ttl));
  return problems;
}

/**
 * The longest Schedule name: it is the value of the `cairn.dev/schedule` label
 * on every backup it makes (label values are at most 63 characters).
 */
export const MAX_SCHEDULE_NAME_LENGTH = 63;

export function validateSchedule(resource: unknown): string[] {
  const shape = schemaProblems(ScheduleSchema, resource);
  if (shape.length > 0) return shape;
  const { name } = (resource as Schedule).metadata;
  const problems: string[] = [];
  if (name.length > MAX_SCHEDULE_NAME_LENGTH || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name))
    problems.push(
      `metadata.name: "${name}" must be at most ${MAX_SCHEDULE_NAME_LENGTH} lowercase letters, digits and dashes (it labels every backup of the schedule)`,
    );
  return [...problems, ...validateScheduleSpec((resource as { spec: unknown }).spec)];
}

/** Problems of a BackupLocation spec: exactly one of url/config, consistent with the provider. */
export function validateBackupLocationSpec(spec: unknown, prefix = 'spec'): string[] {
  const shape = schemaProblems(BackupLocationSpecSchema, spec, prefix);
  if (shape.length > 0) return shape;
  const s = spec as BackupLocationSpec;
  const problems: string[] = [];
  if (s.url !== undefined && s.config !== undefined) problems.push(`${prefix}: give url or config, not both`);
  if (s.url === undefined && s.config === undefined) problems.push(`${prefix}: give url or config`);
  if (s.url !== undefined && providerOfUrl(s.url) !== s.provider)
    problems.push(`${prefix}.url: "${s.url}" is a ${providerOfUrl(s.url)} URL but provider is ${s.provider}`);
  if (s.url !== undefined && /^[a-z][a-z0-9+.-]*:\/\//i.test(s.url) && !/^(s3|file):\/\//i.test(s.url))
    problems.push(`${prefix}.url: unsupported scheme in "${s.url}" (use a path, file:// or s3://)`);
  if (s.url !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(s.url) && !s.url.startsWith('/'))
    problems.push(
      `${prefix}.url: "${s.url}" must be an absolute path or file:/// URL (the controller has no working directory of yours)`,
    );
  if (s.config !== undefined) {
    if (s.provider === 'filesystem' && s.config.path === undefined)
      problems.push(`${prefix}.config.path: is required for provider filesystem`);
    if (s.provider === 's3' && s.config.bucket === undefined)
      problems.push(`${prefix}.config.bucket: is required for provider s3`);
    if (s.provider === 'filesystem' && (s.config.bucket !== undefined || s.config.endpoint !== undefined))
      problems.push(`${prefix}.config: bucket/endpoint are for provider s3`);
    if (s.config.path !== undefined && !s.config.path.startsWith('/'))
      problems.push(`${prefix}.config.path: must be absolute, not "${s.config.path}"`);
  }
  if (s.credential !== undefined && s.provider === 'filesystem')
    problems.push(`${prefix}.credential: a filesystem location takes no credential`);
  problems.push(...durationProblem(`${prefix}.syncPeriod`, s.syncPeriod));
  return problems;
}

export function validateBackupLocation(resource: unknown): string[] {
  const shape = schemaProblems(BackupLocationSchema, resource);
  return shape.length > 0 ? shape : validateBackupLocationSpec((resource as { spec: unknown }).spec);
}

/** Problems of an EtcdBackup spec. */
export function validateEtcdBackupSpec(spec: unknown, prefix = 'spec'): string[] {
  const shape = schemaProblems(EtcdBackupSpecSchema, spec, prefix);
  if (shape.length > 0) return shape;
  const s = spec as { interval: string; endpoints: string[] };
  const problems = durationProblem(`${prefix}.interval`, s.interval);
  for (const [i, e] of s.endpoints.entries())
    if (!/^https?:\/\/[^/\s]+\/?$/.test(e))
      problems.push(`${prefix}.endpoints[${i}]: "${e}" is not an http(s)://host:port URL`);
  return problems;
}

/** What a resource needs of its storage location. */
export type LocationUse = 'write' | 'read';

/**
 * Problems resolving a storage location name against the BackupLocations that
 * exist (a check against the cluster, so not part of `validate*`): an unknown
 * name (with the known ones), no name and no default (or several defaults),
 * or a ReadOnly location for something that writes.
 */
export function storageLocationProblems(
  field: string,
  name: string | undefined,
  locations: readonly { name: string; default?: boolean; accessMode?: string }[],
  use: LocationUse,
): string[] {
  let chosen: (typeof locations)[number] | undefined;
  if (name === undefined || name === '') {
    const defaults = locations.filter((l) => l.default === true);
    if (defaults.length === 0)
      return [
        `${field}: no storage location given and no BackupLocation is the default (create one with \`cairn location create NAME --url … --default\`)`,
      ];
    if (defaults.length > 1)
      return [
        `${field}: several BackupLocations are the default (${defaults.map((d) => d.name).join(', ')}); name one`,
      ];
    chosen = defaults[0];
  } else {
    chosen = locations.find((l) => l.name === name);
    if (chosen === undefined) {
      const known = locations.map((l) => l.name);
      return [
        `${field}: BackupLocation "${name}" does not exist${known.length > 0 ? ` (known: ${known.join(', ')})` : ' (there are none)'}`,
      ];
    }
  }
  if (use === 'write' && chosen?.accessMode === 'ReadOnly')
    return [`${field}: BackupLocation "${chosen.name}" is ReadOnly; backups cannot be written to it`];
  return [];
}
