import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LeaseRecord, LeaseStore, StoredLease } from '../cluster/lease.ts';
import { ManualClock } from './clock.ts';
import { LeaderElector } from './leader-election.ts';

/** An in-memory Lease with resourceVersion checks, as the API server does them. */
class FakeLease implements LeaseStore {
  stored: StoredLease | undefined;
  #rv = 0;
  failing = false;
  async get() {
    if (this.failing) throw new Error('unreachable');
    return this.stored;
  }
  async create(record: LeaseRecord) {
    if (this.stored !== undefined) return false;
    this.stored = { record, resourceVersion: String(++this.#rv) };
    return true;
  }
  async update(record: LeaseRecord, resourceVersion: string) {
    if (this.failing) throw new Error('unreachable');
    if (this.stored?.resourceVersion !== resourceVersion) return false;
    this.stored = { record, resourceVersion: String(++this.#rv) };
    return true;
  }
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function candidate(store: FakeLease, clock: ManualClock, identity: string) {
  const log: string[] = [];
  const elector = new LeaderElector({
    store,
    clock,
    identity,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    onStartedLeading: () => log.push('start'),
    onStoppedLeading: () => log.push('stop'),
  });
  return { elector, log };
}

describe('LeaderElector', () => {
  it('one leads; the other takes over only after the lease expires on its own clock', async () => {
    const clock = new ManualClock(new Date(0));
    const store = new FakeLease();
    const a = candidate(store, clock, 'a');
    const b = candidate(store, clock, 'b');
    a.elector.start();
    await flush();
    b.elector.start();
    await flush();
    assert.equal(a.elector.isLeader, true);
    assert.equal(b.elector.isLeader, false);
    // a renews every retry period; b never gets it.
    for (let t = 0; t < 10; t++) {
      clock.advance(2_000);
      await flush();
    }
    assert.equal(b.elector.isLeader, false);
    assert.equal(store.stored?.record.holderIdentity, 'a');
    // a stops gracefully: it releases the lease.
    await a.elector.stop();
    assert.deepEqual(a.log, ['start', 'stop']);
    assert.equal(store.stored?.record.holderIdentity, '', 'released on stop');
    clock.advance(2_000);
    await flush();
    assert.equal(b.elector.isLeader, true, 'a released lease is taken on the next try');
    assert.equal(store.stored?.record.leaseTransitions, 1);
    await b.elector.stop();
  });

  it('a leader that cannot renew steps down after the renew deadline', async () => {
    const clock = new ManualClock(new Date(0));
    const store = new FakeLease();
    const a = candidate(store, clock, 'a');
    a.elector.start();
    await flush();
    assert.equal(a.elector.isLeader, true);
    store.failing = true;
    for (let t = 0; t < 4; t++) {
      clock.advance(2_000);
      await flush();
    }
    assert.equal(a.elector.isLeader, true, 'still within the 10 s deadline');
    clock.advance(2_000);
    await flush();
    assert.equal(a.elector.isLeader, false);
    assert.deepEqual(a.log, ['start', 'stop']);
    store.failing = false;
    await a.elector.stop();
  });

  it('a standby waits a whole lease duration after the last change it saw', async () => {
    const clock = new ManualClock(new Date(1_000_000));
    const store = new FakeLease();
    // A holder that stopped renewing (its process died) — renewTime far in the past does not matter.
    await store.create({
      holderIdentity: 'dead',
      leaseDurationSeconds: 15,
      renewTime: '1970-01-01T00:00:00.000000Z',
    });
    const b = candidate(store, clock, 'b');
    b.elector.start();
    await flush();
    assert.equal(b.elector.isLeader, false);
    for (let t = 0; t < 7; t++) {
      clock.advance(2_000);
      await flush();
    }
    assert.equal(b.elector.isLeader, false, '14 s observed');
    clock.advance(2_000);
    await flush();
    assert.equal(b.elector.isLeader, true);
    await b.elector.stop();
  });
});
