/**
 * Retention over a snapshot history, as a pure function (the controller's
 * EtcdBackup reconciler and the one-shot `snapshot prune` share it), and the
 * prune that applies it.
 *
 * Defaults follow kops' etcd-manager: a snapshot every 15 minutes, every
 * snapshot kept for an hour, the newest of each hour for a week, the newest of
 * each day for a year — plus a floor: the newest `minKeep` complete snapshots
 * are never pruned, whatever their age (a pipeline that stopped must not
 * also lose its last good snapshots to retention).
 */

import { layout } from '../catalog/layout.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { parseDuration } from '../util/duration.ts';
import { MANIFEST_FILE, SNAPSHOT_FILE, type SnapshotEntry } from './catalog.ts';
import type { EtcdRetentionSpec } from './spec.ts';

export interface RetentionPolicy {
  readonly keepAllForMs: number;
  readonly hourlyForMs: number;
  readonly dailyForMs: number;
  readonly minKeep: number;
  /** An incomplete snapshot younger than this may still be uploading; default 24 h. */
  readonly incompleteGraceMs: number;
}

export function retentionPolicy(spec: EtcdRetentionSpec): RetentionPolicy {
  return {
    keepAllForMs: parseDuration(spec.keepAllFor, 'retention.keepAllFor'),
    hourlyForMs: parseDuration(spec.hourlyFor, 'retention.hourlyFor'),
    dailyForMs: parseDuration(spec.dailyFor, 'retention.dailyFor'),
    minKeep: spec.minKeep,
    incompleteGraceMs: 24 * 3_600_000,
  };
}

/** One snapshot as retention sees it. */
export interface RetentionItem {
  readonly id: string;
  readonly takenAt: Date;
  readonly complete: boolean;
}

export type KeepReason = 'recent' | 'hourly' | 'daily' | 'min-keep' | 'in-progress' | 'future';

export interface RetentionPlan {
  /** Kept snapshots, newest first, with every reason that keeps them. */
  readonly keep: { id: string; reasons: KeepReason[] }[];
  /** Snapshots to delete, oldest first, with why. */
  readonly prune: { id: string; reason: string }[];
}

/** Decides which snapshots to keep. Pure: same history, policy and time, same plan. */
export function planRetention(
  history: readonly RetentionItem[],
  policy: RetentionPolicy,
  now: Date,
): RetentionPlan {
  const newestFirst = [...history].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
  const reasons = new Map<string, KeepReason[]>();
  const add = (id: string, reason: KeepReason) => reasons.set(id, [...(reasons.get(id) ?? []), reason]);
  const seenHours = new Set<string>();
  const seenDays = new Set<string>();
  let complete = 0;
  const prune: { id: string; reason: string }[] = [];
  for (const item of newestFirst) {
    const age = now.getTime() - item.takenAt.getTime();
    if (Number.isNaN(age) || age < 0) {
      add(item.id, 'future');
      continue;
    }
    if (!item.complete) {
      if (age < policy.incompleteGraceMs) add(item.id, 'in-progress');
      else prune.push({ id: item.id, reason: 'incomplete (no manifest) for more than the grace period' });
      continue;
    }
    complete++;
    if (complete <= policy.minKeep) add(item.id, 'min-keep');
    if (age < policy.keepAllForMs) add(item.id, 'recent');
    const iso = item.takenAt.toISOString();
    const hour = iso.slice(0, 13);
    const day = iso.slice(0, 10);
    if (age < policy.hourlyForMs && !seenHours.has(hour)) add(item.id, 'hourly');
    if (age < policy.dailyForMs && !seenDays.has(day)) add(item.id, 'daily');
    seenHours.add(hour);
    seenDays.add(day);
    if (!reasons.has(item.id)) {
      prune.push({
        id: item.id,
        reason:
          age >= policy.dailyForMs
            ? 'older than the daily retention'
            : age >= policy.hourlyForMs
              ? 'not the newest of its day'
              : 'not the newest of its hour',
      });
    }
  }
  return {
    keep: newestFirst
      .filter((i) => reasons.has(i.id))
      .map((i) => ({ id: i.id, reasons: reasons.get(i.id) ?? [] })),
    prune: prune.reverse(),
  };
}

export interface PruneResult {
  readonly deleted: string[];
  readonly failed: { id: string; error: string }[];
}

/**
 * Deletes the snapshots a plan prunes. Order per snapshot: the manifest
 * FIRST, so a half-deleted snapshot is never listed as complete (and is
 * pruned again, as incomplete, on the next run), then the data, then anything
 * else in the folder. Under object lock a delete may be refused: the snapshot
 * then stays (complete, if the manifest survived) and is reported as failed.
 */
export async function pruneSnapshots(
  store: BlobStore,
  cluster: string,
  plan: RetentionPlan,
  entries: readonly SnapshotEntry[],
): Promise<PruneResult> {
  const deleted: string[] = [];
  const failed: { id: string; error: string }[] = [];
  for (const { id } of plan.prune) {
    const files = entries.find((e) => e.id === id)?.files ?? [MANIFEST_FILE, SNAPSHOT_FILE];
    const ordered = [
      MANIFEST_FILE,
      SNAPSHOT_FILE,
      ...files.filter((f) => f !== MANIFEST_FILE && f !== SNAPSHOT_FILE),
    ];
    try {
      for (const file of ordered) await store.delete(`${layout.etcdSnapshotPrefix(cluster, id)}${file}`);
      deleted.push(id);
    } catch (err) {
      failed.push({ id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { deleted, failed };
}
