import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { blobNotFound, StorageError } from '../../errors/storage-error.ts';
import {
  assertValidKey,
  assertValidPrefix,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  compareKeys,
  type ListOptions,
  type PutBody,
  type PutOptions,
  type StagedWrite,
  TEMP_FILE_MARKER,
} from '../blob-store.ts';
import { bodyChunks } from '../body.ts';
import { resolveRange } from '../range.ts';
import { errnoOf, storageErrorFromFs } from './fs-errors.ts';

/** How many `stat` calls a listing keeps in flight; enough to hide latency on NFS. */
const STAT_CONCURRENCY = 64;

/**
 * The filesystem backend and Cairn's embedded default; works on local disks
 * and NFS. Each key is a file under `root`; a put writes a temp file in the
 * target folder, fsyncs it, renames it over the final name (atomic on POSIX
 * and NFS) and fsyncs the folder, so a crash leaves either the old object or
 * the new one. Temp files carry {@link TEMP_FILE_MARKER}, which valid keys may
 * not contain, so `list` can always tell them apart.
 *
 * Unlike S3, a key cannot also be the folder of other keys (`a` and `a/b`);
 * Cairn's layout never builds such pairs.
 */
export class FileSystemBlobStore implements BlobStore {
  readonly description: string;
  readonly root: string;

  /** `root` must exist (see `ensureRoot`); a missing root is reported as `bucket-missing`. */
  constructor(root: string) {
    this.root = path.resolve(root);
    this.description = pathToFileURL(this.root).href;
  }

  /**
   * Creates the root folder if needed; used by `location init`. Only the last
   * level is created: a missing parent usually means an NFS share that is not
   * mounted, and writing into the empty mount point would hide that.
   */
  async ensureRoot(): Promise<void> {
    try {
      await mkdir(this.root);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST') return;
      if (code === 'ENOENT') {
        throw new StorageError('bucket-missing', `the parent folder of ${this.root} does not exist`, {
          hint: 'Create the parent folder first (and check that the NFS share is mounted). Nothing was written.',
        });
      }
      throw storageErrorFromFs(err, `cannot create the location folder ${this.root}`);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const handle = await this.#openForRead(key);
    try {
      const { size } = await handle.stat();
      const [start, end] = resolveRange(size, range, key);
      const buffer = Buffer.allocUnsafe(end - start);
      let filled = 0;
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === buffer.length ? buffer : buffer.subarray(0, filled);
    } catch (err) {
      throw storageErrorFromFs(err, `cannot read "${key}"`, key);
    } finally {
      await handle.close();
    }
  }

  localFile(key: string): string {
    return this.#pathOf(key);
  }

  async readInto(key: string, range: Required<ByteRange>, target: Uint8Array): Promise<number> {
    const handle = await this.#openForRead(key);
    try {
      const { size } = await handle.stat();
      const [start, end] = resolveRange(size, range, key);
      const length = end - start;
      if (target.length < length) {
        throw new StorageError('invalid', `cannot read ${length} bytes of "${key}" into ${target.length}`, {
          key,
        });
      }
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(target, filled, length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled;
    } catch (err) {
      throw storageErrorFromFs(err, `cannot read "${key}"`, key);
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string, range?: ByteRange): Promise<import('node:stream').Readable> {
    const handle = await this.#openForRead(key);
    try {
      const { size } = await handle.stat();
      const [start, end] = resolveRange(size, range, key);
      if (end === start) {
        await handle.close();
        const { Readable } = await import('node:stream');
        return Readable.from([]);
      }
      // The stream owns the handle from here and closes it when done or destroyed.
      return handle.createReadStream({ start, end: end - 1, highWaterMark: 1 << 20, autoClose: true });
    } catch (err) {
      await handle.close();
      throw storageErrorFromFs(err, `cannot read "${key}"`, key);
    }
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<BlobInfo> {
    assertValidKey(key);
    const target = this.#pathOf(key);
    const folder = path.dirname(target);
    const temp = `${target}${TEMP_FILE_MARKER}${randomBytes(6).toString('hex')}`;
    let handle: FileHandle | undefined;
    try {
      handle = await this.#createTemp(folder, temp);
      let size = 0;
      for await (const chunk of bodyChunks(body, key, options.length)) {
        await writeFully(handle, chunk);
        size += chunk.length;
      }
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(temp, target);
      await syncFolder(folder);
      return { key, size, modified: new Date() };
    } catch (err) {
      await handle?.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw storageErrorFromFs(err, `cannot write "${key}" in ${this.description}`, key);
    }
  }

  /**
   * A temp file in the root (its name carries {@link TEMP_FILE_MARKER}, so
   * `list` never shows it); commit fsyncs it, renames it to the key's path
   * (same file system: no copy) and fsyncs that folder — the same durability
   * and atomicity as {@link put}. A crash leaves at most a temp file, as a put's.
   */
  async stage(): Promise<StagedWrite> {
    const temp = path.join(this.root, `stage${TEMP_FILE_MARKER}${randomBytes(6).toString('hex')}`);
    let handle: FileHandle | undefined;
    try {
      handle = await open(temp, 'wx', 0o600);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') await this.#requireRoot();
      throw storageErrorFromFs(err, `cannot create a temp file in ${this.description}`);
    }
    let size = 0;
    let done = false;
    const abort = async () => {
      done = true;
      await handle?.close().catch(() => {});
      handle = undefined;
      await unlink(temp).catch(() => {});
    };
    return {
      write: async (bytes) => {
        if (handle === undefined || done) throw new Error('staged write used after commit or abort');
        try {
          await writeFully(handle, bytes);
          size += bytes.length;
        } catch (err) {
          throw storageErrorFromFs(err, `cannot write a temp file in ${this.description}`);
        }
      },
      commit: async (key) => {
        assertValidKey(key);
        if (handle === undefined || done) throw new Error('staged write used after commit or abort');
        done = true;
        const target = this.#pathOf(key);
        const folder = path.dirname(target);
        try {
          await handle.sync();
          await handle.close();
          handle = undefined;
          for (let attempt = 1; ; attempt++) {
            try {
              await rename(temp, target);
              break;
            } catch (err) {
              // The folder is missing (first object in it, or pruned by a concurrent delete).
              if (errnoOf(err) !== 'ENOENT' || attempt >= 5) throw err;
              await this.#requireRoot();
              await mkdir(folder, { recursive: true });
            }
          }
          await syncFolder(folder);
          return { key, size, modified: new Date() };
        } catch (err) {
          await abort();
          throw storageErrorFromFs(err, `cannot write "${key}" in ${this.description}`, key);
        }
      },
      abort,
    };
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    assertValidKey(key);
    try {
      const info = await stat(this.#pathOf(key));
      if (!info.isFile()) return undefined;
      return { key, size: info.size, modified: info.mtime };
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') {
        await this.#requireRoot();
        return undefined;
      }
      throw storageErrorFromFs(err, `cannot stat "${key}"`, key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    assertValidPrefix(prefix);
    await this.#requireRoot();
    const slash = prefix.lastIndexOf('/');
    const folderKey = slash === -1 ? '' : prefix.slice(0, slash + 1);
    yield* this.#walk(folderKey, prefix.slice(slash + 1), options.startAfter);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    const target = this.#pathOf(key);
    try {
      await unlink(target);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        await this.#requireRoot();
        return;
      }
      throw storageErrorFromFs(err, `cannot delete "${key}"`, key);
    }
    await this.#pruneEmptyFolders(path.dirname(target));
  }

  async close(): Promise<void> {}

  /** Walks `folderKey` depth-first, yielding keys in UTF-8 byte order that start with `folderKey + namePrefix`. */
  async *#walk(
    folderKey: string,
    namePrefix: string,
    startAfter: string | undefined,
  ): AsyncIterable<BlobInfo> {
    let entries: Dirent[];
    try {
      entries = await readdir(path.join(this.root, ...folderKey.split('/').filter(Boolean)), {
        withFileTypes: true,
      });
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw storageErrorFromFs(err, `cannot list "${folderKey}"`, folderKey);
    }
    // Folders sort as `name/` so that `a-b` (0x2d) comes before `a/…` (0x2f), exactly as S3 lists.
    const candidates = entries
      .filter((e) => e.name.startsWith(namePrefix) && !e.name.includes(TEMP_FILE_MARKER))
      .filter((e) => e.isDirectory() || e.isFile())
      .map((e) => ({ entry: e, sortKey: folderKey + e.name + (e.isDirectory() ? '/' : '') }))
      .filter(({ sortKey, entry }) => {
        if (startAfter === undefined) return true;
        if (entry.isFile()) return compareKeys(sortKey, startAfter) > 0;
        // A folder whose every key sorts before `startAfter` can be skipped whole.
        return startAfter.startsWith(sortKey) || compareKeys(sortKey, startAfter) > 0;
      })
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));

    for (let i = 0; i < candidates.length; ) {
      // Stat a run of consecutive files in parallel; recurse into folders in order.
      const run: typeof candidates = [];
      while (i < candidates.length && run.length < STAT_CONCURRENCY && candidates[i]?.entry.isFile()) {
        const next = candidates[i];
        if (next !== undefined) run.push(next);
        i++;
      }
      if (run.length > 0) {
        const infos = await Promise.all(run.map(({ sortKey }) => this.#statForList(sortKey)));
        for (const info of infos) if (info !== undefined) yield info;
        continue;
      }
      const folder = candidates[i];
      i++;
      if (folder !== undefined) yield* this.#walk(folder.sortKey, '', startAfter);
    }
  }

  async #statForList(key: string): Promise<BlobInfo | undefined> {
    try {
      const info = await stat(this.#pathOf(key));
      return info.isFile() ? { key, size: info.size, modified: info.mtime } : undefined;
    } catch (err) {
      // Deleted between readdir and stat: a concurrent delete, not an error.
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw storageErrorFromFs(err, `cannot stat "${key}"`, key);
    }
  }

  async #openForRead(key: string): Promise<FileHandle> {
    assertValidKey(key);
    try {
      return await open(this.#pathOf(key), 'r');
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
        await this.#requireRoot();
        throw blobNotFound(key, this.description);
      }
      throw storageErrorFromFs(err, `cannot open "${key}"`, key);
    }
  }

  /**
   * Opens the temp file exclusively. The folder usually exists, so the happy
   * path is one `open`; on ENOENT the root is checked first (a missing root —
   * an unmounted share — must fail, never be recreated by `mkdir -p`), then
   * the folders are created. Retries when a concurrent delete pruned them.
   */
  async #createTemp(folder: string, temp: string): Promise<FileHandle> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await open(temp, 'wx', 0o600);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT' || attempt >= 5) throw err;
      }
      await this.#requireRoot();
      await mkdir(folder, { recursive: true });
    }
  }

  async #pruneEmptyFolders(folder: string): Promise<void> {
    let current = folder;
    while (current.startsWith(this.root + path.sep)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty, already gone, or not ours to remove: all fine
      }
      current = path.dirname(current);
    }
  }

  async #requireRoot(): Promise<void> {
    try {
      const info = await stat(this.root);
      if (info.isDirectory()) return;
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw storageErrorFromFs(err, `cannot reach ${this.root}`);
    }
    throw new StorageError('bucket-missing', `the location folder ${this.root} does not exist`, {
      hint: 'Create it with `cairn location init`, or check the path (and that the NFS share is mounted).',
    });
  }

  #pathOf(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }
}

/** Writes all of `bytes` at the file position (a write may take fewer bytes than offered). */
async function writeFully(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const result = await handle.write(bytes, written, bytes.length - written);
    written += result.bytesWritten;
  }
}

/** fsyncs a folder so a rename in it survives a crash; some file systems refuse, which is fine. */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch {
    // EINVAL/EISDIR/EBADF on file systems that cannot fsync folders (some NFS, Windows).
  } finally {
    await handle?.close().catch(() => {});
  }
}
