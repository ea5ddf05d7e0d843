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
 * - restore (`write`): open the sealed blob (verify tag, length and keyed
 *   id), decompress, then write a temp file, owner, mode, times, close,
 *   rename — the same atomic protocol as the main-thread path.
 *
 * The keys reach the workers by message inside this process only.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import zlib from 'node:zlib';
import { open as openSealed, sameBytes, sealPieces } from './crypto.ts';
import { compressible } from './entropy.ts';

export interface WorkerKeys {
  readonly encryption: Buffer;
  readonly mac: Buffer;
  readonly level: number;
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

export interface WriteRequest {
  readonly kind: 'write';
  readonly temp: string;
  readonly full: string;
  readonly sealed: Buffer;
  readonly id: string;
  readonly type: 'data';
  readonly compression: 'none' | 'zstd';
  readonly rawLength: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly chown: boolean;
  /** [atime, mtime] in seconds. */
  readonly times: [number, number];
}

export type WriteReply = ({ readonly ok: true } | { readonly ok: false; readonly error: string }) & {
  /** The request's buffer, handed back for reuse. */
  readonly returned?: ArrayBuffer;
};

type Request = (ReadRequest | WriteRequest) & { readonly seq: number };

// ---- worker side ----

function serve(keys: WorkerKeys): void {
  const port = parentPort;
  if (port === null) return;
  const encryptionKey: KeyObject = createSecretKey(keys.encryption);
  const macKey: KeyObject = createSecretKey(keys.mac);
  let scratch = Buffer.allocUnsafe(64 * 1024);
  /** Reply buffers the main thread handed back. */
  const free: ArrayBuffer[] = [];
  const params = { [zlib.constants.ZSTD_c_compressionLevel]: keys.level };

  const read = (req: ReadRequest): { reply: ReadReply; transfer: ArrayBuffer[] } => {
    if (scratch.length < req.maxBytes + 1) scratch = Buffer.allocUnsafe(req.maxBytes + 1);
    let fd: number;
    try {
      fd = openSync(req.path, 'r');
    } catch (err) {
      return { reply: failure(err), transfer: [] };
    }
    let size = 0;
    try {
      for (;;) {
        const n = readSync(fd, scratch, size, req.maxBytes + 1 - size, null);
        if (n === 0) break;
        size += n;
        if (size > req.maxBytes) break;
      }
    } catch (err) {
      return { reply: failure(err), transfer: [] };
    } finally {
      closeSync(fd);
    }
    if (size > req.maxBytes) return { reply: { ok: true, tooBig: true, size }, transfer: [] };
    if (size === 0) return { reply: { ok: true, size, empty: true }, transfer: [] };
    const plain = scratch.subarray(0, size);
    const id = createHmac('sha256', macKey).update(plain).digest('hex');
    let stored: Uint8Array = plain;
    let compression: 'none' | 'zstd' = 'none';
    if (compressible(plain)) {
      const compressed = zlib.zstdCompressSync(plain, { params });
      if (compressed.length < plain.length) {
        stored = compressed;
        compression = 'zstd';
      }
    }
    const pieces = sealPieces(encryptionKey, 'data', stored);
    const need = pieces.reduce((n, p) => n + p.length, 0);
    // An ArrayBuffer of its own (never Node's shared pool) so it can be transferred; reused once
    // the main thread hands it back, so the steady state allocates none.
    let backing = free.pop();
    if (backing === undefined || backing.byteLength < need)
      backing = new ArrayBuffer(Math.max(need, req.maxBytes + 64));
    const sealed = Buffer.from(backing, 0, need);
    let at = 0;
    for (const p of pieces) {
      p.copy(sealed, at);
      at += p.length;
    }
    return {
      reply: { ok: true, size, id, compression, sealed },
      transfer: [backing],
    };
  };

  const write = (req: WriteRequest): WriteReply => {
    const opened = openSealed(encryptionKey, req.type, req.sealed);
    if (opened === undefined) return { ok: false, error: 'authentication failed (bytes changed)' };
    let plain: Buffer;
    try {
      plain = req.compression === 'zstd' ? zlib.zstdDecompressSync(opened) : opened;
    } catch (err) {
      return { ok: false, error: `it does not decompress (${(err as Error).message})` };
    }
    if (plain.length !== req.rawLength)
      return { ok: false, error: `expected ${req.rawLength} plaintext bytes, got ${plain.length}` };
    if (!sameBytes(createHmac('sha256', macKey).update(plain).digest(), Buffer.from(req.id, 'hex')))
      return { ok: false, error: 'its content does not match its id' };
    let fd: number | undefined;
    try {
      fd = openSync(req.temp, 'wx', 0o600);
      let at = 0;
      while (at < plain.length) at += writeSync(fd, plain, at, plain.length - at, at);
      if (req.chown) fchownSync(fd, req.uid, req.gid);
      fchmodSync(fd, req.mode);
      futimesSync(fd, ...req.times);
      closeSync(fd);
      fd = undefined;
      renameSync(req.temp, req.full);
      return { ok: true };
    } catch (err) {
      if (fd !== undefined) {
        try {
          closeSync(fd);
        } catch {}
      }
      return { ok: false, error: (err as Error).message };
    }
  };

  port.on('message', (req: Request) => {
    if (req.kind === 'read') {
      for (const b of req.recycle ?? []) free.push(b);
      const { reply, transfer } = read(req);
      port.postMessage({ seq: req.seq, reply }, transfer);
    } else {
      const returned = req.sealed.buffer as ArrayBuffer;
      port.postMessage({ seq: req.seq, reply: { ...write(req), returned } }, [returned]);
    }
  });
}

function failure(err: unknown): ReadReply {
  const e = err as NodeJS.ErrnoException;
  return { ok: false, error: e.message ?? String(err), ...(e.code === undefined ? {} : { code: e.code }) };
}

if (!isMainThread && (workerData as { cairnFileWorker?: WorkerKeys } | null)?.cairnFileWorker) {
  serve((workerData as { cairnFileWorker: WorkerKeys }).cairnFileWorker);
}

// ---- main side ----

/**
 * A few file workers, started on first use and dispatched to the least busy
 * one. `close()` ends them; they never keep the process alive.
 */
export class FileWorkerPool {
  readonly #keys: WorkerKeys;
  readonly #size: number;
  readonly #workers: Array<{ worker: Worker; busy: number }> = [];
  readonly #pending = new Map<number, { resolve: (reply: unknown) => void; reject: (err: Error) => void }>();
  #seq = 0;
  readonly #readSpare: ArrayBuffer[] = [];
  readonly #writeSpare: ArrayBuffer[] = [];

  constructor(keys: WorkerKeys, size = Math.max(2, Math.min(4, availableParallelism()))) {
    this.#keys = keys;
    this.#size = size;
  }

  read(path: string, maxBytes: number): Promise<ReadReply> {
    const recycle = this.#readSpare.splice(0, 4);
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

  /** The sealed bytes are copied to the worker (the caller keeps its buffer). */
  async write(req: Omit<WriteRequest, 'kind'>): Promise<WriteReply> {
    // A copy in an ArrayBuffer of its own: a slice of a pack span (or of Node's buffer pool,
    // which may not be transferred) cannot move to the worker. The worker hands it back.
    const i = this.#writeSpare.findIndex((b) => b.byteLength >= req.sealed.length);
    const backing =
      i >= 0
        ? (this.#writeSpare.splice(i, 1)[0] as ArrayBuffer)
        : new ArrayBuffer(Math.max(req.sealed.length, 256 * 1024));
    const sealed = Buffer.from(backing, 0, req.sealed.length);
    req.sealed.copy(sealed);
    const reply = (await this.#call({ kind: 'write', ...req, sealed }, [backing])) as WriteReply;
    if (reply.returned !== undefined && this.#writeSpare.length < 32) this.#writeSpare.push(reply.returned);
    return reply;
  }

  #call(req: ReadRequest | WriteRequest, transfer: ArrayBuffer[]): Promise<unknown> {
    const slot = this.#pick();
    const seq = this.#seq++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, {
        resolve: (reply) => {
          slot.busy--;
          resolve(reply);
        },
        reject,
      });
      try {
        slot.worker.postMessage({ ...req, seq }, transfer);
      } catch (err) {
        this.#pending.delete(seq);
        slot.busy--;
        reject(err as Error);
      }
    });
  }

  #pick(): { worker: Worker; busy: number } {
    let best = this.#workers.reduce<{ worker: Worker; busy: number } | undefined>(
      (b, w) => (b === undefined || w.busy < b.busy ? w : b),
      undefined,
    );
    if ((best === undefined || best.busy > 0) && this.#workers.length < this.#size) {
      const worker = new Worker(new URL(import.meta.url), {
        workerData: { cairnFileWorker: this.#keys },
        // Little JS garbage per file: a small young generation keeps each worker's memory small.
        resourceLimits: { maxYoungGenerationSizeMb: 4 },
      });
      worker.unref();
      worker.on('message', (msg: { seq: number; reply: unknown }) => {
        const p = this.#pending.get(msg.seq);
        this.#pending.delete(msg.seq);
        p?.resolve(msg.reply);
      });
      worker.on('error', (err) => {
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
      });
      best = { worker, busy: 0 };
      this.#workers.push(best);
    }
    return best as { worker: Worker; busy: number };
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
    this.#workers.length = 0;
  }
}
