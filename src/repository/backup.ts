/**
 * `repo backup PATH`: walks the source, chunks every file, saves new blobs
 * through the pipelined writer, saves one tree blob per directory, then
 * flushes packs, writes the index, and writes the snapshot last.
 */
import type { BigIntStats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import { messageOf } from '../storage/body.ts';
import { repositoryError } from './errors.ts';
import { FileCache } from './file-cache.ts';
import { FileWorkerPool } from './file-worker.ts';
import { Limiter } from './limiter.ts';
import type { PackedBlob } from './pack.ts';
import type { BlobWriter, Repository, WriterOptions } from './repository.ts';
import { encodeTree, type Snapshot, saveSnapshot, type TreeEntry } from './snapshot.ts';

export interface BackupInput {
  /** File or directory to back up. */
  readonly source: string;
  /** Recorded in the snapshot, e.g. `cairn 0.1.0`. */
  readonly program: string;
  /** Files read at once. */
  readonly filesInFlight?: number;
  readonly writer?: WriterOptions;
  readonly now?: () => Date;
  /** Folder of the incremental metadata cache (see file-cache.ts); no cache when absent. */
  readonly cacheDir?: string;
}

/** A source entry that could not be backed up; the snapshot is written without it. */
export interface BackupWarning {
  readonly path: string;
  readonly problem: string;
}

export interface BackupResult {
  readonly id: string;
  readonly snapshot: Snapshot;
  readonly warnings: BackupWarning[];
  /** Packs left unindexed by an interrupted backup that this one reused and indexed. */
  readonly adoptedPacks: number;
  /** Files not read because the metadata cache showed them unchanged. */
  readonly unchangedFiles: number;
  /** Why the cache could not be saved, if it could not (the snapshot is stored regardless). */
  readonly cacheWarning?: string;
}

interface Counters {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  skipped: number;
}

export async function backup(repo: Repository, input: BackupInput): Promise<BackupResult> {
  const now = input.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const source = path.resolve(input.source);
  let rootStat: BigIntStats;
  try {
    rootStat = await lstat(source, { bigint: true });
  } catch (err) {
    throw repositoryError('REPOSITORY_SOURCE_UNREADABLE', `cannot read ${source}: ${messageOf(err)}`, {
      hint: 'Check the path and that Cairn may read it. Nothing was written.',
    });
  }
  if (!rootStat.isDirectory() && !rootStat.isFile()) {
    throw repositoryError(
      'REPOSITORY_SOURCE_UNREADABLE',
      `${source} is neither a directory nor a regular file`,
      {
        hint: 'Back up a directory or a file. Nothing was written.',
      },
    );
  }
  await repo.loadIndex();
  // Packs a killed backup uploaded are reused, not uploaded again; the index written below adopts them.
  const adopted = await repo.findUnindexedPacks();
  for (const pack of adopted) repo.addToIndex(pack.id, pack.blobs);
  const writer = repo.writer(input.writer);
  const cache =
    input.cacheDir === undefined
      ? undefined
      : await FileCache.open({ dir: input.cacheDir, repo, source, started });
  const workers = new FileWorkerPool(repo.workerKeys());
  try {
    return await backupWith(repo, input, { source, rootStat, started, t0, adopted, writer, cache, workers });
  } catch (err) {
    await writer.discard(); // no temp files of staged packs left behind
    throw err;
  } finally {
    await workers.close();
  }
}

async function backupWith(
  repo: Repository,
  input: BackupInput,
  ctx: {
    source: string;
    rootStat: BigIntStats;
    started: Date;
    t0: number;
    adopted: Array<{ id: string; blobs: PackedBlob[] }>;
    writer: BlobWriter;
    cache: FileCache | undefined;
    workers: FileWorkerPool;
  },
): Promise<BackupResult> {
  const { source, rootStat, started, t0, adopted, writer, cache, workers } = ctx;
  const walk = new SourceWalk(
    repo,
    writer,
    new Limiter(input.filesInFlight ?? FILES_IN_FLIGHT),
    cache,
    workers,
  );
  let tree: string;
  if (rootStat.isDirectory()) {
    tree = await walk.directory(source, '');
  } else {
    const entry = await walk.entry(path.dirname(source), path.basename(source), '');
    if (entry === undefined) {
      throw repositoryError(
        'REPOSITORY_SOURCE_UNREADABLE',
        `cannot read ${source}: ${walk.warnings[0]?.problem}`,
        {
          hint: 'Check that Cairn may read the file. Nothing was written.',
        },
      );
    }
    tree = await writer.save('tree', encodeTree([entry]));
  }
  // Every file is read: the workers' isolates (~15–20 MiB each) go before the index, snapshot
  // and cache are written — the peak of an incremental backup was there, with them idle.
  await workers.close();
  const packs = await writer.flush();
  for (const pack of packs) repo.addToIndex(pack.id, pack.blobs);
  if (packs.length + adopted.length > 0) await repo.writeIndex([...adopted, ...packs]);
  const c = walk.counters;
  const snapshot: Snapshot = {
    version: 1,
    time: started.toISOString(),
    hostname: hostname(),
    username: safeUsername(),
    paths: [source],
    sourceType: rootStat.isDirectory() ? 'dir' : 'file',
    ...(rootStat.isDirectory() ? { root: metadataOf(rootStat) } : {}),
    tree,
    program: input.program,
    summary: {
      files: c.files,
      dirs: c.dirs,
      symlinks: c.symlinks,
      bytes: c.bytes,
      skipped: c.skipped,
      ...writer.stats,
      seconds: Math.round(performance.now() - t0) / 1000,
    },
  };
  const id = await saveSnapshot(repo, snapshot);
  let cacheWarning: string | undefined;
  try {
    await cache?.save();
  } catch (err) {
    cacheWarning = `the metadata cache could not be saved: ${messageOf(err)}`;
  }
  return {
    id,
    snapshot,
    warnings: walk.warnings,
    adoptedPacks: adopted.length,
    unchangedFiles: cache?.hits ?? 0,
    ...(cacheWarning === undefined ? {} : { cacheWarning }),
  };
}

function metadataOf(st: BigIntStats): Pick<TreeEntry, 'mode' | 'uid' | 'gid' | 'mtimeNs'> {
  return {
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: st.mtimeNs.toString(),
  };
}

/** Names in the order trees keep them: by UTF-8 bytes, as storage keys. */
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Files being read at once (each a file-worker request). 32, not 8: the main
 * thread's synchronous lstats block it for a disk read now and then, and with
 * only 8 requests out the two workers ran dry — ~22 % idle in a full backup's
 * profile. Full backup of the issue-6 data, A/B, 3 rounds: 5.46–5.62 s against
 * 5.93–6.34 s (16: 5.70–5.99 s), same CPU and peak RSS.
 */
const FILES_IN_FLIGHT = 32;

/**
 * Entries of one directory being backed up at once. All of them at once (the
 * walk then held every file of the tree as a pending promise with its
 * BigIntStats: a ~60 MB heap for 20,000 files) made each full collection
 * expensive — and V8 runs one per ~30–60 MB of buffers the sealing allocates
 * (11 in the first 4 s of a 1 GiB backup, each freeing ~1 MB; ~1 CPU-s of GC
 * threads). The file limiter still keeps the workers busy.
 *
 * 8, not 32: directories are walked as entries too, so up to this many
 * squared wait at once (32 × 32 entries held their BigIntStats and async
 * frames while waiting for a file slot, long enough to be promoted: ~30 MB
 * of old-generation garbage per 20,000 files, per V8's sampling heap profiler
 * with objects collected by full GCs). A/B on the issue-6 data, 3 pairs, caches
 * dropped: full backup 193–201 against 207–226 MiB, incremental 153–166
 * against 157–169 MiB, wall within the noise. (A global limit of 64 entries
 * instead moved the waiting into the limiter: the incremental then peaked at
 * 182–190 MiB.)
 */
const ENTRIES_IN_FLIGHT = 8;

/** `items.map(fn)` awaited, with at most `limit` calls in flight; results in order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** Files up to this size (and below the chunker's minimum) go to the file workers (see SourceWalk.#smallFile). */
const SYNC_READ_MAX = 256 * 1024;

class SourceWalk {
  readonly counters: Counters = { files: 0, dirs: 0, symlinks: 0, bytes: 0, skipped: 0 };
  readonly warnings: BackupWarning[] = [];
  readonly #repo: Repository;
  readonly #writer: BlobWriter;
  readonly #files: Limiter;
  /** Bounds readdir/lstat/readlink calls: the walk visits every directory at once, the file system need not. */
  readonly #meta = new Limiter(32);
  /** Content of hard-linked files by `dev:ino`, so each is read once. */
  readonly #linked = new Map<string, Promise<{ content: readonly string[]; size: number }>>();

  readonly #cache: FileCache | undefined;
  readonly #workers: FileWorkerPool;

  constructor(
    repo: Repository,
    writer: BlobWriter,
    files: Limiter,
    cache: FileCache | undefined,
    workers: FileWorkerPool,
  ) {
    this.#workers = workers;
    this.#repo = repo;
    this.#writer = writer;
    this.#files = files;
    this.#cache = cache;
  }

  /** Saves a directory's tree (after its subtrees) and returns the tree blob's id. */
  async directory(dir: string, rel: string): Promise<string> {
    let names: string[];
    try {
      names = (await this.#meta.run(() => readdir(dir))).sort(byBytes);
    } catch (err) {
      if (rel === '') throw err;
      this.#warn(rel, err);
      names = [];
    }
    const entries = await mapLimited(names, ENTRIES_IN_FLIGHT, (name) =>
      this.entry(dir, name, rel === '' ? name : `${rel}/${name}`),
    );
    return this.#writer.save('tree', encodeTree(entries.filter((e) => e !== undefined)));
  }

  /** One entry of a directory, or undefined (with a warning) when it cannot be read or is not supported. */
  async entry(dir: string, name: string, rel: string): Promise<TreeEntry | undefined> {
    const full = path.join(dir, name);
    let st: BigIntStats;
    try {
      // Synchronous: an lstat is a few µs in the kernel, and ~50 µs of CPU through fs/promises.
      st = lstatSync(full, { bigint: true });
    } catch (err) {
      this.#warn(rel, err);
      return undefined;
    }
    const meta = { name, ...metadataOf(st) };
    try {
      if (st.isDirectory()) {
        const subtree = await this.directory(full, rel);
        this.counters.dirs++;
        return { ...meta, type: 'dir', subtree };
      }
      if (st.isSymbolicLink()) {
        const target = await this.#meta.run(() => readlink(full));
        this.counters.symlinks++;
        return { ...meta, type: 'symlink', target };
      }
      if (st.isFile()) {
        const hardlink = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
        let read: Promise<{ content: readonly string[]; size: number }>;
        const known = hardlink === undefined ? undefined : this.#linked.get(hardlink);
        const cacheKey = rel === '' ? name : rel;
        const cached = known === undefined ? this.#cache?.lookup(cacheKey, st) : undefined;
        if (known !== undefined) read = known;
        else if (cached !== undefined)
          // The cache's own array: record() then knows the entry is unchanged (see FileCache.record).
          read = Promise.resolve({ content: cached, size: Number(st.size) });
        else {
          const expected = Number(st.size);
          read = this.#files.run(() => this.#file(full, expected));
        }
        if (hardlink !== undefined && known === undefined) this.#linked.set(hardlink, read);
        const { content, size } = await read;
        this.#cache?.record(cacheKey, st, content, size);
        this.counters.files++;
        this.counters.bytes += size;
        return { ...meta, type: 'file', size, content, ...(hardlink === undefined ? {} : { hardlink }) };
      }
    } catch (err) {
      if (isRepositoryFailure(err)) throw err;
      this.#warn(rel, err);
      return undefined;
    }
    this.counters.skipped++;
    this.warnings.push({
      path: rel,
      problem: 'not a file, directory or symlink (sockets, FIFOs and devices are skipped)',
    });
    return undefined;
  }

  async #file(full: string, expected: number): Promise<{ content: string[]; size: number }> {
    if (expected <= SYNC_READ_MAX) return this.#smallFile(full, expected);
    return this.#largeFile(full, expected);
  }

  /**
   * A file of more than one chunk: a file worker reads, chunks and ids it, and
   * seals the chunks the writer claims for it (see FileWorkerPool.chunk).
   */
  async #largeFile(full: string, expected: number): Promise<{ content: string[]; size: number }> {
    const reply = await this.#workers.chunk(full, expected, {
      claim: (id) => this.#writer.claim(id),
      store: (blob, sealed) => this.#writer.storeClaimed(blob, sealed),
    });
    if (!reply.ok) throw sourceError(reply);
    return { content: reply.ids, size: reply.size };
  }

  /**
   * Small files go to the file workers (file-worker.ts): there, one
   * open/read/close costs ~10 µs of CPU against ~50 µs per call through
   * fs/promises — for 20,000 small files a second of CPU — and several
   * workers keep the disk busy without blocking the main thread.
   */
  async #smallFile(full: string, expected: number): Promise<{ content: string[]; size: number }> {
    // One chunk (below the chunker's minimum): a file worker reads, ids, compresses and seals it.
    const limit = Math.min(SYNC_READ_MAX, this.#repo.config.chunker.minSize - 1);
    if (expected > limit) return this.#largeFile(full, expected);
    const reply = await this.#workers.read(full, limit);
    if (!reply.ok) throw sourceError(reply);
    if ('tooBig' in reply) return this.#largeFile(full, expected); // it grew meanwhile
    if (reply.empty === true) return { content: [], size: 0 };
    const sealed = Buffer.from(reply.sealed.buffer, reply.sealed.byteOffset, reply.sealed.byteLength);
    const id = await this.#writer.saveSealed(
      { id: reply.id, type: 'data', rawLength: reply.size, compression: reply.compression },
      sealed,
    );
    // Copied into a pack (or a duplicate): the buffer goes back to the workers.
    this.#workers.recycle(sealed);
    return { content: [id], size: reply.size };
  }

  #warn(rel: string, err: unknown): void {
    this.counters.skipped++;
    this.warnings.push({ path: rel === '' ? '.' : rel, problem: messageOf(err) });
  }
}

/** A file worker's failure to read a source file, as an Error with its errno code (ENOENT, EACCES…). */
function sourceError(failure: { readonly error: string; readonly code?: string }): Error {
  return Object.assign(new Error(failure.error), failure.code === undefined ? {} : { code: failure.code });
}

/** Errors of the repository side (storage, pipeline) stop the backup; errors reading the source only skip an entry. */
function isRepositoryFailure(err: unknown): boolean {
  return (
    err instanceof Error &&
    'code' in err &&
    typeof err.code === 'string' &&
    /^(STORAGE|REPOSITORY)_/.test(err.code)
  );
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}
