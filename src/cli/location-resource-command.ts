/**
 * `cairn location create|get`: BackupLocation resources (what the controller
 * uses), beside the URL-based `location init|check|info` that work on storage
 * directly.
 */
import type { Command } from 'commander';
import {
  ACCESS_MODES,
  type AccessMode,
  BACKUP_LOCATION_PLURAL,
  type BackupLocation,
  type BackupLocationSpec,
  newBackupLocation,
  providerOfUrl,
} from '../api/backup-location.ts';
import { validateBackupLocation } from '../api/validation.ts';
import { assertResourceName } from '../catalog/layout.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { parseLocationUrl } from '../storage/location-url.ts';
import {
  addGetCommand,
  addKubeOptions,
  CairnResources,
  connectFromFlags,
  type KubeFlags,
  printInsteadOfSubmitting,
  refuseInvalid,
  shortAge,
} from './cairn-resources.ts';
import type { CliContext } from './context.ts';

interface CreateFlags extends KubeFlags {
  url: string;
  credentialSecret?: string;
  accessMode: string;
  default?: boolean;
  syncPeriod?: string;
  output?: string;
}

function locationFromFlags(name: string, flags: CreateFlags): BackupLocation {
  // Cairn's own URL parser first: a typo in an s3:// query parameter is an error here, not at 3 am.
  parseLocationUrl(flags.url, {}, '/');
  if (!(ACCESS_MODES as readonly string[]).includes(flags.accessMode))
    throw new CairnError(
      'CLI_INVALID_FLAG',
      `--access-mode must be ReadWrite or ReadOnly, not "${flags.accessMode}"`,
    );
  let credential: BackupLocationSpec['credential'];
  if (flags.credentialSecret !== undefined) {
    const [secret, key, ...rest] = flags.credentialSecret.split('/');
    if (!secret || !key || rest.length > 0)
      throw new CairnError(
        'CLI_INVALID_FLAG',
        `--credential-secret must be NAME/KEY, not "${flags.credentialSecret}"`,
        {
          hint: "The Secret (in Cairn's namespace) and the key holding an AWS shared-credentials file, e.g. cairn-s3/cloud.",
        },
      );
    credential = { name: secret, key };
  }
  const spec: BackupLocationSpec = {
    provider: providerOfUrl(flags.url),
    url: flags.url,
    accessMode: flags.accessMode as AccessMode,
    ...(credential === undefined ? {} : { credential }),
    ...(flags.default ? { default: true } : {}),
    ...(flags.syncPeriod === undefined ? {} : { syncPeriod: flags.syncPeriod }),
  };
  return newBackupLocation(name, flags.namespace, spec);
}

/** Adds `create` and `get` to the `location` command. */
export function registerLocationResourceCommands(location: Command, ctx: CliContext): void {
  addKubeOptions(
    location
      .command('create')
      .argument('<name>', 'BackupLocation name')
      .description('create a BackupLocation resource for the controller (-o yaml|json prints it instead)')
      .requiredOption('--url <url>', 'absolute folder path, file:///path or s3://bucket/prefix?endpoint=…')
      .option('--credential-secret <name/key>', 'Secret key with an AWS shared-credentials file (S3)')
      .option('--access-mode <mode>', 'ReadWrite or ReadOnly (never written)', 'ReadWrite')
      .option('--default', 'the location of Backups and Schedules that name none (clears it on the others)')
      .option('--sync-period <duration>', 'how often to check it and sync its backups in (default 1m)')
      .option('-o, --output <format>', 'yaml or json: print the resource without submitting it'),
  ).action(async (name: string, flags: CreateFlags) => {
    assertResourceName('location', name);
    const resource = locationFromFlags(name, flags);
    refuseInvalid(
      'LOCATION_INVALID',
      `BackupLocation "${name}"`,
      validateBackupLocation(resource),
      'cairn location create',
    );
    if (printInsteadOfSubmitting(flags.output, resource, ctx.out)) return;
    const connection = await connectFromFlags(flags);
    try {
      const resources = new CairnResources(connection, flags.namespace);
      await resources.create(BACKUP_LOCATION_PLURAL, resource);
      ctx.out(
        `BackupLocation "${name}" created in ${flags.namespace} (${resource.spec.provider}, ${resource.spec.accessMode}).\n`,
      );
      if (flags.default) {
        // One default: the newest --default wins, the others are cleared (and say so).
        for (const other of await resources.list<BackupLocation>(BACKUP_LOCATION_PLURAL)) {
          if (other.metadata.name === name || other.spec.default !== true) continue;
          await resources.mergePatch(BACKUP_LOCATION_PLURAL, other.metadata.name, {
            spec: { default: false },
          });
          ctx.out(`BackupLocation "${other.metadata.name}" is no longer the default.\n`);
        }
      }
    } finally {
      connection.close();
    }
  });

  addGetCommand<BackupLocation>(location, ctx.out, {
    plural: BACKUP_LOCATION_PLURAL,
    kind: 'BackupLocation',
    noun: 'BackupLocations',
    columns: ['NAME', 'PROVIDER', 'URL', 'ACCESS', 'DEFAULT', 'PHASE', 'LAST CHECKED', 'AGE'],
    row: (l, now) => [
      l.metadata.name,
      l.spec.provider,
      l.spec.url ?? JSON.stringify(l.spec.config ?? {}),
      l.spec.accessMode ?? 'ReadWrite',
      String(l.spec.default === true),
      l.status?.phase ?? '<pending>',
      l.status?.lastCheckedTime === undefined ? '<never>' : shortAge(l.status.lastCheckedTime, now),
      shortAge(l.metadata.creationTimestamp, now),
    ],
    notes: (l) => (l.status?.phase === 'Unavailable' && l.status.message ? l.status.message : undefined),
  });
}
