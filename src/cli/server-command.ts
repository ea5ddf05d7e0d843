/**
 * `cairn server`: the controller as a long-running process (the Deployment's
 * command). Reconciles Cairn's resources in one namespace, serves /metrics,
 * /healthz and /readyz, and on SIGTERM/SIGINT stops gracefully: no new work,
 * running backups finish (up to --shutdown-timeout), the lease is released.
 */
import type { Command } from 'commander';
import { DEFAULT_NAMESPACE } from '../api/common.ts';
import { ClusterConnection } from '../cluster/connection.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { parseDuration } from '../util/duration.ts';
import type { CliContext } from './context.ts';

interface ServerFlags {
  namespace: string;
  kubeconfig?: string;
  context?: string;
  metricsPort: string;
  leaderElect: string;
  identity?: string;
  shutdownTimeout: string;
  maxConcurrentBackups: string;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new CairnError('CLI_INVALID_FLAG', `--metrics-port must be a port number, not "${value}"`, {
      hint: 'For example --metrics-port 8085.',
    });
  return n;
}

/** `cairn server`. */
export function registerServerCommand(program: Command, ctx: CliContext): void {
  program
    .command('server')
    .description(
      'run the controller: reconcile BackupLocations, Backups, Restores and Schedules; serve metrics',
    )
    .option(
      '-n, --namespace <ns>',
      "namespace of Cairn's resources",
      process.env.CAIRN_NAMESPACE ?? DEFAULT_NAMESPACE,
    )
    .option(
      '--kubeconfig <file>',
      'kubeconfig file (default: in-cluster config, $KUBECONFIG or ~/.kube/config)',
    )
    .option('--context <name>', 'kubeconfig context')
    .option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz', '8085')
    .option('--leader-elect <bool>', 'elect a leader through a Lease (run several replicas safely)', 'true')
    .option('--identity <name>', 'name of this replica in the lease (default: $POD_NAME or the host name)')
    .option('--shutdown-timeout <duration>', 'how long SIGTERM waits for running backups', '10m')
    .option('--max-concurrent-backups <n>', 'backups and restores run at once', '8')
    .action(async (flags: ServerFlags) => {
      if (flags.leaderElect !== 'true' && flags.leaderElect !== 'false')
        throw new CairnError(
          'CLI_INVALID_FLAG',
          `--leader-elect must be true or false, not "${flags.leaderElect}"`,
        );
      const maxRuns = Number(flags.maxConcurrentBackups);
      if (!Number.isInteger(maxRuns) || maxRuns < 1)
        throw new CairnError('CLI_INVALID_FLAG', '--max-concurrent-backups must be a positive integer');
      const shutdownTimeoutMs = parseDuration(flags.shutdownTimeout, '--shutdown-timeout');
      const connection = await ClusterConnection.connect({
        ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }),
        ...(flags.context === undefined ? {} : { context: flags.context }),
      });
      const identity = flags.identity ?? process.env.POD_NAME;
      // Loaded here: other commands must not pay for the controller, pino and prom-client.
      const { Controller } = await import('../controller/controller.ts');
      const { startHttpEndpoint } = await import('../server/http-server.ts');
      const controller = new Controller({
        connection,
        namespace: flags.namespace,
        leaderElection: flags.leaderElect === 'true' ? {} : false,
        version: ctx.version,
        shutdownTimeoutMs,
        settings: { maxConcurrentRuns: maxRuns },
        // A pod name is unique among the replicas; elsewhere the default adds a random suffix.
        ...(identity === undefined ? {} : { identity }),
      });
      const http = await startHttpEndpoint({
        port: port(flags.metricsPort),
        registry: controller.metrics.registry,
        readiness: () => controller.readiness(),
      });
      ctx.err(
        `cairn server ${ctx.version}: namespace ${flags.namespace}, API server ${connection.server}, metrics on :${http.port}, leader election ${flags.leaderElect}\n`,
      );
      controller.start();
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          ctx.err(`${signal} received: finishing running work, then releasing the lease\n`);
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          resolve();
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      await controller.stop();
      await http.close();
      connection.close();
      ctx.err('cairn server stopped\n');
    });
}
