/**
 * `repo repair index`: rebuilds the index from what is in storage, under the
 * exclusive lock. Entries of readable index files are kept for packs that
 * exist with the size they describe; every other pack (unindexed, or named
 * only by a damaged or deleted index file) is re-read from its authenticated
 * header. Then the new index files are written and the old ones deleted —
 * the same order as prune, so a crash leaves at worst two indexes describing
 * the same packs.
 */
import { idOfKey, repositoryLayout } from './format.ts';
import { Limiter } from './limiter.ts';
import type { RepositoryLock } from './lock.ts';
import { headerOverhead, type PackedBlob } from './pack.ts';
import type { IndexFile, Repository } from './repository.ts';

export interface RepairIndexReport {
  readonly packs: number;
  /** Packs whose blobs were read from their headers (not in a readable index). */
  readonly reindexed: number;
  /** Packs whose header does not open or match their size: left out of the index, not deleted. */
  readonly unreadablePacks: readonly string[];
  /** Index entries dropped because their pack is gone or has another size. */
  readonly droppedPacks: number;
  readonly indexFilesRead: number;
  readonly indexFilesUnreadable: number;
  readonly indexFilesWritten: number;
}

export async function repairIndex(
  repo: Repository,
  options: { lock?: RepositoryLock } = {},
): Promise<RepairIndexReport> {
  const indexKeys: string[] = [];
  for await (const info of repo.store.list(repositoryLayout.indexPrefix())) indexKeys.push(info.key);
  const known = new Map<string, readonly PackedBlob[]>();
  let unreadableIndex = 0;
  for (const key of indexKeys) {
    const file = await repo.readIndexFile(key);
    if (typeof file === 'string') unreadableIndex++;
    else for (const pack of file.packs) if (!known.has(pack.id)) known.set(pack.id, pack.blobs);
  }
  const packs: Array<IndexFile['packs'][number]> = [];
  const toRead: Array<{ id: string; key: string; size: number }> = [];
  const storedIds = new Set<string>();
  for await (const info of repo.store.list(repositoryLayout.dataPrefix())) {
    const id = idOfKey(info.key);
    if (id === undefined || info.key !== repositoryLayout.pack(id)) continue;
    storedIds.add(id);
    const blobs = known.get(id);
    if (
      blobs !== undefined &&
      blobs.reduce((n, b) => n + b.length, 0) + headerOverhead(blobs.length) === info.size
    ) {
      packs.push({ id, blobs });
    } else toRead.push({ id, key: info.key, size: info.size });
  }
  const unreadablePacks: string[] = [];
  const limiter = new Limiter(8);
  await Promise.all(
    toRead.map((p) =>
      limiter.run(async () => {
        const blobs = await repo.readPackBlobs(p.key, p.size);
        if (blobs === undefined) unreadablePacks.push(p.id);
        else packs.push({ id: p.id, blobs });
      }),
    ),
  );
  packs.sort((a, b) => a.id.localeCompare(b.id));
  const reread = new Set(toRead.map((p) => p.id));
  let written = 0;
  options.lock?.assertHeld();
  for (let i = 0; i < packs.length; i += 2000) {
    await repo.writeIndex(packs.slice(i, i + 2000));
    written++;
  }
  options.lock?.assertHeld();
  // Sealing uses a random nonce, so a new index file never has an old one's name.
  await Promise.all(indexKeys.map((key) => limiter.run(() => repo.store.delete(key))));
  return {
    packs: packs.length,
    reindexed: toRead.length - unreadablePacks.length,
    unreadablePacks: unreadablePacks.sort(),
    droppedPacks: [...known.keys()].filter((id) => !storedIds.has(id) || reread.has(id)).length,
    indexFilesRead: indexKeys.length,
    indexFilesUnreadable: unreadableIndex,
    indexFilesWritten: written,
  };
}
