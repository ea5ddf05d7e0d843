import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { zstdDecompressSync } from 'node:zlib';
import { blobId, open as openSealed, splitMasterKey } from './crypto.ts';
import { FileWorkerPool } from './file-worker.ts';

describe('FileWorkerPool', () => {
  let dir: string;
  const master = splitMasterKey(randomBytes(64));
  const keys = { encryption: master.encryption, mac: master.mac, level: 1 };
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
});
