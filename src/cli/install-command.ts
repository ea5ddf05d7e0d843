import type { Command } from 'commander';
import { DEFAULT_NAMESPACE } from '../api/common.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { applyInstall, planUninstall, runUninstall } from '../install/apply.ts';
import { renderInstall } from '../install/manifests.ts';
import { renderJson, renderYaml } from '../install/render.ts';
import { connectFromFlags } from './cairn-resources.ts';
import type { CliContext } from './context.ts';
import { parseOutputFormat, printStructured } from './output.ts';

interface InstallFlags {
  namespace: string;
  image?: string;
  replicas: string;
  restorePermissions: boolean;
  dryRun?: boolean;
  output: string;
  kubeconfig?: string;
  context?: string;
}

/** `cairn install` and `cairn uninstall`. */
export function registerInstallCommands(program: Command, ctx: CliContext): void {
  program
    .command('install')
    .description(
      'install the CRDs, RBAC and controller into the cluster (server-side apply: run again to upgrade)',
    )
    .option('-n, --namespace <name>', 'namespace of the controller and of Cairn resources', DEFAULT_NAMESPACE)
    .option('--image <image>', `controller image (default cairn:${ctx.version})`)
    .option('--replicas <n>', 'controller replicas (one leads, the others stand by)', '1')
    .option('--no-restore-permissions', 'leave out the cluster-wide write rules: a backup-only install')
    .option('--dry-run', 'print what would be applied; change nothing (no cluster needed)')
    .option('-o, --output <format>', 'text, yaml or json (with --dry-run: the manifests)', 'text')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .action(async (flags: InstallFlags) => {
      const format = parseOutputFormat(flags.output);
      const replicas = Number(flags.replicas);
      if (!Number.isInteger(replicas) || replicas < 0)
        throw new CairnError(
          'CLI_INVALID_FLAG',
          `--replicas must be a whole number, not "${flags.replicas}"`,
        );
      const objects = renderInstall({
        namespace: flags.namespace,
        version: ctx.version,
        replicas,
        restorePermissions: flags.restorePermissions,
        ...(flags.image === undefined ? {} : { image: flags.image }),
      });
      if (flags.dryRun) {
        if (format === 'yaml') ctx.out(renderYaml(objects, flags.restorePermissions));
        else if (format === 'json') ctx.out(renderJson(objects));
        else
          for (const o of objects)
            ctx.out(
              `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name} (dry run)\n`,
            );
        return;
      }
      const connection = await connectFromFlags(flags);
      try {
        const results = await applyInstall(connection, objects, (r) => {
          if (format === 'text') ctx.out(`${r.object} ${r.action}\n`);
        });
        if (format !== 'text')
          return printStructured({ namespace: flags.namespace, applied: results }, format, ctx.out);
        ctx.out(
          `\nCairn ${ctx.version} installed in namespace ${flags.namespace} (CRDs Established).\n` +
            `Follow the rollout with: kubectl -n ${flags.namespace} rollout status deployment/cairn\n` +
            `Next: cairn location create NAME --url … --default -n ${flags.namespace}\n`,
        );
      } finally {
        connection.close();
      }
    });

  program
    .command('uninstall')
    .description(
      'remove the controller, its RBAC and the CRDs (with every Cairn resource in the cluster); storage is never touched',
    )
    .option('-n, --namespace <name>', 'namespace Cairn was installed in', DEFAULT_NAMESPACE)
    .option('--yes', 'really remove it (without it: show what would be removed)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('-o, --output <format>', 'text, yaml or json', 'text')
    .action(
      async (flags: {
        namespace: string;
        yes?: boolean;
        kubeconfig?: string;
        context?: string;
        output: string;
      }) => {
        const format = parseOutputFormat(flags.output);
        const connection = await connectFromFlags(flags);
        try {
          const objects = renderInstall({ namespace: flags.namespace, version: ctx.version });
          const plan = await planUninstall(
            connection,
            objects.filter((o) => o.kind !== 'Namespace'),
          );
          const resources = Object.entries(plan.resources).map(
            ([kind, n]) => `${n} ${kind}${n === 1 ? '' : 's'}`,
          );
          if (!flags.yes) {
            if (format !== 'text') return printStructured({ wouldDelete: plan }, format, ctx.out);
            ctx.out(`Would remove from the cluster:\n`);
            for (const o of plan.objects) ctx.out(`  ${o.description}\n`);
            if (resources.length > 0)
              ctx.out(`  and with the CRDs, these Cairn resources: ${resources.join(', ')}\n`);
            ctx.out('Backups in storage locations are NOT touched.\n');
            throw new CairnError('CONFIRMATION_REQUIRED', 'uninstall removes the controller and the CRDs', {
              hint: 'Run again with --yes.',
            });
          }
          const deleted = await runUninstall(connection, plan);
          if (format !== 'text')
            return printStructured({ deleted, resources: plan.resources }, format, ctx.out);
          for (const d of deleted) ctx.out(`${d} deleted\n`);
          ctx.out(
            `\nCairn removed${resources.length > 0 ? ` (with ${resources.join(', ')})` : ''}. ` +
              'Backups in storage were not touched: install again and create a BackupLocation for the same URL to see them.\n' +
              `Namespace ${flags.namespace} was kept (it may hold your credential Secrets): kubectl delete namespace ${flags.namespace}\n`,
          );
        } finally {
          connection.close();
        }
      },
    );
}
