import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import {
  discardKubeconfigPrefetch,
  type KubeconfigOptions,
  prefetchKubeconfig,
} from '../cluster/kubeconfig.ts';
import type { CliContext } from './context.ts';
import { reportError } from './report-error.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

type Register = (program: Command, ctx: CliContext) => void;

/**
 * Each top-level command and the module that registers it, in help order.
 * Loaded on demand: a command's module pulls in its whole domain (the backup
 * engine, the repository, the S3 SDK wrappers…), and `cairn etcd snapshot
 * save` should not pay for the others (measured from dist/: 13 MiB and
 * 0.14 CPU-s on every command when all were imported up front).
 */
const COMMANDS: readonly { readonly names: readonly string[]; readonly load: () => Promise<Register> }[] = [
  { names: ['location'], load: async () => (await import('./location-command.ts')).registerLocationCommands },
  { names: ['backup'], load: async () => (await import('./backup-command.ts')).registerBackupCommands },
  { names: ['etcd'], load: async () => (await import('./etcd-command.ts')).registerEtcdCommands },
  { names: ['repo'], load: async () => (await import('./repo-command.ts')).registerRepoCommands },
  { names: ['restore'], load: async () => (await import('./restore-command.ts')).registerRestoreCommands },
  {
    names: ['install', 'uninstall'],
    load: async () => (await import('./install-command.ts')).registerInstallCommands,
  },
  { names: ['schedule'], load: async () => (await import('./schedule-command.ts')).registerScheduleCommands },
  { names: ['server'], load: async () => (await import('./server-command.ts')).registerServerCommand },
  { names: ['sandbox'], load: async () => registerSandboxLauncher },
];

/**
 * Builds the `cairn` command tree for `argv`: only the command it names, or
 * every command when it names none or an unknown one (help and "unknown
 * command" list them all), or none for `--version`.
 */
export async function buildProgram(ctx: CliContext, argv: readonly string[] = []): Promise<Command> {
  const program = new Command('cairn')
    .description('Backup, restore and disaster recovery for Kubernetes')
    .version(pkg.version, '-v, --version')
    .option('--debug', 'print stack traces and causes of errors')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: ctx.out, writeErr: ctx.err })
    .exitOverride();
  // The only global option (--debug) takes no value, so the first word is the command.
  const word = argv.find((a) => !a.startsWith('-'));
  const named = COMMANDS.find((c) => word !== undefined && c.names.includes(word));
  const versionOnly = word === undefined && (argv.includes('-v') || argv.includes('--version'));
  const wanted = named !== undefined ? [named] : versionOnly ? [] : COMMANDS;
  for (const register of await Promise.all(wanted.map((c) => c.load()))) register(program, ctx);
  return program;
}

/** The commands that move a cluster's data, for which resolving the kubeconfig early pays. */
const PREFETCH_KUBECONFIG = new Set(['backup create', 'restore create']);

/**
 * The kubeconfig and context a `backup create` or `restore create` will connect with, read
 * from the raw arguments (`--kubeconfig F`, `--kubeconfig=F`, the same for `--context`); the
 * command parses them properly later, and a prefetch that does not match is not used.
 */
export function clusterToPrefetch(argv: readonly string[]): KubeconfigOptions | undefined {
  const words = argv.filter((a) => !a.startsWith('-')).slice(0, 2);
  if (!PREFETCH_KUBECONFIG.has(words.join(' '))) return undefined;
  const value = (flag: string): string | undefined => {
    let found: string | undefined;
    argv.forEach((a, i) => {
      if (a === flag) found = argv[i + 1];
      else if (a.startsWith(`${flag}=`)) found = a.slice(flag.length + 1);
    });
    return found;
  };
  const kubeconfig = value('--kubeconfig');
  const context = value('--context');
  return {
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
    ...(context === undefined ? {} : { context }),
  };
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
  const cluster = clusterToPrefetch(argv);
  if (cluster !== undefined) prefetchKubeconfig(cluster);
  try {
    const program = await buildProgram(ctx, argv);
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    return reportError(err, argv.includes('--debug'), ctx.err);
  } finally {
    discardKubeconfigPrefetch();
  }
}
