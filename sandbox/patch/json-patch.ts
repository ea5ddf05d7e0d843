/**
 * JSON Patch (RFC 6902, `application/json-patch+json`) as kube-apiserver
 * applies it.
 *
 * kube-apiserver decodes the body with `jsonpatch.DecodePatch` (evanphx
 * json-patch v4) and applies it with `Patch.Apply`
 * (k8s.io/apiserver/pkg/endpoints/handlers/patch.go, `applyJSPatch`):
 * - a body that is not an array of objects fails decoding → 400 BadRequest;
 * - more than 10000 operations → 413 RequestEntityTooLarge;
 * - every failure while applying (unknown op, missing path, failed `test`,
 *   index out of range) → 422 Invalid.
 *
 * Where json-patch v4 deviates from the RFC in ways clients can observe, the
 * v4 behaviour is kept:
 * - `replace` of a missing object member succeeds and adds it (v4's object
 *   `get` never fails for a missing key);
 * - array indices are parsed like Go's `strconv.Atoi` and negative indices
 *   count from the end (`SupportNegativeIndices` defaults to true);
 * - a missing `value` for add/replace is taken as `null`;
 * - `test` against a missing member passes when the expected value is `null`;
 * - operations on the whole document (path `""`) are rejected: v4's
 *   `findObject` cannot address the root.
 * Where v4 has plain bugs (copy from a missing key inserts `null`), the RFC
 * behaviour (an error) is used instead.
 */

import { PatchError, unprocessable } from './errors.ts';
import { deepClone, deepEqual, getKey, hasKey, isJsonObject, type JsonObject, setKey } from './json-value.ts';

/** kube-apiserver's `maxJSONPatchOperations`. */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

/** One decoded RFC 6902 operation, as far as it is well formed. */
export interface JsonPatchOperation {
  readonly op: string;
  readonly path?: unknown;
  readonly from?: unknown;
  readonly value?: unknown;
  readonly hasValue: boolean;
}

/**
 * Apply an RFC 6902 JSON patch to `doc` and return the patched copy.
 * `doc` and `ops` are never mutated.
 *
 * @param doc the current object, as decoded JSON (an object or array)
 * @param ops the decoded patch body (must be an array of operation objects)
 * @throws PatchError 400 when `ops` is not an array of objects, 413 when it has
 *   more than {@link MAX_JSON_PATCH_OPERATIONS} operations, 422 when an
 *   operation cannot be applied or a `test` fails
 */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  const operations = decodeJsonPatch(ops);
  if (!isJsonObject(doc) && !Array.isArray(doc)) {
    // v4 unmarshals the document into a map or a slice; anything else fails.
    throw unprocessable('the document to patch must be a JSON object or array');
  }
  const root: JsonObject | unknown[] = deepClone(doc);
  for (const op of operations) {
    applyOperation(root, op);
  }
  return root;
}

/**
 * Decode a JSON patch body the way `jsonpatch.DecodePatch` does: it must be an
 * array whose elements are objects (or `null`, which decodes to an operation
 * without fields and fails later with "Unexpected kind").
 *
 * @throws PatchError 400 / 413 as described on {@link applyJsonPatch}
 */
export function decodeJsonPatch(ops: unknown): JsonPatchOperation[] {
  if (!Array.isArray(ops)) {
    throw new PatchError(400, `json: cannot unmarshal ${goKind(ops)} into Go value of type jsonpatch.Patch`);
  }
  const out: JsonPatchOperation[] = [];
  for (const raw of ops) {
    if (raw === null) {
      out.push({ op: 'unknown', hasValue: false });
      continue;
    }
    if (!isJsonObject(raw)) {
      throw new PatchError(
        400,
        `json: cannot unmarshal ${goKind(raw)} into Go value of type jsonpatch.Operation`,
      );
    }
    const op = getKey(raw, 'op');
    out.push({
      // Operation.Kind() yields "unknown" when op is missing or not a string.
      op: typeof op === 'string' ? op : 'unknown',
      path: getKey(raw, 'path'),
      from: getKey(raw, 'from'),
      value: getKey(raw, 'value'),
      hasValue: hasKey(raw, 'value'),
    });
  }
  if (out.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new PatchError(
      413,
      `The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${out.length}`,
    );
  }
  return out;
}

function goKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'bool';
    default:
      return 'object';
  }
}

type Container = JsonObject | unknown[];

function applyOperation(root: Container, op: JsonPatchOperation): void {
  switch (op.op) {
    case 'add':
      opAdd(root, op);
      return;
    case 'remove':
      opRemove(root, op);
      return;
    case 'replace':
      opReplace(root, op);
      return;
    case 'move':
      opMove(root, op);
      return;
    case 'copy':
      opCopy(root, op);
      return;
    case 'test':
      opTest(root, op);
      return;
    default:
      throw unprocessable(`Unexpected kind: ${op.op}`);
  }
}

function pointerField(op: JsonPatchOperation, field: 'path' | 'from'): string {
  const value = field === 'path' ? op.path : op.from;
  if (value === undefined || value === null) {
    throw unprocessable(`${op.op} operation failed to decode ${field}: missing value`);
  }
  if (typeof value !== 'string') {
    throw unprocessable(`${op.op} operation failed to decode ${field}: ${field} must be a string`);
  }
  return value;
}

/**
 * Split an RFC 6901 pointer into decoded reference tokens. The root pointer
 * `""` yields no tokens; a pointer must otherwise start with `/`.
 */
export function parsePointer(pointer: string): string[] | undefined {
  if (pointer === '') {
    return [];
  }
  if (!pointer.startsWith('/')) {
    return undefined;
  }
  // `~1` must be decoded before `~0` so that `~01` becomes `~1`, not `/`.
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/**
 * Resolve the container holding the last token of `pointer` (v4 `findObject`).
 * Returns undefined when an intermediate member is missing or not a container,
 * or when the pointer addresses the root.
 */
function findParent(root: Container, pointer: string): { parent: Container; key: string } | undefined {
  const tokens = parsePointer(pointer);
  if (tokens === undefined || tokens.length === 0) {
    return undefined;
  }
  let current: Container = root;
  for (let i = 0; i < tokens.length - 1; i++) {
    const token = tokens[i] as string;
    let next: unknown;
    if (Array.isArray(current)) {
      const idx = parseIndex(token);
      if (idx === undefined) return undefined;
      const resolved = resolveIndex(idx, current.length);
      if (resolved === undefined) return undefined;
      next = current[resolved];
    } else {
      next = getKey(current, token);
    }
    if (!isJsonObject(next) && !Array.isArray(next)) {
      return undefined;
    }
    current = next;
  }
  return { parent: current, key: tokens[tokens.length - 1] as string };
}

/** Go `strconv.Atoi`: optional sign, decimal digits, must fit in int64. */
function parseIndex(token: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(token)) {
    return undefined;
  }
  const n = Number(token);
  // Anything beyond the safe range is out of bounds for any real array anyway.
  return Number.isSafeInteger(n) ? n : Math.sign(n) * Number.MAX_SAFE_INTEGER;
}

/** Resolve a possibly negative index against an array of `length` (get/remove/replace). */
function resolveIndex(idx: number, length: number): number | undefined {
  const resolved = idx < 0 ? idx + length : idx;
  return resolved >= 0 && resolved < length ? resolved : undefined;
}

function missingPath(op: string, pointer: string): PatchError {
  return unprocessable(`${op} operation does not apply: doc is missing path: "${pointer}": missing value`);
}

function invalidIndex(token: string): PatchError {
  return unprocessable(`Unable to access invalid index: ${token}: invalid index referenced`);
}

/** Insert/set `value` at `key` of `parent` with add semantics. */
function addAt(parent: Container, key: string, value: unknown, pointer: string): void {
  if (!Array.isArray(parent)) {
    setKey(parent, key, value);
    return;
  }
  if (key === '-') {
    parent.push(value);
    return;
  }
  const idx = parseIndex(key);
  if (idx === undefined) {
    throw unprocessable(`error in add for path: '${pointer}': value was not a proper array index: '${key}'`);
  }
  // For add the valid range is [-(len+1), len]: the array is one longer afterwards.
  const size = parent.length + 1;
  const resolved = idx < 0 ? idx + size : idx;
  if (resolved < 0 || resolved >= size) {
    throw invalidIndex(key);
  }
  parent.splice(resolved, 0, value);
}

/** Read the member at `key`; `found` is false when it does not exist. */
function getAt(parent: Container, key: string): { found: boolean; value: unknown; index?: number } {
  if (Array.isArray(parent)) {
    const idx = parseIndex(key);
    const resolved = idx === undefined ? undefined : resolveIndex(idx, parent.length);
    if (resolved === undefined) {
      return { found: false, value: undefined };
    }
    return { found: true, value: parent[resolved], index: resolved };
  }
  return { found: hasKey(parent, key), value: getKey(parent, key) };
}

function removeAt(parent: Container, key: string, op: string, pointer: string): unknown {
  if (Array.isArray(parent)) {
    const got = getAt(parent, key);
    if (!got.found || got.index === undefined) {
      throw invalidIndex(key);
    }
    parent.splice(got.index, 1);
    return got.value;
  }
  if (!hasKey(parent, key)) {
    throw unprocessable(
      `error in ${op} for path: '${pointer}': Unable to remove nonexistent key: ${key}: missing value`,
    );
  }
  const value = parent[key];
  delete parent[key];
  return value;
}

function opAdd(root: Container, op: JsonPatchOperation): void {
  const pointer = pointerField(op, 'path');
  const target = findParent(root, pointer);
  if (target === undefined) {
    throw missingPath('add', pointer);
  }
  addAt(target.parent, target.key, op.hasValue ? deepClone(op.value) : null, pointer);
}

function opRemove(root: Container, op: JsonPatchOperation): void {
  const pointer = pointerField(op, 'path');
  const target = findParent(root, pointer);
  if (target === undefined) {
    throw missingPath('remove', pointer);
  }
  removeAt(target.parent, target.key, 'remove', pointer);
}

function opReplace(root: Container, op: JsonPatchOperation): void {
  const pointer = pointerField(op, 'path');
  const target = findParent(root, pointer);
  if (target === undefined) {
    throw missingPath('replace', pointer);
  }
  const value = op.hasValue ? deepClone(op.value) : null;
  if (Array.isArray(target.parent)) {
    const got = getAt(target.parent, target.key);
    if (!got.found || got.index === undefined) {
      throw unprocessable(`replace operation does not apply: doc is missing key: ${pointer}: missing value`);
    }
    target.parent[got.index] = value;
    return;
  }
  // json-patch v4: replacing a missing object member adds it.
  setKey(target.parent, target.key, value);
}

function opMove(root: Container, op: JsonPatchOperation): void {
  const from = pointerField(op, 'from');
  const source = findParent(root, from);
  if (source === undefined) {
    throw unprocessable(`move operation does not apply: doc is missing from path: ${from}: missing value`);
  }
  const path = pointerField(op, 'path');
  // RFC 6902 §4.4: a location cannot be moved into one of its children.
  if (path !== from && path.startsWith(`${from}/`)) {
    throw unprocessable(`move operation does not apply: from path ${from} is a prefix of path ${path}`);
  }
  const value = removeAt(source.parent, source.key, 'move', from);
  const target = findParent(root, path);
  if (target === undefined) {
    throw unprocessable(
      `move operation does not apply: doc is missing destination path: ${path}: missing value`,
    );
  }
  addAt(target.parent, target.key, value, path);
}

function opCopy(root: Container, op: JsonPatchOperation): void {
  const from = pointerField(op, 'from');
  const source = findParent(root, from);
  const got = source === undefined ? undefined : getAt(source.parent, source.key);
  if (got === undefined || !got.found) {
    throw unprocessable(`copy operation does not apply: doc is missing from path: ${from}: missing value`);
  }
  const path = pointerField(op, 'path');
  const target = findParent(root, path);
  if (target === undefined) {
    throw unprocessable(
      `copy operation does not apply: doc is missing destination path: ${path}: missing value`,
    );
  }
  addAt(target.parent, target.key, deepClone(got.value), path);
}

function opTest(root: Container, op: JsonPatchOperation): void {
  const pointer = pointerField(op, 'path');
  const target = findParent(root, pointer);
  if (target === undefined) {
    throw unprocessable(`test operation does not apply: is missing path: ${pointer}: missing value`);
  }
  const got = getAt(target.parent, target.key);
  const expected = op.hasValue ? op.value : null;
  if (!got.found) {
    if (Array.isArray(target.parent)) {
      throw invalidIndex(target.key);
    }
    // json-patch v4 cannot tell a missing member from a null one.
    if (expected === null) return;
    throw unprocessable(`testing value ${pointer} failed: test failed`);
  }
  if (!deepEqual(got.value, expected)) {
    throw unprocessable(`testing value ${pointer} failed: test failed`);
  }
}
