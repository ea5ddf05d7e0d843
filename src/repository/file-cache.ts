/**
 * The incremental-backup metadata cache: per repository and source, a local
 * file mapping each backed-up file's path to what identified it (size,
 * mtime, ctime, inode) and its content blob ids. A file whose metadata is
 * unchanged is not opened again: its blob ids are reused.
 *
 * - **Local, never in the repository**: `$XDG_CACHE_HOME/cairn` (else
 *   `~/.cache/cairn`) or `--cache-dir`, under
 *   `repositories/<repository id>/files/<sha256(host, source path)>.json.zst`.
 *   Losing it only costs time (everything is read once more).
 * - **Validated against the repository**: an entry is used only when every
 *   blob it names is in the index loaded at the start of the backup. A cache
 *   from before a prune, another repository with the same id, or a damaged
 *   file therefore costs a re-read, never a snapshot naming a missing blob.
 * - **Written after the snapshot**, atomically (temp file, then rename), and
 *   only with the entries this backup saw. Files modified in the last second
 *   before the backup started are left out, so a change within the
 *   timestamp's granularity after the read is not masked (the "racy git"
 *   problem).
 * - ctime is part of the key: `touch -m` back to an old mtime, or a rename
 *   over the file, changes it (restic uses ctime the same way).
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Repository } from './repository.ts';

export const FILE_CACHE_VERSION = 1;

interface CachedFile {
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  readonly content: readonly string[];
}

interface CacheFile {
  readonly version: number;
  readonly repository: string;
  readonly source: string;
  readonly files: Record<string, CachedFile>;
}

/** The default cache folder: `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`. */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg !== undefined && xdg !== '' ? xdg : path.join(homedir(), '.cache'), 'cairn');
}

export class FileCache {
  readonly #file: string;
  readonly #repo: Repository;
  readonly #source: string;
  readonly #old: Map<string, CachedFile>;
  readonly #next = new Map<string, CachedFile>();
  /** Files newer than this (ns) are not written to the cache. */
  readonly #racyFrom: bigint;
  hits = 0;

  private constructor(
    file: string,
    repo: Repository,
    source: string,
    old: Map<string, CachedFile>,
    started: Date,
  ) {
    this.#file = file;
    this.#repo = repo;
    this.#source = source;
    this.#old = old;
    this.#racyFrom = (BigInt(started.getTime()) - 1000n) * 1_000_000n;
  }

  /** Opens the cache of a repository and source; a missing or unreadable cache starts empty. */
  static async open(input: {
    dir: string;
    repo: Repository;
    source: string;
    started: Date;
  }): Promise<FileCache> {
    const name = createHash('sha256').update(`${hostname()}\0${input.source}`).digest('hex');
    const file = path.join(input.dir, 'repositories', input.repo.config.id, 'files', `${name}.json.zst`);
    let old = new Map<string, CachedFile>();
    try {
      const parsed = JSON.parse(zlib.zstdDecompressSync(await readFile(file)).toString('utf8')) as CacheFile;
      if (
        parsed.version === FILE_CACHE_VERSION &&
        parsed.repository === input.repo.config.id &&
        parsed.source === input.source
      ) {
        old = new Map(Object.entries(parsed.files));
      }
    } catch {
      // No cache yet, or a damaged one: everything is read.
    }
    return new FileCache(file, input.repo, input.source, old, input.started);
  }

  /** The content of an unchanged file whose blobs are all in the index, else undefined. */
  lookup(rel: string, st: BigIntStats): readonly string[] | undefined {
    const hit = this.#old.get(rel);
    if (hit === undefined || !this.#matches(hit, st) || !hit.content.every((id) => this.#repo.has(id))) {
      return undefined;
    }
    this.hits++;
    return hit.content;
  }

  /**
   * Records a file as backed up with this content. Given the very array
   * {@link lookup} returned for it (and the same `st`), the file is unchanged
   * and keeps its old entry: no second copy of its strings and ids for the
   * rest of the backup (~5 MB of heap for 20,000 files), and no second check.
   */
  record(rel: string, st: BigIntStats, content: readonly string[], size: number): void {
    if (size !== Number(st.size) || st.mtimeNs >= this.#racyFrom || st.ctimeNs >= this.#racyFrom) return;
    const old = this.#old.get(rel);
    if (old !== undefined && old.content === content) {
      this.#next.set(rel, old);
      return;
    }
    this.#next.set(rel, {
      size,
      mtimeNs: st.mtimeNs.toString(),
      ctimeNs: st.ctimeNs.toString(),
      ino: st.ino.toString(),
      content,
    });
  }

  #matches(entry: CachedFile, st: BigIntStats): boolean {
    return (
      entry.size === Number(st.size) &&
      entry.mtimeNs === st.mtimeNs.toString() &&
      entry.ctimeNs === st.ctimeNs.toString() &&
      entry.ino === st.ino.toString()
    );
  }

  /** Replaces the cache file with this backup's entries (call after the snapshot is stored). */
  async save(): Promise<void> {
    const body: CacheFile = {
      version: FILE_CACHE_VERSION,
      repository: this.#repo.config.id,
      source: this.#source,
      files: Object.fromEntries(this.#next),
    };
    await mkdir(path.dirname(this.#file), { recursive: true });
    const temp = `${this.#file}.${process.pid}.tmp`;
    try {
      await writeFile(temp, zlib.zstdCompressSync(Buffer.from(JSON.stringify(body))));
      await rename(temp, this.#file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }
}
