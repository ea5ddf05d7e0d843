import { StorageError, type StorageFailure } from '../../errors/storage-error.ts';
import { messageOf } from '../body.ts';

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const BY_NAME: Record<string, StorageFailure> = {
  NoSuchKey: 'not-found',
  NotFound: 'not-found',
  NoSuchBucket: 'bucket-missing',
  AccessDenied: 'access-denied',
  InvalidAccessKeyId: 'access-denied',
  SignatureDoesNotMatch: 'access-denied',
  InvalidToken: 'access-denied',
  ExpiredToken: 'access-denied',
  AllAccessDisabled: 'access-denied',
  CredentialsProviderError: 'access-denied',
  InvalidRange: 'invalid',
  InvalidArgument: 'invalid',
  SlowDown: 'transient',
  Throttling: 'transient',
  ThrottlingException: 'transient',
  RequestTimeout: 'transient',
  RequestTimeTooSkewed: 'transient',
  InternalError: 'transient',
  ServiceUnavailable: 'transient',
  TimeoutError: 'transient',
  RequestTimeoutException: 'transient',
};

const BY_ERRNO: Record<string, StorageFailure> = {
  ECONNREFUSED: 'unreachable',
  ENOTFOUND: 'unreachable',
  EAI_AGAIN: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  CERT_HAS_EXPIRED: 'unreachable',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unreachable',
  SELF_SIGNED_CERT_IN_CHAIN: 'unreachable',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unreachable',
  ERR_TLS_CERT_ALTNAME_INVALID: 'unreachable',
  ECONNRESET: 'transient',
  EPIPE: 'transient',
  ETIMEDOUT: 'transient',
  ECONNABORTED: 'transient',
  ERR_STREAM_PREMATURE_CLOSE: 'transient',
};

/** Classifies an AWS SDK (or socket) error by name, errno and HTTP status — never by message text. */
export function classifyS3Error(err: unknown): StorageFailure {
  if (err instanceof StorageError) return err.failure;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const byName = BY_NAME[e.name ?? ''] ?? BY_NAME[e.Code ?? ''];
  if (byName !== undefined) return byName;
  const byErrno = BY_ERRNO[e.code ?? ''];
  if (byErrno !== undefined) return byErrno;
  const status = e.$metadata?.httpStatusCode;
  if (status === 404) return 'not-found';
  if (status === 401 || status === 403) return 'access-denied';
  if (status === 416) return 'invalid';
  if (status === 408 || status === 429 || (status !== undefined && status >= 500)) return 'transient';
  if (e.name === 'AbortError') return 'other';
  return 'other';
}

const PLAIN: Partial<Record<StorageFailure, string>> = {
  'access-denied': 'access denied',
  'bucket-missing': 'the bucket does not exist',
  'not-found': 'not found',
  transient: 'the server is temporarily unable to answer',
};

const HINTS: Partial<Record<StorageFailure, string>> = {
  'access-denied':
    'Check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ?credentialsFile=) and that they may read and write this bucket.',
  'bucket-missing': 'Create the bucket first, or fix the bucket name in the location URL.',
  unreachable:
    'Check the endpoint URL (?endpoint=), that the server is running and reachable, and its TLS certificate (?caBundle=).',
  transient: 'The server is overloaded or the network is flaky; Cairn retried. Try again later.',
};

/** Turns an SDK error into a classified StorageError for `key` in `where`. */
export function storageErrorFromS3(err: unknown, what: string, key?: string): StorageError {
  if (err instanceof StorageError) return err;
  const failure = classifyS3Error(err);
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  // HEAD responses carry no body, and some servers send none on errors: the SDK then says
  // only "UnknownError". Name the failure ourselves instead of echoing that.
  const raw = messageOf(err);
  const vague = raw === '' || /^Unknown(Error)?$/.test(raw);
  const label = [e.Code, e.name, e.code].find(
    (n) => n !== undefined && n !== 'Error' && !/^Unknown(Error)?$/.test(n),
  );
  const text = vague ? (PLAIN[failure] ?? label ?? 'the server reported an error') : raw;
  const detail = [label, status === undefined ? '' : `HTTP ${status}`].filter(Boolean).join(', ');
  const message = `${what}: ${text}${detail ? ` (${detail})` : ''}`;
  const hint = HINTS[failure];
  return new StorageError(failure, message, {
    cause: err,
    ...(key === undefined ? {} : { key }),
    ...(hint === undefined ? {} : { hint }),
  });
}
