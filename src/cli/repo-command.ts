import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { initLocation } from '../catalog/location.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { backup } from '../repository/backup.ts';
import { checkRepository, parseDataSubset } from '../repository/check.ts';
import { diffSnapshots } from '../repository/diff.ts';
import { repositoryError } from '../repository/errors.ts';
import { defaultCacheDir } from '../repository/file-cache.ts';
import { forget, type GroupKey, parseKeepWithin, type RetentionPolicy } from '../repository/forget.ts';
import { listKeyFiles, removeKeyFile } from '../repository/key-file.ts';
import { acquireLock, listLocks, type RepositoryLock, removeLocks } from '../repository/lock.ts';
import { prune } from '../repository/prune.ts';
import { repairIndex } from '../repository/repair.ts';
import { initRepository, Repository } from '../repository/repository.ts';
import { restore } from '../repository/restore.ts';
import { listSnapshots, resolveSnapshot, walkTree } from '../repository/snapshot.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { FileSystemBlobStore } from '../storage/fs/fs-store.ts';
import { parseLocationUrl } from '../storage/location-url.ts';
import { openStore } from '../storage/open-store.ts';
import type { CliContext } from './context.ts';
import { formatBytes, parseOutputFormat, printStructured } from './output.ts';

interface CommonOptions {
  location: string;
  passwordFile?: string;
  output: string;
  retryLock?: string;
}

/** How a command locks the repository (see src/repository/lock.ts). */
interface LockNeed {
  readonly exclusive: boolean;
  readonly operation: string;
}

/** `cairn repo init|backup|restore|snapshots|ls|diff|check|forget|prune|unlock|repair index|key list|add|passwd|remove`. */
export function registerRepoCommands(program: Command, ctx: CliContext): void {
  const repo = program
    .command('repo')
    .description('the deduplicating, encrypted, compressed repository for volume data');

  const common = (cmd: Command): Command =>
    cmd
      .requiredOption(
        '--location <url>',
        'the storage location (folder, file:///path or s3://bucket/prefix?endpoint=…)',
      )
      .option(
        '--password-file <path>',
        'read the password from this file (else CAIRN_PASSWORD, else a prompt)',
      )
      .option('-o, --output <format>', 'text, json or yaml', 'text');
  const locking = (cmd: Command): Command =>
    common(cmd).option(
      '--retry-lock <duration>',
      'wait up to this long (e.g. 30s, 5m) for a conflicting lock to go away',
    );

  common(repo.command('init'))
    .description(
      'create a repository in a location (refuses one that already holds a repository or its data)',
    )
    .action(async (opts: CommonOptions) => {
      const format = parseOutputFormat(opts.output);
      const spec = parseLocationUrl(opts.location);
      const { store, backend } = openStore(spec);
      try {
        const password = await readPassword(opts, { confirm: true });
        await initLocation(store, {
          createdBy: `cairn ${ctx.version}`,
          ...(backend instanceof FileSystemBlobStore ? { prepareRoot: () => backend.ensureRoot() } : {}),
        });
        const config = await initRepository(store, { password, createdBy: `cairn ${ctx.version}` });
        if (format !== 'text') return printStructured(config, format, ctx.out);
        ctx.out(`Created repository ${config.id} in ${store.description}.\n`);
        ctx.out('Keep the password safe: without it the data cannot be read, by anyone.\n');
      } finally {
        await store.close();
      }
    });

  locking(repo.command('backup'))
    .argument('<path>', 'file or directory to back up')
    .option(
      '--cache-dir <dir>',
      'folder of the local metadata cache (default: $XDG_CACHE_HOME/cairn or ~/.cache/cairn)',
    )
    .option('--no-cache', 'read every file, and keep no metadata cache')
    .description('back up a file or directory into a new snapshot')
    .action(async (source: string, opts: CommonOptions & { cacheDir?: string; cache: boolean }) => {
      const format = parseOutputFormat(opts.output);
      await withRepository(
        opts,
        async (repository) => {
          const result = await backup(repository, {
            source,
            program: `cairn ${ctx.version}`,
            ...(opts.cache ? { cacheDir: opts.cacheDir ?? defaultCacheDir() } : {}),
          });
          if (result.cacheWarning !== undefined) ctx.err(`warning: ${result.cacheWarning}\n`);
          if (format !== 'text') {
            printStructured(
              {
                id: result.id,
                ...result.snapshot,
                warnings: result.warnings,
                adoptedPacks: result.adoptedPacks,
                unchangedFiles: result.unchangedFiles,
              },
              format,
              ctx.out,
            );
          } else {
            const s = result.snapshot.summary;
            for (const w of result.warnings) ctx.err(`warning: ${w.path}: ${w.problem}\n`);
            if (result.adoptedPacks > 0)
              ctx.out(`Reused ${result.adoptedPacks} packs uploaded by an interrupted backup.\n`);
            ctx.out(
              `Snapshot ${result.id.slice(0, 8)} saved: ${s.files} files (${result.unchangedFiles} unchanged, not read), ${s.dirs} dirs, ${formatBytes(s.bytes)} in ${s.seconds} s\n` +
                `  new: ${s.newBlobs} blobs, ${formatBytes(s.newBytes)} (${formatBytes(s.storedBytes)} stored in ${s.packs} packs)\n`,
            );
          }
          // As restic: 3 = snapshot written, but some source entries could not be read.
          if (result.warnings.length > 0) ctx.setExitCode(3);
        },
        { exclusive: false, operation: 'backup' },
      );
    });

  locking(repo.command('restore'))
    .argument('<snapshot>', 'snapshot id (or a unique prefix), or `latest`')
    .argument('<target>', 'folder to restore into (created if missing)')
    .option('--include <glob...>', 'restore only paths matching these globs (relative to the snapshot root)')
    .option('--sparse', 'write all-zero chunks as holes: sparse files take only the space of their data')
    .description('restore a snapshot, verifying every blob; reports what it could not restore')
    .action(
      async (ref: string, target: string, opts: CommonOptions & { include?: string[]; sparse?: boolean }) => {
        const format = parseOutputFormat(opts.output);
        await withRepository(
          opts,
          async (repository) => {
            const snapshot = await resolveSnapshot(repository, ref);
            const result = await restore(repository, {
              snapshot,
              target,
              ...(opts.include === undefined ? {} : { include: opts.include }),
              ...(opts.sparse === true ? { sparse: true } : {}),
            });
            if (format !== 'text') printStructured({ snapshot: snapshot.id, ...result }, format, ctx.out);
            else {
              ctx.out(
                `Restored snapshot ${snapshot.id.slice(0, 8)} to ${target}: ${result.files} files, ${result.dirs} dirs, ${result.symlinks} symlinks, ${formatBytes(result.bytes)}\n`,
              );
              for (const f of result.failures) ctx.err(`not restored: ${f.path}: ${f.problem}\n`);
            }
            if (result.failures.length > 0) {
              throw repositoryError(
                'REPOSITORY_RESTORE_INCOMPLETE',
                `${result.failures.length} entries could not be restored (listed above); everything else was`,
                { hint: 'Run `cairn repo check --read-data` to see which packs are damaged.' },
              );
            }
          },
          { exclusive: false, operation: 'restore' },
        );
      },
    );

  common(repo.command('snapshots'))
    .description('list snapshots, oldest first')
    .action(async (opts: CommonOptions) => {
      const format = parseOutputFormat(opts.output);
      await withRepository(opts, async (repository) => {
        const { snapshots, unreadable } = await listSnapshots(repository);
        if (format !== 'text') {
          return printStructured(
            snapshots.map((s) => ({ id: s.id, ...s.snapshot })),
            format,
            ctx.out,
          );
        }
        ctx.out(`${'ID'.padEnd(10)}${'TIME'.padEnd(26)}${'HOST'.padEnd(16)}${'SIZE'.padStart(11)}  PATH\n`);
        for (const { id, snapshot: s } of snapshots) {
          ctx.out(
            `${id.slice(0, 8).padEnd(10)}${s.time.padEnd(26)}${s.hostname.slice(0, 15).padEnd(16)}${formatBytes(s.summary.bytes).padStart(11)}  ${s.paths.join(' ')}\n`,
          );
        }
        ctx.out(`${snapshots.length} snapshots\n`);
        for (const u of unreadable) ctx.err(`warning: ${u.problem}\n`);
      });
    });

  common(repo.command('ls'))
    .argument('<snapshot>', 'snapshot id (or a unique prefix), or `latest`')
    .description('list the entries of a snapshot')
    .action(async (ref: string, opts: CommonOptions) => {
      const format = parseOutputFormat(opts.output);
      await withRepository(opts, async (repository) => {
        await repository.loadIndex();
        const { id, snapshot } = await resolveSnapshot(repository, ref);
        const rows: Array<Record<string, unknown>> = [];
        for await (const { path, entry } of walkTree(repository, snapshot.tree)) {
          const { content: _content, subtree: _subtree, name: _name, ...rest } = entry;
          if (format !== 'text') rows.push({ path, ...rest });
          else {
            const size = entry.type === 'file' ? formatBytes(entry.size ?? 0) : '';
            const suffix = entry.type === 'dir' ? '/' : entry.type === 'symlink' ? ` -> ${entry.target}` : '';
            ctx.out(`${modeString(entry.type, entry.mode)} ${size.padStart(10)}  ${path}${suffix}\n`);
          }
        }
        if (format !== 'text') printStructured({ snapshot: id, entries: rows }, format, ctx.out);
      });
    });

  registerKeyCommands(repo, ctx, common);

  locking(repo.command('check'))
    .option('--read-data', 'also read and decrypt every blob of every pack')
    .option('--read-data-subset <subset>', 'read only some packs: `n/m` (group n of m, by pack id) or `N%`')
    .description('verify index, packs and snapshots; with --read-data, every byte')
    .action(async (opts: CommonOptions & { readData?: boolean; readDataSubset?: string }) => {
      const format = parseOutputFormat(opts.output);
      const subset = opts.readDataSubset === undefined ? undefined : parseDataSubset(opts.readDataSubset);
      await withRepository(
        opts,
        async (repository) => {
          const report = await checkRepository(repository, {
            readData: opts.readData === true,
            ...(subset === undefined ? {} : { readDataSubset: subset }),
          });
          if (format !== 'text') printStructured(report, format, ctx.out);
          else printCheck(report, ctx);
          if (!report.healthy) ctx.setExitCode(1);
        },
        { exclusive: false, operation: 'check' },
      );
    });

  common(repo.command('diff'))
    .argument('<a>', 'the older snapshot (id, prefix or `latest`)')
    .argument('<b>', 'the newer snapshot')
    .description(
      'list paths added (+), removed (-), modified (M) or changed only in metadata (U) from A to B',
    )
    .action(async (a: string, b: string, opts: CommonOptions) => {
      const format = parseOutputFormat(opts.output);
      await withRepository(opts, async (repository) => {
        await repository.loadIndex();
        const sa = await resolveSnapshot(repository, a);
        const sb = await resolveSnapshot(repository, b);
        const report = await diffSnapshots(repository, sa.snapshot.tree, sb.snapshot.tree);
        if (format !== 'text') return printStructured({ a: sa.id, b: sb.id, ...report }, format, ctx.out);
        const mark = { added: '+', removed: '-', modified: 'M', metadata: 'U' } as const;
        for (const c of report.changes) ctx.out(`${mark[c.change]}    ${c.path}\n`);
        ctx.out(
          `${sa.id.slice(0, 8)} -> ${sb.id.slice(0, 8)}: ${report.added} added, ${report.removed} removed, ${report.modified} modified, ${report.metadata} metadata only\n`,
        );
      });
    });

  const keep = (flag: string, what: string) =>
    [`--keep-${flag} <n>`, `keep the newest snapshot of each of the last n ${what}`] as const;
  locking(repo.command('forget'))
    .description(
      'remove snapshots a retention policy does not keep (restic semantics); --prune frees their data',
    )
    .option('--keep-last <n>', 'keep the n newest snapshots')
    .option(...keep('hourly', 'hours that have one'))
    .option(...keep('daily', 'days that have one'))
    .option(...keep('weekly', 'ISO weeks that have one'))
    .option(...keep('monthly', 'months that have one'))
    .option(...keep('yearly', 'years that have one'))
    .option(
      '--keep-within <duration>',
      'keep every snapshot within this long of the newest (e.g. 1y6m, 7d12h)',
    )
    .option(
      '--group-by <keys>',
      'judge snapshots in groups of equal `host`, `paths`, both, or none (``)',
      'host,paths',
    )
    .option('--prune', 'then prune (takes the exclusive lock)')
    .option('--max-unused <limit>', 'with --prune: tolerated unused space, e.g. 5% or `unlimited`', '5%')
    .option('--dry-run', 'only say what would be removed')
    .action(async (opts: CommonOptions & ForgetFlags) => {
      const format = parseOutputFormat(opts.output);
      const policy = policyOf(opts);
      const groupBy = opts.groupBy
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== '') as GroupKey[];
      const withPrune = opts.prune === true && opts.dryRun !== true;
      await withRepository(
        opts,
        async (repository, lock) => {
          const report = await forget(repository, { policy, groupBy, dryRun: opts.dryRun === true });
          const pruned = withPrune
            ? await prune(repository, {
                maxUnused: parseMaxUnused(opts.maxUnused),
                ...(lock ? { lock } : {}),
              })
            : undefined;
          if (format !== 'text')
            return printStructured({ ...report, ...(pruned ? { prune: pruned } : {}) }, format, ctx.out);
          for (const g of report.groups) {
            const label = [g.group.hostname, g.group.paths?.join(' ')]
              .filter((x) => x !== undefined)
              .join(' ');
            if (label !== '') ctx.out(`group ${label}\n`);
            for (const d of g.decisions) {
              ctx.out(
                `  ${d.keep ? 'keep  ' : opts.dryRun ? 'would remove' : 'remove'} ${d.id.slice(0, 8)}  ${d.time}${d.keep ? `  (${d.reasons.join(', ')})` : ''}\n`,
              );
            }
          }
          ctx.out(`${report.kept} kept, ${report.removed} ${opts.dryRun ? 'would be ' : ''}removed\n`);
          if (pruned) printPrune(pruned, ctx);
        },
        { exclusive: withPrune, operation: withPrune ? 'forget --prune' : 'forget' },
      );
    });

  locking(repo.command('prune'))
    .description(
      'delete data no snapshot needs: repack partly used packs, then delete unused ones (exclusive lock)',
    )
    .option('--max-unused <limit>', 'tolerated unused space, e.g. 5% or `unlimited`', '5%')
    .option('--dry-run', 'only say what would be done')
    .action(async (opts: CommonOptions & { maxUnused: string; dryRun?: boolean }) => {
      const format = parseOutputFormat(opts.output);
      const maxUnused = parseMaxUnused(opts.maxUnused);
      await withRepository(
        opts,
        async (repository, lock) => {
          const report = await prune(repository, {
            maxUnused,
            dryRun: opts.dryRun === true,
            ...(lock ? { lock } : {}),
          });
          if (format !== 'text') return printStructured(report, format, ctx.out);
          printPrune(report, ctx);
        },
        { exclusive: opts.dryRun !== true, operation: 'prune' },
      );
    });

  common(repo.command('unlock'))
    .description('remove stale locks (all locks with --remove-all)')
    .option('--remove-all', 'remove every lock, live or not (only when you know no other cairn runs)')
    .action(async (opts: CommonOptions & { removeAll?: boolean }) => {
      const format = parseOutputFormat(opts.output);
      await withRepository(opts, async (repository) => {
        const removed = await removeLocks(repository.store, { all: opts.removeAll === true });
        const left = await listLocks(repository.store);
        if (format !== 'text') return printStructured({ removed, left }, format, ctx.out);
        for (const r of removed)
          ctx.out(`removed lock ${r.id.slice(0, 8)}${r.stale ? ` (${r.stale})` : ''}\n`);
        for (const l of left)
          ctx.out(
            `kept live lock ${l.id.slice(0, 8)}: ${l.lock?.operation} pid ${l.lock?.pid} on ${l.lock?.hostname} (refreshed ${l.lock?.time})\n`,
          );
        ctx.out(`${removed.length} locks removed\n`);
      });
    });

  const repair = repo.command('repair').description('rebuild damaged repository metadata');
  locking(repair.command('index'))
    .description('rebuild the index from the pack headers (after an index file was lost or damaged)')
    .action(async (opts: CommonOptions) => {
      const format = parseOutputFormat(opts.output);
      await withRepository(
        opts,
        async (repository, lock) => {
          const report = await repairIndex(repository, lock ? { lock } : {});
          if (format !== 'text') return printStructured(report, format, ctx.out);
          ctx.out(
            `Index rebuilt: ${report.packs} packs (${report.reindexed} read from their headers), ${report.indexFilesWritten} index files written, ${report.indexFilesRead} old ones removed (${report.indexFilesUnreadable} unreadable)\n`,
          );
          for (const p of report.unreadablePacks)
            ctx.err(`warning: pack ${p} has an unreadable header; left out of the index\n`);
        },
        { exclusive: true, operation: 'repair index' },
      );
    });
}

interface ForgetFlags {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  groupBy: string;
  prune?: boolean;
  maxUnused: string;
  dryRun?: boolean;
}

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    throw new CairnError('CLI_INVALID_ARGUMENT', `--keep-${flag} needs a whole number, got "${value}"`, {
      hint: `e.g. --keep-${flag} 7`,
    });
  }
  return Number(value);
}

function policyOf(o: ForgetFlags): RetentionPolicy {
  const p: Record<string, unknown> = {
    keepLast: count('last', o.keepLast),
    keepHourly: count('hourly', o.keepHourly),
    keepDaily: count('daily', o.keepDaily),
    keepWeekly: count('weekly', o.keepWeekly),
    keepMonthly: count('monthly', o.keepMonthly),
    keepYearly: count('yearly', o.keepYearly),
    keepWithin: o.keepWithin === undefined ? undefined : parseKeepWithin(o.keepWithin),
  };
  for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
  return p as RetentionPolicy;
}

function parseMaxUnused(text: string): number {
  if (text === 'unlimited') return 1;
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (m === null || Number(m[1]) >= 100) {
    throw new CairnError(
      'CLI_INVALID_ARGUMENT',
      `--max-unused must be a percentage below 100% or \`unlimited\`, got "${text}"`,
      {
        hint: 'e.g. --max-unused 5% (0% repacks every partly used pack)',
      },
    );
  }
  return Number(m[1]) / 100;
}

/** Parses `--retry-lock`: `<n>s`, `<n>m`, `<n>h` (or plain seconds). */
function parseRetry(text: string | undefined): number {
  if (text === undefined) return 0;
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text);
  if (m === null) {
    throw new CairnError(
      'CLI_INVALID_ARGUMENT',
      `--retry-lock needs a duration like 30s, 5m or 1h, got "${text}"`,
      {
        hint: 'e.g. --retry-lock 5m',
      },
    );
  }
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
}

function printPrune(r: Awaited<ReturnType<typeof prune>>, ctx: CliContext): void {
  ctx.out(
    `${r.dryRun ? 'Would prune' : 'Pruned'}: ${r.snapshots} snapshots keep ${formatBytes(r.bytes.used)} of ${formatBytes(r.bytes.before)}; ` +
      `${r.packs.deleted} unused packs deleted, ${r.packs.repacked} repacked into ${r.packs.written}, ${r.packs.unindexedDeleted} unindexed removed; ` +
      `${formatBytes(r.bytes.freed)} freed, ${formatBytes(r.bytes.unusedAfter)} unused left\n`,
  );
}

function registerKeyCommands(repo: Command, ctx: CliContext, common: (cmd: Command) => Command): void {
  const key = repo
    .command('key')
    .description('passwords of a repository (each a key file wrapping the master key)');
  const fresh = (cmd: Command): Command =>
    common(cmd).option(
      '--new-password-file <path>',
      'read the new password from this file (else CAIRN_NEW_PASSWORD, else a prompt)',
    );

  common(key.command('list'))
    .description('list the key files; * marks the one this password opens')
    .action(async (opts: CommonOptions) => {
      const format = parseOutputFormat(opts.output);
      await withRepository(opts, async (repository) => {
        const keys = (await listKeyFiles(repository.store)).map((k) => ({
          ...k,
          current: k.id === repository.keyId,
        }));
        if (format !== 'text') return printStructured(keys, format, ctx.out);
        ctx.out(`  ${'ID'.padEnd(10)}${'CREATED'.padEnd(26)}${'USER@HOST'.padEnd(28)}KDF\n`);
        for (const k of keys) {
          ctx.out(
            `${k.current ? '*' : ' '} ${k.id.slice(0, 8).padEnd(10)}${k.createdAt.padEnd(26)}${`${k.username}@${k.hostname}`.padEnd(28)}${k.kdf}\n`,
          );
        }
      });
    });

  fresh(key.command('add'))
    .description('add a password')
    .action(async (opts: CommonOptions & { newPasswordFile?: string }) => {
      await withRepository(opts, async (repository) => {
        const password = await readPassword(
          { passwordFile: opts.newPasswordFile },
          { confirm: true, fresh: true },
        );
        const id = await repository.addKey(password);
        ctx.out(`Added key ${id.slice(0, 8)}.\n`);
      });
    });

  fresh(key.command('passwd'))
    .description('change the password in use (adds the new key file, then removes the old one)')
    .action(async (opts: CommonOptions & { newPasswordFile?: string }) => {
      await withRepository(opts, async (repository) => {
        const password = await readPassword(
          { passwordFile: opts.newPasswordFile },
          { confirm: true, fresh: true },
        );
        const old = repository.keyId;
        const id = await repository.changePassword(password);
        ctx.out(`Replaced key ${old.slice(0, 8)} with ${id.slice(0, 8)}.\n`);
      });
    });

  common(key.command('remove'))
    .argument('<id>', 'key id or a unique prefix (from `cairn repo key list`)')
    .description('remove a password (never the one in use)')
    .action(async (id: string, opts: CommonOptions) => {
      await withRepository(opts, async (repository) => {
        await removeKeyFile(repository.store, { id, currentKeyId: repository.keyId });
        ctx.out(`Removed key ${id}.\n`);
      });
    });
}

function printCheck(report: Awaited<ReturnType<typeof checkRepository>>, ctx: CliContext): void {
  ctx.out(
    `Checked ${report.snapshots} snapshots, ${report.packs} packs, ${report.blobs} blobs${report.readData ? `, read ${report.packsRead} packs${report.readDataSubset ? ` (subset ${report.readDataSubset})` : ''}, ${formatBytes(report.bytesRead)}` : ''}\n`,
  );
  for (const p of report.problems) {
    ctx.out(`${p.severity === 'error' ? 'ERROR' : 'warn '}  ${p.message}\n`);
    for (const file of p.affects ?? []) ctx.out(`         affects ${file}\n`);
  }
  for (const hint of report.hints) ctx.out(`hint: ${hint}\n`);
  ctx.out(report.healthy ? 'No errors found.\n' : 'The repository has errors (see ERROR lines).\n');
}

function modeString(type: string, mode: number): string {
  const kind = type === 'dir' ? 'd' : type === 'symlink' ? 'l' : '-';
  let bits = '';
  for (let shift = 6; shift >= 0; shift -= 3) {
    const b = (mode >> shift) & 7;
    bits += `${b & 4 ? 'r' : '-'}${b & 2 ? 'w' : '-'}${b & 1 ? 'x' : '-'}`;
  }
  return kind + bits;
}

async function withRepository(
  opts: CommonOptions,
  use: (repo: Repository, lock: RepositoryLock | undefined) => Promise<void>,
  lockNeed?: LockNeed,
): Promise<void> {
  const spec = parseLocationUrl(opts.location);
  const { store } = openStore(spec);
  let lock: RepositoryLock | undefined;
  try {
    const password = await readPassword(opts, { confirm: false });
    // Opened first: a wrong password writes nothing, not even a lock.
    const repository = await Repository.open(store as BlobStore, password);
    if (lockNeed !== undefined) {
      lock = await acquireLock(store, { ...lockNeed, retryMs: parseRetry(opts.retryLock) });
    }
    await use(repository, lock);
  } finally {
    await lock?.release();
    await store.close();
  }
}

/**
 * The password, never from a flag value: `--password-file`, else
 * `CAIRN_PASSWORD`, else a prompt when stdin is a terminal.
 */
async function readPassword(
  opts: { passwordFile?: string },
  { confirm, fresh = false }: { confirm: boolean; fresh?: boolean },
): Promise<string> {
  const envName = fresh ? 'CAIRN_NEW_PASSWORD' : 'CAIRN_PASSWORD';
  const flag = fresh ? '--new-password-file' : '--password-file';
  const label = fresh ? 'new repository password' : 'repository password';
  if (opts.passwordFile !== undefined) {
    let text: string;
    try {
      text = await readFile(opts.passwordFile, 'utf8');
    } catch (err) {
      throw repositoryError(
        'REPOSITORY_PASSWORD_MISSING',
        `cannot read the password file ${opts.passwordFile}`,
        {
          hint: 'Give a readable file whose first line is the password.',
          cause: err,
        },
      );
    }
    const password = text.replace(/\r?\n$/, '');
    if (password.length === 0) throw emptyPassword();
    return password;
  }
  const env = process.env[envName];
  if (env !== undefined) {
    if (env.length === 0) throw emptyPassword();
    return env;
  }
  if (!process.stdin.isTTY) {
    throw repositoryError('REPOSITORY_PASSWORD_MISSING', `no ${label} given`, {
      hint: `Set ${envName}, pass ${flag} PATH, or run in a terminal to be prompted.`,
    });
  }
  const password = await prompt(fresh ? 'New repository password: ' : 'Repository password: ');
  if (password.length === 0) throw emptyPassword();
  if (confirm && (await prompt('Repeat the password: ')) !== password) {
    throw repositoryError('REPOSITORY_PASSWORD_MISSING', 'the two passwords differ', {
      hint: 'Run the command again and type the same password twice. Nothing was written.',
    });
  }
  return password;
}

function emptyPassword(): CairnError {
  return repositoryError('REPOSITORY_PASSWORD_MISSING', 'the repository password is empty', {
    hint: 'Use a non-empty password (a long passphrase is best).',
  });
}

/** Reads one line from the terminal without echoing it. */
function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const done = (result: string | Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') return done(value);
        if (char === '\u0003')
          return done(new CairnError('CLI_INTERRUPTED', 'interrupted', { hint: 'Nothing was written.' }));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on('data', onData);
  });
}
