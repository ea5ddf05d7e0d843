import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachLimit, TokenBucket } from './rate-limit.ts';

describe('TokenBucket', () => {
  it('lets a burst through at once, then paces at qps', async () => {
    let clock = 0;
    const bucket = new TokenBucket(1000, 5, () => clock);
    for (let i = 0; i < 5; i++) await bucket.take();
    // The sixth call has no token until the clock advances; advance it while it waits.
    let done = false;
    const sixth = bucket.take().then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(done, false, 'the bucket is empty');
    clock += 1; // 1 ms at 1000 qps = one token
    await sixth;
    assert.equal(done, true);
  });

  it('rejects nonsense limits', () => {
    assert.throws(() => new TokenBucket(0, 1), RangeError);
    assert.throws(() => new TokenBucket(5, 0), RangeError);
  });
});

describe('forEachLimit', () => {
  it('never runs more than the limit at once and visits every item', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 2));
      seen.push(n);
      running--;
    });
    assert.equal(peak, 3);
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7],
    );
  });

  it('rejects with the first failure, after the items in flight settled, starting no new ones', async () => {
    const finished: number[] = [];
    await assert.rejects(
      forEachLimit([1, 2, 3, 4, 5], 2, async (n) => {
        if (n === 2) throw new Error('boom');
        await new Promise((r) => setTimeout(r, 20));
        finished.push(n);
      }),
      /boom/,
    );
    assert.deepEqual(finished, [1], 'item 1 was in flight and finished; 3–5 never started');
  });
});
