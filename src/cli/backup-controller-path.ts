/**
 * The controller path of `cairn backup create`: when Cairn's CRDs are
 * installed (and `--local` is not given) the CLI creates a Backup resource
 * and the controller runs it — the CLI does not need storage credentials.
 * `--wait` follows the Backup's status through a watch (progress bar from
 * `status.progress`) and exits non-zero unless it ends Completed; `-o
 * yaml|json` prints the resource without submitting it.
 */
import { type Backup, newBackup } from '../api/backup.ts';
import { DEFAULT_NAMESPACE } from '../api/common.ts';
import { cairnResourcePath } from '../api/group-version.ts';
import { validateBackup } from '../api/validation.ts';
import type { BackupSpec } from '../catalog/backup-manifest.ts';
import type { ClusterConnection } from '../cluster/connection.ts';
import { Informer } from '../cluster/informer.ts';
import { isKubeStatus } from '../cluster/kube-api-error.ts';
import { CairnError } from '../errors/cairn-error.ts';
import type { CliContext } from './context.ts';
import { type OutputFormat, printStructured } from './output.ts';
import { progressView } from './progress.ts';

export interface ControllerBackupFlags {
  readonly namespace?: string;
  /** A BackupLocation name in the controller path. */
  readonly location?: string;
  readonly ttl?: string;
  readonly wait?: boolean;
}

const FINAL = ['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation'];

/** The Backup resource the flags describe (validated like the controller will). */
export function backupResource(name: string, spec: BackupSpec, flags: ControllerBackupFlags): Backup {
  if (flags.location !== undefined && /[/:]/.test(flags.location)) {
    throw new CairnError(
      'CLI_LOCATION_IS_URL',
      `--location "${flags.location}" looks like a URL, but Cairn's controller is installed: it takes the name of a BackupLocation`,
      {
        hint: 'Name a BackupLocation (cairn location get), or pass --local to back up inline into a URL.',
      },
    );
  }
  const resource = newBackup(name, flags.namespace ?? DEFAULT_NAMESPACE, {
    ...(flags.location === undefined ? {} : { storageLocation: flags.location }),
    ...spec,
    ...(flags.ttl === undefined ? {} : { ttl: flags.ttl }),
  });
  const problems = validateBackup(resource);
  if (problems.length > 0) {
    throw new CairnError('BACKUP_INVALID', `the backup is invalid: ${problems.join('; ')}`, {
      hint: 'Fix the flags named above.',
    });
  }
  return resource;
}

/** Prints a Backup resource without submitting it. */
export function printBackupResource(
  resource: Backup,
  format: Exclude<OutputFormat, 'text'>,
  ctx: CliContext,
): void {
  printStructured(resource, format, ctx.out);
}

/** Submits the Backup; with `wait`, follows it to the end and sets the exit code. */
export async function submitBackup(
  connection: ClusterConnection,
  resource: Backup,
  flags: ControllerBackupFlags,
  ctx: CliContext,
): Promise<void> {
  const namespace = resource.metadata.namespace ?? DEFAULT_NAMESPACE;
  const name = resource.metadata.name;
  const path = cairnResourcePath(namespace, 'backups');
  try {
    await connection.request('POST', path, { body: resource });
  } catch (err) {
    if (isKubeStatus(err, 409))
      throw new CairnError(
        'BACKUP_ALREADY_EXISTS',
        `Backup "${name}" already exists in namespace ${namespace}`,
        {
          hint: 'Backups are never overwritten; pick another name.',
        },
      );
    if (isKubeStatus(err, 404))
      throw new CairnError('NAMESPACE_NOT_FOUND', `namespace ${namespace} does not exist`, {
        hint: 'Pass the namespace Cairn is installed in with -n, or run `cairn install`.',
      });
    throw err;
  }
  if (!flags.wait) {
    ctx.out(
      `Backup "${name}" submitted to the controller in namespace ${namespace}.\nFollow it with: kubectl get backups.cairn.dev ${name} -n ${namespace} -w   (or cairn backup create … --wait)\n`,
    );
    return;
  }
  const view = progressView(process.stderr, `backup ${name}`);
  const final = await new Promise<Backup>((resolve) => {
    const informer: Informer<Backup> = new Informer<Backup>(connection, {
      path,
      fieldSelector: `metadata.name=${name}`,
      onEvent: (_type, backup) => {
        const s = backup.status;
        if (s?.progress !== undefined)
          view.update(
            s.progress.typesDone ?? 0,
            s.progress.typesTotal ?? 0,
            `${s.progress.itemsBackedUp ?? 0} items`,
          );
        if (FINAL.includes(s?.phase ?? '')) {
          void informer.stop();
          resolve(backup);
        }
      },
    });
    informer.start();
  });
  view.stop();
  const s = final.status ?? {};
  if (s.phase === 'FailedValidation')
    ctx.out(`Backup "${name}" FailedValidation:\n  ${(s.validationErrors ?? []).join('\n  ')}\n`);
  else if (s.phase === 'Failed')
    ctx.out(`Backup "${name}" Failed: ${s.failureReason ?? 'no reason given'}\n`);
  else
    ctx.out(
      `Backup "${name}" ${s.phase}: ${s.itemsBackedUp ?? 0} items into BackupLocation "${s.storageLocation ?? ''}"; ${s.errors ?? 0} errors, ${s.warnings ?? 0} warnings.\n`,
    );
  if (s.phase !== 'Completed') ctx.setExitCode(1);
}
