/**
 * Turning a backed-up object into the object to create: runtime fields the
 * API server owns are dropped, namespace and storage-class mappings applied.
 * Pure functions over plain JSON; the same cleaning is what "identical" means
 * when a restore meets an existing object.
 */

/** A Kubernetes object as plain JSON. */
export type KubeObject = Record<string, unknown>;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Old name → new name (namespaces, storage classes). */
export type NameMapping = Readonly<Record<string, string>>;

export interface PrepareInput {
  /** `deployments.apps`, `services`, … (group-resource of the item). */
  readonly groupResource: string;
  readonly object: KubeObject;
  /** Keep `.status` (the type is in --restore-status). */
  readonly keepStatus: boolean;
  readonly namespaceMapping: NameMapping;
  readonly storageClassMapping: NameMapping;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function records(value: unknown): Record<string, unknown>[] {
  if (!Array.isArray(value)) return [];
  const out: Record<string, unknown>[] = [];
  for (const v of value) {
    const r = record(v);
    if (r !== undefined) out.push(r);
  }
  return out;
}

/** Metadata fields the API server sets; never sent on create, ignored when comparing. */
const RUNTIME_METADATA = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'generation',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const;

/**
 * A deep copy without the fields the API server owns: metadata runtime fields,
 * `status` (unless kept), a Service's allocated cluster IPs (headless `None`
 * stays) and health-check node port, a PV claimRef's uid/resourceVersion, a
 * Pod's node binding.
 */
export function stripRuntimeFields(
  groupResource: string,
  object: KubeObject,
  options: { keepStatus?: boolean } = {},
): KubeObject {
  const out = structuredClone(object);
  const meta = record(out.metadata);
  if (meta !== undefined) for (const field of RUNTIME_METADATA) delete meta[field];
  if (!options.keepStatus) delete out.status;
  const spec = record(out.spec);
  if (spec === undefined) return out;
  switch (groupResource) {
    case 'services': {
      if (spec.clusterIP !== 'None') {
        delete spec.clusterIP;
        delete spec.clusterIPs;
      }
      delete spec.healthCheckNodePort;
      break;
    }
    case 'persistentvolumes': {
      const claimRef = record(spec.claimRef);
      if (claimRef !== undefined) {
        delete claimRef.uid;
        delete claimRef.resourceVersion;
      }
      break;
    }
    case 'pods':
      delete spec.nodeName;
      break;
  }
  return out;
}

/**
 * What "identical" compares: the object without runtime fields and without
 * owner uids (they change with every restore of the owner).
 */
export function comparableObject(groupResource: string, object: KubeObject): KubeObject {
  const out = stripRuntimeFields(groupResource, object);
  const meta = record(out.metadata);
  if (meta !== undefined) {
    const owners = records(meta.ownerReferences);
    if (owners.length > 0) meta.ownerReferences = owners.map(({ uid: _uid, ...rest }) => rest);
    else delete meta.ownerReferences;
  }
  return out;
}

/** Deep equality of JSON values, key order ignored. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => jsonEqual(v, b[i]));
  }
  const ra = record(a);
  const rb = record(b);
  if (ra === undefined || rb === undefined) return false;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => jsonEqual(ra[k], rb[k]));
}

function mapName(mapping: NameMapping, name: unknown): unknown {
  return typeof name === 'string' && Object.hasOwn(mapping, name) ? mapping[name] : name;
}

const NAME_LABEL = 'kubernetes.io/metadata.name';

/** Storage-class annotation older PVCs carry instead of spec.storageClassName. */
const STORAGE_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

function mapClaimStorageClass(claim: Record<string, unknown>, mapping: NameMapping): void {
  const spec = record(claim.spec);
  if (spec !== undefined && typeof spec.storageClassName === 'string')
    spec.storageClassName = mapName(mapping, spec.storageClassName);
  const annotations = record(record(claim.metadata)?.annotations);
  if (annotations !== undefined && typeof annotations[STORAGE_CLASS_ANNOTATION] === 'string')
    annotations[STORAGE_CLASS_ANNOTATION] = mapName(mapping, annotations[STORAGE_CLASS_ANNOTATION]);
}

/**
 * The object to create: runtime fields stripped, then the mappings applied —
 * the object's namespace, a Namespace's own name, ServiceAccount subjects of
 * (Cluster)RoleBindings, a PV's claimRef namespace; storage classes of PVCs,
 * PVs and StatefulSet volumeClaimTemplates. StorageClass objects keep their
 * names: a mapping says "the target cluster calls it b", not "rename a".
 */
export function prepareObject(input: PrepareInput): KubeObject {
  const { groupResource: gr, namespaceMapping: ns, storageClassMapping: sc } = input;
  const out = stripRuntimeFields(gr, input.object, { keepStatus: input.keepStatus });
  const meta = record(out.metadata);
  if (meta !== undefined) {
    if (typeof meta.namespace === 'string') meta.namespace = mapName(ns, meta.namespace);
    if (gr === 'namespaces' && meta.name !== mapName(ns, meta.name)) {
      meta.name = mapName(ns, meta.name);
      // The API server keeps this label equal to the name; a renamed namespace gets its new name.
      const labels = record(meta.labels);
      if (labels !== undefined && typeof labels[NAME_LABEL] === 'string') labels[NAME_LABEL] = meta.name;
    }
  }
  const spec = record(out.spec);
  switch (gr) {
    case 'rolebindings.rbac.authorization.k8s.io':
    case 'clusterrolebindings.rbac.authorization.k8s.io':
      for (const subject of records(out.subjects))
        if (subject.kind === 'ServiceAccount' && typeof subject.namespace === 'string')
          subject.namespace = mapName(ns, subject.namespace);
      break;
    case 'persistentvolumeclaims':
      mapClaimStorageClass(out, sc);
      break;
    case 'persistentvolumes': {
      if (spec !== undefined && typeof spec.storageClassName === 'string')
        spec.storageClassName = mapName(sc, spec.storageClassName);
      const claimRef = record(spec?.claimRef);
      if (claimRef !== undefined && typeof claimRef.namespace === 'string')
        claimRef.namespace = mapName(ns, claimRef.namespace);
      break;
    }
    case 'statefulsets.apps':
      for (const template of records(spec?.volumeClaimTemplates)) mapClaimStorageClass(template, sc);
      break;
  }
  return out;
}

/** The object's owner references (empty when none). */
export function ownerReferencesOf(object: KubeObject): OwnerReference[] {
  return records(record(object.metadata)?.ownerReferences).flatMap((r) =>
    typeof r.uid === 'string' && typeof r.kind === 'string' && typeof r.name === 'string'
      ? [r as unknown as OwnerReference]
      : [],
  );
}

/** `metadata.uid`, when the object has one. */
export function uidOf(object: KubeObject): string | undefined {
  const uid = record(object.metadata)?.uid;
  return typeof uid === 'string' ? uid : undefined;
}

export function labelsOf(object: KubeObject): Record<string, string> {
  const labels = record(record(object.metadata)?.labels) ?? {};
  return Object.fromEntries(Object.entries(labels).filter(([, v]) => typeof v === 'string')) as Record<
    string,
    string
  >;
}

/** Fields the API server allocated that an update must carry over from the live object (they are immutable). */
export function carryAllocatedFields(groupResource: string, live: KubeObject, desired: KubeObject): void {
  const liveSpec = record(live.spec);
  const spec = record(desired.spec);
  if (liveSpec === undefined || spec === undefined) return;
  const carry = (fields: string[]) => {
    for (const f of fields) if (spec[f] === undefined && liveSpec[f] !== undefined) spec[f] = liveSpec[f];
  };
  if (groupResource === 'services') carry(['clusterIP', 'clusterIPs', 'healthCheckNodePort']);
  if (groupResource === 'persistentvolumeclaims') carry(['volumeName']);
  if (groupResource === 'pods') carry(['nodeName']);
}
