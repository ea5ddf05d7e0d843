/**
 * A repository on a BlobStore: init and open (config + key files), the
 * in-memory index of every stored blob, verified blob reads, the pipelined
 * blob writer (compress → encrypt → pack → upload), index and snapshot files.
 */
import { createHash, type KeyObject, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { isStorageFailure } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { messageOf } from '../storage/body.ts';
import { YoungGarbage } from '../util/young-garbage.ts';
import { ZstdCompressor, zstdBound } from '../util/zstd-context.ts';
import { Chunker, gearTable } from './chunker.ts';
import {
  blobId,
  type MasterKey,
  newMasterKey,
  open,
  type ScryptParams,
  type SealKind,
  sameBytes,
  seal,
  sealPieces,
  splitMasterKey,
} from './crypto.ts';
import { compressible } from './entropy.ts';
import { repositoryError } from './errors.ts';
import type { WorkerKeys } from './file-worker.ts';
import {
  assertChunkerParams,
  type ChunkerParams,
  type CompressionParams,
  DEFAULT_CHUNKER,
  DEFAULT_COMPRESSION,
  DEFAULT_PACK_SIZE,
  idOfKey,
  REPOSITORY_FORMAT_VERSION,
  type RepositoryConfig,
  repositoryLayout,
} from './format.ts';
import { unlockMasterKey, writeKeyFile } from './key-file.ts';
import { Limiter } from './limiter.ts';
import {
  type BlobType,
  type Compression,
  headerOverhead,
  PackBufferPool,
  PackBuilder,
  type PackedBlob,
  PackFile,
  readPackHeader,
} from './pack.ts';

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

export const INDEX_FILE_VERSION = 1;

/** Blobs up to this size are (de)compressed synchronously (see BlobWriter.#process). */
const SYNC_ZSTD_MAX = 256 * 1024;

/** The write buffer of a pack staged in a file (PackFile): 16+ writes per 16 MiB pack. */
const PACK_WRITE_BUFFER = 1024 * 1024;

/** Where a blob lives. */
export interface IndexEntry extends PackedBlob {
  readonly pack: string;
}

/** An index file's plaintext (zstd-compressed JSON, then sealed). */
export interface IndexFile {
  readonly version: number;
  readonly packs: ReadonlyArray<{ readonly id: string; readonly blobs: readonly PackedBlob[] }>;
}

/** A file the repository could not read back (listed by `check`; other commands go on without it). */
export interface UnreadableFile {
  readonly key: string;
  readonly problem: string;
}

export interface InitRepositoryInput {
  readonly password: string;
  readonly createdBy: string;
  readonly now?: Date;
  readonly chunker?: ChunkerParams;
  readonly compression?: CompressionParams;
  readonly packSize?: number;
  readonly scrypt?: ScryptParams;
}

export interface WriterOptions {
  /** Blobs being compressed/encrypted at once (each holds up to one chunk of plaintext). */
  readonly blobsInFlight?: number;
  /** Packs being uploaded at once (each holds one pack buffer). */
  readonly uploadsInFlight?: number;
}

/**
 * Creates a repository: refuses when a config, key files or repository data
 * already exist (naming what was found). Writes the key file first and the
 * config last, so a crash in between leaves no config and init can run again.
 */
export async function initRepository(
  store: BlobStore,
  input: InitRepositoryInput,
): Promise<RepositoryConfig> {
  const existing = await store.stat(repositoryLayout.config());
  if (existing !== undefined) {
    throw repositoryError('REPOSITORY_EXISTS', `${store.description} already holds a repository`, {
      hint: 'Use it with the other `cairn repo` commands, or choose another location. Nothing was written.',
    });
  }
  const found = await firstKey(store, repositoryLayout.snapshotsPrefix());
  const data = found ?? (await firstKey(store, 'repository/'));
  if (data !== undefined) {
    throw repositoryError(
      'REPOSITORY_CONFIG_MISSING',
      `${store.description} holds repository data (e.g. "${data}") but its config ${repositoryLayout.config()} is missing`,
      {
        hint: 'Something deleted the repository config (a lifecycle rule, a manual cleanup). Restore control/repository/ from a copy; initialising over the data would make it unreadable. Nothing was written.',
      },
    );
  }
  const now = input.now ?? new Date();
  const config: RepositoryConfig = {
    kind: 'CairnRepository',
    version: REPOSITORY_FORMAT_VERSION,
    id: randomBytes(16).toString('hex'),
    createdAt: now.toISOString(),
    createdBy: input.createdBy,
    chunker: input.chunker ?? DEFAULT_CHUNKER,
    compression: input.compression ?? DEFAULT_COMPRESSION,
    packSize: input.packSize ?? DEFAULT_PACK_SIZE,
  };
  assertChunkerParams(config.chunker);
  const masterKey = newMasterKey();
  await writeKeyFile(store, {
    repositoryId: config.id,
    masterKey,
    password: input.password,
    now,
    ...(input.scrypt === undefined ? {} : { scrypt: input.scrypt }),
  });
  await store.put(repositoryLayout.config(), `${JSON.stringify(config, null, 2)}\n`, {
    contentType: 'application/json',
  });
  return config;
}

async function firstKey(store: BlobStore, prefix: string): Promise<string | undefined> {
  for await (const info of store.list(prefix)) return info.key;
  return undefined;
}

/** Reads and validates the config; always fresh from storage. */
export async function readConfig(store: BlobStore): Promise<RepositoryConfig> {
  let raw: Buffer;
  try {
    raw = await store.get(repositoryLayout.config());
  } catch (err) {
    if (isStorageFailure(err, 'not-found')) {
      throw repositoryError('REPOSITORY_NOT_INITIALIZED', `${store.description} holds no repository`, {
        hint: 'Create one with `cairn repo init --location URL`, or check the location URL.',
      });
    }
    throw err;
  }
  let config: RepositoryConfig;
  try {
    config = JSON.parse(raw.toString('utf8')) as RepositoryConfig;
  } catch (err) {
    throw repositoryError(
      'REPOSITORY_CONFIG_INVALID',
      `${repositoryLayout.config()} is not valid JSON (${messageOf(err)})`,
      { hint: 'Restore the file from a copy; Cairn never rewrites it.' },
    );
  }
  if (config?.kind !== 'CairnRepository' || typeof config.id !== 'string') {
    throw repositoryError(
      'REPOSITORY_CONFIG_INVALID',
      `${repositoryLayout.config()} is not a repository config`,
      {
        hint: 'Restore the file from a copy; Cairn never rewrites it.',
      },
    );
  }
  if (config.version !== REPOSITORY_FORMAT_VERSION) {
    throw repositoryError(
      'REPOSITORY_FORMAT_UNSUPPORTED',
      `the repository has format version ${config.version}; this Cairn understands version ${REPOSITORY_FORMAT_VERSION}`,
      { hint: 'Use the Cairn release that wrote this repository.' },
    );
  }
  assertChunkerParams(config.chunker);
  return config;
}

/** An opened repository: config, keys and (after {@link Repository.loadIndex}) the index. */
export class Repository {
  readonly store: BlobStore;
  readonly config: RepositoryConfig;
  /** The key file the password opened (changes with {@link changePassword}). */
  keyId: string;
  readonly chunker: Chunker;
  readonly #keys: MasterKey;
  readonly #index = new Map<string, IndexEntry>();
  /** Index and pack files that could not be read while loading the index. */
  readonly unreadableIndexFiles: UnreadableFile[] = [];

  private constructor(store: BlobStore, config: RepositoryConfig, masterKey: Buffer, keyId: string) {
    this.store = store;
    this.config = config;
    this.keyId = keyId;
    this.#keys = splitMasterKey(masterKey);
    this.chunker = new Chunker(config.chunker, gearTable(this.#keys.mac));
  }

  /** Reads the config and unlocks the master key with the password; writes nothing. */
  static async open(store: BlobStore, password: string): Promise<Repository> {
    const config = await readConfig(store);
    const { masterKey, keyId } = await unlockMasterKey(store, config.id, password);
    return new Repository(store, config, masterKey, keyId);
  }

  /** Adds a password (a new key file wrapping the same master key). */
  async addKey(password: string, scrypt?: ScryptParams): Promise<string> {
    return writeKeyFile(this.store, {
      repositoryId: this.config.id,
      masterKey: Buffer.concat([this.#keys.encryption, this.#keys.mac]),
      password,
      now: new Date(),
      ...(scrypt === undefined ? {} : { scrypt }),
    });
  }

  /**
   * Changes the password of the key in use: writes a key file for the new
   * password first, then removes the old one (a crash in between leaves both
   * passwords working, never none). Returns the new key's id.
   */
  async changePassword(password: string, scrypt?: ScryptParams): Promise<string> {
    const id = await this.addKey(password, scrypt);
    await this.store.delete(repositoryLayout.key(this.keyId));
    this.keyId = id;
    return id;
  }

  blobId(plaintext: Uint8Array): string {
    return blobId(this.#keys.macKey, plaintext).toString('hex');
  }

  seal(kind: SealKind, plaintext: Uint8Array): Buffer {
    return seal(this.#keys.encryptionKey, kind, plaintext);
  }

  open(kind: SealKind, sealed: Uint8Array): Buffer | undefined {
    return open(this.#keys.encryptionKey, kind, sealed);
  }

  /** The raw keys for the file workers of this process (file-worker.ts); never leaves the process. */
  workerKeys(): WorkerKeys {
    return {
      encryption: this.#keys.encryption,
      mac: this.#keys.mac,
      level: this.config.compression.level,
      chunker: this.config.chunker,
    };
  }

  get encryptionKey(): KeyObject {
    return this.#keys.encryptionKey;
  }

  // ---- index ----

  /** Loads every index file (fresh from storage). Unreadable ones are recorded, not fatal. */
  async loadIndex(): Promise<void> {
    this.#index.clear();
    this.unreadableIndexFiles.length = 0;
    const keys: string[] = [];
    for await (const info of this.store.list(repositoryLayout.indexPrefix())) keys.push(info.key);
    const limiter = new Limiter(8);
    await Promise.all(
      keys.map((key) =>
        limiter.run(async () => {
          const file = await this.readIndexFile(key);
          if (typeof file === 'string') {
            this.unreadableIndexFiles.push({ key, problem: file });
            return;
          }
          for (const pack of file.packs) this.addToIndex(pack.id, pack.blobs);
        }),
      ),
    );
  }

  /** Reads one index file; a string says why it could not. */
  async readIndexFile(key: string): Promise<IndexFile | string> {
    const sealed = await this.store.get(key);
    const id = idOfKey(key);
    if (id === undefined || createHash('sha256').update(sealed).digest('hex') !== id)
      return 'its content does not match its name (damaged)';
    const compressed = this.open('index', sealed);
    if (compressed === undefined) return 'it does not decrypt (damaged, or written with another key)';
    try {
      const file = JSON.parse((await zstdDecompress(compressed)).toString('utf8')) as IndexFile;
      if (file.version !== INDEX_FILE_VERSION || !Array.isArray(file.packs))
        return `unsupported index version ${file.version}`;
      return file;
    } catch (err) {
      return `it does not parse (${messageOf(err)})`;
    }
  }

  /**
   * Packs in storage that no index lists — left by a backup that was killed
   * or failed after uploading them — with their blobs, read from their
   * (authenticated) headers. Packs whose header does not open or does not
   * match their size are left alone (`check` reports them).
   */
  async findUnindexedPacks(): Promise<Array<{ id: string; blobs: PackedBlob[] }>> {
    const indexed = new Set<string>();
    for (const entry of this.#index.values()) indexed.add(entry.pack);
    const candidates: Array<{ id: string; key: string; size: number }> = [];
    for await (const info of this.store.list(repositoryLayout.dataPrefix())) {
      const id = idOfKey(info.key);
      if (id !== undefined && !indexed.has(id) && info.key === repositoryLayout.pack(id)) {
        candidates.push({ id, key: info.key, size: info.size });
      }
    }
    const found: Array<{ id: string; blobs: PackedBlob[] }> = [];
    const limiter = new Limiter(8);
    await Promise.all(
      candidates.map((pack) =>
        limiter.run(async () => {
          const blobs = await this.readPackBlobs(pack.key, pack.size);
          if (blobs !== undefined) found.push({ id: pack.id, blobs });
        }),
      ),
    );
    return found;
  }

  /**
   * The blobs of a stored pack, from its authenticated header (two ranged
   * reads: the trailer, then the header); undefined when the header does not
   * open or does not describe the pack's exact size.
   */
  async readPackBlobs(key: string, size: number): Promise<PackedBlob[] | undefined> {
    if (size < 4) return undefined;
    const trailer = await this.store.get(key, { offset: size - 4, length: 4 });
    const sealedLength = trailer.readUInt32LE(0);
    if (sealedLength + 4 > size) return undefined;
    const tail = await this.store.get(key, { offset: size - 4 - sealedLength });
    const blobs = readPackHeader(tail, this.#keys.encryptionKey);
    if (blobs === undefined) return undefined;
    const described = blobs.reduce((n, b) => n + b.length, 0) + headerOverhead(blobs.length);
    return described === size ? blobs : undefined;
  }

  addToIndex(pack: string, blobs: readonly PackedBlob[]): void {
    for (const blob of blobs) this.#index.set(blob.id, { ...blob, pack });
  }

  lookup(id: string): IndexEntry | undefined {
    return this.#index.get(id);
  }

  has(id: string): boolean {
    return this.#index.has(id);
  }

  get indexSize(): number {
    return this.#index.size;
  }

  /** Every indexed blob, grouped by pack. */
  packsInIndex(): Map<string, IndexEntry[]> {
    const packs = new Map<string, IndexEntry[]>();
    for (const entry of this.#index.values()) {
      const list = packs.get(entry.pack);
      if (list === undefined) packs.set(entry.pack, [entry]);
      else list.push(entry);
    }
    for (const list of packs.values()) list.sort((a, b) => a.offset - b.offset);
    return packs;
  }

  /** Writes an index file for packs that are already stored; returns its id. */
  async writeIndex(packs: IndexFile['packs']): Promise<string> {
    const file: IndexFile = { version: INDEX_FILE_VERSION, packs };
    const compressed = await zstdCompress(Buffer.from(JSON.stringify(file)));
    const sealed = this.seal('index', compressed);
    const id = createHash('sha256').update(sealed).digest('hex');
    await this.store.put(repositoryLayout.index(id), sealed);
    return id;
  }

  // ---- blobs ----

  /**
   * Reads a blob and verifies it: the GCM tag (authentic, not damaged), the
   * length, and the keyed id recomputed from the plaintext. Throws
   * `REPOSITORY_BLOB_MISSING` or `REPOSITORY_BLOB_CORRUPT` naming the pack.
   */
  async loadBlob(id: string, type: BlobType): Promise<Buffer> {
    const entry = this.#index.get(id);
    if (entry === undefined || entry.type !== type) {
      throw repositoryError('REPOSITORY_BLOB_MISSING', `${type} blob ${id} is not in the index`, {
        hint: 'Run `cairn repo check` to see what is damaged.',
      });
    }
    const sealed = await this.store.get(repositoryLayout.pack(entry.pack), {
      offset: entry.offset,
      length: entry.length,
    });
    return this.decodeBlob(entry, sealed);
  }

  /** Decrypts and verifies a blob's sealed bytes (see {@link loadBlob}). */
  async decodeBlob(entry: IndexEntry, sealed: Buffer): Promise<Buffer> {
    const corrupt = (why: string) =>
      repositoryError(
        'REPOSITORY_BLOB_CORRUPT',
        `${entry.type} blob ${entry.id} in pack ${entry.pack} is damaged: ${why}`,
        { hint: 'Run `cairn repo check --read-data` to list every damaged pack and the files it affects.' },
      );
    if (sealed.length !== entry.length)
      throw corrupt(`expected ${entry.length} bytes, read ${sealed.length}`);
    const stored = this.open(entry.type, sealed);
    if (stored === undefined) throw corrupt('authentication failed (bytes changed)');
    let plain: Buffer;
    if (entry.compression === 'zstd') {
      try {
        plain =
          entry.rawLength <= SYNC_ZSTD_MAX ? zlib.zstdDecompressSync(stored) : await zstdDecompress(stored);
      } catch (err) {
        throw corrupt(`it does not decompress (${messageOf(err)})`);
      }
    } else plain = stored;
    if (plain.length !== entry.rawLength)
      throw corrupt(`expected ${entry.rawLength} plaintext bytes, got ${plain.length}`);
    if (!sameBytes(blobId(this.#keys.macKey, plain), Buffer.from(entry.id, 'hex')))
      throw corrupt('its content does not match its id');
    return plain;
  }

  /** A writer for new blobs; call {@link BlobWriter.flush} to store the last packs and get their index entries. */
  writer(options: WriterOptions = {}): BlobWriter {
    return new BlobWriter(this, options);
  }

  // ---- sealed JSON files (snapshots) ----

  async putSealedJson(kind: 'snapshot', key: (id: string) => string, value: unknown): Promise<string> {
    const sealed = this.seal(kind, Buffer.from(JSON.stringify(value)));
    const id = createHash('sha256').update(sealed).digest('hex');
    await this.store.put(key(id), sealed);
    return id;
  }

  async getSealedJson<T>(kind: 'snapshot', key: string): Promise<T> {
    const sealed = await this.store.get(key);
    const id = idOfKey(key);
    const plain =
      id !== undefined && createHash('sha256').update(sealed).digest('hex') === id
        ? this.open(kind, sealed)
        : undefined;
    if (plain === undefined) {
      throw repositoryError(
        'REPOSITORY_FILE_CORRUPT',
        `${key} is damaged (it does not match its name or decrypt)`,
        {
          hint: 'Run `cairn repo check`; restore the file from a copy of the location if you have one.',
        },
      );
    }
    return JSON.parse(plain.toString('utf8')) as T;
  }
}

/** What a writer stored. */
export interface WriterStats {
  newBlobs: number;
  /** Plaintext bytes of new blobs. */
  newBytes: number;
  /** Bytes of new blobs as stored (compressed, sealed). */
  storedBytes: number;
  packs: number;
}

/**
 * The write half of the pipeline. `save` hashes the plaintext (the id is
 * known at once, so callers can build trees without waiting), skips blobs the
 * index or this writer already has, and hands the rest to a bounded pool:
 * zstd on libuv's thread pool (skipped when a sample shows the data does not
 * compress), AES-GCM, append to the pack of its type; a full pack is uploaded
 * while the next fills, with a bound on packs in flight. A failure stops the
 * writer: the next `save` or `flush` throws it, and nothing is indexed for a
 * pack that was not stored.
 */
export class BlobWriter {
  readonly #repo: Repository;
  readonly #blobs: Limiter;
  readonly #pool: PackBufferPool;
  readonly #pending = new Set<string>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #packs: Record<BlobType, PackBuilder | PackFile | undefined> = {
    data: undefined,
    tree: undefined,
  };
  /** Largest pack (bytes), header included. */
  readonly #packCapacity: number;
  /** Packs go to the store's staging files (PackFile) instead of memory (PackBuilder). */
  readonly #staged: boolean;
  /** Appends to the pack of a type happen one at a time, in order. */
  readonly #appends: Record<BlobType, Promise<void>> = { data: Promise.resolve(), tree: Promise.resolve() };
  readonly #stored: Array<{ id: string; blobs: PackedBlob[] }> = [];
  #failure: unknown;
  #aborting: Promise<void> = Promise.resolve();
  readonly stats: WriterStats = { newBlobs: 0, newBytes: 0, storedBytes: 0, packs: 0 };
  /** One zstd context for the synchronous compressions, and its output buffer. */
  readonly #compressor: ZstdCompressor;
  #zstdOut = Buffer.alloc(0);
  /** The sealed pieces are dead once copied into a pack: collected every few MiB (see YoungGarbage). */
  readonly #young = new YoungGarbage(8 * 1024 * 1024);

  constructor(repo: Repository, options: WriterOptions) {
    this.#repo = repo;
    this.#compressor = new ZstdCompressor(repo.config.compression.level);
    this.#blobs = new Limiter(options.blobsInFlight ?? 6);
    // One buffer per type being filled, plus the uploads in flight. A pack is
    // flushed at packSize; the slack lets most blobs complete a pack rather than
    // start the next one.
    const slack = Math.min(repo.config.chunker.maxSize, repo.config.packSize / 4);
    this.#packCapacity = repo.config.packSize + slack + 64 * 1024;
    this.#staged = repo.store.stage !== undefined;
    // Staged packs only hold their write buffer; the pool still bounds packs in flight.
    this.#pool = new PackBufferPool(
      this.#staged ? PACK_WRITE_BUFFER : this.#packCapacity,
      2 + (options.uploadsInFlight ?? 2),
    );
  }

  /**
   * Saves a blob unless it is known; resolves with its id once the pipeline
   * accepted it. `plaintext` must not change until the blob is stored (file
   * contents take the file workers' paths instead: read, or chunk).
   */
  async save(type: BlobType, plaintext: Uint8Array): Promise<string> {
    const id = this.#repo.blobId(plaintext);
    if (!this.claim(id)) return id;
    await this.#blobs.acquire();
    const work = this.#process(type, id, plaintext).then(
      () => undefined,
      (err: unknown) => this.#fail(err),
    );
    this.#inFlight.add(work);
    void work.finally(() => {
      this.#inFlight.delete(work);
      this.#blobs.release();
    });
    return id;
  }

  /**
   * Copies an already sealed blob (read and verified from another pack) into
   * the pack being filled, as is — `prune` repacks without decrypting to
   * re-encrypt. Skips blobs this writer already holds; the index is not
   * consulted (the blob is known there, in the pack being emptied).
   */
  async copySealed(
    blob: { id: string; type: BlobType; rawLength: number; compression: Compression },
    sealed: Buffer,
  ): Promise<void> {
    this.#throwIfFailed();
    if (this.#pending.has(blob.id)) return;
    this.#pending.add(blob.id);
    await this.#appendSealed(blob, sealed);
  }

  /**
   * Claims a blob: true when the repository lacks it and nobody claimed it
   * before, and the caller then stores it — save() and saveSealed() do, a
   * file worker's chunk job seals it elsewhere and delivers it with
   * {@link storeClaimed}. From here on, other saves of the same id count on
   * it being written.
   */
  claim(id: string): boolean {
    this.#throwIfFailed();
    if (this.#repo.has(id) || this.#pending.has(id)) return false;
    this.#pending.add(id);
    return true;
  }

  /** Appends a blob claimed with {@link claim}, sealed, to the data pack. */
  async storeClaimed(
    blob: { id: string; rawLength: number; compression: Compression },
    sealed: Buffer,
  ): Promise<void> {
    this.#throwIfFailed();
    await this.#appendSealed({ ...blob, type: 'data' }, sealed);
    this.#young.made(sealed.length); // dead once copied into the pack
  }

  async #appendSealed(
    blob: { id: string; type: BlobType; rawLength: number; compression: Compression },
    sealed: Buffer,
  ): Promise<void> {
    const copy = { ...blob, pieces: [sealed] };
    const append = this.#appends[blob.type].then(() => this.#append(blob.type, copy));
    this.#appends[blob.type] = append.catch(() => {});
    await append;
  }

  /** Saves a blob a file worker already sealed, unless it is known; returns its id. */
  async saveSealed(
    blob: { id: string; type: BlobType; rawLength: number; compression: Compression },
    sealed: Buffer,
  ): Promise<string> {
    if (this.claim(blob.id)) await this.#appendSealed(blob, sealed);
    return blob.id;
  }

  /** Stores the partly filled packs, waits for every upload, and returns the stored packs (for the index). */
  async flush(): Promise<Array<{ id: string; blobs: PackedBlob[] }>> {
    await this.#drain();
    await this.#abortIfFailed();
    for (const type of ['data', 'tree'] as const) {
      await this.#appends[type];
      if ((this.#packs[type]?.count ?? 0) > 0) this.#upload(type);
    }
    await this.#drain();
    this.#throwIfFailed();
    return this.#stored.splice(0);
  }

  /**
   * For a caller that stops early (a failed backup): waits for the work in
   * flight and drops the temp files of staged packs not stored. Nothing more
   * is indexed; packs already stored stay (a later backup adopts them).
   */
  async discard(): Promise<void> {
    await this.#drain();
    this.#fail(this.#failure ?? new Error('the writer was discarded'));
    await this.#aborting;
  }

  /** After a failure: waits for the temp files of packs being filled to be dropped, then throws the failure. */
  async #abortIfFailed(): Promise<void> {
    if (this.#failure === undefined) return;
    await this.#aborting;
    throw this.#failure;
  }

  /**
   * Records the first failure and drops the staged packs being filled: nothing
   * of theirs will be stored (a backup that fails in `save` never calls flush,
   * so this is where their temp files go).
   */
  #fail(err: unknown): void {
    this.#failure ??= err;
    for (const type of ['data', 'tree'] as const) {
      const open = this.#packs[type];
      if (!(open instanceof PackFile)) continue;
      this.#packs[type] = undefined;
      this.#aborting = this.#aborting.then(() => open.staged.abort());
    }
  }

  async #drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  async #process(type: BlobType, id: string, input: Uint8Array): Promise<void> {
    let compression: Compression = 'none';
    let stored: Uint8Array = input;
    if (!compressible(input)) {
      // Stored as it is.
    } else if (input.length <= SYNC_ZSTD_MAX) {
      // Small blobs are compressed synchronously: the async zlib call costs ~3× the CPU of the
      // compression itself for 32 KiB inputs (stream setup, thread-pool hop, callbacks). Into a
      // reused buffer, sealed below before anything else runs.
      const bound = zstdBound(input.length);
      if (this.#zstdOut.length < bound) this.#zstdOut = Buffer.allocUnsafe(Math.max(bound, 64 * 1024));
      const n = this.#compressor.compressInto(input, this.#zstdOut);
      if (n < input.length) {
        stored = this.#zstdOut.subarray(0, n);
        compression = 'zstd';
      }
    } else {
      const params = { [zlib.constants.ZSTD_c_compressionLevel]: this.#repo.config.compression.level };
      const compressed = await zstdCompress(input, { params });
      if (compressed.length < input.length) {
        stored = compressed;
        compression = 'zstd';
      }
    }
    this.#throwIfFailed();
    const pieces = sealPieces(this.#repo.encryptionKey, type, stored);
    const blob = { id, type, pieces, rawLength: input.length, compression };
    const append = this.#appends[type].then(() => this.#append(type, blob));
    this.#appends[type] = append.catch(() => {});
    await append;
    this.#young.made(input.length);
  }

  async #append(type: BlobType, blob: Parameters<PackBuilder['add']>[0]): Promise<void> {
    this.#throwIfFailed();
    const length = blob.pieces.reduce((n, p) => n + p.length, 0);
    let pack = this.#packs[type];
    if (pack !== undefined && !pack.fits(length)) {
      this.#upload(type);
      pack = undefined;
    }
    if (pack === undefined) {
      const stage = this.#repo.store.stage;
      if (stage !== undefined) {
        const buffer = await this.#pool.acquire(0);
        try {
          pack = new PackFile(await stage.call(this.#repo.store), buffer, this.#packCapacity);
        } catch (err) {
          this.#pool.release(buffer);
          throw err;
        }
        if (this.#failure !== undefined) {
          // Failed meanwhile: #fail already dropped the open packs, so drop this one too.
          await pack.staged.abort();
          this.#pool.release(buffer);
          throw this.#failure;
        }
      } else pack = new PackBuilder(await this.#pool.acquire(length + headerOverhead(1)));
      this.#packs[type] = pack;
    }
    await pack.add(blob);
    this.stats.newBlobs++;
    this.stats.newBytes += blob.rawLength;
    if (pack.size >= this.#repo.config.packSize) this.#upload(type);
  }

  /** Finishes the pack of a type and uploads it in the background; its buffer returns to the pool afterwards. */
  #upload(type: BlobType): void {
    const full = this.#packs[type];
    if (full === undefined) return;
    this.#packs[type] = undefined;
    const upload = (async () => {
      try {
        let stored: { id: string; size: number; blobs: PackedBlob[] };
        if (full instanceof PackFile) {
          stored = await full.finish(this.#repo.encryptionKey);
          await full.staged.commit(repositoryLayout.pack(stored.id));
        } else {
          const { id, bytes, blobs } = full.finish(this.#repo.encryptionKey);
          await this.#repo.store.put(repositoryLayout.pack(id), bytes);
          stored = { id, size: bytes.length, blobs };
        }
        // Indexed only once stored: a pack the index names is always complete.
        this.#stored.push({ id: stored.id, blobs: stored.blobs });
        this.stats.packs++;
        this.stats.storedBytes += stored.size;
      } catch (err) {
        this.#fail(err);
        if (full instanceof PackFile) await full.staged.abort();
      } finally {
        this.#pool.release(full.buffer);
      }
    })();
    this.#inFlight.add(upload);
    void upload.finally(() => this.#inFlight.delete(upload));
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

export { compressible, INCOMPRESSIBLE_BITS_PER_BYTE, sampleEntropy } from './entropy.ts';
