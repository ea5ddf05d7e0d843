/**
 * Worker threads for the many-small-files path of backup and restore.
 *
 * Why (profile, docs/benchmarks.md "Repository"): a small file costs three
 * to seven fs/promises round trips (thread-pool hop + promise each, ~50 µs
 * of CPU apiece) — more than hashing and sealing its bytes. Synchronous calls
 * are ~5× cheaper, but on the main thread they serialise the disk's latency
 * (a cold page cache made the full backup slower in wall time although it
 * used less CPU). So each worker does the whole job for one file with
 * synchronous calls, and a few workers keep several files in flight:
 *
 * - backup (`read`): open, read, close; blob id (HMAC); zstd when the sample
 *   says it pays; seal — and returns the id and the sealed bytes (transferred,
 *   not copied). The main thread only deduplicates and appends to a pack.
 * - backup (`chunk`, files of more than one chunk): read, chunk and id the
 *   file; per batch of chunks, ask the main thread which ids it still needs
 *   (it claims them in the writer, so a chunk shared by two files is sealed
 *   once), then seal and send only those. The file's bytes never reach the
 *   main thread, which before did this chunking and hashing itself: ~0.45 s of
 *   its time for the incremental's one changed 200 MiB file, in series with the
 *   walk's 20,000 `lstat`s.
 * - restore (`restore`): a batch of blobs of one pack — read by the worker
 *   itself from a pack that is a local file (one synchronous read of the
 *   batch's range into a reused buffer), else by the main thread into a
 *   SharedArrayBuffer (no copy, no transfer; both workers take batches of the
 *   same pack). Each blob is opened once (verify tag, length
 *   and keyed id) and decompressed, then written to every place it goes: a
 *   file that is this one blob is written whole (temp file, owner, mode,
 *   times, close, rename); a part of a bigger file is written at its offset
 *   into the temp file the main thread opened (fds are per process), which
 *   the main thread completes once every part is in.
 *
 * The keys reach the workers by message inside this process only.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fchownSync,
  ftruncateSync,
  futimesSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { messageOf } from '../storage/body.ts';
import { YoungGarbage } from '../util/young-garbage.ts';
import { ZstdCompressor, ZstdDecompressor, zstdBound } from '../util/zstd-context.ts';
import { Chunker, gearTable } from './chunker.ts';
import { open as openSealed, sameBytes, sealPieces } from './crypto.ts';
import { compressible } from './entropy.ts';
import { repositoryError } from './errors.ts';
import type { ChunkerParams } from './format.ts';

export interface WorkerKeys {
  readonly encryption: Buffer;
  readonly mac: Buffer;
  readonly level: number;
  readonly chunker: ChunkerParams;
}

export interface ReadRequest {
  readonly kind: 'read';
  readonly path: string;
  /** Files that turn out bigger than this are not handled (`tooBig`). */
  readonly maxBytes: number;
  /** Buffers of earlier replies, handed back for reuse (see FileWorkerPool.recycle). */
  readonly recycle?: ArrayBuffer[];
}

export type ReadReply =
  | { readonly ok: true; readonly size: number; readonly empty: true }
  | {
      readonly ok: true;
      readonly size: number;
      readonly empty?: false;
      readonly id: string;
      readonly compression: 'none' | 'zstd';
      readonly sealed: Buffer;
    }
  | { readonly ok: true; readonly tooBig: true; readonly size: number }
  | { readonly ok: false; readonly error: string; readonly code?: string };

/** A file that is exactly one blob: written whole under `temp`, then renamed to `full`. */
export interface WholeFile {
  readonly temp: string;
  readonly full: string;
  /** The size the snapshot records, when it does: checked before anything is written. */
  readonly size?: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly chown: boolean;
  /** [atime, mtime] in seconds. */
  readonly times: [number, number];
}

/** One blob of a restore batch and where its plaintext goes. */
export interface RestoreBlob {
  /** Where its sealed bytes start in the span. */
  readonly at: number;
  /** Sealed length (as indexed). */
  readonly length: number;
  readonly id: string;
  readonly compression: 'none' | 'zstd';
  readonly rawLength: number;
  readonly whole: readonly WholeFile[];
  /** Parts of bigger files: written at `offset` into the open temp file `fd`. */
  readonly parts: ReadonlyArray<{ readonly fd: number; readonly offset: number }>;
}

/**
 * The most bytes of a pack file a worker reads for one restore batch into its
 * reused buffer (the main thread cuts batches to fit; a single bigger blob is
 * read into a buffer of its own).
 */
export const RESTORE_READ_BYTES = 4 * 1024 * 1024;

export interface RestoreRequest {
  readonly kind: 'restore';
  /**
   * Where the batch's sealed bytes are (`at` counts from the start of either):
   * a span of the pack the main thread read into a shared buffer, or — for a
   * pack that is a local file — the file from `offset` on, of which the worker
   * reads the range its blobs cover.
   */
  readonly source: { readonly span: SharedArrayBuffer } | { readonly file: string; readonly offset: number };
  readonly blobs: readonly RestoreBlob[];
  /** All-zero blobs are not written (holes); the main thread sets each file's size at the end. */
  readonly sparse?: boolean;
}

/** A file of more than one chunk, chunked by the worker (see FileWorkerPool.chunk). */
export interface ChunkRequest {
  readonly kind: 'chunk';
  readonly path: string;
  /** The size lstat gave: the first read window is no bigger than the file. */
  readonly sizeHint: number;
}

export type ChunkReply =
  | { readonly ok: true; readonly size: number; readonly ids: string[] }
  | { readonly ok: false; readonly error: string; readonly code?: string };

/** Worker → main during a chunk job: the ids of the file's next chunks, in order. Answered by a {@link ClaimAnswer}. */
interface ChunkIds {
  readonly seq: number;
  readonly ids: string[];
}

/** Main → worker: per id asked about, 1 when the worker is to seal and send it (the writer claimed it for this file). */
interface ClaimAnswer {
  readonly kind: 'claimed';
  readonly seq: number;
  readonly need: Uint8Array;
  /** The writer failed: end the job without sealing anything. */
  readonly stop?: true;
}

/** Worker → main: the claimed blobs of the last batch, sealed, each in a transferred buffer of its own. */
interface ChunkSealed {
  readonly seq: number;
  readonly sealed: ReadonlyArray<{
    readonly id: string;
    readonly rawLength: number;
    readonly compression: 'none' | 'zstd';
    readonly bytes: ArrayBuffer;
  }>;
}

/**
 * Plaintext bytes of chunks a chunk job ids before it asks which to seal: the
 * sealed batch the main thread holds is about this big, and one round trip per
 * batch is ~0.1 % of the time its bytes take to hash.
 */
const CHUNK_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Bytes asked of the kernel per read of a big file. Reads no bigger than the
 * readahead window (8 MiB here; often 128 KiB–8 MiB) let the kernel fetch the
 * next part while the chunk is hashed: from a cold cache, 200 MiB read in
 * 16 MiB requests took 0.35 s, in 2 MiB requests 0.11 s (dd, this machine).
 */
const READ_MAX = 2 * 1024 * 1024;

/** What failed; everything not listed was written. `whole`/`part` index into the blob's lists; neither: the blob itself. */
export interface RestoreProblem {
  readonly blob: number;
  readonly whole?: number;
  readonly part?: number;
  readonly error: string;
  /** The blob lies beyond the end of the pack file (it is shorter than the index says). */
  readonly cutOff?: true;
}

export interface RestoreReply {
  readonly problems: RestoreProblem[];
  /** The pack file could not be read at all (nothing of the batch was written). */
  readonly unreadable?: string;
}

type Request = ((ReadRequest | RestoreRequest | ChunkRequest) & { readonly seq: number }) | ClaimAnswer;

// ---- worker side ----

function serve(keys: WorkerKeys): void {
  const port = parentPort;
  if (port === null) return;
  const encryptionKey: KeyObject = createSecretKey(keys.encryption);
  const macKey: KeyObject = createSecretKey(keys.mac);
  let scratch = Buffer.allocUnsafe(64 * 1024);
  /** zstd output: compressed file contents (backup), decompressed blobs (restore). */
  let zstdOut = Buffer.allocUnsafe(64 * 1024);
  const zstdOutOf = (bytes: number): Buffer => {
    if (zstdOut.length < bytes) zstdOut = Buffer.allocUnsafe(bytes);
    return zstdOut.subarray(0, bytes);
  };
  /** Reply buffers the main thread handed back. */
  const free: ArrayBuffer[] = [];
  const compressor = new ZstdCompressor(keys.level);
  const decompressor = new ZstdDecompressor();
  // Each file leaves a ciphertext or plaintext Buffer behind; collect them every few MiB.
  const young = new YoungGarbage();

  const read = (req: ReadRequest): { reply: ReadReply; transfer: ArrayBuffer[] } => {
    if (scratch.length < req.maxBytes + 1) scratch = Buffer.allocUnsafe(req.maxBytes + 1);
    let fd: number;
    try {
      fd = openSync(req.path, 'r');
    } catch (err) {
      return { reply: failure(err), transfer: [] };
    }
    let size: number;
    try {
      // One byte more than allowed tells "too big" from "exactly the limit".
      size = readUpTo(fd, scratch, req.maxBytes + 1, null);
    } catch (err) {
      return { reply: failure(err), transfer: [] };
    } finally {
      closeSync(fd);
    }
    if (size > req.maxBytes) return { reply: { ok: true, tooBig: true, size }, transfer: [] };
    if (size === 0) return { reply: { ok: true, size, empty: true }, transfer: [] };
    const plain = scratch.subarray(0, size);
    const id = createHmac('sha256', macKey).update(plain).digest('hex');
    const { pieces, length, compression } = sealData(plain);
    // An ArrayBuffer of its own (never Node's shared pool) so it can be transferred; reused once
    // the main thread hands it back, so the steady state allocates none.
    let backing = free.pop();
    if (backing === undefined || backing.byteLength < length)
      backing = new ArrayBuffer(Math.max(length, req.maxBytes + 64));
    const sealed = Buffer.from(backing, 0, length);
    copyPieces(pieces, sealed, 0);
    return {
      reply: { ok: true, size, id, compression, sealed },
      transfer: [backing],
    };
  };

  /** zstd when the sample says it pays, then AES-GCM: the pieces of a data blob and their total length. */
  const sealData = (
    plain: Uint8Array,
  ): { pieces: Buffer[]; length: number; compression: 'none' | 'zstd' } => {
    let stored: Uint8Array = plain;
    let compression: 'none' | 'zstd' = 'none';
    if (compressible(plain)) {
      const out = zstdOutOf(zstdBound(plain.length));
      const n = compressor.compressInto(plain, out);
      if (n < plain.length) {
        stored = out.subarray(0, n);
        compression = 'zstd';
      }
    }
    const pieces = sealPieces(encryptionKey, 'data', stored);
    const length = pieces.reduce((n, p) => n + p.length, 0);
    young.made(length);
    return { pieces, length, compression };
  };

  const chunker = new Chunker(keys.chunker, gearTable(keys.mac));
  /** Chunk jobs waiting for the main thread's answer, by seq. */
  const asked = new Map<number, (answer: ClaimAnswer) => void>();

  const chunk = async (req: ChunkRequest, seq: number): Promise<ChunkReply> => {
    let fd: number;
    try {
      fd = openSync(req.path, 'r');
    } catch (err) {
      return failure(err);
    }
    const ids: string[] = [];
    let size = 0;
    try {
      const read = async (target: Buffer, offset: number, length: number): Promise<number> => {
        const n = readSync(fd, target, offset, Math.min(length, READ_MAX), null);
        size += n;
        return n;
      };
      for await (const group of chunker.chunkGroups(read, req.sizeHint)) {
        let from = 0;
        while (from < group.length) {
          let to = from;
          for (let bytes = 0; to < group.length && bytes < CHUNK_BATCH_BYTES; to++)
            bytes += (group[to] as Uint8Array).length;
          const batch = group.slice(from, to);
          from = to;
          const batchIds = batch.map((c) => createHmac('sha256', macKey).update(c).digest('hex'));
          for (const id of batchIds) ids.push(id);
          const answer = await new Promise<ClaimAnswer>((resolve) => {
            asked.set(seq, resolve);
            port.postMessage({ seq, ids: batchIds } satisfies ChunkIds);
          });
          if (answer.stop === true) return { ok: false, error: 'stopped: the backup failed' };
          // Sealed right after the answer, before anything else runs: a claimed id is always sent.
          // Each into an exact buffer that moves to the main thread (no buffer of a whole batch
          // to keep or recycle: sizes vary, and a recycled one too small is garbage).
          const sealed: Array<ChunkSealed['sealed'][number]> = [];
          batch.forEach((plain, i) => {
            if (answer.need[i] !== 1) return;
            const { pieces, length, compression } = sealData(plain);
            const bytes = new ArrayBuffer(length);
            copyPieces(pieces, Buffer.from(bytes), 0);
            sealed.push({ id: batchIds[i] as string, rawLength: plain.length, compression, bytes });
          });
          if (sealed.length > 0)
            port.postMessage(
              { seq, sealed } satisfies ChunkSealed,
              sealed.map((b) => b.bytes),
            );
        }
      }
      return { ok: true, size, ids };
    } catch (err) {
      return failure(err);
    } finally {
      closeSync(fd);
    }
  };

  /** Opens and verifies a sealed blob (the checks of Repository.decodeBlob); a string says why not. */
  const decode = (blob: RestoreBlob, sealed: Buffer): Buffer | string => {
    if (sealed.length !== blob.length) return `expected ${blob.length} bytes, read ${sealed.length}`;
    const opened = openSealed(encryptionKey, 'data', sealed);
    if (opened === undefined) return 'authentication failed (bytes changed)';
    young.made(opened.length);
    let plain: Buffer = opened;
    if (blob.compression === 'zstd') {
      try {
        // One byte of room more than expected tells "longer than recorded" from "exact".
        const out = zstdOutOf(blob.rawLength + 1);
        plain = out.subarray(0, decompressor.decompressInto(opened, out));
      } catch (err) {
        return `it does not decompress (${(err as Error).message})`;
      }
    }
    if (plain.length !== blob.rawLength)
      return `expected ${blob.rawLength} plaintext bytes, got ${plain.length}`;
    if (!sameBytes(createHmac('sha256', macKey).update(plain).digest(), Buffer.from(blob.id, 'hex')))
      return 'its content does not match its id';
    return plain;
  };

  const writeAll = (fd: number, data: Buffer, position: number): void => {
    let at = 0;
    while (at < data.length) at += writeSync(fd, data, at, data.length - at, position + at);
  };

  /** Zeros to compare blobs with (sparse restores), grown to the largest blob seen. */
  let zeros = Buffer.alloc(0);
  const allZero = (plain: Buffer): boolean => {
    if (plain.length === 0 || plain[0] !== 0 || plain[plain.length - 1] !== 0) return false;
    if (zeros.length < plain.length) zeros = Buffer.alloc(plain.length);
    return plain.equals(zeros.subarray(0, plain.length));
  };

  const writeWhole = (file: WholeFile, plain: Buffer, hole: boolean): void => {
    if (file.size !== undefined && plain.length !== file.size)
      throw new Error(`restored ${plain.length} bytes, the snapshot records ${file.size}`);
    const fd = openSync(file.temp, 'wx', 0o600);
    try {
      if (hole) ftruncateSync(fd, plain.length);
      else writeAll(fd, plain, 0);
      if (file.chown) fchownSync(fd, file.uid, file.gid);
      fchmodSync(fd, file.mode);
      futimesSync(fd, ...file.times);
    } finally {
      closeSync(fd);
    }
    renameSync(file.temp, file.full);
  };

  /** Restore batches read from a pack file land here (allocated once; see RESTORE_READ_BYTES). */
  let packBytes: Buffer | undefined;
  /** Reads `length` bytes of `file` at `position`; returns the buffer and how many there were. */
  const readPack = (file: string, position: number, length: number): [Buffer, number] => {
    let target: Buffer;
    if (length > RESTORE_READ_BYTES) target = Buffer.allocUnsafe(length);
    else {
      packBytes ??= Buffer.allocUnsafe(RESTORE_READ_BYTES);
      target = packBytes;
    }
    const fd = openSync(file, 'r');
    try {
      return [target, readUpTo(fd, target, length, position)];
    } finally {
      closeSync(fd);
    }
  };

  const restore = (req: RestoreRequest): RestoreReply => {
    const problems: RestoreProblem[] = [];
    /** The batch's bytes, holding the source's bytes from `base` on, `available` of them. */
    let span: Buffer;
    let base = 0;
    let available: number;
    if ('span' in req.source) {
      span = Buffer.from(req.source.span);
      available = span.length;
    } else {
      // Only the range the batch's blobs cover.
      const first = req.blobs[0];
      const last = req.blobs[req.blobs.length - 1];
      if (first === undefined || last === undefined) return { problems };
      base = first.at;
      try {
        [span, available] = readPack(req.source.file, req.source.offset + base, last.at + last.length - base);
      } catch (err) {
        return { problems, unreadable: (err as Error).message };
      }
    }
    req.blobs.forEach((blob, b) => {
      if (blob.at + blob.length - base > available) {
        problems.push({ blob: b, error: 'cut off', cutOff: true });
        return;
      }
      const plain = decode(blob, span.subarray(blob.at - base, blob.at - base + blob.length));
      if (typeof plain === 'string') {
        problems.push({ blob: b, error: plain });
        return;
      }
      const hole = req.sparse === true && allZero(plain);
      blob.whole.forEach((file, i) => {
        try {
          writeWhole(file, plain, hole);
        } catch (err) {
          problems.push({ blob: b, whole: i, error: (err as Error).message });
        }
      });
      blob.parts.forEach((part, i) => {
        if (hole) return; // the main thread sets the file's size once every part is in
        try {
          writeAll(part.fd, plain, part.offset);
        } catch (err) {
          problems.push({ blob: b, part: i, error: (err as Error).message });
        }
      });
    });
    return { problems };
  };

  port.on('message', (req: Request) => {
    if (req.kind === 'claimed') {
      const waiting = asked.get(req.seq);
      asked.delete(req.seq);
      waiting?.(req);
    } else if (req.kind === 'chunk') {
      void chunk(req, req.seq).then((reply) => port.postMessage({ seq: req.seq, reply }));
    } else if (req.kind === 'read') {
      for (const b of req.recycle ?? []) free.push(b);
      const { reply, transfer } = read(req);
      port.postMessage({ seq: req.seq, reply }, transfer);
    } else {
      port.postMessage({ seq: req.seq, reply: restore(req) });
    }
  });
}

/** Reads into `target` until `length` bytes or the end of the file; returns how many were read. `position` null: from the file's position on. */
function readUpTo(fd: number, target: Buffer, length: number, position: number | null): number {
  let filled = 0;
  while (filled < length) {
    const n = readSync(fd, target, filled, length - filled, position === null ? null : position + filled);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

/** Copies sealed pieces into `target` from `at` on; returns where they end. */
function copyPieces(pieces: readonly Buffer[], target: Buffer, at: number): number {
  let end = at;
  for (const p of pieces) end += p.copy(target, end);
  return end;
}

function failure(err: unknown): { ok: false; error: string; code?: string } {
  const e = err as NodeJS.ErrnoException;
  return { ok: false, error: e.message ?? String(err), ...(e.code === undefined ? {} : { code: e.code }) };
}

if (!isMainThread && (workerData as { cairnFileWorker?: WorkerKeys } | null)?.cairnFileWorker) {
  serve((workerData as { cairnFileWorker: WorkerKeys }).cairnFileWorker);
}

// ---- main side ----

/**
 * Work (in files, or 32 KiB units of restored blobs and chunked files) one
 * worker does before the pool starts more. A worker isolate costs ~12–16 MiB
 * and ~0.1 CPU-s to start, and one keeps up with a small job: 1,001 changed
 * small files took the same time with one worker as with two, at 149–153
 * instead of 173–184 MiB (A/B, caches dropped), while a full backup or restore
 * of 20,000 files is 15–50 % slower with one. A chunk job counts its file's
 * size: a changed 200 MiB file keeps one worker busy for ~0.5 s, and the small
 * files then need the second (the issue-6 incremental: 1.32–1.36 s with it,
 * 1.48–1.64 s before chunk jobs; +20 MiB peak RSS).
 */
const WORK_BEFORE_MORE_WORKERS = 2000;

/** Work units of a job of `bytes`: a small file is one, bigger work one per 32 KiB. */
function workUnits(bytes: number): number {
  return Math.max(1, bytes / 32_768);
}

/** Where a chunk job's blobs go: the backup's writer (see BlobWriter.claim and storeClaimed). */
export interface ChunkSink {
  /** Whether the blob is to be stored (unknown to the repository and not claimed by another file); claims it if so. */
  claim(id: string): boolean;
  /** Appends a claimed blob, sealed, to a pack. */
  store(
    blob: { readonly id: string; readonly rawLength: number; readonly compression: 'none' | 'zstd' },
    sealed: Buffer,
  ): Promise<void>;
}

/**
 * How many small-file requests a chunk job counts as when the pool picks the
 * least busy worker: the other worker takes the small files while one chunks
 * a big file (with 32 files in flight, small reads queued behind a chunk job's
 * batches delayed it: the incremental 1.36–1.38 against 1.20–1.35 s).
 */
const CHUNK_JOB_WEIGHT = 16;

/** One worker of the pool and the requests it has in hand. */
interface Slot {
  readonly worker: Worker;
  busy: number;
}

/**
 * A few file workers, started on first use and dispatched to the least busy
 * one; the second and later ones only once the job proved big (see
 * WORK_BEFORE_MORE_WORKERS). `close()` ends them; they never keep the process
 * alive.
 */
export class FileWorkerPool {
  readonly #keys: WorkerKeys;
  readonly #size: number;
  readonly #growAfter: number;
  readonly #workers: Slot[] = [];
  readonly #pending = new Map<
    number,
    {
      resolve: (reply: unknown) => void;
      reject: (err: Error) => void;
      /** The worker the request went to. */
      slot: Slot;
      /** A chunk job's messages before its reply. */
      progress?: (msg: ChunkIds | ChunkSealed, worker: Worker) => void;
    }
  >();
  #seq = 0;
  /** Work handed out so far (files, or blobs weighted by size). */
  #work = 0;
  readonly #readSpare: ArrayBuffer[] = [];

  constructor(
    keys: WorkerKeys,
    size = Math.max(2, Math.min(4, availableParallelism())),
    growAfter = WORK_BEFORE_MORE_WORKERS,
  ) {
    this.#keys = keys;
    this.#size = size;
    this.#growAfter = growAfter;
  }

  /** Workers running now (started, and not died since). */
  get started(): number {
    return this.#workers.length;
  }

  read(path: string, maxBytes: number): Promise<ReadReply> {
    const recycle = this.#readSpare.splice(0, 4);
    this.#work++;
    return this.#call({ kind: 'read', path, maxBytes, recycle }, recycle) as Promise<ReadReply>;
  }

  /**
   * Hands the buffer of a read reply back once its bytes are used (copied into
   * a pack): it returns to a worker with a later request, so small files cost
   * no allocation each (dead ones otherwise wait for the main thread's GC and
   * pile up to tens of MiB).
   */
  recycle(sealed: Buffer): void {
    if (this.#readSpare.length < 32) this.#readSpare.push(sealed.buffer as ArrayBuffer);
  }

  /**
   * Chunks a file of more than one chunk in a worker: the worker ids each
   * batch of chunks, `sink.claim` says which the writer still needs (and
   * claims them), the worker seals those and `sink.store` appends them to a
   * pack. The next batch is answered only once the last one is stored, so a
   * job holds at most one batch of sealed bytes on the main thread. Resolves
   * with the file's chunk ids, in order, once everything claimed is stored.
   * When a claimed blob never arrives (the worker failed between claim and
   * seal) or `store` fails, it rejects: the writer then holds an id it will
   * not write, and the backup must stop.
   */
  async chunk(path: string, sizeHint: number, sink: ChunkSink): Promise<ChunkReply> {
    this.#work += workUnits(sizeHint);
    let stored: Promise<void> = Promise.resolve();
    let failed: unknown;
    const claimed = new Set<string>();
    const progress = (msg: ChunkIds | ChunkSealed, worker: Worker): void => {
      const seq = msg.seq;
      if ('ids' in msg) {
        void stored.then(() => {
          const need = new Uint8Array(msg.ids.length);
          try {
            if (failed === undefined)
              msg.ids.forEach((id, i) => {
                if (sink.claim(id)) {
                  need[i] = 1;
                  claimed.add(id);
                }
              });
          } catch (err) {
            failed = err; // the writer failed (another file's blob): the job stops
            need.fill(0);
          }
          const answer: ClaimAnswer = {
            kind: 'claimed',
            seq,
            need,
            ...(failed === undefined ? {} : { stop: true }),
          };
          worker.postMessage(answer);
        });
        return;
      }
      const blobs = msg.sealed;
      stored = stored.then(async () => {
        if (failed !== undefined) return;
        try {
          for (const { bytes, ...blob } of blobs) {
            await sink.store(blob, Buffer.from(bytes));
            claimed.delete(blob.id);
          }
        } catch (err) {
          failed = err;
        }
      });
    };
    let reply: ChunkReply | undefined;
    let lost: unknown;
    try {
      reply = (await this.#call({ kind: 'chunk', path, sizeHint }, [], progress)) as ChunkReply;
    } catch (err) {
      lost = err; // the worker died
    }
    await stored;
    if (failed !== undefined) throw failed;
    if (claimed.size > 0) {
      // Other files may already name these blobs (the writer counted them as coming): the
      // snapshot would lack their data, so this ends the backup, not just this file.
      throw repositoryError(
        'REPOSITORY_WORKER_FAILED',
        `a file worker claimed ${claimed.size} blob(s) of ${path} and never sent them: ${messageOf(lost ?? (reply?.ok === false ? reply.error : 'no reason given'))}`,
        {
          hint: 'Run the backup again; nothing of this run is indexed. If it recurs, report it with --debug output.',
        },
      );
    }
    if (reply === undefined) throw lost;
    return reply;
  }

  /** Restores a batch of blobs of a pack (see RestoreRequest). */
  restore(
    source: RestoreRequest['source'],
    blobs: readonly RestoreBlob[],
    sparse = false,
  ): Promise<RestoreReply> {
    for (const blob of blobs) this.#work += workUnits(blob.rawLength);
    return this.#call({ kind: 'restore', source, blobs, sparse }, []) as Promise<RestoreReply>;
  }

  #call(
    req: ReadRequest | RestoreRequest | ChunkRequest,
    transfer: ArrayBuffer[],
    progress?: (msg: ChunkIds | ChunkSealed, worker: Worker) => void,
  ): Promise<unknown> {
    const slot = this.#pick();
    const seq = this.#seq++;
    // A chunk job keeps its worker busy for a long time: weighted so, small files go elsewhere.
    const weight = req.kind === 'chunk' ? CHUNK_JOB_WEIGHT : 1;
    slot.busy += weight;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, {
        resolve: (reply) => {
          slot.busy -= weight;
          resolve(reply);
        },
        reject,
        slot,
        ...(progress === undefined ? {} : { progress }),
      });
      try {
        slot.worker.postMessage({ ...req, seq }, transfer);
      } catch (err) {
        this.#pending.delete(seq);
        slot.busy -= weight;
        reject(err as Error);
      }
    });
  }

  #pick(): Slot {
    let best = this.#workers.reduce<Slot | undefined>(
      (b, w) => (b === undefined || w.busy < b.busy ? w : b),
      undefined,
    );
    const grow =
      best === undefined ||
      (best.busy > 0 && this.#workers.length < this.#size && this.#work > this.#growAfter);
    if (grow) {
      const worker = new Worker(new URL(import.meta.url), {
        workerData: { cairnFileWorker: this.#keys },
        // Little JS garbage per file: a small young generation keeps each worker's memory small.
        resourceLimits: { maxYoungGenerationSizeMb: 4 },
      });
      worker.unref();
      worker.on('message', (msg: { seq: number; reply: unknown } | ChunkIds | ChunkSealed) => {
        const p = this.#pending.get(msg.seq);
        if (!('reply' in msg)) {
          p?.progress?.(msg, worker);
          return;
        }
        this.#pending.delete(msg.seq);
        p?.resolve(msg.reply);
      });
      const slot: Slot = { worker, busy: 0 };
      // A worker that fails (an uncaught error, out of memory) or exits leaves the pool, and its
      // requests fail — they would otherwise never settle; the next request starts a new one.
      let cause = 'it exited';
      worker.on('error', (err) => {
        cause = err.message;
      });
      worker.on('exit', () => this.#lost(slot, cause));
      best = slot;
      this.#workers.push(best);
    }
    return best as Slot;
  }

  #lost(slot: Slot, cause: string): void {
    const at = this.#workers.indexOf(slot);
    if (at >= 0) this.#workers.splice(at, 1);
    for (const [seq, p] of this.#pending) {
      if (p.slot !== slot) continue;
      this.#pending.delete(seq);
      p.reject(
        repositoryError('REPOSITORY_WORKER_FAILED', `a file worker stopped with work in hand: ${cause}`, {
          hint: 'Run the command again; a backup that stops this way stores no snapshot. If it recurs, report it with --debug output.',
        }),
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
    this.#workers.length = 0;
  }
}
