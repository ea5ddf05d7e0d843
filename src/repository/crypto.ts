/**
 * Authenticated encryption of everything the repository stores, and the keys
 * behind it. One random 64-byte master key per repository: the first half is
 * the AES-256-GCM key, the second the HMAC-SHA-256 key that makes blob ids
 * (so ids reveal nothing about the plaintext) and seeds the chunker's gear
 * table (so chunk boundaries do not either). Passwords only wrap the master
 * key (scrypt), so changing one never re-encrypts data.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';

/** Nonce (IV) length of AES-256-GCM in bytes: random per sealed object. */
export const NONCE_BYTES = 12;
/** GCM authentication tag length in bytes. */
export const TAG_BYTES = 16;
/** Bytes a sealed object adds to its plaintext. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * What a sealed object is: bound into GCM as associated data, so an object of
 * one kind can never be decrypted as another (a tree passed off as data, an
 * index as a snapshot).
 */
export type SealKind = 'data' | 'tree' | 'pack-header' | 'index' | 'snapshot' | 'key';

const AAD: Record<SealKind, Buffer> = {
  data: Buffer.from('cairn/v1/blob/data'),
  tree: Buffer.from('cairn/v1/blob/tree'),
  'pack-header': Buffer.from('cairn/v1/pack-header'),
  index: Buffer.from('cairn/v1/index'),
  snapshot: Buffer.from('cairn/v1/snapshot'),
  key: Buffer.from('cairn/v1/key'),
};

/** The two halves of the master key, as raw bytes and as imported KeyObjects (importing per call is measurable). */
export interface MasterKey {
  /** AES-256-GCM key. */
  readonly encryption: Buffer;
  /** HMAC-SHA-256 key for blob ids and the gear table. */
  readonly mac: Buffer;
  readonly encryptionKey: KeyObject;
  readonly macKey: KeyObject;
}

export function newMasterKey(): Buffer {
  return randomBytes(64);
}

export function splitMasterKey(raw: Buffer): MasterKey {
  if (raw.length !== 64) throw new Error(`master key must be 64 bytes, got ${raw.length}`);
  const encryption = Buffer.from(raw.subarray(0, 32));
  const mac = Buffer.from(raw.subarray(32));
  return { encryption, mac, encryptionKey: createSecretKey(encryption), macKey: createSecretKey(mac) };
}

/**
 * Seals bytes: `nonce(12) ‖ ciphertext ‖ tag(16)`, returned as the three
 * pieces so packs can append them without another copy.
 */
export function sealPieces(
  key: Buffer | KeyObject,
  kind: SealKind,
  plaintext: Uint8Array,
  extraAad?: Buffer,
): [Buffer, Buffer, Buffer] {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(extraAad === undefined ? AAD[kind] : Buffer.concat([AAD[kind], extraAad]));
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  const ciphertext = tail.length === 0 ? body : Buffer.concat([body, tail]);
  return [nonce, ciphertext, cipher.getAuthTag()];
}

export function seal(
  key: Buffer | KeyObject,
  kind: SealKind,
  plaintext: Uint8Array,
  extraAad?: Buffer,
): Buffer {
  return Buffer.concat(sealPieces(key, kind, plaintext, extraAad));
}

/** Opens a sealed object; returns undefined when it is not authentic (wrong key, wrong kind, damaged bytes). */
export function open(
  key: Buffer | KeyObject,
  kind: SealKind,
  sealed: Uint8Array,
  extraAad?: Buffer,
): Buffer | undefined {
  if (sealed.length < SEAL_OVERHEAD) return undefined;
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES));
  decipher.setAAD(extraAad === undefined ? AAD[kind] : Buffer.concat([AAD[kind], extraAad]));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  const body = decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? body : Buffer.concat([body, tail]);
  } catch {
    return undefined;
  }
}

/** The keyed id of a blob: HMAC-SHA-256 of its plaintext. */
export function blobId(macKey: Buffer | KeyObject, plaintext: Uint8Array): Buffer {
  return createHmac('sha256', macKey).update(plaintext).digest();
}

export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** scrypt parameters of a key file. */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * Default work factor: N=2^15, r=8, p=1 (32 MiB, ≈0.2 s on the test machine).
 * Stored per key file, so it can be raised later without breaking old keys.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

/** Derives the 32-byte key that wraps the master key from a password. */
export function deriveWrappingKey(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      Buffer.from(password.normalize('NFC'), 'utf8'),
      salt,
      32,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}
