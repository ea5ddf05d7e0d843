import { CairnError } from '../errors/cairn-error.ts';

/** Stable codes of repository errors (documented in docs/repository-format.md). */
export type RepositoryErrorCode =
  | 'REPOSITORY_EXISTS'
  | 'REPOSITORY_NOT_INITIALIZED'
  | 'REPOSITORY_CONFIG_MISSING'
  | 'REPOSITORY_CONFIG_INVALID'
  | 'REPOSITORY_FORMAT_UNSUPPORTED'
  | 'REPOSITORY_WRONG_PASSWORD'
  | 'REPOSITORY_PASSWORD_MISSING'
  | 'REPOSITORY_NO_KEYS'
  | 'REPOSITORY_KEY_NOT_FOUND'
  | 'REPOSITORY_KEY_IN_USE'
  | 'REPOSITORY_BLOB_MISSING'
  | 'REPOSITORY_BLOB_CORRUPT'
  | 'REPOSITORY_FILE_CORRUPT'
  | 'REPOSITORY_SNAPSHOT_NOT_FOUND'
  | 'REPOSITORY_SNAPSHOT_AMBIGUOUS'
  | 'REPOSITORY_SOURCE_UNREADABLE'
  | 'REPOSITORY_TARGET_INVALID'
  | 'REPOSITORY_RESTORE_INCOMPLETE'
  | 'REPOSITORY_LOCKED'
  | 'REPOSITORY_LOCK_LOST'
  | 'REPOSITORY_PRUNE_UNSAFE'
  | 'REPOSITORY_POLICY_MISSING'
  | 'REPOSITORY_INDEX_UNREADABLE'
  | 'REPOSITORY_WORKER_FAILED';

export function repositoryError(
  code: RepositoryErrorCode,
  message: string,
  options: { hint?: string; cause?: unknown } = {},
): CairnError {
  return new CairnError(code, message, options);
}
