import type { Command } from 'commander';
import { BACKUP_FINAL_PHASES, BACKUP_PLURAL, type Backup } from '../api/backup.ts';
import { BACKUP_LOCATION_PLURAL, type BackupLocation } from '../api/backup-location.ts';
import { LABELS } from '../api/common.ts';
import {
  newSchedule,
  type RetentionPolicy,
  SCHEDULE_PLURAL,
  type Schedule,
  type ScheduleSpec,
} from '../api/schedule.ts';
import { storageLocationProblems, validateSchedule } from '../api/validation.ts';
import { assertResourceName } from '../catalog/layout.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { planRetention } from '../schedule/retention.ts';
import { MAX_SCHEDULE_NAME, nextRunAfter } from '../schedule/run-plan.ts';
import {
  addBackupFilterOptions,
  type BackupFilterFlags,
  backupFilterFromFlags,
} from './backup-filter-flags.ts';
import {
  addGetCommand,
  addKubeOptions,
  CairnResources,
  connectFromFlags,
  type KubeFlags,
  printInsteadOfSubmitting,
  refuseInvalid,
  shortAge,
  table,
} from './cairn-resources.ts';
import type { CliContext } from './context.ts';
import { parseOutputFormat, printStructured } from './output.ts';

interface CreateFlags extends BackupFilterFlags, KubeFlags {
  schedule: string;
  timeZone?: string;
  storageLocation?: string;
  backupTtl?: string;
  ttl?: string;
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  minGoodBackups?: string;
  paused?: boolean;
  skipImmediately?: boolean;
  output?: string;
}

const KEEP_FLAGS = [
  ['keepLast', 'keep-last', 'keep the N newest good backups'],
  ['keepHourly', 'keep-hourly', 'keep the newest good backup of each of the last N hours that have one'],
  ['keepDaily', 'keep-daily', '… of each of the last N days that have one'],
  ['keepWeekly', 'keep-weekly', '… of each of the last N ISO weeks that have one'],
  ['keepMonthly', 'keep-monthly', '… of each of the last N months that have one'],
  ['keepYearly', 'keep-yearly', '… of each of the last N years that have one'],
  ['minGoodBackups', 'min-good-backups', 'never delete below N good backups (default 1)'],
] as const;

function count(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new CairnError('CLI_INVALID_FLAG', `--${flag} must be a whole number ≥ 0, not "${value}"`, {
      hint: `For example --${flag} 7.`,
    });
  return n;
}

/** The Schedule the flags describe (not yet validated). */
function scheduleFromFlags(name: string, flags: CreateFlags): Schedule {
  const filter = backupFilterFromFlags(flags);
  // Only non-default filter fields go into the resource: kubectl get -o yaml stays readable.
  const template: ScheduleSpec['template'] = {
    ...(flags.storageLocation === undefined ? {} : { storageLocation: flags.storageLocation }),
    ...(filter.includeNamespaces.length > 0 ? { includeNamespaces: filter.includeNamespaces } : {}),
    ...(filter.excludeNamespaces.length > 0 ? { excludeNamespaces: filter.excludeNamespaces } : {}),
    ...(filter.includeResources.length > 0 ? { includeResources: filter.includeResources } : {}),
    ...(filter.excludeResources.length > 0 ? { excludeResources: filter.excludeResources } : {}),
    ...(filter.includeClusterResources !== 'auto'
      ? { includeClusterResources: filter.includeClusterResources }
      : {}),
    ...(filter.labelSelectors.length > 0 ? { labelSelectors: filter.labelSelectors } : {}),
    ...(filter.allVersions ? { allVersions: true } : {}),
    ...(flags.backupTtl === undefined ? {} : { ttl: flags.backupTtl }),
  };
  const retention: RetentionPolicy = flags.ttl === undefined ? {} : { ttl: flags.ttl };
  for (const [field, flag] of KEEP_FLAGS) {
    const value = flags[field];
    if (value !== undefined) retention[field] = count(flag, value);
  }
  const spec: ScheduleSpec = {
    schedule: flags.schedule,
    ...(flags.timeZone === undefined ? {} : { timeZone: flags.timeZone }),
    template,
    ...(flags.paused ? { paused: true } : {}),
    ...(flags.skipImmediately ? { skipImmediately: true } : {}),
    ...(Object.keys(retention).length > 0 ? { retention } : {}),
  };
  return newSchedule(name, flags.namespace, spec);
}

function assertScheduleName(name: string): void {
  assertResourceName('schedule', name);
  // Its backups are `<name>-<14 digits>` and carry the name as a label value (≤ 63 characters).
  if (name.length > MAX_SCHEDULE_NAME || name.includes('.'))
    throw new CairnError(
      'CLI_INVALID_NAME',
      `schedule name "${name}" must be at most ${MAX_SCHEDULE_NAME} characters without dots`,
      {
        hint: 'The name becomes the value of the cairn.dev/schedule label on every backup it makes.',
      },
    );
}

/** A schedule's backups, newest first. */
async function backupsOf(resources: CairnResources, schedule: string): Promise<Backup[]> {
  const items = await resources.list<Backup>(BACKUP_PLURAL, `${LABELS.schedule}=${schedule}`);
  const time = (b: Backup) => Date.parse(b.status?.startTimestamp ?? b.metadata.creationTimestamp ?? '') || 0;
  return items.sort((a, b) => time(b) - time(a));
}

function nextRun(s: Schedule, now: Date): { time?: string; computed: boolean } {
  if (s.spec.paused) return { computed: false };
  if (s.status?.nextRunTime !== undefined) return { time: s.status.nextRunTime, computed: false };
  try {
    const next = nextRunAfter(s.spec.schedule, now, s.spec.timeZone ?? 'UTC');
    return next === undefined ? { computed: true } : { time: next.toISOString(), computed: true };
  } catch {
    return { computed: true };
  }
}

/** `cairn schedule create|get|describe|pause|unpause|delete`. */
export function registerScheduleCommands(program: Command, ctx: CliContext): void {
  const schedule = program
    .command('schedule')
    .description('backups on a cron schedule with GFS retention (Schedule resources, run by the controller)');

  const create = schedule
    .command('create')
    .argument('<name>', 'schedule name (its backups are <name>-<UTC yyyymmddhhmmss>)')
    .description('create a Schedule resource (the controller runs it; -o yaml|json prints it instead)')
    .requiredOption(
      '--schedule <cron>',
      'cron (5 fields), @hourly/@daily/@weekly/@monthly/@yearly, or "@every 6h"',
    )
    .option('--time-zone <zone>', 'IANA time zone of the cron (default UTC)')
    .option('--storage-location <name>', 'BackupLocation to write to (default: the default location)');
  addBackupFilterOptions(create)
    .option('--backup-ttl <duration>', 'ttl of each backup (spec.template.ttl), e.g. 720h')
    .option('--ttl <duration>', 'retention: delete backups older than this unless a keep rule keeps them');
  for (const [, flag, help] of KEEP_FLAGS) create.option(`--${flag} <n>`, help);
  addKubeOptions(create)
    .option('--paused', 'create it paused')
    .option('--skip-immediately', 'do not run at creation; wait for the first slot')
    .option('-o, --output <format>', 'yaml or json: print the resource without submitting it')
    .action(async (name: string, flags: CreateFlags) => {
      assertScheduleName(name);
      const resource = scheduleFromFlags(name, flags);
      refuseInvalid(
        'SCHEDULE_INVALID',
        `schedule "${name}"`,
        validateSchedule(resource),
        'cairn schedule create',
      );
      if (printInsteadOfSubmitting(flags.output, resource, ctx.out)) return;
      const connection = await connectFromFlags(flags);
      try {
        const resources = new CairnResources(connection, flags.namespace);
        const created = await resources.create(SCHEDULE_PLURAL, resource);
        // Not a refusal: the location may be created after the schedule; the controller re-checks.
        const locations = await resources.list<BackupLocation>(BACKUP_LOCATION_PLURAL);
        for (const problem of storageLocationProblems(
          'spec.template.storageLocation',
          resource.spec.template.storageLocation,
          locations.map((l) => ({ name: l.metadata.name, ...l.spec })),
          'write',
        ))
          ctx.err(`warning: ${problem}\n`);
        const next = nextRun(created, new Date());
        ctx.out(
          `Schedule "${name}" created in ${flags.namespace}${resource.spec.paused ? ' (paused)' : ''}.` +
            (next.time === undefined ? '\n' : ` Next run: ${next.time}.\n`),
        );
      } finally {
        connection.close();
      }
    });

  addGetCommand<Schedule>(schedule, ctx.out, {
    plural: SCHEDULE_PLURAL,
    kind: 'Schedule',
    noun: 'schedules',
    columns: ['NAME', 'SCHEDULE', 'TIME ZONE', 'PAUSED', 'PHASE', 'LAST BACKUP', 'NEXT RUN', 'AGE'],
    row: (s, now) => [
      s.metadata.name,
      s.spec.schedule,
      s.spec.timeZone ?? 'UTC',
      String(s.spec.paused === true),
      s.status?.phase ?? '<pending>',
      s.status?.lastBackup ?? '<none>',
      nextRun(s, now).time ?? '<none>',
      shortAge(s.metadata.creationTimestamp, now),
    ],
  });

  addKubeOptions(
    schedule
      .command('describe')
      .argument('<name>', 'schedule name')
      .description('spec, status, next run, recent backups and what retention would keep')
      .option('--recent <n>', 'how many recent backups to list', '10')
      .option('-o, --output <format>', 'text, json or yaml', 'text'),
  ).action(async (name: string, flags: KubeFlags & { output: string; recent: string }) => {
    const format = parseOutputFormat(flags.output);
    const recent = count('recent', flags.recent);
    const connection = await connectFromFlags(flags);
    try {
      const resources = new CairnResources(connection, flags.namespace);
      const s = await resources.get<Schedule>(SCHEDULE_PLURAL, 'Schedule', name);
      const backups = await backupsOf(resources, name);
      const now = new Date();
      const next = nextRun(s, now);
      // What retention would do now: finished backups only (a running one is not history).
      const finished = backups.filter((b) => BACKUP_FINAL_PHASES.includes(b.status?.phase ?? 'New'));
      const plan = planRetention(
        finished.map((b) => ({
          name: b.metadata.name,
          time: new Date(b.status?.startTimestamp ?? b.metadata.creationTimestamp ?? now.toISOString()),
          good: b.status?.phase === 'Completed',
          ...(b.status?.expiration === undefined ? {} : { expiration: new Date(b.status.expiration) }),
        })),
        s.spec.retention ?? {},
        now,
        { timeZone: s.spec.timeZone ?? 'UTC' },
      );
      if (format !== 'text')
        return printStructured(
          { schedule: s, nextRunTime: next.time, backups: backups.slice(0, recent), retention: plan },
          format,
          ctx.out,
        );
      const st = s.status;
      const lines = [
        ['Name', s.metadata.name],
        ['Namespace', s.metadata.namespace ?? flags.namespace],
        ['Schedule', `${s.spec.schedule} (${s.spec.timeZone ?? 'UTC'})`],
        ['Paused', String(s.spec.paused === true)],
        ['Skip immediately', String(s.spec.skipImmediately === true)],
        ['Phase', st?.phase ?? '<pending: the controller has not seen it yet>'],
        ['Last backup', st?.lastBackup ?? '<none>'],
        [
          'Last successful',
          `${st?.lastSuccessfulBackup ?? '<none>'}${st?.lastSuccessfulTime ? ` (${st.lastSuccessfulTime})` : ''}`,
        ],
        [
          'Next run',
          next.time === undefined ? '<none>' : `${next.time}${next.computed ? ' (computed here)' : ''}`,
        ],
        ['Template', JSON.stringify(s.spec.template)],
        ['Retention', JSON.stringify(s.spec.retention ?? {})],
      ];
      for (const [k, v] of lines) ctx.out(`${`${k}:`.padEnd(18)}${v}\n`);
      for (const problem of st?.validationErrors ?? []) ctx.out(`  invalid: ${problem}\n`);
      ctx.out(`\nRecent backups (${Math.min(recent, backups.length)} of ${backups.length}):\n`);
      if (backups.length > 0)
        ctx.out(
          table(
            ['  NAME', 'PHASE', 'ITEMS', 'ERRORS', 'AGE'],
            backups
              .slice(0, recent)
              .map((b) => [
                `  ${b.metadata.name}`,
                b.status?.phase ?? 'New',
                String(b.status?.itemsBackedUp ?? '-'),
                String(b.status?.errors ?? '-'),
                shortAge(b.metadata.creationTimestamp, now),
              ]),
          ),
        );
      ctx.out(`\nRetention now: keep ${plan.keep.length}, delete ${plan.delete.length}\n`);
      for (const d of plan.delete) ctx.out(`  would delete ${d.name}: ${d.reason}\n`);
    } finally {
      connection.close();
    }
  });

  for (const [verb, paused] of [
    ['pause', true],
    ['unpause', false],
  ] as const) {
    addKubeOptions(
      schedule
        .command(verb)
        .argument('<name>', 'schedule name')
        .description(paused ? 'stop creating backups (existing ones stay)' : 'resume creating backups'),
    ).action(async (name: string, flags: KubeFlags) => {
      const connection = await connectFromFlags(flags);
      try {
        const resources = new CairnResources(connection, flags.namespace);
        const s = await resources.get<Schedule>(SCHEDULE_PLURAL, 'Schedule', name);
        if ((s.spec.paused === true) === paused) {
          ctx.out(`Schedule "${name}" is already ${paused ? 'paused' : 'running'}.\n`);
          return;
        }
        await resources.mergePatch(SCHEDULE_PLURAL, name, { spec: { paused } });
        ctx.out(
          `Schedule "${name}" ${paused ? 'paused' : 'unpaused'}.` +
            (paused
              ? '\n'
              : s.spec.skipImmediately
                ? ' It waits for its next slot (skipImmediately).\n'
                : ' A slot missed while paused runs now.\n'),
        );
      } finally {
        connection.close();
      }
    });
  }

  addKubeOptions(
    schedule
      .command('delete')
      .argument('<name>', 'schedule name')
      .description('delete a Schedule (its backups stay, in the cluster and in storage)')
      .option('--yes', 'really delete it'),
  ).action(async (name: string, flags: KubeFlags & { yes?: boolean }) => {
    const connection = await connectFromFlags(flags);
    try {
      const resources = new CairnResources(connection, flags.namespace);
      await resources.get<Schedule>(SCHEDULE_PLURAL, 'Schedule', name);
      if (!flags.yes)
        throw new CairnError('CONFIRMATION_REQUIRED', `deleting schedule "${name}" stops its backups`, {
          hint: 'Run again with --yes. Its existing backups are kept.',
        });
      await resources.delete(SCHEDULE_PLURAL, name);
      const kept = (await backupsOf(resources, name)).length;
      ctx.out(`Schedule "${name}" deleted; its ${kept} backup${kept === 1 ? '' : 's'} stay.\n`);
    } finally {
      connection.close();
    }
  });
}
