import { rename, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { layout } from '../catalog/layout.ts';
import { describeAge } from '../catalog/location.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { findSnapshot, listSnapshots, readManifest } from '../etcd/catalog.ts';
import type { EtcdConnectOptions } from '../etcd/client.ts';
import { etcdMetricSamples, formatPrometheus, observeEtcdCluster } from '../etcd/metrics.ts';
import { restoreSnapshot } from '../etcd/restore.ts';
import { planRetention, pruneSnapshots, retentionPolicy } from '../etcd/retention.ts';
import { saveSnapshot } from '../etcd/save.ts';
import { initCluster, parseMembers, requireClusterSpec, requireLocation } from '../etcd/spec.ts';
import { downloadAndHash, verifySnapshot } from '../etcd/verify.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { parseLocationUrl } from '../storage/location-url.ts';
import { openStore } from '../storage/open-store.ts';
import { parseDuration } from '../util/duration.ts';
import type { CliContext } from './context.ts';
import { formatBytes, parseOutputFormat, printStructured } from './output.ts';

interface LocationOpts {
  location: string;
  cluster: string;
  output: string;
}

interface ConnectionOpts {
  endpoints: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
}

function withLocation(cmd: Command): Command {
  return cmd
    .requiredOption(
      '--location <url>',
      'storage location: a folder, file:///path or s3://bucket/prefix?endpoint=…',
    )
    .requiredOption('--cluster <name>', 'etcd cluster name (snapshots go to etcd/<name>/snapshots/)')
    .option('-o, --output <format>', 'text, json or yaml', 'text');
}

function withConnection(cmd: Command): Command {
  return cmd
    .requiredOption('--endpoints <urls>', 'comma-separated etcd client URLs, e.g. https://127.0.0.1:2379')
    .option('--cacert <file>', 'CA bundle to verify the etcd server certificate')
    .option('--cert <file>', 'client certificate (etcd --client-cert-auth)')
    .option('--key <file>', 'client private key')
    .option('--user <name[:password]>', 'etcd user (auth enabled); the password may follow a colon')
    .option('--password <password>', 'etcd password (prefer the CAIRN_ETCD_PASSWORD environment variable)');
}

/**
 * The gRPC client (grpc-js, protobufjs) loads only for commands that talk to
 * etcd, so every other `cairn` command starts without it.
 */
async function etcdClientModule() {
  return await import('../etcd/client.ts');
}

async function connectionOptions(opts: ConnectionOpts): Promise<EtcdConnectOptions> {
  const tls = await (await etcdClientModule()).loadTls(opts);
  let auth: EtcdConnectOptions['auth'];
  if (opts.user !== undefined) {
    const colon = opts.user.indexOf(':');
    const user = colon === -1 ? opts.user : opts.user.slice(0, colon);
    const password =
      colon === -1 ? (opts.password ?? process.env.CAIRN_ETCD_PASSWORD) : opts.user.slice(colon + 1);
    if (password === undefined) {
      throw new CairnError('ETCD_AUTH_FAILED', `no password for etcd user "${user}"`, {
        hint: 'Set CAIRN_ETCD_PASSWORD (or pass --password, visible to other local users in the process list).',
      });
    }
    auth = { user, password };
  }
  return {
    endpoints: opts.endpoints
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== ''),
    ...(tls ? { tls } : {}),
    ...(auth ? { auth } : {}),
  };
}

async function withStore<T>(
  url: string,
  readOnly: boolean,
  fn: (store: BlobStore) => Promise<T>,
): Promise<T> {
  const { store } = openStore(parseLocationUrl(url), { readOnly });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Writes a Prometheus textfile atomically (node-exporter's textfile collector reads it). */
async function writeMetricsFile(store: BlobStore, cluster: string, file: string): Promise<void> {
  const text = formatPrometheus(etcdMetricSamples([await observeEtcdCluster(store, cluster)]));
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

/** Asks on a terminal; refuses (false) when stdin is not one. */
async function confirmOnTerminal(ctx: CliContext, reasons: string[]): Promise<boolean> {
  for (const r of reasons) ctx.err(`WARNING: ${r}\n`);
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question('Type "yes" to restore anyway: ');
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}

/** `cairn etcd cluster …` and `cairn etcd snapshot …`. */
export function registerEtcdCommands(program: Command, ctx: CliContext): void {
  const etcd = program
    .command('etcd')
    .description(
      'etcd snapshots: save, list, verify, restore, prune — with a cluster spec kept under control/',
    )
    .hook('preAction', () => {
      // grpc-js names IP targets in TLS SNI, which Node flags as deprecated; it is harmless.
      process.noDeprecation = true;
    });

  const cluster = etcd.command('cluster').description('the cluster spec: members, schedule, retention');

  withLocation(cluster.command('init'))
    .description('write the cluster spec (refuses when snapshots exist without one)')
    .option('--members <list>', 'members in --initial-cluster form: name=https://host:2380,…')
    .option('--interval <duration>', 'snapshot interval (for schedules and alerts)', '15m')
    .option('--keep-all-for <duration>', 'keep every snapshot younger than this', '1h')
    .option('--keep-hourly-for <duration>', 'keep the newest snapshot of each hour for this long', '168h')
    .option('--keep-daily-for <duration>', 'keep the newest snapshot of each day for this long', '365d')
    .option('--min-keep <n>', 'never keep fewer complete snapshots than this', '3')
    .option(
      '--confirm-restore-older-than <duration>',
      'restores of older snapshots ask for confirmation',
      '1h',
    )
    .option('--i-understand-this-reinitializes', 'write a new spec although snapshots exist without one')
    .action(
      async (
        opts: LocationOpts & {
          members?: string;
          interval: string;
          keepAllFor: string;
          keepHourlyFor: string;
          keepDailyFor: string;
          minKeep: string;
          confirmRestoreOlderThan: string;
          iUnderstandThisReinitializes?: boolean;
        },
      ) => {
        const format = parseOutputFormat(opts.output);
        const minKeep = Number(opts.minKeep);
        if (!Number.isInteger(minKeep) || minKeep < 1) {
          throw new CairnError(
            'ETCD_SPEC_INVALID',
            `--min-keep must be a whole number ≥ 1, not ${opts.minKeep}`,
            {
              hint: 'Keep at least one snapshot.',
            },
          );
        }
        await withStore(opts.location, false, async (store) => {
          const outcome = await initCluster(store, opts.cluster, {
            ...(opts.members === undefined ? {} : { members: parseMembers(opts.members) }),
            interval: opts.interval,
            retention: {
              keepAllFor: opts.keepAllFor,
              hourlyFor: opts.keepHourlyFor,
              dailyFor: opts.keepDailyFor,
              minKeep,
            },
            confirmOlderThan: opts.confirmRestoreOlderThan,
            reinitialize: opts.iUnderstandThisReinitializes === true,
            createdBy: `cairn ${ctx.version}`,
          });
          if (format !== 'text') return printStructured(outcome, format, ctx.out);
          const key = layout.etcdClusterSpec(opts.cluster);
          if (outcome.status === 'already-initialized') {
            ctx.out(
              `etcd cluster "${opts.cluster}" is already initialised (${key}); the spec was not changed.\n`,
            );
          } else {
            ctx.out(`etcd cluster "${opts.cluster}" ${outcome.status} in ${store.description} (${key}).\n`);
            if (outcome.status === 'reinitialized') {
              ctx.err(`WARNING: wrote a new spec over ${outcome.existingSnapshots} existing snapshots.\n`);
            }
          }
        });
      },
    );

  withLocation(cluster.command('status'))
    .description('spec health and the newest snapshot; -o prometheus prints the metrics')
    .option('--metrics-file <file>', 'also write the metrics as a Prometheus textfile')
    .action(async (opts: LocationOpts & { metricsFile?: string }) => {
      const prometheus = opts.output === 'prometheus';
      const format = prometheus ? 'text' : parseOutputFormat(opts.output);
      await withStore(opts.location, true, async (store) => {
        const observation = await observeEtcdCluster(store, opts.cluster);
        if (opts.metricsFile !== undefined) await writeMetricsFile(store, opts.cluster, opts.metricsFile);
        if (prometheus) return ctx.out(formatPrometheus(etcdMetricSamples([observation])));
        if (format !== 'text') return printStructured(observation, format, ctx.out);
        const last = observation.lastSuccessful;
        ctx.out(`Cluster:    ${opts.cluster}\n`);
        ctx.out(
          `Spec:       ${observation.specState === 'ok' ? 'ok' : `${observation.specState.toUpperCase()} (${layout.etcdClusterSpec(opts.cluster)})`}\n`,
        );
        ctx.out(
          `Snapshots:  ${observation.completeSnapshots} complete, ${observation.incompleteSnapshots} incomplete\n`,
        );
        ctx.out(
          `Newest:     ${last ? `${last.id} (${describeAge(last.completedAt, new Date())}, ${formatBytes(last.size)}, revision ${last.revision})` : 'none'}\n`,
        );
        if (!observation.controlFilesHealthy) ctx.setExitCode(1);
      });
    });

  const snapshot = etcd
    .command('snapshot')
    .description('save, list, get, verify, restore and prune snapshots');

  withConnection(withLocation(snapshot.command('save')))
    .description('stream a snapshot from etcd into the location (manifest written last)')
    .option(
      '--prune',
      'apply the retention of the cluster spec after a successful save (one-shot CronJob mode)',
    )
    .option('--metrics-file <file>', 'write the snapshot metrics as a Prometheus textfile afterwards')
    .action(async (opts: LocationOpts & ConnectionOpts & { prune?: boolean; metricsFile?: string }) => {
      const format = parseOutputFormat(opts.output);
      const connect = await connectionOptions(opts);
      await withStore(opts.location, false, async (store) => {
        // Refuse before touching etcd when the location or the spec is not right.
        await requireLocation(store);
        const spec = await requireClusterSpec(store, opts.cluster, { doing: 'save a snapshot' });
        const client = await (await etcdClientModule()).EtcdClient.connect(connect);
        let manifest: Awaited<ReturnType<typeof saveSnapshot>>;
        try {
          manifest = await saveSnapshot({
            store,
            client,
            cluster: opts.cluster,
            createdBy: `cairn ${ctx.version}`,
          });
        } finally {
          client.close();
        }
        let pruned: string[] | undefined;
        if (opts.prune) {
          const entries = await listSnapshots(store, opts.cluster);
          const plan = planRetention(entries, retentionPolicy(spec.retention), new Date());
          const result = await pruneSnapshots(store, opts.cluster, plan, entries);
          pruned = result.deleted;
          for (const f of result.failed) ctx.err(`WARNING: could not prune ${f.id}: ${f.error}\n`);
        }
        if (opts.metricsFile !== undefined) await writeMetricsFile(store, opts.cluster, opts.metricsFile);
        if (format !== 'text')
          return printStructured({ manifest, ...(pruned ? { pruned } : {}) }, format, ctx.out);
        const seconds = (Date.parse(manifest.completedAt) - Date.parse(manifest.startedAt)) / 1000;
        ctx.out(
          `Saved snapshot ${manifest.id} of "${opts.cluster}": revision ${manifest.revision}, ${manifest.keyCount} keys, ${formatBytes(manifest.size)} in ${seconds.toFixed(1)} s (sha256 ${manifest.sha256}).\n`,
        );
        if (pruned !== undefined)
          ctx.out(`Pruned ${pruned.length} snapshots${pruned.length ? `: ${pruned.join(', ')}` : ''}.\n`);
      });
    });

  withLocation(snapshot.command('list'))
    .description('list snapshots, oldest first (incomplete ones are marked)')
    .action(async (opts: LocationOpts) => {
      const format = parseOutputFormat(opts.output);
      await withStore(opts.location, true, async (store) => {
        await warnIfSpecMissing(store, opts.cluster, ctx);
        const entries = await listSnapshots(store, opts.cluster, { manifests: true });
        const rows = entries.map((e) => ({
          id: e.id,
          complete: e.complete,
          takenAt: e.takenAt.toISOString(),
          ...(e.manifest
            ? {
                revision: e.manifest.revision,
                keys: e.manifest.keyCount,
                size: e.manifest.size,
                etcdVersion: e.manifest.etcdVersion,
                completedAt: e.manifest.completedAt,
              }
            : {}),
          ...(e.manifestProblem ? { problem: e.manifestProblem } : {}),
        }));
        if (format !== 'text') return printStructured(rows, format, ctx.out);
        if (rows.length === 0) return ctx.out(`No snapshots of "${opts.cluster}".\n`);
        ctx.out(
          `${'ID'.padEnd(34)} ${'REVISION'.padStart(10)} ${'KEYS'.padStart(9)} ${'SIZE'.padStart(10)}  AGE\n`,
        );
        const now = new Date();
        for (const r of rows) {
          ctx.out(
            `${r.id.padEnd(34)} ${String(r.revision ?? '-').padStart(10)} ${String(r.keys ?? '-').padStart(9)} ${(r.size === undefined ? '-' : formatBytes(r.size)).padStart(10)}  ${describeAge(r.takenAt, now)}${r.complete ? '' : '  INCOMPLETE (no manifest)'}${r.problem ? `  BAD MANIFEST: ${r.problem}` : ''}\n`,
          );
        }
      });
    });

  withLocation(snapshot.command('get'))
    .argument('<snapshot>', 'snapshot id, or "latest"')
    .description('show a snapshot manifest; --file downloads the snapshot (checked on the way)')
    .option('--file <path>', 'write snapshot.db here (must not exist)')
    .action(async (ref: string, opts: LocationOpts & { file?: string }) => {
      const parsed = parseOutputFormat(opts.output);
      const format = parsed === 'text' ? 'yaml' : parsed;
      await withStore(opts.location, true, async (store) => {
        const entry = await findSnapshot(store, opts.cluster, ref);
        const manifest = await readManifest(store, opts.cluster, entry.id);
        if (opts.file !== undefined) {
          const digest = await downloadAndHash(
            store,
            layout.etcdSnapshotData(opts.cluster, entry.id),
            opts.file,
          );
          if (manifest !== undefined && digest.sha256 !== manifest.sha256) {
            throw new CairnError(
              'ETCD_SNAPSHOT_CORRUPT',
              `${opts.file}: sha256 ${digest.sha256} does not match the manifest (${manifest.sha256})`,
              {
                hint: 'The stored snapshot is damaged; run `cairn etcd snapshot verify` and use another one.',
              },
            );
          }
          ctx.err(`Wrote ${opts.file} (${formatBytes(digest.size)}, sha256 ${digest.sha256}).\n`);
        }
        printStructured(
          manifest ?? {
            id: entry.id,
            complete: false,
            files: entry.files,
            problem: 'no manifest: incomplete snapshot',
          },
          format,
          ctx.out,
        );
      });
    });

  withLocation(snapshot.command('verify'))
    .argument('[snapshot]', 'snapshot id or "latest" (default latest)', 'latest')
    .description(
      're-read a snapshot from storage: manifest, size, SHA-256, trailer, and etcdutl/etcdctl status',
    )
    .option('--all', 'verify every snapshot')
    .option('--no-tool', 'skip `etcdutl/etcdctl snapshot status`')
    .action(async (ref: string, opts: LocationOpts & { all?: boolean; tool: boolean }) => {
      const format = parseOutputFormat(opts.output);
      await withStore(opts.location, true, async (store) => {
        await warnIfSpecMissing(store, opts.cluster, ctx);
        const ids = opts.all
          ? (await listSnapshots(store, opts.cluster)).map((e) => e.id)
          : [(await findSnapshot(store, opts.cluster, ref)).id];
        const reports = [];
        for (const id of ids) {
          const report = await verifySnapshot({ store, cluster: opts.cluster, id, useTool: opts.tool });
          reports.push(report);
          if (format === 'text') {
            ctx.out(`Snapshot ${id}: ${report.ok ? 'OK' : 'FAILED'}\n`);
            for (const c of report.checks)
              ctx.out(
                `  ${c.status === 'ok' ? 'ok  ' : c.status === 'fail' ? 'FAIL' : 'skip'}  ${c.check.padEnd(9)} ${c.detail}\n`,
              );
          }
        }
        if (format !== 'text') {
          printStructured(
            reports.map(({ digest: _d, ...r }) => r),
            format,
            ctx.out,
          );
        }
        if (reports.some((r) => !r.ok)) ctx.setExitCode(1);
      });
    });

  snapshot
    .command('restore')
    .argument('<snapshot>', 'snapshot id, "latest", or a path to a snapshot file (with --from-file)')
    .description(
      'download, verify and restore a snapshot into a data dir (an existing dir goes to <dir>-trashcan-<time>)',
    )
    .option('--location <url>', 'storage location holding the snapshot')
    .option('--cluster <name>', 'etcd cluster name')
    .option('--from-file', 'the argument is a local snapshot file (no manifest: asks for confirmation)')
    .requiredOption('--data-dir <dir>', 'data dir of the member to restore')
    .requiredOption('--name <name>', 'this member’s name')
    .option(
      '--initial-cluster <list>',
      'name=peerURL,… (default: the spec’s members, else this member alone)',
    )
    .option(
      '--initial-advertise-peer-urls <urls>',
      'this member’s peer URLs (default: from --initial-cluster)',
    )
    .option('--initial-cluster-token <token>', 'token of the restored cluster', 'etcd-cluster')
    .option('--client-urls <urls>', 'client URLs for the printed start command')
    .option(
      '--confirm-older-than <duration>',
      'ask for confirmation when the snapshot is older (default: from the spec, 1h)',
    )
    .option('-y, --yes', 'confirm an old or unverified snapshot without asking (scripts)')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(
      async (
        ref: string,
        opts: {
          location?: string;
          cluster?: string;
          fromFile?: boolean;
          dataDir: string;
          name: string;
          initialCluster?: string;
          initialAdvertisePeerUrls?: string;
          initialClusterToken: string;
          clientUrls?: string;
          confirmOlderThan?: string;
          yes?: boolean;
          output: string;
        },
      ) => {
        const format = parseOutputFormat(opts.output);
        if (opts.confirmOlderThan !== undefined) parseDuration(opts.confirmOlderThan, '--confirm-older-than');
        const common = {
          dataDir: opts.dataDir,
          name: opts.name,
          initialClusterToken: opts.initialClusterToken,
          ...(opts.initialCluster === undefined ? {} : { initialCluster: opts.initialCluster }),
          ...(opts.initialAdvertisePeerUrls === undefined
            ? {}
            : { initialAdvertisePeerUrls: opts.initialAdvertisePeerUrls }),
          ...(opts.clientUrls === undefined ? {} : { clientUrls: opts.clientUrls }),
          ...(opts.confirmOlderThan === undefined ? {} : { confirmOlderThan: opts.confirmOlderThan }),
          confirm: async (reasons: string[]) => {
            if (opts.yes) {
              for (const r of reasons) ctx.err(`WARNING: ${r} (confirmed by --yes)\n`);
              return true;
            }
            return confirmOnTerminal(ctx, reasons);
          },
          log: (line: string) => ctx.err(`${line}\n`),
        };
        let outcome: Awaited<ReturnType<typeof restoreSnapshot>>;
        if (opts.fromFile) {
          outcome = await restoreSnapshot({ ...common, localFile: ref });
        } else {
          if (opts.location === undefined || opts.cluster === undefined) {
            throw new CairnError(
              'ETCD_RESTORE_SOURCE',
              'restoring a stored snapshot needs --location and --cluster',
              {
                hint: 'Pass --location and --cluster, or --from-file for a local snapshot file.',
              },
            );
          }
          const { location, cluster: name } = opts;
          outcome = await withStore(location, true, (store) =>
            restoreSnapshot({ ...common, store, cluster: name, ref }),
          );
        }
        if (format !== 'text') return printStructured(outcome, format, ctx.out);
        ctx.out(
          `Restored ${outcome.snapshot.id ?? outcome.snapshot.file}${outcome.snapshot.revision === undefined ? '' : ` (revision ${outcome.snapshot.revision})`} into ${outcome.dataDir} with ${outcome.tool}.\n`,
        );
        if (outcome.trashcan !== undefined)
          ctx.out(
            `The previous data dir was moved to ${outcome.trashcan} (delete it yourself once the cluster is healthy).\n`,
          );
        ctx.out(`Start the member with:\n  ${outcome.startCommand.map(shellQuote).join(' ')}\n`);
        ctx.out(
          'Restore every member from the same snapshot (each with its own --name) before starting any of them.\n',
        );
      },
    );

  withLocation(snapshot.command('prune'))
    .description('delete snapshots outside the spec’s retention (manifest first; never below --min-keep)')
    .option('--dry-run', 'only show what would be deleted')
    .action(async (opts: LocationOpts & { dryRun?: boolean }) => {
      const format = parseOutputFormat(opts.output);
      await withStore(opts.location, opts.dryRun === true, async (store) => {
        const spec = await requireClusterSpec(store, opts.cluster, { doing: 'prune snapshots' });
        const entries = await listSnapshots(store, opts.cluster);
        const plan = planRetention(entries, retentionPolicy(spec.retention), new Date());
        const result = opts.dryRun
          ? { deleted: [], failed: [] }
          : await pruneSnapshots(store, opts.cluster, plan, entries);
        if (format !== 'text')
          return printStructured({ dryRun: opts.dryRun === true, plan, ...result }, format, ctx.out);
        ctx.out(
          `${plan.keep.length} snapshots kept, ${plan.prune.length} ${opts.dryRun ? 'would be pruned' : 'to prune'}.\n`,
        );
        for (const p of plan.prune) {
          const failed = result.failed.find((f) => f.id === p.id);
          ctx.out(
            `  ${opts.dryRun ? 'would delete' : failed ? 'FAILED' : 'deleted'}  ${p.id}  (${p.reason})${failed ? `: ${failed.error}` : ''}\n`,
          );
        }
        if (result.failed.length > 0) ctx.setExitCode(1);
      });
    });
}

async function warnIfSpecMissing(store: BlobStore, cluster: string, ctx: CliContext): Promise<void> {
  try {
    await requireClusterSpec(store, cluster);
  } catch (err) {
    if (err instanceof CairnError && err.code !== 'ETCD_CLUSTER_NOT_INITIALIZED')
      ctx.err(`WARNING: ${err.message}\n`);
  }
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
