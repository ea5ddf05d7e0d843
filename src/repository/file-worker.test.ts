import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { zstdDecompressSync } from 'node:zlib';
import { Chunker, gearTable } from './chunker.ts';
import { blobId, open as openSealed, splitMasterKey } from './crypto.ts';
import { type ChunkSink, FileWorkerPool } from './file-worker.ts';
import { type ChunkerParams, DEFAULT_CHUNKER } from './format.ts';

describe('FileWorkerPool', () => {
  let dir: string;
  const master = splitMasterKey(randomBytes(64));
  const keys = { encryption: master.encryption, mac: master.mac, level: 1, chunker: DEFAULT_CHUNKER };
  const files: Buffer[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-file-worker-'));
    for (let i = 0; i < 12; i++) {
      const content = i % 2 === 0 ? randomBytes(5000 + i) : Buffer.from('text '.repeat(2000 + i));
      files.push(content);
      await writeFile(path.join(dir, `f${i}`), content);
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads, ids and seals files; starts a second worker only once the job proved big', async () => {
    const pool = new FileWorkerPool(keys, 2, 4);
    try {
      // A small job, even with everything in flight at once: one worker.
      const first = await Promise.all([0, 1, 2, 3].map((i) => pool.read(path.join(dir, `f${i}`), 100_000)));
      assert.equal(pool.started, 1);
      for (const [i, reply] of first.entries()) {
        assert.ok(reply.ok && !('tooBig' in reply) && reply.empty !== true);
        const content = files[i] as Buffer;
        assert.equal(reply.id, blobId(master.macKey, content).toString('hex'));
        assert.equal(reply.compression, i % 2 === 0 ? 'none' : 'zstd');
        const opened = openSealed(master.encryptionKey, 'data', reply.sealed);
        assert.ok(opened !== undefined);
        assert.deepEqual(reply.compression === 'zstd' ? zstdDecompressSync(opened) : opened, content);
      }
      // Past the threshold, with work piling up: the second worker starts.
      await Promise.all([4, 5, 6, 7, 8, 9, 10, 11].map((i) => pool.read(path.join(dir, `f${i}`), 100_000)));
      assert.equal(pool.started, 2);
      const missing = await pool.read(path.join(dir, 'nope'), 100_000);
      assert.ok(!missing.ok && missing.code === 'ENOENT');
    } finally {
      await pool.close();
    }
  });

  it('fails the requests of a worker that dies, and serves the next ones with a new worker', async () => {
    const pool = new FileWorkerPool(keys, 1, 0);
    try {
      // A read buffer beyond any size throws before the worker's own error handling: it dies.
      await assert.rejects(
        pool.read(path.join(dir, 'f0'), Number.MAX_SAFE_INTEGER),
        (err: Error & { code?: string }) =>
          err.code === 'REPOSITORY_WORKER_FAILED' && /file worker stopped/.test(err.message),
      );
      assert.equal(pool.started, 0, 'the dead worker left the pool');
      const reply = await pool.read(path.join(dir, 'f0'), 100_000);
      assert.ok(reply.ok && !('tooBig' in reply) && reply.empty !== true);
      assert.equal(pool.started, 1);
    } finally {
      await pool.close();
    }
  });

  describe('chunk jobs (files of more than one chunk)', () => {
    // Small chunks, so a few hundred KiB make many chunks and several batches per window.
    const SMALL: ChunkerParams = {
      algorithm: 'fastcdc-gear32-v1',
      minSize: 2048,
      avgSize: 8192,
      maxSize: 65536,
    };
    const chunkKeys = { ...keys, chunker: SMALL };
    const reference = new Chunker(SMALL, gearTable(master.mac));
    const idsOf = (data: Buffer) =>
      [...reference.chunks(data)].map((c) => blobId(master.macKey, c).toString('hex'));
    const plainOf = (data: Buffer) =>
      new Map(
        [...reference.chunks(data)].map((c) => [blobId(master.macKey, c).toString('hex'), Buffer.from(c)]),
      );

    /** A writer stand-in: claims each id once, keeps what is stored. */
    const memorySink = (known: ReadonlySet<string> = new Set()) => {
      const claimed = new Set<string>();
      const stored = new Map<string, { compression: string; sealed: Buffer }>();
      const sink: ChunkSink = {
        claim: (id) => {
          if (known.has(id) || claimed.has(id)) return false;
          claimed.add(id);
          return true;
        },
        store: async (blob, sealed) => {
          assert.ok(claimed.has(blob.id), 'stores only what it claimed');
          assert.ok(!stored.has(blob.id), 'stores each blob once');
          await new Promise((r) => setTimeout(r, 1)); // a pack write takes a while
          stored.set(blob.id, { compression: blob.compression, sealed: Buffer.from(sealed) });
        },
      };
      return { sink, claimed, stored };
    };

    it('ids every chunk as the chunker would, and seals each claimed chunk once across files', async () => {
      // b starts with a's first 300 KiB: the chunks they share are sealed and stored once.
      const a = Buffer.concat([randomBytes(300 * 1024), Buffer.from('log line of text\n'.repeat(20_000))]);
      const b = Buffer.concat([a.subarray(0, 300 * 1024), randomBytes(200 * 1024)]);
      await writeFile(path.join(dir, 'big-a'), a);
      await writeFile(path.join(dir, 'big-b'), b);
      const pool = new FileWorkerPool(chunkKeys, 2, 0);
      const { sink, claimed, stored } = memorySink();
      try {
        const [ra, rb] = await Promise.all([
          pool.chunk(path.join(dir, 'big-a'), a.length, sink),
          pool.chunk(path.join(dir, 'big-b'), b.length, sink),
        ]);
        assert.ok(ra.ok && rb.ok);
        assert.equal(ra.size, a.length);
        assert.equal(rb.size, b.length);
        assert.deepEqual(ra.ids, idsOf(a));
        assert.deepEqual(rb.ids, idsOf(b));
        const unique = new Set([...ra.ids, ...rb.ids]);
        assert.ok(unique.size < ra.ids.length + rb.ids.length, 'the files share chunks');
        assert.deepEqual(new Set(stored.keys()), unique);
        assert.deepEqual(claimed, unique);
        const plain = new Map([...plainOf(a), ...plainOf(b)]);
        let compressed = 0;
        for (const [id, { compression, sealed }] of stored) {
          const opened = openSealed(master.encryptionKey, 'data', sealed);
          assert.ok(opened !== undefined, `blob ${id} opens`);
          if (compression === 'zstd') compressed++;
          assert.deepEqual(compression === 'zstd' ? zstdDecompressSync(opened) : opened, plain.get(id));
        }
        assert.ok(compressed > 0, 'the text part is compressed');
      } finally {
        await pool.close();
      }
    });

    it('seals nothing the repository has; reports a missing file; stops a job whose store fails', async () => {
      const data = randomBytes(256 * 1024);
      await writeFile(path.join(dir, 'known'), data);
      const pool = new FileWorkerPool(chunkKeys, 1, 0);
      try {
        const known = memorySink(new Set(idsOf(data)));
        const reply = await pool.chunk(path.join(dir, 'known'), data.length, known.sink);
        assert.ok(reply.ok);
        assert.deepEqual(reply.ids, idsOf(data));
        assert.equal(known.stored.size, 0);

        const missing = await pool.chunk(path.join(dir, 'nope'), 1, memorySink().sink);
        assert.ok(!missing.ok && missing.code === 'ENOENT');

        const failing: ChunkSink = {
          claim: () => true,
          store: async () => {
            throw Object.assign(new Error('disk full'), { code: 'STORAGE_TEST' });
          },
        };
        await assert.rejects(pool.chunk(path.join(dir, 'known'), data.length, failing), /disk full/);
        // The worker ended that job and still serves.
        const again = await pool.chunk(path.join(dir, 'known'), data.length, memorySink().sink);
        assert.ok(again.ok);
        assert.equal(pool.started, 1);
      } finally {
        await pool.close();
      }
    });
  });
});
