/**
 * The resource archive of a backup: `resources.tar.zst`, a tar stream of one
 * JSON file per object, compressed with zstd (Node 24 zlib). Paths are
 * deterministic and follow Velero's layout so tooling and people can find an
 * object by hand:
 *
 * ```
 * resources/<resource>[.<group>]/<version>/namespaces/<namespace>/<name>.json
 * resources/<resource>[.<group>]/<version>/cluster/<name>.json
 * ```
 *
 * (core-group resources have no `.<group>` suffix). Reading is defensive: the
 * archive is input from storage, so every entry is checked — regular files
 * only, paths of exactly this grammar (no `..`, no absolute paths, no links),
 * bounded entry size and count — and anything else stops the read with
 * ARCHIVE_HOSTILE before a single object is handed on.
 */
import { createHash } from 'node:crypto';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdCompress, createZstdDecompress, constants as zlibConstants } from 'node:zlib';
import tar from 'tar-stream';
import { CairnError } from '../errors/cairn-error.ts';
import { coalesce } from '../util/coalesce.ts';

/** Which object an archive entry holds. */
export interface ArchivedItemRef {
  readonly group: string;
  readonly version: string;
  /** Plural resource name, e.g. `deployments`. */
  readonly resource: string;
  /** Absent for cluster-scoped objects. */
  readonly namespace?: string;
  readonly name: string;
}

export interface ArchiveLimits {
  /** Largest object accepted (default 8 MiB; etcd's own limit is 1.5 MiB per object). */
  readonly maxEntryBytes: number;
  /** Most entries accepted (default 5 million). */
  readonly maxEntries: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntryBytes: 8 * 1024 * 1024,
  maxEntries: 5_000_000,
};

/** `deployments.apps`, or `configmaps` for the core group. */
export function groupResource(group: string, resource: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

/** Segment rules shared by writing and reading: no separators, no dot-names, no control characters. */
function badSegment(segment: string): boolean {
  return (
    segment === '' ||
    segment === '.' ||
    segment === '..' ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
    /[/\\\u0000-\u001f\u007f]/.test(segment) ||
    segment.length > 253
  );
}

function hostile(message: string): CairnError {
  return new CairnError('ARCHIVE_HOSTILE', `the backup archive is malformed or hostile: ${message}`, {
    hint: 'Nothing was restored. The backup may have been tampered with or corrupted; restore from another backup.',
  });
}

/** The archive path of an object. */
export function itemPath(ref: ArchivedItemRef): string {
  const parts = [
    groupResource(ref.group, ref.resource),
    ref.version,
    ref.name,
    ...(ref.namespace === undefined ? [] : [ref.namespace]),
  ];
  for (const part of parts) {
    if (badSegment(part))
      throw new CairnError(
        'ARCHIVE_BAD_NAME',
        `cannot archive an object with path segment ${JSON.stringify(part)}`,
      );
  }
  const where = ref.namespace === undefined ? 'cluster' : `namespaces/${ref.namespace}`;
  return `resources/${groupResource(ref.group, ref.resource)}/${ref.version}/${where}/${ref.name}.json`;
}

/** Parses an archive path back into its reference; throws ARCHIVE_HOSTILE for anything off-grammar. */
export function parseItemPath(path: string): ArchivedItemRef {
  const parts = path.split('/');
  if (parts[0] !== 'resources' || parts.some(badSegment) || !path.endsWith('.json')) {
    throw hostile(`unexpected entry path ${JSON.stringify(path)}`);
  }
  const [, gr, version, scope, ...rest] = parts as [string, string, string, string, ...string[]];
  const dot = gr.indexOf('.');
  const resource = dot === -1 ? gr : gr.slice(0, dot);
  const group = dot === -1 ? '' : gr.slice(dot + 1);
  if (scope === 'cluster' && rest.length === 1) {
    return { group, version, resource, name: (rest[0] as string).slice(0, -'.json'.length) };
  }
  if (scope === 'namespaces' && rest.length === 2) {
    return {
      group,
      version,
      resource,
      namespace: rest[0] as string,
      name: (rest[1] as string).slice(0, -'.json'.length),
    };
  }
  throw hostile(`unexpected entry path ${JSON.stringify(path)}`);
}

/** Size and SHA-256 of bytes that went through a {@link measuringStream}. */
export interface StreamMeasure {
  size: number;
  sha256: string;
}

/** A pass-through that measures what flows through it (the digest is final once the stream ends). */
export function measuringStream(): { stream: Transform; result: StreamMeasure } {
  const hash = createHash('sha256');
  const result: StreamMeasure = { size: 0, sha256: '' };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      result.size += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      result.sha256 = hash.digest('hex');
      done();
    },
  });
  return { stream, result };
}

/**
 * Streams objects into `resources.tar.zst`. `readable` is the compressed
 * archive to hand to `BlobStore.put`; `add` waits when the consumer is slow,
 * so memory stays bounded.
 */
export class ResourceArchiveWriter {
  readonly readable: Readable;
  readonly measure: StreamMeasure;
  readonly #pack = tar.pack();
  readonly #done: Promise<void>;
  #entries = 0;
  readonly #mtime: Date;
  /** Rejecters of adds in flight, called when the pipeline fails. */
  readonly #waiting = new Set<(err: Error) => void>();
  #failure: Error | undefined;

  constructor(options: { mtime?: Date; level?: number } = {}) {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const { stream, result } = measuringStream();
    this.measure = result;
    this.readable = out;
    this.#mtime = options.mtime ?? new Date();
    const zstd = createZstdCompress({
      params: { [zlibConstants.ZSTD_c_compressionLevel]: options.level ?? 3 },
    });
    this.#done = pipeline(this.#pack, coalesce(), zstd, stream, out);
    // tar-stream's pack is a streamx stream: once the pipeline has failed and let go of it, a later
    // abort() would emit an 'error' nobody listens to. The pipeline's promise reports every failure.
    this.#pack.on('error', () => {});
    // The pipeline's error also reaches `readable`; keep an unobserved rejection from crashing the process.
    this.#done.catch((err: Error) => {
      this.#failure = err;
      for (const reject of this.#waiting) reject(err);
      this.#waiting.clear();
    });
  }

  /**
   * Waits for `accepted`, or rejects as soon as the pipeline fails. Deliberately not a
   * `Promise.race` with the pipeline's promise: every race adds a reaction to that
   * long-lived promise, and each reaction kept its object's body alive until the end of the
   * backup (hundreds of MB of Buffers at 100k objects).
   */
  #orFailure(accepted: Promise<void>): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      this.#waiting.add(reject);
      accepted.then(
        () => {
          this.#waiting.delete(reject);
          resolve();
        },
        (err: Error) => {
          this.#waiting.delete(reject);
          reject(err);
        },
      );
    });
  }

  get entries(): number {
    return this.#entries;
  }

  /** Adds one object; resolves once the archive accepted it (backpressure). */
  async add(ref: ArchivedItemRef, object: unknown): Promise<number> {
    const body = Buffer.from(JSON.stringify(object));
    const name = itemPath(ref);
    const accepted = new Promise<void>((resolve, reject) => {
      const sink = this.#pack.entry(
        { name, size: body.length, mode: 0o644, mtime: this.#mtime, type: 'file' },
        body,
        (err) => (err ? reject(err) : resolve()),
      );
      // The entry's callback reports its failure; the sink would also emit it unheard when the pack dies.
      sink.on('error', () => {});
    });
    // A broken pipeline (the upload failed) may never call the entry back: fail with it instead of waiting.
    await this.#orFailure(accepted);
    this.#entries++;
    return body.length;
  }

  /** Ends the archive; resolves when every byte went through the compressor. */
  async finish(): Promise<void> {
    this.#pack.finalize();
    await this.#done;
  }

  /** Stops the archive with an error (the put consuming `readable` then fails and leaves nothing). */
  abort(err: Error): void {
    this.#pack.destroy(err);
  }
}

/** One object read back from an archive. */
export interface ArchivedItem {
  readonly ref: ArchivedItemRef;
  readonly path: string;
  readonly object: Record<string, unknown>;
}

/**
 * Reads a `resources.tar.zst` stream, yielding each object after checking the
 * entry (type, path grammar, size, count) and that its JSON is an object whose
 * kind/name agree with the path. Throws ARCHIVE_HOSTILE on the first violation.
 */
export async function* readResourceArchive(
  compressed: Readable,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
): AsyncIterable<ArchivedItem> {
  const extract = tar.extract();
  const decompress = createZstdDecompress();
  compressed.on('error', (err) => extract.destroy(err));
  decompress.on('error', (err) => extract.destroy(hostileOrCorrupt(err)));
  compressed.pipe(decompress).pipe(extract);
  let count = 0;
  try {
    for await (const entry of extract) {
      const { name, type, size } = entry.header;
      if (type !== 'file') throw hostile(`entry ${JSON.stringify(name)} is a ${type}, not a regular file`);
      if (++count > limits.maxEntries) throw hostile(`more than ${limits.maxEntries} entries`);
      if ((size ?? 0) > limits.maxEntryBytes) {
        throw hostile(
          `entry ${JSON.stringify(name)} has ${size} bytes, more than the ${limits.maxEntryBytes} allowed`,
        );
      }
      const ref = parseItemPath(name);
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      let object: unknown;
      try {
        object = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        throw hostile(`entry ${JSON.stringify(name)} is not valid JSON`);
      }
      if (object === null || typeof object !== 'object' || Array.isArray(object))
        throw hostile(`entry ${name} is not a JSON object`);
      const meta = (object as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
      if (meta?.name !== ref.name || (ref.namespace !== undefined && meta?.namespace !== ref.namespace)) {
        throw hostile(`entry ${name} holds an object whose metadata does not match its path`);
      }
      yield { ref, path: name, object: object as Record<string, unknown> };
    }
  } finally {
    compressed.unpipe();
    compressed.destroy();
    extract.destroy();
  }
}

function hostileOrCorrupt(err: Error): CairnError {
  return new CairnError('ARCHIVE_CORRUPT', `the backup archive cannot be decompressed: ${err.message}`, {
    hint: 'Nothing was restored. The file is damaged; restore from another backup.',
    cause: err,
  });
}
