/**
 * `repo prune`: frees the space of blobs no snapshot needs. Runs under the
 * exclusive lock (so no backup is writing packs or an index meanwhile — a
 * prune never runs while a live shared lock exists; see lock.ts).
 *
 * Crash-safe order (docs/repository-format.md, "Prune"):
 * 1. read every index file and every snapshot; refuse when any of them is
 *    unreadable or a needed blob is missing (what is used cannot be known);
 * 2. mark every blob reachable from a snapshot;
 * 3. repack: copy the used blobs of the chosen packs, sealed bytes as they
 *    are (verified first), into new packs and store them;
 * 4. write the new index files (every kept pack + the new packs);
 * 5. delete the index files read in step 1 (only those: never one written
 *    after);
 * 6. delete the packs no longer indexed: fully unused, repacked, and packs of
 *    interrupted backups that no index lists (only when older than the lock
 *    expiry, as a second guard besides the lock).
 * A crash before 4 leaves extra unindexed packs; between 4 and 5 two indexes
 * describe the same (still existing) packs; between 5 and 6 unindexed packs
 * that the next prune deletes. At no point does an index name a deleted pack.
 */
import { messageOf } from '../storage/body.ts';
import { repositoryError } from './errors.ts';
import { idOfKey, repositoryLayout } from './format.ts';
import { Limiter } from './limiter.ts';
import { DEFAULT_LOCK_EXPIRY_MS, type RepositoryLock } from './lock.ts';
import type { PackedBlob } from './pack.ts';
import { headerOverhead } from './pack.ts';
import type { IndexEntry, IndexFile, Repository } from './repository.ts';
import { listSnapshots, loadTree } from './snapshot.ts';

export interface PruneOptions {
  /** Tolerated unused share of the stored bytes, 0–1 (restic's `--max-unused 5%`). */
  readonly maxUnused?: number;
  readonly dryRun?: boolean;
  /** The exclusive lock held; checked before anything is deleted. */
  readonly lock?: RepositoryLock;
  /** Unindexed packs younger than this are left alone (default: the lock expiry). */
  readonly unindexedGraceMs?: number;
  readonly now?: () => Date;
}

export interface PruneReport {
  readonly dryRun: boolean;
  readonly snapshots: number;
  readonly packs: {
    readonly before: number;
    readonly deleted: number;
    readonly repacked: number;
    readonly unindexedDeleted: number;
    readonly written: number;
    readonly after: number;
  };
  readonly bytes: {
    readonly before: number;
    readonly used: number;
    readonly unused: number;
    readonly unusedAfter: number;
    readonly freed: number;
  };
  readonly indexFiles: { readonly read: number; readonly written: number };
}

/** Blobs per index file prune writes (keeps each file a few MiB of JSON). */
const BLOBS_PER_INDEX_FILE = 50_000;

export async function prune(repo: Repository, options: PruneOptions = {}): Promise<PruneReport> {
  const now = options.now ?? (() => new Date());
  const maxUnused = options.maxUnused ?? 0.05;
  const dryRun = options.dryRun === true;
  const unsafe = (message: string, hint: string) =>
    repositoryError('REPOSITORY_PRUNE_UNSAFE', message, { hint });

  // 1. Index files (every copy of every blob, duplicates included) and the packs in storage.
  const indexKeys: string[] = [];
  for await (const info of repo.store.list(repositoryLayout.indexPrefix())) indexKeys.push(info.key);
  const indexedPacks = new Map<string, PackedBlob[]>();
  for (const key of indexKeys) {
    const file = await repo.readIndexFile(key);
    if (typeof file === 'string') {
      throw repositoryError('REPOSITORY_INDEX_UNREADABLE', `index file ${key} is unreadable: ${file}`, {
        hint: 'Run `cairn repo repair index` first (it rebuilds the index from the pack headers); nothing was deleted.',
      });
    }
    for (const pack of file.packs) if (!indexedPacks.has(pack.id)) indexedPacks.set(pack.id, [...pack.blobs]);
  }
  const stored = new Map<string, { key: string; size: number; modified: Date }>();
  for await (const info of repo.store.list(repositoryLayout.dataPrefix())) {
    const id = idOfKey(info.key);
    if (id !== undefined) stored.set(id, { key: info.key, size: info.size, modified: info.modified });
  }
  await repo.loadIndex();

  // 2. Mark.
  const { snapshots, unreadable } = await listSnapshots(repo);
  if (unreadable.length > 0) {
    throw unsafe(
      `${unreadable.length} snapshot files are unreadable (${unreadable[0]?.problem})`,
      'Run `cairn repo check`; remove or restore the damaged snapshot files first. Nothing was deleted.',
    );
  }
  const used = new Set<string>();
  const visit = async (treeId: string, where: string): Promise<void> => {
    if (used.has(treeId)) return;
    used.add(treeId);
    let entries: Awaited<ReturnType<typeof loadTree>>['entries'];
    try {
      entries = (await loadTree(repo, treeId)).entries;
    } catch (err) {
      throw unsafe(
        `the tree of ${where} cannot be read: ${messageOf(err)}`,
        'Run `cairn repo check --read-data`; prune only runs on a repository whose snapshots are complete. Nothing was deleted.',
      );
    }
    for (const e of entries) {
      for (const blob of e.content ?? []) {
        if (!repo.has(blob)) {
          throw unsafe(
            `blob ${blob} of ${where}/${e.name} is in no index`,
            'Run `cairn repo repair index`, then `cairn repo check`. Nothing was deleted.',
          );
        }
        used.add(blob);
      }
      if (e.type === 'dir' && e.subtree !== undefined) await visit(e.subtree, `${where}/${e.name}`);
    }
  };
  for (const ref of snapshots) await visit(ref.snapshot.tree, `snapshot ${ref.id.slice(0, 8)}`);

  // 3. Plan: which copy of each used blob stays, per pack used/unused bytes.
  const kept = new Set<string>();
  interface PackPlan {
    id: string;
    blobs: PackedBlob[];
    keep: PackedBlob[];
    usedBytes: number;
    unusedBytes: number;
    size: number;
  }
  const plans: PackPlan[] = [];
  let bytesBefore = 0;
  for (const [id, blobs] of indexedPacks) {
    const file = stored.get(id);
    if (file === undefined) continue; // named by an index but gone: its blobs are not counted as copies
    const plan: PackPlan = {
      id,
      blobs,
      keep: [],
      usedBytes: 0,
      unusedBytes: headerOverhead(blobs.length),
      size: file.size,
    };
    for (const b of blobs) {
      if (used.has(b.id) && !kept.has(b.id)) {
        kept.add(b.id);
        plan.keep.push(b);
        plan.usedBytes += b.length;
      } else plan.unusedBytes += b.length;
    }
    bytesBefore += file.size;
    plans.push(plan);
  }
  for (const blob of used) {
    if (!kept.has(blob)) {
      throw unsafe(
        `blob ${blob} is only indexed in packs missing from storage`,
        'Run `cairn repo check` to see which snapshots are damaged. Nothing was deleted.',
      );
    }
  }
  const usedBytes = plans.reduce((n, p) => n + p.usedBytes, 0);
  const deletePacks = plans.filter((p) => p.keep.length === 0);
  const partial = plans.filter((p) => p.keep.length > 0 && p.unusedBytes > headerOverhead(p.blobs.length));
  // restic's limit: unused / (used + unused) ≤ maxUnused, i.e. unused ≤ used × p / (1 − p).
  const allowed = maxUnused >= 1 ? Number.POSITIVE_INFINITY : (usedBytes * maxUnused) / (1 - maxUnused);
  let unusedLeft = partial.reduce((n, p) => n + p.unusedBytes, 0);
  partial.sort((a, b) => b.unusedBytes / b.size - a.unusedBytes / a.size);
  const repack: PackPlan[] = [];
  for (const p of partial) {
    if (unusedLeft <= allowed) break;
    repack.push(p);
    unusedLeft -= p.unusedBytes;
  }
  const grace = options.unindexedGraceMs ?? DEFAULT_LOCK_EXPIRY_MS;
  const unindexed = [...stored].filter(
    ([id, f]) => !indexedPacks.has(id) && now().getTime() - f.modified.getTime() > grace,
  );
  const unusedBytes = plans.reduce((n, p) => n + p.unusedBytes, 0);
  const report = (written: number, indexWritten: number): PruneReport => ({
    dryRun,
    snapshots: snapshots.length,
    packs: {
      before: plans.length,
      deleted: deletePacks.length,
      repacked: repack.length,
      unindexedDeleted: unindexed.length,
      written,
      after: plans.length - deletePacks.length - repack.length + written,
    },
    bytes: {
      before: bytesBefore,
      used: usedBytes,
      unused: unusedBytes,
      unusedAfter: unusedLeft,
      freed: deletePacks.reduce((n, p) => n + p.size, 0) + repack.reduce((n, p) => n + p.unusedBytes, 0),
    },
    indexFiles: { read: indexKeys.length, written: indexWritten },
  });
  if (dryRun) return report(0, 0);
  if (deletePacks.length === 0 && repack.length === 0 && unindexed.length === 0) return report(0, 0);

  // 3. Repack (verify each kept blob, then copy its sealed bytes).
  const writer = repo.writer();
  const reads = new Limiter(3);
  const copied = Promise.all(
    repack.map((p) =>
      reads.run(async () => {
        const bytes = await repo.store.get(repositoryLayout.pack(p.id));
        for (const b of p.keep) {
          const sealed = bytes.subarray(b.offset, b.offset + b.length);
          const entry: IndexEntry = { ...b, pack: p.id };
          try {
            await repo.decodeBlob(entry, sealed);
          } catch (err) {
            throw unsafe(
              `cannot repack: ${messageOf(err)}`,
              'Run `cairn repo check --read-data` to see what is damaged. Nothing was deleted.',
            );
          }
          await writer.copySealed(b, Buffer.from(sealed));
        }
      }),
    ),
  );
  const written = await copied.then(
    () => writer.flush(),
    async (err: unknown) => {
      await writer.discard(); // no temp files of staged packs left behind
      throw err;
    },
  );

  // 4. New index files: every pack that stays, plus the new ones.
  const gone = new Set([...deletePacks, ...repack].map((p) => p.id));
  const packsAfter: Array<{ id: string; blobs: readonly PackedBlob[] }> = [
    ...plans.filter((p) => !gone.has(p.id)).map((p) => ({ id: p.id, blobs: p.blobs })),
    ...written,
  ];
  options.lock?.assertHeld();
  let indexWritten = 0;
  let batch: Array<IndexFile['packs'][number]> = [];
  let batchBlobs = 0;
  for (const pack of packsAfter) {
    batch.push(pack);
    batchBlobs += pack.blobs.length;
    if (batchBlobs >= BLOBS_PER_INDEX_FILE) {
      await repo.writeIndex(batch);
      indexWritten++;
      batch = [];
      batchBlobs = 0;
    }
  }
  if (batch.length > 0) {
    await repo.writeIndex(batch);
    indexWritten++;
  }

  // 5. The index files read at the start (a newer one, if any, would be a live writer's — none can exist under the lock).
  options.lock?.assertHeld();
  const deletes = new Limiter(8);
  await Promise.all(indexKeys.map((key) => deletes.run(() => repo.store.delete(key))));

  // 6. Packs no index lists any more.
  options.lock?.assertHeld();
  await Promise.all(
    [...gone, ...unindexed.map(([id]) => id)].map((id) =>
      deletes.run(() => repo.store.delete(repositoryLayout.pack(id))),
    ),
  );
  return report(written.length, indexWritten);
}
