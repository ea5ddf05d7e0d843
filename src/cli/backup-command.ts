import { createWriteStream } from 'node:fs';
import { link, stat, unlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createZstdDecompress } from 'node:zlib';
import type { Command } from 'commander';
import { type BackupProgress, runBackup } from '../backup/engine.ts';
import {
  BACKUP_FILES,
  type BackupManifest,
  type BackupSpec,
  type ItemResult,
  listBackups,
  readBackupManifest,
} from '../catalog/backup-manifest.ts';
import { assertResourceName, layout } from '../catalog/layout.ts';
import { describeAge } from '../catalog/location.ts';
import { openLocation } from '../catalog/open-location.ts';
import { measuringStream } from '../catalog/resource-archive.ts';
import { ClusterConnection } from '../cluster/connection.ts';
import { nearMatches } from '../cluster/discovery.ts';
import { CairnError } from '../errors/cairn-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import {
  addBackupFilterOptions,
  type BackupFilterFlags,
  backupFilterFromFlags,
} from './backup-filter-flags.ts';
import { cairnApiServes } from './cairn-api.ts';
import type { CliContext } from './context.ts';
import { formatBytes, type OutputFormat, parseOutputFormat, printStructured } from './output.ts';
import { progressView } from './progress.ts';

interface CreateFlags extends BackupFilterFlags {
  location?: string;
  local?: boolean;
  namespace?: string;
  ttl?: string;
  kubeconfig?: string;
  context?: string;
  wait?: boolean;
  qps: string;
  burst: string;
  output: string;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new CairnError('CLI_INVALID_FLAG', `--${name} must be a positive number, not "${value}"`, {
      hint: `For example --${name} 50.`,
    });
  }
  return n;
}

/** Reads a backup's manifest or explains what is there instead (incomplete, absent with near names). */
export async function requireBackup(store: BlobStore, name: string): Promise<BackupManifest> {
  assertResourceName('backup', name);
  const manifest = await readBackupManifest(store, name);
  if (manifest !== undefined) return manifest;
  const all = await listBackups(store);
  if (all.some((b) => b.name === name)) {
    throw new CairnError(
      'BACKUP_INCOMPLETE',
      `backup "${name}" is incomplete: it has files but no manifest`,
      {
        hint: 'It was interrupted or is still being written. It cannot be used; delete it with `cairn backup delete --confirm`.',
      },
    );
  }
  const near = nearMatches(
    name,
    all.map((b) => b.name),
  );
  throw new CairnError('BACKUP_NOT_FOUND', `backup "${name}" does not exist in ${store.description}`, {
    hint:
      near.length > 0
        ? `Did you mean ${near.map((n) => `"${n}"`).join(', ')}?`
        : 'List backups with `cairn backup get --location …`.',
  });
}

/** Streams a zstd-compressed ndjson file of a backup, line by line. */
async function* ndjsonLines(store: BlobStore, key: string): AsyncIterable<Record<string, unknown>> {
  const source = await store.getStream(key);
  const lines = createInterface({
    input: source.pipe(createZstdDecompress()),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) if (line.trim()) yield JSON.parse(line) as Record<string, unknown>;
}

/** `cairn backup create|get|describe|logs|download|delete`. */
export function registerBackupCommands(program: Command, ctx: CliContext): void {
  const backup = program
    .command('backup')
    .description('back up Kubernetes resources to a location, and inspect backups');

  const create = backup
    .command('create')
    .argument('<name>', 'backup name (a Kubernetes-style name; never reused)')
    .description(
      'back up API objects of the current cluster: through the controller when it is installed (a Backup resource), else inline into --location',
    )
    .option(
      '--location <url|name>',
      'inline: where to write (folder, file:// or s3:// URL); with the controller: a BackupLocation name (default: the default one)',
    )
    .option(
      '--local',
      'run inline in this process even when the controller is installed (needs --location URL)',
    )
    .option('-n, --namespace <ns>', "controller path: namespace of Cairn's resources", 'cairn-system')
    .option('--ttl <duration>', 'controller path: keep the backup this long (e.g. 720h)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context');
  addBackupFilterOptions(create)
    .option('--wait', 'controller path: follow the backup until it ends (inline backups always wait)')
    .option('--qps <n>', 'client-side requests per second', '100')
    .option('--burst <n>', 'client-side burst', '200')
    .option(
      '-o, --output <format>',
      'text, json or yaml (inline: the manifest; controller path: the Backup resource, printed and NOT submitted)',
      'text',
    )
    .action(async (name: string, flags: CreateFlags) => {
      const format = parseOutputFormat(flags.output);
      assertResourceName('backup', name);
      const spec: BackupSpec = backupFilterFromFlags(flags);
      if (!flags.local && flags.location === undefined && format !== 'text') {
        // -o yaml|json without a URL prints the resource without asking the cluster at all.
        const { backupResource, printBackupResource } = await controllerPath();
        return printBackupResource(backupResource(name, spec, flags), format, ctx);
      }
      if (flags.local && flags.location === undefined) throw inlineNeedsLocation();
      const qps = positive('qps', flags.qps);
      const burst = positive('burst', flags.burst);
      // One connection for the whole command: resolving the kubeconfig is the slowest part of
      // starting (a child process with client-node, ~0.5 s), and the API probe and the inline
      // backup used to pay it twice.
      const connection = await ClusterConnection.connect({
        ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }),
        ...(flags.context === undefined ? {} : { context: flags.context }),
        qps,
        burst,
      });
      try {
        if (!flags.local && (await cairnApiServes(connection, 'backups'))) {
          // The controller path when Cairn's API is served.
          const { backupResource, printBackupResource, submitBackup } = await controllerPath();
          const resource = backupResource(name, spec, flags);
          if (format !== 'text') return printBackupResource(resource, format, ctx);
          return await submitBackup(connection, resource, flags, ctx);
        }
        if (flags.location === undefined) throw inlineNeedsLocation();
        await backupInline(name, spec, { ...flags, location: flags.location }, format, connection, ctx);
      } finally {
        connection.close();
      }
    });

  backup
    .command('get')
    .argument('[name]', 'one backup (default: all)')
    .description('list backups in a location, complete and incomplete')
    .requiredOption('--location <url>', 'the location')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (name: string | undefined, flags: { location: string; output: string }) => {
      const format = parseOutputFormat(flags.output);
      const { store } = openLocation(flags.location, { readOnly: true });
      try {
        const all =
          name === undefined
            ? await listBackups(store)
            : [{ name, complete: true as const, manifest: await requireBackup(store, name) }];
        if (format !== 'text') return printStructured(all, format, ctx.out);
        ctx.out(
          `${'NAME'.padEnd(32)} ${'STATUS'.padEnd(16)} ${'ITEMS'.padStart(8)} ${'ERRORS'.padStart(7)} ${'SIZE'.padStart(10)}  AGE\n`,
        );
        const now = new Date();
        for (const b of all) {
          if (b.complete) {
            const s = b.manifest.status;
            ctx.out(
              `${b.name.padEnd(32)} ${s.phase.padEnd(16)} ${String(s.itemsBackedUp).padStart(8)} ${String(s.errors).padStart(7)} ${formatBytes(b.manifest.files[BACKUP_FILES.resources]?.size ?? 0).padStart(10)}  ${describeAge(s.completedAt, now)}\n`,
            );
          } else {
            ctx.out(
              `${b.name.padEnd(32)} ${'Incomplete'.padEnd(16)} ${'-'.padStart(8)} ${'-'.padStart(7)} ${'-'.padStart(10)}  ${describeAge(b.lastModified, now)}\n`,
            );
          }
        }
      } finally {
        await store.close();
      }
    });

  backup
    .command('describe')
    .argument('<name>', 'backup name')
    .description('counts per type and namespace, warnings, and every failed item')
    .requiredOption('--location <url>', 'the location')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (name: string, flags: { location: string; output: string }) => {
      const format = parseOutputFormat(flags.output);
      const { store } = openLocation(flags.location, { readOnly: true });
      try {
        const manifest = await requireBackup(store, name);
        const failed: ItemResult[] = [];
        for await (const line of ndjsonLines(store, layout.backupFile(name, BACKUP_FILES.items))) {
          if (line.outcome === 'failed') failed.push(line as unknown as ItemResult);
        }
        if (format !== 'text') return printStructured({ manifest, failedItems: failed }, format, ctx.out);
        const s = manifest.status;
        ctx.out(
          `Name:        ${manifest.name}\nPhase:       ${s.phase}\nCluster:     ${manifest.cluster.server} (context ${manifest.cluster.context}${manifest.cluster.version ? `, ${manifest.cluster.version}` : ''})\n`,
        );
        ctx.out(
          `Started:     ${s.startedAt}\nCompleted:   ${s.completedAt} (${(s.durationMs / 1000).toFixed(1)} s)\n`,
        );
        ctx.out(
          `Items:       ${s.itemsBackedUp} (${formatBytes(s.uncompressedBytes)} JSON), errors ${s.errors}, warnings ${s.warnings}\n`,
        );
        ctx.out(`Spec:        ${JSON.stringify(manifest.spec)}\n\nResources:\n`);
        for (const [gr, n] of Object.entries(s.perResource)) ctx.out(`  ${gr.padEnd(50)} ${n}\n`);
        ctx.out('\nNamespaces:\n');
        for (const [ns, n] of Object.entries(s.perNamespace))
          ctx.out(`  ${(ns || '(cluster-scoped)').padEnd(50)} ${n}\n`);
        ctx.out('\nFiles:\n');
        for (const [file, rec] of Object.entries(manifest.files))
          ctx.out(`  ${file.padEnd(24)} ${formatBytes(rec.size).padStart(10)}  sha256:${rec.sha256}\n`);
        if (failed.length > 0) {
          ctx.out('\nErrors:\n');
          for (const f of failed)
            ctx.out(`  ${f.resource} ${f.namespace ? `${f.namespace}/` : ''}${f.name}: ${f.message ?? ''}\n`);
        }
      } finally {
        await store.close();
      }
    });

  backup
    .command('logs')
    .argument('<name>', 'backup name')
    .description('print the log of a backup')
    .requiredOption('--location <url>', 'the location')
    .action(async (name: string, flags: { location: string }) => {
      const { store } = openLocation(flags.location, { readOnly: true });
      try {
        await requireBackup(store, name);
        for await (const line of ndjsonLines(store, layout.backupFile(name, BACKUP_FILES.log))) {
          const { time, level, msg, ...rest } = line;
          const levelName =
            ({ 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' } as Record<string, string>)[String(level)] ??
            String(level);
          ctx.out(
            `${time} ${levelName.padEnd(5)} ${msg} ${Object.keys(rest).length ? JSON.stringify(rest) : ''}\n`,
          );
        }
      } finally {
        await store.close();
      }
    });

  backup
    .command('download')
    .argument('<name>', 'backup name')
    .description("save a backup's resource archive (tar + zstd) after checking its SHA-256")
    .requiredOption('--location <url>', 'the location')
    .option('-f, --file <path>', 'where to save it', '')
    .action(async (name: string, flags: { location: string; file: string }) => {
      const { store } = openLocation(flags.location, { readOnly: true });
      try {
        const manifest = await requireBackup(store, name);
        const record = manifest.files[BACKUP_FILES.resources];
        const target = flags.file || `${name}-${BACKUP_FILES.resources}`;
        // Streamed to a temp name beside the target while hashing (bounded memory), renamed only
        // once size and SHA-256 match the manifest; an existing file is never overwritten.
        if (
          await stat(target).then(
            () => true,
            () => false,
          )
        ) {
          throw new CairnError('FILE_EXISTS', `${target} already exists`, {
            hint: 'Pass another --file; Cairn does not overwrite files.',
          });
        }
        const temp = `${target}.cairn-partial`;
        const { stream: measure, result } = measuringStream();
        try {
          await pipeline(
            await store.getStream(layout.backupFile(name, BACKUP_FILES.resources)),
            measure,
            createWriteStream(temp, { flags: 'wx' }),
          );
          if (record === undefined || result.sha256 !== record.sha256 || result.size !== record.size) {
            throw new CairnError(
              'BACKUP_FILE_CORRUPT',
              `${BACKUP_FILES.resources} of backup "${name}" does not match its manifest`,
              { hint: 'The stored file was damaged or replaced; nothing was saved.' },
            );
          }
          await link(temp, target); // fails with EEXIST rather than replacing a file made meanwhile
        } finally {
          await unlink(temp).catch(() => {});
        }
        ctx.out(
          `Saved ${target} (${formatBytes(result.size)}, sha256 verified). Read it with: zstd -dc ${target} | tar -t\n`,
        );
      } finally {
        await store.close();
      }
    });

  backup
    .command('delete')
    .argument('<name>', 'backup name')
    .description('delete a backup from the location (asks for --confirm)')
    .requiredOption('--location <url>', 'the location')
    .option('--confirm', 'really delete it')
    .action(async (name: string, flags: { location: string; confirm?: boolean }) => {
      assertResourceName('backup', name);
      const { store } = openLocation(flags.location);
      try {
        const keys: string[] = [];
        for await (const info of store.list(layout.backupPrefix(name))) keys.push(info.key);
        if (keys.length === 0) await requireBackup(store, name);
        if (!flags.confirm) {
          throw new CairnError(
            'CONFIRMATION_REQUIRED',
            `deleting backup "${name}" removes ${keys.length} files for good`,
            {
              hint: 'Run again with --confirm.',
            },
          );
        }
        // The manifest goes first: a delete cut short leaves an incomplete backup, never one that looks whole.
        const manifestKey = layout.backupManifest(name);
        if (keys.includes(manifestKey)) await store.delete(manifestKey);
        for (const key of keys) if (key !== manifestKey) await store.delete(key);
        ctx.out(`Deleted backup "${name}" (${keys.length} files).\n`);
      } finally {
        await store.close();
      }
    });
}

/**
 * The controller path's module, loaded only when taken: it brings the API schemas (typebox),
 * which an inline backup does not need.
 */
const controllerPath = () => import('./backup-controller-path.ts');

function inlineNeedsLocation(): CairnError {
  return new CairnError('CLI_LOCATION_REQUIRED', 'an inline backup needs --location', {
    hint: 'Pass --location with a folder or s3:// URL, or install the controller (cairn install) to back up through Backup resources.',
  });
}

/** The inline backup (no controller): runs the engine here, into the location's URL. */
async function backupInline(
  name: string,
  spec: BackupSpec,
  flags: CreateFlags & { location: string },
  format: OutputFormat,
  connection: ClusterConnection,
  ctx: CliContext,
): Promise<void> {
  const { store } = openLocation(flags.location);
  const view = progressView(process.stderr, `backup ${name}`);
  const started = performance.now();
  try {
    const manifest = await runBackup({
      name,
      spec,
      connection,
      store,
      createdBy: `cairn ${ctx.version}`,
      onProgress: (p: BackupProgress) =>
        view.update(
          p.typesDone,
          p.typesTotal,
          `${p.items} items, ${p.errors} errors, ${Math.round(p.items / ((performance.now() - started) / 1000))}/s`,
        ),
    });
    view.stop();
    if (format !== 'text') printStructured(manifest, format, ctx.out);
    else {
      const s = manifest.status;
      ctx.out(
        `Backup "${name}" ${s.phase}: ${s.itemsBackedUp} items of ${s.resourceTypes} types in ${(s.durationMs / 1000).toFixed(1)} s, ` +
          `${formatBytes(manifest.files[BACKUP_FILES.resources]?.size ?? 0)} stored; ${s.errors} errors, ${s.warnings} warnings.\n`,
      );
      if (s.errors > 0)
        ctx.out(`See the failed items with: cairn backup describe ${name} --location ${flags.location}\n`);
    }
    if (manifest.status.phase !== 'Completed') ctx.setExitCode(1);
  } finally {
    view.stop();
    await store.close();
  }
}
