/**
 * Pack files: many encrypted blobs in one write-once object, then their
 * encrypted header, then the header's length.
 *
 * ```
 * blob 1 sealed ‖ blob 2 sealed ‖ … ‖ header sealed ‖ uint32le(header sealed length)
 * header plaintext = version(1) ‖ entry × n,   entry = type(1) ‖ compression(1) ‖ uint32le length ‖ uint32le rawLength ‖ id(32)
 * ```
 *
 * Blobs are laid out back to back from offset 0, so an entry's offset is the
 * sum of the lengths before it. `length` is the sealed length in the pack,
 * `rawLength` the plaintext length. The pack's id is the SHA-256 of all its
 * bytes (it can be verified without the password).
 */
import { createHash } from 'node:crypto';
import { open, SEAL_OVERHEAD, sealPieces } from './crypto.ts';

export const PACK_HEADER_VERSION = 1;
const ENTRY_BYTES = 1 + 1 + 4 + 4 + 32;

export type BlobType = 'data' | 'tree';
export type Compression = 'none' | 'zstd';

/** One blob of a pack, as the header and the index record it. */
export interface PackedBlob {
  readonly id: string;
  readonly type: BlobType;
  readonly offset: number;
  /** Sealed length in the pack. */
  readonly length: number;
  /** Plaintext length. */
  readonly rawLength: number;
  readonly compression: Compression;
}

/** Bytes the header adds for `n` blobs. */
export function headerOverhead(n: number): number {
  return 1 + n * ENTRY_BYTES + SEAL_OVERHEAD + 4;
}

/** Collects sealed blobs until a pack is full; `finish` returns the pack's bytes and id. */
export class PackBuilder {
  readonly #parts: Buffer[] = [];
  readonly #blobs: PackedBlob[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }
  get count(): number {
    return this.#blobs.length;
  }

  /** Appends a sealed blob given as its pieces (nonce, ciphertext, tag). */
  add(input: {
    id: string;
    type: BlobType;
    pieces: Buffer[];
    rawLength: number;
    compression: Compression;
  }): void {
    let length = 0;
    for (const piece of input.pieces) {
      this.#parts.push(piece);
      length += piece.length;
    }
    this.#blobs.push({
      id: input.id,
      type: input.type,
      offset: this.#size,
      length,
      rawLength: input.rawLength,
      compression: input.compression,
    });
    this.#size += length;
  }

  finish(encryptionKey: Buffer): { id: string; bytes: Buffer; blobs: PackedBlob[] } {
    const header = Buffer.alloc(1 + this.#blobs.length * ENTRY_BYTES);
    header[0] = PACK_HEADER_VERSION;
    let at = 1;
    for (const blob of this.#blobs) {
      header[at] = blob.type === 'data' ? 0 : 1;
      header[at + 1] = blob.compression === 'none' ? 0 : 1;
      header.writeUInt32LE(blob.length, at + 2);
      header.writeUInt32LE(blob.rawLength, at + 6);
      Buffer.from(blob.id, 'hex').copy(header, at + 10);
      at += ENTRY_BYTES;
    }
    const sealedHeader = sealPieces(encryptionKey, 'pack-header', header);
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32LE(sealedHeader.reduce((n, p) => n + p.length, 0));
    const bytes = Buffer.concat([...this.#parts, ...sealedHeader, trailer]);
    const id = createHash('sha256').update(bytes).digest('hex');
    return { id, bytes, blobs: [...this.#blobs] };
  }
}

/** Reads the blob list back from a whole pack; undefined when the header is damaged or not authentic. */
export function readPackHeader(pack: Buffer, encryptionKey: Buffer): PackedBlob[] | undefined {
  if (pack.length < 4) return undefined;
  const sealedLength = pack.readUInt32LE(pack.length - 4);
  if (sealedLength + 4 > pack.length) return undefined;
  const header = open(
    encryptionKey,
    'pack-header',
    pack.subarray(pack.length - 4 - sealedLength, pack.length - 4),
  );
  if (header === undefined || header[0] !== PACK_HEADER_VERSION || (header.length - 1) % ENTRY_BYTES !== 0)
    return undefined;
  const blobs: PackedBlob[] = [];
  let offset = 0;
  for (let at = 1; at < header.length; at += ENTRY_BYTES) {
    const length = header.readUInt32LE(at + 2);
    blobs.push({
      type: header[at] === 0 ? 'data' : 'tree',
      compression: header[at + 1] === 0 ? 'none' : 'zstd',
      length,
      rawLength: header.readUInt32LE(at + 6),
      id: header.subarray(at + 10, at + 42).toString('hex'),
      offset,
    });
    offset += length;
  }
  return blobs;
}
