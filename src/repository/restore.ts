/**
 * `repo restore SNAPSHOT TARGET [--include GLOB]`: recreates a snapshot's
 * tree under TARGET.
 *
 * Pack-ordered: the plan lists, for every pack, the blobs the selected files
 * need and where they go (file, offset); each pack is read once (the span of
 * the needed blobs, a few packs at a time), every blob is verified (GCM tag,
 * length, keyed id) and written at its offsets. A file is written under a
 * temporary name and renamed into place only when all its blobs are there, so
 * a damaged file never appears half written. A file that cannot be restored
 * (damaged or missing blob) is reported and skipped; everything else is
 * restored. Hard links are made after the files; directory metadata last,
 * deepest first.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, futimesSync, openSync, renameSync, writeSync } from 'node:fs';
import {
  chmod,
  type FileHandle,
  lchown,
  link,
  lutimes,
  mkdir,
  open,
  rename,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../storage/body.ts';
import { repositoryError } from './errors.ts';
import { FileWorkerPool } from './file-worker.ts';
import { repositoryLayout } from './format.ts';
import { Limiter } from './limiter.ts';
import type { IndexEntry, Repository } from './repository.ts';
import { loadTree, type SnapshotRef, type TreeEntry } from './snapshot.ts';

export interface RestoreInput {
  readonly snapshot: SnapshotRef;
  readonly target: string;
  /** Globs (`path.matchesGlob`) on paths relative to the snapshot root; an entry is restored when it or a parent matches. */
  readonly include?: readonly string[];
  /** Packs read at once. */
  readonly packsInFlight?: number;
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

/** Bytes of a pack read at once (see RestoreRun.#restoreInWindows). */
const RESTORE_WINDOW = 8 * 1024 * 1024;

/** Files of one blob up to this size are written with synchronous calls (see RestoreRun.#writeWhole). */
const SYNC_WRITE_MAX = 1024 * 1024;

/** One file to write: where, what, and how far along it is. */
interface FileJob {
  readonly rel: string;
  readonly full: string;
  readonly temp: string;
  readonly entry: TreeEntry;
  remaining: number;
  written: number;
  handle?: FileHandle;
  opening?: Promise<FileHandle>;
  failed: boolean;
  done: boolean;
}

/** Where the plaintext of one blob goes. */
interface Placement {
  readonly job: FileJob;
  readonly offset: number;
}

export async function restore(repo: Repository, input: RestoreInput): Promise<RestoreResult> {
  const target = path.resolve(input.target);
  try {
    await mkdir(target, { recursive: true });
  } catch (err) {
    throw repositoryError(
      'REPOSITORY_TARGET_INVALID',
      `cannot create the restore target ${target}: ${messageOf(err)}`,
      { hint: 'Choose a folder Cairn may write to.' },
    );
  }
  await repo.loadIndex();
  const workers = new FileWorkerPool(repo.workerKeys());
  const run = new RestoreRun(repo, input, workers);
  try {
    await run.plan(input.snapshot.snapshot.tree, target, '', false);
    await run.writeFiles(input.packsInFlight ?? 3);
    await run.finish();
  } finally {
    await workers.close();
  }
  const root = input.snapshot.snapshot.root;
  if (root !== undefined && (input.include === undefined || input.include.length === 0)) {
    await applyMeta(target, root, false).catch((err: unknown) =>
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
  /** Blob id → where it goes; grouped by pack when writing. */
  readonly #placements = new Map<string, Placement[]>();
  readonly #jobs: FileJob[] = [];
  /** Later names of hard-link groups, linked to the first name once files are written. */
  readonly #links: Array<{ job: FileJob; first: FileJob }> = [];
  readonly #groups = new Map<string, FileJob>();
  /** Directories in the order met (parents first), for metadata at the end. */
  readonly #dirs: Array<{ full: string; rel: string; entry: TreeEntry }> = [];

  readonly #workers: FileWorkerPool;

  constructor(repo: Repository, input: RestoreInput, workers: FileWorkerPool) {
    this.#workers = workers;
    this.#repo = repo;
    this.#include = input.include ?? [];
  }

  #selected(rel: string, parentSelected: boolean): boolean {
    return (
      parentSelected || this.#include.length === 0 || this.#include.some((g) => path.matchesGlob(rel, g))
    );
  }

  /** Walks the tree: creates directories and symlinks, plans every selected file. */
  async plan(treeId: string, dir: string, rel: string, selected: boolean): Promise<void> {
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
    for (const entry of entries) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.name.includes('/') || entry.name === '.' || entry.name === '..' || entry.name === '') {
        this.failures.push({ path: childRel, problem: 'refused: the name is not a single path segment' });
        continue;
      }
      const full = path.join(dir, entry.name);
      const chosen = this.#selected(childRel, selected);
      if (entry.type === 'dir') {
        if (entry.subtree === undefined) continue;
        if (chosen) {
          await mkdir(full, { recursive: true });
          this.counters.dirs++;
          this.#dirs.push({ full, rel: childRel, entry });
        }
        await this.plan(entry.subtree, full, childRel, chosen);
        continue;
      }
      if (!chosen) continue;
      // Parents of a partly selected directory are made as needed (with default metadata).
      if (!selected) await mkdir(dir, { recursive: true });
      if (entry.type === 'symlink') await this.#symlink(full, entry, childRel);
      else if (entry.type === 'file') this.#planFile(full, entry, childRel);
    }
  }

  #planFile(full: string, entry: TreeEntry, rel: string): void {
    const content = entry.content ?? [];
    const job: FileJob = {
      rel,
      full,
      temp: tempName(full),
      entry,
      remaining: content.length,
      written: 0,
      failed: false,
      done: false,
    };
    if (entry.hardlink !== undefined) {
      const first = this.#groups.get(entry.hardlink);
      if (first !== undefined) {
        this.#links.push({ job, first });
        return;
      }
      this.#groups.set(entry.hardlink, job);
    }
    this.#jobs.push(job);
    let offset = 0;
    for (const id of content) {
      const blob = this.#repo.lookup(id);
      if (blob === undefined || blob.type !== 'data') {
        this.#fail(job, `data blob ${id} is not in the index`);
        return;
      }
      const list = this.#placements.get(id);
      if (list === undefined) this.#placements.set(id, [{ job, offset }]);
      else list.push({ job, offset });
      offset += blob.rawLength;
    }
  }

  /** Reads each needed pack once and writes its blobs where they go. */
  async writeFiles(packsInFlight: number): Promise<void> {
    // Empty files have nothing to wait for.
    for (const job of this.#jobs) if (job.remaining === 0 && !job.failed) await this.#complete(job);
    const byPack = new Map<string, IndexEntry[]>();
    for (const id of this.#placements.keys()) {
      const blob = this.#repo.lookup(id) as IndexEntry;
      const list = byPack.get(blob.pack);
      if (list === undefined) byPack.set(blob.pack, [blob]);
      else list.push(blob);
    }
    const limiter = new Limiter(packsInFlight);
    await Promise.all(
      [...byPack].map(([pack, blobs]) => limiter.run(() => this.#restoreInWindows(pack, blobs))),
    );
  }

  /**
   * A pack's needed blobs, a window of at most {@link RESTORE_WINDOW} bytes at
   * a time (a bigger blob alone), instead of the span of the whole pack (up to
   * 20 MiB, three packs in flight). Full restore of the issue-6 data, back to
   * back, load 8–9: 428–460 MiB peak RSS and 9.26–9.59 CPU-s with whole spans;
   * 380–393 MiB and 9.25–10.20 CPU-s with 8 MiB windows; 349–356 MiB but
   * 10.07–10.37 CPU-s with 4 MiB windows (more, smaller reads and waits).
   */
  async #restoreInWindows(pack: string, blobs: IndexEntry[]): Promise<void> {
    blobs.sort((a, b) => a.offset - b.offset);
    let window: IndexEntry[] = [];
    for (const blob of blobs) {
      const start = window[0]?.offset ?? blob.offset;
      if (window.length > 0 && blob.offset + blob.length - start > RESTORE_WINDOW) {
        await this.#restorePack(pack, window);
        window = [];
      }
      window.push(blob);
    }
    if (window.length > 0) await this.#restorePack(pack, window);
  }

  async #restorePack(pack: string, blobs: IndexEntry[]): Promise<void> {
    blobs.sort((a, b) => a.offset - b.offset);
    const first = blobs[0] as IndexEntry;
    const last = blobs[blobs.length - 1] as IndexEntry;
    const start = first.offset;
    let span: Buffer | undefined;
    let readProblem = '';
    try {
      span = await this.#repo.store.get(repositoryLayout.pack(pack), {
        offset: start,
        length: last.offset + last.length - start,
      });
    } catch (err) {
      readProblem = `pack ${pack} cannot be read: ${messageOf(err)}`;
    }
    // Blobs of one pack are decoded and written a few at a time: small files need several
    // file-system calls each, and those wait on the thread pool, not on the CPU.
    const limiter = new Limiter(8);
    await Promise.all(
      blobs.map((blob) =>
        limiter.run(async () => {
          const placements = (this.#placements.get(blob.id) ?? []).filter((p) => !p.job.failed);
          if (placements.length === 0) return;
          const only = placements.length === 1 ? placements[0] : undefined;
          if (
            span !== undefined &&
            only !== undefined &&
            only.offset === 0 &&
            only.job.remaining === 1 &&
            only.job.opening === undefined &&
            blob.type === 'data' &&
            blob.rawLength <= SYNC_WRITE_MAX
          ) {
            // A whole small file in one blob: a file worker verifies, decompresses and writes it.
            await this.#writeInWorker(
              only.job,
              blob,
              span.subarray(blob.offset - start, blob.offset - start + blob.length),
            );
            return;
          }
          let data: Buffer;
          try {
            if (span === undefined) throw new Error(readProblem);
            data = await this.#repo.decodeBlob(
              blob,
              span.subarray(blob.offset - start, blob.offset - start + blob.length),
            );
          } catch (err) {
            for (const p of placements) this.#fail(p.job, messageOf(err));
            return;
          }
          for (const p of placements) {
            // A whole small file in one blob: written with synchronous calls (see #writeWhole).
            if (
              p.offset === 0 &&
              p.job.remaining === 1 &&
              p.job.opening === undefined &&
              data.length <= SYNC_WRITE_MAX
            ) {
              this.#writeWhole(p.job, data);
            } else await this.#write(p, data);
          }
        }),
      ),
    );
  }

  async #write(placement: Placement, data: Buffer): Promise<void> {
    const { job } = placement;
    try {
      job.opening ??= open(job.temp, 'wx', 0o600);
      const handle = await job.opening;
      if (job.failed) {
        // Failed while opening: the clean-up may have missed this handle.
        await handle.close().catch(() => {});
        return;
      }
      job.handle = handle;
      await handle.write(data, 0, data.length, placement.offset);
      job.written += data.length;
      job.remaining--;
      if (job.remaining === 0) await this.#complete(job);
    } catch (err) {
      this.#fail(job, messageOf(err));
    }
  }

  async #writeInWorker(job: FileJob, blob: IndexEntry, sealed: Buffer): Promise<void> {
    const reply = await this.#workers.write({
      temp: job.temp,
      full: job.full,
      sealed,
      id: blob.id,
      type: 'data',
      compression: blob.compression,
      rawLength: blob.rawLength,
      mode: job.entry.mode,
      uid: job.entry.uid,
      gid: job.entry.gid,
      chown: isRoot,
      times: times(job.entry.mtimeNs),
    });
    if (!reply.ok) {
      this.#fail(job, `data blob ${blob.id} in pack ${blob.pack} is damaged or unwritable: ${reply.error}`);
      return;
    }
    if (job.entry.size !== undefined && blob.rawLength !== job.entry.size) {
      this.#fail(job, `restored ${blob.rawLength} bytes, the snapshot records ${job.entry.size}`);
      return;
    }
    job.remaining = 0;
    job.written = blob.rawLength;
    job.done = true;
    this.counters.files++;
    this.counters.bytes += blob.rawLength;
  }

  /**
   * Writes a file that is one small blob with synchronous calls: open, write,
   * owner, mode, times, close, rename — seven thread-pool round trips and
   * their promises per file cost ~5× the CPU of the calls themselves, and a
   * snapshot of many small files is mostly that. Same result and the same
   * atomicity (temp name, renamed when complete) as the asynchronous path.
   */
  #writeWhole(job: FileJob, data: Buffer): void {
    let fd: number | undefined;
    try {
      fd = openSync(job.temp, 'wx', 0o600);
      let at = 0;
      while (at < data.length) at += writeSync(fd, data, at, data.length - at, at);
      if (job.entry.size !== undefined && data.length !== job.entry.size) {
        throw new Error(`restored ${data.length} bytes, the snapshot records ${job.entry.size}`);
      }
      if (isRoot) fchownSync(fd, job.entry.uid, job.entry.gid);
      fchmodSync(fd, job.entry.mode);
      futimesSync(fd, ...times(job.entry.mtimeNs));
      closeSync(fd);
      fd = undefined;
      renameSync(job.temp, job.full);
      job.remaining = 0;
      job.written = data.length;
      job.done = true;
      this.counters.files++;
      this.counters.bytes += data.length;
    } catch (err) {
      if (fd !== undefined) {
        try {
          closeSync(fd);
        } catch {}
      }
      this.#fail(job, messageOf(err));
    }
  }

  /** All blobs are in: size check, metadata, close, rename into place. */
  async #complete(job: FileJob): Promise<void> {
    try {
      job.opening ??= open(job.temp, 'wx', 0o600);
      const handle = await job.opening;
      job.handle = handle;
      const size = job.written;
      if (job.entry.size !== undefined && size !== job.entry.size) {
        throw new Error(`restored ${size} bytes, the snapshot records ${job.entry.size}`);
      }
      if (isRoot) await handle.chown(job.entry.uid, job.entry.gid);
      await handle.chmod(job.entry.mode);
      await handle.utimes(...times(job.entry.mtimeNs));
      job.handle = undefined;
      await handle.close();
      await rename(job.temp, job.full);
      job.done = true;
      this.counters.files++;
      this.counters.bytes += size;
    } catch (err) {
      this.#fail(job, messageOf(err));
    }
  }

  #fail(job: FileJob, problem: string): void {
    if (job.failed) return;
    job.failed = true;
    this.failures.push({ path: job.rel, problem });
    const handle = job.handle;
    job.handle = undefined;
    void (async () => {
      await handle?.close().catch(() => {});
      await rm(job.temp, { force: true }).catch(() => {});
    })();
  }

  /** Hard links, leftovers, then directory metadata (deepest first: writing into a directory moves its mtime). */
  async finish(): Promise<void> {
    for (const { job, first } of this.#links) {
      if (first.done) {
        try {
          await link(first.full, job.temp);
          await rename(job.temp, job.full);
          this.counters.files++;
          continue;
        } catch {
          await rm(job.temp, { force: true }).catch(() => {});
        }
      }
      if (first.failed) {
        this.failures.push({
          path: job.rel,
          problem: `hard link to ${first.rel}, which could not be restored`,
        });
      } else {
        this.failures.push({ path: job.rel, problem: `could not link to ${first.rel}` });
      }
    }
    for (const job of this.#jobs) {
      if (!job.done && !job.failed) this.#fail(job, 'not every blob was written');
    }
    // Let the failure clean-ups (close + remove temp) run before directory times are set.
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all(
      this.#jobs.filter((j) => j.failed).map((j) => rm(j.temp, { force: true }).catch(() => {})),
    );
    for (const dir of [...this.#dirs].reverse()) {
      await applyMeta(dir.full, dir.entry, false).catch((err: unknown) => {
        this.failures.push({ path: dir.rel, problem: `metadata: ${messageOf(err)}` });
      });
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
  if (isRoot) await lchown(target, meta.uid, meta.gid);
  if (isLink) {
    await lutimes(target, ...times(meta.mtimeNs));
    return;
  }
  await chmod(target, meta.mode);
  await utimes(target, ...times(meta.mtimeNs));
}
