import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { layout } from '../catalog/layout.ts';
import { MemoryBlobStore } from '../storage/memory/memory-store.ts';
import { FaultyBlobStore } from '../storage/wrappers/faulty-store.ts';
import { compactUtc, listSnapshots } from './catalog.ts';
import { planRetention, pruneSnapshots, type RetentionItem, retentionPolicy } from './retention.ts';
import { DEFAULT_RETENTION } from './spec.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const policy = retentionPolicy(DEFAULT_RETENTION);
const now = new Date('2026-06-15T12:07:00Z');

/** A snapshot every `every` ms, from `from` ms ago up to `to` ms ago. */
function history(from: number, to: number, every: number): RetentionItem[] {
  const items: RetentionItem[] = [];
  for (let age = from; age >= to; age -= every) {
    const takenAt = new Date(now.getTime() - age);
    items.push({ id: `${compactUtc(takenAt)}-${items.length + 1}`, takenAt, complete: true });
  }
  return items;
}

describe('planRetention (kops defaults: 15 min, all for 1 h, hourly for 1 week, daily for 1 year)', () => {
  const items = history(400 * DAY, 0, 15 * MIN);
  const plan = planRetention(items, policy, now);
  const kept = new Map(plan.keep.map((k) => [k.id, k]));
  const byId = new Map(items.map((i) => [i.id, i]));

  it('keeps every snapshot of the last hour', () => {
    const recent = items.filter((i) => now.getTime() - i.takenAt.getTime() < HOUR);
    assert.equal(recent.length, 4);
    for (const r of recent) assert.ok(kept.get(r.id)?.reasons.includes('recent'));
  });

  it('keeps the newest snapshot of each hour for a week, and of each day for a year', () => {
    const hours = new Map<string, string[]>();
    const days = new Map<string, string[]>();
    for (const k of plan.keep) {
      const takenAt = byId.get(k.id)?.takenAt as Date;
      const iso = takenAt.toISOString();
      if (k.reasons.includes('hourly'))
        hours.set(iso.slice(0, 13), [...(hours.get(iso.slice(0, 13)) ?? []), k.id]);
      if (k.reasons.includes('daily'))
        days.set(iso.slice(0, 10), [...(days.get(iso.slice(0, 10)) ?? []), k.id]);
    }
    // 168 hours back from 12:07 touch 168 hour buckets (12:00 today … 13:00 seven days ago) + the partial one.
    assert.ok(hours.size >= 168 && hours.size <= 169, `${hours.size} hourly`);
    assert.ok([...hours.values()].every((ids) => ids.length === 1));
    assert.ok(days.size >= 365 && days.size <= 366, `${days.size} daily`);
    assert.ok([...days.values()].every((ids) => ids.length === 1));
    // The hourly keeper is the newest of its hour: :45 (or the newest one so far this hour).
    const lastWeek = [...hours.values()].map((ids) => byId.get(ids[0] as string)?.takenAt.getUTCMinutes());
    assert.ok(lastWeek.filter((m) => m === 52).length >= 167, 'newest (xx:52) of each full hour');
  });

  it('prunes everything older than a year, and the rest of each hour/day', () => {
    const total = items.length;
    assert.equal(plan.keep.length + plan.prune.length, total);
    assert.ok(plan.keep.length < 4 + 169 + 366, `${plan.keep.length} kept`);
    for (const p of plan.prune) {
      const age = now.getTime() - (byId.get(p.id)?.takenAt.getTime() ?? 0);
      if (age >= 365 * DAY) assert.equal(p.reason, 'older than the daily retention');
    }
    assert.ok(plan.prune.every((p) => !kept.has(p.id)));
    // Oldest first.
    const times = plan.prune.map((p) => byId.get(p.id)?.takenAt.getTime() ?? 0);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
  });

  it('is stable: planning again over what was kept prunes nothing', () => {
    const again = planRetention(
      items.filter((i) => kept.has(i.id)),
      policy,
      now,
    );
    assert.deepEqual(again.prune, []);
  });

  it('never drops below minKeep when the pipeline stopped long ago', () => {
    const stale = history(800 * DAY, 500 * DAY, DAY);
    const stalePlan = planRetention(stale, policy, now);
    assert.deepEqual(
      stalePlan.keep.map((k) => k.reasons),
      [['min-keep'], ['min-keep'], ['min-keep']],
    );
    assert.equal(stalePlan.keep[0]?.id, stale.at(-1)?.id, 'the newest are the ones kept');
    assert.equal(stalePlan.prune.length, stale.length - 3);
  });

  it('keeps young incomplete snapshots (maybe uploading) and prunes old ones; min-keep counts complete ones only', () => {
    const mixed: RetentionItem[] = [
      ...history(3 * DAY, 2 * DAY, DAY),
      { id: 'inc-old', takenAt: new Date(now.getTime() - 30 * HOUR), complete: false },
      { id: 'inc-new', takenAt: new Date(now.getTime() - 10 * MIN), complete: false },
      { id: 'future', takenAt: new Date(now.getTime() + HOUR), complete: true },
    ];
    const p = planRetention(mixed, { ...policy, minKeep: 1 }, now);
    assert.deepEqual(
      p.prune.map((x) => x.id),
      ['inc-old'],
    );
    assert.deepEqual(p.keep.find((k) => k.id === 'inc-new')?.reasons, ['in-progress']);
    assert.deepEqual(p.keep.find((k) => k.id === 'future')?.reasons, ['future']);
  });
});

describe('pruneSnapshots', () => {
  it('deletes the manifest first, so a half-deleted snapshot is never listed as complete', async () => {
    const memory = new MemoryBlobStore();
    const store = new FaultyBlobStore(memory);
    const ids = ['20200101T000000Z-5', '20200102T000000Z-9', '20260615T120000Z-20'];
    for (const id of ids) {
      await store.put(layout.etcdSnapshotData('main', id), 'db');
      await store.put(layout.etcdSnapshotManifest('main', id), '{}');
    }
    const entries = await listSnapshots(store, 'main');
    const plan = planRetention(entries, { ...policy, minKeep: 1 }, now);
    assert.deepEqual(
      plan.prune.map((p) => p.id),
      ids.slice(0, 2),
    );
    // The data of the second snapshot cannot be deleted (object lock, a permission).
    store.inject({
      operation: 'delete',
      key: layout.etcdSnapshotData('main', ids[1] as string),
      failure: 'access-denied',
    });
    const result = await pruneSnapshots(store, 'main', plan, entries);
    assert.deepEqual(result.deleted, [ids[0]]);
    assert.equal(result.failed[0]?.id, ids[1]);
    const after = await listSnapshots(store, 'main');
    assert.deepEqual(
      after.map((e) => [e.id, e.complete]),
      [
        [ids[1], false],
        [ids[2], true],
      ],
    );
    // Next run: the leftover is incomplete and old, so it goes.
    store.heal();
    const next = planRetention(after, { ...policy, minKeep: 1 }, now);
    assert.deepEqual(
      next.prune.map((p) => p.id),
      [ids[1]],
    );
    await pruneSnapshots(store, 'main', next, after);
    assert.deepEqual(
      (await listSnapshots(store, 'main')).map((e) => e.id),
      [ids[2]],
    );
  });
});
