import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ControllerContext } from './context.ts';
import { statusProgress } from './status-progress.ts';

/** Just what statusProgress touches: a clock, the interval, status patches and a logger. */
function fakeContext(patch: (status: object) => Promise<void>) {
  let now = 0;
  const warnings: string[] = [];
  const ctx = {
    clock: { now: () => new Date(now) },
    settings: { progressIntervalMs: 2_000 },
    resources: { patchStatus: (_plural: string, _name: string, status: object) => patch(status) },
    log: { warn: (_fields: object, message: string) => warnings.push(message) },
  } as unknown as ControllerContext;
  return { ctx, warnings, advance: (ms: number) => (now += ms) };
}

describe('statusProgress', () => {
  it('writes at most once per interval, in the order offered', async () => {
    const written: object[] = [];
    const { ctx, advance } = fakeContext(async (status) => {
      // The first write is slow: a later one must still land after it.
      if (written.length === 0) await new Promise((r) => setTimeout(r, 20));
      written.push(status);
    });
    const progress = statusProgress(ctx, 'restores', 'r1', new Date(0), (done: number) => ({ done }));
    progress.offer(1); // within the first interval: dropped
    advance(2_000);
    progress.offer(2);
    progress.offer(3); // same instant: dropped
    advance(1_999);
    progress.offer(4); // 1.999 s after the last write: dropped
    advance(1);
    progress.offer(5);
    await progress.settled();
    assert.deepEqual(written, [{ done: 2 }, { done: 5 }]);
  });

  it('logs a failed write and keeps going', async () => {
    let calls = 0;
    const { ctx, warnings, advance } = fakeContext(async () => {
      calls++;
      if (calls === 1) throw new Error('conflict');
    });
    const progress = statusProgress(ctx, 'backups', 'b1', new Date(0), (n: number) => ({ n }));
    advance(5_000);
    progress.offer(1);
    advance(5_000);
    progress.offer(2);
    await progress.settled();
    assert.equal(calls, 2);
    assert.deepEqual(warnings, ['progress write failed']);
  });
});
