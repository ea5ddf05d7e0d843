import { ApiError, type StatusCause } from './api-error.ts';
import { isObject, type Json, kubeNow } from './object-meta.ts';
import { mergeForApply, mergeKeyResolver } from './patching.ts';
import { apiVersionOf, type ResourceType } from './registry/resource-type.ts';

/**
 * `metadata.managedFields` bookkeeping and server-side apply.
 *
 * Field sets are kept as sets of leaf paths; a path is a list of FieldsV1
 * segments (`f:<field>`, `k:{"<mergeKey>":<value>}` for an element of a list
 * with a merge key, `.` for "the element itself"). Lists without a merge key
 * are atomic: the whole list is one leaf, like `x-kubernetes-list-type: atomic`.
 * This is a subset of structured-merge-diff: enough to know who set which field
 * and to remove the fields an applier stopped sending, not a full
 * re-implementation (no sets of primitives, no per-version conversion).
 */

export type ManagedFieldsOp = 'Apply' | 'Update';
type Path = string[];
type MergeKeyAt = (path: readonly string[]) => string | undefined;

const SEP = '\u0000';
const OWNED_META = new Set(['labels', 'annotations', 'finalizers', 'ownerReferences']);

/** Leaf paths of the fields an object sets (identity, server-set metadata and managed status excluded). */
export function leafPaths(type: ResourceType, obj: Json): Set<string> {
  const out = new Set<string>();
  const keyAt = mergeKeyResolver(type);
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || v === undefined) continue;
    if (k === 'status' && type.subresources.includes('status')) continue;
    if (k === 'metadata') {
      if (!isObject(v)) continue;
      for (const [mk, mv] of Object.entries(v)) {
        if (!OWNED_META.has(mk) || mv === undefined || mv === null) continue;
        walk(mv, ['metadata', mk], [`f:metadata`, `f:${mk}`], keyAt, out);
      }
      continue;
    }
    walk(v, [k], [`f:${k}`], keyAt, out);
  }
  return out;
}

function walk(value: unknown, fields: string[], path: Path, keyAt: MergeKeyAt, out: Set<string>): void {
  if (isObject(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      walk(v, [...fields, k], [...path, `f:${k}`], keyAt, out);
    }
    return;
  }
  if (Array.isArray(value) && value.length > 0) {
    const mk = keyAt(fields);
    if (mk && value.every((e) => isObject(e) && e[mk] !== undefined)) {
      for (const e of value as Json[]) {
        const elem = [...path, `k:${JSON.stringify({ [mk]: e[mk] })}`];
        out.add([...elem, '.'].join(SEP));
        for (const [k, v] of Object.entries(e)) {
          if (v === undefined) continue;
          walk(v, [...fields, k], [...elem, `f:${k}`], keyAt, out);
        }
      }
      return;
    }
  }
  out.add(path.join(SEP));
}

/** FieldsV1 nested object of a leaf-path set. */
export function toFieldsV1(paths: Iterable<string>): Json {
  const root: Json = {};
  for (const p of paths) {
    let node = root;
    for (const seg of p.split(SEP)) {
      const existing = node[seg];
      const child: Json = isObject(existing) ? existing : {};
      node[seg] = child;
      node = child;
    }
  }
  return root;
}

/** Leaf-path set of a FieldsV1 nested object. */
export function fromFieldsV1(fields: unknown): Set<string> {
  const out = new Set<string>();
  const visit = (node: Json, path: Path) => {
    const keys = Object.keys(node);
    if (keys.length === 0 && path.length > 0) {
      out.add(path.join(SEP));
      return;
    }
    for (const k of keys) {
      const child = node[k];
      visit(isObject(child) ? child : {}, [...path, k]);
    }
  };
  if (isObject(fields)) visit(fields, []);
  return out;
}

interface Entry {
  manager: string;
  operation: ManagedFieldsOp;
  apiVersion: string;
  time: string;
  subresource?: string;
  fields: Set<string>;
}

function readEntries(managed: unknown): Entry[] {
  if (!Array.isArray(managed)) return [];
  const out: Entry[] = [];
  for (const m of managed) {
    if (!isObject(m) || typeof m.manager !== 'string') continue;
    out.push({
      manager: m.manager,
      operation: m.operation === 'Apply' ? 'Apply' : 'Update',
      apiVersion: String(m.apiVersion ?? ''),
      time: String(m.time ?? kubeNow()),
      ...(typeof m.subresource === 'string' ? { subresource: m.subresource } : {}),
      fields: fromFieldsV1(m.fieldsV1),
    });
  }
  return out;
}

function writeEntries(entries: Entry[]): Json[] {
  return entries
    .filter((e) => e.fields.size > 0)
    .map((e) => ({
      manager: e.manager,
      operation: e.operation,
      apiVersion: e.apiVersion,
      time: e.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1([...e.fields].sort()),
      ...(e.subresource ? { subresource: e.subresource } : {}),
    }));
}

function valueAt(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const seg of path.split(SEP)) {
    if (seg === '.') return cur;
    if (seg.startsWith('f:')) {
      if (!isObject(cur)) return undefined;
      cur = cur[seg.slice(2)];
    } else if (seg.startsWith('k:')) {
      if (!Array.isArray(cur)) return undefined;
      const key = JSON.parse(seg.slice(2)) as Json;
      cur = cur.find((e) => isObject(e) && Object.entries(key).every(([k, v]) => e[k] === v));
    } else {
      return undefined;
    }
  }
  return cur;
}

function removeAt(obj: Json, path: string): void {
  const segs = path.split(SEP);
  if (segs[segs.length - 1] === '.') segs.pop();
  let cur: unknown = obj;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as string;
    const last = i === segs.length - 1;
    if (seg.startsWith('f:')) {
      if (!isObject(cur)) return;
      const f = seg.slice(2);
      if (last) delete cur[f];
      else cur = cur[f];
    } else if (seg.startsWith('k:')) {
      if (!Array.isArray(cur)) return;
      const key = JSON.parse(seg.slice(2)) as Json;
      const idx = cur.findIndex((e) => isObject(e) && Object.entries(key).every(([k, v]) => e[k] === v));
      if (idx < 0) return;
      if (last) cur.splice(idx, 1);
      else cur = cur[idx];
    } else {
      return;
    }
  }
}

/** `.spec.containers[name="app"].image` — how kube-apiserver prints a path in conflicts. */
function printable(path: string): string {
  let s = '';
  for (const seg of path.split(SEP)) {
    if (seg === '.') continue;
    if (seg.startsWith('f:')) s += `.${seg.slice(2)}`;
    else if (seg.startsWith('k:')) {
      const key = JSON.parse(seg.slice(2)) as Json;
      s += `[${Object.entries(key)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`;
    }
  }
  return s;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Updates `obj.metadata.managedFields` after a create/update/patch by
 * `manager`: the manager takes ownership of the fields it changed, other
 * managers lose them, and fields that no longer exist leave every set.
 */
export function recordManagedFields(
  type: ResourceType,
  old: Json | undefined,
  obj: Json,
  manager: string | undefined,
  op: ManagedFieldsOp,
  previous: unknown,
): void {
  const meta = obj.metadata as Json;
  const entries = readEntries(previous ?? meta.managedFields);
  const now = leafPaths(type, obj);
  const changed = new Set<string>();
  for (const p of now) if (!old || !sameValue(valueAt(old, p), valueAt(obj, p))) changed.add(p);
  for (const e of entries) {
    for (const p of e.fields) if (!now.has(p) && valueAt(obj, p) === undefined) e.fields.delete(p);
  }
  if (manager && changed.size > 0) {
    for (const e of entries) if (e.manager !== manager) for (const p of changed) e.fields.delete(p);
    let mine = entries.find((e) => e.manager === manager && e.operation === op && !e.subresource);
    if (!mine) {
      mine = {
        manager,
        operation: op,
        apiVersion: apiVersionOf(
          type.group,
          String(obj.apiVersion ?? '')
            .split('/')
            .pop() ?? '',
        ),
        time: kubeNow(),
        fields: new Set(),
      };
      entries.push(mine);
    }
    mine.apiVersion = String(obj.apiVersion);
    mine.time = kubeNow();
    for (const p of changed) mine.fields.add(p);
  }
  const out = writeEntries(entries);
  if (out.length > 0) meta.managedFields = out;
  else delete meta.managedFields;
}

/**
 * Server-side apply of `applied` by `manager` onto `live` (undefined when the
 * object does not exist yet). Returns the new object with managedFields set.
 * Throws a 409 Conflict when the applied config changes a field another
 * manager owns, unless `force`.
 */
export function serverSideApply(
  type: ResourceType,
  live: Json | undefined,
  applied: Json,
  manager: string,
  force: boolean,
): Json {
  const entries = readEntries(live ? (live.metadata as Json).managedFields : undefined);
  const mine = leafPaths(type, applied);
  const conflicts: StatusCause[] = [];
  if (live) {
    for (const e of entries) {
      if (e.manager === manager) continue;
      for (const p of mine) {
        if (!e.fields.has(p)) continue;
        // Owning a keyed element ('.') is about its presence, not its value.
        if (p.endsWith(`${SEP}.`)) continue;
        if (sameValue(valueAt(live, p), valueAt(applied, p))) continue;
        if (force) e.fields.delete(p);
        else
          conflicts.push({
            reason: 'FieldManagerConflict',
            message: `conflict with "${e.manager}" using ${e.apiVersion}`,
            field: printable(p),
          });
      }
    }
  }
  if (conflicts.length > 0) {
    const lines = conflicts.map((c) => `- ${c.message}: ${c.field}`).join('\n');
    throw new ApiError(
      409,
      'Conflict',
      `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ${lines}`,
      { causes: conflicts },
    );
  }
  const base = live
    ? structuredClone(live)
    : { apiVersion: applied.apiVersion, kind: applied.kind, metadata: {} };
  const result = mergeForApply(type, base, stripForMerge(applied));
  const previous = entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource);
  if (previous) {
    const ownedByOthers = new Set<string>();
    for (const e of entries) if (e !== previous) for (const p of e.fields) ownedByOthers.add(p);
    for (const p of previous.fields) {
      if (!mine.has(p) && !ownedByOthers.has(p)) removeAt(result, p);
    }
    previous.fields = mine;
    previous.time = kubeNow();
    previous.apiVersion = String(applied.apiVersion ?? live?.apiVersion ?? '');
  } else {
    entries.push({
      manager,
      operation: 'Apply',
      apiVersion: String(applied.apiVersion ?? live?.apiVersion ?? ''),
      time: kubeNow(),
      fields: mine,
    });
  }
  const meta = result.metadata as Json;
  const out = writeEntries(entries);
  if (out.length > 0) meta.managedFields = out;
  else delete meta.managedFields;
  return result;
}

function stripForMerge(applied: Json): Json {
  const copy = structuredClone(applied);
  const meta = isObject(copy.metadata) ? copy.metadata : {};
  delete meta.managedFields;
  delete meta.resourceVersion;
  delete meta.uid;
  delete meta.creationTimestamp;
  copy.metadata = meta;
  return copy;
}
