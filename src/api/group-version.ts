/**
 * Cairn's API group and version, on their own: the CLI's "is Cairn installed?"
 * probe needs them without loading the schemas (typebox costs ~0.1 CPU-s and
 * ~15 MiB at start-up, paid by every inline `cairn backup create`).
 */
export const GROUP = 'cairn.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/**
 * The API path of Cairn's `plural` in `namespace` (the collection), of one object, or of its
 * subresource: the one place the controller and the CLI build these paths.
 */
export function cairnResourcePath(
  namespace: string,
  plural: string,
  name?: string,
  subresource?: 'status',
): string {
  const base = `/apis/${API_VERSION}/namespaces/${namespace}/${plural}`;
  if (name === undefined) return base;
  return `${base}/${encodeURIComponent(name)}${subresource === undefined ? '' : `/${subresource}`}`;
}
