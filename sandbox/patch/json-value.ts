/**
 * Small helpers for working with decoded JSON values (`JSON.parse` output).
 * The patch modules never mutate their inputs, so they clone first and then
 * edit the clone in place; these helpers make that safe.
 */

/** A plain JSON object as produced by `JSON.parse`. */
export type JsonObject = { [key: string]: unknown };

/** True for a JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Set `key` on `obj` as an own, enumerable data property.
 * A plain assignment of `__proto__` would change the prototype instead of
 * creating a key, which `JSON.parse` never does, so that key goes through
 * `defineProperty`.
 */
export function setKey(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** True when `obj` has `key` as an own property (never consults the prototype chain). */
export function hasKey(obj: JsonObject, key: string): boolean {
  return Object.hasOwn(obj, key);
}

/** Own property value or `undefined` (never consults the prototype chain). */
export function getKey(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Deep copy of a JSON value; primitives are returned as they are. */
export function deepClone<T>(value: T): T {
  if (Array.isArray(value)) {
    return value.map((v) => deepClone(v)) as T;
  }
  if (isJsonObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      setKey(out, k, deepClone(v));
    }
    return out as T;
  }
  return value;
}

/** Structural equality of two JSON values (object key order is irrelevant). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) {
    return true;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) {
      return false;
    }
    return a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) {
      return false;
    }
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) {
      return false;
    }
    return ka.every((k) => hasKey(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Short JSON rendering of a value for error messages (bounded length). */
export function describe(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
