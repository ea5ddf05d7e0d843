/**
 * etcd snapshots in a storage location: the manifest, listing (complete =
 * manifest present), and lookup. Keys come from `catalog/layout.ts` only.
 */

import { etcdSnapshotOfKey, layout } from '../catalog/layout.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { StorageError } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { messageOf } from '../storage/body.ts';
import type { EtcdMember } from './client.ts';

export const SNAPSHOT_FILE = 'snapshot.db';
export const MANIFEST_FILE = 'manifest.json';

/** `manifest.json` of one snapshot, written after `snapshot.db` (its presence = complete). */
export interface EtcdSnapshotManifest {
  readonly kind: 'EtcdSnapshotManifest';
  readonly formatVersion: 1;
  readonly cluster: string;
  readonly id: string;
  readonly file: typeof SNAPSHOT_FILE;
  /** Size and SHA-256 of `snapshot.db` as stored (database + 32-byte trailer). */
  readonly size: number;
  readonly sha256: string;
  /** The bbolt database inside: size and the SHA-256 its trailer carries (checked while streaming). */
  readonly dbSize: number;
  readonly dbSha256: string;
  /**
   * Revision from Status just before the stream started: the snapshot holds at
   * least this revision (etcd 3.4's stream does not say which one exactly).
   */
  readonly revision: number;
  /** Keys at `revision`, counted by the server (count-only range). */
  readonly keyCount: number;
  readonly etcdVersion: string;
  readonly endpoint: string;
  readonly clusterId: string;
  readonly memberId: string;
  readonly leader: string;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly members: EtcdMember[];
  readonly startedAt: string;
  readonly completedAt: string;
  readonly createdBy: string;
}

/** What a listing knows about one snapshot folder. */
export interface SnapshotEntry {
  readonly id: string;
  /** Time encoded in the id (start of the save, UTC). */
  readonly takenAt: Date;
  readonly complete: boolean;
  /** Files present in the folder. */
  readonly files: string[];
  readonly manifest?: EtcdSnapshotManifest;
  /** Set when the manifest exists but does not parse. */
  readonly manifestProblem?: string;
}

/** `20260102T030405Z` for a date. */
export function compactUtc(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** The time encoded in a snapshot id. */
export function timeOfSnapshotId(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (m === null) return new Date(Number.NaN);
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

export function parseManifest(raw: Buffer, key: string): EtcdSnapshotManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new CairnError('ETCD_MANIFEST_INVALID', `${key} is not valid JSON (${messageOf(err)})`, {
      hint: 'The snapshot cannot be trusted without its manifest; use another snapshot.',
    });
  }
  const m = parsed as Partial<EtcdSnapshotManifest> | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    m.kind !== 'EtcdSnapshotManifest' ||
    typeof m.sha256 !== 'string' ||
    typeof m.size !== 'number' ||
    typeof m.revision !== 'number'
  ) {
    throw new CairnError('ETCD_MANIFEST_INVALID', `${key} is not an etcd snapshot manifest`, {
      hint: 'The snapshot cannot be trusted without its manifest; use another snapshot.',
    });
  }
  if (m.formatVersion !== 1) {
    throw new CairnError(
      'ETCD_MANIFEST_INVALID',
      `${key} has format version ${String(m.formatVersion)}; this Cairn understands 1`,
      { hint: 'Use the Cairn release that wrote the snapshot.' },
    );
  }
  return m as EtcdSnapshotManifest;
}

/** Reads a manifest fresh; undefined when absent. */
export async function readManifest(
  store: BlobStore,
  cluster: string,
  id: string,
): Promise<EtcdSnapshotManifest | undefined> {
  const key = layout.etcdSnapshotManifest(cluster, id);
  try {
    return parseManifest(await store.get(key), key);
  } catch (err) {
    if (err instanceof StorageError && err.failure === 'not-found') return undefined;
    throw err;
  }
}

/**
 * Every snapshot folder of a cluster, oldest first. With `manifests`, each
 * complete snapshot's manifest is read too (16 at a time).
 */
export async function listSnapshots(
  store: BlobStore,
  cluster: string,
  options: { manifests?: boolean } = {},
): Promise<SnapshotEntry[]> {
  const folders = new Map<string, string[]>();
  for await (const info of store.list(layout.etcdSnapshotsPrefix(cluster))) {
    const place = etcdSnapshotOfKey(cluster, info.key);
    if (place === undefined) continue;
    const files = folders.get(place.id) ?? [];
    files.push(place.file);
    folders.set(place.id, files);
  }
  const entries: SnapshotEntry[] = [...folders].map(([id, files]) => ({
    id,
    takenAt: timeOfSnapshotId(id),
    complete: files.includes(MANIFEST_FILE),
    files,
  }));
  entries.sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime() || (a.id < b.id ? -1 : 1));
  if (!options.manifests) return entries;
  const out: SnapshotEntry[] = [...entries];
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      const entry = entries[i];
      if (entry === undefined) return;
      if (!entry.complete) continue;
      try {
        const manifest = await readManifest(store, cluster, entry.id);
        out[i] = manifest === undefined ? { ...entry, complete: false } : { ...entry, manifest };
      } catch (err) {
        out[i] = { ...entry, manifestProblem: messageOf(err) };
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

/** The newest complete snapshot (by id time), if any. */
export function newestComplete(entries: readonly SnapshotEntry[]): SnapshotEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i];
    if (entry?.complete) return entry;
  }
  return undefined;
}

/** Resolves `latest` or an id to a snapshot entry; throws ETCD_SNAPSHOT_NOT_FOUND. */
export async function findSnapshot(store: BlobStore, cluster: string, ref: string): Promise<SnapshotEntry> {
  const entries = await listSnapshots(store, cluster);
  const entry = ref === 'latest' ? newestComplete(entries) : entries.find((e) => e.id === ref);
  if (entry === undefined) {
    throw new CairnError(
      'ETCD_SNAPSHOT_NOT_FOUND',
      ref === 'latest'
        ? `no complete snapshot of etcd cluster "${cluster}" in ${store.description}`
        : `snapshot "${ref}" of etcd cluster "${cluster}" does not exist in ${store.description}`,
      { hint: 'List them with `cairn etcd snapshot list --location … --cluster …`.' },
    );
  }
  return entry;
}
