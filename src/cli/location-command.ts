import type { Command } from 'commander';
import {
  type CheckStatus,
  checkLocation,
  describeAge,
  initLocation,
  readMarker,
  surveyLocation,
} from '../catalog/location.ts';
import { openLocation } from '../catalog/open-location.ts';
import { FileSystemBlobStore } from '../storage/fs/fs-store.ts';
import { formatLocation } from '../storage/location-url.ts';
import type { CliContext } from './context.ts';
import { registerLocationResourceCommands } from './location-resource-command.ts';
import { formatBytes, parseOutputFormat, printStructured } from './output.ts';

const STATUS_LABEL: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** `cairn location init|check|info` (URL-based) and `create|get` (BackupLocation resources). */
export function registerLocationCommands(program: Command, ctx: CliContext): void {
  const location = program
    .command('location')
    .description('create and inspect storage locations (folders, NFS, S3)');

  location
    .command('init')
    .argument('<url>', 'a folder path, file:///path or s3://bucket/prefix?endpoint=…')
    .description('make a folder or bucket prefix a Cairn location (refuses anything that already holds data)')
    .option(
      '--adopt',
      'write the marker again over Cairn data whose marker was lost (keeps its id when the control copy survived)',
    )
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (url: string, opts: { adopt?: boolean; output: string }) => {
      const format = parseOutputFormat(opts.output);
      const { spec, store, backend } = openLocation(url);
      try {
        const outcome = await initLocation(store, {
          adopt: opts.adopt === true,
          createdBy: `cairn ${ctx.version}`,
          ...(backend instanceof FileSystemBlobStore ? { prepareRoot: () => backend.ensureRoot() } : {}),
        });
        if (format !== 'text')
          return printStructured({ location: formatLocation(spec), ...outcome }, format, ctx.out);
        const verb = {
          initialized: 'initialised',
          'already-initialized': 'already initialised',
          adopted: 'adopted',
        }[outcome.status];
        ctx.out(
          `Location ${store.description} ${verb} (id ${outcome.marker.locationId}, format ${outcome.marker.formatVersion}).\n`,
        );
        for (const repair of outcome.repaired) ctx.out(`  repaired: ${repair}\n`);
      } finally {
        await store.close();
      }
    });

  location
    .command('check')
    .argument('<url>', 'a folder path, file:///path or s3://bucket/prefix?endpoint=…')
    .description(
      'verify reachability, credentials, permissions, marker and control files — one line per problem',
    )
    .option('--read-only', 'check without writing (for locations opened read-only)')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (url: string, opts: { readOnly?: boolean; output: string }) => {
      const format = parseOutputFormat(opts.output);
      const readOnly = opts.readOnly === true;
      // A check should answer quickly: one retry for flaky calls, none for a dead endpoint.
      const { store, backend } = openLocation(url, {
        readOnly,
        retry: { maxAttempts: 2, maxUnreachableAttempts: 1 },
      });
      try {
        const report = await checkLocation(store, backend, { readOnly });
        if (format !== 'text') printStructured(report, format, ctx.out);
        else {
          ctx.out(`Checking ${report.location}\n`);
          for (const r of report.results) {
            ctx.out(`  ${STATUS_LABEL[r.status]}  ${r.check.padEnd(8)} ${r.detail}\n`);
            if (r.hint !== undefined && r.status !== 'ok') ctx.out(`${' '.repeat(16)}hint: ${r.hint}\n`);
          }
          ctx.out(report.healthy ? 'Location is healthy.\n' : 'Location has problems (see FAIL lines).\n');
        }
        if (!report.healthy) ctx.setExitCode(1);
      } finally {
        await store.close();
      }
    });

  location
    .command('info')
    .argument('<url>', 'a folder path, file:///path or s3://bucket/prefix?endpoint=…')
    .description('show the marker and what the location holds, per area')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (url: string, opts: { output: string }) => {
      const format = parseOutputFormat(opts.output);
      const { spec, store } = openLocation(url, { readOnly: true });
      try {
        const marker = await readMarker(store);
        const survey = await surveyLocation(store);
        const info = { location: formatLocation(spec), provider: spec.provider, marker, ...survey };
        if (format !== 'text') return printStructured(info, format, ctx.out);
        ctx.out(`Location:   ${store.description.replace(/ \(read-only\)$/, '')}\n`);
        ctx.out(
          `Marker:     ${marker.state === 'ok' || marker.state === 'unsupported' ? `id ${marker.marker.locationId}, format ${marker.marker.formatVersion}, created ${marker.marker.createdAt}` : marker.state}\n`,
        );
        ctx.out(
          `Objects:    ${survey.objects}${survey.truncated ? '+' : ''} (${formatBytes(survey.bytes)})\n`,
        );
        for (const [area, counts] of Object.entries(survey.areas)) {
          ctx.out(
            `  ${`${area}/`.padEnd(12)} ${String(counts.objects).padStart(8)} objects  ${formatBytes(counts.bytes)}\n`,
          );
        }
        if (survey.foreignObjects > 0)
          ctx.out(
            `  foreign      ${String(survey.foreignObjects).padStart(8)} objects (e.g. ${survey.foreignSamples[0]})\n`,
          );
        ctx.out(
          `Backups:    ${survey.completeBackups} complete, ${survey.incompleteBackups.length} incomplete\n`,
        );
        if (survey.newestBackup !== undefined) {
          ctx.out(
            `Newest:     ${survey.newestBackup.name} (${describeAge(survey.newestBackup.completedAt, new Date())})\n`,
          );
        }
      } finally {
        await store.close();
      }
    });

  registerLocationResourceCommands(location, ctx);
}
