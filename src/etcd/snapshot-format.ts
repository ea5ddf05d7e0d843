/**
 * The etcd snapshot format: the bbolt database file followed by a 32-byte
 * SHA-256 of the database bytes (the "integrity hash" etcd's Maintenance API
 * appends and `etcdctl snapshot restore` checks). This module checks it while
 * bytes stream past, without holding more than 32 bytes back.
 */
import { createHash, type Hash } from 'node:crypto';
import { CairnError } from '../errors/cairn-error.ts';

export const TRAILER_BYTES = 32;
/** bbolt page size as etcd uses it; the database is a whole number of pages. */
const BOLT_PAGE_ALIGNMENT = 512;

export interface SnapshotDigest {
  /** Size of the whole file (database + trailer). */
  readonly size: number;
  /** SHA-256 of the whole file, hex. */
  readonly sha256: string;
  /** Size of the database without the trailer. */
  readonly dbSize: number;
  /** SHA-256 of the database bytes as computed here, hex. */
  readonly dbSha256: string;
  /** The SHA-256 the trailer claims, hex. */
  readonly trailerSha256: string;
  /** True when the trailer matches the database bytes. */
  readonly trailerOk: boolean;
}

/**
 * Hashes a snapshot as it streams: the whole file (for the manifest) and the
 * database part (everything but the last 32 bytes, which are only known to be
 * the trailer once the stream ends).
 */
export class SnapshotHasher {
  // One hash pass: the database bytes. The whole-file hash is the same state
  // plus the trailer (SHA-256 is a Merkle–Damgård chain), taken with copy().
  readonly #db: Hash = createHash('sha256');
  #tail: Buffer = Buffer.alloc(0);
  #size = 0;
  #digest: SnapshotDigest | undefined;

  update(chunk: Buffer): void {
    this.#size += chunk.length;
    if (chunk.length >= TRAILER_BYTES) {
      if (this.#tail.length > 0) this.#db.update(this.#tail);
      this.#db.update(chunk.subarray(0, chunk.length - TRAILER_BYTES));
      // Copy: the chunk's buffer may be reused by the producer.
      this.#tail = Buffer.from(chunk.subarray(chunk.length - TRAILER_BYTES));
    } else {
      const joined = Buffer.concat([this.#tail, chunk]);
      const spill = Math.max(0, joined.length - TRAILER_BYTES);
      if (spill > 0) this.#db.update(joined.subarray(0, spill));
      this.#tail = joined.subarray(spill);
    }
  }

  get size(): number {
    return this.#size;
  }

  /** The digest of everything seen so far; the hasher takes no more bytes afterwards. */
  digest(): SnapshotDigest {
    if (this.#digest !== undefined) return this.#digest;
    const file = this.#db.copy();
    file.update(this.#tail);
    const sha256 = file.digest('hex');
    const dbSha256 = this.#db.digest('hex');
    const trailerSha256 = this.#tail.length === TRAILER_BYTES ? this.#tail.toString('hex') : '';
    this.#digest = {
      size: this.#size,
      sha256,
      dbSize: Math.max(0, this.#size - TRAILER_BYTES),
      dbSha256,
      trailerSha256,
      trailerOk: trailerSha256 !== '' && trailerSha256 === dbSha256,
    };
    return this.#digest;
  }
}

/** Why a digest does not describe a well-formed etcd snapshot, or undefined when it does. */
export function snapshotProblem(digest: SnapshotDigest): string | undefined {
  if (digest.size < TRAILER_BYTES + BOLT_PAGE_ALIGNMENT) {
    return `it is only ${digest.size} bytes, too short for a bbolt database and its SHA-256 trailer (truncated?)`;
  }
  if (digest.size % BOLT_PAGE_ALIGNMENT !== TRAILER_BYTES) {
    return `its size ${digest.size} is not whole bbolt pages plus a 32-byte SHA-256 trailer (truncated or padded?)`;
  }
  if (!digest.trailerOk) {
    return `the SHA-256 trailer (${digest.trailerSha256.slice(0, 16)}…) does not match the database bytes (${digest.dbSha256.slice(0, 16)}…): the data is corrupt`;
  }
  return undefined;
}

/** Throws ETCD_SNAPSHOT_CORRUPT when the digest is not a well-formed snapshot. */
export function assertWellFormed(digest: SnapshotDigest, what: string): void {
  const problem = snapshotProblem(digest);
  if (problem !== undefined) {
    throw new CairnError('ETCD_SNAPSHOT_CORRUPT', `${what} is not a valid etcd snapshot: ${problem}`, {
      hint: 'Nothing was restored or stored from it. Take a new snapshot, or use another one (`cairn etcd snapshot list`).',
    });
  }
}
