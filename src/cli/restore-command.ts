import type { Command } from 'commander';
import { openLocation } from '../catalog/open-location.ts';
import { ClusterConnection } from '../cluster/connection.ts';
import { CairnError } from '../errors/cairn-error.ts';
import {
  DEFAULT_RESTORE_OPTIONS,
  parseExistingPolicy,
  parseNameMapping,
  type RestoreOptions,
} from '../restore/options.ts';
import { runRestore } from '../restore/restore.ts';
import {
  listRestores,
  type OutcomeCounts,
  type RestoreItemResult,
  type RestoreSummary,
  readRestoreRecord,
  restoreExists,
  saveRestoreRecord,
} from '../restore/results.ts';
import type { CliContext } from './context.ts';
import { parseOutputFormat, printStructured } from './output.ts';

interface CreateOpts {
  fromBackup: string;
  location: string;
  kubeconfig?: string;
  context?: string;
  qps: string;
  burst: string;
  includeNamespaces: string[];
  excludeNamespaces: string[];
  includeResources: string[];
  excludeResources: string[];
  selector?: string;
  namespaceMapping: string[];
  storageClassMapping: string[];
  existingResourcePolicy: string;
  restoreStatus: string[];
  dryRun?: boolean;
  wait?: boolean;
  readOnly?: boolean;
  output: string;
}

/** Repeatable, comma-separated list flags. */
const list = (value: string, previous: string[]): string[] => [
  ...previous,
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
];

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!(n > 0))
    throw new CairnError('CLI_INVALID_NUMBER', `${flag} must be a positive number, not "${value}"`, {});
  return n;
}

const COLUMNS: (keyof OutcomeCounts)[] = ['created', 'updated', 'recreated', 'skipped', 'failed'];

function where(item: RestoreItemResult): string {
  return `${item.resource} ${item.namespace === undefined ? '' : `${item.namespace}/`}${item.name}`;
}

function printCounts(summary: RestoreSummary, write: (s: string) => void): void {
  const columns = summary.dryRun ? (['planned'] as (keyof OutcomeCounts)[]) : COLUMNS;
  const types = Object.keys(summary.perResource).sort();
  const width = Math.max(8, ...types.map((t) => t.length));
  write(`  ${'TYPE'.padEnd(width)}  ${columns.map((c) => c.toUpperCase().padStart(9)).join(' ')}\n`);
  for (const type of types) {
    const counts = summary.perResource[type] as OutcomeCounts;
    write(`  ${type.padEnd(width)}  ${columns.map((c) => String(counts[c]).padStart(9)).join(' ')}\n`);
  }
  write(
    `  ${'total'.padEnd(width)}  ${columns.map((c) => String(summary.totals[c]).padStart(9)).join(' ')}\n`,
  );
}

function headline(summary: RestoreSummary): string {
  const t = summary.totals;
  return summary.dryRun
    ? `Dry run of restore ${summary.name} from backup ${summary.backup}: ${t.planned} object(s) planned, nothing changed.`
    : `Restore ${summary.name} from backup ${summary.backup}: ${summary.phase} — ${t.created} created, ${t.updated} updated, ${t.recreated} recreated, ${t.skipped} skipped, ${t.failed} failed (${(summary.durationMs / 1000).toFixed(1)} s).`;
}

function printPlan(items: readonly RestoreItemResult[], write: (s: string) => void): void {
  for (const item of items) {
    write(
      `${item.action.padEnd(8)} ${where(item)}${item.message === undefined ? '' : `  (${item.message})`}\n`,
    );
    for (const line of item.diff ?? []) write(`    ${line}\n`);
  }
}

/** `cairn restore create|get|describe`. */
export function registerRestoreCommands(program: Command, ctx: CliContext): void {
  const restore = program
    .command('restore')
    .description('restore backups into a cluster and inspect restores');

  restore
    .command('create')
    .argument('<name>', 'name of this restore (its results go to restores/<name>/)')
    .description('restore a backup into the cluster: CRDs first, then namespaces, storage, RBAC, workloads')
    .requiredOption('--from-backup <backup>', 'the backup to restore')
    .requiredOption(
      '--location <url>',
      'storage location: a folder, file:///path or s3://bucket/prefix?endpoint=…',
    )
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--qps <n>', 'client-side requests per second', '100')
    .option('--burst <n>', 'client-side burst', '200')
    .option('--include-namespaces <ns,...>', 'only these namespaces (globs allowed)', list, [])
    .option('--exclude-namespaces <ns,...>', 'not these namespaces (globs allowed)', list, [])
    .option('--include-resources <types,...>', 'only these types (kubectl names)', list, [])
    .option('--exclude-resources <types,...>', 'not these types', list, [])
    .option('-l, --selector <selector>', 'only objects matching this label selector')
    .option('--namespace-mapping <old:new,...>', 'restore namespace old as new', list, [])
    .option(
      '--storage-class-mapping <old:new,...>',
      'use storage class new where the backup says old',
      list,
      [],
    )
    .option(
      '--existing-resource-policy <policy>',
      'for objects that exist and differ: skip|update|recreate|fail, with per-type overrides (skip,secrets=update)',
      'skip',
    )
    .option('--restore-status <types,...>', 'restore .status of these types (* for all)', list, [])
    .option('--dry-run', 'change nothing; print the plan with diffs against the live objects')
    .option('--wait', 'wait for the restore to finish (restores run inline; accepted for compatibility)')
    .option('--read-only', 'open the location read-only: results are printed, not stored')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (name: string, opts: CreateOpts) => {
      const format = parseOutputFormat(opts.output);
      const options: RestoreOptions = {
        ...DEFAULT_RESTORE_OPTIONS,
        includeNamespaces: opts.includeNamespaces,
        excludeNamespaces: opts.excludeNamespaces,
        includeResources: opts.includeResources,
        excludeResources: opts.excludeResources,
        labelSelector: opts.selector ?? '',
        namespaceMapping: parseNameMapping('--namespace-mapping', opts.namespaceMapping.join(',')),
        storageClassMapping: parseNameMapping('--storage-class-mapping', opts.storageClassMapping.join(',')),
        existingResourcePolicy: parseExistingPolicy(opts.existingResourcePolicy),
        restoreStatus: opts.restoreStatus,
        dryRun: opts.dryRun === true,
      };
      const store = openLocation(opts.location, { readOnly: opts.readOnly === true }).store;
      const record = !options.dryRun && opts.readOnly !== true;
      try {
        if (record && (await restoreExists(store, name))) {
          throw new CairnError('RESTORE_EXISTS', `restore "${name}" already exists in ${store.description}`, {
            hint: `Pick another name, or look at it with \`cairn restore describe ${name} --location …\`.`,
          });
        }
        const connection = await ClusterConnection.connect({
          ...(opts.kubeconfig === undefined ? {} : { kubeconfig: opts.kubeconfig }),
          ...(opts.context === undefined ? {} : { context: opts.context }),
          qps: positive('--qps', opts.qps),
          burst: positive('--burst', opts.burst),
        });
        try {
          const output = await runRestore({
            connection,
            store,
            backupName: opts.fromBackup,
            restoreName: name,
            options,
            ...(format === 'text' ? { onProgress: (line: string) => ctx.err(`${line}\n`) } : {}),
          });
          const summary = record
            ? await saveRestoreRecord(store, output.summary, output.items)
            : output.summary;
          if (format !== 'text') printStructured({ summary, items: output.items }, format, ctx.out);
          else {
            if (options.dryRun) printPlan(output.items, ctx.out);
            else
              for (const item of output.items)
                if (item.outcome === 'failed') ctx.out(`FAILED  ${where(item)}: ${item.message ?? ''}\n`);
            ctx.out(`${headline(summary)}\n`);
            printCounts(summary, ctx.out);
            if (record) ctx.out(`Results stored under restores/${name}/ in ${store.description}.\n`);
            else if (!options.dryRun)
              ctx.out('The location is read-only: results were printed only, not stored.\n');
          }
          if (summary.phase !== 'Completed') ctx.setExitCode(1);
        } finally {
          connection.close();
        }
      } finally {
        await store.close();
      }
    });

  restore
    .command('get')
    .argument('[name]', 'restore name (default: every recorded restore)')
    .description('show the phase and counts of recorded restores')
    .requiredOption('--location <url>', 'storage location')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (name: string | undefined, opts: { location: string; output: string }) => {
      const format = parseOutputFormat(opts.output);
      const store = openLocation(opts.location, { readOnly: true }).store;
      try {
        const summaries =
          name === undefined ? await listRestores(store) : [(await readRestoreRecord(store, name)).summary];
        if (format !== 'text')
          return printStructured(name === undefined ? summaries : summaries[0], format, ctx.out);
        if (summaries.length === 0) return ctx.out(`No restores recorded in ${store.description}.\n`);
        ctx.out(
          `${'NAME'.padEnd(24)} ${'BACKUP'.padEnd(24)} ${'PHASE'.padEnd(16)} CREATED  UPDATED  SKIPPED  FAILED  COMPLETED\n`,
        );
        for (const summary of summaries) {
          const t = summary.totals;
          ctx.out(
            `${summary.name.padEnd(24)} ${summary.backup.padEnd(24)} ${summary.phase.padEnd(16)} ${String(t.created + t.recreated).padStart(7)}  ${String(t.updated).padStart(7)}  ${String(t.skipped).padStart(7)}  ${String(t.failed).padStart(6)}  ${summary.completedAt}\n`,
          );
        }
      } finally {
        await store.close();
      }
    });

  restore
    .command('describe')
    .argument('<name>', 'restore name')
    .description(
      'show a recorded restore: options, counts per type, and every object that was not simply created',
    )
    .requiredOption('--location <url>', 'storage location')
    .option('--details', 'list every object, created ones included')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (name: string, opts: { location: string; output: string; details?: boolean }) => {
      const format = parseOutputFormat(opts.output);
      const store = openLocation(opts.location, { readOnly: true }).store;
      try {
        const { summary, items = [] } = await readRestoreRecord(store, name, { items: true });
        if (format !== 'text') return printStructured({ summary, items }, format, ctx.out);
        ctx.out(`Name:        ${summary.name}\n`);
        ctx.out(`Backup:      ${summary.backup}\n`);
        ctx.out(`Phase:       ${summary.phase}\n`);
        ctx.out(`Cluster:     ${summary.cluster.server} (context ${summary.cluster.context})\n`);
        ctx.out(`Started:     ${summary.startedAt}\n`);
        ctx.out(`Completed:   ${summary.completedAt} (${(summary.durationMs / 1000).toFixed(1)} s)\n`);
        const o = summary.options;
        const policy = [
          o.existingResourcePolicy.default,
          ...Object.entries(o.existingResourcePolicy.perType).map(([k, v]) => `${k}=${v}`),
        ].join(',');
        ctx.out(`Policy:      existing objects: ${policy}\n`);
        const mapping = Object.entries(o.namespaceMapping).map(([a, b]) => `${a}:${b}`);
        if (mapping.length > 0) ctx.out(`Namespaces:  mapped ${mapping.join(', ')}\n`);
        const notRestored = Object.entries(summary.notRestored);
        if (notRestored.length > 0)
          ctx.out(`Not restored (by design): ${notRestored.map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
        ctx.out('Counts:\n');
        printCounts(summary, ctx.out);
        const shown = opts.details ? items : items.filter((i) => i.outcome !== 'created');
        if (shown.length > 0) ctx.out(opts.details ? 'Objects:\n' : 'Objects not simply created:\n');
        for (const item of shown)
          ctx.out(
            `  ${item.outcome.padEnd(9)} ${where(item)}${item.message === undefined ? '' : `  (${item.message})`}\n`,
          );
      } finally {
        await store.close();
      }
    });
}
