import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerBackupCommands } from './backup-command.ts';
import type { CliContext } from './context.ts';
import { registerEtcdCommands } from './etcd-command.ts';
import { registerInstallCommands } from './install-command.ts';
import { registerLocationCommands } from './location-command.ts';
import { registerRepoCommands } from './repo-command.ts';
import { reportError } from './report-error.ts';
import { registerRestoreCommands } from './restore-command.ts';
import { registerScheduleCommands } from './schedule-command.ts';
import { registerServerCommand } from './server-command.ts';

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
  registerBackupCommands(program, ctx);
  registerEtcdCommands(program, ctx);
  registerRepoCommands(program, ctx);
  registerRestoreCommands(program, ctx);
  registerInstallCommands(program, ctx);
  registerScheduleCommands(program, ctx);
  registerServerCommand(program, ctx);
  registerSandboxLauncher(program, ctx);
  return program;
}

/**
 * `cairn sandbox …` runs the separate sandbox program (`sandbox/`), loaded only
 * when asked for: product code never imports it, and other commands do not pay
 * for loading it.
 */
function registerSandboxLauncher(program: Command, ctx: CliContext): void {
  program
    .command('sandbox')
    .description(
      'a local Kubernetes-compatible API server for demos and tests (see `cairn sandbox start --help`)',
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      const { registerSandboxCommand } = await import('../../sandbox/command.ts');
      const sandbox = new Command('cairn')
        .configureOutput({ writeOut: ctx.out, writeErr: ctx.err })
        .exitOverride();
      registerSandboxCommand(sandbox);
      await sandbox.parseAsync(['sandbox', ...args], { from: 'user' });
    });
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
