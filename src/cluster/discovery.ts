/**
 * API discovery: which resource types the server serves, their scope, verbs
 * and names, for the preferred version of every group (or every version).
 * A group-version that fails to answer (an aggregated API whose backend is
 * down, a typical 503) is reported, not fatal — as kubectl and Velero do.
 */
import { CairnError } from '../errors/cairn-error.ts';
import { forEachLimit } from '../util/rate-limit.ts';
import type { ClusterConnection } from './connection.ts';

export interface ResourceType {
  readonly group: string;
  readonly version: string;
  /** Plural name used in URLs, e.g. `deployments`. */
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly verbs: readonly string[];
  readonly shortNames: readonly string[];
  readonly singularName: string;
  readonly categories: readonly string[];
  /** True for the group's preferred version. */
  readonly preferred: boolean;
}

export interface DiscoveryResult {
  readonly types: ResourceType[];
  readonly failedGroupVersions: { groupVersion: string; message: string }[];
  readonly serverVersion: string | undefined;
}

interface ApiResourceList {
  resources?: {
    name: string;
    kind: string;
    namespaced: boolean;
    verbs?: string[];
    shortNames?: string[];
    singularName?: string;
    categories?: string[];
  }[];
}
interface ApiGroupList {
  groups?: {
    name: string;
    versions: { groupVersion: string; version: string }[];
    preferredVersion?: { version: string };
  }[];
}

/** `configmaps` or `deployments.apps`: the name kubectl and Velero use for a group's resource. */
export function groupResourceName(type: { group: string; resource: string }): string {
  return type.group === '' ? type.resource : `${type.resource}.${type.group}`;
}

/** The URL path of a collection or an object. */
export function resourcePath(
  type: { group: string; version: string; resource: string },
  namespace?: string,
  name?: string,
): string {
  const base = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${base}${ns}/${type.resource}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

/** Discovers every listable resource type (subresources excluded). */
export async function discoverResources(
  connection: ClusterConnection,
  options: { allVersions?: boolean } = {},
): Promise<DiscoveryResult> {
  const targets: { group: string; version: string; preferred: boolean }[] = [
    { group: '', version: 'v1', preferred: true },
  ];
  const groups = await connection.request<ApiGroupList>('GET', '/apis');
  for (const group of groups.groups ?? []) {
    const preferred = group.preferredVersion?.version ?? group.versions[0]?.version;
    for (const v of group.versions) {
      if (options.allVersions || v.version === preferred) {
        targets.push({ group: group.name, version: v.version, preferred: v.version === preferred });
      }
    }
  }
  const types: ResourceType[] = [];
  const failedGroupVersions: { groupVersion: string; message: string }[] = [];
  await forEachLimit(targets, 8, async (t) => {
    const path = t.group === '' ? `/api/${t.version}` : `/apis/${t.group}/${t.version}`;
    try {
      const list = await connection.request<ApiResourceList>('GET', path);
      for (const r of list.resources ?? []) {
        if (r.name.includes('/')) continue; // subresources (status, scale, …)
        types.push({
          group: t.group,
          version: t.version,
          resource: r.name,
          kind: r.kind,
          namespaced: r.namespaced,
          verbs: r.verbs ?? [],
          shortNames: r.shortNames ?? [],
          singularName: r.singularName || r.kind.toLowerCase(),
          categories: r.categories ?? [],
          preferred: t.preferred,
        });
      }
    } catch (err) {
      failedGroupVersions.push({ groupVersion: path, message: (err as Error).message });
    }
  });
  types.sort(
    (a, b) => groupResourceName(a).localeCompare(groupResourceName(b)) || a.version.localeCompare(b.version),
  );
  let serverVersion: string | undefined;
  try {
    serverVersion = (await connection.request<{ gitVersion?: string }>('GET', '/version')).gitVersion;
  } catch {
    serverVersion = undefined;
  }
  return { types, failedGroupVersions, serverVersion };
}

/** Every name a user may call a type by, as kubectl accepts them. */
function namesOf(type: ResourceType): string[] {
  const names = [type.resource, type.singularName, type.kind.toLowerCase(), ...type.shortNames];
  return [...names, ...names.map((n) => `${n}.${type.group}`)].map((n) => n.toLowerCase());
}

/** Edit distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = current;
    }
  }
  return row[b.length] as number;
}

/**
 * Up to three known names closest to `wanted`. `known` maps every alias (plural,
 * short name, kind, …) to the name to suggest, so a typo of an alias still
 * suggests the canonical `resource.group`.
 */
export function nearMatches(wanted: string, known: Iterable<string> | Map<string, string>): string[] {
  const aliases = known instanceof Map ? known : new Map([...known].map((k) => [k, k]));
  const lower = wanted.toLowerCase();
  const scored = new Map<string, number>();
  for (const [alias, suggestion] of aliases) {
    const a = alias.toLowerCase();
    const d = distance(lower, a);
    const close =
      d <= Math.max(2, Math.floor(lower.length / 3)) || a.startsWith(lower) || lower.startsWith(a);
    if (close) scored.set(suggestion, Math.min(d, scored.get(suggestion) ?? Number.POSITIVE_INFINITY));
  }
  return [...scored]
    .sort(([a, da], [b, db]) => da - db || a.localeCompare(b))
    .slice(0, 3)
    .map(([s]) => s);
}

/**
 * Resolves the user's resource names (`deploy`, `deployments.apps`,
 * `users.iam.kubesphere.io`, `*`) to group-resources. An unknown name is an
 * error that lists the nearest known names.
 */
export function resolveResourceNames(types: readonly ResourceType[], wanted: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const raw of wanted) {
    const name = raw.trim().toLowerCase();
    if (name === '*') {
      for (const t of types) out.add(groupResourceName(t));
      continue;
    }
    const matches = types.filter((t) => namesOf(t).includes(name));
    if (matches.length === 0) {
      const aliases = new Map<string, string>();
      for (const t of types) for (const alias of namesOf(t)) aliases.set(alias, groupResourceName(t));
      const suggestions = nearMatches(name, aliases);
      throw new CairnError('RESOURCE_UNKNOWN', `the server has no resource type "${raw}"`, {
        hint:
          suggestions.length > 0
            ? `Did you mean ${suggestions.map((s) => `"${s}"`).join(', ')}? (\`kubectl api-resources\` lists them all)`
            : 'Run `kubectl api-resources` to see the types this cluster serves.',
      });
    }
    for (const t of matches) out.add(groupResourceName(t));
  }
  return out;
}
