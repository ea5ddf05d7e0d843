/**
 * The resource backup engine, shared by the CLI (inline) and, later, the
 * controller. It lists every selected type page by page — types in parallel
 * under the connection's QPS budget — and streams each object straight into
 * the archive, so memory stays bounded whatever the cluster size. Files go up
 * while listing runs; `manifest.json` is written last, only after every other
 * file is stored and measured. A failure that stops the backup leaves no
 * manifest (the backup shows as incomplete); per-type problems are data in
 * `items.ndjson` and make the backup PartiallyFailed.
 */
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdCompress } from 'node:zlib';
import pino from 'pino';
import {
  BACKUP_FILES,
  BACKUP_MANIFEST_FORMAT,
  type BackupFileRecord,
  type BackupManifest,
  type BackupPhase,
  type BackupSpec,
  type CountByKey,
  type ItemResult,
} from '../catalog/backup-manifest.ts';
import { layout } from '../catalog/layout.ts';
import { readMarker } from '../catalog/location.ts';
import {
  type ArchivedItemRef,
  measuringStream,
  ResourceArchiveWriter,
  type StreamMeasure,
} from '../catalog/resource-archive.ts';
import { BufferPool, type PooledBytes } from '../cluster/buffer-pool.ts';
import type { ClusterConnection } from '../cluster/connection.ts';
import {
  discoverResources,
  groupResourceName,
  type ResourceType,
  resourcePath,
} from '../cluster/discovery.ts';
import { isKubeStatus, KubeApiError } from '../cluster/kube-api-error.ts';
import { CairnError } from '../errors/cairn-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { coalesce } from '../util/coalesce.ts';
import { forEachLimit } from '../util/rate-limit.ts';
import { jsonStringAt, type ListedItem, type ScannedListPage, scanListPage } from './list-page.ts';
import { SeenObjects } from './seen-objects.ts';
import { type BackupSelection, selectBackup } from './selection.ts';

export interface BackupProgress {
  readonly typesTotal: number;
  readonly typesDone: number;
  readonly items: number;
  readonly errors: number;
  /** The type just finished or being listed. */
  readonly current?: string;
}

export interface BackupRequest {
  readonly name: string;
  readonly spec: BackupSpec;
  readonly connection: ClusterConnection;
  /** The location's store (layout-guarded, retrying). */
  readonly store: BlobStore;
  /** Types listed at once (default 8). */
  readonly concurrency?: number;
  /** Objects per LIST page (default 500, as kubectl). */
  readonly pageSize?: number;
  readonly onProgress?: (progress: BackupProgress) => void;
  readonly createdBy?: string;
  readonly now?: () => Date;
}

interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    ownerReferences?: unknown[];
  };
  spec?: Record<string, unknown>;
  roleRef?: { kind?: string; name?: string };
}

interface KubeList {
  metadata?: { continue?: string; resourceVersion?: string };
  items?: KubeObject[];
}

const LINE_BATCH = 64 * 1024;

/** A streamed file of the backup on its way into the store. */
class BackupFileUpload {
  /**
   * Room for a few line batches: with the default 16 KiB, every 64 KiB batch made the listers
   * wait for this file's compressor once per page.
   */
  readonly input = new PassThrough({ highWaterMark: 1 << 20 });
  readonly measure: StreamMeasure;
  readonly #stored: Promise<unknown>;
  readonly contentType: string;
  #lines: string[] = [];
  #lineChars = 0;
  #drained: Promise<void> | undefined;

  constructor(store: BlobStore, key: string, contentType: string, source?: Readable) {
    this.contentType = contentType;
    const { stream, result } = measuringStream();
    this.measure = result;
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    if (source === undefined) {
      const compressed = pipeline(this.input, coalesce(64 * 1024), createZstdCompress(), stream, body);
      compressed.catch((err: Error) => body.destroy(err));
    } else {
      const measured = pipeline(source, stream, body);
      measured.catch((err: Error) => body.destroy(err));
    }
    this.#stored = store.put(key, body, { contentType });
    // If storing fails, break the chain feeding it, so producers get an error instead of waiting forever.
    this.#stored.catch((err: Error) => {
      body.destroy(err);
      (source ?? this.input).destroy(err);
    });
  }

  /**
   * Adds one ndjson line. Lines are gathered and written 64 KiB at a time: a stream write per
   * line (100k of them) cost more than the lines themselves.
   */
  appendLine(value: unknown): void {
    const line = `${JSON.stringify(value)}\n`;
    this.#lines.push(line);
    this.#lineChars += line.length;
    if (this.#lineChars >= LINE_BATCH) this.#flushLines();
  }

  /** Resolves when the file can take more lines (backpressure); rejects when it failed. */
  ready(): Promise<void> {
    if (this.input.destroyed)
      return Promise.reject(this.input.errored ?? new Error('the backup file stream was closed'));
    if (!this.input.writableNeedDrain) return Promise.resolve();
    // One waiter for all listers (a listener each would pile up on the stream).
    this.#drained ??= once(this.input, 'drain').then(
      () => {
        this.#drained = undefined;
      },
      (err: unknown) => {
        this.#drained = undefined;
        throw err;
      },
    );
    return this.#drained;
  }

  /** Ends the file (after its last line). */
  end(): void {
    this.#flushLines();
    this.input.end();
  }

  #flushLines(): void {
    if (this.#lines.length === 0) return;
    const text = this.#lines.join('');
    this.#lines = [];
    this.#lineChars = 0;
    if (!this.input.destroyed) this.input.write(text);
  }

  /** Resolves when the file is stored; rejects when storing failed. */
  async done(): Promise<BackupFileRecord> {
    await this.#stored;
    return { size: this.measure.size, sha256: this.measure.sha256, contentType: this.contentType };
  }
}

/**
 * Runs one backup to completion and returns its manifest. Throws (writing no
 * manifest) when the backup cannot be made at all: name taken, location not
 * initialised or read-only, cluster unreachable.
 */
export async function runBackup(request: BackupRequest): Promise<BackupManifest> {
  const { name, spec, connection, store } = request;
  const now = request.now ?? (() => new Date());
  const started = now();

  await assertWritableLocation(store);
  await assertNameFree(store, name);

  const discovery = await discoverResources(connection, { allVersions: spec.allVersions });
  const namespaceList = await connection.request<KubeList>('GET', '/api/v1/namespaces');
  const namespaceNames = (namespaceList.items ?? []).flatMap((n) =>
    n.metadata?.name ? [n.metadata.name] : [],
  );
  const selection = selectBackup(spec, discovery.types, namespaceNames);

  const archive = new ResourceArchiveWriter({ mtime: started });
  const resourcesUpload = new BackupFileUpload(
    store,
    layout.backupFile(name, BACKUP_FILES.resources),
    'application/zstd',
    archive.readable,
  );
  const itemsUpload = new BackupFileUpload(
    store,
    layout.backupFile(name, BACKUP_FILES.items),
    'application/zstd',
  );
  const logUpload = new BackupFileUpload(
    store,
    layout.backupFile(name, BACKUP_FILES.log),
    'application/zstd',
  );
  const log = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, logUpload.input);

  const perResource: CountByKey = {};
  const perNamespace: CountByKey = {};
  let itemsBackedUp = 0;
  let errors = 0;
  let warnings = 0;
  let uncompressedBytes = 0;
  let typesDone = 0;
  /** Cluster-scoped objects referenced by backed-up namespaced ones (auto mode). */
  const related = new Map<string, Set<string>>();
  /** Custom resource group-resources that had items (their CRDs are pulled in). */
  const customWithItems = new Set<string>();
  const crdNames = await customResourceDefinitions(connection);

  const record = (result: ItemResult) => {
    if (result.outcome === 'failed') errors++;
    itemsUpload.appendLine(result);
  };

  /** Archives one object given as its JSON bytes; `object` is the parsed object when it was needed anyway. */
  const archiveObject = (
    type: ResourceType,
    metadata: ObjectMetadata,
    json: Uint8Array | readonly Uint8Array[],
    object?: KubeObject,
  ) => {
    if (metadata.name === undefined) return;
    const gr = groupResourceName(type);
    const ref: ArchivedItemRef = {
      group: type.group,
      version: type.version,
      resource: type.resource,
      name: metadata.name,
      ...(type.namespaced && metadata.namespace !== undefined ? { namespace: metadata.namespace } : {}),
    };
    uncompressedBytes += archive.append(ref, json);
    itemsBackedUp++;
    perResource[gr] = (perResource[gr] ?? 0) + 1;
    const ns = metadata.namespace ?? '';
    perNamespace[ns] = (perNamespace[ns] ?? 0) + 1;
    if (crdNames.has(gr)) customWithItems.add(gr);
    if (selection.clusterMode === 'related' && object !== undefined) noteRelated(type, object, related);
    record({
      resource: gr,
      ...(ns ? { namespace: ns } : {}),
      name: metadata.name,
      outcome: 'backed-up',
    });
  };

  /** An object read on its own (GET): serialised here, with the apiVersion/kind a restore needs. */
  const addObject = async (type: ResourceType, object: KubeObject) => {
    const full = { apiVersion: apiVersionOf(type), kind: type.kind, ...object };
    archiveObject(type, object.metadata ?? {}, Buffer.from(JSON.stringify(full)), object);
    await Promise.all([archive.ready(), itemsUpload.ready()]);
  };

  /** The items of one LIST page, stored as the server sent them. */
  const addListed = (type: ResourceType, page: ListPage) => {
    const wantsBody = selection.clusterMode === 'related' && RELATED_SOURCES.has(groupResourceName(type));
    for (const item of page.items) {
      const raw = page.bytes.subarray(item.start, item.end);
      const object = wantsBody ? (JSON.parse(raw.toString('utf8')) as KubeObject) : undefined;
      archiveObject(type, item.meta, withTypeFields(type, item, raw), object);
    }
  };

  const tasks = listTasks(selection);
  const typesTotal = tasks.length;
  const progress = (current?: string) =>
    request.onProgress?.({
      typesTotal,
      typesDone,
      items: itemsBackedUp,
      errors,
      ...(current ? { current } : {}),
    });
  log.info(
    { backup: name, spec, server: connection.server, types: typesTotal, namespaces: selection.namespaces },
    'backup started',
  );
  for (const failed of discovery.failedGroupVersions) {
    warnings++;
    log.warn(failed, 'API group version did not answer discovery; its types are not backed up');
    // A warning, as kubectl and Velero treat it: an aggregated API whose backend is down must
    // not fail the backup of everything else — but the skipped group is on record.
    record({
      resource: failed.groupVersion,
      name: '*',
      outcome: 'skipped',
      message: `discovery failed: ${failed.message}`,
    });
  }

  let phase: BackupPhase;
  let stored: [BackupFileRecord, BackupFileRecord, BackupFileRecord];
  const concurrency = request.concurrency ?? 8;
  // Each lister holds a page and the next one on its way.
  const pagePool = new BufferPool(2 * concurrency + 2);
  try {
    await forEachLimit(tasks, concurrency, async (task) => {
      const gr = groupResourceName(task.type);
      try {
        const count = await listAll(
          connection,
          pagePool,
          task.type,
          task.namespace,
          spec.labelSelectors,
          request.pageSize ?? 500,
          async (page) => {
            addListed(task.type, page);
            await Promise.all([archive.ready(), itemsUpload.ready()]);
          },
        );
        log.info({ resource: gr, version: task.type.version, namespace: task.namespace, count }, 'listed');
      } catch (err) {
        if (!(err instanceof KubeApiError)) throw err; // unreachable cluster, storage failure: stop the backup
        log.error(
          { resource: gr, namespace: task.namespace, status: err.status, message: err.message },
          'list failed',
        );
        record({
          resource: gr,
          ...(task.namespace ? { namespace: task.namespace } : {}),
          name: '*',
          outcome: 'failed',
          message: err.message,
        });
      }
      typesDone++;
      progress(gr);
    });

    // Cluster-scoped objects that namespaced ones need, and CRDs of backed-up custom resources.
    if (selection.clusterMode !== 'none') {
      for (const gr of customWithItems) {
        const crd = crdNames.get(gr);
        if (crd !== undefined) addRelated(related, 'customresourcedefinitions.apiextensions.k8s.io', crd);
      }
    }
    if (selection.clusterMode === 'related') {
      for (const ns of selection.namespaces === 'all' ? [] : selection.namespaces)
        addRelated(related, 'namespaces', ns);
    }
    for (const [gr, objectNames] of related) {
      const type = discovery.types.find((t) => groupResourceName(t) === gr && t.preferred);
      if (type === undefined) continue;
      if (selection.clusterMode === 'all' && selection.includedResources.has(gr)) continue; // already listed whole
      if (selection.excludedResources.has(gr)) continue; // the user said no, even for dependencies
      for (const objectName of objectNames) {
        try {
          const object = await connection.request<KubeObject>(
            'GET',
            resourcePath(type, undefined, objectName),
          );
          await addObject(type, object);
        } catch (err) {
          if (!(err instanceof KubeApiError)) throw err;
          log.error(
            { resource: gr, name: objectName, message: err.message },
            'related object could not be read',
          );
          record({ resource: gr, name: objectName, outcome: 'failed', message: err.message });
        }
      }
    }

    phase = errors === 0 ? 'Completed' : itemsBackedUp > 0 ? 'PartiallyFailed' : 'Failed';
    log.info({ items: itemsBackedUp, errors, warnings, phase }, 'backup finished');
    // Inside the try: a storage failure may surface only here (the listing outran it), and it
    // must be reported as the cause, not as the closed stream the archive saw.
    await archive.finish();
    itemsUpload.end();
    logUpload.input.end();
    stored = await Promise.all([resourcesUpload.done(), itemsUpload.done(), logUpload.done()]);
  } catch (err) {
    const stop = err instanceof Error ? err : new Error(String(err));
    archive.abort(stop);
    itemsUpload.input.destroy(stop);
    logUpload.input.destroy(stop);
    const uploads = await Promise.allSettled([resourcesUpload.done(), itemsUpload.done(), logUpload.done()]);
    // When storage failed, the listing only saw a closed stream: report the storage error, the cause.
    const storageFailure = uploads.find((u): u is PromiseRejectedResult => u.status === 'rejected');
    throw storageFailure !== undefined && !(err instanceof CairnError) ? storageFailure.reason : err;
  }

  const [resources, items, logFile] = stored;

  const completed = now();
  const manifest: BackupManifest = {
    apiVersion: 'cairn.dev/v1alpha1',
    kind: 'BackupManifest',
    formatVersion: BACKUP_MANIFEST_FORMAT,
    name,
    spec,
    cluster: {
      server: connection.server,
      context: connection.contextName,
      ...(discovery.serverVersion === undefined ? {} : { version: discovery.serverVersion }),
    },
    status: {
      phase,
      startedAt: started.toISOString(),
      completedAt: completed.toISOString(),
      durationMs: completed.getTime() - started.getTime(),
      itemsBackedUp,
      errors,
      warnings,
      resourceTypes: Object.keys(perResource).length,
      perResource: sortedCounts(perResource),
      perNamespace: sortedCounts(perNamespace),
      uncompressedBytes,
    },
    files: { [BACKUP_FILES.resources]: resources, [BACKUP_FILES.items]: items, [BACKUP_FILES.log]: logFile },
    createdBy: request.createdBy ?? 'cairn',
  };
  // LAST: its presence is what makes the backup complete.
  await store.put(layout.backupManifest(name), `${JSON.stringify(manifest, null, 2)}\n`, {
    contentType: 'application/json',
  });
  return manifest;
}

function sortedCounts(counts: CountByKey): CountByKey {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

interface ListTask {
  readonly type: ResourceType;
  readonly namespace?: string;
}

function listTasks(selection: BackupSelection): ListTask[] {
  const tasks: ListTask[] = [];
  for (const type of selection.namespacedTypes) {
    if (selection.namespaces === 'all') tasks.push({ type });
    else for (const namespace of selection.namespaces) tasks.push({ type, namespace });
  }
  for (const type of selection.clusterTypes) tasks.push({ type });
  return tasks;
}

/** The metadata fields the backup reads from each listed object. */
interface ObjectMetadata {
  name?: string;
  namespace?: string;
}

/**
 * One LIST page: its bytes and, for each new object, where it lies and its metadata. The bytes
 * are a pooled buffer, reused once the page's handler is done: keep copies, not views.
 */
interface ListPage {
  readonly bytes: Buffer;
  readonly items: readonly ListedObject[];
}

interface ListedObject extends ListedItem {
  meta: ObjectMetadata;
}

/**
 * Lists a collection page by page (limit/continue), handing each page on as
 * bytes with the position and metadata of every object not seen before. A
 * 410 Expired continue token restarts the listing. Several label selectors
 * are OR-ed: one listing each.
 */
async function listAll(
  connection: ClusterConnection,
  pool: BufferPool,
  type: ResourceType,
  namespace: string | undefined,
  labelSelectors: readonly string[],
  limit: number,
  onPage: (page: ListPage) => Promise<void>,
): Promise<number> {
  const path = resourcePath(type, namespace);
  let count = 0;
  // OR-ed selectors and a relist after 410 can return an object twice (see SeenObjects). What is
  // remembered lives for this collection's listing only.
  const seen = new SeenObjects(labelSelectors.length > 1);
  for (const labelSelector of labelSelectors.length === 0 ? [undefined] : labelSelectors) {
    const fetchPage = (continueToken: string | undefined): Promise<PooledBytes> => {
      const page = connection.requestPooled('GET', path, {
        query: { limit, continue: continueToken, labelSelector },
        pool,
      });
      page.catch(() => {}); // awaited below; never an unhandled rejection while a page is processed
      return page;
    };
    let restarts = 0;
    let continueToken: string | undefined;
    let next = fetchPage(undefined);
    for (;;) {
      let page: PooledBytes;
      try {
        page = await next;
      } catch (err) {
        // The snapshot expired: list again from the start, unless what was stored then can't be told.
        if (isKubeStatus(err, 410) && continueToken !== undefined && restarts < 3 && seen.relist()) {
          restarts++;
          continueToken = undefined;
          next = fetchPage(undefined);
          continue;
        }
        throw err;
      }
      const { bytes } = page;
      const { scanned, listMeta } = readListPage(bytes, path);
      continueToken = listMeta.continue || undefined;
      // The next page is asked for before this one is archived: a big type is a chain of pages,
      // each waiting for the previous one's continue token, and archiving a page (and waiting for
      // the compressor) while the next one is on its way takes that work off the chain. Measured:
      // 100k objects, the 116-page ConfigMap chain set the backup's length.
      if (continueToken !== undefined) next = fetchPage(continueToken);
      const items: ListedObject[] = [];
      for (const item of scanned.items) {
        const meta: ObjectMetadata = {};
        if (item.name !== undefined) meta.name = jsonStringAt(bytes, item.name);
        if (item.namespace !== undefined) meta.namespace = jsonStringAt(bytes, item.namespace);
        if (!seen.add(meta.namespace, meta.name)) continue;
        count++;
        (item as ListedObject).meta = meta; // the scan's own object, extended (no copy per item)
        items.push(item as ListedObject);
      }
      await onPage({ bytes, items });
      page.release(); // onPage copied what it keeps
      if (continueToken === undefined) break;
    }
  }
  return count;
}

/** Scans a LIST answer; a page the scan cannot read stops the backup (the server sent broken JSON). */
function readListPage(
  bytes: Buffer,
  path: string,
): { scanned: ScannedListPage; listMeta: { continue?: string } } {
  try {
    const scanned = scanListPage(bytes);
    const listMeta =
      scanned.metadata === undefined
        ? {}
        : (JSON.parse(bytes.toString('utf8', scanned.metadata.start, scanned.metadata.end)) as {
            continue?: string;
          });
    return { scanned, listMeta };
  } catch (err) {
    throw new CairnError(
      'KUBE_BAD_RESPONSE',
      `GET ${path}: the API server answered with a list that is not valid JSON (${(err as Error).message})`,
      {
        hint: 'Check the API server (or a proxy in front of it); the backup stopped and was left incomplete.',
      },
    );
  }
}

function apiVersionOf(type: ResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/**
 * The stored bytes of a listed object. LIST items of built-in types carry no
 * apiVersion/kind, and a restore needs them: they are put in front of the
 * server's bytes (`{"apiVersion":…,"kind":…,` + the rest of the object), so
 * nothing is serialised again.
 */
function withTypeFields(type: ResourceType, item: ListedItem, raw: Buffer): Buffer | Buffer[] {
  if (item.hasApiVersion && item.hasKind) return raw;
  const head =
    '{' +
    (item.hasApiVersion ? '' : `"apiVersion":${JSON.stringify(apiVersionOf(type))},`) +
    (item.hasKind ? '' : `"kind":${JSON.stringify(type.kind)},`);
  return [Buffer.from(head), raw.subarray(1)];
}

/** Types whose objects reference cluster-scoped ones that `includeClusterResources: auto` pulls in. */
const RELATED_SOURCES: ReadonlySet<string> = new Set([
  'persistentvolumeclaims',
  'rolebindings.rbac.authorization.k8s.io',
]);

function addRelated(related: Map<string, Set<string>>, gr: string, name: string): void {
  const names = related.get(gr) ?? new Set<string>();
  names.add(name);
  related.set(gr, names);
}

/** Cluster-scoped objects a namespaced object depends on, for `includeClusterResources: auto`. */
function noteRelated(type: ResourceType, object: KubeObject, related: Map<string, Set<string>>): void {
  const gr = groupResourceName(type);
  if (gr === 'persistentvolumeclaims') {
    const volumeName = object.spec?.volumeName;
    if (typeof volumeName === 'string' && volumeName) addRelated(related, 'persistentvolumes', volumeName);
    const storageClass = object.spec?.storageClassName;
    if (typeof storageClass === 'string' && storageClass)
      addRelated(related, 'storageclasses.storage.k8s.io', storageClass);
  }
  if (
    gr === 'rolebindings.rbac.authorization.k8s.io' &&
    object.roleRef?.kind === 'ClusterRole' &&
    object.roleRef.name
  ) {
    addRelated(related, 'clusterroles.rbac.authorization.k8s.io', object.roleRef.name);
  }
}

/** Maps `plural.group` of every custom resource type to its CRD's name. */
async function customResourceDefinitions(connection: ClusterConnection): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  try {
    const list = await connection.request<{
      items?: { metadata?: { name?: string }; spec?: { group?: string; names?: { plural?: string } } }[];
    }>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
    for (const crd of list.items ?? []) {
      const { group, names } = crd.spec ?? {};
      if (group && names?.plural && crd.metadata?.name)
        map.set(`${names.plural}.${group}`, crd.metadata.name);
    }
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err; // no CRD API or no permission: no custom resources to pair
  }
  return map;
}

async function assertWritableLocation(store: BlobStore): Promise<void> {
  const marker = await readMarker(store);
  if (marker.state !== 'ok') {
    throw new CairnError(
      marker.state === 'missing' ? 'LOCATION_NOT_INITIALIZED' : 'LOCATION_MARKER_INVALID',
      `${store.description} is not a usable Cairn location (marker ${marker.state})`,
      { hint: 'Run `cairn location check` on it; initialise an empty location with `cairn location init`.' },
    );
  }
}

async function assertNameFree(store: BlobStore, name: string): Promise<void> {
  for await (const _ of store.list(layout.backupPrefix(name))) {
    throw new CairnError(
      'BACKUP_ALREADY_EXISTS',
      `a backup named "${name}" already exists in ${store.description}`,
      {
        hint: 'Backups are never overwritten. Pick another name (or delete the old backup with `cairn backup delete`).',
      },
    );
  }
}
