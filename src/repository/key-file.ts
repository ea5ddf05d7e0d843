/**
 * Key files: one per password, each holding the master key wrapped with a key
 * derived from that password by scrypt. Written once, never rewritten (a
 * password change adds a key file and removes the old one).
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { StorageError } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { DEFAULT_SCRYPT, deriveWrappingKey, open, type ScryptParams, seal } from './crypto.ts';
import { repositoryError } from './errors.ts';
import { idOfKey, repositoryLayout } from './format.ts';

export const KEY_FILE_VERSION = 1;

/** `control/repository/keys/<id>.json` (id = SHA-256 of the file's bytes). */
export interface KeyFile {
  readonly kind: 'CairnRepositoryKey';
  readonly version: number;
  readonly repositoryId: string;
  readonly createdAt: string;
  readonly hostname: string;
  readonly username: string;
  readonly kdf: { readonly algorithm: 'scrypt'; readonly salt: string } & ScryptParams;
  /** base64 of the sealed master key (kind `key`, the repository id as extra associated data). */
  readonly masterKey: string;
}

/** Wraps the master key with a password and writes a new key file; returns its id. */
export async function writeKeyFile(
  store: BlobStore,
  input: { repositoryId: string; masterKey: Buffer; password: string; now: Date; scrypt?: ScryptParams },
): Promise<string> {
  const params = input.scrypt ?? DEFAULT_SCRYPT;
  const salt = randomBytes(32);
  const wrapping = await deriveWrappingKey(input.password, salt, params);
  const file: KeyFile = {
    kind: 'CairnRepositoryKey',
    version: KEY_FILE_VERSION,
    repositoryId: input.repositoryId,
    createdAt: input.now.toISOString(),
    hostname: hostname(),
    username: safeUsername(),
    kdf: { algorithm: 'scrypt', ...params, salt: salt.toString('base64') },
    masterKey: seal(wrapping, 'key', input.masterKey, Buffer.from(input.repositoryId)).toString('base64'),
  };
  const bytes = Buffer.from(`${JSON.stringify(file, null, 2)}\n`);
  const id = createHash('sha256').update(bytes).digest('hex');
  await store.put(repositoryLayout.key(id), bytes, { contentType: 'application/json' });
  return id;
}

/**
 * Finds the key file the password opens and returns the master key. Tries
 * every key file (one scrypt each); none opening is `REPOSITORY_WRONG_PASSWORD`.
 * Reads only: a wrong password writes nothing.
 */
export async function unlockMasterKey(
  store: BlobStore,
  repositoryId: string,
  password: string,
): Promise<{ masterKey: Buffer; keyId: string }> {
  const ids: string[] = [];
  for await (const info of store.list(repositoryLayout.keysPrefix())) {
    const id = idOfKey(info.key);
    if (id !== undefined) ids.push(id);
  }
  if (ids.length === 0) {
    throw repositoryError(
      'REPOSITORY_NO_KEYS',
      `${store.description} has a repository config but no key files`,
      {
        hint: `Without a key file under ${repositoryLayout.keysPrefix()} the data cannot be decrypted. Restore the key files from a copy of this location.`,
      },
    );
  }
  for (const id of ids) {
    let file: KeyFile;
    try {
      file = JSON.parse((await store.get(repositoryLayout.key(id))).toString('utf8')) as KeyFile;
    } catch (err) {
      if (err instanceof StorageError && err.failure === 'not-found') continue;
      if (err instanceof SyntaxError) continue;
      throw err;
    }
    if (
      file.kind !== 'CairnRepositoryKey' ||
      file.version !== KEY_FILE_VERSION ||
      file.kdf?.algorithm !== 'scrypt'
    )
      continue;
    if (file.repositoryId !== repositoryId) continue;
    const wrapping = await deriveWrappingKey(password, Buffer.from(file.kdf.salt, 'base64'), file.kdf);
    const masterKey = open(wrapping, 'key', Buffer.from(file.masterKey, 'base64'), Buffer.from(repositoryId));
    if (masterKey !== undefined && masterKey.length === 64) return { masterKey, keyId: id };
  }
  throw repositoryError(
    'REPOSITORY_WRONG_PASSWORD',
    `the password opens none of the ${ids.length} key file(s) of the repository in ${store.description}`,
    {
      hint: 'Check CAIRN_PASSWORD or --password-file (a trailing newline in the file is ignored, other whitespace is not). Nothing was written.',
    },
  );
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

/** A key file as listed: its id and the readable part of its content (never the wrapped key). */
export interface KeyInfo {
  readonly id: string;
  readonly createdAt: string;
  readonly hostname: string;
  readonly username: string;
  readonly kdf: string;
}

/** Every key file of the repository (ones that do not parse are listed with empty fields). */
export async function listKeyFiles(store: BlobStore): Promise<KeyInfo[]> {
  const out: KeyInfo[] = [];
  for await (const info of store.list(repositoryLayout.keysPrefix())) {
    const id = idOfKey(info.key);
    if (id === undefined) continue;
    try {
      const file = JSON.parse((await store.get(info.key)).toString('utf8')) as KeyFile;
      out.push({
        id,
        createdAt: file.createdAt,
        hostname: file.hostname,
        username: file.username,
        kdf: `scrypt N=${file.kdf.N} r=${file.kdf.r} p=${file.kdf.p}`,
      });
    } catch {
      out.push({ id, createdAt: '', hostname: '', username: '', kdf: 'unreadable' });
    }
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/**
 * Removes a key file. Refuses the key the current password opened (remove it
 * with another password, or use `passwd`) and the last key (that would lock
 * everyone out for good).
 */
export async function removeKeyFile(
  store: BlobStore,
  input: { id: string; currentKeyId: string },
): Promise<void> {
  const keys = await listKeyFiles(store);
  const matches = keys.filter((k) => k.id.startsWith(input.id));
  const only = matches[0];
  if (only === undefined || matches.length > 1 || input.id.length < 4) {
    throw repositoryError('REPOSITORY_KEY_NOT_FOUND', `no single key file matches "${input.id}"`, {
      hint: 'List the keys with `cairn repo key list`; give at least 8 hex digits of the id.',
    });
  }
  if (only.id === input.currentKeyId) {
    throw repositoryError(
      'REPOSITORY_KEY_IN_USE',
      `key ${only.id.slice(0, 8)} is the one this password opens`,
      {
        hint: 'Open the repository with another password to remove it, or change this password with `cairn repo key passwd`. Nothing was removed.',
      },
    );
  }
  await store.delete(repositoryLayout.key(only.id));
}
