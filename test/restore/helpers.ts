/**
 * Shared pieces of the restore integration tests: sandboxes with objects in
 * them, locations on disk and in RGW, backups made of a cluster's objects,
 * and the comparison "equal but for runtime fields".
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Sandbox, startSandbox } from '../../sandbox/index.ts';
import {
  BACKUP_FILES,
  BACKUP_MANIFEST_FORMAT,
  type BackupManifest,
  backupSpec,
} from '../../src/catalog/backup-manifest.ts';
import { layout } from '../../src/catalog/layout.ts';
import { initLocation } from '../../src/catalog/location.ts';
import { openLocation } from '../../src/catalog/open-location.ts';
import {
  type ArchivedItemRef,
  groupResource,
  ResourceArchiveWriter,
} from '../../src/catalog/resource-archive.ts';
import { runCli } from '../../src/cli/main.ts';
import { ClusterConnection } from '../../src/cluster/connection.ts';
import { discoverResources, type ResourceType, resourcePath } from '../../src/cluster/discovery.ts';
import { isKubeStatus } from '../../src/cluster/kube-api-error.ts';
import { comparableObject, stripRuntimeFields } from '../../src/restore/prepare.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import type { FileSystemBlobStore } from '../../src/storage/fs/fs-store.ts';
import type { Manifest } from '../support/fixtures/sample-app.ts';
import { type CairnRun, runCairn } from '../support/run-cairn.ts';
import { adminClient, createTestBucket, testS3 } from '../support/s3-env.ts';

export type KubeObject = Record<string, unknown>;

/** A sandbox with a connection and a type index. */
export interface TestCluster {
  readonly sandbox: Sandbox;
  readonly connection: ClusterConnection;
  readonly kubeconfig: string;
  types(): Promise<ResourceType[]>;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<TestCluster> {
  const sandbox = await startSandbox();
  const connection = await ClusterConnection.connect({
    kubeconfig: sandbox.kubeconfig,
    qps: 1000,
    burst: 1000,
  });
  return {
    sandbox,
    connection,
    kubeconfig: sandbox.kubeconfig,
    types: async () => (await discoverResources(connection)).types,
    stop: async () => {
      connection.close();
      await sandbox.stop();
    },
  };
}

function typeOf(types: readonly ResourceType[], object: { apiVersion: string; kind: string }): ResourceType {
  const slash = object.apiVersion.indexOf('/');
  const group = slash === -1 ? '' : object.apiVersion.slice(0, slash);
  const version = slash === -1 ? object.apiVersion : object.apiVersion.slice(slash + 1);
  const type = types.find((t) => t.group === group && t.version === version && t.kind === object.kind);
  if (type === undefined) throw new Error(`no type for ${object.apiVersion} ${object.kind}`);
  return type;
}

/** The URL path of an object (discovering types again when a CRD was just added). */
export async function objectPath(cluster: TestCluster, object: Manifest | KubeObject): Promise<string> {
  const m = object as Manifest;
  let types = await cluster.types();
  if (!types.some((t) => t.kind === m.kind)) types = await cluster.types();
  const type = typeOf(types, m);
  return resourcePath(type, type.namespaced ? m.metadata.namespace : undefined, m.metadata.name);
}

/** Creates objects in order; returns them as the server stored them. */
export async function createAll(cluster: TestCluster, objects: readonly Manifest[]): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  let types = await cluster.types();
  for (const object of objects) {
    if (!types.some((t) => t.kind === object.kind)) types = await cluster.types();
    const type = typeOf(types, object);
    const path = resourcePath(type, type.namespaced ? object.metadata.namespace : undefined);
    const created = await cluster.connection.request<KubeObject>('POST', path, { body: object });
    const status = object.status;
    if (status !== undefined && object.kind !== 'Deployment') {
      // Kinds with a status subresource drop status on create; put it back as a controller would.
      const withStatus = await cluster.connection
        .request<KubeObject>(
          'PUT',
          `${resourcePath(type, type.namespaced ? object.metadata.namespace : undefined, object.metadata.name)}/status`,
          {
            body: { ...created, status },
          },
        )
        .catch(() => created);
      out.push(withStatus);
    } else out.push(created);
  }
  return out;
}

/** GETs the live version of an object; undefined when absent. */
export async function getLive(
  cluster: TestCluster,
  object: Manifest | KubeObject,
): Promise<KubeObject | undefined> {
  const m = object as Manifest;
  if (!(await cluster.types()).some((t) => t.kind === m.kind && m.apiVersion.startsWith(t.group)))
    return undefined;
  try {
    return await cluster.connection.request<KubeObject>('GET', await objectPath(cluster, object));
  } catch (err) {
    if (isKubeStatus(err, 404)) return undefined;
    throw err;
  }
}

export function uidOf(object: KubeObject): string {
  return (object.metadata as { uid: string }).uid;
}

/** Deletes objects and waits until they are gone (namespaces terminate asynchronously). */
export async function deleteAndWait(
  cluster: TestCluster,
  objects: readonly (Manifest | KubeObject)[],
): Promise<void> {
  const paths = await Promise.all(objects.map((o) => objectPath(cluster, o)));
  for (const path of paths) {
    await cluster.connection.request('DELETE', path).catch((err) => {
      if (!isKubeStatus(err, 404)) throw err;
    });
  }
  const deadline = Date.now() + 30_000;
  for (const path of paths) {
    for (;;) {
      try {
        await cluster.connection.request('GET', path);
      } catch (err) {
        if (isKubeStatus(err, 404)) break;
        throw err;
      }
      if (Date.now() > deadline) throw new Error(`${path} still exists 30 s after delete`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Asserts the live object equals the original but for runtime fields (uids,
 * resourceVersions, timestamps, managed fields, status unless `withStatus`,
 * allocated cluster IPs and owner uids).
 */
export function assertSameObject(
  live: KubeObject | undefined,
  original: KubeObject,
  withStatus = false,
): void {
  const what = `${original.kind} ${JSON.stringify((original.metadata as { namespace?: string }).namespace ?? '')}/${(original.metadata as { name: string }).name}`;
  assert.ok(live !== undefined, `${what} was not restored`);
  const gr = (o: KubeObject) => (o.kind === 'Service' ? 'services' : String(o.kind));
  const clean = (o: KubeObject) =>
    withStatus ? { ...comparableObject(gr(o), o), status: o.status } : comparableObject(gr(o), o);
  assert.deepEqual(clean(live), clean(original), `${what} differs from the original`);
}

/** A location for one test file: a folder, or a bucket prefix in the test RGW. */
export interface TestLocation {
  readonly url: string;
  readonly env: NodeJS.ProcessEnv;
  readonly store: BlobStore;
  remove(): Promise<void>;
}

export async function fsLocation(): Promise<TestLocation> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-restore-loc-'));
  const url = join(dir, 'location');
  const { store, backend } = openLocation(url);
  await initLocation(store, { prepareRoot: () => (backend as FileSystemBlobStore).ensureRoot() });
  return {
    url,
    env: {},
    store,
    remove: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function s3Location(label: string): Promise<TestLocation> {
  const s3 = testS3();
  const admin = adminClient(s3);
  const bucket = await createTestBucket(admin, label);
  const url = `s3://${bucket.bucket}/cairn?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}`;
  const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const { store } = openLocation(url, {
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  await initLocation(store);
  return {
    url,
    env,
    store,
    remove: async () => {
      await store.close();
      await bucket.remove();
      admin.destroy();
    },
  };
}

/**
 * Runs the CLI in this process (`runCli`, the code bin/cairn.js runs) with the
 * location's credentials: spawning a Node per command costs seconds on a busy
 * machine. `spawn: true` runs the real binary, as a user would.
 */
export async function cairn(
  location: TestLocation,
  args: string[],
  options: { spawn?: boolean; onStderr?: (text: string) => void } = {},
): Promise<CairnRun> {
  if (options.spawn) return runCairn(args, location.env);
  const saved = { ...process.env };
  Object.assign(process.env, location.env);
  let stdout = '';
  let stderr = '';
  try {
    const code = await runCli(args, {
      out: (s) => {
        stdout += s;
      },
      err: (s) => {
        stderr += s;
        options.onStderr?.(stderr);
      },
    });
    return { code, stdout, stderr };
  } finally {
    for (const key of Object.keys(location.env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
}

export interface FixtureBackupItem {
  readonly ref: ArchivedItemRef;
  readonly object: KubeObject;
}

/**
 * Writes a complete backup (archive, items, log, manifest last) of the given
 * objects, as `cairn backup create` lays it out; `tamper` may change the
 * stored archive after it was measured.
 */
export async function writeFixtureBackup(
  store: BlobStore,
  name: string,
  items: readonly FixtureBackupItem[],
  options: { archive?: Buffer } = {},
): Promise<BackupManifest> {
  const writer = new ResourceArchiveWriter();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of writer.readable) chunks.push(c as Buffer);
  })();
  const perResource: Record<string, number> = {};
  const perNamespace: Record<string, number> = {};
  for (const { ref, object } of items) {
    await writer.add(ref, object);
    const gr = groupResource(ref.group, ref.resource);
    perResource[gr] = (perResource[gr] ?? 0) + 1;
    perNamespace[ref.namespace ?? ''] = (perNamespace[ref.namespace ?? ''] ?? 0) + 1;
  }
  await writer.finish();
  await collected;
  const archive = options.archive ?? Buffer.concat(chunks);
  const { createHash } = await import('node:crypto');
  const { zstdCompressSync } = await import('node:zlib');
  const files: Record<string, { size: number; sha256: string; contentType: string }> = {};
  const put = async (file: string, body: Buffer, contentType: string) => {
    await store.put(layout.backupFile(name, file), body, { contentType });
    files[file] = { size: body.length, sha256: createHash('sha256').update(body).digest('hex'), contentType };
  };
  await put(BACKUP_FILES.resources, archive, 'application/zstd');
  await put(
    BACKUP_FILES.items,
    zstdCompressSync(
      Buffer.from(
        items
          .map(({ ref }) =>
            JSON.stringify({
              resource: groupResource(ref.group, ref.resource),
              namespace: ref.namespace,
              name: ref.name,
              outcome: 'backed-up',
            }),
          )
          .join('\n'),
      ),
    ),
    'application/zstd',
  );
  await put(BACKUP_FILES.log, zstdCompressSync(Buffer.from('')), 'application/zstd');
  const now = new Date().toISOString();
  const manifest: BackupManifest = {
    apiVersion: 'cairn.dev/v1alpha1',
    kind: 'BackupManifest',
    formatVersion: BACKUP_MANIFEST_FORMAT,
    name,
    spec: backupSpec(),
    cluster: { server: 'http://fixture', context: 'fixture' },
    status: {
      phase: 'Completed',
      startedAt: now,
      completedAt: now,
      durationMs: 1,
      itemsBackedUp: items.length,
      errors: 0,
      warnings: 0,
      resourceTypes: Object.keys(perResource).length,
      perResource,
      perNamespace,
      uncompressedBytes: 0,
    },
    files,
    createdBy: 'restore tests',
  };
  await store.put(layout.backupManifest(name), JSON.stringify(manifest), { contentType: 'application/json' });
  return manifest;
}

/** Archive references of live objects. */
export async function refsOf(
  cluster: TestCluster,
  objects: readonly KubeObject[],
): Promise<FixtureBackupItem[]> {
  const types = await cluster.types();
  return objects.map((object) => {
    const type = typeOf(types, object as Manifest);
    const meta = object.metadata as { name: string; namespace?: string };
    return {
      ref: {
        group: type.group,
        version: type.version,
        resource: type.resource,
        ...(type.namespaced ? { namespace: meta.namespace as string } : {}),
        name: meta.name,
      },
      object,
    };
  });
}

/** Strips runtime fields for display in assertion messages. */
export function clean(object: KubeObject): KubeObject {
  return stripRuntimeFields(String(object.kind), object);
}

/** The object, asserted to exist. */
export function must(object: KubeObject | undefined, what = 'object'): KubeObject {
  assert.ok(object !== undefined, `${what} exists`);
  return object;
}

/** Backs the cluster up with the real `cairn backup create` (in process); fails the test when it does not complete. */
export async function backupCreate(
  location: TestLocation,
  cluster: TestCluster,
  name: string,
  ...flags: string[]
): Promise<void> {
  const run = await cairn(location, [
    'backup',
    'create',
    name,
    '--location',
    location.url,
    '--kubeconfig',
    cluster.kubeconfig,
    ...flags,
  ]);
  assert.equal(run.code, 0, `backup create ${name}: ${run.stdout}${run.stderr}`);
}
