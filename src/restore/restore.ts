/**
 * Restoring a backup into a cluster. Everything that can refuse the restore
 * happens before the first write: the manifest and every file's size and
 * SHA-256, the whole archive read through the hostile-entry checks, filters
 * resolved, every type checked to be served (or defined by a CRD the restore
 * brings). Then the plan runs tier by tier (see `order.ts`), in parallel within
 * a tier, each object reported on its own.
 *
 * Owner references: a child's reference to an owner that is restored too
 * cannot keep the old uid — the garbage collector deletes dependents whose
 * owner uid does not exist — and the new uid is only known once the owner was
 * created, possibly in a later tier. So children are created without those
 * references, and once every tier ran they get them back, rewritten to the
 * owners' new uids (one merge patch each). References to owners outside the
 * restore are kept only when that owner is live with the same uid (an
 * in-place restore); otherwise they are dropped and the result says so.
 * Objects whose controller is itself restored (pods of ReplicaSets,
 * ReplicaSets of Deployments, Jobs of CronJobs) are skipped: their controller
 * makes them anew.
 *
 * Memory: prepared objects are spilled to a temp file (`spill.ts`); the plan
 * keeps an offset/length and a few small fields per object — about 24 MB of
 * live heap for plan and results of 100k objects.
 */

import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupManifest } from '../catalog/backup-manifest.ts';
import { groupResource, readResourceArchive } from '../catalog/resource-archive.ts';
import type { ClusterConnection } from '../cluster/connection.ts';
import {
  discoverResources,
  groupResourceName,
  type ResourceType,
  resolveResourceNames,
  resourcePath,
} from '../cluster/discovery.ts';
import { isKubeStatus, KubeApiError } from '../cluster/kube-api-error.ts';
import { CairnError } from '../errors/cairn-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { forEachLimit } from '../util/rate-limit.ts';
import { objectDiff } from './diff.ts';
import { parseLabelSelector } from './label-selector.ts';
import { type ExistingResourcePolicy, namespaceMatcher, type RestoreOptions } from './options.ts';
import { CRD_TIER, NON_RESTORABLE, TIER_NAMES, tierOf } from './order.ts';
import {
  carryAllocatedFields,
  comparableObject,
  jsonEqual,
  type KubeObject,
  labelsOf,
  type OwnerReference,
  ownerReferencesOf,
  prepareObject,
  uidOf,
} from './prepare.ts';
import {
  compareResults,
  countOutcomes,
  type RestoreAction,
  type RestoreItemResult,
  type RestoreOutcome,
  type RestoreSummary,
} from './results.ts';
import { fetchVerifiedBackup, requireBackupManifest } from './source.ts';
import { ObjectSpill, type SpillRef } from './spill.ts';

export interface RestoreInput {
  readonly connection: ClusterConnection;
  readonly store: BlobStore;
  readonly backupName: string;
  readonly restoreName: string;
  readonly options: RestoreOptions;
  /** Progress lines for people (tier starts, waits). */
  readonly onProgress?: (line: string) => void;
  /** Called as each planned object gets its result (the controller writes it into the Restore's status). */
  readonly onItemDone?: (progress: RestoreItemsProgress) => void;
  /** Where the verified archive is kept while restoring (default: the OS temp dir). */
  readonly tempRoot?: string;
}

/** How far the restore is through its plan. */
export interface RestoreItemsProgress {
  readonly itemsTotal: number;
  readonly itemsDone: number;
}

export interface RestoreOutput {
  readonly summary: RestoreSummary;
  /** One result per object, sorted by type, namespace, name. */
  readonly items: RestoreItemResult[];
}

const CRD_GR = 'customresourcedefinitions.apiextensions.k8s.io';

/** One object of the plan. */
interface PlannedItem {
  readonly gr: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  /** Target namespace (mapped). */
  readonly namespace: string | undefined;
  /** Target name (mapped for namespaces). */
  readonly name: string;
  /** The uid in the backup; after planning kept only when a restored object names it as its owner. */
  oldUid: string | undefined;
  readonly owners: OwnerReference[];
  /** The prepared object (and the original `.status` when it is restored): spilled, or inline for the few made here. */
  readonly body: SpillRef | PlannedBody;
  tier: number;
  // What happened, kept as fields rather than a result object per item: objects made while the
  // restore runs and kept to its end are what made V8 grow the young generation to its maximum.
  action?: RestoreAction;
  outcome?: RestoreOutcome;
  message?: string | undefined;
  diff?: readonly string[] | undefined;
  /** Owner references to restore after all tiers (owners in the restore set). */
  deferredOwners?: OwnerReference[];
  keptOwners?: OwnerReference[];
}

/** The item's result, when it has one. */
function resultOf(item: PlannedItem): RestoreItemResult | undefined {
  if (item.outcome === undefined || item.action === undefined) return undefined;
  return {
    resource: item.gr,
    ...(item.namespace === undefined ? {} : { namespace: item.namespace }),
    name: item.name,
    action: item.action,
    outcome: item.outcome,
    ...(item.message === undefined ? {} : { message: item.message }),
    ...(item.diff === undefined || item.diff.length === 0 ? {} : { diff: item.diff }),
  };
}

function setResult(item: PlannedItem, result: RestoreItemResult): void {
  item.action = result.action;
  item.outcome = result.outcome;
  item.message = result.message;
  item.diff = result.diff;
}

/** What a planned object's body holds. */
interface PlannedBody {
  readonly object: KubeObject;
  /** Original `.status`, when it is to be restored. */
  readonly status?: unknown;
}

interface LiveOwner {
  readonly uid: string;
}

function kubeMessage(err: unknown): string {
  if (err instanceof KubeApiError) return err.kubeStatus?.message ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The live object is on its way out (deletion pending, or a namespace terminating). */
function terminating(item: { gr: string }, live: KubeObject): boolean {
  if ((live.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp !== undefined)
    return true;
  return item.gr === 'namespaces' && (live.status as { phase?: string } | undefined)?.phase === 'Terminating';
}

function crdOf(item: { group: string; resource: string }): string {
  return `${item.resource}.${item.group}`;
}

/** Synthesised discovery entries for the group-resources a backup holds, so filters can name them. */
function typesFromManifest(manifest: BackupManifest, known: readonly ResourceType[]): ResourceType[] {
  const names = new Set(known.map(groupResourceName));
  const out: ResourceType[] = [];
  for (const gr of Object.keys(manifest.status?.perResource ?? {})) {
    if (names.has(gr)) continue;
    const dot = gr.indexOf('.');
    const resource = dot === -1 ? gr : gr.slice(0, dot);
    out.push({
      group: dot === -1 ? '' : gr.slice(dot + 1),
      version: '',
      resource,
      kind: resource,
      namespaced: true,
      verbs: [],
      shortNames: [],
      singularName: resource,
      categories: [],
      preferred: true,
    });
  }
  return out;
}

/** One object's apply: what to compare with, what to send, and the step reached (for the failure's action). */
interface ApplyWork {
  readonly desired: KubeObject;
  readonly toCreate: KubeObject;
  readonly status: unknown;
  readonly notes: string[];
  readonly step: { action: RestoreAction };
}

const NO_OWNERS: OwnerReference[] = [];
const interned = new Map<string, string>();

/** One copy of each of the few distinct type/namespace strings, however many objects share them. */
function intern(value: string): string {
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size < 100_000) interned.set(value, value);
  return value;
}

/** Runs a restore (or, with `dryRun`, plans it); throws only for hard stops before anything was applied. */
export async function runRestore(input: RestoreInput): Promise<RestoreOutput> {
  const { connection, store, options } = input;
  const progress = input.onProgress ?? (() => {});
  const startedAt = new Date();
  const manifest = await requireBackupManifest(store, input.backupName);
  const tempDir = await mkdtemp(join(input.tempRoot ?? tmpdir(), 'cairn-restore-'));
  try {
    const verified = await fetchVerifiedBackup(store, manifest, tempDir);
    progress(`backup ${manifest.name}: ${Object.keys(manifest.files).length} files verified (size, SHA-256)`);
    const discovery = await discoverResources(connection);
    const spill = await ObjectSpill.create(join(tempDir, 'plan.json'));
    try {
      const plan = await buildPlan({
        connection,
        manifest,
        archiveFile: verified.resourcesFile,
        options,
        types: discovery.types,
        spill,
      });
      await spill.flush();
      let itemsDone = 0;
      const onItemDone = input.onItemDone;
      const itemDone =
        onItemDone === undefined
          ? undefined
          : () => onItemDone({ itemsTotal: plan.items.length, itemsDone: ++itemsDone });
      const executor = new PlanExecutor(
        connection,
        options,
        plan,
        discovery.types,
        progress,
        spill,
        itemDone,
      );
      await executor.run();
      return finishRestore(input, manifest, plan, startedAt);
    } finally {
      await spill.close();
    }
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}

/** The results sorted and counted, and the summary. */
function finishRestore(
  input: RestoreInput,
  manifest: BackupManifest,
  plan: Plan,
  startedAt: Date,
): RestoreOutput {
  const { connection, options } = input;
  const items = plan.results;
  for (const item of plan.items) {
    const result = resultOf(item);
    if (result !== undefined) items.push(result);
  }
  items.sort(compareResults);
  const { totals, perResource } = countOutcomes(items);
  const completedAt = new Date();
  const summary: RestoreSummary = {
    apiVersion: 'cairn.dev/v1alpha1',
    kind: 'RestoreSummary',
    formatVersion: 1,
    name: input.restoreName,
    backup: manifest.name,
    phase: totals.failed > 0 ? 'PartiallyFailed' : 'Completed',
    dryRun: options.dryRun,
    cluster: { server: connection.server, context: connection.contextName },
    startedAt: startedAt.toISOString(),
    completedAt: completedAt.toISOString(),
    durationMs: completedAt.getTime() - startedAt.getTime(),
    options: {
      includeNamespaces: options.includeNamespaces,
      excludeNamespaces: options.excludeNamespaces,
      includeResources: options.includeResources,
      excludeResources: options.excludeResources,
      labelSelector: options.labelSelector,
      namespaceMapping: options.namespaceMapping,
      storageClassMapping: options.storageClassMapping,
      existingResourcePolicy: options.existingResourcePolicy,
      restoreStatus: options.restoreStatus,
    },
    totals,
    perResource,
    notRestored: plan.notRestored,
  };
  return { summary, items };
}

interface Plan {
  readonly items: PlannedItem[];
  /** Results decided while planning (controller-owned objects). */
  readonly results: RestoreItemResult[];
  readonly notRestored: Record<string, number>;
  readonly policyFor: (gr: string) => ExistingResourcePolicy;
  /** Old uids of the objects in the restore set that other restored objects name as their owner. */
  readonly restoredUids: ReadonlySet<string>;
}

interface PlanInput {
  readonly connection: ClusterConnection;
  readonly manifest: BackupManifest;
  readonly archiveFile: string;
  readonly spill: ObjectSpill;
  readonly options: RestoreOptions;
  readonly types: readonly ResourceType[];
}

interface ArchivedCandidate {
  readonly item: PlannedItem;
  readonly labels: Record<string, string>;
  /** The original Namespace name / CRD name (for pulling in). */
  readonly originalName: string;
  readonly crdVersions?: readonly string[];
}

async function buildPlan(input: PlanInput): Promise<Plan> {
  const { options, types } = input;
  const resolverTypes = [...types, ...typesFromManifest(input.manifest, types)];
  const resolve = (names: readonly string[]) =>
    names.length === 0 ? undefined : resolveResourceNames(resolverTypes, names);
  const includeTypes = resolve(options.includeResources);
  const excludeTypes = resolve(options.excludeResources) ?? new Set<string>();
  const statusTypes = resolve(options.restoreStatus) ?? new Set<string>();
  const perType = new Map<string, ExistingResourcePolicy>();
  for (const [name, policy] of Object.entries(options.existingResourcePolicy.perType))
    for (const gr of resolveResourceNames(resolverTypes, [name])) perType.set(gr, policy);
  const policyFor = (gr: string) => perType.get(gr) ?? options.existingResourcePolicy.default;
  const includeNs =
    options.includeNamespaces.length > 0 ? namespaceMatcher(options.includeNamespaces) : undefined;
  const excludeNs = namespaceMatcher(options.excludeNamespaces);
  const selector = parseLabelSelector(options.labelSelector);
  const nsWanted = (ns: string) => (includeNs === undefined || includeNs(ns)) && !excludeNs(ns);
  const typeWanted = (gr: string) =>
    (includeTypes === undefined || includeTypes.has(gr)) && !excludeTypes.has(gr);

  const included: PlannedItem[] = [];
  const crds = new Map<string, ArchivedCandidate>();
  const namespaces = new Map<string, ArchivedCandidate>();
  const notRestored: Record<string, number> = {};
  // Reading the whole archive here is also what runs every hostile-entry check before any write.
  for await (const archived of readResourceArchive(createReadStream(input.archiveFile))) {
    const { ref, object } = archived;
    const gr = groupResource(ref.group, ref.resource);
    if (NON_RESTORABLE.has(gr)) {
      notRestored[gr] = (notRestored[gr] ?? 0) + 1;
      continue;
    }
    const prepared = prepareObject({
      groupResource: gr,
      object,
      keepStatus: false,
      namespaceMapping: options.namespaceMapping,
      storageClassMapping: options.storageClassMapping,
    });
    const meta = prepared.metadata as { name: string; namespace?: string };
    const keepStatus =
      (statusTypes.has(gr) || options.restoreStatus.includes('*')) && object.status !== undefined;
    const owners = ownerReferencesOf(object);
    const item: PlannedItem = {
      gr: intern(gr),
      group: intern(ref.group),
      version: intern(ref.version),
      resource: intern(ref.resource),
      namespace: ref.namespace === undefined ? undefined : intern(meta.namespace as string),
      name: meta.name,
      oldUid: uidOf(object),
      owners: owners.length === 0 ? NO_OWNERS : owners,
      body: await input.spill.append(
        keepStatus ? { object: prepared, status: object.status } : { object: prepared },
      ),
      tier: 0,
    };
    const labels = labelsOf(object);
    const candidate: ArchivedCandidate = { item, labels, originalName: ref.name };
    if (gr === CRD_GR) {
      const spec = object.spec as { versions?: { name?: string; served?: boolean }[] } | undefined;
      crds.set(ref.name, {
        ...candidate,
        crdVersions: (spec?.versions ?? []).filter((v) => v.served !== false).flatMap((v) => v.name ?? []),
      });
    }
    if (gr === 'namespaces') namespaces.set(ref.name, candidate);
    const inNamespace = ref.namespace ?? (gr === 'namespaces' ? ref.name : undefined);
    if (!typeWanted(gr)) continue;
    if (inNamespace !== undefined && !nsWanted(inNamespace)) continue;
    if (!selector(labels)) continue;
    included.push(item);
  }

  // Objects whose controller is restored too are made again by that controller.
  const includedUids = new Set(included.flatMap((i) => (i.oldUid === undefined ? [] : [i.oldUid])));
  const results: RestoreItemResult[] = [];
  const items: PlannedItem[] = [];
  for (const item of included) {
    const controller = item.owners.find((o) => o.controller === true && includedUids.has(o.uid));
    if (controller === undefined) items.push(item);
    else
      results.push({
        resource: item.gr,
        ...(item.namespace === undefined ? {} : { namespace: item.namespace }),
        name: item.name,
        action: 'skip',
        outcome: 'skipped',
        message: `controlled by ${controller.kind} ${controller.name}, which is restored (its controller makes it again)`,
      });
  }

  // Every type must be served, or defined by a CRD this restore brings (pulled in when filtered out).
  const served = new Set(types.map((t) => `${t.group}/${t.version}/${t.resource}`));
  const clusterCrds = await listCrdNames(input.connection);
  const planned = new Set(items);
  const problems: string[] = [];
  const missing = new Map<string, { group: string; version: string; resource: string; count: number }>();
  for (const item of items) {
    const key = `${item.group}/${item.version}/${item.resource}`;
    if (served.has(key)) continue;
    const entry = missing.get(key) ?? {
      group: item.group,
      version: item.version,
      resource: item.resource,
      count: 0,
    };
    entry.count++;
    missing.set(key, entry);
  }
  const customGrs = new Set<string>();
  for (const { group, version, resource, count } of missing.values()) {
    const gv = group === '' ? version : `${group}/${version}`;
    const crdName = `${resource}.${group}`;
    const fromBackup = group === '' ? undefined : crds.get(crdName);
    if (fromBackup !== undefined && !excludeTypes.has(CRD_GR)) {
      if (!(fromBackup.crdVersions ?? []).includes(version)) {
        problems.push(
          `the backup's CustomResourceDefinition ${crdName} does not serve ${version}, which ${count} object(s) use`,
        );
        continue;
      }
      if (!planned.has(fromBackup.item)) {
        planned.add(fromBackup.item);
        items.push(fromBackup.item);
      }
      customGrs.add(crdName);
      continue;
    }
    if (clusterCrds.has(crdName) || types.some((t) => t.group === group && t.resource === resource)) {
      problems.push(
        `the cluster does not serve ${resource} in ${gv} (${count} object(s) of the backup use it)`,
      );
    } else if (group.includes('.') || fromBackup !== undefined) {
      problems.push(
        `the cluster has no CustomResourceDefinition ${crdName} (${count} object(s) of kind ${resource} in ${gv} need it) and the restore does not include it${fromBackup !== undefined ? ' (--exclude-resources leaves it out)' : ' (it is not in the backup)'}`,
      );
    } else {
      problems.push(
        `the cluster does not serve ${resource} in ${gv} (${count} object(s) of the backup use it)`,
      );
    }
  }
  if (problems.length > 0) {
    throw new CairnError('RESTORE_TYPES_MISSING', `cannot restore: ${problems.join('; ')}`, {
      hint: 'Nothing was restored. Install the missing CustomResourceDefinitions (or include them from the backup), or leave those types out with --exclude-resources.',
    });
  }
  for (const name of [...clusterCrds, ...crds.keys()]) customGrs.add(name);

  // Namespaces the objects land in: from the backup when it holds them, otherwise a bare Namespace.
  const haveNamespace = new Set(items.filter((i) => i.gr === 'namespaces').map((i) => i.name));
  const inverse = new Map(Object.entries(input.options.namespaceMapping).map(([from, to]) => [to, from]));
  for (const ns of new Set(items.flatMap((i) => (i.namespace === undefined ? [] : [i.namespace])))) {
    if (haveNamespace.has(ns)) continue;
    haveNamespace.add(ns);
    const fromBackup = namespaces.get(inverse.get(ns) ?? ns);
    items.push(
      fromBackup?.item ?? {
        gr: 'namespaces',
        group: '',
        version: 'v1',
        resource: 'namespaces',
        namespace: undefined,
        name: ns,
        oldUid: undefined,
        owners: [],
        body: { object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } },
        tier: 0,
      },
    );
  }
  for (const item of items) item.tier = tierOf(item.gr, customGrs.has(item.gr));
  // Only uids that some restored object names as its owner matter from here on: keeping every
  // object's old uid (and a set of them) cost ~10 MB at 100k objects for nothing.
  const ownerUids = new Set(items.flatMap((i) => i.owners.map((o) => o.uid)));
  const restoredUids = new Set<string>();
  for (const item of items) {
    if (item.oldUid !== undefined && ownerUids.has(item.oldUid)) restoredUids.add(item.oldUid);
    else item.oldUid = undefined;
  }
  return { items, results, notRestored, policyFor, restoredUids };
}

/** Names of the cluster's CRDs (`plural.group`), which is also how their custom resources are named. */
async function listCrdNames(connection: ClusterConnection): Promise<Set<string>> {
  const names = new Set<string>();
  let cont: string | undefined;
  do {
    const page = await connection.request<{
      items?: { metadata?: { name?: string } }[];
      metadata?: { continue?: string };
    }>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      query: { limit: 500, continue: cont },
    });
    for (const crd of page.items ?? []) if (crd.metadata?.name) names.add(crd.metadata.name);
    cont = page.metadata?.continue || undefined;
  } while (cont !== undefined);
  return names;
}

/** Runs a plan against the cluster (or, in a dry run, compares it with the cluster). */
class PlanExecutor {
  readonly #connection: ClusterConnection;
  readonly #options: RestoreOptions;
  readonly #plan: Plan;
  readonly #types: readonly ResourceType[];
  readonly #progress: (line: string) => void;
  /** Old uid → the live object's uid. */
  readonly #liveUids = new Map<string, string>();
  readonly #liveOwnerCache = new Map<string, Promise<LiveOwner | undefined>>();
  readonly #failedCrds = new Set<string>();
  readonly #spill: ObjectSpill;
  readonly #itemDone: (() => void) | undefined;

  constructor(
    connection: ClusterConnection,
    options: RestoreOptions,
    plan: Plan,
    types: readonly ResourceType[],
    progress: (line: string) => void,
    spill: ObjectSpill,
    itemDone?: () => void,
  ) {
    this.#spill = spill;
    this.#itemDone = itemDone;
    this.#connection = connection;
    this.#options = options;
    this.#plan = plan;
    this.#types = types;
    this.#progress = progress;
  }

  async run(): Promise<void> {
    const tiers = new Map<number, PlannedItem[]>();
    for (const item of this.#plan.items) {
      const list = tiers.get(item.tier) ?? [];
      list.push(item);
      tiers.set(item.tier, list);
    }
    const concurrency = this.#options.concurrency ?? 16;
    for (const tier of [...tiers.keys()].sort((a, b) => a - b)) {
      const list = tiers.get(tier) ?? [];
      this.#progress(
        `${this.#options.dryRun ? 'planning' : 'restoring'} ${TIER_NAMES[tier] ?? tier}: ${list.length} object(s)`,
      );
      await forEachLimit(list, concurrency, async (item) => {
        setResult(item, await this.#restoreItem(item));
        this.#itemDone?.();
      });
      if (tier === CRD_TIER && !this.#options.dryRun) await this.#waitEstablished(list);
    }
    if (!this.#options.dryRun) await this.#restoreOwnerReferences();
  }

  #result(
    item: PlannedItem,
    action: RestoreAction,
    outcome: RestoreOutcome,
    message?: string,
    diff?: string[],
  ) {
    return {
      resource: item.gr,
      ...(item.namespace === undefined ? {} : { namespace: item.namespace }),
      name: item.name,
      action,
      outcome,
      ...(message === undefined ? {} : { message }),
      ...(diff === undefined || diff.length === 0 ? {} : { diff }),
    };
  }

  #objectPath(item: PlannedItem): string {
    return resourcePath(item, item.namespace, item.name);
  }

  async #restoreItem(item: PlannedItem): Promise<RestoreItemResult> {
    const body = 'offset' in item.body ? await this.#spill.read<PlannedBody>(item.body) : item.body;
    const desired = body.object;
    const notes: string[] = [];
    if (item.tier !== CRD_TIER && item.group.includes('.') && this.#failedCrds.has(crdOf(item))) {
      return this.#result(
        item,
        'create',
        'failed',
        `its CustomResourceDefinition ${crdOf(item)} was not restored`,
      );
    }
    await this.#splitOwners(item, notes);
    // Only metadata changes, and the request body is serialised: a shallow copy keeps `desired` intact.
    const toCreate: KubeObject = { ...desired, metadata: { ...(desired.metadata as object) } };
    const meta = toCreate.metadata as { ownerReferences?: OwnerReference[] };
    if ((item.keptOwners ?? []).length > 0) meta.ownerReferences = item.keptOwners;
    else delete meta.ownerReferences;
    const step: { action: RestoreAction } = { action: 'create' };
    try {
      return this.#options.dryRun
        ? await this.#planItem(item, desired, notes)
        : await this.#applyItem(item, { desired, toCreate, status: body.status, notes, step });
    } catch (err) {
      return this.#result(item, step.action, 'failed', [kubeMessage(err), ...notes].join('; '));
    }
  }

  /** Sorts owner references into kept (owner live with that uid), deferred (owner restored) and dropped. */
  async #splitOwners(item: PlannedItem, notes: string[]): Promise<void> {
    const kept: OwnerReference[] = [];
    const deferred: OwnerReference[] = [];
    for (const owner of item.owners) {
      if (this.#plan.restoredUids.has(owner.uid)) deferred.push(owner);
      else if ((await this.#liveOwner(owner, item.namespace))?.uid === owner.uid) kept.push(owner);
      else
        notes.push(
          `owner reference to ${owner.kind} ${owner.name} dropped (the owner is neither restored nor live)`,
        );
    }
    if (kept.length > 0) item.keptOwners = kept;
    if (deferred.length > 0) item.deferredOwners = deferred;
  }

  #liveOwner(owner: OwnerReference, namespace: string | undefined): Promise<LiveOwner | undefined> {
    const slash = owner.apiVersion.indexOf('/');
    const group = slash === -1 ? '' : owner.apiVersion.slice(0, slash);
    const version = slash === -1 ? owner.apiVersion : owner.apiVersion.slice(slash + 1);
    const type = this.#types.find((t) => t.group === group && t.version === version && t.kind === owner.kind);
    if (type === undefined) return Promise.resolve(undefined);
    const path = resourcePath(type, type.namespaced ? namespace : undefined, owner.name);
    let cached = this.#liveOwnerCache.get(path);
    if (cached === undefined) {
      cached = this.#connection
        .request<KubeObject>('GET', path)
        .then((o) => {
          const uid = uidOf(o);
          return uid === undefined ? undefined : { uid };
        })
        .catch(() => undefined);
      this.#liveOwnerCache.set(path, cached);
    }
    return cached;
  }

  async #get(item: PlannedItem): Promise<KubeObject | undefined> {
    try {
      return await this.#connection.request<KubeObject>('GET', this.#objectPath(item));
    } catch (err) {
      if (isKubeStatus(err, 404)) return undefined;
      throw err;
    }
  }

  #recordLive(item: PlannedItem, live: KubeObject): void {
    const uid = uidOf(live);
    if (item.oldUid !== undefined && uid !== undefined) this.#liveUids.set(item.oldUid, uid);
  }

  #identical(item: PlannedItem, live: KubeObject, desired: KubeObject): boolean {
    return jsonEqual(comparableObject(item.gr, live), comparableObject(item.gr, desired));
  }

  async #planItem(item: PlannedItem, desired: KubeObject, notes: string[]): Promise<RestoreItemResult> {
    const live = await this.#get(item);
    const withNotes = (m: string) => [m, ...notes].join('; ');
    if (live === undefined || terminating(item, live))
      return this.#result(item, 'create', 'planned', notes.length > 0 ? notes.join('; ') : undefined);
    if (this.#identical(item, live, desired))
      return this.#result(item, 'skip', 'planned', withNotes('exists, identical'));
    const diff = objectDiff(
      comparableObject(item.gr, live),
      comparableObject(item.gr, desired),
      item.gr === 'secrets',
    );
    const policy = this.#plan.policyFor(item.gr);
    const action: RestoreAction = policy === 'fail' ? 'conflict' : policy;
    const message = {
      skip: 'exists and differs; policy skip keeps the live object',
      update: 'exists and differs; policy update replaces it',
      recreate: 'exists and differs; policy recreate deletes and creates it',
      fail: 'exists and differs; policy fail reports a conflict',
    }[policy];
    return this.#result(item, action, 'planned', withNotes(message), diff);
  }

  async #create(item: PlannedItem, body: KubeObject): Promise<KubeObject> {
    const collection = resourcePath(item, item.namespace);
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        return await this.#connection.request<KubeObject>('POST', collection, { body });
      } catch (err) {
        // A type whose CRD was just established may take a moment to be served.
        const notServedYet =
          isKubeStatus(err, 404) &&
          item.tier !== CRD_TIER &&
          item.group.includes('.') &&
          Date.now() < deadline;
        if (!notServedYet) throw err;
        await sleep(250);
      }
    }
  }

  async #restoreStatus(item: PlannedItem, created: KubeObject, status: unknown): Promise<KubeObject> {
    if (status === undefined) return created;
    try {
      return await this.#connection.request<KubeObject>('PUT', `${this.#objectPath(item)}/status`, {
        body: { ...created, status },
      });
    } catch (err) {
      // No status subresource: the create kept .status already.
      if (isKubeStatus(err, 404) || isKubeStatus(err, 405)) return created;
      throw err;
    }
  }

  async #waitGone(item: PlannedItem): Promise<void> {
    const deadline = Date.now() + (this.#options.deleteTimeoutMs ?? 120_000);
    while (Date.now() < deadline) {
      try {
        await this.#connection.request('GET', this.#objectPath(item), { unthrottled: true });
      } catch (err) {
        if (isKubeStatus(err, 404)) return;
        throw err;
      }
      await sleep(200);
    }
    throw new CairnError(
      'RESTORE_DELETE_TIMEOUT',
      `${item.gr} ${item.name} was still there after being deleted`,
      {},
    );
  }

  async #applyItem(item: PlannedItem, work: ApplyWork): Promise<RestoreItemResult> {
    const { desired, toCreate, status, notes, step } = work;
    const done = (action: RestoreAction, outcome: RestoreOutcome, message?: string) =>
      this.#result(
        item,
        action,
        outcome,
        [...(message === undefined ? [] : [message]), ...notes].join('; ') || undefined,
      );
    const createNow = async (action: RestoreAction, outcome: RestoreOutcome, message?: string) => {
      const created = await this.#restoreStatus(item, await this.#create(item, toCreate), status);
      this.#recordLive(item, created);
      return done(action, outcome, message);
    };
    try {
      return await createNow('create', 'created');
    } catch (err) {
      if (!(isKubeStatus(err, 409) && err.reason === 'AlreadyExists')) throw err;
    }
    const live = await this.#get(item);
    if (live === undefined) return await createNow('create', 'created');
    if (terminating(item, live)) {
      this.#progress(`waiting for ${item.gr} ${item.name} to finish terminating`);
      await this.#waitGone(item);
      return await createNow(
        'create',
        'created',
        'the live object was terminating; waited until it was gone',
      );
    }
    this.#recordLive(item, live);
    if (this.#identical(item, live, desired)) return done('skip', 'skipped', 'exists, identical');
    const policy = this.#plan.policyFor(item.gr);
    switch (policy) {
      case 'skip':
        return done('skip', 'skipped', 'exists, differs from the backup (policy skip)');
      case 'fail':
        return done('conflict', 'failed', 'exists and differs from the backup (policy fail)');
      case 'update': {
        step.action = 'update';
        const body = structuredClone(toCreate);
        carryAllocatedFields(item.gr, live, body);
        (body.metadata as { resourceVersion?: string }).resourceVersion = (
          live.metadata as { resourceVersion?: string }
        ).resourceVersion;
        const updated = await this.#connection.request<KubeObject>('PUT', this.#objectPath(item), { body });
        this.#recordLive(item, await this.#restoreStatus(item, updated, status));
        return done('update', 'updated', 'existed and differed; updated');
      }
      case 'recreate': {
        step.action = 'recreate';
        await this.#connection.request('DELETE', this.#objectPath(item), {
          query: { propagationPolicy: 'Background' },
        });
        await this.#waitGone(item);
        try {
          return await createNow('recreate', 'recreated', 'existed and differed; deleted and created again');
        } catch (err) {
          // Say loudly that the live object is gone: this is the one outcome that lost something.
          throw new CairnError(
            'RESTORE_RECREATE_FAILED',
            `deleted the live object, but creating it again failed: ${kubeMessage(err)}`,
          );
        }
      }
    }
  }

  /** Waits until every restored CRD is Established; CRDs that never get there fail (and their objects with them). */
  async #waitEstablished(crds: PlannedItem[]): Promise<void> {
    const timeoutMs = this.#options.crdEstablishTimeoutMs ?? 60_000;
    await forEachLimit(crds, 8, async (item) => {
      const result = resultOf(item);
      if (result === undefined || result.outcome === 'failed') {
        this.#failedCrds.add(item.name);
        return;
      }
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const live = await this.#get(item).catch(() => undefined);
        const conditions = (live?.status as { conditions?: { type?: string; status?: string }[] } | undefined)
          ?.conditions;
        if (conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
        if (Date.now() > deadline) {
          this.#failedCrds.add(item.name);
          setResult(item, {
            ...result,
            outcome: 'failed',
            message: `not Established within ${Math.round(timeoutMs / 1000)} s`,
          });
          return;
        }
        await sleep(250);
      }
    });
  }

  /** Gives restored children their references to restored owners back, with the owners' new uids. */
  async #restoreOwnerReferences(): Promise<void> {
    const pending = this.#plan.items.filter(
      (i) =>
        (i.deferredOwners ?? []).length > 0 &&
        (i.outcome === 'created' || i.outcome === 'recreated' || i.outcome === 'updated'),
    );
    if (pending.length === 0) return;
    this.#progress(`restoring owner references of ${pending.length} object(s)`);
    await forEachLimit(pending, this.#options.concurrency ?? 16, async (item) => {
      const rewritten: OwnerReference[] = [];
      const lost: string[] = [];
      for (const owner of item.deferredOwners ?? []) {
        const uid = this.#liveUids.get(owner.uid);
        if (uid === undefined) lost.push(`${owner.kind} ${owner.name}`);
        else rewritten.push({ ...owner, uid });
      }
      const result = resultOf(item) as RestoreItemResult;
      const note = (text: string) => [result.message, text].filter((m) => m !== undefined).join('; ');
      if (lost.length > 0)
        setResult(item, {
          ...result,
          message: note(`owner reference to ${lost.join(', ')} dropped (the owner was not restored)`),
        });
      if (rewritten.length === 0) return;
      try {
        await this.#connection.request('PATCH', this.#objectPath(item), {
          body: { metadata: { ownerReferences: [...(item.keptOwners ?? []), ...rewritten] } },
          contentType: 'application/merge-patch+json',
        });
      } catch (err) {
        const current = resultOf(item) as RestoreItemResult;
        setResult(item, {
          ...current,
          outcome: 'failed',
          message: [current.message, `owner references not restored: ${kubeMessage(err)}`]
            .filter((m) => m !== undefined)
            .join('; '),
        });
      }
    });
  }
}
