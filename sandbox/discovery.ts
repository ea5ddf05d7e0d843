import type { ResourceRegistry } from './registry/registry.ts';
import { apiVersionOf, type ResourceType } from './registry/resource-type.ts';

type Json = Record<string, unknown>;

const SUBRESOURCE_VERBS = ['get', 'patch', 'update'];

/** `/api`: the legacy APIVersions document. */
export function apiVersions(serverAddress: string): Json {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

/** `/apis`: the legacy APIGroupList (every group but the core group). */
export function apiGroupList(registry: ResourceRegistry): Json {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: registry
      .groups()
      .filter((g) => g.name !== '')
      .map((g) => ({
        name: g.name,
        versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
      })),
  };
}

/** `/apis/{group}`: one APIGroup. */
export function apiGroup(registry: ResourceRegistry, group: string): Json | undefined {
  const g = registry.groups().find((x) => x.name === group && group !== '');
  if (!g) return undefined;
  return {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: g.name,
    versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
  };
}

function typesOf(registry: ResourceRegistry, group: string, version: string): ResourceType[] {
  return registry.all().filter((t) => t.group === group && t.versions.includes(version));
}

/** `/api/v1`, `/apis/{g}/{v}`: the APIResourceList of a group version, or undefined when not served. */
export function apiResourceList(
  registry: ResourceRegistry,
  group: string,
  version: string,
): Json | undefined {
  const types = typesOf(registry, group, version);
  if (types.length === 0) return undefined;
  const resources: Json[] = [];
  for (const t of types) {
    const r: Json = {
      name: t.resource,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs,
    };
    if (t.shortNames.length) r.shortNames = t.shortNames;
    if (t.categories.length) r.categories = t.categories;
    resources.push(r);
    for (const sub of t.subresources) {
      resources.push({
        name: `${t.resource}/${sub}`,
        singularName: '',
        namespaced: t.namespaced,
        ...(sub === 'scale' ? { group: 'autoscaling', version: 'v1' } : {}),
        kind: sub === 'scale' ? 'Scale' : t.kind,
        verbs: SUBRESOURCE_VERBS,
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(group, version), resources };
}

/** The aggregated discovery versions kubectl and client-go ask for, newest first. */
export type AggregatedVersion = 'v2' | 'v2beta1';

/**
 * Picks aggregated discovery from an Accept header the way kube-apiserver does:
 * the first acceptable `as=APIGroupDiscoveryList` clause wins; otherwise legacy.
 */
export function aggregatedVersionFor(accept: string | undefined): AggregatedVersion | undefined {
  if (!accept) return undefined;
  for (const clause of accept.split(',')) {
    const params = clause.split(';').map((s) => s.trim());
    const type = params[0];
    if (type !== 'application/json' && type !== '*/*') continue;
    const p = new Map<string, string>();
    for (const kv of params.slice(1)) {
      const eq = kv.indexOf('=');
      if (eq > 0) p.set(kv.slice(0, eq).trim(), kv.slice(eq + 1).trim());
    }
    if (p.get('as') !== 'APIGroupDiscoveryList' || p.get('g') !== 'apidiscovery.k8s.io') {
      if (p.size === 0) return undefined;
      continue;
    }
    const v = p.get('v');
    if (v === 'v2' || v === 'v2beta1') return v;
  }
  return undefined;
}

export function aggregatedContentType(v: AggregatedVersion): string {
  return `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;
}

/** Aggregated discovery for `/api` (core only) or `/apis` (all other groups). */
export function aggregatedDiscovery(registry: ResourceRegistry, legacy: boolean, v: AggregatedVersion): Json {
  const groups = registry.groups().filter((g) => (legacy ? g.name === '' : g.name !== ''));
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${v}`,
    metadata: {},
    items: groups.map((g) => ({
      metadata: { name: g.name, creationTimestamp: null },
      versions: g.versions.map((version) => ({
        version,
        resources: typesOf(registry, g.name, version).map((t) => {
          const r: Json = {
            resource: t.resource,
            responseKind: { group: t.group, version, kind: t.kind },
            scope: t.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: t.singular,
            verbs: t.verbs,
          };
          if (t.shortNames.length) r.shortNames = t.shortNames;
          if (t.categories.length) r.categories = t.categories;
          if (t.subresources.length)
            r.subresources = t.subresources.map((sub) => ({
              subresource: sub,
              responseKind:
                sub === 'scale'
                  ? { group: 'autoscaling', version: 'v1', kind: 'Scale' }
                  : { group: t.group, version, kind: t.kind },
              verbs: SUBRESOURCE_VERBS,
            }));
          return r;
        }),
        freshness: 'Current',
      })),
    })),
  };
}

/** `/version`: what a 1.32 API server reports (kubectl warns on large skews). */
export function versionInfo(): Json {
  return {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0-cairn-sandbox',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.23.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}
