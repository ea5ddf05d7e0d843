import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SnapshotHasher, snapshotProblem } from './snapshot-format.ts';

function snapshotBytes(dbBytes: number): Buffer {
  const db = randomBytes(dbBytes);
  return Buffer.concat([db, createHash('sha256').update(db).digest()]);
}

function digestInChunks(bytes: Buffer, sizes: number[]) {
  const hasher = new SnapshotHasher();
  let offset = 0;
  let i = 0;
  while (offset < bytes.length) {
    const n = sizes[i++ % sizes.length] ?? 1;
    hasher.update(bytes.subarray(offset, offset + n));
    offset += n;
  }
  return hasher.digest();
}

describe('SnapshotHasher', () => {
  it('checks the SHA-256 trailer whatever the chunking, and hashes the whole file', () => {
    const bytes = snapshotBytes(8 * 4096);
    const fileSha = createHash('sha256').update(bytes).digest('hex');
    for (const sizes of [[bytes.length], [1], [31, 32, 33], [4096], [7, 100_000], [32]]) {
      const digest = digestInChunks(bytes, sizes);
      assert.equal(digest.trailerOk, true, `chunks ${sizes}`);
      assert.equal(digest.sha256, fileSha);
      assert.equal(digest.size, bytes.length);
      assert.equal(digest.dbSize, 8 * 4096);
      assert.equal(snapshotProblem(digest), undefined);
      assert.equal(digest, (() => digest)(), 'digest is memoised');
    }
  });

  it('rejects a flipped bit, a truncation and a missing trailer', () => {
    const bytes = snapshotBytes(4 * 4096);
    const flipped = Buffer.from(bytes);
    flipped[1000] = (flipped[1000] ?? 0) ^ 1;
    assert.match(snapshotProblem(digestInChunks(flipped, [4096])) ?? '', /trailer .* does not match/);
    assert.match(
      snapshotProblem(digestInChunks(bytes.subarray(0, bytes.length - 4096), [4096])) ?? '',
      /trailer .* does not match/,
    );
    assert.match(
      snapshotProblem(digestInChunks(bytes.subarray(0, 4 * 4096), [4096])) ?? '',
      /not whole bbolt pages/,
    );
    assert.match(snapshotProblem(digestInChunks(bytes.subarray(0, 40), [4096])) ?? '', /too short/);
    const hasher = new SnapshotHasher();
    assert.match(snapshotProblem(hasher.digest()) ?? '', /too short/);
  });
});
