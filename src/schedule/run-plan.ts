/**
 * When a Schedule runs and what its Backup is called — pure functions of the
 * schedule, its status and an injected "now", so the controller and the tests
 * agree and no test waits for a real clock.
 *
 * Rules (after Velero's schedule controller):
 * - a slot is a time the cron expression produces (in the schedule's time
 *   zone; croner handles DST: a fixed-time slot in a spring-forward gap runs
 *   at the first valid time after it, one in a repeated hour runs once);
 * - a schedule that never ran runs immediately on creation, unless
 *   `skipImmediately` — then it waits for the first slot after creation (or
 *   after `resumedAt`, when it was unpaused);
 * - after downtime or a pause, the missed slots are caught up with ONE run,
 *   for the latest missed slot — never a burst;
 * - the Backup's name comes from the slot (`<schedule>-<UTC yyyymmddhhmmss>`),
 *   so a retry or a second controller computes the same name and the API
 *   server's AlreadyExists stops a second run of the same slot.
 */
import { parseSchedule } from '../api/cron.ts';

export interface ScheduleRunInput {
  /** The cron expression (`0 2 * * *`, `@daily`, `@every 6h`). */
  readonly schedule: string;
  /** IANA time zone of the cron (default UTC). */
  readonly timeZone?: string;
  readonly paused?: boolean;
  readonly skipImmediately?: boolean;
  /** `metadata.creationTimestamp` of the Schedule. */
  readonly createdAt: Date;
  /** `status.lastScheduleTime`: the slot of the last Backup this schedule created. */
  readonly lastScheduleTime?: Date;
  /** When the schedule was last unpaused (with skipImmediately, slots before it are skipped). */
  readonly resumedAt?: Date;
  readonly now: Date;
}

export type ScheduleRunPlan =
  | { readonly due: false; readonly nextRunTime?: Date }
  | {
      readonly due: true;
      /** The slot this run is for (a missed slot, or `now` for an immediate first run). */
      readonly slot: Date;
      /** The slot after this run (`status.nextRunTime` once the backup is created). */
      readonly nextRunTime?: Date;
    };

/** The first slot strictly after `after`; undefined when the expression has no more. */
export function nextRunAfter(schedule: string, after: Date, timeZone = 'UTC'): Date | undefined {
  const parsed = parseSchedule(schedule, timeZone);
  if (parsed.kind === 'every') return new Date(after.getTime() + parsed.intervalMs);
  return parsed.cron.nextRun(after) ?? undefined;
}

/** The latest slot in (after, now], or undefined when none is due. */
export function latestDueSlot(schedule: string, after: Date, now: Date, timeZone = 'UTC'): Date | undefined {
  const parsed = parseSchedule(schedule, timeZone);
  if (parsed.kind === 'every') {
    const periods = Math.floor((now.getTime() - after.getTime()) / parsed.intervalMs);
    return periods >= 1 ? new Date(after.getTime() + periods * parsed.intervalMs) : undefined;
  }
  const first = parsed.cron.nextRun(after);
  if (first === null || first.getTime() > now.getTime()) return undefined;
  // previousRuns is exclusive of its reference; +1 ms makes a slot exactly at `now` due.
  const [latest] = parsed.cron.previousRuns(1, new Date(now.getTime() + 1));
  return latest !== undefined && latest.getTime() >= first.getTime() ? latest : first;
}

/** Whether a Schedule must create a Backup now, for which slot, and when it runs next. */
export function planScheduleRun(input: ScheduleRunInput): ScheduleRunPlan {
  const timeZone = input.timeZone ?? 'UTC';
  if (input.paused) return { due: false };
  let floor = input.lastScheduleTime;
  if (input.skipImmediately) {
    const start = input.resumedAt ?? input.createdAt;
    if (floor === undefined || start.getTime() > floor.getTime()) floor = start;
  }
  if (floor === undefined) {
    // Never ran: an immediate run whose slot is now (to the second, as names are).
    const slot = new Date(Math.floor(input.now.getTime() / 1000) * 1000);
    return withNext({ due: true, slot }, input.schedule, slot, timeZone, input.now);
  }
  const slot = latestDueSlot(input.schedule, floor, input.now, timeZone);
  if (slot === undefined) {
    const next = nextRunAfter(input.schedule, floor, timeZone);
    return next === undefined ? { due: false } : { due: false, nextRunTime: next };
  }
  return withNext({ due: true, slot }, input.schedule, slot, timeZone, input.now);
}

function withNext(
  plan: { due: true; slot: Date },
  schedule: string,
  slot: Date,
  timeZone: string,
  now: Date,
): ScheduleRunPlan {
  // For @every the next slot counts from this one; for cron, the first slot after now.
  const after = slot.getTime() > now.getTime() ? slot : now;
  const next = /^@every\s/.test(schedule.trim())
    ? nextRunAfter(schedule, slot, timeZone)
    : nextRunAfter(schedule, after, timeZone);
  return next === undefined ? plan : { ...plan, nextRunTime: next };
}

/** `20260325021500` — the UTC time of a slot as backup names carry it. */
export function compactUtcSeconds(time: Date): string {
  return time
    .toISOString()
    .replace(/\.\d{3}Z$/, '')
    .replace(/[-:T]/g, '');
}

/** The Backup a schedule creates for a slot: `<schedule>-<UTC yyyymmddhhmmss>`. */
export function scheduledBackupName(schedule: string, slot: Date): string {
  return `${schedule}-${compactUtcSeconds(slot)}`;
}

/** The schedule and slot a scheduled backup's name encodes; undefined for other names. */
export function parseScheduledBackupName(name: string): { schedule: string; slot: Date } | undefined {
  const match = /^(.+)-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(name);
  if (match === null) return undefined;
  const [, schedule = '', y, mo, d, h, mi, s] = match;
  const slot = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  if (Number.isNaN(slot.getTime()) || compactUtcSeconds(slot) !== name.slice(schedule.length + 1))
    return undefined;
  return { schedule, slot };
}

/** The longest Schedule name (the `cairn.dev/schedule` label value of its backups). */
export { MAX_SCHEDULE_NAME_LENGTH as MAX_SCHEDULE_NAME } from '../api/validation.ts';
