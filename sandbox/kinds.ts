import { badRequest } from './api-error.ts';
import { isObject, type Json, type NameRule } from './object-meta.ts';
import type { ResourceType } from './registry/resource-type.ts';

/**
 * Per-kind behaviour a real API server applies in its registry strategies:
 * name rules, which kinds track `metadata.generation`, defaulting on create and
 * the status a freshly created object starts with. Only what clients can observe
 * and Cairn relies on; no controllers run.
 */

const LABEL_NAMED = new Set(['/namespaces', '/services']);
const PATH_SEGMENT_GROUPS = new Set(['rbac.authorization.k8s.io']);
const GENERATION_GROUPS = new Set([
  'apps',
  'batch',
  'networking.k8s.io',
  'policy',
  'apiextensions.k8s.io',
  'snapshot.storage.k8s.io',
  'admissionregistration.k8s.io',
]);

export function nameRule(type: ResourceType): NameRule {
  if (LABEL_NAMED.has(`${type.group}/${type.resource}`)) return 'label';
  if (PATH_SEGMENT_GROUPS.has(type.group) || type.custom) return type.custom ? 'subdomain' : 'path-segment';
  return 'subdomain';
}

export function tracksGeneration(type: ResourceType): boolean {
  return type.custom || GENERATION_GROUPS.has(type.group) || type.resource === 'replicationcontrollers';
}

let nextClusterIp = 1;

/** Fills defaults of a new object (mutates it). Throws ApiError on malformed input. */
export function defaultOnCreate(type: ResourceType, obj: Json): void {
  if (type.subresources.includes('status')) obj.status = initialStatus(type);
  switch (`${type.group}/${type.resource}`) {
    case '/namespaces': {
      const spec = isObject(obj.spec) ? obj.spec : {};
      spec.finalizers = ['kubernetes'];
      obj.spec = spec;
      const meta = obj.metadata as Json;
      const labels = isObject(meta.labels) ? meta.labels : {};
      labels['kubernetes.io/metadata.name'] = meta.name as string;
      meta.labels = labels;
      break;
    }
    case '/services': {
      const spec = isObject(obj.spec) ? obj.spec : {};
      obj.spec = spec;
      spec.type ??= 'ClusterIP';
      if (spec.type !== 'ExternalName' && spec.clusterIP === undefined) {
        const n = nextClusterIp++;
        spec.clusterIP = `10.96.${(n >> 8) & 255}.${n & 255}`;
        spec.clusterIPs = [spec.clusterIP];
      }
      spec.sessionAffinity ??= 'None';
      if (Array.isArray(spec.ports)) {
        for (const p of spec.ports) {
          if (!isObject(p)) continue;
          p.protocol ??= 'TCP';
          p.targetPort ??= p.port;
        }
      }
      break;
    }
    case '/secrets':
      obj.type ??= 'Opaque';
      break;
  }
}

/** Kind-specific normalisation on every write (create and update). */
export function normalizeOnWrite(type: ResourceType, obj: Json): void {
  if (type.group === '' && type.resource === 'secrets') foldStringData(obj);
}

const NOT_BASE64 = /[^A-Za-z0-9+/=]|=[^=]|={3}/;

/** Secret `stringData` is write-only: merged into `data` as base64, then dropped. */
function foldStringData(secret: Json): void {
  if (secret.data !== undefined && secret.data !== null) {
    if (!isObject(secret.data)) throw badRequest('Secret.data must be a map of base64 strings');
    for (const [k, v] of Object.entries(secret.data)) {
      if (typeof v !== 'string' || NOT_BASE64.test(v) || v.length % 4 === 1)
        throw badRequest(`illegal base64 data in Secret.data[${JSON.stringify(k)}]`);
    }
  }
  if (!isObject(secret.stringData)) {
    delete secret.stringData;
    return;
  }
  const data = isObject(secret.data) ? secret.data : {};
  for (const [k, v] of Object.entries(secret.stringData)) {
    data[k] = Buffer.from(String(v), 'utf8').toString('base64');
  }
  secret.data = data;
  delete secret.stringData;
}

function initialStatus(type: ResourceType): Json {
  switch (`${type.group}/${type.resource}`) {
    case '/namespaces':
      return { phase: 'Active' };
    case '/pods':
      return { phase: 'Pending', qosClass: 'BestEffort' };
    case '/persistentvolumeclaims':
    case '/persistentvolumes':
      return { phase: 'Pending' };
    case '/services':
      return { loadBalancer: {} };
    default:
      return {};
  }
}
