import { createHash } from 'node:crypto';
import type { ResourceRegistry } from './registry/registry.ts';
import type { ResourceType } from './registry/resource-type.ts';

type Json = Record<string, unknown>;

/**
 * OpenAPI v3 stubs. kubectl reads them for two things: whether the server
 * accepts `fieldValidation` on PATCH for a kind (the query-param verifier looks
 * for a PATCH operation tagged with `x-kubernetes-group-version-kind` that has
 * such a parameter) and, when a component schema carries the kind's GVK, patch
 * metadata for client-side apply. The stubs deliberately contain no component
 * schemas, so kubectl falls back to its compiled-in types for built-in kinds
 * (exact strategic-merge keys) and to JSON merge patch for custom resources —
 * what it does against a real server whose schemas it cannot use.
 */

function groupVersionPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

function gvHash(registry: ResourceRegistry, group: string, version: string): string {
  const types = registry
    .all()
    .filter((t) => t.group === group && t.versions.includes(version))
    .map((t) => `${t.resource}:${t.kind}:${t.namespaced}`)
    .sort()
    .join(',');
  return createHash('sha512').update(types).digest('hex').slice(0, 128).toUpperCase();
}

/** `/openapi/v3`: the index of per-group-version documents. */
export function openApiIndex(registry: ResourceRegistry): Json {
  const paths: Json = {};
  for (const g of registry.groups()) {
    for (const v of g.versions) {
      const p = groupVersionPath(g.name, v);
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${gvHash(registry, g.name, v)}` };
    }
  }
  return { paths };
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'];

function operationId(t: ResourceType, version: string): string {
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  const group = t.group === '' ? 'core' : (t.group.split('.')[0] ?? '');
  return `patch${cap(group)}${cap(version)}${t.namespaced ? 'Namespaced' : ''}${t.kind}`;
}

/** `/openapi/v3/api/v1`, `/openapi/v3/apis/{g}/{v}`; undefined when not served. */
export function openApiGroupVersion(registry: ResourceRegistry, path: string): Json | undefined {
  const parts = path.split('/');
  let group: string;
  let version: string;
  if (parts.length === 2 && parts[0] === 'api') {
    group = '';
    version = parts[1] as string;
  } else if (parts.length === 3 && parts[0] === 'apis') {
    group = parts[1] as string;
    version = parts[2] as string;
  } else {
    return undefined;
  }
  const types = registry.all().filter((t) => t.group === group && t.versions.includes(version));
  if (types.length === 0) return undefined;
  const paths: Json = {};
  for (const t of types) {
    const base = `/${groupVersionPath(group, version)}`;
    const item = t.namespaced
      ? `${base}/namespaces/{namespace}/${t.resource}/{name}`
      : `${base}/${t.resource}/{name}`;
    paths[item] = {
      parameters: [
        { name: 'name', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } },
        ...(t.namespaced
          ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } }]
          : []),
      ],
      patch: {
        operationId: operationId(t, version),
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group, version, kind: t.kind },
        parameters: QUERY_PARAMS.map((name) => ({
          name,
          in: 'query',
          schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true },
        })),
        requestBody: {
          content: {
            'application/json-patch+json': { schema: { type: 'object' } },
            'application/merge-patch+json': { schema: { type: 'object' } },
            'application/apply-patch+yaml': { schema: { type: 'object' } },
            ...(t.custom ? {} : { 'application/strategic-merge-patch+json': { schema: { type: 'object' } } }),
          },
          required: true,
        },
        responses: { '200': { description: 'OK' }, '201': { description: 'Created' } },
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0-cairn-sandbox' },
    paths,
    components: { schemas: {} },
  };
}
