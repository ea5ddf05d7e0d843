/**
 * `repo forget --keep-*`: which snapshots a retention policy keeps, with
 * restic's semantics (so users moving from restic/VolSync get what they
 * expect), and removing the others' snapshot files. Data is only freed by a
 * later `prune` (or `forget --prune`).
 *
 * restic's rules, as implemented here:
 * - snapshots are grouped (by host and paths by default) and each group is
 *   judged on its own, newest first;
 * - `keepLast n` keeps the n newest;
 * - `keepHourly/Daily/Weekly/Monthly/Yearly n` keep the newest snapshot of
 *   each of the n most recent hours/days/ISO weeks/months/years *that have a
 *   snapshot* (calendar buckets in the local time zone, as restic);
 * - `keepWithin d` keeps every snapshot younger than d, measured back from the
 *   group's **newest snapshot**, not from now (a paused schedule does not
 *   age its last backups out);
 * - a snapshot kept by any rule is kept; the reasons are reported.
 * An empty policy is refused rather than read as "keep nothing".
 */
import { repositoryError } from './errors.ts';
import { repositoryLayout } from './format.ts';
import type { Repository } from './repository.ts';
import { listSnapshots, type SnapshotRef } from './snapshot.ts';

export interface RetentionPolicy {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
  /** Calendar duration back from the group's newest snapshot (restic's `--keep-within 1y2m3d4h`). */
  readonly keepWithin?: KeepWithin;
}

export interface KeepWithin {
  readonly years: number;
  readonly months: number;
  readonly days: number;
  readonly hours: number;
}

export type GroupKey = 'host' | 'paths';

export interface ForgetDecision {
  readonly id: string;
  readonly time: string;
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly keep: boolean;
  /** Rules that keep it (`last`, `daily`, `within`, ...). */
  readonly reasons: readonly string[];
}

export interface ForgetGroup {
  readonly group: { readonly hostname?: string; readonly paths?: readonly string[] };
  readonly decisions: ForgetDecision[];
}

export interface ForgetReport {
  readonly groups: ForgetGroup[];
  readonly kept: number;
  readonly removed: number;
  readonly dryRun: boolean;
}

const BUCKETS: ReadonlyArray<{ rule: keyof RetentionPolicy; reason: string; bucket: (t: Date) => number }> = [
  {
    rule: 'keepHourly',
    reason: 'hourly',
    bucket: (t) => ((t.getFullYear() * 100 + t.getMonth() + 1) * 100 + t.getDate()) * 100 + t.getHours(),
  },
  {
    rule: 'keepDaily',
    reason: 'daily',
    bucket: (t) => (t.getFullYear() * 100 + t.getMonth() + 1) * 100 + t.getDate(),
  },
  { rule: 'keepWeekly', reason: 'weekly', bucket: isoWeek },
  { rule: 'keepMonthly', reason: 'monthly', bucket: (t) => t.getFullYear() * 100 + t.getMonth() + 1 },
  { rule: 'keepYearly', reason: 'yearly', bucket: (t) => t.getFullYear() },
];

/** ISO 8601 year*100+week of a local date (as Go's `Time.ISOWeek`, which restic uses). */
function isoWeek(t: Date): number {
  const d = new Date(t.getFullYear(), t.getMonth(), t.getDate());
  const day = (d.getDay() + 6) % 7; // Monday = 0
  d.setDate(d.getDate() - day + 3); // the Thursday of this week decides its year
  const year = d.getFullYear();
  const firstThursday = new Date(year, 0, 4);
  firstThursday.setDate(firstThursday.getDate() - ((firstThursday.getDay() + 6) % 7) + 3);
  const week = 1 + Math.round((d.getTime() - firstThursday.getTime()) / (7 * 24 * 3600 * 1000));
  return year * 100 + week;
}

export function isEmptyPolicy(p: RetentionPolicy): boolean {
  const within = p.keepWithin;
  const withinEmpty = within === undefined || within.years + within.months + within.days + within.hours === 0;
  return withinEmpty && BUCKETS.every((b) => !((p[b.rule] as number | undefined) ?? 0)) && !(p.keepLast ?? 0);
}

/**
 * Applies a policy to one group of snapshots (any order); returns a decision
 * per snapshot, newest first. Pure: the unit tests pin restic's semantics.
 */
export function applyPolicy(
  snapshots: ReadonlyArray<{ id: string; time: string; hostname: string; paths: readonly string[] }>,
  policy: RetentionPolicy,
): ForgetDecision[] {
  const sorted = [...snapshots].sort(
    (a, b) => Date.parse(b.time) - Date.parse(a.time) || b.id.localeCompare(a.id),
  );
  // restic: kept when after latest.AddDate(-y, -m, -d).Add(-h).
  let withinFrom = Number.POSITIVE_INFINITY;
  const w = policy.keepWithin;
  if (w !== undefined && sorted[0] !== undefined) {
    const d = new Date(sorted[0].time);
    d.setFullYear(d.getFullYear() - w.years, d.getMonth() - w.months, d.getDate() - w.days);
    withinFrom = d.getTime() - w.hours * 3600 * 1000;
  }
  let last = policy.keepLast ?? 0;
  const left = BUCKETS.map((b) => ({
    ...b,
    count: (policy[b.rule] as number | undefined) ?? 0,
    seen: Number.NaN,
  }));
  return sorted.map((s) => {
    const reasons: string[] = [];
    const t = new Date(s.time);
    if (last > 0) {
      reasons.push('last');
      last--;
    }
    for (const b of left) {
      if (b.count <= 0) continue;
      const value = b.bucket(t);
      if (value !== b.seen) {
        b.seen = value;
        b.count--;
        reasons.push(b.reason);
      }
    }
    if (t.getTime() > withinFrom) {
      reasons.push('within');
    }
    return {
      id: s.id,
      time: s.time,
      hostname: s.hostname,
      paths: s.paths,
      keep: reasons.length > 0,
      reasons,
    };
  });
}

/** Groups snapshots (by host and/or paths; one group with neither) and applies the policy to each. */
export function planForget(
  snapshots: readonly SnapshotRef[],
  policy: RetentionPolicy,
  groupBy: readonly GroupKey[] = ['host', 'paths'],
): ForgetGroup[] {
  if (isEmptyPolicy(policy)) {
    throw repositoryError('REPOSITORY_POLICY_MISSING', 'no --keep-* option was given', {
      hint: 'Say what to keep, e.g. `--keep-daily 7 --keep-weekly 5`; forget never removes everything by default.',
    });
  }
  const groups = new Map<string, { group: ForgetGroup['group']; members: SnapshotRef[] }>();
  for (const ref of snapshots) {
    const group = {
      ...(groupBy.includes('host') ? { hostname: ref.snapshot.hostname } : {}),
      ...(groupBy.includes('paths') ? { paths: [...ref.snapshot.paths].sort() } : {}),
    };
    const key = JSON.stringify(group);
    const found = groups.get(key);
    if (found === undefined) groups.set(key, { group, members: [ref] });
    else found.members.push(ref);
  }
  return [...groups.values()].map(({ group, members }) => ({
    group,
    decisions: applyPolicy(
      members.map((m) => ({
        id: m.id,
        time: m.snapshot.time,
        hostname: m.snapshot.hostname,
        paths: m.snapshot.paths,
      })),
      policy,
    ),
  }));
}

/** Decides and (unless `dryRun`) deletes the snapshot files the policy does not keep. */
export async function forget(
  repo: Repository,
  options: { policy: RetentionPolicy; groupBy?: readonly GroupKey[]; dryRun?: boolean },
): Promise<ForgetReport> {
  const { snapshots } = await listSnapshots(repo);
  const groups = planForget(snapshots, options.policy, options.groupBy);
  let kept = 0;
  let removed = 0;
  for (const g of groups) {
    for (const d of g.decisions) {
      if (d.keep) kept++;
      else {
        removed++;
        if (options.dryRun !== true) await repo.store.delete(repositoryLayout.snapshot(d.id));
      }
    }
  }
  return { groups, kept, removed, dryRun: options.dryRun === true };
}

/** Parses restic's `--keep-within` durations: a combination of `<n>y`, `<n>m` (months), `<n>d`, `<n>h`. */
export function parseKeepWithin(text: string): KeepWithin {
  const m = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$/.exec(text.trim());
  if (m === null || text.trim() === '') {
    throw repositoryError('REPOSITORY_POLICY_MISSING', `"${text}" is not a duration`, {
      hint: "Use restic's form: a combination of <n>y, <n>m (months), <n>d, <n>h, e.g. `1y6m` or `7d12h`.",
    });
  }
  const n = (i: number) => Number(m[i] ?? 0);
  return { years: n(1), months: n(2), days: n(3), hours: n(4) };
}
