/** The `Schedule` kind: Backups on a cron schedule, with GFS retention. */
import { type Static, Type } from '@sinclair/typebox';
import { BackupSpecSchema } from './backup.ts';
import { API_VERSION, Duration, Name, resourceSchema, StringEnum, Timestamp } from './common.ts';

export const SCHEDULE_KIND = 'Schedule';
export const SCHEDULE_PLURAL = 'schedules';

export const SCHEDULE_PHASES = ['Enabled', 'Paused', 'FailedValidation'] as const;
export type SchedulePhase = (typeof SCHEDULE_PHASES)[number];

/** Never delete below this many good backups unless the Schedule says otherwise. */
export const DEFAULT_MIN_GOOD_BACKUPS = 1;

const Keep = (description: string) => Type.Optional(Type.Integer({ minimum: 0, description }));

export const RetentionSchema = Type.Object(
  {
    ttl: Type.Optional(
      Duration('delete backups older than this (unless a keep rule or the floor keeps them)'),
    ),
    keepLast: Keep('keep the N newest good backups'),
    keepHourly: Keep('keep the newest good backup of each of the N most recent hours that have one'),
    keepDaily: Keep('… of each of the N most recent days that have one'),
    keepWeekly: Keep('… of each of the N most recent ISO weeks that have one'),
    keepMonthly: Keep('… of each of the N most recent months that have one'),
    keepYearly: Keep('… of each of the N most recent years that have one'),
    minGoodBackups: Keep('never delete below this many good backups (default 1)'),
  },
  { additionalProperties: false },
);
export type RetentionPolicy = Static<typeof RetentionSchema>;

export const ScheduleSpecSchema = Type.Object(
  {
    schedule: Type.String({
      minLength: 1,
      description:
        'cron: 5 fields (minute hour day month weekday), @hourly/@daily/@weekly/@monthly/@yearly, or @every <duration>',
    }),
    timeZone: Type.Optional(
      Type.String({ minLength: 1, description: 'IANA time zone of the cron (default UTC)' }),
    ),
    template: BackupSpecSchema,
    paused: Type.Optional(Type.Boolean()),
    skipImmediately: Type.Optional(
      Type.Boolean({
        description: 'on creation or unpause, wait for the next slot instead of running a missed one',
      }),
    ),
    retention: Type.Optional(RetentionSchema),
  },
  { additionalProperties: false },
);
export type ScheduleSpec = Static<typeof ScheduleSpecSchema>;

export const ScheduleStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(SCHEDULE_PHASES)),
    validationErrors: Type.Optional(Type.Array(Type.String())),
    lastBackup: Type.Optional(Name('the newest Backup this schedule created')),
    lastSuccessfulBackup: Type.Optional(Name('the newest Completed Backup of this schedule')),
    lastScheduleTime: Type.Optional(Timestamp('the slot the last backup was created for')),
    lastSuccessfulTime: Type.Optional(Timestamp('completion of the newest Completed backup')),
    nextRunTime: Type.Optional(Timestamp('the next slot')),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type ScheduleStatus = Static<typeof ScheduleStatusSchema>;

export const ScheduleSchema = resourceSchema(SCHEDULE_KIND, ScheduleSpecSchema, ScheduleStatusSchema);
export type Schedule = Static<typeof ScheduleSchema>;

export function newSchedule(name: string, namespace: string, spec: ScheduleSpec): Schedule {
  return { apiVersion: API_VERSION, kind: SCHEDULE_KIND, metadata: { name, namespace }, spec };
}
