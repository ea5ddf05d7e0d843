import type { Json } from '../object-meta.ts';

/**
 * `meta.k8s.io/v1` Table responses, which `kubectl get` asks for. Every kind
 * gets the two columns a server prints for kinds without a table convertor:
 * Name and Age (kubectl adds NAMESPACE itself for `-A`).
 */

export type TableKind = 'Table' | 'PartialObjectMetadata';

/** What the Accept header asks a GET/list/watch to be rendered as (undefined = the object itself). */
export function renderingFor(accept: string | undefined): { as: TableKind; version: string } | undefined {
  if (!accept) return undefined;
  for (const clause of accept.split(',')) {
    const params = new Map<string, string>();
    const parts = clause.split(';').map((s) => s.trim());
    for (const kv of parts.slice(1)) {
      const eq = kv.indexOf('=');
      if (eq > 0) params.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    const as = params.get('as');
    if (!as) return undefined; // a plain clause first: plain JSON is acceptable
    const version = params.get('v') ?? 'v1';
    if (params.get('g') !== 'meta.k8s.io' || (version !== 'v1' && version !== 'v1beta1')) continue;
    if (as === 'Table') return { as: 'Table', version };
    if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList')
      return { as: 'PartialObjectMetadata', version };
  }
  return undefined;
}

export const COLUMN_DEFINITIONS = [
  {
    name: 'Name',
    type: 'string',
    format: 'name',
    description:
      'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
    priority: 0,
  },
  {
    name: 'Age',
    type: 'string',
    format: '',
    description:
      'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
    priority: 0,
  },
];

/** kubectl's `HumanDuration` (k8s.io/apimachinery/pkg/util/duration). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (years < 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

export function partialObjectMetadata(obj: Json, version: string): Json {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: obj.metadata };
}

export function tableRow(obj: Json, includeObject: string | null, version: string, now = Date.now()): Json {
  const meta = (obj.metadata ?? {}) as Json;
  const created = Date.parse(String(meta.creationTimestamp ?? ''));
  const row: Json = {
    cells: [meta.name, Number.isNaN(created) ? '<unknown>' : humanDuration(now - created)],
  };
  if (includeObject === 'Object') row.object = obj;
  else if (includeObject !== 'None') row.object = partialObjectMetadata(obj, version);
  return row;
}

export function table(rows: Json[], metadata: Json, version: string): Json {
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata,
    columnDefinitions: COLUMN_DEFINITIONS,
    rows,
  };
}

export function tableContentType(kind: TableKind, version: string, list: boolean): string {
  const as = kind === 'Table' ? 'Table' : list ? 'PartialObjectMetadataList' : 'PartialObjectMetadata';
  return `application/json;as=${as};g=meta.k8s.io;v=${version}`;
}
