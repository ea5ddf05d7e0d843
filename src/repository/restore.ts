/**
 * `repo restore SNAPSHOT TARGET [--include GLOB]`: recreates a snapshot's
 * tree under TARGET. Every blob is verified (GCM tag, length, keyed id) before
 * a byte of it is written; each file is written under a temporary name and
 * renamed into place only when complete, so a damaged file never appears half
 * written. A file that cannot be restored (damaged or missing blob) is
 * reported and skipped; everything else is restored.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lchown, link, lutimes, mkdir, open, rename, rm, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../storage/body.ts';
import { repositoryError } from './errors.ts';
import { Limiter } from './limiter.ts';
import type { Repository } from './repository.ts';
import { loadTree, type SnapshotRef, type TreeEntry } from './snapshot.ts';

export interface RestoreInput {
  readonly snapshot: SnapshotRef;
  readonly target: string;
  /** Globs (`path.matchesGlob`) on paths relative to the snapshot root; an entry is restored when it or a parent matches. */
  readonly include?: readonly string[];
  readonly filesInFlight?: number;
}

export interface RestoreFailure {
  readonly path: string;
  readonly problem: string;
}

export interface RestoreResult {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  readonly bytes: number;
  readonly failures: RestoreFailure[];
}

type Meta = Pick<TreeEntry, 'mode' | 'uid' | 'gid' | 'mtimeNs'>;

const isRoot = process.getuid?.() === 0;

export async function restore(repo: Repository, input: RestoreInput): Promise<RestoreResult> {
  const target = path.resolve(input.target);
  try {
    await mkdir(target, { recursive: true });
  } catch (err) {
    throw repositoryError(
      'REPOSITORY_TARGET_INVALID',
      `cannot create the restore target ${target}: ${messageOf(err)}`,
      {
        hint: 'Choose a folder Cairn may write to.',
      },
    );
  }
  await repo.loadIndex();
  const run = new RestoreRun(repo, target, input);
  const { snapshot } = input.snapshot;
  await run.directory(snapshot.tree, target, '', false);
  await run.settle();
  if (snapshot.root !== undefined && (input.include === undefined || input.include.length === 0)) {
    await applyMeta(target, snapshot.root, false).catch((err: unknown) =>
      run.failures.push({ path: '.', problem: `metadata: ${messageOf(err)}` }),
    );
  }
  return { ...run.counters, failures: run.failures };
}

class RestoreRun {
  readonly counters = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  readonly failures: RestoreFailure[] = [];
  readonly #repo: Repository;
  readonly #include: readonly string[];
  readonly #files: Limiter;
  readonly #tasks: Promise<void>[] = [];
  /** First restored path of each hard-link group, or undefined when that restore failed. */
  readonly #linked = new Map<string, Promise<string | undefined>>();

  constructor(repo: Repository, _target: string, input: RestoreInput) {
    this.#repo = repo;
    this.#include = input.include ?? [];
    this.#files = new Limiter(input.filesInFlight ?? 8);
  }

  #selected(rel: string, parentSelected: boolean): boolean {
    return (
      parentSelected || this.#include.length === 0 || this.#include.some((g) => path.matchesGlob(rel, g))
    );
  }

  /**
   * Restores the entries of a tree into `dir`. Files are queued (parallel);
   * directories recurse; a directory's metadata is applied after its files.
   */
  async directory(treeId: string, dir: string, rel: string, selected: boolean): Promise<void> {
    let entries: readonly TreeEntry[];
    try {
      entries = (await loadTree(this.#repo, treeId)).entries;
    } catch (err) {
      this.failures.push({
        path: rel === '' ? '.' : rel,
        problem: `directory listing lost: ${messageOf(err)}`,
      });
      return;
    }
    const dirTasks: Promise<void>[] = [];
    for (const entry of entries) {
      if (entry.name.includes('/') || entry.name === '.' || entry.name === '..' || entry.name === '') {
        this.failures.push({
          path: `${rel}/${entry.name}`,
          problem: 'refused: the name is not a single path segment',
        });
        continue;
      }
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const full = path.join(dir, entry.name);
      const chosen = this.#selected(childRel, selected);
      if (entry.type === 'dir') {
        if (entry.subtree === undefined) continue;
        if (chosen) {
          await mkdir(full, { recursive: true });
          this.counters.dirs++;
        }
        await this.directory(entry.subtree, full, childRel, chosen);
        if (chosen) dirTasks.push(this.#after(full, entry, childRel));
        continue;
      }
      if (!chosen) continue;
      // Parents of a partially selected directory are created as needed.
      if (!selected) await mkdir(dir, { recursive: true });
      const task =
        entry.type === 'file'
          ? this.#files.run(() => this.#file(full, entry, childRel))
          : entry.type === 'symlink'
            ? this.#symlink(full, entry, childRel)
            : Promise.resolve();
      this.#tasks.push(task);
    }
    this.#tasks.push(...dirTasks);
  }

  /** Directory metadata goes last: writing files into it would change its mtime again. */
  #after(full: string, entry: TreeEntry, rel: string): Promise<void> {
    const files = [...this.#tasks];
    return Promise.allSettled(files).then(() =>
      applyMeta(full, entry, false).catch((err: unknown) => {
        this.failures.push({ path: rel, problem: `metadata: ${messageOf(err)}` });
      }),
    );
  }

  async settle(): Promise<void> {
    // Tasks may add tasks (none today), so drain until stable.
    let seen = 0;
    while (seen < this.#tasks.length) {
      const batch = this.#tasks.slice(seen);
      seen = this.#tasks.length;
      await Promise.allSettled(batch);
    }
  }

  async #file(full: string, entry: TreeEntry, rel: string): Promise<void> {
    const group = entry.hardlink;
    if (group !== undefined) {
      const first = this.#linked.get(group);
      if (first !== undefined) {
        const existing = await first;
        if (existing !== undefined) {
          try {
            const temp = tempName(full);
            await link(existing, temp);
            await rename(temp, full);
            this.counters.files++;
            return;
          } catch {
            // Fall back to a copy (e.g. the first name lies on another file system).
          }
        }
      } else {
        let resolve: (p: string | undefined) => void = () => {};
        this.#linked.set(group, new Promise((r) => (resolve = r)));
        const ok = await this.#writeFile(full, entry, rel);
        resolve(ok ? full : undefined);
        return;
      }
    }
    await this.#writeFile(full, entry, rel);
  }

  async #writeFile(full: string, entry: TreeEntry, rel: string): Promise<boolean> {
    const temp = tempName(full);
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    try {
      handle = await open(temp, 'wx', 0o600);
      let written = 0;
      for (const id of entry.content ?? []) {
        const data = await this.#repo.loadBlob(id, 'data');
        await handle.write(data, 0, data.length, null);
        written += data.length;
      }
      if (entry.size !== undefined && written !== entry.size) {
        throw new Error(`restored ${written} bytes, the snapshot records ${entry.size}`);
      }
      if (isRoot) await handle.chown(entry.uid, entry.gid);
      await handle.chmod(entry.mode);
      await handle.close();
      handle = undefined;
      await utimes(temp, ...times(entry.mtimeNs));
      await rename(temp, full);
      this.counters.files++;
      this.counters.bytes += written;
      return true;
    } catch (err) {
      await handle?.close().catch(() => {});
      await rm(temp, { force: true }).catch(() => {});
      this.failures.push({ path: rel, problem: messageOf(err) });
      return false;
    }
  }

  async #symlink(full: string, entry: TreeEntry, rel: string): Promise<void> {
    const temp = tempName(full);
    try {
      await symlink(entry.target ?? '', temp);
      await applyMeta(temp, entry, true);
      await rename(temp, full);
      this.counters.symlinks++;
    } catch (err) {
      await rm(temp, { force: true }).catch(() => {});
      this.failures.push({ path: rel, problem: messageOf(err) });
    }
  }
}

function tempName(full: string): string {
  return path.join(
    path.dirname(full),
    `.${path.basename(full)}.cairn-restore-${randomBytes(4).toString('hex')}`,
  );
}

/** [atime, mtime] in seconds; nanoseconds beyond a double's precision (≈0.2 µs today) are lost. */
function times(mtimeNs: string): [number, number] {
  const ns = BigInt(mtimeNs);
  const seconds = Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
  return [seconds, seconds];
}

async function applyMeta(target: string, meta: Meta, isLink: boolean): Promise<void> {
  if (isLink) {
    if (isRoot) await lchown(target, meta.uid, meta.gid);
    await lutimes(target, ...times(meta.mtimeNs));
    return;
  }
  if (isRoot) await lchown(target, meta.uid, meta.gid);
  await chmod(target, meta.mode);
  await utimes(target, ...times(meta.mtimeNs));
}
