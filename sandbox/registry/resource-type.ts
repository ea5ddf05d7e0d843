/**
 * One served resource type (group/version/resource) as the sandbox knows it:
 * what discovery advertises and what the HTTP layer needs to route and store it.
 */
export interface ResourceType {
  /** API group; '' for the core group. */
  group: string;
  /** Versions served, preferred (storage) version first. */
  versions: string[];
  /** Plural resource name used in URLs, e.g. 'deployments'. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Subresources served: 'status' and/or 'scale'. */
  subresources: Array<'status' | 'scale'>;
  /** True for types defined by a CustomResourceDefinition. */
  custom: boolean;
  /**
   * Review-style types (SelfSubjectAccessReview, ...): create-only, answered
   * and never stored.
   */
  virtual?: boolean;
  /** `additionalPrinterColumns` of a CRD, per version (Table responses). */
  printerColumns?: Record<string, PrinterColumn[]>;
}

/** A CRD's `additionalPrinterColumns` entry. */
export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Store key prefix of a resource type: `<group>/<resource>` (group '' for core). */
export function storageKey(type: Pick<ResourceType, 'group' | 'resource'>): string {
  return `${type.group}/${type.resource}`;
}

/** `apiVersion` string for a group and version ('v1' for the core group). */
export function apiVersionOf(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}
