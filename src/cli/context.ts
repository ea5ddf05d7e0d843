/** What every command gets from the CLI entry point: output sinks and the exit code, injectable for tests. */
export interface CliContext {
  readonly version: string;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Sets the process exit code without throwing (e.g. a check that found problems). */
  readonly setExitCode: (code: number) => void;
}
