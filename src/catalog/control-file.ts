import { StorageError } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { messageOf } from '../storage/body.ts';

/** A JSON control file as read from storage: absent, unparseable, or parsed (not yet validated). */
export type ControlFileRead =
  | { readonly state: 'missing' }
  | { readonly state: 'invalid'; readonly problem: string }
  | { readonly state: 'parsed'; readonly value: unknown };

/**
 * Reads a JSON control file fresh from storage — there is deliberately no
 * cache that could go stale (the etcd-manager lesson). Absent and
 * unparseable files are states for the caller to report, not exceptions;
 * storage failures still throw.
 */
export async function readControlJson(store: BlobStore, key: string): Promise<ControlFileRead> {
  let raw: Buffer;
  try {
    raw = await store.get(key);
  } catch (err) {
    if (err instanceof StorageError && err.failure === 'not-found') return { state: 'missing' };
    throw err;
  }
  try {
    return { state: 'parsed', value: JSON.parse(raw.toString('utf8')) };
  } catch (err) {
    return { state: 'invalid', problem: `${key} is not valid JSON (${messageOf(err)})` };
  }
}
