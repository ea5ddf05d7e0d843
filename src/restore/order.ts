/**
 * The order of a restore: dependency tiers. Everything in a tier is created in
 * parallel; a tier starts when the one before it finished. CRDs come first
 * (and are waited on until Established), custom resources last.
 */

export interface Tier {
  readonly index: number;
  readonly name: string;
}

/** Group-resources with a tier of their own, in restore order. */
const FIXED: readonly (readonly string[])[] = [
  ['customresourcedefinitions.apiextensions.k8s.io'],
  ['namespaces'],
  ['storageclasses.storage.k8s.io'],
  ['persistentvolumes'],
  ['persistentvolumeclaims'],
  ['serviceaccounts'],
  ['secrets'],
  ['configmaps'],
  ['limitranges', 'resourcequotas'],
  ['clusterroles.rbac.authorization.k8s.io', 'roles.rbac.authorization.k8s.io'],
  ['clusterrolebindings.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io'],
];

export const TIER_NAMES: readonly string[] = [
  'crds',
  'namespaces',
  'storageclasses',
  'persistentvolumes',
  'persistentvolumeclaims',
  'serviceaccounts',
  'secrets',
  'configmaps',
  'limits-and-quotas',
  'roles',
  'rolebindings',
  'workloads-and-others',
  'custom-resources',
];

export const CRD_TIER = 0;
const OTHERS_TIER = FIXED.length;
const CUSTOM_TIER = FIXED.length + 1;

/** Tier of a group-resource; `custom` when a CRD defines it. */
export function tierOf(groupResource: string, custom: boolean): number {
  const fixed = FIXED.findIndex((names) => names.includes(groupResource));
  if (fixed !== -1) return fixed;
  return custom ? CUSTOM_TIER : OTHERS_TIER;
}

/**
 * Types never restored (Velero's list): they describe machines and live
 * state, not configuration — a restored Node or Event would be a lie.
 */
export const NON_RESTORABLE: ReadonlySet<string> = new Set([
  'nodes',
  'events',
  'events.events.k8s.io',
  'csinodes.storage.k8s.io',
  'volumeattachments.storage.k8s.io',
]);
