import { StorageError, type StorageFailure } from '../../errors/storage-error.ts';
import { messageOf } from '../body.ts';

const FAILURE_BY_ERRNO: Record<string, StorageFailure> = {
  ENOENT: 'not-found',
  ENOTDIR: 'not-found',
  EACCES: 'access-denied',
  EPERM: 'access-denied',
  EROFS: 'read-only',
  // NFS and busy disks: these clear up on their own often enough to retry.
  EIO: 'transient',
  ESTALE: 'transient',
  EAGAIN: 'transient',
  EBUSY: 'transient',
  ETIMEDOUT: 'transient',
  EMFILE: 'transient',
  ENFILE: 'transient',
  EISDIR: 'invalid',
  ENAMETOOLONG: 'invalid',
};

const HINTS: Partial<Record<string, string>> = {
  EACCES: 'Check the folder permissions for the user running Cairn.',
  EPERM: 'Check the folder permissions for the user running Cairn.',
  EROFS: 'The file system is mounted read-only; use a writable folder or a read-only location.',
  ENOSPC: 'The disk is full; free space or use another location.',
  EDQUOT: 'The disk quota is exhausted; free space or raise the quota.',
  EISDIR: 'A folder exists where Cairn expected an object; the location was changed by hand.',
  ESTALE: 'The NFS handle went stale; check the NFS mount.',
};

/** The errno code of a Node system error, if it is one. */
export function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** Classifies a Node file-system error into a StorageError for `key` (or the root when no key). */
export function storageErrorFromFs(err: unknown, what: string, key?: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = errnoOf(err) ?? 'UNKNOWN';
  const failure = FAILURE_BY_ERRNO[code] ?? 'other';
  const hint = HINTS[code];
  return new StorageError(failure, `${what}: ${messageOf(err)}`, {
    cause: err,
    ...(key === undefined ? {} : { key }),
    ...(hint === undefined ? {} : { hint }),
  });
}
