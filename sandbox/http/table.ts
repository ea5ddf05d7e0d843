import type { Json } from '../object-meta.ts';
import type { PrinterColumn, ResourceType } from '../registry/resource-type.ts';

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

/** Columns of a Table and how to fill a row's cells from an object. */
export interface TableLayout {
  columns: Json[];
  cells(obj: Json, now: number): unknown[];
}

function age(obj: Json, now: number): string {
  const created = Date.parse(String(((obj.metadata ?? {}) as Json).creationTimestamp ?? ''));
  return Number.isNaN(created) ? '<unknown>' : humanDuration(now - created);
}

/** Name and Age: what a server prints for kinds without their own columns. */
export const DEFAULT_LAYOUT: TableLayout = {
  columns: COLUMN_DEFINITIONS,
  cells: (obj, now) => [((obj.metadata ?? {}) as Json).name, age(obj, now)],
};

/**
 * The layout of a CRD version with `additionalPrinterColumns`: Name plus the
 * declared columns (kube-apiserver adds no Age column then). `date` columns
 * print as ages, like kubectl does.
 */
export function printerColumnsLayout(columns: PrinterColumn[]): TableLayout {
  const first = COLUMN_DEFINITIONS[0] as Json;
  return {
    columns: [
      first,
      ...columns.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
    ],
    cells: (obj, now) => [
      ((obj.metadata ?? {}) as Json).name,
      ...columns.map((c) => {
        const v = evalJsonPath(obj, c.jsonPath);
        if (v === undefined) return null;
        if (c.type === 'date' && typeof v === 'string') {
          const t = Date.parse(v);
          return Number.isNaN(t) ? v : humanDuration(now - t);
        }
        return typeof v === 'object' && v !== null ? JSON.stringify(v) : v;
      }),
    ],
  };
}

/**
 * The JSONPath subset CRD printer columns use: `.a.b`, `[n]`, `['key']` and
 * filters `[?(@.field=="value")]`; the first match is printed.
 */
export function evalJsonPath(obj: unknown, path: string): unknown {
  const text = path
    .trim()
    .replace(/^\{|\}$/g, '')
    .replace(/^\$/, '');
  const tokens = text.match(/\.[^.[\]]+|\[\?\(@\.[^)]*\)\]|\[[^\]]*\]/g) ?? [];
  let cur: unknown = obj;
  for (const tok of tokens) {
    if (cur === undefined || cur === null) return undefined;
    if (tok.startsWith('.')) {
      if (typeof cur !== 'object' || Array.isArray(cur)) return undefined;
      cur = (cur as Json)[tok.slice(1)];
    } else if (tok.startsWith('[?(')) {
      const m = /^\[\?\(@\.([\w.-]+)\s*==\s*["']?([^"')]*)["']?\)\]$/.exec(tok);
      if (!m || !Array.isArray(cur)) return undefined;
      const [, field, want] = m as unknown as [string, string, string];
      cur = cur.find((e) => String(evalJsonPath(e, `.${field}`)) === want);
    } else {
      const inner = tok.slice(1, -1).replace(/^['"]|['"]$/g, '');
      if (Array.isArray(cur) && /^-?\d+$/.test(inner)) {
        const i = Number(inner);
        cur = cur[i < 0 ? cur.length + i : i];
      } else if (typeof cur === 'object') {
        cur = (cur as Json)[inner];
      } else return undefined;
    }
  }
  return cur;
}

export function layoutFor(type: ResourceType, version: string): TableLayout {
  const columns = type.printerColumns?.[version];
  return columns ? printerColumnsLayout(columns) : DEFAULT_LAYOUT;
}

export function tableRow(
  obj: Json,
  layout: TableLayout,
  includeObject: string | null,
  version: string,
  now = Date.now(),
): Json {
  const row: Json = { cells: layout.cells(obj, now) };
  if (includeObject === 'Object') row.object = obj;
  else if (includeObject !== 'None') row.object = partialObjectMetadata(obj, version);
  return row;
}

export function table(
  rows: Json[],
  metadata: Json,
  version: string,
  layout: TableLayout = DEFAULT_LAYOUT,
): Json {
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata,
    columnDefinitions: layout.columns,
    rows,
  };
}

export function tableContentType(kind: TableKind, version: string, list: boolean): string {
  const as = kind === 'Table' ? 'Table' : list ? 'PartialObjectMetadataList' : 'PartialObjectMetadata';
  return `application/json;as=${as};g=meta.k8s.io;v=${version}`;
}
