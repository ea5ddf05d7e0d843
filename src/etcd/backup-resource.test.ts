import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupPhase, isStale, nextSnapshotAt, withEtcdBackupDefaults } from './backup-resource.ts';

const MIN = 60_000;
const t0 = new Date('2026-01-01T00:00:00Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * MIN);

describe('EtcdBackup schedule decisions', () => {
  it('defaults to kops: every 15 minutes, hourly for a week, daily for a year', () => {
    const spec = withEtcdBackupDefaults({
      cluster: 'main',
      location: 'default',
      endpoints: ['https://x:2379'],
    });
    assert.equal(spec.interval, '15m');
    assert.equal(spec.retention.hourlyFor, '168h');
    assert.equal(spec.retention.dailyFor, '365d');
    assert.equal(spec.paused, false);
    assert.throws(
      () => withEtcdBackupDefaults({ cluster: 'm', location: 'l', endpoints: [], interval: 'soon' }),
      /invalid interval/,
    );
  });

  it('schedules one interval after the last attempt, sooner after a failure, at once when never run', () => {
    assert.equal(nextSnapshotAt({}, 15 * MIN), undefined);
    assert.deepEqual(nextSnapshotAt({ lastSuccessAt: at(0), lastAttemptAt: at(0) }, 15 * MIN), at(15));
    assert.deepEqual(
      nextSnapshotAt({ lastSuccessAt: at(0), lastAttemptAt: at(30), lastAttemptFailed: true }, 15 * MIN),
      new Date(at(30).getTime() + 3.75 * MIN),
    );
    assert.deepEqual(nextSnapshotAt({ lastAttemptAt: at(0), lastAttemptFailed: true }, 2 * MIN), at(1));
  });

  it('is stale after twice the interval without success (the alert condition)', () => {
    assert.equal(isStale(undefined, 15 * MIN, at(0)), true);
    assert.equal(isStale(at(0), 15 * MIN, at(30)), false);
    assert.equal(isStale(at(0), 15 * MIN, at(31)), true);
    const base = {
      paused: false,
      controlFilesHealthy: true,
      intervalMs: 15 * MIN,
      now: at(10),
      lastSuccessAt: at(0),
    };
    assert.equal(backupPhase(base), 'Healthy');
    assert.equal(backupPhase({ ...base, controlFilesHealthy: false }), 'Failing');
    assert.equal(backupPhase({ ...base, now: at(45) }), 'Stale');
    assert.equal(backupPhase({ ...base, paused: true, controlFilesHealthy: false }), 'Paused');
  });
});
