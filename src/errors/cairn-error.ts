/**
 * The one error family of Cairn. Every error a user can meet carries a stable
 * `code` (for scripts, metrics and docs) and a `hint` that says what to do next.
 * Style after pnpm's `PnpmError`: the code never changes once released, the
 * message says what went wrong, the hint says how to fix it.
 */
export class CairnError extends Error {
  /** Stable, SCREAMING_SNAKE identifier, e.g. `LOCATION_NOT_EMPTY`. */
  readonly code: string;
  /** What the user can do about it, in one or two sentences. */
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CairnError';
    this.code = code;
    this.hint = options.hint;
  }
}

/** True when `err` is a CairnError with the given code (or any code when omitted). */
export function isCairnError(err: unknown, code?: string): err is CairnError {
  return err instanceof CairnError && (code === undefined || err.code === code);
}
