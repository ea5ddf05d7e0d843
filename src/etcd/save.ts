/**
 * `snapshot save`: etcd's Maintenance.Snapshot stream straight into the
 * location, hashed and trailer-checked on the way, manifest written last.
 * Memory stays bounded: a few 256 KiB buffers in flight, the HTTP/2 window
 * (plus what the backend holds for multipart uploads).
 */

import { layout } from '../catalog/layout.ts';
import { CairnError } from '../errors/cairn-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { compactUtc, type EtcdSnapshotManifest, SNAPSHOT_FILE } from './catalog.ts';
import type { EtcdClient } from './client.ts';
import { type SnapshotDigest, SnapshotHasher, snapshotProblem } from './snapshot-format.ts';
import { requireClusterSpec, requireLocation } from './spec.ts';

export interface SaveSnapshotInput {
  readonly store: BlobStore;
  readonly client: EtcdClient;
  readonly cluster: string;
  readonly createdBy?: string;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
  /** Called with the bytes received so far (for progress output). */
  readonly onProgress?: (bytes: number) => void;
}

/** Saves one snapshot and returns its manifest. */
export async function saveSnapshot(input: SaveSnapshotInput): Promise<EtcdSnapshotManifest> {
  const { store, client, cluster } = input;
  const now = input.now ?? (() => new Date());
  await requireLocation(store);
  // Read fresh on every run: a spec deleted since the last run stops this one, loudly.
  await requireClusterSpec(store, cluster, { now: now(), doing: 'save a snapshot' });

  const startedAt = now();
  const status = await client.status();
  const [members, keyCount] = await Promise.all([client.memberList(), client.countKeys(status.revision)]);
  const id = await freeSnapshotId(store, cluster, `${compactUtc(startedAt)}-${status.revision}`);
  const dataKey = layout.etcdSnapshotData(cluster, id);

  const hasher = new SnapshotHasher();
  let failure: CairnError | undefined;
  let digest: SnapshotDigest | undefined;
  async function* blobs(): AsyncGenerator<Buffer> {
    for await (const blob of client.snapshot(input.signal)) {
      hasher.update(blob);
      input.onProgress?.(hasher.size);
      yield blob;
    }
  }
  async function* body(): AsyncGenerator<Buffer> {
    // The last buffer is held back until the trailer is checked: a bad or
    // truncated stream fails the put, and a failed put leaves nothing visible.
    let held: Buffer | undefined;
    for await (const buffer of blobs()) {
      if (held !== undefined) yield held;
      held = buffer;
    }
    digest = hasher.digest();
    const problem = snapshotProblem(digest);
    if (problem !== undefined) {
      failure = new CairnError(
        'ETCD_SNAPSHOT_CORRUPT',
        `the snapshot stream from ${client.endpoint} is not valid: ${problem}`,
        {
          hint: 'Nothing was stored. Retry; if it repeats, check the member (etcdctl endpoint status, its disk).',
        },
      );
      throw failure;
    }
    if (held !== undefined) yield held;
  }
  try {
    await store.put(dataKey, body(), { contentType: 'application/octet-stream' });
  } catch (err) {
    throw failure ?? (err instanceof CairnError && err.cause instanceof CairnError ? err.cause : err);
  }
  if (digest === undefined) throw new Error('snapshot stream ended without a digest');

  const manifest: EtcdSnapshotManifest = {
    kind: 'EtcdSnapshotManifest',
    formatVersion: 1,
    cluster,
    id,
    file: SNAPSHOT_FILE,
    size: digest.size,
    sha256: digest.sha256,
    dbSize: digest.dbSize,
    dbSha256: digest.dbSha256,
    revision: status.revision,
    keyCount,
    etcdVersion: status.version,
    endpoint: client.endpoint,
    clusterId: status.clusterId,
    memberId: status.memberId,
    leader: status.leader,
    raftTerm: status.raftTerm,
    raftIndex: status.raftIndex,
    members,
    startedAt: startedAt.toISOString(),
    completedAt: now().toISOString(),
    createdBy: input.createdBy ?? 'cairn',
  };
  // Last: its presence is what makes the snapshot complete.
  await store.put(layout.etcdSnapshotManifest(cluster, id), `${JSON.stringify(manifest, null, 2)}\n`, {
    contentType: 'application/json',
  });
  return manifest;
}

/** The id, or the id with `-2`, `-3`… when a snapshot of the same second and revision exists (write-once). */
async function freeSnapshotId(store: BlobStore, cluster: string, base: string): Promise<string> {
  for (let n = 1; n < 100; n++) {
    const id = n === 1 ? base : `${base}-${n}`;
    const taken =
      (await store.stat(layout.etcdSnapshotData(cluster, id))) !== undefined ||
      (await store.stat(layout.etcdSnapshotManifest(cluster, id))) !== undefined;
    if (!taken) return id;
  }
  throw new CairnError('ETCD_SNAPSHOT_ID_TAKEN', `too many snapshots named ${base}-*`, {
    hint: 'This should not happen; check what keeps writing snapshots with the same time and revision.',
  });
}
