import { ApiError, badRequest } from './api-error.ts';
import type { Json } from './object-meta.ts';
import { PatchError } from './patch/errors.ts';
import { applyJsonPatch } from './patch/json-patch.ts';
import { applyMergePatch } from './patch/merge-patch.ts';
import {
  applyStrategicMergePatch,
  builtinPatchSchema,
  type PatchFieldMeta,
  type PatchSchema,
} from './patch/strategic-merge.ts';
import type { ResourceType } from './registry/resource-type.ts';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

/** Content-Type of a PATCH request → patch type, or undefined when unsupported. */
export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const mt = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  switch (mt) {
    case 'application/json-patch+json':
      return 'json';
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+cbor':
      return 'apply';
    default:
      return undefined;
  }
}

const EMPTY_SCHEMA: PatchSchema = {};
const schemaCache = new Map<string, PatchSchema>();

function schemaOf(type: ResourceType): PatchSchema {
  if (type.custom) return EMPTY_SCHEMA;
  const key = `${type.group}/${type.kind}`;
  let s = schemaCache.get(key);
  if (!s) {
    s = builtinPatchSchema(type.group, type.kind);
    schemaCache.set(key, s);
  }
  return s;
}

/** Turns a PatchError from the pure patch modules into the Status the server answers with. */
function asApiError(e: unknown): unknown {
  if (e instanceof PatchError) return new ApiError(e.status, e.reason, e.message);
  return e;
}

/** Applies a JSON, merge or strategic merge patch to a copy of `doc`. */
export function applyPatch(type: PatchType, doc: Json, patch: unknown, rt: ResourceType): unknown {
  try {
    switch (type) {
      case 'json':
        return applyJsonPatch(doc, patch);
      case 'merge':
        return applyMergePatch(doc, patch);
      case 'strategic':
        return applyStrategicMergePatch(doc, patch, schemaOf(rt));
      default:
        throw badRequest(`patch type ${type} is not applied here`);
    }
  } catch (e) {
    throw asApiError(e);
  }
}

/**
 * Merges an applied configuration into the live object for server-side apply:
 * maps merge, lists with a Kubernetes merge key merge by that key, other lists
 * are replaced (atomic). Custom resources have no merge keys (all lists atomic).
 */
export function mergeForApply(type: ResourceType, live: Json, applied: Json): Json {
  try {
    return applyStrategicMergePatch(live, applied, schemaOf(type)) as Json;
  } catch (e) {
    throw asApiError(e);
  }
}

/** Returns a function giving the merge key of the list at a field path (list indices omitted). */
export function mergeKeyResolver(type: ResourceType): (path: readonly string[]) => string | undefined {
  const root = schemaOf(type);
  return (path) => {
    let schema: PatchSchema | undefined = root;
    let key: string | undefined;
    for (const f of path) {
      const meta: PatchFieldMeta | undefined = schema?.fields?.[f];
      if (!meta) return undefined;
      key = meta.patchMergeKey;
      schema = meta.schema;
    }
    return key;
  };
}
