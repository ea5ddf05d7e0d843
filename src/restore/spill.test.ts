import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ObjectSpill } from './spill.ts';

describe('ObjectSpill', () => {
  it('reads back every value by its reference, across flushes, in any order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-spill-'));
    try {
      const spill = await ObjectSpill.create(join(dir, 'plan.json'));
      const values = Array.from({ length: 3000 }, (_, i) => ({ i, text: 'ü'.repeat(i % 700) }));
      const refs = [];
      for (const v of values) refs.push(await spill.append(v));
      await spill.flush();
      for (let i = values.length - 1; i >= 0; i -= 7)
        assert.deepEqual(await spill.read(refs[i] as never), values[i]);
      await spill.close();
      await assert.rejects(ObjectSpill.create(join(dir, 'plan.json')), /EEXIST/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
