/**
 * Which types and namespaces a backup lists, from its spec and what the
 * cluster serves. Pure logic: discovery results and namespace names in,
 * a selection out — so the rules are unit-tested without a cluster.
 */
import type { BackupSpec } from '../catalog/backup-manifest.ts';
import {
  groupResourceName,
  nearMatches,
  type ResourceType,
  resolveResourceNames,
} from '../cluster/discovery.ts';
import { CairnError } from '../errors/cairn-error.ts';

/** Types a backup leaves out unless they are named explicitly: short-lived noise that restores skip anyway. */
export const DEFAULT_EXCLUDED_RESOURCES = ['events', 'events.events.k8s.io'];

export interface BackupSelection {
  /** Namespaced types to list. */
  readonly namespacedTypes: ResourceType[];
  /** Cluster-scoped types to list whole (`all` mode). */
  readonly clusterTypes: ResourceType[];
  /** `all`: whole cluster-scoped types; `related`: only objects referenced by backed-up namespaced ones; `none`. */
  readonly clusterMode: 'all' | 'related' | 'none';
  /** Namespaces to back up, or `all` when no namespace filter narrows them (one cluster-wide LIST per type). */
  readonly namespaces: 'all' | string[];
  /** Names of the group-resources included at all (for pulling in related objects). */
  readonly includedResources: Set<string>;
  /** Group-resources the user excluded by name: never pulled in as related objects either. */
  readonly excludedResources: Set<string>;
}

/** `team-*`-style glob to a RegExp (only `*` and `?` are special). */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

const isGlob = (s: string) => s.includes('*') || s.includes('?');

/** Resolves namespace include/exclude lists against the cluster's namespaces. Unknown exact names are errors. */
export function selectNamespaces(spec: BackupSpec, existing: readonly string[]): 'all' | string[] {
  for (const name of [...spec.includeNamespaces, ...spec.excludeNamespaces]) {
    if (!isGlob(name) && !existing.includes(name)) {
      const near = nearMatches(name, existing);
      throw new CairnError('NAMESPACE_UNKNOWN', `namespace "${name}" does not exist in the cluster`, {
        hint:
          near.length > 0
            ? `Did you mean ${near.map((n) => `"${n}"`).join(', ')}?`
            : 'Run `kubectl get namespaces` to see them.',
      });
    }
  }
  const includeAll = spec.includeNamespaces.length === 0 || spec.includeNamespaces.includes('*');
  if (includeAll && spec.excludeNamespaces.length === 0) return 'all';
  const include = spec.includeNamespaces.map(globToRegExp);
  const exclude = spec.excludeNamespaces.map(globToRegExp);
  return existing
    .filter((ns) => includeAll || include.some((re) => re.test(ns)))
    .filter((ns) => !exclude.some((re) => re.test(ns)))
    .sort();
}

/** Chooses the types and scope of a backup. */
export function selectBackup(
  spec: BackupSpec,
  types: readonly ResourceType[],
  namespaces: readonly string[],
): BackupSelection {
  const listable = types.filter((t) => t.verbs.includes('list') && t.verbs.includes('get'));
  const named =
    spec.includeResources.length === 0 ? undefined : resolveResourceNames(listable, spec.includeResources);
  const excludedByUser = resolveResourceNames(listable, spec.excludeResources);
  const excluded = new Set(excludedByUser);
  // Defaults apply only to types the user did not ask for by name.
  for (const name of DEFAULT_EXCLUDED_RESOURCES) if (!named?.has(name)) excluded.add(name);
  const includedResources = new Set(
    listable
      .map(groupResourceName)
      .filter((gr) => (named === undefined || named.has(gr)) && !excluded.has(gr)),
  );
  const chosen = listable.filter((t) => includedResources.has(groupResourceName(t)));
  const selectedNamespaces = selectNamespaces(spec, namespaces);
  const wholeCluster = selectedNamespaces === 'all';
  const clusterMode =
    spec.includeClusterResources === 'false'
      ? 'none'
      : spec.includeClusterResources === 'true' || wholeCluster
        ? 'all'
        : 'related';
  return {
    namespacedTypes: chosen.filter((t) => t.namespaced),
    clusterTypes: clusterMode === 'all' ? chosen.filter((t) => !t.namespaced) : [],
    clusterMode,
    namespaces: selectedNamespaces,
    includedResources,
    excludedResources: excludedByUser,
  };
}
