/**
 * Grandfather-father-son retention: which backups to keep and which to
 * delete. General on purpose — items are just a name, a time and whether they
 * are good — so Schedules (Backups) and `repo forget` (snapshots) share it.
 *
 * Semantics (restic `forget`, plus Velero's ttl and two safety rules):
 * - `keepLast N`: the N newest good items.
 * - `keepHourly N` (Daily, Weekly = ISO week, Monthly, Yearly): the newest
 *   good item in each of the N most recent hours (days, …) that HAVE a good
 *   item — an hour without backups does not use up a slot. Buckets are
 *   calendar periods in `timeZone` (default UTC).
 * - `ttl`: an item younger than its ttl (or its own `expiration`) is kept;
 *   an expired one is deleted unless a keep rule keeps it (rules are a union,
 *   as in restic: `keepMonthly 12` outlives `ttl 720h`).
 * - Failed (not good) items never fill a keep slot. They are kept only while
 *   unexpired under a ttl, and the newest failure is kept when it is newer
 *   than every good item (it explains why there is no newer good one).
 * - Floor: never fewer than `minGoodBackups` (default 1) good items are kept;
 *   the newest good item is never deleted, whatever the policy says.
 * - A policy with no rule at all (no ttl, no keep) keeps everything.
 *
 * The caller passes only finished items; a running backup is not history.
 */
import type { RetentionPolicy } from '../api/schedule.ts';
import { parseDuration } from '../util/duration.ts';

export interface RetentionItem {
  readonly name: string;
  /** When it was made (start of the backup / snapshot time). */
  readonly time: Date;
  /** Completed successfully (a PartiallyFailed backup is not good). */
  readonly good: boolean;
  /** Its own expiry (Backup.status.expiration); wins over the policy's ttl. */
  readonly expiration?: Date;
}

export interface RetentionPlan {
  /** Newest first, with every rule that keeps each. */
  readonly keep: { readonly name: string; readonly reasons: string[] }[];
  /** Newest first. */
  readonly delete: { readonly name: string; readonly reason: string }[];
}

export interface RetentionOptions {
  /** Time zone of the calendar buckets (default UTC). */
  readonly timeZone?: string;
}

const BUCKETS = [
  ['keepHourly', 'hourly'],
  ['keepDaily', 'daily'],
  ['keepWeekly', 'weekly'],
  ['keepMonthly', 'monthly'],
  ['keepYearly', 'yearly'],
] as const;
type BucketName = (typeof BUCKETS)[number][1];

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Calendar fields of an instant in a time zone. */
function calendar(time: Date, timeZone: string): { y: number; m: number; d: number; h: number } {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, number> = {};
  for (const p of f.formatToParts(time)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year ?? 0, m: parts.month ?? 0, d: parts.day ?? 0, h: parts.hour ?? 0 };
}

/** ISO 8601 week-numbering year and week of a calendar date. */
function isoWeek(y: number, m: number, d: number): { year: number; week: number } {
  const date = new Date(Date.UTC(y, m - 1, d));
  const dayOfWeek = date.getUTCDay() || 7; // Monday 1 … Sunday 7
  date.setUTCDate(date.getUTCDate() + 4 - dayOfWeek); // the Thursday of this week decides the year
  const year = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return { year, week };
}

type CalendarFields = ReturnType<typeof calendar>;

function bucketKey(bucket: BucketName, time: Date, fields: CalendarFields): string {
  const { y, m, d, h } = fields;
  const two = (n: number) => String(n).padStart(2, '0');
  switch (bucket) {
    case 'hourly': {
      // The UTC offset is part of the key: the repeated hour of a DST fall-back is two hours.
      const offset =
        Math.floor(time.getTime() / 3_600_000) - Math.floor(Date.UTC(y, m - 1, d, h) / 3_600_000);
      return `${y}-${two(m)}-${two(d)} ${two(h)}:00 ${offset}`;
    }
    case 'daily':
      return `${y}-${two(m)}-${two(d)}`;
    case 'weekly': {
      const w = isoWeek(y, m, d);
      return `${w.year}-W${two(w.week)}`;
    }
    case 'monthly':
      return `${y}-${two(m)}`;
    case 'yearly':
      return `${y}`;
  }
}

/** What to keep and delete of `history` under `policy` at `now` (see the module comment). */
export function planRetention(
  history: readonly RetentionItem[],
  policy: RetentionPolicy,
  now: Date,
  options: RetentionOptions = {},
): RetentionPlan {
  const timeZone = options.timeZone ?? 'UTC';
  const ttlMs = policy.ttl === undefined ? undefined : parseDuration(policy.ttl, 'ttl');
  const minGood = policy.minGoodBackups ?? 1;
  // Newest first; equal times by name so the plan never depends on input order.
  const items = [...history].sort(
    (a, b) => b.time.getTime() - a.time.getTime() || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0),
  );
  const reasons = new Map<string, string[]>(items.map((i) => [i.name, []]));
  const keepFor = (item: RetentionItem, reason: string) => reasons.get(item.name)?.push(reason);

  const hasRule =
    ttlMs !== undefined ||
    policy.keepLast !== undefined ||
    BUCKETS.some(([field]) => policy[field] !== undefined);
  if (!hasRule) {
    return { keep: items.map((i) => ({ name: i.name, reasons: ['no retention rule'] })), delete: [] };
  }

  const good = items.filter((i) => i.good);
  // One time-zone conversion per item (Intl is the expensive part), shared by every bucket rule.
  const fieldsOf = new Map<RetentionItem, CalendarFields>();
  const fields = (item: RetentionItem) => {
    let f = fieldsOf.get(item);
    if (f === undefined) {
      f = calendar(item.time, timeZone);
      fieldsOf.set(item, f);
    }
    return f;
  };
  if (policy.keepLast !== undefined)
    for (const item of good.slice(0, policy.keepLast)) keepFor(item, `keepLast ${policy.keepLast}`);
  for (const [field, bucket] of BUCKETS) {
    const wanted = policy[field];
    if (wanted === undefined || wanted === 0) continue;
    const seen = new Set<string>();
    for (const item of good) {
      if (seen.size >= wanted) break;
      const key = bucketKey(bucket, item.time, fields(item));
      if (seen.has(key)) continue;
      seen.add(key);
      keepFor(item, `${bucket} ${key.split(' ').slice(0, 2).join(' ')}`);
    }
  }

  const expiredReason = new Map<string, string>();
  for (const item of items) {
    const expiresAt =
      item.expiration?.getTime() ?? (ttlMs === undefined ? undefined : item.time.getTime() + ttlMs);
    if (expiresAt === undefined) continue;
    if (expiresAt > now.getTime())
      keepFor(item, item.expiration ? 'not expired' : `within ttl ${policy.ttl}`);
    else expiredReason.set(item.name, item.expiration ? 'expired' : `older than ttl ${policy.ttl}`);
  }

  const newestGood = good[0];
  if (newestGood !== undefined) keepFor(newestGood, 'newest good backup');
  const newestFailed = items.find((i) => !i.good);
  if (newestFailed !== undefined && (newestGood === undefined || newestFailed.time > newestGood.time))
    keepFor(newestFailed, 'newest failure, newer than any good backup (kept for diagnosis)');

  // Floor: bring back the newest deleted good items until minGoodBackups are kept.
  let goodKept = good.filter((i) => (reasons.get(i.name)?.length ?? 0) > 0).length;
  for (const item of good) {
    if (goodKept >= minGood) break;
    const r = reasons.get(item.name);
    if (r !== undefined && r.length === 0) {
      r.push(`minGoodBackups ${minGood}`);
      goodKept++;
    }
  }

  const plan: RetentionPlan = { keep: [], delete: [] };
  for (const item of items) {
    const r = reasons.get(item.name) ?? [];
    if (r.length > 0) plan.keep.push({ name: item.name, reasons: r });
    else
      plan.delete.push({
        name: item.name,
        reason: expiredReason.get(item.name) ?? (item.good ? 'not kept by any rule' : 'failed backup'),
      });
  }
  return plan;
}
