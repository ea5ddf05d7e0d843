import { BUILTIN_TYPES } from './builtin.ts';
import { type PrinterColumn, type ResourceType, storageKey } from './resource-type.ts';

/** A served group with its versions in Kubernetes priority order (preferred first). */
export interface ServedGroup {
  name: string;
  versions: string[];
}

type Json = Record<string, unknown>;

/**
 * The table of served resource types: the built-ins plus whatever established
 * CustomResourceDefinitions add. Discovery, OpenAPI and routing all read it, so
 * a CRD becomes visible everywhere the moment it is registered.
 */
export class ResourceRegistry {
  #types = new Map<string, ResourceType>();
  #generation = 0;

  constructor() {
    for (const t of BUILTIN_TYPES) this.#types.set(storageKey(t), t);
  }

  /** Bumped on every change; used as a cache key for discovery documents. */
  get generation(): number {
    return this.#generation;
  }

  all(): ResourceType[] {
    return [...this.#types.values()];
  }

  get(group: string, version: string, resource: string): ResourceType | undefined {
    const t = this.#types.get(`${group}/${resource}`);
    return t?.versions.includes(version) ? t : undefined;
  }

  byKey(key: string): ResourceType | undefined {
    return this.#types.get(key);
  }

  /** Groups in discovery order: core, built-in groups, then custom groups by name. */
  groups(): ServedGroup[] {
    const order: string[] = [];
    const versions = new Map<string, Set<string>>();
    for (const t of this.#types.values()) {
      let set = versions.get(t.group);
      if (!set) {
        set = new Set();
        versions.set(t.group, set);
        order.push(t.group);
      }
      for (const v of t.versions) set.add(v);
    }
    const builtinGroups = new Set(BUILTIN_TYPES.map((t) => t.group));
    const builtins = order.filter((g) => builtinGroups.has(g));
    const customs = order.filter((g) => !builtinGroups.has(g)).sort();
    return [...builtins, ...customs].map((name) => ({
      name,
      versions: [...(versions.get(name) ?? [])].sort(compareKubeVersions),
    }));
  }

  /**
   * Registers (or re-registers) the types a CRD defines. Returns the type, or a
   * message when the CRD collides with a built-in type.
   */
  registerCustom(crd: Json): ResourceType | string {
    const type = customTypeOf(crd);
    if (typeof type === 'string') return type;
    const key = storageKey(type);
    const existing = this.#types.get(key);
    if (existing && !existing.custom) return `${key} is a built-in resource`;
    this.#types.set(key, type);
    this.#generation++;
    return type;
  }

  unregisterCustom(group: string, resource: string): void {
    const key = `${group}/${resource}`;
    if (this.#types.get(key)?.custom) {
      this.#types.delete(key);
      this.#generation++;
    }
  }
}

/** Derives the served type of a CustomResourceDefinition object. */
export function customTypeOf(crd: Json): ResourceType | string {
  const spec = (crd.spec ?? {}) as Json;
  const names = (spec.names ?? {}) as Json;
  const group = spec.group;
  const plural = names.plural;
  const kind = names.kind;
  if (typeof group !== 'string' || group === '') return 'spec.group: Required value';
  if (typeof plural !== 'string' || plural === '') return 'spec.names.plural: Required value';
  if (typeof kind !== 'string' || kind === '') return 'spec.names.kind: Required value';
  const versionList = Array.isArray(spec.versions) ? (spec.versions as Json[]) : [];
  const served = versionList.filter((v) => v.served !== false && typeof v.name === 'string');
  if (served.length === 0) return 'spec.versions: Invalid value: must have at least one served version';
  const storage = served.find((v) => v.storage === true) ?? served[0];
  const sub = ((storage?.subresources ?? {}) as Json) ?? {};
  const subresources: Array<'status' | 'scale'> = [];
  if (sub.status) subresources.push('status');
  if (sub.scale) subresources.push('scale');
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  const printerColumns: Record<string, PrinterColumn[]> = {};
  for (const v of served) {
    if (!Array.isArray(v.additionalPrinterColumns)) continue;
    printerColumns[v.name as string] = (v.additionalPrinterColumns as Json[])
      .filter((c) => typeof c.name === 'string' && typeof c.jsonPath === 'string')
      .map((c) => ({
        name: c.name as string,
        type: typeof c.type === 'string' ? c.type : 'string',
        jsonPath: c.jsonPath as string,
        ...(typeof c.description === 'string' ? { description: c.description } : {}),
        ...(typeof c.priority === 'number' ? { priority: c.priority } : {}),
        ...(typeof c.format === 'string' ? { format: c.format } : {}),
      }));
  }
  return {
    ...(Object.keys(printerColumns).length > 0 ? { printerColumns } : {}),
    group,
    versions: served.map((v) => v.name as string).sort(compareKubeVersions),
    resource: plural,
    singular: typeof names.singular === 'string' && names.singular ? names.singular : kind.toLowerCase(),
    kind,
    listKind: typeof names.listKind === 'string' && names.listKind ? names.listKind : `${kind}List`,
    namespaced: spec.scope !== 'Cluster',
    shortNames: strings(names.shortNames),
    categories: strings(names.categories),
    verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'],
    subresources,
    custom: true,
  };
}

const KUBE_VERSION = /^v(\d+)(?:(alpha|beta)(\d+))?$/;

/**
 * Kubernetes version priority: GA > beta > alpha, higher numbers first, then
 * non-conforming names alphabetically (as apimachinery's CompareKubeAwareVersionStrings).
 */
export function compareKubeVersions(a: string, b: string): number {
  const ma = KUBE_VERSION.exec(a);
  const mb = KUBE_VERSION.exec(b);
  if (!ma && !mb) return a < b ? -1 : a > b ? 1 : 0;
  if (!ma) return 1;
  if (!mb) return -1;
  const rank = (m: RegExpExecArray) => (m[2] === undefined ? 2 : m[2] === 'beta' ? 1 : 0);
  const ra = rank(ma);
  const rb = rank(mb);
  if (ra !== rb) return rb - ra;
  const major = Number(mb[1]) - Number(ma[1]);
  if (major !== 0) return major;
  return Number(mb[3] ?? 0) - Number(ma[3] ?? 0);
}
