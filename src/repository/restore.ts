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
import { closeSync, fchmodSync, fchownSync, ftruncateSync, futimesSync, openSync, renameSync } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, rename, rm, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { readRange } from '../storage/blob-store.ts';
import { messageOf } from '../storage/body.ts';
import { repositoryError } from './errors.ts';
import { FileWorkerPool, RESTORE_READ_BYTES, type RestoreBlob, type RestoreReply } from './file-worker.ts';
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
  /**
   * Write all-zero blobs as holes (restic's and kopia's `--sparse`): a file's
   * zero ranges take no disk space, its bytes read the same. Off by default, as
   * there: some tools expect a file's blocks to be allocated.
   */
  readonly sparse?: boolean;
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

/**
 * Bytes of a pack read at once (see RestoreRun.#restoreInWindows); also the
 * capacity of the reused span buffers.
 */
const RESTORE_WINDOW = 8 * 1024 * 1024;

/** A batch for a file worker ends after this many sealed bytes or blobs (a pack is ~4–8 batches). */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_BLOBS = 128;

/** Blobs handed to a worker at once, and what they belong to (to book the reply). */
interface Batch {
  readonly items: RestoreBlob[];
  readonly refs: Array<{ blob: IndexEntry; whole: FileJob[]; parts: Placement[] }>;
}

/**
 * Shared buffers for pack spans, reused: one per pack in flight, so reading
 * ~1 GiB of packs allocates a few buffers instead of one per pack (each fresh
 * buffer is external memory that makes V8 collect the whole heap again).
 * A span bigger than the capacity (a pack holding a huge tree) gets its own.
 */
class SpanPool {
  readonly #capacity: number;
  readonly #max: number;
  readonly #free: SharedArrayBuffer[] = [];
  readonly #waiting: Array<() => void> = [];
  #created = 0;

  constructor(capacity: number, max: number) {
    this.#capacity = capacity;
    this.#max = max;
  }

  async acquire(length: number): Promise<SharedArrayBuffer> {
    if (length > this.#capacity) return new SharedArrayBuffer(length);
    for (;;) {
      const free = this.#free.pop();
      if (free !== undefined) return free;
      if (this.#created < this.#max) {
        this.#created++;
        return new SharedArrayBuffer(this.#capacity);
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  release(buffer: SharedArrayBuffer): void {
    if (buffer.byteLength !== this.#capacity) return;
    this.#free.push(buffer);
    this.#waiting.shift()?.();
  }
}

/** One file to write: where, what, and how far along it is. */
interface FileJob {
  /** The directory it is in (one object per directory: paths are made when needed, see fullOf). */
  readonly parent: PlannedDir;
  /** Numbers its temp name (tempOf). */
  readonly tempId: number;
  readonly entry: TreeEntry;
  /** The file is exactly one blob: a worker writes it whole. */
  readonly single: boolean;
  remaining: number;
  written: number;
  /** The open temp file of a file of several blobs (workers write into it; see #openPart). */
  fd?: number;
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
  readonly #sparse: boolean;

  constructor(repo: Repository, input: RestoreInput, workers: FileWorkerPool) {
    this.#workers = workers;
    this.#repo = repo;
    this.#include = input.include ?? [];
    this.#sparse = input.sparse === true;
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
    const parent: PlannedDir = { full: dir, rel };
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
      else if (entry.type === 'file') this.#planFile(parent, entry);
    }
  }

  #planFile(parent: PlannedDir, entry: TreeEntry): void {
    const content = entry.content ?? [];
    const job: FileJob = {
      parent,
      tempId: tempCount++,
      entry,
      single: content.length === 1,
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
    for (const job of this.#jobs) if (job.remaining === 0 && !job.failed) this.#complete(job);
    const byPack = new Map<string, IndexEntry[]>();
    for (const id of this.#placements.keys()) {
      const blob = this.#repo.lookup(id) as IndexEntry;
      const list = byPack.get(blob.pack);
      if (list === undefined) byPack.set(blob.pack, [blob]);
      else list.push(blob);
    }
    const limiter = new Limiter(packsInFlight);
    // One reused span buffer per pack in flight, a window in size (a bigger blob gets its own).
    const spans = new SpanPool(RESTORE_WINDOW, packsInFlight);
    await Promise.all(
      [...byPack].map(([pack, blobs]) => limiter.run(() => this.#restoreInWindows(pack, blobs, spans))),
    );
  }

  /**
   * A pack's needed blobs, a window of at most {@link RESTORE_WINDOW} bytes at
   * a time (a bigger blob alone), instead of the span of the whole pack (up to
   * 20 MiB, three packs in flight). Full restore of the issue-6 data, back to
   * back, load 8–9: 428–460 MiB peak RSS and 9.26–9.59 CPU-s with whole spans;
   * 380–393 MiB and 9.25–10.20 CPU-s with 8 MiB windows; 349–356 MiB but
   * 10.07–10.37 CPU-s with 4 MiB windows (more, smaller reads and waits).
   * (Measured before the span buffers were shared and reused.)
   */
  async #restoreInWindows(pack: string, blobs: IndexEntry[], spans: SpanPool): Promise<void> {
    blobs.sort((a, b) => a.offset - b.offset);
    let window: IndexEntry[] = [];
    for (const blob of blobs) {
      const start = window[0]?.offset ?? blob.offset;
      if (window.length > 0 && blob.offset + blob.length - start > RESTORE_WINDOW) {
        await this.#restorePack(pack, window, spans);
        window = [];
      }
      window.push(blob);
    }
    if (window.length > 0) await this.#restorePack(pack, window, spans);
  }

  /**
   * Hands the needed blobs of a window of a pack to the file workers in
   * batches: each blob is opened and verified once, and written wherever it
   * goes. A pack that is a local file (`BlobStore.localFile`) is read by the
   * workers themselves, each its batch's range (at most RESTORE_READ_BYTES,
   * so their read buffers stay one size); any other is read here into a
   * shared buffer both workers take batches of (nothing copied or
   * transferred).
   */
  async #restorePack(pack: string, blobs: IndexEntry[], spans: SpanPool): Promise<void> {
    blobs.sort((a, b) => a.offset - b.offset);
    const first = blobs[0] as IndexEntry;
    const last = blobs[blobs.length - 1] as IndexEntry;
    const start = first.offset;
    const length = last.offset + last.length - start;
    const key = repositoryLayout.pack(pack);
    const file = this.#repo.store.localFile?.(key);
    const shared = file === undefined ? await spans.acquire(length) : undefined;
    try {
      // Bytes of the window there are: what was read here, or (read by the workers) all until they say.
      let read = length;
      if (shared !== undefined) {
        try {
          const target = Buffer.from(shared, 0, length);
          read = (await readRange(this.#repo.store, key, { offset: start, length }, target)).length;
        } catch (err) {
          for (const blob of blobs) this.#failBlob(blob, unreadable(pack, messageOf(err)));
          return;
        }
      }
      const batches: Batch[] = [];
      let batch: Batch = { items: [], refs: [] };
      let bytes = 0;
      const nextBatch = (): void => {
        batches.push(batch);
        batch = { items: [], refs: [] };
        bytes = 0;
      };
      for (const blob of blobs) {
        if (blob.offset + blob.length - start > read) {
          // A truncated pack: the shared buffer beyond `read` holds an earlier pack's bytes.
          this.#failBlob(blob, cutOff(pack, blob));
          continue;
        }
        const whole: FileJob[] = [];
        const parts: Placement[] = [];
        for (const p of this.#placements.get(blob.id) ?? []) {
          if (p.job.failed) continue;
          if (p.job.single) whole.push(p.job);
          else if (this.#openPart(p.job)) parts.push(p);
        }
        if (whole.length === 0 && parts.length === 0) continue;
        const head = batch.refs[0]?.blob;
        if (
          file !== undefined &&
          head !== undefined &&
          blob.offset + blob.length - head.offset > RESTORE_READ_BYTES
        ) {
          // The workers' read buffers hold RESTORE_READ_BYTES: the next blob starts a new batch.
          nextBatch();
        }
        batch.items.push({
          at: blob.offset - start,
          length: blob.length,
          id: blob.id,
          compression: blob.compression,
          rawLength: blob.rawLength,
          whole: whole.map((job) => ({
            temp: tempOf(job),
            full: fullOf(job),
            ...(job.entry.size === undefined ? {} : { size: job.entry.size }),
            mode: job.entry.mode,
            uid: job.entry.uid,
            gid: job.entry.gid,
            chown: isRoot,
            times: times(job.entry.mtimeNs),
          })),
          parts: parts.map((p) => ({ fd: p.job.fd as number, offset: p.offset })),
        });
        batch.refs.push({ blob, whole, parts });
        bytes += blob.length;
        if (bytes >= BATCH_BYTES || batch.items.length >= BATCH_BLOBS) nextBatch();
      }
      if (batch.items.length > 0) batches.push(batch);
      const source = file === undefined ? { span: shared as SharedArrayBuffer } : { file, offset: start };
      await Promise.all(
        batches.map(async (b) =>
          this.#settle(pack, b, await this.#workers.restore(source, b.items, this.#sparse)),
        ),
      );
    } finally {
      if (shared !== undefined) spans.release(shared);
    }
  }

  /** Fails every file a blob goes to. */
  #failBlob(blob: IndexEntry, problem: string): void {
    for (const p of this.#placements.get(blob.id) ?? []) this.#fail(p.job, problem);
  }

  /** Opens the temp file of a file of several blobs once (the workers write into it by fd); false when it failed. */
  #openPart(job: FileJob): boolean {
    if (job.fd !== undefined) return true;
    try {
      job.fd = openSync(tempOf(job), 'wx', 0o600);
      return true;
    } catch (err) {
      this.#fail(job, messageOf(err));
      return false;
    }
  }

  /** Books a batch's outcome: whole files are done, parts count down their file. */
  #settle(pack: string, batch: Batch, reply: RestoreReply): void {
    if (reply.unreadable !== undefined) {
      for (const { blob } of batch.refs) this.#failBlob(blob, unreadable(pack, reply.unreadable));
      return;
    }
    const broken = new Map<number, string>();
    const failedWhole = new Map<string, string>();
    const failedPart = new Map<string, string>();
    /** Blobs beyond the end of the pack file (read by the worker): their files fail with that. */
    const cut = new Set<number>();
    for (const p of reply.problems) {
      if (p.cutOff === true) cut.add(p.blob);
      else if (p.whole !== undefined) failedWhole.set(`${p.blob}:${p.whole}`, p.error);
      else if (p.part !== undefined) failedPart.set(`${p.blob}:${p.part}`, p.error);
      else broken.set(p.blob, p.error);
    }
    batch.refs.forEach(({ blob, whole, parts }, b) => {
      if (cut.has(b)) {
        this.#failBlob(blob, cutOff(pack, blob));
        return;
      }
      const damage = broken.get(b);
      const damaged = `data blob ${blob.id} in pack ${pack} is damaged: ${damage}`;
      whole.forEach((job, i) => {
        const problem = damage === undefined ? failedWhole.get(`${b}:${i}`) : damaged;
        if (problem !== undefined) {
          this.#fail(job, problem);
          return;
        }
        job.remaining = 0;
        job.written = blob.rawLength;
        job.done = true;
        this.counters.files++;
        this.counters.bytes += blob.rawLength;
      });
      parts.forEach(({ job }, i) => {
        const problem = damage === undefined ? failedPart.get(`${b}:${i}`) : damaged;
        if (problem !== undefined) {
          this.#fail(job, problem);
          return;
        }
        if (job.failed) return;
        job.written += blob.rawLength;
        job.remaining--;
        if (job.remaining === 0) this.#complete(job);
      });
    });
  }

  /**
   * All blobs are in (or none were needed): size check, metadata, close,
   * rename into place. Synchronous calls: a few per file of several blobs
   * (or an empty file), where fs/promises costs ~5× their CPU.
   */
  #complete(job: FileJob): void {
    try {
      job.fd ??= openSync(tempOf(job), 'wx', 0o600);
      const size = job.written;
      if (job.entry.size !== undefined && size !== job.entry.size) {
        throw new Error(`restored ${size} bytes, the snapshot records ${job.entry.size}`);
      }
      // Sparse: zero blobs were skipped, so a file ending in one is still short.
      if (this.#sparse) ftruncateSync(job.fd, size);
      if (isRoot) fchownSync(job.fd, job.entry.uid, job.entry.gid);
      fchmodSync(job.fd, job.entry.mode);
      futimesSync(job.fd, ...times(job.entry.mtimeNs));
      const fd = job.fd;
      job.fd = undefined;
      closeSync(fd);
      renameSync(tempOf(job), fullOf(job));
      job.done = true;
      this.counters.files++;
      this.counters.bytes += size;
    } catch (err) {
      this.#fail(job, messageOf(err));
    }
  }

  /**
   * Records a file as not restored. Its temp file is removed in finish(),
   * once no worker can still be writing into it by fd.
   */
  #fail(job: FileJob, problem: string): void {
    if (job.failed) return;
    job.failed = true;
    this.failures.push({ path: relOf(job), problem });
  }

  /** Hard links, leftovers, then directory metadata (deepest first: writing into a directory moves its mtime). */
  async finish(): Promise<void> {
    for (const { job, first } of this.#links) {
      if (first.done) {
        try {
          await link(fullOf(first), tempOf(job));
          await rename(tempOf(job), fullOf(job));
          this.counters.files++;
          continue;
        } catch {
          await rm(tempOf(job), { force: true }).catch(() => {});
        }
      }
      if (first.failed) {
        this.failures.push({
          path: relOf(job),
          problem: `hard link to ${relOf(first)}, which could not be restored`,
        });
      } else {
        this.failures.push({ path: relOf(job), problem: `could not link to ${relOf(first)}` });
      }
    }
    for (const job of this.#jobs) {
      if (!job.done && !job.failed) this.#fail(job, 'not every blob was written');
    }
    // Every pack is done: no worker writes into a temp file any more.
    for (const job of this.#jobs) {
      if (job.fd === undefined) continue;
      try {
        closeSync(job.fd);
      } catch {}
      job.fd = undefined;
    }
    await Promise.all(
      this.#jobs.filter((j) => j.failed).map((j) => rm(tempOf(j), { force: true }).catch(() => {})),
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

/** Random per process, then a counter: a name no other run makes (randomBytes per file was ~0.1 CPU-s per 20,000 files). */
const tempPrefix = randomBytes(4).toString('hex');
let tempCount = 0;

function unreadable(pack: string, why: string): string {
  return `pack ${pack} cannot be read: ${why}`;
}

function cutOff(pack: string, blob: IndexEntry): string {
  return `pack ${pack} is shorter than the index says (data blob ${blob.id} is cut off)`;
}

/** A directory of planned files: its path and its path in the snapshot. */
interface PlannedDir {
  readonly full: string;
  readonly rel: string;
}

/*
 * A file job's paths are made from its directory when needed instead of kept:
 * three strings per file were ~6 MB of a 20,000-file restore's heap.
 */
function fullOf(job: FileJob): string {
  return path.join(job.parent.full, job.entry.name);
}

function relOf(job: FileJob): string {
  return job.parent.rel === '' ? job.entry.name : `${job.parent.rel}/${job.entry.name}`;
}

/** The same name every time for a job (its number is fixed when planned). */
function tempOf(job: FileJob): string {
  return tempPath(job.parent.full, job.entry.name, job.tempId);
}

/** A fresh temp name beside `full`. */
function tempName(full: string): string {
  return tempPath(path.dirname(full), path.basename(full), tempCount++);
}

/** The temp name numbered `id` for `name` in `dir`: hidden, and no other run makes it. */
function tempPath(dir: string, name: string, id: number): string {
  return path.join(dir, `.${name}.cairn-restore-${tempPrefix}${id.toString(36)}`);
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
