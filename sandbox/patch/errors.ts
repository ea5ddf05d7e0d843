/**
 * Errors raised by the pure patch modules. The sandbox API server turns a
 * {@link PatchError} into a `metav1.Status` with the same `code` and `reason`,
 * which is how kube-apiserver reports patch failures
 * (k8s.io/apiserver/pkg/endpoints/handlers/patch.go).
 */

/**
 * HTTP status codes kube-apiserver uses for patch failures:
 * - 400 BadRequest: the patch body cannot be decoded (not a JSON patch array,
 *   malformed strategic-merge directive lists, `Invalid JSON Patch`).
 * - 409 Conflict: reserved for the server (resourceVersion preconditions);
 *   these modules never raise it but the type admits it so the server can reuse
 *   the class.
 * - 413 RequestEntityTooLarge: a JSON patch with more than 10000 operations.
 * - 422 Invalid: the patch decoded but could not be applied (failed `test`,
 *   missing path, index out of range, unknown op).
 * - 500 InternalError: strategic merge errors kube-apiserver does not map to
 *   a status (e.g. unknown `$patch` value, missing merge key) surface as 500.
 */
export type PatchErrorStatus = 400 | 409 | 413 | 422 | 500;

/** Kubernetes `metav1.StatusReason` for each {@link PatchErrorStatus}. */
export type PatchErrorReason =
  | 'BadRequest'
  | 'Conflict'
  | 'RequestEntityTooLarge'
  | 'Invalid'
  | 'InternalError';

const REASONS: Record<PatchErrorStatus, PatchErrorReason> = {
  400: 'BadRequest',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  422: 'Invalid',
  500: 'InternalError',
};

/** A patch could not be decoded or applied; carries the status kube-apiserver would answer with. */
export class PatchError extends Error {
  /** HTTP status code of the Status the server should answer with. */
  readonly status: PatchErrorStatus;
  /** `metav1.StatusReason` matching {@link status}. */
  readonly reason: PatchErrorReason;

  constructor(status: PatchErrorStatus, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PatchError';
    this.status = status;
    this.reason = REASONS[status];
  }
}

/** Shorthand for a 400 BadRequest {@link PatchError}. */
export function badRequest(message: string): PatchError {
  return new PatchError(400, message);
}

/** Shorthand for a 422 Invalid {@link PatchError}. */
export function unprocessable(message: string): PatchError {
  return new PatchError(422, message);
}

/** Shorthand for a 500 InternalError {@link PatchError}. */
export function internal(message: string): PatchError {
  return new PatchError(500, message);
}
