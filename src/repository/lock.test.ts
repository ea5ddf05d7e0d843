import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { isCairnError } from '../errors/cairn-error.ts';
import { MemoryBlobStore } from '../storage/memory/memory-store.ts';
import { repositoryLayout } from './format.ts';
import { acquireLock, type LockFile, listLocks, removeLocks, staleReason } from './lock.ts';

/** A pid that surely ran and exited: a finished child's. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

function lockFile(over: Partial<LockFile>): LockFile {
  const t = new Date().toISOString();
  return {
    kind: 'CairnRepositoryLock',
    version: 1,
    exclusive: false,
    operation: 'backup',
    hostname: 'elsewhere',
    pid: 1,
    createdAt: t,
    time: t,
    expiryMs: 60_000,
    ...over,
  };
}

async function plant(store: MemoryBlobStore, id: string, file: LockFile): Promise<string> {
  const key = repositoryLayout.lock(id.repeat(64).slice(0, 64));
  await store.put(key, JSON.stringify(file));
  return key;
}

describe('repository locks', () => {
  it('lets shared locks coexist and keeps an exclusive one out while a shared one lives', async () => {
    const store = new MemoryBlobStore();
    const a = await acquireLock(store, { exclusive: false, operation: 'backup' });
    const b = await acquireLock(store, { exclusive: false, operation: 'backup' });
    await assert.rejects(acquireLock(store, { exclusive: true, operation: 'prune' }), (err) => {
      assert.ok(isCairnError(err));
      assert.equal(err.code, 'REPOSITORY_LOCKED');
      assert.match(err.message, /a shared lock of backup \(pid \d+ on /);
      return true;
    });
    await a.release();
    await b.release();
    const x = await acquireLock(store, { exclusive: true, operation: 'prune' });
    await assert.rejects(
      acquireLock(store, { exclusive: false, operation: 'backup' }),
      /exclusive lock of prune/,
    );
    await x.release();
    assert.equal((await listLocks(store)).length, 0);
  });

  it('treats expired locks and dead pids of this host as stale, and removes them on the way', async () => {
    const store = new MemoryBlobStore();
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    await plant(store, 'a', lockFile({ exclusive: true, time: old }));
    await plant(store, 'b', lockFile({ exclusive: true, hostname: hostname(), pid: deadPid() }));
    await plant(store, 'c', lockFile({ exclusive: false, hostname: 'elsewhere', pid: 1 }));
    const found = await listLocks(store);
    assert.match(found.find((f) => f.id.startsWith('aaaa'))?.stale ?? '', /not refreshed/);
    assert.match(found.find((f) => f.id.startsWith('bbbb'))?.stale ?? '', /is not running/);
    assert.equal(found.find((f) => f.id.startsWith('cccc'))?.stale, undefined, 'live on another host');

    const shared = await acquireLock(store, { exclusive: false, operation: 'backup' });
    assert.equal((await listLocks(store)).length, 2, 'the stale ones were removed by the acquirer');
    await shared.release();
    await assert.rejects(
      acquireLock(store, { exclusive: true, operation: 'prune' }),
      /REPOSITORY_LOCKED|elsewhere/,
    );
    assert.deepEqual(
      (await removeLocks(store)).map((f) => f.id),
      [],
    );
    assert.equal((await removeLocks(store, { all: true })).length, 1);
  });

  it('waits for a conflicting lock when asked to retry', async () => {
    const store = new MemoryBlobStore();
    const shared = await acquireLock(store, { exclusive: false, operation: 'backup' });
    const waiting = acquireLock(store, { exclusive: true, operation: 'prune', retryMs: 120_000 });
    setImmediate(() => void shared.release());
    const x = await waiting;
    assert.ok(x.exclusive);
    await x.release();
  });

  it('refreshes by writing a new file and removing the old one', async () => {
    const store = new MemoryBlobStore();
    let now = new Date('2026-01-01T00:00:00Z');
    const lock = await acquireLock(store, { exclusive: false, operation: 'backup', now: () => now });
    const before = lock.key;
    now = new Date('2026-01-01T00:05:00Z');
    await lock.refresh();
    assert.notEqual(lock.key, before);
    const [only] = await listLocks(store, now);
    assert.equal(only?.key, lock.key);
    assert.equal(only?.lock?.time, now.toISOString());
    assert.equal(staleReason(only?.lock, new Date('2026-01-01T00:30:00Z')) !== undefined, true);
    await lock.release();
  });
});
