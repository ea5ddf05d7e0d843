/**
 * Strategic merge patch (`application/strategic-merge-patch+json`), the apply
 * half of k8s.io/apimachinery/pkg/util/strategicpatch (patch.go:
 * `StrategicMergeMapPatch` → `mergeMap` with `MergeParallelList` and
 * `IgnoreUnmatchedNulls`, the options kube-apiserver uses).
 *
 * The Go code reads patch metadata from struct tags (`patchStrategy`,
 * `patchMergeKey`); here a {@link PatchSchema} tree carries the same facts and
 * {@link builtinPatchSchema} provides it for the built-in kinds the sandbox
 * serves. Fields without metadata behave like Go fields without tags: maps
 * merge recursively, lists are replaced.
 *
 * Directives supported, with apimachinery's semantics:
 * - `$patch: replace` in a map: the map (minus the directive) replaces the
 *   original; `$patch: delete` in a map: the map becomes `{}`; any other value
 *   (including `merge`) is an error ("unknown patch type").
 * - list elements `{<mergeKey>: v, $patch: delete}` delete matching elements;
 *   an element `{$patch: replace}` replaces the whole list with the other
 *   elements; `$patch: merge` in a list is an error.
 * - `$setElementOrder/<field>` fixes the order of a merged list.
 * - `$retainKeys: [...]` clears original keys not listed (and every non-null
 *   patch key must be listed).
 * - `$deleteFromPrimitiveList/<field>: [...]` removes scalars from a list.
 * - `null` deletes a key; nulls inside newly added values are dropped.
 *
 * Element order of merged lists follows apimachinery's `normalizeElementOrder`:
 * items named in the patch come first in patch order, interleaved with
 * server-only items where the live order says so. That is why adding a
 * container puts it *before* the existing ones (see the kubectl patch task in
 * the Kubernetes docs, where `patch-demo-ctr-2` ends up first).
 *
 * Error statuses follow `interpretStrategicMergePatchError`
 * (k8s.io/apiserver/pkg/endpoints/handlers/patch.go): malformed directive
 * lists are 400, lists of lists 422, everything else 500.
 */

import { PatchError } from './errors.ts';
import { deepClone, describe, getKey, hasKey, isJsonObject, type JsonObject, setKey } from './json-value.ts';

/** `patchStrategy` struct-tag values used by Kubernetes types. */
export type PatchStrategy = 'merge' | 'replace' | 'retainKeys' | 'merge,retainKeys';

/** Patch metadata of one field (the Go struct tags), plus the schema below it. */
export interface PatchFieldMeta {
  /** `patchStrategy` tag; absent means the default (maps merge, lists replace). */
  readonly patchStrategy?: PatchStrategy;
  /** `patchMergeKey` tag: the key identifying elements of a merged list of maps. */
  readonly patchMergeKey?: string;
  /** Schema of the field's value; for lists, of each element. */
  readonly schema?: PatchSchema;
}

/** Patch metadata for the fields of one object type; unknown fields have none. */
export interface PatchSchema {
  /** Human-readable type name, used in error messages. */
  readonly name?: string;
  /** Metadata per JSON field name. */
  readonly fields?: Readonly<Record<string, PatchFieldMeta>>;
}

const DIRECTIVE_MARKER = '$patch';
const REPLACE = 'replace';
const DELETE = 'delete';
const MERGE = 'merge';
const RETAIN_KEYS_DIRECTIVE = '$retainKeys';
const DELETE_FROM_PRIMITIVE_LIST_PREFIX = '$deleteFromPrimitiveList';
const SET_ELEMENT_ORDER_PREFIX = '$setElementOrder';

// mergepatch/errors.go sentinel messages; the status mapping is patch.go's
// interpretStrategicMergePatchError.
const ERR_BAD_FORMAT_PRIMITIVE_LIST = 'invalid patch format of primitive list';
const ERR_BAD_FORMAT_RETAIN_KEYS = 'invalid patch format of retainKeys';
const ERR_BAD_FORMAT_SET_ELEMENT_ORDER = 'invalid patch format of setElementOrder list';
const ERR_NO_LIST_OF_LISTS = 'lists of lists are not supported';

/**
 * Media types kube-apiserver accepts for PATCH of a custom resource. Strategic
 * merge is not among them: the server answers 415 UnsupportedMediaType.
 */
export const CUSTOM_RESOURCE_PATCH_TYPES: readonly string[] = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/apply-patch+yaml',
];

/**
 * Whether kube-apiserver accepts `application/strategic-merge-patch+json` for
 * a resource. Custom resources have no Go struct tags, so the apiextensions
 * server rejects strategic merge with 415 UnsupportedMediaType ("the body of
 * the request was in an unknown format - accepted media types include: …",
 * see {@link CUSTOM_RESOURCE_PATCH_TYPES}); the sandbox server decides and
 * answers, this only states the rule.
 */
export function isStrategicMergeSupported(isCustomResource: boolean): boolean {
  return !isCustomResource;
}

/**
 * Apply a strategic merge patch to `target` and return the result; neither
 * input is mutated.
 *
 * @param target the live object (a JSON object)
 * @param patch the decoded patch body; `null` is a no-op, as in Go where
 *   unmarshalling `null` into a map leaves it empty
 * @param schema patch metadata for the object's kind, e.g. from {@link builtinPatchSchema}
 * @throws PatchError 400 when the body is not an object or a directive is malformed,
 *   422 for lists of lists, 500 for the other errors apimachinery reports
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown, schema: PatchSchema): unknown {
  if (patch === null) {
    return deepClone(target);
  }
  if (!isJsonObject(patch)) {
    throw new PatchError(
      400,
      `json: cannot unmarshal ${Array.isArray(patch) ? 'array' : typeof patch} into Go value of type map[string]interface {}`,
    );
  }
  const original = isJsonObject(target) ? deepClone(target) : {};
  return mergeMap(original, deepClone(patch), schema);
}

function lookupField(schema: PatchSchema | undefined, key: string): PatchFieldMeta {
  const fields = schema?.fields;
  if (fields !== undefined && Object.hasOwn(fields, key)) {
    return fields[key] ?? {};
  }
  return {};
}

/** `extractRetainKeysPatchStrategy`: the strategy once `retainKeys` is set aside. */
function effectiveStrategy(meta: PatchFieldMeta): string {
  const strategies = meta.patchStrategy === undefined ? [] : meta.patchStrategy.split(',');
  return strategies.filter((s) => s !== 'retainKeys')[0] ?? '';
}

function handleDirectiveInMergeMap(directive: unknown, patch: JsonObject): JsonObject {
  if (directive === REPLACE) {
    delete patch[DIRECTIVE_MARKER];
    return patch;
  }
  if (directive === DELETE) {
    return {};
  }
  throw new PatchError(500, `unknown patch type: ${describe(directive)} in map: ${describe(patch)}`);
}

/** `mergeMap`: merge `patch` into `original` in place (both are private copies). */
function mergeMap(original: JsonObject, patch: JsonObject, schema: PatchSchema | undefined): JsonObject {
  if (hasKey(patch, DIRECTIVE_MARKER)) {
    return handleDirectiveInMergeMap(patch[DIRECTIVE_MARKER], patch);
  }
  applyRetainKeysDirective(original, patch);
  mergePatchIntoOriginal(original, patch, schema);

  for (const [patchKey, patchV] of Object.entries(patch)) {
    let key = patchKey;
    let isDeleteList = false;
    if (patchKey.startsWith(DELETE_FROM_PRIMITIVE_LIST_PREFIX)) {
      key = extractKey(patchKey, DELETE_FROM_PRIMITIVE_LIST_PREFIX);
      isDeleteList = true;
    }

    // A null deletes the key; with IgnoreUnmatchedNulls it is never kept.
    if (patchV === null) {
      delete original[key];
      continue;
    }

    if (!hasKey(original, key) || sameKind(original[key], patchV) === false) {
      if (!isDeleteList) {
        // New (or differently typed) value: take the patch value, minus nulls
        // and minus any `$patch` sub-maps.
        discardNullValues(patchV);
        const [value, keep] = removeDirectives(patchV);
        if (keep) {
          setKey(original, key, value);
        } else {
          delete original[key];
        }
      }
      continue;
    }

    const originalV = original[key];
    const meta = lookupField(schema, key);
    const strategy = effectiveStrategy(meta);
    if (isJsonObject(originalV) && isJsonObject(patchV)) {
      setKey(original, key, strategy === REPLACE ? patchV : mergeMap(originalV, patchV, meta.schema));
    } else if (Array.isArray(originalV) && Array.isArray(patchV)) {
      setKey(
        original,
        key,
        mergeSliceHandler(
          originalV,
          patchV,
          meta,
          strategy,
          isDeleteList,
          `${schema?.name ?? 'object'}.${key}`,
        ),
      );
    } else {
      const [value, keep] = removeDirectives(patchV);
      if (keep) {
        setKey(original, key, value);
      } else {
        delete original[key];
      }
    }
  }
  return original;
}

/** Go `reflect.TypeOf(a) == reflect.TypeOf(b)` for decoded JSON. */
function sameKind(a: unknown, b: unknown): boolean {
  return goType(a) === goType(b);
}

/** The Go dynamic type a decoded JSON value would have (int64 vs float64 kept apart). */
function goType(value: unknown): string {
  if (value === null) return 'nil';
  if (Array.isArray(value)) return 'slice';
  if (isJsonObject(value)) return 'map';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int64' : 'float64';
  return typeof value;
}

/** `discardNullValuesFromPatch`: drop null map members recursively (arrays keep null elements). */
function discardNullValues(value: unknown): void {
  if (Array.isArray(value)) {
    for (const v of value) discardNullValues(v);
  } else if (isJsonObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (v === null) {
        delete value[k];
      } else {
        discardNullValues(v);
      }
    }
  }
}

/**
 * `removeDirectives`: strip `$patch` maps from a value that is taken as is.
 * Returns the value to use and whether the field/element should be kept at all.
 * Other directive keys (`$retainKeys`, `$setElementOrder/…`) are left alone as
 * in Go; kube-apiserver then drops them as unknown fields when decoding.
 */
function removeDirectives(value: unknown): [unknown, boolean] {
  if (isJsonObject(value)) {
    if (hasKey(value, DIRECTIVE_MARKER)) {
      return [null, false];
    }
    for (const [k, v] of Object.entries(value)) {
      const [nv, keep] = removeDirectives(v);
      if (keep) {
        setKey(value, k, nv);
      } else {
        delete value[k];
      }
    }
    return [value, true];
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) {
      const [nv, keep] = removeDirectives(v);
      if (keep) out.push(nv);
    }
    return [out, true];
  }
  return [value, true];
}

/** `extractKey`: `<prefix>/<field>` → `<field>`. */
function extractKey(key: string, prefix: string): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) {
    if (prefix === DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
      throw new PatchError(400, ERR_BAD_FORMAT_PRIMITIVE_LIST);
    }
    throw new PatchError(400, ERR_BAD_FORMAT_SET_ELEMENT_ORDER);
  }
  return key.slice(slash + 1);
}

/** `applyRetainKeysDirective` with MergeParallelList. */
function applyRetainKeysDirective(original: JsonObject, patch: JsonObject): void {
  if (!hasKey(patch, RETAIN_KEYS_DIRECTIVE)) {
    return;
  }
  const retainKeys = patch[RETAIN_KEYS_DIRECTIVE];
  delete patch[RETAIN_KEYS_DIRECTIVE];
  if (!Array.isArray(retainKeys)) {
    throw new PatchError(400, ERR_BAD_FORMAT_RETAIN_KEYS);
  }
  const retained = new Set<unknown>(retainKeys);
  for (const [k, v] of Object.entries(patch)) {
    if (
      v === null ||
      k.startsWith(DELETE_FROM_PRIMITIVE_LIST_PREFIX) ||
      k.startsWith(SET_ELEMENT_ORDER_PREFIX)
    ) {
      continue;
    }
    // Every field the patch sets must be listed in $retainKeys.
    if (!retained.has(k)) {
      throw new PatchError(400, ERR_BAD_FORMAT_RETAIN_KEYS);
    }
  }
  for (const k of Object.keys(original)) {
    if (!retained.has(k)) {
      delete original[k];
    }
  }
}

function badArgType(expected: string, actual: unknown): PatchError {
  return new PatchError(500, `expected a ${expected}, but received a ${goTypeName(actual)}`);
}

function goTypeName(value: unknown): string {
  switch (goType(value)) {
    case 'nil':
      return '<nil>';
    case 'slice':
      return '[]interface {}';
    case 'map':
      return 'map[string]interface {}';
    case 'boolean':
      return 'bool';
    default:
      return goType(value);
  }
}

function noMergeKey(m: JsonObject, key: string): PatchError {
  return new PatchError(500, `map: ${describe(m)} does not contain declared merge key: ${key}`);
}

/** `mergePatchIntoOriginal`: process `$setElementOrder/<field>` directives (with MergeParallelList). */
function mergePatchIntoOriginal(
  original: JsonObject,
  patch: JsonObject,
  schema: PatchSchema | undefined,
): void {
  for (const [key, setOrder] of Object.entries(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER_PREFIX)) {
      continue;
    }
    delete patch[key];
    if (!Array.isArray(setOrder)) {
      throw badArgType('[]interface {}', setOrder);
    }
    const originalKey = extractKey(key, SET_ELEMENT_ORDER_PREFIX);
    const foundOriginal = hasKey(original, originalKey);
    const foundPatch = hasKey(patch, originalKey);
    const originalList = getKey(original, originalKey);
    const patchList = getKey(patch, originalKey);
    if (foundOriginal && !Array.isArray(originalList)) {
      throw badArgType('[]interface {}', originalList);
    }
    if (foundPatch && !Array.isArray(patchList)) {
      throw badArgType('[]interface {}', patchList);
    }
    const originalValue: unknown[] = Array.isArray(originalList) ? originalList : [];
    const patchValue: unknown[] = Array.isArray(patchList) ? patchList : [];
    const meta = lookupField(schema, originalKey);
    const strategy = effectiveStrategy(meta);
    const mergeKey = meta.patchMergeKey ?? '';
    validatePatchWithSetOrderList(patchValue, setOrder, mergeKey);

    let merged: unknown[];
    if (foundOriginal && !foundPatch) {
      merged = originalValue;
    } else if (!foundOriginal && foundPatch) {
      merged = removeDirectives(patchValue)[0] as unknown[];
    } else if (foundOriginal && foundPatch) {
      merged = mergeSliceHandler(
        originalValue,
        patchValue,
        meta,
        strategy,
        false,
        `${schema?.name ?? 'object'}.${originalKey}`,
      );
    } else {
      continue;
    }

    const [patchItems, serverOnly] =
      mergeKey === ''
        ? partitionPrimitives(merged, setOrder)
        : partitionMapsByPresentInList(merged, setOrder, mergeKey);
    const kind = sliceElementType(originalValue, patchValue);
    setKey(
      original,
      originalKey,
      normalizeElementOrder(patchItems, serverOnly, setOrder, originalValue, mergeKey, kind),
    );
    delete patch[originalKey];
  }
}

/**
 * `validatePatchWithSetOrderList`: the non-deleting patch items must appear in
 * `$setElementOrder` and in the same relative order.
 */
function validatePatchWithSetOrderList(patchList: unknown[], setOrder: unknown[], mergeKey: string): void {
  if (setOrder.length === 0 || patchList.length === 0) {
    return;
  }
  const nonDelete = mergeKey === '' ? patchList : extractToDeleteItems(patchList)[0];
  let patchIndex = 0;
  let setOrderIndex = 0;
  while (patchIndex < nonDelete.length && setOrderIndex < setOrder.length) {
    const item = nonDelete[patchIndex];
    if (isJsonObject(item) && hasKey(item, DIRECTIVE_MARKER)) {
      patchIndex++;
      continue;
    }
    if (mergeKeyValueEqual(item, setOrder[setOrderIndex], mergeKey)) {
      patchIndex++;
    }
    setOrderIndex++;
  }
  if (patchIndex < nonDelete.length && setOrderIndex >= setOrder.length) {
    throw new PatchError(
      500,
      `the order in patch list:\n${describe(patchList)}\n doesn't match ${SET_ELEMENT_ORDER_PREFIX} list:\n${describe(setOrder)}`,
    );
  }
}

function mergeKeyValueEqual(left: unknown, right: unknown, mergeKey: string): boolean {
  if (mergeKey === '') {
    return left === right;
  }
  if (!isJsonObject(left)) throw badArgType('map[string]interface {}', left);
  if (!isJsonObject(right)) throw badArgType('map[string]interface {}', right);
  if (!hasKey(left, mergeKey)) throw noMergeKey(left, mergeKey);
  if (!hasKey(right, mergeKey)) throw noMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

/** `extractToDeleteItems`: split a list of maps into kept items and `$patch: delete` items. */
function extractToDeleteItems(list: unknown[]): [unknown[], unknown[]] {
  const nonDelete: unknown[] = [];
  const toDelete: unknown[] = [];
  for (const v of list) {
    if (!isJsonObject(v)) {
      throw badArgType('map[string]interface {}', v);
    }
    if (hasKey(v, DIRECTIVE_MARKER) && v[DIRECTIVE_MARKER] === DELETE) {
      toDelete.push(v);
    } else {
      nonDelete.push(v);
    }
  }
  return [nonDelete, toDelete];
}

/** `mergeSliceHandler`: merge-strategy lists (and deletion lists) merge, others are replaced. */
function mergeSliceHandler(
  original: unknown[],
  patch: unknown[],
  meta: PatchFieldMeta,
  strategy: string,
  isDeleteList: boolean,
  fieldName: string,
): unknown[] {
  if (strategy === MERGE || isDeleteList) {
    return mergeSlice(original, patch, meta.schema, meta.patchMergeKey ?? '', isDeleteList, fieldName);
  }
  return patch;
}

type ElementKind = 'map' | 'scalar';

/**
 * `sliceElementType`: all elements of all lists must share one Go type and not
 * be lists. Returns whether they are maps or scalars.
 */
function sliceElementType(...lists: unknown[][]): ElementKind {
  let prev: string | undefined;
  for (const list of lists) {
    for (const v of list) {
      const t = goType(v);
      if (prev === undefined) {
        if (t === 'slice') {
          throw new PatchError(422, ERR_NO_LIST_OF_LISTS);
        }
        prev = t;
      } else if (prev !== t) {
        throw new PatchError(500, `list element types are not identical: ${describe(lists)}`);
      }
    }
  }
  if (prev === undefined || prev === 'nil') {
    throw new PatchError(500, 'no elements in any of the given slices');
  }
  return prev === 'map' ? 'map' : 'scalar';
}

/** `mergeSlice`: merge two lists by merge key (maps) or as a set (scalars). */
function mergeSlice(
  originalIn: unknown[],
  patchIn: unknown[],
  elementSchema: PatchSchema | undefined,
  mergeKey: string,
  isDeleteList: boolean,
  fieldName: string,
): unknown[] {
  if (originalIn.length === 0 && patchIn.length === 0) {
    return originalIn;
  }
  const kind = sliceElementType(originalIn, patchIn);
  let original = originalIn;
  let patch = patchIn;
  let merged: unknown[];
  if (kind !== 'map') {
    if (isDeleteList) {
      const toDelete = new Set(patch);
      return original.filter((v) => !toDelete.has(v));
    }
    merged = deduplicateScalars([...original, ...patch]);
  } else {
    if (mergeKey === '') {
      throw new PatchError(500, `cannot merge lists without merge key for ${fieldName}`);
    }
    [original, patch] = mergeSliceWithSpecialElements(original, patch, mergeKey);
    merged = mergeSliceWithoutSpecialElements(original, patch, mergeKey, elementSchema);
  }
  const [patchItems, serverOnly] =
    mergeKey === ''
      ? partitionPrimitives(merged, patch)
      : partitionMapsByPresentInList(merged, patch, mergeKey);
  return normalizeElementOrder(patchItems, serverOnly, patch, original, mergeKey, kind);
}

/**
 * `mergeSliceWithSpecialElements`: apply `$patch: delete` elements to the
 * original and honour `$patch: replace`. Returns the new original and the patch
 * without directive elements.
 */
function mergeSliceWithSpecialElements(
  original: unknown[],
  patch: unknown[],
  mergeKey: string,
): [unknown[], unknown[]] {
  const plain: unknown[] = [];
  let replace = false;
  let current = original;
  for (const v of patch) {
    const item = v as JsonObject;
    if (!hasKey(item, DIRECTIVE_MARKER)) {
      plain.push(v);
      continue;
    }
    const directive = item[DIRECTIVE_MARKER];
    if (directive === DELETE) {
      if (!hasKey(item, mergeKey)) {
        throw noMergeKey(item, mergeKey);
      }
      const value = item[mergeKey];
      current = current.filter((o) => {
        if (!isJsonObject(o)) {
          throw new PatchError(500, 'value for key is not a map');
        }
        return !(hasKey(o, mergeKey) && o[mergeKey] === value);
      });
    } else if (directive === REPLACE) {
      // Keep scanning so that every other directive element is pruned too.
      replace = true;
    } else if (directive === MERGE) {
      throw new PatchError(500, 'merging lists cannot yet be specified in the patch');
    } else {
      throw new PatchError(500, `unknown patch type: ${describe(directive)} in map: ${describe(item)}`);
    }
  }
  if (replace) {
    return [plain, []];
  }
  return [current, plain];
}

/** Index of the first map in `list` whose `mergeKey` equals `value`, or -1. */
function findByMergeKey(list: unknown[], mergeKey: string, value: unknown): number {
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (!isJsonObject(item)) {
      throw new PatchError(500, `value for key ${i} is not a map`);
    }
    if (hasKey(item, mergeKey) && item[mergeKey] === value) {
      return i;
    }
  }
  return -1;
}

/** `mergeSliceWithoutSpecialElements`: merge matching elements, append new ones. */
function mergeSliceWithoutSpecialElements(
  original: unknown[],
  patch: unknown[],
  mergeKey: string,
  elementSchema: PatchSchema | undefined,
): unknown[] {
  const merged = [...original];
  for (const v of patch) {
    const item = v as JsonObject;
    if (!hasKey(item, mergeKey)) {
      throw noMergeKey(item, mergeKey);
    }
    const idx = findByMergeKey(merged, mergeKey, item[mergeKey]);
    if (idx >= 0) {
      merged[idx] = mergeMap(merged[idx] as JsonObject, item, elementSchema);
    } else {
      // Appended verbatim, as in Go (no null or directive stripping here).
      merged.push(v);
    }
  }
  return merged;
}

/** `deduplicateScalars`, including its order-changing swap-with-last trick. */
function deduplicateScalars(list: unknown[]): unknown[] {
  const s = [...list];
  let length = s.length - 1;
  for (let i = 0; i < length; i++) {
    for (let j = i + 1; j <= length; j++) {
      if (s[i] === s[j]) {
        s[j] = s[length];
        s.length = length;
        length--;
        j--;
      }
    }
  }
  return s;
}

function partitionPrimitives(list: unknown[], partitionBy: unknown[]): [unknown[], unknown[]] {
  const inPatch = new Set(partitionBy);
  const patch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const v of list) {
    (inPatch.has(v) ? patch : serverOnly).push(v);
  }
  return [patch, serverOnly];
}

function partitionMapsByPresentInList(
  list: unknown[],
  partitionBy: unknown[],
  mergeKey: string,
): [unknown[], unknown[]] {
  const patch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const v of list) {
    if (!isJsonObject(v)) {
      throw badArgType('map[string]interface {}', v);
    }
    if (!hasKey(v, mergeKey)) {
      throw noMergeKey(v, mergeKey);
    }
    (findByMergeKey(partitionBy, mergeKey, v[mergeKey]) >= 0 ? patch : serverOnly).push(v);
  }
  return [patch, serverOnly];
}

/** Position of `item` in `list`, by merge key for maps and by value for scalars. */
function indexIn(list: unknown[], item: unknown, mergeKey: string, kind: ElementKind): number {
  const key = (v: unknown): unknown =>
    kind === 'map' ? (isJsonObject(v) ? getKey(v, mergeKey) : undefined) : v;
  const wanted = key(item);
  return list.findIndex((v) => key(v) === wanted);
}

/**
 * `normalizeElementOrder`: sort patch items by `patchOrder`, server-only items
 * by `serverOrder`, then interleave them (`mergeSortedSlice`).
 */
function normalizeElementOrder(
  patch: unknown[],
  serverOnly: unknown[],
  patchOrder: unknown[],
  serverOrder: unknown[],
  mergeKey: string,
  kind: ElementKind,
): unknown[] {
  const sortedPatch = normalizeSliceOrder(patch, patchOrder, mergeKey, kind);
  const sortedServer = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(sortedServer, sortedPatch, serverOrder, mergeKey, kind);
}

function normalizeSliceOrder(
  toSort: unknown[],
  order: unknown[],
  mergeKey: string,
  kind: ElementKind,
): unknown[] {
  let items = toSort;
  let toDelete: unknown[] = [];
  if (kind === 'map') {
    for (const item of [...toSort, ...order]) {
      if (!isJsonObject(item)) throw badArgType('map[string]interface {}', item);
      if (!hasKey(item, mergeKey)) throw noMergeKey(item, mergeKey);
    }
    [items, toDelete] = extractToDeleteItems(toSort);
  }
  // Stable sort by position in `order`; items absent from `order` keep their place.
  const positions = new Map<unknown, number>(
    items.map((item) => [item, indexIn(order, item, mergeKey, kind)]),
  );
  const sorted = [...items].sort((a, b) => {
    const pa = positions.get(a) ?? -1;
    const pb = positions.get(b) ?? -1;
    return pa >= 0 && pb >= 0 ? pa - pb : 0;
  });
  return [...sorted, ...toDelete];
}

/**
 * `mergeSortedSlice`: insert server-only items (`left`) among patch items
 * (`right`). A server-only item goes first only when both are in the live list
 * and it precedes the patch item there; new patch items therefore come first.
 */
function mergeSortedSlice(
  left: unknown[],
  right: unknown[],
  serverOrder: unknown[],
  mergeKey: string,
  kind: ElementKind,
): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    const li = indexIn(serverOrder, left[i], mergeKey, kind);
    const ri = indexIn(serverOrder, right[j], mergeKey, kind);
    if (li >= 0 && ri >= 0 && li < ri) {
      out.push(left[i]);
      i++;
    } else {
      out.push(right[j]);
      j++;
    }
  }
  return [...out, ...left.slice(i), ...right.slice(j)];
}

// ---------------------------------------------------------------------------
// Built-in schemas: the patchStrategy / patchMergeKey struct tags of
// k8s.io/api (core/v1 types.go, apps/v1, batch/v1, autoscaling/v2, policy/v1)
// and apimachinery's ObjectMeta.

function mergeBy(patchMergeKey: string, schema?: PatchSchema): PatchFieldMeta {
  return schema === undefined
    ? { patchStrategy: 'merge', patchMergeKey }
    : { patchStrategy: 'merge', patchMergeKey, schema };
}

function nested(schema: PatchSchema): PatchFieldMeta {
  return { schema };
}

/** metav1.ObjectMeta: finalizers `patchStrategy:"merge"`, ownerReferences merge by `uid`. */
const OBJECT_META: PatchSchema = {
  name: 'ObjectMeta',
  fields: {
    finalizers: { patchStrategy: 'merge' },
    ownerReferences: mergeBy('uid'),
  },
};

/** core/v1 Container (and EphemeralContainerCommon, which has the same tags). */
const CONTAINER: PatchSchema = {
  name: 'Container',
  fields: {
    ports: mergeBy('containerPort'),
    env: mergeBy('name'),
    volumeMounts: mergeBy('mountPath'),
    volumeDevices: mergeBy('devicePath'),
    // envFrom, resizePolicy, resources.claims: no patch tags → replaced.
  },
};

/**
 * core/v1 PodSpec. Fields not listed (tolerations, readinessGates, ...) have
 * no patchStrategy tag and are replaced, as the kubectl patch docs show for
 * tolerations.
 */
const POD_SPEC: PatchSchema = {
  name: 'PodSpec',
  fields: {
    volumes: { patchStrategy: 'merge,retainKeys', patchMergeKey: 'name' },
    initContainers: mergeBy('name', CONTAINER),
    containers: mergeBy('name', CONTAINER),
    ephemeralContainers: mergeBy('name', CONTAINER),
    imagePullSecrets: mergeBy('name'),
    hostAliases: mergeBy('ip'),
    topologySpreadConstraints: mergeBy('topologyKey'),
    schedulingGates: mergeBy('name'),
    resourceClaims: { patchStrategy: 'merge,retainKeys', patchMergeKey: 'name' },
  },
};

/** Status types whose `conditions` merge by `type`. */
const CONDITIONS_STATUS: PatchSchema = { name: 'Status', fields: { conditions: mergeBy('type') } };

const POD_STATUS: PatchSchema = {
  name: 'PodStatus',
  fields: { conditions: mergeBy('type'), podIPs: mergeBy('ip'), hostIPs: mergeBy('ip') },
};

const POD_TEMPLATE_SPEC: PatchSchema = {
  name: 'PodTemplateSpec',
  fields: { metadata: nested(OBJECT_META), spec: nested(POD_SPEC) },
};

/** A top-level kind: metadata plus the given spec/status (or other) fields. */
function kindSchema(name: string, fields: Record<string, PatchFieldMeta> = {}): PatchSchema {
  return { name, fields: { metadata: nested(OBJECT_META), ...fields } };
}

function withTemplate(name: string, specFields: Record<string, PatchFieldMeta> = {}): PatchSchema {
  return kindSchema(name, {
    spec: nested({ name: `${name}Spec`, fields: { template: nested(POD_TEMPLATE_SPEC), ...specFields } }),
    status: nested(CONDITIONS_STATUS),
  });
}

const JOB_SPEC: PatchSchema = { name: 'JobSpec', fields: { template: nested(POD_TEMPLATE_SPEC) } };

const BUILTIN: Readonly<Record<string, PatchSchema>> = {
  '/Pod': kindSchema('Pod', { spec: nested(POD_SPEC), status: nested(POD_STATUS) }),
  '/PodTemplate': kindSchema('PodTemplate', { template: nested(POD_TEMPLATE_SPEC) }),
  '/ReplicationController': withTemplate('ReplicationController'),
  '/Service': kindSchema('Service', {
    // ServiceSpec.Ports: patchStrategy:"merge" patchMergeKey:"port".
    spec: nested({ name: 'ServiceSpec', fields: { ports: mergeBy('port') } }),
    status: nested(CONDITIONS_STATUS),
  }),
  '/Node': kindSchema('Node', {
    spec: nested({ name: 'NodeSpec', fields: { podCIDRs: { patchStrategy: 'merge' } } }),
    status: nested({
      name: 'NodeStatus',
      fields: { conditions: mergeBy('type'), addresses: mergeBy('type') },
    }),
  }),
  '/Namespace': kindSchema('Namespace', { status: nested(CONDITIONS_STATUS) }),
  '/PersistentVolumeClaim': kindSchema('PersistentVolumeClaim', { status: nested(CONDITIONS_STATUS) }),
  '/ServiceAccount': kindSchema('ServiceAccount', { secrets: mergeBy('name') }),
  'apps/Deployment': withTemplate('Deployment', { strategy: { patchStrategy: 'retainKeys' } }),
  'apps/StatefulSet': withTemplate('StatefulSet'),
  'apps/DaemonSet': withTemplate('DaemonSet'),
  'apps/ReplicaSet': withTemplate('ReplicaSet'),
  'batch/Job': kindSchema('Job', { spec: nested(JOB_SPEC), status: nested(CONDITIONS_STATUS) }),
  'batch/CronJob': kindSchema('CronJob', {
    spec: nested({
      name: 'CronJobSpec',
      fields: {
        jobTemplate: nested({
          name: 'JobTemplateSpec',
          fields: { metadata: nested(OBJECT_META), spec: nested(JOB_SPEC) },
        }),
      },
    }),
  }),
  'autoscaling/HorizontalPodAutoscaler': kindSchema('HorizontalPodAutoscaler', {
    status: nested(CONDITIONS_STATUS),
  }),
  'policy/PodDisruptionBudget': kindSchema('PodDisruptionBudget', { status: nested(CONDITIONS_STATUS) }),
};

/**
 * Patch metadata for a built-in kind (`group` is `""` for the core group).
 * Kinds without special lists (ConfigMap, Secret, ...) get the ObjectMeta
 * schema only, so their lists are replaced and maps merged, exactly as Go
 * structs without patch tags behave.
 */
export function builtinPatchSchema(group: string, kind: string): PatchSchema {
  const key = `${group}/${kind}`;
  return Object.hasOwn(BUILTIN, key) ? (BUILTIN[key] as PatchSchema) : kindSchema(kind);
}
