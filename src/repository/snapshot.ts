/**
 * Snapshots and trees. A tree is a blob (type `tree`) holding one
 * directory's entries as JSON, sorted by name; a directory entry points at
 * its subtree's blob id, so equal directories share one tree blob. A snapshot
 * file names the root tree and is written last: its presence means every
 * pack, index and tree it needs was stored before it.
 */
import { repositoryError } from './errors.ts';
import { repositoryLayout } from './format.ts';
import type { Repository } from './repository.ts';

export const TREE_VERSION = 1;
export const SNAPSHOT_VERSION = 1;

export type EntryType = 'file' | 'dir' | 'symlink';

export interface TreeEntry {
  readonly name: string;
  readonly type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky (`st_mode & 0o7777`). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string (exact). */
  readonly mtimeNs: string;
  /** Files: size in bytes and the ids of their data blobs, in order. */
  readonly size?: number;
  readonly content?: readonly string[];
  /** Files with more than one link: `device:inode`, equal for every name of the same file in a snapshot. */
  readonly hardlink?: string;
  /** Directories: the id of their tree blob. */
  readonly subtree?: string;
  /** Symlinks: the link's target, verbatim. */
  readonly target?: string;
}

export interface Tree {
  readonly version: number;
  readonly entries: readonly TreeEntry[];
}

export interface SnapshotSummary {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  /** Plaintext bytes of all files. */
  readonly bytes: number;
  readonly newBlobs: number;
  readonly newBytes: number;
  /** Bytes written to storage for new blobs (compressed and sealed). */
  readonly storedBytes: number;
  readonly packs: number;
  readonly skipped: number;
  readonly seconds: number;
}

/** `repository/snapshots/<id>`: sealed JSON; id = SHA-256 of the sealed bytes. */
export interface Snapshot {
  readonly version: number;
  readonly time: string;
  readonly hostname: string;
  readonly username: string;
  /** The absolute path that was backed up. */
  readonly paths: readonly string[];
  /** Whether the path was a directory (the tree holds its entries) or a file (the tree holds it alone). */
  readonly sourceType: 'dir' | 'file';
  /** Metadata of the backed-up directory itself, applied to the restore target. */
  readonly root?: Pick<TreeEntry, 'mode' | 'uid' | 'gid' | 'mtimeNs'>;
  readonly tree: string;
  readonly program: string;
  readonly summary: SnapshotSummary;
}

export interface SnapshotRef {
  readonly id: string;
  readonly snapshot: Snapshot;
}

export function encodeTree(entries: TreeEntry[]): Buffer {
  return Buffer.from(JSON.stringify({ version: TREE_VERSION, entries } satisfies Tree));
}

/** Loads and verifies a tree blob. */
export async function loadTree(repo: Repository, id: string): Promise<Tree> {
  const tree = JSON.parse((await repo.loadBlob(id, 'tree')).toString('utf8')) as Tree;
  if (tree.version !== TREE_VERSION || !Array.isArray(tree.entries)) {
    throw repositoryError('REPOSITORY_FILE_CORRUPT', `tree ${id} has unsupported version ${tree.version}`, {
      hint: 'Use the Cairn release that wrote this snapshot.',
    });
  }
  return tree;
}

export async function saveSnapshot(repo: Repository, snapshot: Snapshot): Promise<string> {
  return repo.putSealedJson('snapshot', repositoryLayout.snapshot, snapshot);
}

/** Every snapshot, oldest first. Unreadable snapshot files are returned separately. */
export async function listSnapshots(
  repo: Repository,
): Promise<{ snapshots: SnapshotRef[]; unreadable: Array<{ key: string; problem: string }> }> {
  const snapshots: SnapshotRef[] = [];
  const unreadable: Array<{ key: string; problem: string }> = [];
  for await (const info of repo.store.list(repositoryLayout.snapshotsPrefix())) {
    const id = info.key.slice(repositoryLayout.snapshotsPrefix().length);
    try {
      snapshots.push({ id, snapshot: await repo.getSealedJson<Snapshot>('snapshot', info.key) });
    } catch (err) {
      unreadable.push({ key: info.key, problem: err instanceof Error ? err.message : String(err) });
    }
  }
  snapshots.sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time) || a.id.localeCompare(b.id));
  return { snapshots, unreadable };
}

/** Finds a snapshot by `latest`, a full id or a unique id prefix (at least 4 hex digits). */
export async function resolveSnapshot(repo: Repository, ref: string): Promise<SnapshotRef> {
  const prefix = repositoryLayout.snapshotsPrefix();
  if (ref === 'latest') {
    const { snapshots } = await listSnapshots(repo);
    const last = snapshots.at(-1);
    if (last === undefined) {
      throw repositoryError('REPOSITORY_SNAPSHOT_NOT_FOUND', 'the repository has no snapshots yet', {
        hint: 'Create one with `cairn repo backup PATH`.',
      });
    }
    return last;
  }
  if (!/^[0-9a-f]{4,64}$/.test(ref)) {
    throw repositoryError('REPOSITORY_SNAPSHOT_NOT_FOUND', `"${ref}" is not a snapshot id`, {
      hint: 'Give `latest`, or an id (or its first 8 hex digits) from `cairn repo snapshots`.',
    });
  }
  const matches: string[] = [];
  for await (const info of repo.store.list(`${prefix}${ref}`)) matches.push(info.key);
  const only = matches[0];
  if (only === undefined || matches.length > 1) {
    throw repositoryError(
      matches.length > 1 ? 'REPOSITORY_SNAPSHOT_AMBIGUOUS' : 'REPOSITORY_SNAPSHOT_NOT_FOUND',
      matches.length > 1
        ? `snapshot id prefix "${ref}" matches ${matches.length} snapshots`
        : `no snapshot "${ref}"`,
      { hint: 'List them with `cairn repo snapshots`; give more digits of the id.' },
    );
  }
  return { id: only.slice(prefix.length), snapshot: await repo.getSealedJson<Snapshot>('snapshot', only) };
}

/** A node met while walking a snapshot: its path relative to the snapshot root (`/`-separated). */
export interface WalkedEntry {
  readonly path: string;
  readonly entry: TreeEntry;
}

/** Depth-first, in name order: every entry of a tree and its subtrees. */
export async function* walkTree(repo: Repository, treeId: string, base = ''): AsyncGenerator<WalkedEntry> {
  const tree = await loadTree(repo, treeId);
  for (const entry of tree.entries) {
    const path = base === '' ? entry.name : `${base}/${entry.name}`;
    yield { path, entry };
    if (entry.type === 'dir' && entry.subtree !== undefined) yield* walkTree(repo, entry.subtree, path);
  }
}
