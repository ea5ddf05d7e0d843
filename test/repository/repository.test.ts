/**
 * The repository end to end, through the real `cairn` binary, on a filesystem
 * location and on S3 (Ceph RGW) — the same tests against both.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, lstat, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { backup } from '../../src/repository/backup.ts';
import { repositoryLayout } from '../../src/repository/format.ts';
import { Repository } from '../../src/repository/repository.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { parseLocationUrl } from '../../src/storage/location-url.ts';
import { openStore } from '../../src/storage/open-store.ts';
import { FaultyBlobStore } from '../../src/storage/wrappers/faulty-store.ts';
import { RetryingBlobStore } from '../../src/storage/wrappers/retrying-store.ts';
import { type CairnRun, runCairn } from '../support/run-cairn.ts';
import { adminClient, createTestBucket, testS3 } from '../support/s3-env.ts';
import { describeTree, makeSourceTree, pseudoRandomBytes } from './source-tree.ts';

const PASSWORD = 'correct horse battery staple';

interface Backend {
  readonly name: string;
  setup(): Promise<{
    url: string;
    env: NodeJS.ProcessEnv;
    credentials?: { accessKeyId: string; secretAccessKey: string };
  }>;
  teardown(): Promise<void>;
}

const s3 = testS3();
const admin = adminClient(s3);
let removeBucket: (() => Promise<void>) | undefined;
let locationDir: string | undefined;

const backends: Backend[] = [
  {
    name: 'a filesystem location',
    async setup() {
      locationDir = await mkdtemp(path.join(tmpdir(), 'cairn-repo-loc-'));
      return { url: path.join(locationDir, 'loc'), env: {} };
    },
    async teardown() {
      if (locationDir !== undefined) await rm(locationDir, { recursive: true, force: true });
    },
  },
  {
    name: 'S3 (Ceph RGW)',
    async setup() {
      const created = await createTestBucket(admin, 'repo');
      removeBucket = created.remove;
      return {
        url: `s3://${created.bucket}/cairn?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}`,
        env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      };
    },
    async teardown() {
      await removeBucket?.();
    },
  },
];

after(() => admin.destroy());

function ok(run: CairnRun): CairnRun {
  assert.equal(run.code, 0, `exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run;
}

async function keysOf(store: BlobStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

function assertSameTree(
  source: Map<string, Awaited<ReturnType<typeof describeTree>> extends Map<string, infer V> ? V : never>,
  restored: typeof source,
  only?: (rel: string) => boolean,
): void {
  const want = [...source.keys()].filter((k) => only === undefined || only(k));
  assert.deepEqual([...restored.keys()].filter((k) => k !== '.' || only === undefined).sort(), want.sort());
  for (const rel of want) {
    const a = source.get(rel);
    const b = restored.get(rel);
    assert.ok(a && b, rel);
    assert.equal(b.type, a.type, `${rel}: type`);
    assert.equal(b.sha256, a.sha256, `${rel}: content`);
    assert.equal(b.target, a.target, `${rel}: symlink target`);
    if (a.type !== 'symlink') assert.equal(b.mode.toString(8), a.mode.toString(8), `${rel}: mode`);
    const drift = b.mtimeUs - a.mtimeUs;
    assert.ok(drift >= -1n && drift <= 1n, `${rel}: mtime ${b.mtimeUs} vs ${a.mtimeUs}`);
  }
}

for (const backend of backends) {
  describe(`cairn repo on ${backend.name}`, () => {
    let work: string;
    let url: string;
    let env: NodeJS.ProcessEnv;
    let store: BlobStore;
    let source: string;
    const cairn = (...args: string[]) =>
      runCairn([...args, '--location', url], {
        ...env,
        CAIRN_PASSWORD: PASSWORD,
        // The metadata cache goes with the test's folder, not into $HOME.
        XDG_CACHE_HOME: path.join(work, 'cache'),
      });

    before(async () => {
      work = await mkdtemp(path.join(tmpdir(), 'cairn-repo-'));
      const setup = await backend.setup();
      url = setup.url;
      env = setup.env;
      store = openStore(
        parseLocationUrl(url),
        setup.credentials === undefined ? {} : { credentials: setup.credentials },
      ).store;
      source = path.join(work, 'source');
      await makeSourceTree(source);
    });
    after(async () => {
      await store.close();
      await backend.teardown();
      await rm(work, { recursive: true, force: true });
    });

    it('initialises once, refuses a second init and a wrong or missing password, writing nothing', async () => {
      const init = ok(await cairn('repo', 'init'));
      assert.match(init.stdout, /Created repository [0-9a-f]{32}/);
      const keys = await keysOf(store);
      assert.ok(keys.includes('control/repository/config.json'));
      assert.equal(keys.filter((k) => k.startsWith('control/repository/keys/')).length, 1);

      const again = await cairn('repo', 'init');
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already holds a repository/);
      assert.match(again.stderr, /^hint: /m);

      const wrong = await runCairn(['repo', 'snapshots', '--location', url], {
        ...env,
        CAIRN_PASSWORD: 'nope',
      });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /^error: the password opens none of the 1 key file/m);
      assert.match(wrong.stderr, /^hint: Check CAIRN_PASSWORD/m);
      const wrongBackup = await runCairn(['repo', 'backup', source, '--location', url], {
        ...env,
        CAIRN_PASSWORD: 'nope',
      });
      assert.equal(wrongBackup.code, 1);
      const missing = await runCairn(['repo', 'snapshots', '--location', url], env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no repository password given/);
      assert.deepEqual(await keysOf(store), keys, 'nothing was written');

      const passwordFile = path.join(work, 'password');
      await writeFile(passwordFile, `${PASSWORD}\n`);
      const viaFile = await runCairn(
        ['repo', 'snapshots', '--location', url, '--password-file', passwordFile],
        env,
      );
      assert.equal(viaFile.code, 0, viaFile.stderr);
      assert.match(viaFile.stdout, /0 snapshots/);
    });

    let first: string;
    let firstFacts: Awaited<ReturnType<typeof describeTree>>;
    it('backs up a tree and restores it identically (content, modes, mtimes, links, empty dirs)', async () => {
      const run = ok(await cairn('repo', 'backup', source, '-o', 'json'));
      const snap = JSON.parse(run.stdout);
      first = snap.id;
      assert.equal(snap.summary.files, 38);
      assert.ok(
        snap.summary.storedBytes < snap.summary.bytes,
        'text compresses, the hard link is stored once',
      );

      const list = JSON.parse(ok(await cairn('repo', 'snapshots', '-o', 'json')).stdout);
      assert.equal(list.length, 1);
      assert.equal(list[0].id, first);
      const ls = ok(await cairn('repo', 'ls', first.slice(0, 8)));
      assert.match(ls.stdout, /^lrwxrwxrwx\s+docs\/link-to-text -> \.\.\/data\/text-2m\.txt$/m);
      assert.match(ls.stdout, /^-rwxr-x---\s+\S+ B\s+docs\/deep\/deeper\/script\.sh$/m);
      assert.match(ls.stdout, /^drwxr-xr-x\s+empty-dir\/$/m);

      const target = path.join(work, 'restore-1');
      const restored = ok(await cairn('repo', 'restore', first, target));
      assert.match(restored.stdout, /Restored snapshot .*: 38 files/);
      const want = await describeTree(source);
      firstFacts = want;
      const got = await describeTree(target);
      assertSameTree(want, got);
      assert.equal(got.get('docs/hard-link.bin')?.ino, got.get('data/random-3m.bin')?.ino, 'hard link kept');
      assert.deepEqual(
        (await readdir(target, { recursive: true })).filter((n) => n.includes('cairn-restore')),
        [],
        'no temp files left',
      );
    });

    it('deduplicates a second backup and stores little for a 5% change', async () => {
      const packsBefore = (await keysOf(store, repositoryLayout.dataPrefix())).length;
      const same = JSON.parse(ok(await cairn('repo', 'backup', source, '-o', 'json')).stdout);
      assert.equal(same.summary.newBlobs, 0, 'nothing new: even the trees are known');
      assert.equal((await keysOf(store, repositoryLayout.dataPrefix())).length, packsBefore);

      // Change ~5%: two small files rewritten, one appended, 256 KiB overwritten inside a big file.
      await writeFile(path.join(source, 'docs/file-0.txt'), 'rewritten\n');
      await writeFile(path.join(source, 'docs/deep/file-1.txt'), 'also rewritten\n');
      await appendFile(path.join(source, 'docs/file-2.txt'), 'one more line\n');
      const big = path.join(source, 'data/exact-max.bin');
      const { open } = await import('node:fs/promises');
      const handle = await open(big, 'r+');
      await handle.write(await pseudoRandomBytes(256 * 1024, 'edit'), 0, 256 * 1024, 4 * 1024 * 1024);
      await handle.close();
      const changed = JSON.parse(ok(await cairn('repo', 'backup', source, '-o', 'json')).stdout);
      // Chunk boundaries depend on the repository's secret gear table, so what the 256 KiB edit
      // costs varies per repository: it rewrites one or two chunks of at most 8 MiB (the max
      // chunk size). Everything else must dedup: three small files, those chunks and the trees
      // of the four changed directories are the only new blobs.
      const maxChunk = 8 * 1024 * 1024;
      assert.ok(changed.summary.newBlobs <= 3 + 2 + 8, `${changed.summary.newBlobs} new blobs`);
      assert.ok(
        changed.summary.storedBytes < 2 * maxChunk + 64 * 1024,
        `stored ${changed.summary.storedBytes} of ${changed.summary.bytes}`,
      );
      const target = path.join(work, 'restore-2');
      ok(await cairn('repo', 'restore', 'latest', target));
      assertSameTree(await describeTree(source), await describeTree(target));
      ok(await cairn('repo', 'check', '--read-data'));
    });

    it('restores part of a snapshot by glob', async () => {
      const target = path.join(work, 'restore-part');
      ok(await cairn('repo', 'restore', first, target, '--include', 'docs/deep/**'));
      const got = await describeTree(target);
      const paths = [...got.keys()].filter((k) => k !== '.').sort();
      assert.ok(paths.includes('docs/deep/deeper/script.sh'));
      assert.ok(
        paths.every((p) => p === 'docs' || p.startsWith('docs/deep')),
        paths.join(', '),
      );
    });

    it('restores with --sparse to the same tree (zero runs become holes; see the unit test for the blocks)', async () => {
      const target = path.join(work, 'restore-sparse');
      const restored = ok(await cairn('repo', 'restore', first, target, '--sparse'));
      assert.match(restored.stdout, /Restored snapshot .*: 38 files/);
      assertSameTree(firstFacts, await describeTree(target));
    });

    it('fails cleanly when storage fails mid-upload: no index, no snapshot, earlier snapshots intact', async () => {
      const snapshotsBefore = await keysOf(store, repositoryLayout.snapshotsPrefix());
      const indexesBefore = await keysOf(store, repositoryLayout.indexPrefix());
      const faulty = new FaultyBlobStore(store);
      // Every pack put breaks after 1 MiB of its body; the retry wrapper tries 3 times, then gives up.
      faulty.inject({
        operation: 'put',
        key: /^repository\/data\//,
        failure: 'transient',
        afterBytes: 1024 * 1024,
      });
      const retrying = new RetryingBlobStore(faulty, { maxAttempts: 3, baseDelayMs: 1 });
      const repo = await Repository.open(retrying, PASSWORD);
      const fresh = path.join(work, 'fresh-source');
      await rm(fresh, { recursive: true, force: true });
      const { mkdir } = await import('node:fs/promises');
      await mkdir(fresh);
      await writeFile(path.join(fresh, 'new.bin'), await pseudoRandomBytes(3 * 1024 * 1024, 'never-stored'));
      await assert.rejects(
        backup(repo, { source: fresh, program: 'test' }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'STORAGE_TRANSIENT');
          return true;
        },
      );
      assert.ok(faulty.calls.put >= 3, `put tried ${faulty.calls.put} times`);
      assert.deepEqual(await keysOf(store, repositoryLayout.snapshotsPrefix()), snapshotsBefore);
      assert.deepEqual(await keysOf(store, repositoryLayout.indexPrefix()), indexesBefore);
      const check = ok(await cairn('repo', 'check'));
      assert.match(check.stdout, /No errors found/);
    });

    it('survives kill -9 mid-backup: no snapshot from it, the next backup reuses its packs, check is clean', async () => {
      const killSource = path.join(work, 'kill-source');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(killSource, { recursive: true });
      // Enough data that the backup is still far from its snapshot when the first pack appears:
      // with 36 MiB, a quiet machine finished the whole backup between the poll and the kill.
      const files = 8;
      for (let i = 0; i < files; i++) {
        await writeFile(
          path.join(killSource, `part-${i}.bin`),
          await pseudoRandomBytes(12 * 1024 * 1024, `kill-${i}`),
        );
      }
      const packsBefore = new Set(await keysOf(store, repositoryLayout.dataPrefix()));
      const snapshotsBefore = await keysOf(store, repositoryLayout.snapshotsPrefix());
      const child = spawn(
        process.execPath,
        [
          fileURLToPath(new URL('../../bin/cairn.js', import.meta.url)),
          'repo',
          'backup',
          killSource,
          '--location',
          url,
        ],
        {
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '/root',
            ...env,
            CAIRN_PASSWORD: PASSWORD,
            XDG_CACHE_HOME: path.join(work, 'cache'),
          },
          stdio: 'ignore',
        },
      );
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_code, signal) => resolve(signal)),
      );
      let running = true;
      void exited.then(() => {
        running = false;
      });
      // Kill it as soon as its first pack is stored (more packs, the index and the snapshot would follow).
      while (running) {
        const packs = await keysOf(store, repositoryLayout.dataPrefix());
        if (packs.some((k) => !packsBefore.has(k))) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL', 'the backup was still running when killed');
      assert.deepEqual(await keysOf(store, repositoryLayout.snapshotsPrefix()), snapshotsBefore);

      const check = ok(await cairn('repo', 'check'));
      assert.match(check.stdout, /warn\s+pack [0-9a-f]{64} is in no index/);
      assert.match(check.stdout, /No errors found/);
      const again = JSON.parse(ok(await cairn('repo', 'backup', killSource, '-o', 'json')).stdout);
      assert.ok(again.adoptedPacks >= 1, 'the packs of the killed backup are reused');
      assert.ok(
        again.summary.newBytes < files * 12 * 1024 * 1024,
        `uploaded ${again.summary.newBytes} bytes again`,
      );
      assert.doesNotMatch(ok(await cairn('repo', 'check')).stdout, /in no index/);
      const target = path.join(work, 'restore-after-kill');
      ok(await cairn('repo', 'restore', 'latest', target));
      assertSameTree(await describeTree(killSource), await describeTree(target));
      ok(await cairn('repo', 'check', '--read-data'));
    });

    it('names the damaged pack and files, and restores everything else', async () => {
      // Find the pack holding the first chunk of data/random-3m.bin and flip one bit in it.
      const repo = await Repository.open(store, PASSWORD);
      await repo.loadIndex();
      const ls = JSON.parse(ok(await cairn('repo', 'ls', first, '-o', 'json')).stdout);
      const entry = ls.entries.find((e: { path: string }) => e.path === 'data/random-3m.bin');
      assert.ok(entry);
      // `ls -o json` leaves content out; read it from the tree instead.
      const { walkTree } = await import('../../src/repository/snapshot.ts');
      const { resolveSnapshot } = await import('../../src/repository/snapshot.ts');
      const snap = await resolveSnapshot(repo, first);
      let blob: string | undefined;
      for await (const { path: p, entry: e } of walkTree(repo, snap.snapshot.tree)) {
        if (p === 'data/random-3m.bin') blob = e.content?.[0];
      }
      assert.ok(blob);
      const where = repo.lookup(blob);
      assert.ok(where);
      const key = repositoryLayout.pack(where.pack);
      const bytes = await store.get(key);
      bytes[where.offset + 100] = (bytes[where.offset + 100] ?? 0) ^ 0x10;
      await store.put(key, bytes);

      const check = await cairn('repo', 'check', '--read-data');
      assert.equal(check.code, 1, check.stdout);
      assert.match(check.stdout, new RegExp(`ERROR\\s+pack ${where.pack}: \\d+ of \\d+ blobs are damaged`));
      assert.match(check.stdout, new RegExp(`affects ${first.slice(0, 8)}:data/random-3m\\.bin`));
      assert.match(check.stdout, new RegExp(`affects ${first.slice(0, 8)}:docs/hard-link\\.bin`));
      const quick = await cairn('repo', 'check');
      assert.equal(quick.code, 0, 'without --read-data the sizes still match');

      const target = path.join(work, 'restore-damaged');
      const run = await cairn('repo', 'restore', first, target);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /not restored: data\/random-3m\.bin: .*damaged/);
      assert.match(run.stderr, /^error: \d+ entries could not be restored/m);
      const want = firstFacts;
      const got = await describeTree(target);
      // The pack may hold other chunks too: every file that did restore must be exact, the others absent.
      const failed = [...run.stderr.matchAll(/^not restored: (\S+):/gm)].map((m) => m[1]);
      assert.ok(failed.includes('data/random-3m.bin'));
      for (const [rel, facts] of got) {
        if (facts.type === 'file' && !rel.includes('/.'))
          assert.equal(facts.sha256, want.get(rel)?.sha256, rel);
      }
      assert.ok(got.has('docs/deep/deeper/script.sh'));
      assert.ok(!got.has('data/random-3m.bin'));
      assert.deepEqual(
        (await readdir(target, { recursive: true })).filter((n) => n.includes('cairn-restore')),
        [],
        'no half-written temp files',
      );
      await lstat(path.join(target, 'empty-dir'));
    });

    it('adds, lists, changes and refuses to remove the password in use', async () => {
      const as =
        (password: string, extra: NodeJS.ProcessEnv = {}) =>
        (...args: string[]) =>
          runCairn([...args, '--location', url], { ...env, CAIRN_PASSWORD: password, ...extra });
      ok(await as(PASSWORD, { CAIRN_NEW_PASSWORD: 'second password' })('repo', 'key', 'add'));
      const keys = JSON.parse(ok(await as('second password')('repo', 'key', 'list', '-o', 'json')).stdout);
      assert.equal(keys.length, 2);
      const second = keys.find((k: { current: boolean }) => k.current);
      assert.ok(second);
      const inUse = await as('second password')('repo', 'key', 'remove', second.id.slice(0, 8));
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, /is the one this password opens/);
      ok(await as('second password', { CAIRN_NEW_PASSWORD: 'third password' })('repo', 'key', 'passwd'));
      assert.equal((await as('second password')('repo', 'snapshots')).code, 1, 'the old password is gone');
      ok(await as('third password')('repo', 'snapshots'));
      ok(await as(PASSWORD)('repo', 'snapshots'));
    });
  });
}
