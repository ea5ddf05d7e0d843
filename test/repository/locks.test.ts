/**
 * Locks, forget, prune, diff and index repair through the real `cairn`
 * binary on a filesystem location: a killed backup never blocks the next
 * prune, a live backup makes prune fail clearly (or wait), and a prune racing
 * a backup loses nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { repositoryLayout } from '../../src/repository/format.ts';
import { acquireLock } from '../../src/repository/lock.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { parseLocationUrl } from '../../src/storage/location-url.ts';
import { openStore } from '../../src/storage/open-store.ts';
import { type CairnRun, runCairn } from '../support/run-cairn.ts';
import { describeTree, pseudoRandomBytes } from './source-tree.ts';

const PASSWORD = 'lock test password';

function ok(run: CairnRun): CairnRun {
  assert.equal(run.code, 0, `exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run;
}

async function keysOf(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

describe('repository locks and maintenance (filesystem location)', () => {
  let work: string;
  let url: string;
  let store: BlobStore;
  let source: string;
  const cairn = (...args: string[]) =>
    runCairn([...args, '--location', url], {
      CAIRN_PASSWORD: PASSWORD,
      XDG_CACHE_HOME: path.join(work, 'cache'),
    });

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cairn-locks-'));
    url = path.join(work, 'loc');
    store = openStore(parseLocationUrl(url)).store;
    source = path.join(work, 'source');
    await mkdir(source);
    for (let i = 0; i < 6; i++) {
      await writeFile(
        path.join(source, `part-${i}.bin`),
        await pseudoRandomBytes(12 * 1024 * 1024, `lock-${i}`),
      );
    }
    ok(await cairn('repo', 'init'));
  });
  after(async () => {
    await store.close();
    await rm(work, { recursive: true, force: true });
  });

  it('a kill -9ed backup leaves a lock that blocks nothing: prune and the next backup proceed', async () => {
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(new URL('../../bin/cairn.js', import.meta.url)),
        'repo',
        'backup',
        source,
        '--location',
        url,
      ],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/root',
          CAIRN_PASSWORD: PASSWORD,
          XDG_CACHE_HOME: path.join(work, 'cache'),
        },
        stdio: 'ignore',
      },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, signal) => resolve(signal)),
    );
    let running = true;
    void exited.then(() => {
      running = false;
    });
    // Kill it once its lock and its first pack exist (it is then mid-backup, holding the lock).
    while (running) {
      const locks = await keysOf(store, repositoryLayout.locksPrefix());
      const packs = await keysOf(store, repositoryLayout.dataPrefix());
      if (locks.length > 0 && packs.length > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL', 'the backup was still running when killed');
    assert.equal((await keysOf(store, repositoryLayout.locksPrefix())).length, 1, 'its lock is left behind');

    // Its pid is dead on this host: the lock is stale at once, no `unlock` needed.
    const pruned = ok(await cairn('repo', 'prune'));
    assert.match(pruned.stdout, /Pruned: 0 snapshots/);
    assert.deepEqual(
      await keysOf(store, repositoryLayout.locksPrefix()),
      [],
      'prune removed the stale lock and its own',
    );
    ok(await cairn('repo', 'backup', source));
    assert.deepEqual(await keysOf(store, repositoryLayout.locksPrefix()), []);
    assert.match(ok(await cairn('repo', 'check')).stdout, /No errors found/);
  });

  it('prune fails clearly while a backup holds a shared lock, and deletes nothing', async () => {
    const held = await acquireLock(store, { exclusive: false, operation: 'backup' });
    try {
      ok(await cairn('repo', 'forget', '--keep-last', '1'));
      const before = await keysOf(store, repositoryLayout.dataPrefix());
      const run = await cairn('repo', 'prune');
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /cannot take an exclusive lock for prune: the repository is held by a shared lock of backup \(pid \d+ on /,
      );
      assert.match(run.stderr, /^hint: .*--retry-lock/m);
      assert.deepEqual(await keysOf(store, repositoryLayout.dataPrefix()), before);
      // Shared holders coexist: a check runs meanwhile.
      ok(await cairn('repo', 'check'));
    } finally {
      await held.release();
    }
  });

  it('a prune racing a backup (both waiting for the lock) loses nothing', async () => {
    await writeFile(path.join(source, 'part-0.bin'), await pseudoRandomBytes(12 * 1024 * 1024, 'changed'));
    const [b, p] = await Promise.all([
      cairn('repo', 'backup', source, '--retry-lock', '10m'),
      cairn('repo', 'forget', '--keep-last', '1', '--prune', '--max-unused', '0%', '--retry-lock', '10m'),
    ]);
    ok(b);
    ok(p);
    ok(await cairn('repo', 'check', '--read-data'));
    const target = path.join(work, 'restored');
    ok(await cairn('repo', 'restore', 'latest', target));
    const want = await describeTree(source);
    const got = await describeTree(target);
    for (const [rel, facts] of want) assert.equal(got.get(rel)?.sha256, facts.sha256, rel);
  });

  it('diff lists what changed, -o json; check reads a subset; a deleted index is named and repaired', async () => {
    await writeFile(path.join(source, 'new.txt'), 'new\n');
    await rm(path.join(source, 'part-5.bin'));
    ok(await cairn('repo', 'backup', source));
    const snaps = JSON.parse(ok(await cairn('repo', 'snapshots', '-o', 'json')).stdout) as Array<{
      id: string;
    }>;
    const a = snaps.at(-2)?.id ?? '';
    const b = snaps.at(-1)?.id ?? '';
    const diff = JSON.parse(ok(await cairn('repo', 'diff', a, b, '-o', 'json')).stdout);
    assert.deepEqual(
      diff.changes.filter((c: { change: string }) => c.change !== 'metadata'),
      [
        { path: 'new.txt', change: 'added', type: 'file' },
        { path: 'part-5.bin', change: 'removed', type: 'file' },
      ],
    );
    assert.match(ok(await cairn('repo', 'diff', a, b)).stdout, /^\+ {4}new\.txt$/m);

    const subset = JSON.parse(
      ok(await cairn('repo', 'check', '--read-data-subset', '1/2', '-o', 'json')).stdout,
    );
    const whole = JSON.parse(ok(await cairn('repo', 'check', '--read-data', '-o', 'json')).stdout);
    assert.ok(subset.packsRead < whole.packsRead, `${subset.packsRead} of ${whole.packsRead}`);

    for (const key of await keysOf(store, repositoryLayout.indexPrefix())) await store.delete(key);
    const broken = await cairn('repo', 'check');
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /hint: .*Run `cairn repo repair index`/);
    assert.equal((await cairn('repo', 'prune')).code, 1, 'prune refuses without an index');
    ok(await cairn('repo', 'repair', 'index'));
    ok(await cairn('repo', 'check', '--read-data'));
  });

  it('unlock removes stale locks, and every lock with --remove-all', async () => {
    const old = new Date(Date.now() - 3600_000).toISOString();
    const stale = repositoryLayout.lock('a'.repeat(64));
    const live = repositoryLayout.lock('b'.repeat(64));
    const lock = (time: string) =>
      JSON.stringify({
        kind: 'CairnRepositoryLock',
        version: 1,
        exclusive: true,
        operation: 'prune',
        hostname: 'another-host',
        pid: 4242,
        createdAt: time,
        time,
        expiryMs: 900_000,
      });
    await store.put(stale, lock(old));
    await store.put(live, lock(new Date().toISOString()));
    const blocked = await cairn('repo', 'backup', source);
    assert.equal(blocked.code, 1);
    assert.match(blocked.stderr, /exclusive lock of prune \(pid 4242 on another-host/);
    assert.deepEqual(
      await keysOf(store, repositoryLayout.locksPrefix()),
      [live],
      'the stale one was removed on the way',
    );
    await store.put(stale, lock(old));
    const run = ok(await cairn('repo', 'unlock'));
    assert.match(run.stdout, /removed lock aaaaaaaa \(not refreshed for/);
    assert.match(run.stdout, /kept live lock bbbbbbbb/);
    ok(await cairn('repo', 'unlock', '--remove-all'));
    assert.deepEqual(await keysOf(store, repositoryLayout.locksPrefix()), []);
    ok(await cairn('repo', 'backup', source));
  });
});
