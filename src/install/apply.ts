/**
 * Applying and removing an install through the cluster connection.
 *
 * Apply is real server-side apply (PATCH `application/apply-patch+yaml`,
 * field manager `cairn-install`, force): idempotent, creates what is missing,
 * updates what `cairn install` owns and leaves fields others set alone — a
 * second `cairn install` (an upgrade) converges instead of failing on
 * AlreadyExists.
 *
 * Uninstall removes the controller, its RBAC and (with the CRDs) Cairn's
 * resources from the cluster. It never opens a storage location: backups in
 * storage survive, and a new install pointed at the same location syncs them
 * back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_NAMESPACE, GROUP, VERSION } from '../api/common.ts';
import { crdName, KINDS } from '../api/crd.ts';
import type { ClusterConnection } from '../cluster/connection.ts';
import { isKubeStatus } from '../cluster/kube-api-error.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { FIELD_MANAGER, type KubeObject } from './manifests.ts';

/** Where the API serves the few kinds an install contains (no discovery needed for them). */
const PATHS: Record<string, { base: string; plural: string; namespaced: boolean }> = {
  'v1/Namespace': { base: '/api/v1', plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { base: '/api/v1', plural: 'serviceaccounts', namespaced: true },
  'v1/Service': { base: '/api/v1', plural: 'services', namespaced: true },
  'apps/v1/Deployment': { base: '/apis/apps/v1', plural: 'deployments', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': {
    base: '/apis/rbac.authorization.k8s.io/v1',
    plural: 'clusterroles',
    namespaced: false,
  },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    base: '/apis/rbac.authorization.k8s.io/v1',
    plural: 'clusterrolebindings',
    namespaced: false,
  },
  'rbac.authorization.k8s.io/v1/Role': {
    base: '/apis/rbac.authorization.k8s.io/v1',
    plural: 'roles',
    namespaced: true,
  },
  'rbac.authorization.k8s.io/v1/RoleBinding': {
    base: '/apis/rbac.authorization.k8s.io/v1',
    plural: 'rolebindings',
    namespaced: true,
  },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': {
    base: '/apis/apiextensions.k8s.io/v1',
    plural: 'customresourcedefinitions',
    namespaced: false,
  },
};

/** The URL path of one object of an install. */
export function objectPath(object: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const where = PATHS[`${object.apiVersion}/${object.kind}`];
  if (where === undefined) throw new Error(`install: no path known for ${object.apiVersion} ${object.kind}`);
  const ns = where.namespaced ? `/namespaces/${object.metadata.namespace ?? DEFAULT_NAMESPACE}` : '';
  return `${where.base}${ns}/${where.plural}/${object.metadata.name}`;
}

/** `Deployment cairn-system/cairn` — how messages name an object. */
export function describeObject(object: Pick<KubeObject, 'kind' | 'metadata'>): string {
  const ns = object.metadata.namespace;
  return `${object.kind} ${ns === undefined ? '' : `${ns}/`}${object.metadata.name}`;
}

export interface ApplyResult {
  readonly object: string;
  readonly action: 'created' | 'configured' | 'unchanged';
}

interface Meta {
  metadata?: { resourceVersion?: string; generation?: number };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** Server-side applies one object; says whether it was created, changed or already so. */
export async function applyObject(connection: ClusterConnection, object: KubeObject): Promise<ApplyResult> {
  const path = objectPath(object);
  const before = await connection.request<Meta>('GET', path).catch((err: unknown) => {
    if (isKubeStatus(err, 404)) return undefined;
    throw err;
  });
  const after = await connection.request<Meta>('PATCH', path, {
    body: object,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: FIELD_MANAGER, force: true },
  });
  const action =
    before === undefined
      ? 'created'
      : before.metadata?.resourceVersion === after.metadata?.resourceVersion
        ? 'unchanged'
        : 'configured';
  return { object: describeObject(object), action };
}

/** Waits until every named CRD reports `Established` (its API is served). */
export async function waitForCrdsEstablished(
  connection: ClusterConnection,
  names: readonly string[],
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  let delay = 50;
  while (pending.size > 0) {
    for (const name of [...pending]) {
      const crd = await connection.request<Meta>(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
        {
          unthrottled: true,
        },
      );
      const conditions = crd.status?.conditions ?? [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) pending.delete(name);
      const rejected = conditions.find((c) => c.type === 'NamesAccepted' && c.status === 'False');
      if (rejected !== undefined)
        throw new CairnError(
          'INSTALL_CRD_REJECTED',
          `CRD ${name} was not accepted: ${rejected.message ?? rejected.reason}`,
          {
            hint: 'Another CRD claims the same names (short names or plural); remove it or install into a cluster without it.',
          },
        );
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline)
      throw new CairnError(
        'INSTALL_CRD_NOT_ESTABLISHED',
        `CRDs not Established after ${timeoutMs / 1000} s: ${[...pending].join(', ')}`,
        {
          hint: 'Check the API server (kubectl get crd … -o yaml shows the conditions) and run cairn install again.',
        },
      );
    await sleep(delay);
    delay = Math.min(1000, delay * 2);
  }
}

/**
 * Applies an install in order; the CRDs must be Established before anything
 * that uses them (the controller's informers) starts.
 */
export async function applyInstall(
  connection: ClusterConnection,
  objects: readonly KubeObject[],
  onApplied: (result: ApplyResult) => void = () => {},
): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  const crds: string[] = [];
  for (const object of objects) {
    if (object.kind === 'Deployment' && crds.length > 0) {
      await waitForCrdsEstablished(connection, crds);
      crds.length = 0;
    }
    const result = await applyObject(connection, object);
    if (object.kind === 'CustomResourceDefinition') crds.push(object.metadata.name);
    results.push(result);
    onApplied(result);
  }
  if (crds.length > 0) await waitForCrdsEstablished(connection, crds);
  return results;
}

/** What an uninstall would remove, found in the cluster. */
export interface UninstallPlan {
  /** Objects of the install that exist, in delete order (controller first, CRDs last). */
  readonly objects: { readonly path: string; readonly description: string }[];
  /** Cairn resources that go with their CRDs, per kind (`Backup: 12`). Storage is not touched. */
  readonly resources: Record<string, number>;
}

/** The objects of an install (rendered for `namespace`) that exist, and the Cairn resources in the cluster. */
export async function planUninstall(
  connection: ClusterConnection,
  objects: readonly KubeObject[],
): Promise<UninstallPlan> {
  const order = [
    'Deployment',
    'Service',
    'RoleBinding',
    'Role',
    'ClusterRoleBinding',
    'ClusterRole',
    'ServiceAccount',
    'CustomResourceDefinition',
  ];
  const existing: UninstallPlan['objects'][number][] = [];
  for (const kind of order) {
    for (const object of objects.filter((o) => o.kind === kind)) {
      const path = objectPath(object);
      const found = await connection.request('GET', path).then(
        () => true,
        (err: unknown) => {
          if (isKubeStatus(err, 404)) return false;
          throw err;
        },
      );
      if (found) existing.push({ path, description: describeObject(object) });
    }
  }
  const resources: Record<string, number> = {};
  for (const kind of KINDS) {
    if (!existing.some((o) => o.description === `CustomResourceDefinition ${crdName(kind)}`)) continue;
    const list = await connection
      .request<{ items?: unknown[] }>('GET', `/apis/${GROUP}/${VERSION}/${kind.plural}`)
      .catch((err: unknown) => {
        if (isKubeStatus(err, 404)) return { items: [] };
        throw err;
      });
    const n = list.items?.length ?? 0;
    if (n > 0) resources[kind.kind] = n;
  }
  return { objects: existing, resources };
}

/** Deletes what the plan lists (already-gone objects are fine); returns what was deleted. */
export async function runUninstall(connection: ClusterConnection, plan: UninstallPlan): Promise<string[]> {
  const deleted: string[] = [];
  for (const object of plan.objects) {
    try {
      await connection.request('DELETE', object.path);
      deleted.push(object.description);
    } catch (err) {
      if (!isKubeStatus(err, 404)) throw err;
    }
  }
  return deleted;
}
