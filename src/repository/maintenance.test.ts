import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isCairnError } from '../errors/cairn-error.ts';
import { MemoryBlobStore } from '../storage/memory/memory-store.ts';
import { backup } from './backup.ts';
import { checkRepository, inSubset, parseDataSubset } from './check.ts';
import { diffSnapshots } from './diff.ts';
import { applyPolicy, forget, parseKeepWithin, planForget } from './forget.ts';
import { repositoryLayout } from './format.ts';
import { prune } from './prune.ts';
import { repairIndex } from './repair.ts';
import { initRepository, Repository } from './repository.ts';
import { restore } from './restore.ts';
import { resolveSnapshot } from './snapshot.ts';

const FAST = {
  password: 'pw',
  createdBy: 'test',
  scrypt: { N: 1024, r: 8, p: 1 },
  chunker: { algorithm: 'fastcdc-gear32-v1', minSize: 4096, avgSize: 16384, maxSize: 65536 },
  packSize: 256 * 1024,
} as const;

/** Local-time snapshots, as restic's calendar buckets are local. */
function at(y: number, mo: number, d: number, h = 12, mi = 0) {
  const t = new Date(y, mo - 1, d, h, mi);
  return { id: t.toISOString(), time: t.toISOString(), hostname: 'h', paths: ['/p'] };
}

function kept(decisions: ReturnType<typeof applyPolicy>): string[] {
  return decisions.filter((d) => d.keep).map((d) => d.time);
}

describe('forget policy (restic semantics)', () => {
  const days = Array.from({ length: 40 }, (_, i) => at(2026, 1, 1 + i)); // Jan 1 .. Feb 9
  const twice = [...days, ...days.map((s) => at(...(dateParts(s.time) as [number, number, number]), 18))];

  it('keeps the last n, and the newest of each of the last n days that have one', () => {
    assert.deepEqual(
      kept(applyPolicy(days, { keepLast: 3 })),
      days
        .slice(-3)
        .reverse()
        .map((s) => s.time),
    );
    const daily = kept(applyPolicy(twice, { keepDaily: 3 }));
    assert.equal(daily.length, 3);
    assert.ok(
      daily.every((t) => new Date(t).getHours() === 18),
      'the newest of each day',
    );
  });

  it('counts only buckets that have snapshots, and rules add up', () => {
    const sparse = [at(2026, 1, 1), at(2026, 1, 10), at(2026, 3, 5), at(2026, 3, 6)];
    assert.deepEqual(
      kept(applyPolicy(sparse, { keepDaily: 3 })),
      [sparse[3], sparse[2], sparse[1]].map((s) => s?.time),
    );
    assert.deepEqual(
      kept(applyPolicy(sparse, { keepMonthly: 2 })),
      [sparse[3], sparse[1]].map((s) => s?.time),
    );
    const both = applyPolicy(sparse, { keepLast: 1, keepMonthly: 2 });
    assert.deepEqual(both[0]?.reasons, ['last', 'monthly']);
    assert.deepEqual(kept(both).length, 2);
  });

  it('buckets weeks by ISO week (Monday first; the first days of January may belong to the old year)', () => {
    // 2026-01-04 is a Sunday (ISO week 1 of 2026), 2026-01-05 a Monday (week 2).
    const s = [at(2025, 12, 29), at(2026, 1, 4), at(2026, 1, 5)];
    assert.deepEqual(
      kept(applyPolicy(s, { keepWeekly: 5 })),
      [s[2], s[1]].map((x) => x?.time),
    );
  });

  it('keep-within counts back from the newest snapshot, not from now', () => {
    const within = applyPolicy(days, { keepWithin: parseKeepWithin('3d') });
    assert.equal(kept(within).length, 3, 'Feb 9, 8, 7 (Feb 6 12:00 is not after Feb 6 12:00)');
    assert.deepEqual(parseKeepWithin('1y2m3d4h'), { years: 1, months: 2, days: 3, hours: 4 });
    assert.throws(
      () => parseKeepWithin('3w'),
      (err) => isCairnError(err, 'REPOSITORY_POLICY_MISSING'),
    );
  });

  it('refuses an empty policy and groups by host and paths', () => {
    assert.throws(
      () => planForget([], {}),
      (err) => isCairnError(err, 'REPOSITORY_POLICY_MISSING'),
    );
    const refs = [
      { id: 'a', snapshot: { time: '2026-01-01T00:00:00Z', hostname: 'x', paths: ['/p'] } },
      { id: 'b', snapshot: { time: '2026-01-02T00:00:00Z', hostname: 'y', paths: ['/p'] } },
    ] as unknown as Parameters<typeof planForget>[0];
    assert.equal(planForget(refs, { keepLast: 1 }).length, 2);
    assert.equal(planForget(refs, { keepLast: 1 }, []).length, 1);
  });
});

function dateParts(iso: string): number[] {
  const d = new Date(iso);
  return [d.getFullYear(), d.getMonth() + 1, d.getDate()];
}

describe('data subsets', () => {
  it('selects packs deterministically by id', () => {
    const ids = Array.from({ length: 2000 }, () => randomBytes(32).toString('hex'));
    const groups = [1, 2, 3].map((n) => ids.filter((id) => inSubset(id, parseDataSubset(`${n}/3`))));
    assert.equal(
      groups.reduce((a, g) => a + g.length, 0),
      ids.length,
      'n/m partitions the packs',
    );
    const tenth = ids.filter((id) => inSubset(id, parseDataSubset('10%'))).length;
    assert.ok(tenth > 100 && tenth < 320, `${tenth}`);
    assert.throws(() => parseDataSubset('4/3'));
    assert.throws(() => parseDataSubset('0%'));
  });
});

describe('maintenance on a memory store', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-maint-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('forgets, prunes (deleting and repacking), diffs, and rebuilds a lost index', async () => {
    const store = new MemoryBlobStore();
    await initRepository(store, FAST);
    const repo = await Repository.open(store, 'pw');
    const src = path.join(dir, 'src');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    // Many small files per pack, so that forgetting some leaves packs partly used.
    for (let i = 0; i < 60; i++) await writeFile(path.join(src, `f${i}`), randomBytes(6000 + i));
    await writeFile(path.join(src, 'sub', 'keep.txt'), 'kept\n'.repeat(1000));
    const first = await backup(repo, { source: src, program: 'test' });
    for (let i = 0; i < 60; i += 2) await rm(path.join(src, `f${i}`));
    await writeFile(path.join(src, 'sub', 'new.bin'), randomBytes(50_000));
    const second = await backup(repo, { source: src, program: 'test' });

    const diff = await diffSnapshots(repo, first.snapshot.tree, second.snapshot.tree);
    assert.equal(diff.removed, 30);
    assert.deepEqual(
      diff.changes.filter((c) => c.change === 'added').map((c) => c.path),
      ['sub/new.bin'],
    );
    assert.equal(diff.metadata, 1, 'sub/ changed its mtime');

    const dry = await prune(repo, { dryRun: true });
    assert.equal(dry.packs.deleted + dry.packs.repacked, 0, 'every blob is still used');
    const report = await forget(repo, { policy: { keepLast: 1 } });
    assert.equal(report.removed, 1);
    const before = await prune(repo, { dryRun: true, maxUnused: 0 });
    assert.ok(before.packs.repacked > 0, 'packs are partly used');
    const done = await prune(repo, { maxUnused: 0 });
    assert.ok(done.bytes.freed > 150_000, `${done.bytes.freed}`);
    const check = await checkRepository(repo, { readData: true });
    assert.ok(check.healthy, JSON.stringify(check.problems));
    assert.ok(check.bytesRead < done.bytes.before, 'smaller after prune');
    const again = await prune(repo, { maxUnused: 0, dryRun: true });
    assert.equal(again.packs.repacked + again.packs.deleted, 0, 'nothing left to prune');

    // Lose every index file: check names it, prune refuses, repair rebuilds from the headers.
    for await (const info of store.list(repositoryLayout.indexPrefix())) await store.delete(info.key);
    const broken = await checkRepository(repo);
    assert.ok(!broken.healthy);
    assert.match(broken.hints.join('\n'), /repair index/);
    await assert.rejects(prune(repo), (err) => isCairnError(err, 'REPOSITORY_PRUNE_UNSAFE'));
    const repaired = await repairIndex(repo);
    assert.ok(repaired.reindexed > 0);
    assert.ok((await checkRepository(repo, { readData: true })).healthy);
    const target = path.join(dir, 'restored');
    const result = await restore(repo, { snapshot: await resolveSnapshot(repo, 'latest'), target });
    assert.deepEqual(result.failures, []);
  });

  it('skips unchanged files with the metadata cache, and ignores a cache naming blobs the index lacks', async () => {
    const store = new MemoryBlobStore();
    await initRepository(store, FAST);
    const repo = await Repository.open(store, 'pw');
    const src = path.join(dir, 'cached');
    const cacheDir = path.join(dir, 'cache');
    await mkdir(src, { recursive: true });
    const old = new Date(Date.now() - 3600_000);
    for (let i = 0; i < 10; i++) {
      await writeFile(path.join(src, `f${i}`), randomBytes(20_000));
      await utimes(path.join(src, `f${i}`), old, old);
    }
    // Files changed within a second before a backup starts are not cached (racy mtimes); these
    // were just written (their ctime is now), so the backups here "start" a few seconds later.
    const later = () => new Date(Date.now() + 5000);
    const first = await backup(repo, { source: src, program: 'test', cacheDir, now: later });
    assert.equal(first.unchangedFiles, 0);
    const second = await backup(repo, { source: src, program: 'test', cacheDir, now: later });
    assert.equal(second.unchangedFiles, 10, 'nothing re-read');
    assert.equal(second.snapshot.tree, first.snapshot.tree, 'the same tree');
    await writeFile(path.join(src, 'f3'), 'changed');
    await utimes(path.join(src, 'f3'), old, old); // same mtime as before: ctime and size still tell
    const third = await backup(repo, { source: src, program: 'test', cacheDir, now: later });
    assert.equal(third.unchangedFiles, 9);

    // Forget everything and prune: the cache now names blobs the index lacks; it must not be trusted.
    await forget(repo, { policy: { keepLast: 1 } });
    for await (const info of store.list(repositoryLayout.snapshotsPrefix())) await store.delete(info.key);
    await prune(repo, { maxUnused: 0 });
    const fourth = await backup(repo, { source: src, program: 'test', cacheDir, now: later });
    assert.equal(fourth.unchangedFiles, 0);
    assert.ok((await checkRepository(repo, { readData: true })).healthy);
    const target = path.join(dir, 'cached-restore');
    const result = await restore(repo, { snapshot: await resolveSnapshot(repo, fourth.id), target });
    assert.deepEqual(result.failures, []);
  });
});
