import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from './clock.ts';
import { type ReconcileResult, WorkQueue } from './work-queue.ts';

/** A handler whose runs the test finishes by hand. */
function gated() {
  const runs: { key: string; finish: (r?: ReconcileResult | Error) => void }[] = [];
  const handler = (key: string) =>
    new Promise<ReconcileResult>((resolve, reject) => {
      runs.push({ key, finish: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  return { runs, handler };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('WorkQueue', () => {
  it('holds a queued key once and runs a key on one worker at a time', async () => {
    const { runs, handler } = gated();
    const q = new WorkQueue({ name: 't', handler, workers: 4, clock: new ManualClock(new Date(0)) });
    q.add('a');
    q.add('a');
    q.add('b');
    await tick();
    assert.deepEqual(
      runs.map((r) => r.key),
      ['a', 'b'],
    );
    q.add('a'); // while running: once more after this run, not in parallel
    q.add('a');
    await tick();
    assert.equal(runs.length, 2);
    runs[0]?.finish();
    await tick();
    assert.deepEqual(
      runs.map((r) => r.key),
      ['a', 'b', 'a'],
    );
  });

  it('retries failures with exponential backoff and honours requeueAfter', async () => {
    const clock = new ManualClock(new Date(0));
    const { runs, handler } = gated();
    const q = new WorkQueue({ name: 't', handler, clock, baseDelayMs: 100, maxDelayMs: 250 });
    q.add('k');
    await tick();
    runs[0]?.finish(new Error('boom'));
    await tick();
    assert.equal(q.dueAt('k'), 100);
    clock.advance(100);
    await tick();
    runs[1]?.finish(new Error('boom'));
    await tick();
    assert.equal(q.dueAt('k'), 300, '200 ms after the second failure');
    clock.advance(200);
    await tick();
    runs[2]?.finish(new Error('boom'));
    await tick();
    assert.equal(q.dueAt('k'), 550, 'capped at 250 ms');
    clock.advance(250);
    await tick();
    runs[3]?.finish({ requeueAfterMs: 1000 });
    await tick();
    assert.equal(q.dueAt('k'), 1550, 'not ready yet is a result: no backoff');
    q.addAfter('k', 10);
    assert.equal(q.dueAt('k'), 560, 'the earlier time wins');
  });

  it('shutdown drops delayed work and waits for running handlers', async () => {
    const { runs, handler } = gated();
    const q = new WorkQueue({ name: 't', handler, clock: new ManualClock(new Date(0)) });
    q.add('a');
    q.addAfter('b', 1000);
    await tick();
    let done = false;
    const stopped = q.shutdown().then((all) => {
      done = all;
    });
    q.add('c');
    await tick();
    assert.equal(done, false);
    runs[0]?.finish();
    await stopped;
    assert.equal(done, true);
    assert.deepEqual(
      runs.map((r) => r.key),
      ['a'],
    );
    assert.equal(q.length, 0);
  });
});
