import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { CliContext } from './context.ts';
import { registerLocationCommands } from './location-command.ts';
import { reportError } from './report-error.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Builds the `cairn` command tree. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('cairn')
    .description('Backup, restore and disaster recovery for Kubernetes')
    .version(pkg.version, '-v, --version')
    .option('--debug', 'print stack traces and causes of errors')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: ctx.out, writeErr: ctx.err })
    .exitOverride();
  registerLocationCommands(program, ctx);
  return program;
}

/** Runs the CLI and resolves to the exit code; never throws. */
export async function runCli(argv: string[], io: Partial<CliContext> = {}): Promise<number> {
  let exitCode = 0;
  const ctx: CliContext = {
    version: pkg.version,
    out: io.out ?? ((s) => process.stdout.write(s)),
    err: io.err ?? ((s) => process.stderr.write(s)),
    setExitCode: (code) => {
      exitCode = code;
    },
  };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    return reportError(err, argv.includes('--debug'), ctx.err);
  }
}
