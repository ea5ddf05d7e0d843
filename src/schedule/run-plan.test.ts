import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compactUtcSeconds,
  latestDueSlot,
  nextRunAfter,
  parseScheduledBackupName,
  planScheduleRun,
  type ScheduleRunInput,
  scheduledBackupName,
} from './run-plan.ts';

const t = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();

function plan(input: Partial<ScheduleRunInput> & Pick<ScheduleRunInput, 'now'>) {
  const p = planScheduleRun({ schedule: '0 * * * *', createdAt: t('2026-01-01T00:00:00Z'), ...input });
  return { due: p.due, slot: p.due ? iso(p.slot) : undefined, next: iso(p.nextRunTime) };
}

describe('planScheduleRun', () => {
  const cases: [
    string,
    Partial<ScheduleRunInput> & Pick<ScheduleRunInput, 'now'>,
    ReturnType<typeof plan>,
  ][] = [
    [
      'never ran: runs immediately, slot = now to the second',
      { now: t('2026-01-01T00:10:30.750Z') },
      { due: true, slot: '2026-01-01T00:10:30.000Z', next: '2026-01-01T01:00:00.000Z' },
    ],
    [
      'never ran + skipImmediately: waits for the first slot after creation',
      { now: t('2026-01-01T00:10:00Z'), skipImmediately: true },
      { due: false, slot: undefined, next: '2026-01-01T01:00:00.000Z' },
    ],
    [
      'never ran + skipImmediately, at the first slot: due',
      { now: t('2026-01-01T01:00:00Z'), skipImmediately: true },
      { due: true, slot: '2026-01-01T01:00:00.000Z', next: '2026-01-01T02:00:00.000Z' },
    ],
    [
      'between slots: not due, next slot reported',
      { now: t('2026-01-01T02:30:00Z'), lastScheduleTime: t('2026-01-01T02:00:00Z') },
      { due: false, slot: undefined, next: '2026-01-01T03:00:00.000Z' },
    ],
    [
      'exactly on a slot: due',
      { now: t('2026-01-01T03:00:00Z'), lastScheduleTime: t('2026-01-01T02:00:00Z') },
      { due: true, slot: '2026-01-01T03:00:00.000Z', next: '2026-01-01T04:00:00.000Z' },
    ],
    [
      'after downtime: ONE run for the latest missed slot',
      { now: t('2026-01-01T07:45:00Z'), lastScheduleTime: t('2026-01-01T02:00:00Z') },
      { due: true, slot: '2026-01-01T07:00:00.000Z', next: '2026-01-01T08:00:00.000Z' },
    ],
    [
      'the slot already run is not run again',
      { now: t('2026-01-01T07:45:00Z'), lastScheduleTime: t('2026-01-01T07:00:00Z') },
      { due: false, slot: undefined, next: '2026-01-01T08:00:00.000Z' },
    ],
    [
      'paused: never due, no next run',
      { now: t('2026-01-01T07:45:00Z'), paused: true },
      { due: false, slot: undefined, next: undefined },
    ],
    [
      'unpaused without skipImmediately: the missed slot runs',
      {
        now: t('2026-01-01T07:45:00Z'),
        lastScheduleTime: t('2026-01-01T02:00:00Z'),
        resumedAt: t('2026-01-01T07:44:00Z'),
      },
      { due: true, slot: '2026-01-01T07:00:00.000Z', next: '2026-01-01T08:00:00.000Z' },
    ],
    [
      'unpaused with skipImmediately: waits for the next slot',
      {
        now: t('2026-01-01T07:45:00Z'),
        lastScheduleTime: t('2026-01-01T02:00:00Z'),
        resumedAt: t('2026-01-01T07:44:00Z'),
        skipImmediately: true,
      },
      { due: false, slot: undefined, next: '2026-01-01T08:00:00.000Z' },
    ],
    [
      '@every 6h: counts from the last slot',
      { schedule: '@every 6h', now: t('2026-01-01T13:00:00Z'), lastScheduleTime: t('2026-01-01T00:00:00Z') },
      { due: true, slot: '2026-01-01T12:00:00.000Z', next: '2026-01-01T18:00:00.000Z' },
    ],
    [
      '@every 6h: not yet',
      { schedule: '@every 6h', now: t('2026-01-01T05:59:59Z'), lastScheduleTime: t('2026-01-01T00:00:00Z') },
      { due: false, slot: undefined, next: '2026-01-01T06:00:00.000Z' },
    ],
    [
      'time zone: 02:00 in New York is 07:00 UTC in winter',
      {
        schedule: '0 2 * * *',
        timeZone: 'America/New_York',
        now: t('2026-01-02T07:00:00Z'),
        lastScheduleTime: t('2026-01-01T07:00:00Z'),
      },
      { due: true, slot: '2026-01-02T07:00:00.000Z', next: '2026-01-03T07:00:00.000Z' },
    ],
    [
      'DST spring forward (Berlin): 02:30 does not exist on 29 March, runs at 03:00 CEST',
      {
        schedule: '30 2 * * *',
        timeZone: 'Europe/Berlin',
        now: t('2026-03-29T01:05:00Z'),
        lastScheduleTime: t('2026-03-28T01:30:00Z'),
      },
      { due: true, slot: '2026-03-29T01:00:00.000Z', next: '2026-03-30T00:30:00.000Z' },
    ],
    [
      'DST fall back (Berlin): 02:30 happens twice on 25 October, runs once',
      {
        schedule: '30 2 * * *',
        timeZone: 'Europe/Berlin',
        now: t('2026-10-25T01:45:00Z'),
        lastScheduleTime: t('2026-10-25T00:30:00Z'),
      },
      { due: false, slot: undefined, next: '2026-10-26T01:30:00.000Z' },
    ],
    [
      'DST fall back (Berlin): the first 02:30 (CEST) is the slot',
      {
        schedule: '30 2 * * *',
        timeZone: 'Europe/Berlin',
        now: t('2026-10-25T00:31:00Z'),
        lastScheduleTime: t('2026-10-24T00:30:00Z'),
      },
      { due: true, slot: '2026-10-25T00:30:00.000Z', next: '2026-10-26T01:30:00.000Z' },
    ],
    [
      'DST (New York, spring): daily 02:00 after the change is 06:00 UTC',
      {
        schedule: '0 2 * * *',
        timeZone: 'America/New_York',
        now: t('2026-03-09T06:00:00Z'),
        lastScheduleTime: t('2026-03-08T07:00:00Z'),
      },
      { due: true, slot: '2026-03-09T06:00:00.000Z', next: '2026-03-10T06:00:00.000Z' },
    ],
  ];
  for (const [what, input, expected] of cases) it(what, () => assert.deepEqual(plan(input), expected));

  it('a clock stepping minute by minute through a day fires every slot exactly once', () => {
    let last: Date | undefined;
    const fired: string[] = [];
    for (let m = 0; m <= 24 * 60; m++) {
      const now = new Date(Date.UTC(2026, 2, 28, 23, 0) + m * 60_000);
      const p = planScheduleRun({
        schedule: '*/30 * * * *',
        timeZone: 'Europe/Berlin',
        createdAt: t('2026-03-28T22:59:00Z'),
        skipImmediately: true,
        ...(last === undefined ? {} : { lastScheduleTime: last }),
        now,
      });
      if (p.due) {
        fired.push(p.slot.toISOString());
        last = p.slot;
      }
    }
    // 23:00 to 23:00 the next day, both ends included: 24 hours of a slot every 30 minutes, + 1
    // (the DST gap removes local times, not instants).
    assert.equal(fired.length, 49);
    assert.equal(new Set(fired).size, 49);
    assert.equal(fired[0], '2026-03-28T23:00:00.000Z');
    assert.equal(fired.at(-1), '2026-03-29T23:00:00.000Z');
  });
});

describe('nextRunAfter / latestDueSlot', () => {
  it('nicknames', () => {
    assert.equal(iso(nextRunAfter('@daily', t('2026-01-01T10:00:00Z'))), '2026-01-02T00:00:00.000Z');
    assert.equal(iso(nextRunAfter('@weekly', t('2026-01-01T10:00:00Z'))), '2026-01-04T00:00:00.000Z');
    assert.equal(
      iso(nextRunAfter('@monthly', t('2026-01-15T10:00:00Z'), 'Asia/Tokyo')),
      '2026-01-31T15:00:00.000Z',
    );
  });
  it('no slot due before the first one', () => {
    assert.equal(latestDueSlot('0 * * * *', t('2026-01-01T00:00:00Z'), t('2026-01-01T00:59:59Z')), undefined);
  });
});

describe('scheduled backup names', () => {
  it('are <schedule>-<UTC yyyymmddhhmmss>, whatever the time zone', () => {
    assert.equal(scheduledBackupName('nightly', t('2026-03-25T02:15:09.999Z')), 'nightly-20260325021509');
    assert.equal(compactUtcSeconds(t('2026-12-31T23:59:59Z')), '20261231235959');
  });
  it('parse back', () => {
    assert.deepEqual(parseScheduledBackupName('team-a-nightly-20260325021509'), {
      schedule: 'team-a-nightly',
      slot: t('2026-03-25T02:15:09Z'),
    });
    assert.equal(parseScheduledBackupName('manual-backup'), undefined);
    assert.equal(parseScheduledBackupName('x-20261345000000'), undefined);
  });
});
