import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { YoungGarbage } from './young-garbage.ts';

describe('YoungGarbage', () => {
  it('collects once per budget of bytes made', () => {
    const young = new YoungGarbage(1000);
    for (let i = 0; i < 25; i++) young.made(100);
    assert.equal(young.collections, 2);
  });

  it('frees the outside-heap memory of dead cipher outputs as it goes', () => {
    // 256 MiB of ciphertexts, each dead at once: without young collections V8 would let
    // them pile up to its ~64 MiB external-memory trigger.
    const young = new YoungGarbage(2 * 1024 * 1024);
    const key = randomBytes(32);
    const input = randomBytes(256 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    let most = 0;
    for (let i = 0; i < 1024; i++) {
      const out = createCipheriv('aes-256-gcm', key, randomBytes(12)).update(input);
      young.made(out.length);
      most = Math.max(most, process.memoryUsage().arrayBuffers - before);
    }
    assert.ok(young.collections >= 100, `${young.collections} collections`);
    assert.ok(most < 16 * 1024 * 1024, `at most ${(most / 2 ** 20).toFixed(1)} MiB of buffers alive at once`);
  });
});
