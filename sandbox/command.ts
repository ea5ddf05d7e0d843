import type { Command } from 'commander';
import { startSandbox } from './index.ts';
import { SANDBOX_CONTEXT } from './kubeconfig.ts';

interface StartFlags {
  port: string;
  kubeconfig?: string;
  dataDir?: string;
  etcd?: string;
  verbose?: boolean;
}

/**
 * Adds `cairn sandbox start` to the CLI. The command runs until SIGINT or
 * SIGTERM, then stops the server (flushing `--data-dir`) and exits 0.
 */
export function registerSandboxCommand(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('A local Kubernetes-compatible API server for demos and tests (no real cluster needed)');
  sandbox
    .command('start')
    .description('Serve the sandbox API on 127.0.0.1 and write a kubeconfig for it')
    .option('--port <n>', 'TCP port (0 picks a free one)', '0')
    .option('--kubeconfig <file>', 'where to write the kubeconfig')
    .option('--data-dir <dir>', 'persist objects in this directory (default: memory only)')
    .option('--etcd <url>', 'store objects in etcd at this URL (the sandbox must be its only writer)')
    .option('-v, --verbose', 'log every request to stderr')
    .action(async (flags: StartFlags) => {
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        program.error(`error: --port must be an integer between 0 and 65535, got ${flags.port}`);
      }
      const sb = await startSandbox({
        port,
        ...(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {}),
        ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        ...(flags.etcd ? { etcd: flags.etcd } : {}),
        ...(flags.verbose ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
      }).catch((e: unknown) => program.error(`error: ${(e as Error).message}`));
      process.stdout.write(
        `Cairn sandbox API server listening on ${sb.url}\n` +
          `kubeconfig: ${sb.kubeconfig} (context ${SANDBOX_CONTEXT})\n` +
          `  export KUBECONFIG=${sb.kubeconfig}\n` +
          `Storage: ${flags.etcd ? `etcd (${flags.etcd})` : flags.dataDir ? `disk (${flags.dataDir})` : 'memory'}. Stop with Ctrl-C.\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          process.stdout.write(`Received ${signal}, stopping the sandbox\n`);
          sb.stop().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
