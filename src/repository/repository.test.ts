import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isCairnError } from '../errors/cairn-error.ts';
import { type BlobStore, TEMP_FILE_MARKER } from '../storage/blob-store.ts';
import { FileSystemBlobStore } from '../storage/fs/fs-store.ts';
import { MemoryBlobStore } from '../storage/memory/memory-store.ts';
import { backup } from './backup.ts';
import { checkRepository } from './check.ts';
import { open, seal } from './crypto.ts';
import { repositoryLayout } from './format.ts';
import { listKeyFiles, removeKeyFile } from './key-file.ts';
import { PackBuilder, readPackHeader } from './pack.ts';
import { INCOMPRESSIBLE_BITS_PER_BYTE, initRepository, Repository, sampleEntropy } from './repository.ts';
import { restore } from './restore.ts';
import { resolveSnapshot, walkTree } from './snapshot.ts';

/** Where the first chunk of `file` in a snapshot's tree is stored (its index entry). */
async function firstChunkOf(repo: Repository, tree: string, file: string) {
  for await (const { path: p, entry } of walkTree(repo, tree)) {
    if (p !== file) continue;
    const where = repo.lookup(entry.content?.[0] ?? '');
    assert.ok(where, `${file}'s first chunk is indexed`);
    return where;
  }
  assert.fail(`${file} is not in the tree`);
}

const FAST = {
  password: 'pw',
  createdBy: 'test',
  scrypt: { N: 1024, r: 8, p: 1 },
  chunker: { algorithm: 'fastcdc-gear32-v1', minSize: 4096, avgSize: 16384, maxSize: 65536 },
  packSize: 256 * 1024,
} as const;

async function keys(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list('')) out.push(info.key);
  return out;
}

describe('sealing and packs', () => {
  it('binds the kind: a sealed tree does not open as data, nor with another key', () => {
    const key = Buffer.alloc(32, 1);
    const sealed = seal(key, 'tree', Buffer.from('{"entries":[]}'));
    assert.equal(open(key, 'tree', sealed)?.toString(), '{"entries":[]}');
    assert.equal(open(key, 'data', sealed), undefined);
    assert.equal(open(Buffer.alloc(32, 2), 'tree', sealed), undefined);
    const flipped = Buffer.from(sealed);
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    assert.equal(open(key, 'tree', flipped), undefined);
  });

  it('reads back a pack header that matches what was packed', () => {
    const key = Buffer.alloc(32, 7);
    const pack = new PackBuilder(Buffer.alloc(4096));
    pack.add({
      id: 'a'.repeat(64),
      type: 'data',
      pieces: [Buffer.alloc(40, 1)],
      rawLength: 12,
      compression: 'none',
    });
    pack.add({
      id: 'b'.repeat(64),
      type: 'tree',
      pieces: [Buffer.alloc(5), Buffer.alloc(30)],
      rawLength: 90,
      compression: 'zstd',
    });
    const { bytes, blobs } = pack.finish(key);
    assert.deepEqual(readPackHeader(bytes, key), blobs);
    assert.deepEqual(
      blobs.map((b) => [b.offset, b.length]),
      [
        [0, 40],
        [40, 35],
      ],
    );
    assert.equal(readPackHeader(bytes, Buffer.alloc(32, 8)), undefined);
  });
});

describe('compression skip', () => {
  it('skips random bytes of any size and compresses text', () => {
    // Below ~1 KiB the estimate is too coarse; such blobs are cheap to try with zstd anyway.
    for (const size of [1024, 4096, 16 * 1024, 1024 * 1024]) {
      assert.ok(sampleEntropy(randomBytes(size)) > INCOMPRESSIBLE_BITS_PER_BYTE, `random ${size}`);
    }
    const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(2000));
    assert.ok(sampleEntropy(text) < 5);
    assert.equal(sampleEntropy(Buffer.alloc(0)), 0);
  });
});

describe('repository on a memory store', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-repo-unit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to initialise twice, and over data whose config is gone', async () => {
    const store = new MemoryBlobStore();
    await initRepository(store, FAST);
    await assert.rejects(initRepository(store, FAST), (err) => isCairnError(err, 'REPOSITORY_EXISTS'));
    await store.delete(repositoryLayout.config());
    await store.put(repositoryLayout.snapshot('c'.repeat(64)), 'x');
    await assert.rejects(initRepository(store, FAST), (err) =>
      isCairnError(err, 'REPOSITORY_CONFIG_MISSING'),
    );
  });

  it('opens with any of its passwords; a wrong one is a clear error and writes nothing', async () => {
    const store = new MemoryBlobStore();
    await initRepository(store, FAST);
    const repo = await Repository.open(store, 'pw');
    await repo.addKey('second', FAST.scrypt);
    await Repository.open(store, 'second');
    const before = await keys(store);
    await assert.rejects(Repository.open(store, 'third'), (err) => {
      assert.ok(isCairnError(err, 'REPOSITORY_WRONG_PASSWORD'));
      assert.match(err.message, /none of the 2 key file/);
      assert.match(err.hint ?? '', /Nothing was written/);
      return true;
    });
    assert.deepEqual(await keys(store), before);

    // A password change replaces the key in use; the last or current key cannot be removed.
    const second = await Repository.open(store, 'second');
    await second.changePassword('changed', FAST.scrypt);
    await assert.rejects(Repository.open(store, 'second'), (err) =>
      isCairnError(err, 'REPOSITORY_WRONG_PASSWORD'),
    );
    const changed = await Repository.open(store, 'changed');
    assert.equal(changed.keyId, second.keyId);
    await assert.rejects(removeKeyFile(store, { id: changed.keyId, currentKeyId: changed.keyId }), (err) =>
      isCairnError(err, 'REPOSITORY_KEY_IN_USE'),
    );
    await removeKeyFile(store, { id: repo.keyId.slice(0, 8), currentKeyId: changed.keyId });
    assert.equal((await listKeyFiles(store)).length, 1);
    await assert.rejects(Repository.open(store, 'pw'), (err) =>
      isCairnError(err, 'REPOSITORY_WRONG_PASSWORD'),
    );
    await assert.rejects(removeKeyFile(store, { id: 'ffff', currentKeyId: changed.keyId }), (err) =>
      isCairnError(err, 'REPOSITORY_KEY_NOT_FOUND'),
    );

    await assert.rejects(Repository.open(new MemoryBlobStore(), 'pw'), (err) =>
      isCairnError(err, 'REPOSITORY_NOT_INITIALIZED'),
    );
  });

  // In memory, the main thread reads pack spans; in a folder, the file workers read the pack file.
  for (const [kind, makeStore] of [
    ['in memory', () => new MemoryBlobStore()],
    ['in a folder', () => new FileSystemBlobStore(path.join(dir, `store-truncated-${Date.now()}`))],
  ] as const) {
    it(`restores around a truncated pack ${kind}: the cut-off files are reported, the others are exact`, async () => {
      const store = makeStore();
      if (store instanceof FileSystemBlobStore) await mkdir(store.root, { recursive: true });
      await initRepository(store, FAST);
      const repo = await Repository.open(store, 'pw');
      const src = path.join(dir, 'src-truncated');
      await mkdir(src, { recursive: true });
      const files = new Map<string, Buffer>();
      for (let i = 0; i < 12; i++) files.set(`f${i}.bin`, randomBytes(20_000 + i * 3000));
      for (const [name, data] of files) await writeFile(path.join(src, name), data);
      const done = await backup(repo, { source: src, program: 'test' });
      // Cut the last quarter off the pack of the last file: its blobs (and maybe others') are gone.
      const where = await firstChunkOf(repo, done.snapshot.tree, 'f11.bin');
      const key = repositoryLayout.pack(where.pack);
      const bytes = await store.get(key);
      await store.put(key, bytes.subarray(0, where.offset + Math.floor(where.length / 2)));
      const out = path.join(dir, `out-truncated-${kind.replaceAll(' ', '-')}`);
      const result = await restore(repo, { snapshot: await resolveSnapshot(repo, 'latest'), target: out });
      const failed = result.failures.map((f) => f.path);
      assert.ok(failed.includes('f11.bin'), JSON.stringify(result.failures));
      assert.match(
        result.failures.find((f) => f.path === 'f11.bin')?.problem ?? '',
        /shorter than the index says/,
      );
      for (const [name, data] of files) {
        if (failed.includes(name)) continue;
        assert.deepEqual(await readFile(path.join(out, name)), data, name);
      }
    });
  }

  it('reports the files of a pack file that is gone (read by the file workers), restoring the rest', async () => {
    const root = path.join(dir, 'store-missing-pack');
    await mkdir(root, { recursive: true });
    const store = new FileSystemBlobStore(root);
    await initRepository(store, FAST);
    const repo = await Repository.open(store, 'pw');
    const src = path.join(dir, 'src-missing-pack');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'kept.bin'), randomBytes(30_000));
    const first = await backup(repo, { source: src, program: 'test' });
    await writeFile(path.join(src, 'lost.bin'), randomBytes(30_000));
    await backup(repo, { source: src, program: 'test' });
    // The second backup's data pack holds lost.bin only: remove its file.
    const firstPacks = new Set<string>();
    for await (const { entry } of walkTree(repo, first.snapshot.tree))
      for (const id of entry.content ?? []) firstPacks.add(repo.lookup(id)?.pack ?? '');
    const latest = (await resolveSnapshot(repo, 'latest')).snapshot.tree;
    const lostPack = (await firstChunkOf(repo, latest, 'lost.bin')).pack;
    assert.ok(!firstPacks.has(lostPack));
    await rm(store.localFile(repositoryLayout.pack(lostPack)));
    const out = path.join(dir, 'out-missing-pack');
    const result = await restore(repo, { snapshot: await resolveSnapshot(repo, 'latest'), target: out });
    assert.deepEqual(
      result.failures.map((f) => f.path),
      ['lost.bin'],
    );
    assert.match(result.failures[0]?.problem ?? '', new RegExp(`pack ${lostPack} cannot be read: .*ENOENT`));
    assert.deepEqual(await readFile(path.join(out, 'kept.bin')), await readFile(path.join(src, 'kept.bin')));
    await assert.rejects(readFile(path.join(out, 'lost.bin')), { code: 'ENOENT' });
  });

  it('restores zero runs as holes with sparse (same bytes, fewer blocks), and writes them without', async () => {
    const store = new MemoryBlobStore();
    await initRepository(store, FAST);
    const repo = await Repository.open(store, 'pw');
    const src = path.join(dir, 'sparse-src');
    await mkdir(src, { recursive: true });
    // Data, 2 MiB of zeros, data, and zeros at the end (the file must still get its full size);
    // and a file that is one all-zero chunk (written whole).
    const MiB = 1024 * 1024;
    const content = Buffer.concat([
      randomBytes(100_000),
      Buffer.alloc(2 * MiB),
      randomBytes(100_000),
      Buffer.alloc(MiB),
    ]);
    await writeFile(path.join(src, 'disk.img'), content);
    await writeFile(path.join(src, 'zeros.bin'), Buffer.alloc(3000));
    await backup(repo, { source: src, program: 'test' });
    const snapshot = await resolveSnapshot(repo, 'latest');
    const allocated = async (file: string) => (await stat(file)).blocks * 512;
    for (const sparse of [true, false]) {
      const out = path.join(dir, `sparse-out-${sparse}`);
      const result = await restore(repo, { snapshot, target: out, sparse });
      assert.deepEqual(result.failures, []);
      assert.deepEqual(await readFile(path.join(out, 'disk.img')), content);
      assert.deepEqual(await readFile(path.join(out, 'zeros.bin')), Buffer.alloc(3000));
      const used = await allocated(path.join(out, 'disk.img'));
      if (sparse) {
        assert.ok(used < MiB, `sparse: ${used} bytes allocated for ${content.length}`);
        assert.equal(await allocated(path.join(out, 'zeros.bin')), 0);
      } else {
        assert.ok(used >= content.length, `not sparse: ${used} bytes allocated for ${content.length}`);
      }
    }
  });

  it('round-trips a small tree, dedups, and check names files of a missing pack', async () => {
    const store = new MemoryBlobStore();
    await initRepository(store, FAST);
    const repo = await Repository.open(store, 'pw');
    const src = path.join(dir, 'src');
    await mkdir(path.join(src, 'a/b'), { recursive: true });
    const random = Buffer.alloc(300_000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    await writeFile(path.join(src, 'a/b/one.bin'), random);
    await writeFile(path.join(src, 'two.txt'), 'hello '.repeat(10_000));
    const first = await backup(repo, { source: src, program: 'test' });
    assert.equal(first.snapshot.summary.files, 2);
    assert.ok(first.snapshot.summary.packs >= 2, 'data and tree packs');
    const second = await backup(repo, { source: src, program: 'test' });
    assert.equal(second.snapshot.summary.newBlobs, 0);

    const out = path.join(dir, 'out');
    const result = await restore(repo, { snapshot: await resolveSnapshot(repo, 'latest'), target: out });
    assert.deepEqual(result.failures, []);
    assert.deepEqual(await readFile(path.join(out, 'a/b/one.bin')), random);

    // Sockets, FIFOs and devices are skipped with a warning; the snapshot is still written.
    execFileSync('mkfifo', [path.join(src, 'a/pipe')]);
    const withFifo = await backup(repo, { source: src, program: 'test' });
    assert.deepEqual(
      withFifo.warnings.map((w) => w.path),
      ['a/pipe'],
    );
    assert.equal(withFifo.snapshot.summary.skipped, 1);

    const healthy = await checkRepository(repo, { readData: true });
    assert.ok(healthy.healthy, JSON.stringify(healthy.problems));
    // Lose the pack of one.bin's first chunk: check names it and the file.
    const where = await firstChunkOf(repo, first.snapshot.tree, 'a/b/one.bin');
    await store.delete(repositoryLayout.pack(where.pack));
    const report = await checkRepository(repo);
    assert.equal(report.healthy, false);
    const problem = report.problems.find((p) => p.pack === where.pack);
    assert.match(problem?.message ?? '', /missing from storage/);
    assert.ok(problem?.affects?.includes(`${first.id.slice(0, 8)}:a/b/one.bin`), JSON.stringify(problem));
  });
});

describe('packs staged in files (filesystem store)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-repo-staged-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const temps = async (root: string) =>
    (await readdir(root, { recursive: true })).map(String).filter((f) => f.includes(TEMP_FILE_MARKER));

  it('writes packs through the store staging, byte-identical in layout: check --read-data is clean', async () => {
    const root = path.join(dir, 'repo');
    await mkdir(root);
    const store = new FileSystemBlobStore(root);
    let staged = 0;
    const stage = store.stage.bind(store);
    store.stage = async () => {
      staged++;
      return stage();
    };
    await initRepository(store, FAST);
    const repo = await Repository.open(store, 'pw');
    const src = path.join(dir, 'src');
    await mkdir(src);
    // Several packs (packSize 256 KiB): random and text data, and blobs crossing the 1 MiB write buffer.
    await writeFile(path.join(src, 'random.bin'), randomBytes(3 * 1024 * 1024));
    await writeFile(path.join(src, 'text.txt'), 'staged pack bytes '.repeat(50_000));
    const result = await backup(repo, { source: src, program: 'test' });
    assert.ok(result.snapshot.summary.packs >= 4, `packs: ${result.snapshot.summary.packs}`);
    assert.equal(staged, result.snapshot.summary.packs, 'every pack went through staging');
    assert.deepEqual(await temps(root), [], 'no temp file left');
    const report = await checkRepository(repo, { readData: true });
    assert.ok(report.healthy, JSON.stringify(report.problems));
    const out = path.join(dir, 'out');
    const restored = await restore(repo, { snapshot: await resolveSnapshot(repo, 'latest'), target: out });
    assert.deepEqual(restored.failures, []);
    assert.deepEqual(
      await readFile(path.join(out, 'random.bin')),
      await readFile(path.join(src, 'random.bin')),
    );
  });

  it('a failing commit fails the backup, indexes nothing and leaves no temp file', async () => {
    const root = path.join(dir, 'failing');
    await mkdir(root);
    const store = new FileSystemBlobStore(root);
    await initRepository(store, FAST);
    const stage = store.stage.bind(store);
    store.stage = async () => {
      const inner = await stage();
      return {
        ...inner,
        commit: async () => {
          await inner.abort();
          throw new Error('disk gone');
        },
      };
    };
    const repo = await Repository.open(store, 'pw');
    const src = path.join(dir, 'src2');
    await mkdir(src);
    await writeFile(path.join(src, 'random.bin'), randomBytes(1024 * 1024));
    await assert.rejects(backup(repo, { source: src, program: 'test' }), /disk gone/);
    assert.deepEqual(await temps(root), []);
    assert.deepEqual(
      (await keys(store)).filter((k) => k.startsWith('repository/')),
      [],
      'no pack, index or snapshot',
    );
  });
});
