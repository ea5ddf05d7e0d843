import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RetentionPolicy } from '../api/schedule.ts';
import { planRetention, type RetentionItem } from './retention.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = new Date('2026-11-25T12:00:00Z');

/** `count` items every `stepMs`, the newest at `newest`; `bad(i)` marks failures (i = 0 is the newest). */
function history(
  count: number,
  stepMs: number,
  newest = new Date(NOW.getTime() - HOUR),
  bad: (i: number) => boolean = () => false,
): RetentionItem[] {
  return Array.from({ length: count }, (_, i) => {
    const time = new Date(newest.getTime() - i * stepMs);
    return { name: `b-${time.toISOString()}`, time, good: !bad(i) };
  });
}

const at = (iso: string, good = true, name = `b-${iso}`): RetentionItem => ({
  name,
  time: new Date(iso),
  good,
});
const kept = (items: RetentionItem[], policy: RetentionPolicy, now = NOW, timeZone?: string) =>
  planRetention(items, policy, now, timeZone === undefined ? {} : { timeZone }).keep.map((k) => k.name);
const names = (items: RetentionItem[], indexes: number[]) => indexes.map((i) => items[i]?.name);

/** Invariants every plan must hold, checked on every table case. */
function checkInvariants(items: RetentionItem[], policy: RetentionPolicy) {
  const plan = planRetention(items, policy, NOW);
  const all = [...plan.keep.map((k) => k.name), ...plan.delete.map((d) => d.name)];
  assert.equal(all.length, items.length, 'every item is either kept or deleted');
  assert.equal(new Set(all).size, items.length, 'no item twice');
  const good = items.filter((i) => i.good).sort((a, b) => b.time.getTime() - a.time.getTime());
  const keptNames = new Set(plan.keep.map((k) => k.name));
  if (good[0] !== undefined) assert.ok(keptNames.has(good[0].name), 'the newest good item is kept');
  const floor = Math.min(policy.minGoodBackups ?? 1, good.length);
  assert.ok(good.filter((g) => keptNames.has(g.name)).length >= floor, 'the minGoodBackups floor holds');
  for (const k of plan.keep) assert.ok(k.reasons.length > 0);
  // The plan does not depend on the order of the input.
  const shuffled = [...items].reverse();
  assert.deepEqual(planRetention(shuffled, policy, NOW), plan);
  return plan;
}

describe('planRetention table', () => {
  const hourly48 = history(48, HOUR);
  const quarterHours = history(4 * 48, 15 * 60_000, new Date(NOW.getTime() - 15 * 60_000));
  const daily400 = history(400, DAY, new Date('2026-11-25T02:00:00Z'));
  const recentFailures = [
    ...history(20, HOUR, new Date(NOW.getTime() - HOUR), () => true),
    ...history(5, DAY, new Date(NOW.getTime() - 3 * DAY)),
  ];
  const oldGood = [
    ...history(30, DAY, new Date(NOW.getTime() - HOUR), () => true),
    ...history(3, DAY, new Date(NOW.getTime() - 40 * DAY)),
  ];
  const alternating = history(30, HOUR, undefined, (i) => i % 2 === 0);

  const cases: {
    what: string;
    items: RetentionItem[];
    policy: RetentionPolicy;
    keep: number | (string | undefined)[];
  }[] = [
    { what: 'no rule keeps everything', items: hourly48, policy: {}, keep: 48 },
    { what: 'minGoodBackups alone is no rule', items: hourly48, policy: { minGoodBackups: 3 }, keep: 48 },
    { what: 'keepLast 5', items: hourly48, policy: { keepLast: 5 }, keep: names(hourly48, [0, 1, 2, 3, 4]) },
    {
      what: 'keepLast 0 still keeps the newest good',
      items: hourly48,
      policy: { keepLast: 0 },
      keep: names(hourly48, [0]),
    },
    { what: 'keepLast larger than history', items: hourly48, policy: { keepLast: 100 }, keep: 48 },
    {
      what: 'keepHourly 24 over quarter-hour backups: the newest of each hour',
      items: quarterHours,
      policy: { keepHourly: 24 },
      keep: Array.from({ length: 24 }, (_, h) => quarterHours[h * 4]?.name),
    },
    { what: 'ttl 24h over hourly backups', items: hourly48, policy: { ttl: '24h' }, keep: 23 },
    {
      what: 'ttl 24h + minGoodBackups 30',
      items: hourly48,
      policy: { ttl: '24h', minGoodBackups: 30 },
      keep: 30,
    },
    {
      what: 'a year of dailies: 7 daily + 4 weekly + 12 monthly + 2 yearly',
      items: daily400,
      policy: { keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 2 },
      // 7 days (19..25 Nov) hold the newest of this ISO week and the last; 2 more Sundays (15, 8
      // Nov); 12 months, the newest of which is today; yearly 2026 is today, 2025 is 31 Dec (monthly).
      keep: 7 + 2 + 11,
    },
    {
      what: 'only failures recently: failures never fill keep slots',
      items: recentFailures,
      policy: { keepLast: 3, keepHourly: 24 },
      // the newest failure (diagnosis) + the 3 newest good ones (keepLast, and hourly fills with them)
      keep: names(recentFailures, [0, 20, 21, 22, 23, 24])
        .slice(0, 1)
        .concat(names(recentFailures, [20, 21, 22, 23, 24])),
    },
    {
      what: 'only failures recently, keepLast 2: old good ones beyond it go',
      items: recentFailures,
      policy: { keepLast: 2 },
      keep: names(recentFailures, [0, 20, 21]),
    },
    {
      what: 'newest good backup is old and past its ttl: still kept, with the floor',
      items: oldGood,
      policy: { ttl: '168h', minGoodBackups: 2 },
      // failures within 7 days (0..6) and the 2 newest good backups (40 and 41 days old)
      keep: names(oldGood, [0, 1, 2, 3, 4, 5, 6, 30, 31]),
    },
    {
      what: 'newest good backup is old, minGoodBackups 0: the newest good still stays',
      items: oldGood,
      policy: { ttl: '24h', minGoodBackups: 0 },
      keep: names(oldGood, [0, 30]),
    },
    {
      what: 'alternating failures: keepLast counts good ones only',
      items: alternating,
      policy: { keepLast: 3 },
      keep: names(alternating, [0, 1, 3, 5]),
    },
    {
      what: 'everything failed: only the newest failure is kept',
      items: history(10, HOUR, undefined, () => true),
      policy: { keepLast: 3 },
      keep: 1,
    },
    { what: 'empty history', items: [], policy: { keepLast: 3 }, keep: 0 },
  ];

  for (const c of cases) {
    it(c.what, () => {
      checkInvariants(c.items, c.policy);
      const result = kept(c.items, c.policy);
      if (typeof c.keep === 'number') assert.equal(result.length, c.keep, result.join('\n'));
      else assert.deepEqual(result, c.keep);
    });
  }
});

describe('planRetention rules', () => {
  it('keepHourly counts hours that HAVE a backup (restic semantics)', () => {
    const items = [
      at('2026-11-25T09:10:00Z'),
      at('2026-11-25T09:05:00Z'),
      at('2026-11-25T05:00:00Z'),
      at('2026-11-25T01:00:00Z'),
      at('2026-11-24T20:00:00Z'),
    ];
    assert.deepEqual(kept(items, { keepHourly: 3 }), names(items, [0, 2, 3]));
  });

  it('ttl vs keep rules: a monthly keep outlives the ttl, everything else past it goes', () => {
    const items = history(90, DAY, new Date('2026-11-25T02:00:00Z'));
    const plan = planRetention(items, { ttl: '720h', keepMonthly: 3 }, NOW);
    const keptNames = plan.keep.map((k) => k.name);
    // 30 days within the ttl (25 Nov … 27 Oct at 02:00; 720 h before now is 26 Oct 12:00, and
    // October's newest, 31 Oct, is among them) plus September's newest.
    assert.equal(keptNames.length, 30 + 1);
    assert.ok(keptNames.includes('b-2026-10-31T02:00:00.000Z'));
    assert.ok(keptNames.includes('b-2026-09-30T02:00:00.000Z'));
    const old = plan.delete.find((d) => d.name === 'b-2026-10-01T02:00:00.000Z');
    assert.equal(old?.reason, 'older than ttl 720h');
    const monthly = plan.keep.find((k) => k.name === 'b-2026-09-30T02:00:00.000Z');
    assert.deepEqual(monthly?.reasons, ['monthly 2026-09']);
  });

  it("an item's own expiration wins over the policy ttl", () => {
    const items = [
      { ...at('2026-11-25T10:00:00Z'), expiration: new Date('2026-11-25T11:00:00Z') },
      { ...at('2026-11-25T09:00:00Z'), expiration: new Date('2026-12-25T00:00:00Z') },
      at('2026-11-20T09:00:00Z'),
    ];
    const plan = planRetention(items, { ttl: '24h', minGoodBackups: 0 }, NOW);
    assert.deepEqual(
      plan.keep.map((k) => [k.name, k.reasons]),
      [
        ['b-2026-11-25T10:00:00Z', ['newest good backup']],
        ['b-2026-11-25T09:00:00Z', ['not expired']],
      ],
    );
    assert.deepEqual(plan.delete, [{ name: 'b-2026-11-20T09:00:00Z', reason: 'older than ttl 24h' }]);
  });

  it('failed backups within the ttl are kept, past it deleted as failed', () => {
    const items = [
      at('2026-11-25T10:00:00Z', false),
      at('2026-11-23T10:00:00Z', false),
      at('2026-11-25T09:00:00Z'),
    ];
    const plan = planRetention(items, { ttl: '24h' }, NOW);
    assert.deepEqual(
      plan.keep.map((k) => k.name),
      ['b-2026-11-25T10:00:00Z', 'b-2026-11-25T09:00:00Z'],
    );
    assert.deepEqual(plan.delete, [{ name: 'b-2026-11-23T10:00:00Z', reason: 'older than ttl 24h' }]);
    const noTtl = planRetention(items, { keepLast: 5 }, NOW);
    assert.deepEqual(noTtl.delete, [{ name: 'b-2026-11-23T10:00:00Z', reason: 'failed backup' }]);
  });

  it('a failure older than the newest good backup is not kept for diagnosis', () => {
    const items = [at('2026-11-25T10:00:00Z'), at('2026-11-25T09:00:00Z', false)];
    assert.deepEqual(kept(items, { keepLast: 1 }), ['b-2026-11-25T10:00:00Z']);
  });

  it('daily buckets follow the time zone', () => {
    // 23:30 and 00:30 UTC are two UTC days but one day in Tokyo (08:30 and 09:30).
    const items = [at('2026-11-25T00:30:00Z'), at('2026-11-24T23:30:00Z'), at('2026-11-23T23:30:00Z')];
    assert.deepEqual(kept(items, { keepDaily: 2 }), names(items, [0, 1]));
    assert.deepEqual(kept(items, { keepDaily: 2 }, NOW, 'Asia/Tokyo'), names(items, [0, 2]));
  });

  it('the repeated hour of a DST fall-back is two hourly buckets', () => {
    // 00:15Z and 01:15Z on 25 Oct 2026 are both 02:15 in Berlin (CEST, then CET).
    const items = [at('2026-10-25T01:15:00Z'), at('2026-10-25T00:15:00Z'), at('2026-10-24T23:15:00Z')];
    assert.deepEqual(kept(items, { keepHourly: 2 }, NOW, 'Europe/Berlin'), names(items, [0, 1]));
  });

  it('the spring-forward day is one daily bucket of 23 hours', () => {
    const items = [at('2026-03-29T21:00:00Z'), at('2026-03-28T23:30:00Z'), at('2026-03-28T22:30:00Z')];
    // Berlin: 23:00 CEST on the 29th, 00:30 CET on the 29th, 23:30 CET on the 28th.
    assert.deepEqual(kept(items, { keepDaily: 2 }, NOW, 'Europe/Berlin'), names(items, [0, 2]));
  });

  it('weekly buckets are ISO weeks, across the year boundary', () => {
    // 2026 has an ISO week 53: Mon 28 Dec 2026 … Sun 3 Jan 2027; Mon 4 Jan 2027 starts 2027-W01.
    const now = new Date('2027-01-05T00:00:00Z');
    const items = [
      at('2027-01-04T02:00:00Z'),
      at('2027-01-03T02:00:00Z'),
      at('2026-12-31T02:00:00Z'),
      at('2026-12-28T02:00:00Z'),
      at('2026-12-27T02:00:00Z'),
    ];
    const plan = planRetention(items, { keepWeekly: 3 }, now);
    assert.deepEqual(
      plan.keep.map((k) => k.name),
      names(items, [0, 1, 4]),
    );
    assert.ok(plan.keep[1]?.reasons.includes('weekly 2026-W53'));
    assert.ok(plan.keep[2]?.reasons.includes('weekly 2026-W52'));
  });

  it('yearly keeps the newest of each year', () => {
    const items = [
      at('2026-02-01T00:00:00Z'),
      at('2025-12-31T23:00:00Z'),
      at('2025-01-01T00:00:00Z'),
      at('2024-06-01T00:00:00Z'),
    ];
    assert.deepEqual(kept(items, { keepYearly: 2 }), names(items, [0, 1]));
  });

  it('reasons list every rule that keeps an item', () => {
    const items = history(3, HOUR);
    const plan = planRetention(items, { keepLast: 1, keepHourly: 1, keepDaily: 1 }, NOW);
    assert.deepEqual(plan.keep[0]?.reasons, [
      'keepLast 1',
      'hourly 2026-11-25 11:00',
      'daily 2026-11-25',
      'newest good backup',
    ]);
    assert.deepEqual(
      plan.delete.map((d) => d.reason),
      ['not kept by any rule', 'not kept by any rule'],
    );
  });

  it('equal times are ordered by name, so the plan is stable', () => {
    const items = [at('2026-11-25T10:00:00Z', true, 'a'), at('2026-11-25T10:00:00Z', true, 'b')];
    assert.deepEqual(kept(items, { keepLast: 1 }), ['b']);
    assert.deepEqual(kept([...items].reverse(), { keepLast: 1 }), ['b']);
  });

  it('many random histories hold the invariants', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 200; round++) {
      const items: RetentionItem[] = [];
      const count = Math.floor(random() * 60);
      for (let i = 0; i < count; i++) {
        const time = new Date(NOW.getTime() - Math.floor(random() * 400 * DAY));
        items.push({ name: `r${round}-${i}`, time, good: random() > 0.3 });
      }
      const pick = (max: number) => (random() < 0.5 ? undefined : Math.floor(random() * max));
      const policy: RetentionPolicy = {};
      for (const field of [
        'keepLast',
        'keepHourly',
        'keepDaily',
        'keepWeekly',
        'keepMonthly',
        'keepYearly',
        'minGoodBackups',
      ] as const) {
        const n = pick(10);
        if (n !== undefined) policy[field] = n;
      }
      if (random() < 0.5) policy.ttl = `${1 + Math.floor(random() * 100)}d`;
      checkInvariants(items, policy);
    }
  });
});
