/**
 * JSON Merge Patch (RFC 7386, `application/merge-patch+json`) as
 * kube-apiserver applies it: `jsonpatch.MergePatch` from evanphx json-patch v4
 * (k8s.io/apiserver/pkg/endpoints/handlers/patch.go, `applyJSPatch`).
 *
 * RFC 7386 in short: objects merge member by member, a `null` member deletes,
 * anything that is not an object (arrays included) replaces the target.
 *
 * json-patch v4 adds one observable detail that is kept here: a patch value
 * that is *inserted* (the target has no such member, or the member is not an
 * object) has its `null` object members pruned recursively, including inside
 * arrays (`pruneNulls`). The RFC keeps nulls inside arrays; Kubernetes does
 * not, e.g. `{"a":[{"x":null,"y":1}]}` yields `a: [{"y":1}]`.
 */

import { PatchError } from './errors.ts';
import { deepClone, getKey, hasKey, isJsonObject, type JsonObject, setKey } from './json-value.ts';

/**
 * Apply a JSON merge patch to `target` and return the result. Neither input is
 * mutated. Pure RFC 7386 at the top level: a non-object patch replaces the
 * target (use {@link assertMergePatchDocument} first to get kube-apiserver's
 * 400 for such bodies).
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) {
    return pruneNulls(deepClone(patch));
  }
  const base: JsonObject = isJsonObject(target) ? deepClone(target) : {};
  mergeInto(base, patch);
  return base;
}

/**
 * kube-apiserver only accepts an object as merge-patch body: `null` and
 * scalars fail in `jsonpatch.MergePatch` with `ErrBadJSONPatch` ("Invalid
 * JSON Patch", mapped to 400). A top-level array is accepted by the library
 * but then fails decoding into the resource, so it is rejected here too.
 *
 * @throws PatchError 400 BadRequest when `patch` is not a JSON object
 */
export function assertMergePatchDocument(patch: unknown): asserts patch is JsonObject {
  if (!isJsonObject(patch)) {
    throw new PatchError(400, 'Invalid JSON Patch');
  }
}

/** Merge `patch` into `doc` in place (`doc` is already a private copy). */
function mergeInto(doc: JsonObject, patch: JsonObject): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete doc[key];
      continue;
    }
    const current = getKey(doc, key);
    if (!hasKey(doc, key) || current === null) {
      setKey(doc, key, pruneNulls(deepClone(value)));
      continue;
    }
    if (!isJsonObject(current)) {
      // v4 `merge`: current is not an object → the pruned patch value replaces it.
      setKey(doc, key, pruneNulls(deepClone(value)));
      continue;
    }
    if (!isJsonObject(value)) {
      // v4 `merge`: current is an object, patch is not → patch replaces it unpruned.
      setKey(doc, key, deepClone(value));
      continue;
    }
    mergeInto(current, value);
  }
}

/** Drop `null` object members recursively (arrays keep their null elements). */
function pruneNulls(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (const v of value) {
      pruneNulls(v);
    }
  } else if (isJsonObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (v === null) {
        delete value[k];
      } else {
        pruneNulls(v);
      }
    }
  }
  return value;
}
