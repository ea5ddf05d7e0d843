import { randomUUID } from 'node:crypto';
import {
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  notFound,
  STALE_OBJECT,
  unsupportedMediaType,
} from './api-error.ts';
import { GarbageCollector } from './garbage-collector.ts';
import { defaultOnCreate, nameRule, normalizeOnWrite, tracksGeneration } from './kinds.ts';
import { decodeContinue, encodeContinue, type ObjectFilter, objectFilter } from './list-query.ts';
import { type ManagedFieldsOp, recordManagedFields, serverSideApply } from './managed-fields.ts';
import { generateSuffix, isObject, type Json, kubeNow, metaOf, validateMeta } from './object-meta.ts';
import { applyPatch, type PatchType } from './patching.ts';
import { customTypeOf, type ResourceRegistry } from './registry/registry.ts';
import { apiVersionOf, type ResourceType, storageKey } from './registry/resource-type.ts';
import { type ObjectStore, StoredObject } from './store/object-store.ts';

/** What a request addresses: a type at a version, maybe a namespace and a name. */
export interface Target {
  type: ResourceType;
  version: string;
  /** Namespace from the URL; undefined for cluster-scoped or all-namespaces requests. */
  namespace: string | undefined;
  name?: string;
}

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  force?: boolean;
}

/** Options of the shared write path; `managedFieldsPrepared`: server-side apply already set managedFields. */
interface InternalWriteOptions extends WriteOptions {
  managedFieldsPrepared?: boolean;
}

export interface ListOptions {
  labelSelector?: string | null;
  fieldSelector?: string | null;
  limit?: number;
  continueToken?: string | null;
}

export interface ListResult {
  items: StoredObject[];
  resourceVersion: string;
  continueToken?: string;
}

export interface DeleteOptions extends WriteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  /** What happens to dependents (ownerReferences): Background (default), Foreground or Orphan. */
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
}

const FOREGROUND = 'foregroundDeletion';

const NS_TYPE_KEY = '/namespaces';
const CRD_TYPE_KEY = 'apiextensions.k8s.io/customresourcedefinitions';

/**
 * The behaviour of the API server independent of HTTP: CRUD with Kubernetes
 * semantics (resourceVersion preconditions, generation, finalizers, status
 * subresource), patch and server-side apply, CRD registration and the two
 * built-in "controllers" clients notice when they are missing: namespace
 * termination and CRD instance cleanup.
 */
export class Cluster {
  readonly registry: ResourceRegistry;
  readonly store: ObjectStore;
  #cleanupTimers = new Set<NodeJS.Timeout>();
  #closed = false;

  readonly #gc: GarbageCollector;

  #compactionTimer: NodeJS.Timeout | undefined;

  /**
   * @param compactionIntervalMs how often list continue tokens older than the
   *   previous tick expire (kube-apiserver compacts etcd every 5 minutes)
   */
  constructor(registry: ResourceRegistry, store: ObjectStore, compactionIntervalMs = 5 * 60_000) {
    this.registry = registry;
    this.store = store;
    let mark = store.revision;
    this.#compactionTimer = setInterval(() => {
      store.compactListsBefore(mark);
      mark = store.revision;
    }, compactionIntervalMs);
    this.#compactionTimer.unref();
    this.#gc = new GarbageCollector(
      store,
      (typeKey, stored) => this.#deleteStored(typeKey, stored, false),
      (fn) => this.#later(fn, 0),
    );
    // CRDs stored by a previous run (data dir) are served again.
    for (const crd of store.list(CRD_TYPE_KEY)) {
      const obj = crd.obj;
      if (!isObject(obj.metadata) || !obj.metadata.deletionTimestamp) registry.registerCustom(obj);
    }
    for (const type of registry.all()) {
      const key = storageKey(type);
      for (const o of store.list(key)) this.#gc.index(key, o);
    }
    for (const ns of store.list(NS_TYPE_KEY)) {
      if ((ns.obj.metadata as Json).deletionTimestamp)
        this.#scheduleNamespaceCleanup(String((ns.obj.metadata as Json).name));
    }
  }

  /** Creates what every cluster has: the four system namespaces and the `kubernetes` Service. */
  bootstrap(): void {
    const nsType = this.registry.byKey(NS_TYPE_KEY);
    const svcType = this.registry.byKey('/services');
    if (!nsType || !svcType) return;
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      if (!this.store.get(NS_TYPE_KEY, '', name))
        this.create({ type: nsType, version: 'v1', namespace: undefined }, { metadata: { name } }, {});
    }
    if (!this.store.get('/services', 'default', 'kubernetes'))
      this.create(
        { type: svcType, version: 'v1', namespace: 'default' },
        {
          metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
          spec: {
            ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
            type: 'ClusterIP',
          },
        },
        { fieldManager: 'kube-apiserver' },
      );
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#compactionTimer);
    for (const t of this.#cleanupTimers) clearTimeout(t);
    this.#cleanupTimers.clear();
  }

  /** The object as served at `version` (custom types may serve several versions). */
  static served(stored: StoredObject, type: ResourceType, version: string): string {
    if (type.versions.length === 1) return stored.json;
    const want = apiVersionOf(type.group, version);
    const obj = stored.obj;
    if (obj.apiVersion === want) return stored.json;
    obj.apiVersion = want;
    return JSON.stringify(obj);
  }

  get(t: Target): StoredObject {
    const name = t.name ?? '';
    const stored = this.store.get(storageKey(t.type), t.namespace ?? '', name);
    if (!stored) throw notFound(t.type, name);
    return stored;
  }

  list(t: Target, opts: ListOptions): ListResult {
    const filter = objectFilter(storageKey(t.type), opts.labelSelector ?? null, opts.fieldSelector ?? null);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Number.POSITIVE_INFINITY;
    let rv = this.store.revision;
    let after: string | undefined;
    if (opts.continueToken) {
      const pos = decodeContinue(opts.continueToken, this.store.listCompactedRevision);
      rv = pos.rv;
      after = pos.after;
    }
    const items: StoredObject[] = [];
    let lastId: string | undefined;
    let more = false;
    for (const o of this.store.list(storageKey(t.type), t.namespace, after)) {
      if (items.length >= limit) {
        more = true;
        break;
      }
      lastId = o.id;
      if (filter.everything || filter.matches(o)) items.push(o);
    }
    const result: ListResult = { items, resourceVersion: String(rv) };
    if (more && lastId !== undefined) result.continueToken = encodeContinue({ rv, after: lastId });
    return result;
  }

  filterFor(t: Target, labelSelector: string | null, fieldSelector: string | null): ObjectFilter {
    return objectFilter(storageKey(t.type), labelSelector, fieldSelector);
  }

  create(t: Target, body: unknown, opts: WriteOptions): StoredObject {
    const obj = this.#decodeBody(t, body);
    if (t.type.virtual) return StoredObject.of(answerReview(t.type, obj), this.store.revision);
    const meta = metaOf(obj);
    if (t.type.namespaced) {
      const ns = t.namespace ?? '';
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== ns)
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      meta.namespace = ns;
    } else {
      delete meta.namespace;
    }
    if (
      (meta.name === undefined || meta.name === '') &&
      typeof meta.generateName === 'string' &&
      meta.generateName
    )
      meta.name = `${meta.generateName}${generateSuffix()}`;
    const causes = validateMeta(meta, nameRule(t.type));
    if (causes.length) throw invalid(t.type.kind, t.type.group, String(meta.name ?? ''), causes);
    const name = meta.name as string;
    if (t.type.namespaced) this.#checkNamespaceWritable(t, name);
    const key = storageKey(t.type);
    if (this.store.get(key, t.namespace ?? '', name)) throw alreadyExists(t.type, name);

    meta.uid = randomUUID();
    meta.creationTimestamp = kubeNow();
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.selfLink;
    if (tracksGeneration(t.type)) meta.generation = 1;
    else delete meta.generation;
    defaultOnCreate(t.type, obj);
    normalizeOnWrite(t.type, obj);
    if (key === CRD_TYPE_KEY) this.#prepareCrd(obj);
    recordManagedFields(t.type, undefined, obj, opts.fieldManager, 'Update', meta.managedFields);
    if (opts.dryRun) return StoredObject.of(obj, this.store.revision);
    const stored = this.store.put(key, obj, 'ADDED');
    if (key === CRD_TYPE_KEY) this.registry.registerCustom(obj);
    return stored;
  }

  /** PUT of the main resource or of its `status` subresource. */
  update(t: Target, body: unknown, opts: WriteOptions, subresource?: 'status'): StoredObject {
    const current = this.get(t);
    const obj = this.#decodeBody(t, body);
    const meta = metaOf(obj);
    if (meta.name !== undefined && meta.name !== t.name)
      throw badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${t.name})`,
      );
    if (
      t.type.namespaced &&
      meta.namespace !== undefined &&
      meta.namespace !== '' &&
      meta.namespace !== t.namespace
    )
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    const rv = meta.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== String(current.rv))
      throw conflict(t.type, t.name ?? '', STALE_OBJECT);
    return this.#write(t, current, obj, opts, subresource, 'Update');
  }

  patch(
    t: Target,
    patchType: PatchType,
    patchBody: unknown,
    opts: WriteOptions,
    subresource?: 'status',
  ): StoredObject {
    if (patchType === 'apply') return this.#apply(t, patchBody, opts, subresource);
    if (patchType === 'strategic' && t.type.custom)
      throw unsupportedMediaType([
        'application/json-patch+json',
        'application/merge-patch+json',
        'application/apply-patch+yaml',
      ]);
    const current = this.get(t);
    const base = JSON.parse(Cluster.served(current, t.type, t.version)) as Json;
    const patched = applyPatch(patchType, base, patchBody, t.type);
    if (!isObject(patched)) throw badRequest('the patched object is not a JSON object');
    const meta = metaOf(patched);
    if (meta.name !== t.name)
      throw badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${t.name})`,
      );
    const rv = meta.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== String(current.rv))
      throw conflict(t.type, t.name ?? '', STALE_OBJECT);
    return this.#write(t, current, patched, opts, subresource, 'Update');
  }

  #apply(t: Target, patchBody: unknown, opts: WriteOptions, subresource?: 'status'): StoredObject {
    if (!isObject(patchBody)) throw badRequest('apply patch must be a YAML or JSON object');
    if (!opts.fieldManager)
      throw badRequest('PATCH, application/apply-patch+yaml requests require fieldManager to be set');
    const applied = patchBody;
    if (applied.kind !== undefined && applied.kind !== t.type.kind)
      throw badRequest(
        `the kind in the applied configuration (${String(applied.kind)}) does not match ${t.type.kind}`,
      );
    const ameta = metaOf(applied);
    if (ameta.name !== undefined && ameta.name !== t.name)
      throw badRequest(
        `the name of the object (${String(ameta.name)}) does not match the name on the URL (${t.name})`,
      );
    const key = storageKey(t.type);
    const current = this.store.get(key, t.namespace ?? '', t.name ?? '');
    if (!current) {
      const created = serverSideApply(t.type, undefined, applied, opts.fieldManager, Boolean(opts.force));
      // Server-side apply on an absent object creates it (with the applier's ownership).
      // create() records no Update entry without a fieldManager: the Apply entry stays.
      return this.create(t, created, { ...opts, fieldManager: undefined });
    }
    const live = JSON.parse(Cluster.served(current, t.type, t.version)) as Json;
    const merged = serverSideApply(t.type, live, applied, opts.fieldManager, Boolean(opts.force));
    return this.#write(t, current, merged, { ...opts, managedFieldsPrepared: true }, subresource, 'Apply');
  }

  /** Shared tail of update/patch/apply: immutables, status rules, generation, finalizers. */
  #write(
    t: Target,
    current: StoredObject,
    obj: Json,
    opts: InternalWriteOptions,
    subresource: 'status' | undefined,
    op: ManagedFieldsOp,
  ): StoredObject {
    const old = current.obj;
    const oldMeta = old.metadata as Json;
    obj.apiVersion = old.apiVersion;
    obj.kind = t.type.kind;
    const meta = metaOf(obj);
    if (subresource === 'status') {
      // Status writes change status only; everything else is kept from the stored object.
      const next: Json = { ...JSON.parse(current.json), status: obj.status };
      if (obj.status === undefined) delete next.status;
      next.metadata = { ...(next.metadata as Json), managedFields: meta.managedFields };
      return this.#finishWrite(t, current, next, opts, op);
    }
    if (t.type.subresources.includes('status')) {
      if (old.status === undefined) delete obj.status;
      else obj.status = old.status;
    }
    // Immutable metadata.
    meta.name = oldMeta.name;
    if (t.type.namespaced) meta.namespace = oldMeta.namespace;
    else delete meta.namespace;
    meta.uid = oldMeta.uid;
    meta.creationTimestamp = oldMeta.creationTimestamp;
    if (oldMeta.deletionTimestamp !== undefined) {
      meta.deletionTimestamp = oldMeta.deletionTimestamp;
      meta.deletionGracePeriodSeconds = oldMeta.deletionGracePeriodSeconds;
    } else {
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
    }
    delete meta.selfLink;
    const causes = validateMeta(meta, nameRule(t.type));
    if (causes.length) throw invalid(t.type.kind, t.type.group, String(meta.name), causes);
    normalizeOnWrite(t.type, obj);
    if (storageKey(t.type) === CRD_TYPE_KEY) {
      const type = customTypeOf(obj);
      if (typeof type === 'string')
        throw invalid(t.type.kind, t.type.group, String(meta.name), [
          { reason: 'FieldValueInvalid', message: type },
        ]);
      const before = customTypeOf(old);
      if (typeof before !== 'string' && (before.group !== type.group || before.resource !== type.resource))
        throw invalid(t.type.kind, t.type.group, String(meta.name), [
          {
            reason: 'FieldValueInvalid',
            message: 'Invalid value: field is immutable',
            field: 'spec.group/spec.names.plural',
          },
        ]);
      obj.status = old.status;
    }
    if (tracksGeneration(t.type)) {
      meta.generation = oldMeta.generation ?? 1;
      if (specChanged(old, obj)) meta.generation = Number(meta.generation) + 1;
    }
    return this.#finishWrite(t, current, obj, opts, op);
  }

  #finishWrite(
    t: Target,
    current: StoredObject,
    obj: Json,
    opts: InternalWriteOptions,
    op: ManagedFieldsOp,
  ): StoredObject {
    const meta = metaOf(obj);
    const old = current.obj;
    const prepared = opts.managedFieldsPrepared === true;
    if (!prepared) {
      recordManagedFields(
        t.type,
        old,
        obj,
        opts.fieldManager,
        op,
        old.metadata === undefined ? undefined : (old.metadata as Json).managedFields,
      );
    }
    meta.resourceVersion = String(current.rv);
    // A write that changes nothing is not a write (no new resourceVersion, no event).
    if (sameIgnoringManagedTimes(old, obj)) return current;
    const key = storageKey(t.type);
    if (opts.dryRun) return StoredObject.of(obj, current.rv);
    const finalizers = Array.isArray(meta.finalizers) ? meta.finalizers : [];
    if (meta.deletionTimestamp !== undefined && finalizers.length === 0 && !this.#keptByServer(key, obj)) {
      return this.store.remove(key, obj);
    }
    const stored = this.store.put(key, obj, 'MODIFIED');
    if (key === CRD_TYPE_KEY && meta.deletionTimestamp === undefined) {
      this.registry.registerCustom(obj);
    }
    return stored;
  }

  delete(t: Target, opts: DeleteOptions): { stored: StoredObject; gone: boolean } {
    const current = this.get(t);
    const meta = current.obj.metadata as Json;
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== meta.uid)
      throw conflict(
        t.type,
        t.name ?? '',
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(meta.uid)}`,
      );
    if (pre?.resourceVersion && pre.resourceVersion !== meta.resourceVersion)
      throw conflict(
        t.type,
        t.name ?? '',
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(meta.resourceVersion)}`,
      );
    const key = storageKey(t.type);
    const uid = typeof meta.uid === 'string' ? meta.uid : '';
    if (opts.propagationPolicy === 'Orphan' && !opts.dryRun) this.#gc.orphan(uid);
    if (opts.propagationPolicy === 'Foreground' && this.#gc.hasDependents(uid)) {
      const result = this.#deleteStored(key, current, Boolean(opts.dryRun), FOREGROUND);
      if (!opts.dryRun) this.#scheduleForeground(key, current.id, uid);
      return result;
    }
    return this.#deleteStored(key, current, Boolean(opts.dryRun));
  }

  /**
   * Foreground deletion: the owner keeps a `foregroundDeletion` finalizer while
   * the collector deletes its dependents; then the finalizer goes, and the owner with it.
   */
  #scheduleForeground(key: string, id: string, uid: string): void {
    this.#later(() => {
      this.#gc.collect(uid);
      if (this.#gc.hasDependents(uid)) {
        this.#scheduleForeground(key, id, uid);
        return;
      }
      const slash = id.indexOf('/');
      const owner = this.store.get(key, id.slice(0, slash), id.slice(slash + 1));
      if (!owner || owner.uid !== uid) return;
      const obj = owner.obj;
      const meta = obj.metadata as Json;
      const finalizers = (Array.isArray(meta.finalizers) ? meta.finalizers : []).filter(
        (f) => f !== FOREGROUND,
      );
      if (finalizers.length > 0) meta.finalizers = finalizers;
      else delete meta.finalizers;
      if (finalizers.length === 0 && !this.#keptByServer(key, obj)) this.store.remove(key, obj);
      else this.store.put(key, obj, 'MODIFIED');
    }, 10);
  }

  deleteCollection(t: Target, list: ListOptions, opts: DeleteOptions): StoredObject[] {
    const { items } = this.list(t, {
      labelSelector: list.labelSelector ?? null,
      fieldSelector: list.fieldSelector ?? null,
    });
    const key = storageKey(t.type);
    return items.map((o) => this.#deleteStored(key, o, Boolean(opts.dryRun)).stored);
  }

  #deleteStored(
    key: string,
    current: StoredObject,
    dryRun: boolean,
    addFinalizer?: string,
  ): { stored: StoredObject; gone: boolean } {
    const obj = JSON.parse(current.json) as Json;
    const meta = obj.metadata as Json;
    let finalizers = Array.isArray(meta.finalizers) ? meta.finalizers : [];
    if (addFinalizer && !finalizers.includes(addFinalizer)) {
      finalizers = [...finalizers, addFinalizer];
      meta.finalizers = finalizers;
    }
    if (finalizers.length > 0 || this.#keptByServer(key, obj)) {
      if (meta.deletionTimestamp !== undefined) return { stored: current, gone: false };
      meta.deletionTimestamp = kubeNow();
      meta.deletionGracePeriodSeconds = 0;
      if (typeof meta.generation === 'number') meta.generation += 1;
      if (key === NS_TYPE_KEY) obj.status = { ...(obj.status as Json), phase: 'Terminating' };
      if (key === CRD_TYPE_KEY)
        setCrdCondition(
          obj,
          'Terminating',
          'True',
          'InstanceDeletionPending',
          'CustomResourceDefinition marked for deletion; instance deletion is pending',
        );
      if (dryRun) return { stored: StoredObject.of(obj, current.rv), gone: false };
      const stored = this.store.put(key, obj, 'MODIFIED');
      if (key === NS_TYPE_KEY) this.#scheduleNamespaceCleanup(String(meta.name));
      if (key === CRD_TYPE_KEY) this.#scheduleCrdCleanup(obj);
      return { stored, gone: false };
    }
    if (dryRun) return { stored: current, gone: true };
    const stored = this.store.remove(key, obj);
    if (key === CRD_TYPE_KEY) this.#unregisterCrd(obj);
    return { stored, gone: true };
  }

  /**
   * Namespaces and CRDs carry a server-side finalizer: they disappear only
   * after their contents (namespaced objects, custom resources) are gone.
   */
  #keptByServer(key: string, obj: Json): boolean {
    if (key === NS_TYPE_KEY) {
      const spec = (obj.spec ?? {}) as Json;
      return Array.isArray(spec.finalizers) && spec.finalizers.length > 0;
    }
    if (key === CRD_TYPE_KEY) {
      const meta = obj.metadata as Json;
      return meta.deletionTimestamp === undefined || this.#crdHasInstances(obj);
    }
    return false;
  }

  #crdHasInstances(crd: Json): boolean {
    const type = customTypeOf(crd);
    return typeof type !== 'string' && this.store.count(storageKey(type)) > 0;
  }

  #checkNamespaceWritable(t: Target, name: string): void {
    const ns = this.store.get(NS_TYPE_KEY, '', t.namespace ?? '');
    if (!ns) throw notFound({ resource: 'namespaces', group: '' }, t.namespace ?? '');
    if (ns.deleting)
      throw forbidden(
        t.type,
        name,
        `unable to create new content in namespace ${t.namespace} because it is being terminated`,
        [
          {
            reason: 'NamespaceTerminating',
            message: `namespace ${t.namespace} is being terminated`,
            field: 'metadata.namespace',
          },
        ],
      );
  }

  #decodeBody(t: Target, body: unknown): Json {
    if (!isObject(body)) throw badRequest('the request body must be a JSON object');
    const obj = body;
    if (obj.kind !== undefined && obj.kind !== '' && obj.kind !== t.type.kind)
      throw badRequest(
        `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersionOf(t.type.group, t.version)})`,
      );
    obj.apiVersion = apiVersionOf(t.type.group, t.version);
    obj.kind = t.type.kind;
    if (obj.metadata !== undefined && !isObject(obj.metadata)) throw badRequest('metadata must be an object');
    return obj;
  }

  #prepareCrd(crd: Json): void {
    const type = customTypeOf(crd);
    const name = String((crd.metadata as Json).name ?? '');
    if (typeof type === 'string')
      throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', name, [
        { reason: 'FieldValueInvalid', message: type },
      ]);
    if (name !== `${type.resource}.${type.group}`)
      throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', name, [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${name}": must be spec.names.plural+"."+spec.group`,
          field: 'metadata.name',
        },
      ]);
    const existing = this.registry.byKey(storageKey(type));
    if (existing && !existing.custom)
      throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', name, [
        {
          reason: 'FieldValueInvalid',
          message: `${type.resource}.${type.group} is served by the API server itself`,
        },
      ]);
    const spec = crd.spec as Json;
    const storage = (spec.versions as Json[]).find((v) => v.storage === true) ?? (spec.versions as Json[])[0];
    const now = kubeNow();
    crd.status = {
      acceptedNames: spec.names,
      conditions: [
        {
          type: 'NamesAccepted',
          status: 'True',
          lastTransitionTime: now,
          reason: 'NoConflicts',
          message: 'no conflicts found',
        },
        {
          type: 'Established',
          status: 'True',
          lastTransitionTime: now,
          reason: 'InitialNamesAccepted',
          message: 'the initial names have been accepted',
        },
      ],
      storedVersions: [storage?.name],
    };
  }

  #unregisterCrd(crd: Json): void {
    const type = customTypeOf(crd);
    if (typeof type !== 'string') this.registry.unregisterCustom(type.group, type.resource);
  }

  #later(fn: () => void, ms: number): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#cleanupTimers.delete(timer);
      if (!this.#closed) fn();
    }, ms);
    this.#cleanupTimers.add(timer);
  }

  /**
   * The namespace controller: deletes every namespaced object of a terminating
   * namespace (objects with finalizers are marked and waited for), then drops
   * the `kubernetes` finalizer and the namespace itself.
   */
  #scheduleNamespaceCleanup(namespace: string): void {
    this.#later(() => {
      let remaining = 0;
      for (const type of this.registry.all()) {
        if (!type.namespaced) continue;
        const key = storageKey(type);
        for (const o of [...this.store.list(key, namespace)]) {
          const { gone } = this.#deleteStored(key, o, false);
          if (!gone) remaining++;
        }
      }
      if (remaining > 0) {
        this.#scheduleNamespaceCleanup(namespace);
        return;
      }
      const ns = this.store.get(NS_TYPE_KEY, '', namespace);
      if (!ns) return;
      const obj = JSON.parse(ns.json) as Json;
      obj.spec = { ...(obj.spec as Json), finalizers: [] };
      const meta = obj.metadata as Json;
      const finalizers = Array.isArray(meta.finalizers) ? meta.finalizers : [];
      if (finalizers.length === 0) this.store.remove(NS_TYPE_KEY, obj);
      else this.store.put(NS_TYPE_KEY, obj, 'MODIFIED');
    }, 50);
  }

  /** The CRD finalizer: deletes all instances, then the CRD and its served types. */
  #scheduleCrdCleanup(crd: Json): void {
    const name = String((crd.metadata as Json).name);
    this.#later(() => {
      const current = this.store.get(CRD_TYPE_KEY, '', name);
      if (!current) return;
      const type = customTypeOf(current.obj);
      let remaining = 0;
      if (typeof type !== 'string') {
        const key = storageKey(type);
        for (const o of [...this.store.list(key)]) if (!this.#deleteStored(key, o, false).gone) remaining++;
      }
      if (remaining > 0) {
        this.#scheduleCrdCleanup(crd);
        return;
      }
      const obj = JSON.parse(current.json) as Json;
      const meta = obj.metadata as Json;
      if (Array.isArray(meta.finalizers) && meta.finalizers.length > 0) return;
      this.store.remove(CRD_TYPE_KEY, obj);
      this.#unregisterCrd(obj);
    }, 20);
  }
}

/**
 * The sandbox has no authentication or authorization: every client is an
 * administrator, and the review APIs say exactly that.
 */
function answerReview(type: ResourceType, review: Json): Json {
  const meta = metaOf(review);
  meta.creationTimestamp = null;
  switch (type.kind) {
    case 'SelfSubjectAccessReview':
      review.status = { allowed: true, reason: 'the Cairn sandbox authorizes every request' };
      break;
    case 'SelfSubjectRulesReview':
      review.status = {
        resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
        nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
        incomplete: false,
      };
      break;
    case 'SelfSubjectReview':
      review.status = {
        userInfo: { username: 'cairn-sandbox-admin', groups: ['system:masters', 'system:authenticated'] },
      };
      break;
  }
  return review;
}

function setCrdCondition(crd: Json, type: string, status: string, reason: string, message: string): void {
  const st = isObject(crd.status) ? crd.status : {};
  const conditions = (Array.isArray(st.conditions) ? st.conditions : []).filter(
    (c) => isObject(c) && c.type !== type,
  );
  conditions.push({ type, status, lastTransitionTime: kubeNow(), reason, message });
  st.conditions = conditions;
  crd.status = st;
}

function specChanged(a: Json, b: Json): boolean {
  const strip = (o: Json) => {
    const { metadata: _m, status: _s, ...rest } = o;
    return JSON.stringify(rest);
  };
  return strip(a) !== strip(b);
}

function sameIgnoringManagedTimes(a: Json, b: Json): boolean {
  const strip = (o: Json) => {
    const meta = { ...(o.metadata as Json) };
    if (Array.isArray(meta.managedFields))
      meta.managedFields = meta.managedFields.map((m) => (isObject(m) ? { ...m, time: undefined } : m));
    return stableStringify({ ...o, metadata: meta });
  };
  return strip(a) === strip(b);
}

/** JSON with object keys sorted, so equal objects compare equal whatever their key order. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
