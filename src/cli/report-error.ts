import { CairnError } from '../errors/cairn-error.ts';

/**
 * Prints an error the way every Cairn command does: `error: <what>` and
 * `hint: <what to do>`, a stack trace only with `--debug`. Returns the exit code.
 */
export function reportError(err: unknown, debug: boolean, write: (s: string) => void): number {
  if (err instanceof CairnError) {
    write(`error: ${err.message}\n`);
    if (err.hint !== undefined) write(`hint: ${err.hint}\n`);
    if (debug) write(`code: ${err.code}\n${err.stack ?? ''}\n${causeChain(err)}`);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  write(`error: ${message}\n`);
  write(
    debug
      ? `${err instanceof Error ? (err.stack ?? '') : ''}\n`
      : 'hint: this is unexpected; run again with --debug for details and report it.\n',
  );
  return 1;
}

function causeChain(err: Error): string {
  let out = '';
  let cause = err.cause;
  while (cause !== undefined) {
    out += `caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return out;
}
