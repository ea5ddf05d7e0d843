/**
 * The grammar of `Schedule.spec.schedule`: standard 5-field cron and the
 * nicknames (`@hourly`, `@daily`, …) through croner, plus `@every <duration>`
 * (Velero/robfig-cron's fixed interval), which croner does not have. Here, in
 * the API folder, so that validation and the scheduler parse the same way.
 */
import { Cron } from 'croner';
import { parseDuration } from '../util/duration.ts';

export type ParsedSchedule =
  | { readonly kind: 'cron'; readonly cron: Cron; readonly timeZone: string }
  | { readonly kind: 'every'; readonly intervalMs: number };

/** Whether `name` is an IANA time zone this runtime knows (`UTC`, `Europe/Berlin`). */
export function isKnownTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses a schedule expression; throws an Error whose message says what is
 * wrong (validation turns it into a string, the scheduler never sees an
 * invalid one).
 */
export function parseSchedule(expression: string, timeZone = 'UTC'): ParsedSchedule {
  const text = expression.trim();
  const every = /^@every\s+(\S+)$/.exec(text);
  if (every !== null) {
    const intervalMs = parseDuration(every[1] ?? '', '@every interval');
    if (intervalMs < 60_000) throw new Error('@every needs an interval of at least 1m');
    return { kind: 'every', intervalMs };
  }
  if (!isKnownTimeZone(timeZone))
    throw new Error(`unknown time zone "${timeZone}" (use an IANA name such as Europe/Berlin)`);
  let cron: Cron;
  try {
    // 5-part: minute precision, as Kubernetes CronJobs and Velero schedules; no seconds field.
    cron = new Cron(text, { timezone: timeZone, mode: '5-part' });
  } catch (err) {
    throw new Error(`invalid cron "${text}": ${(err as Error).message.replace(/^CronPattern: /, '')}`);
  }
  if (cron.nextRun() === null) throw new Error(`cron "${text}" never fires (no such date)`);
  return { kind: 'cron', cron, timeZone };
}
