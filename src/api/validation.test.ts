import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newBackup } from './backup.ts';
import { newBackupLocation } from './backup-location.ts';
import { labelSelectorProblem } from './label-selector.ts';
import { newRestore } from './restore.ts';
import { newSchedule, type ScheduleSpec } from './schedule.ts';
import {
  storageLocationProblems,
  validateBackup,
  validateBackupLocation,
  validateBackupLocationSpec,
  validateBackupSpec,
  validateEtcdBackupSpec,
  validateRestore,
  validateRestoreSpec,
  validateSchedule,
  validateScheduleSpec,
} from './validation.ts';

/** Asserts exactly one problem and that it matches. */
function one(problems: string[], expected: RegExp): void {
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0] ?? '', expected);
}

const schedule = (over: Partial<ScheduleSpec> = {}): ScheduleSpec => ({
  schedule: '0 * * * *',
  template: {},
  ...over,
});

describe('Schedule validation', () => {
  it('accepts good schedules', () => {
    for (const spec of [
      schedule(),
      schedule({ schedule: '*/15 2 * * 1-5', timeZone: 'Europe/Berlin' }),
      schedule({ schedule: '@daily', timeZone: 'America/New_York' }),
      schedule({ schedule: '@every 6h' }),
      schedule({
        retention: {
          ttl: '720h',
          keepLast: 3,
          keepDaily: 7,
          keepWeekly: 4,
          keepMonthly: 12,
          minGoodBackups: 2,
        },
        template: {
          includeNamespaces: ['team-*'],
          excludeNamespaces: ['team-test'],
          labelSelectors: ['app in (a,b)'],
        },
      }),
    ])
      assert.deepEqual(validateScheduleSpec(spec), [], JSON.stringify(spec));
    assert.deepEqual(validateSchedule(newSchedule('nightly', 'cairn-system', schedule())), []);
  });

  const bad: [string, unknown, RegExp][] = [
    ['a bad cron field', schedule({ schedule: '61 * * * *' }), /^spec\.schedule: invalid cron .*minute/],
    ['a cron with seconds', schedule({ schedule: '0 0 * * * *' }), /^spec\.schedule: invalid cron .*5 parts/],
    ['garbage', schedule({ schedule: 'every day' }), /^spec\.schedule: invalid cron/],
    ['a cron that never fires', schedule({ schedule: '0 0 31 2 *' }), /never fires/],
    [
      'an unknown time zone',
      schedule({ timeZone: 'Mars/Olympus' }),
      /^spec\.timeZone: unknown time zone "Mars\/Olympus"/,
    ],
    ['@every below a minute', schedule({ schedule: '@every 10s' }), /at least 1m/],
    ['@every with a bad duration', schedule({ schedule: '@every 5x' }), /invalid @every interval/],
    [
      'a time zone on @every',
      schedule({ schedule: '@every 1h', timeZone: 'Europe/Berlin' }),
      /timeZone: has no meaning/,
    ],
    [
      'a bad ttl',
      schedule({ retention: { ttl: '30 days' } }),
      /^spec\.retention\.ttl: invalid duration "30 days"/,
    ],
    ['a bad template ttl', schedule({ template: { ttl: '1.5h' } }), /^spec\.template\.ttl: invalid duration/],
    [
      'a negative keep',
      schedule({ retention: { keepLast: -1 } }),
      /^spec\.retention\.keepLast: .*greater or equal to 0/,
    ],
    [
      'a fractional keep',
      schedule({ retention: { keepDaily: 1.5 } }),
      /^spec\.retention\.keepDaily: expected integer/,
    ],
    [
      'a typo in retention',
      { ...schedule(), retention: { keeplast: 3 } },
      /^spec\.retention\.keeplast: unknown field/,
    ],
    ['no template', { schedule: '@daily' }, /^spec\.template: is required/],
    [
      'a namespace both included and excluded',
      schedule({ template: { includeNamespaces: ['a', 'b'], excludeNamespaces: ['b'] } }),
      /namespace "b" is both included and excluded/,
    ],
    [
      'a resource both included and excluded',
      schedule({ template: { includeResources: ['secrets'], excludeResources: ['secrets'] } }),
      /resource "secrets" is both included and excluded/,
    ],
    [
      'an invalid label selector',
      schedule({ template: { labelSelectors: ['app in (a'] } }),
      /^spec\.template\.labelSelectors: invalid label selector "app in \(a"/,
    ],
    [
      'a bad includeClusterResources',
      { ...schedule(), template: { includeClusterResources: 'yes' } },
      /must be one of auto, true, false, not "yes"/,
    ],
  ];
  for (const [what, spec, expected] of bad)
    it(`rejects ${what}`, () => one(validateScheduleSpec(spec), expected));

  it('reports every semantic problem at once', () => {
    const problems = validateScheduleSpec(
      schedule({
        schedule: 'nope',
        timeZone: 'Nowhere/Land',
        template: { includeNamespaces: ['x'], excludeNamespaces: ['x'], labelSelectors: ['=v'] },
      }),
    );
    assert.equal(problems.length, 4, problems.join('\n'));
  });

  it('rejects a schedule name that cannot label its backups', () => {
    one(validateSchedule(newSchedule('x'.repeat(64), 'ns', schedule())), /^metadata\.name: .*at most 63/);
    one(validateSchedule(newSchedule('a.b', 'ns', schedule())), /^metadata\.name: "a\.b"/);
    assert.deepEqual(validateSchedule(newSchedule('x'.repeat(63), 'ns', schedule())), []);
  });

  it('rejects a resource of the wrong kind or version', () => {
    const wrong = { ...newSchedule('s', 'ns', schedule()), apiVersion: 'cairn.dev/v1' };
    assert.ok(validateSchedule(wrong).some((p) => p.startsWith('apiVersion:')));
  });
});

describe('Backup validation', () => {
  it('accepts the whole-cluster default and a filtered backup', () => {
    assert.deepEqual(validateBackup(newBackup('b1', 'cairn-system')), []);
    assert.deepEqual(
      validateBackupSpec({
        storageLocation: 'primary',
        includeNamespaces: ['app'],
        includeResources: ['deployments', 'users.iam.kubesphere.io'],
        includeClusterResources: 'false',
        labelSelectors: ['app=web,tier!=db', '!legacy', 'env notin (dev)'],
        ttl: '720h',
      }),
      [],
    );
  });
  it('rejects conflicting selectors, bad selectors, bad ttl, unknown fields', () => {
    one(
      validateBackupSpec({ includeNamespaces: ['a'], excludeNamespaces: ['a'] }),
      /both included and excluded/,
    );
    one(
      validateBackupSpec({ labelSelectors: ['a=b', 'a b'] }),
      /labelSelectors\[1\]: invalid label selector/,
    );
    one(validateBackupSpec({ ttl: 'forever' }), /spec\.ttl: invalid duration/);
    one(validateBackupSpec({ includeNamespace: ['a'] }), /spec\.includeNamespace: unknown field/);
    one(validateBackupSpec({ includeNamespaces: 'a' }), /spec\.includeNamespaces: expected array/);
  });
  it('rejects a Backup without metadata.name', () => {
    const { metadata: _m, ...rest } = newBackup('b', 'ns');
    assert.ok(validateBackup({ ...rest, metadata: {} }).some((p) => p.startsWith('metadata.name')));
  });
});

describe('Restore validation', () => {
  it('accepts a typical restore', () => {
    assert.deepEqual(
      validateRestore(
        newRestore('r1', 'cairn-system', {
          backupName: 'nightly-20260101020000',
          namespaceMapping: { app: 'app-restored' },
          storageClassMapping: { fast: 'standard', slow: 'standard' },
          existingResourcePolicy: 'update',
          existingResourcePolicyByType: { secrets: 'recreate' },
          labelSelector: 'app=web',
        }),
      ),
      [],
    );
  });
  it('rejects mapping two namespaces to the same target', () => {
    one(
      validateRestoreSpec({ backupName: 'b', namespaceMapping: { a: 'x', b: 'x' } }),
      /"a" and "b" both map to "x"/,
    );
  });
  it('rejects a bad mapping target, a mapped-but-excluded namespace, a bad policy, a missing backup', () => {
    one(
      validateRestoreSpec({ backupName: 'b', namespaceMapping: { a: 'Bad_Name' } }),
      /not a valid namespace name/,
    );
    one(
      validateRestoreSpec({ backupName: 'b', namespaceMapping: { a: 'x' }, excludeNamespaces: ['a'] }),
      /mapped but also excluded/,
    );
    one(
      validateRestoreSpec({ backupName: 'b', existingResourcePolicy: 'nuke' }),
      /must be one of skip, update/,
    );
    one(
      validateRestoreSpec({ backupName: 'b', existingResourcePolicyByType: { secrets: 'nuke' } }),
      /existingResourcePolicyByType\.secrets: must be one of/,
    );
    one(validateRestoreSpec({}), /^spec\.backupName: is required/);
    one(validateRestoreSpec({ backupName: 'b', labelSelector: 'a b=c' }), /invalid label selector/);
  });
});

describe('BackupLocation validation', () => {
  it('accepts URL and config forms', () => {
    assert.deepEqual(
      validateBackupLocation(newBackupLocation('l', 'ns', { provider: 'filesystem', url: '/var/lib/cairn' })),
      [],
    );
    assert.deepEqual(
      validateBackupLocationSpec({
        provider: 's3',
        url: 's3://bucket/prefix?endpoint=http://127.0.0.1:7480',
        credential: { name: 'cairn-s3', key: 'cloud' },
        accessMode: 'ReadOnly',
        default: true,
        syncPeriod: '5m',
      }),
      [],
    );
    assert.deepEqual(
      validateBackupLocationSpec({
        provider: 's3',
        config: { bucket: 'b', endpoint: 'http://x', forcePathStyle: true },
      }),
      [],
    );
  });
  const bad: [string, unknown, RegExp][] = [
    ['an unknown provider', { provider: 'gcs', url: '/x' }, /provider: must be one of filesystem, s3/],
    ['neither url nor config', { provider: 'filesystem' }, /give url or config/],
    ['both url and config', { provider: 'filesystem', url: '/x', config: { path: '/x' } }, /not both/],
    [
      'a provider that contradicts the URL',
      { provider: 'filesystem', url: 's3://b' },
      /is a s3 URL but provider is filesystem/,
    ],
    ['an unsupported scheme', { provider: 'filesystem', url: 'gs://b' }, /unsupported scheme/],
    [
      's3 without bucket',
      { provider: 's3', config: { endpoint: 'http://x' } },
      /config\.bucket: is required/,
    ],
    ['a relative path', { provider: 'filesystem', config: { path: 'data' } }, /must be absolute/],
    [
      'a relative URL',
      { provider: 'filesystem', url: 'backups/here' },
      /must be an absolute path or file:\/\/\/ URL/,
    ],
    [
      'a bad access mode',
      { provider: 'filesystem', url: '/x', accessMode: 'RW' },
      /must be one of ReadWrite, ReadOnly/,
    ],
    [
      'a bad sync period',
      { provider: 'filesystem', url: '/x', syncPeriod: 'often' },
      /syncPeriod: invalid duration/,
    ],
    [
      'a credential missing its key',
      { provider: 's3', url: 's3://b', credential: { name: 's' } },
      /credential\.key: is required/,
    ],
  ];
  for (const [what, spec, expected] of bad)
    it(`rejects ${what}`, () => one(validateBackupLocationSpec(spec), expected));
});

describe('EtcdBackup validation', () => {
  const good = {
    cluster: 'main',
    location: 'primary',
    endpoints: ['https://10.0.0.1:2379'],
    interval: '15m',
    retention: { keepAllFor: '1h', hourlyFor: '168h', dailyFor: '365d', minKeep: 3 },
    paused: false,
  };
  it('accepts kops defaults and rejects bad endpoints and intervals', () => {
    assert.deepEqual(validateEtcdBackupSpec(good), []);
    one(validateEtcdBackupSpec({ ...good, endpoints: ['10.0.0.1:2379'] }), /endpoints\[0\]: .*not an http/);
    one(validateEtcdBackupSpec({ ...good, interval: '15 min' }), /interval: invalid duration/);
    one(
      validateEtcdBackupSpec({ ...good, endpoints: [] }),
      /endpoints: expected array length to be greater or equal to 1/,
    );
  });
});

describe('label selector syntax', () => {
  for (const good of [
    '',
    'app',
    '!app',
    'app=web',
    'app==web',
    'app!=web',
    'app in (a, b)',
    'app notin (a)',
    'a=b,c!=d',
    'example.com/tier=db',
    'app=',
  ])
    it(`accepts ${JSON.stringify(good)}`, () => assert.equal(labelSelectorProblem(good), undefined));
  for (const bad of [
    'a b',
    'app in (a',
    'a=b,',
    '=v',
    'app=we b',
    '-app',
    `a=${'x'.repeat(64)}`,
    'app in a,b)',
  ])
    it(`rejects ${JSON.stringify(bad)}`, () => assert.notEqual(labelSelectorProblem(bad), undefined));
});

describe('storageLocationProblems', () => {
  const locations = [
    { name: 'primary', default: true },
    { name: 'archive', accessMode: 'ReadOnly' },
  ];
  it('resolves names and the default', () => {
    assert.deepEqual(storageLocationProblems('spec.storageLocation', 'primary', locations, 'write'), []);
    assert.deepEqual(storageLocationProblems('spec.storageLocation', undefined, locations, 'write'), []);
    assert.deepEqual(storageLocationProblems('spec.storageLocation', 'archive', locations, 'read'), []);
  });
  it('names an unknown location with the known ones', () => {
    one(
      storageLocationProblems('spec.storageLocation', 'primray', locations, 'write'),
      /^spec\.storageLocation: BackupLocation "primray" does not exist \(known: primary, archive\)/,
    );
    one(storageLocationProblems('spec.storageLocation', 'x', [], 'read'), /there are none/);
  });
  it('refuses writing to a ReadOnly location, and a missing or ambiguous default', () => {
    one(storageLocationProblems('spec.storageLocation', 'archive', locations, 'write'), /is ReadOnly/);
    one(
      storageLocationProblems('spec.template.storageLocation', undefined, [{ name: 'a' }], 'write'),
      /no BackupLocation is the default/,
    );
    one(
      storageLocationProblems(
        'spec.storageLocation',
        '',
        [
          { name: 'a', default: true },
          { name: 'b', default: true },
        ],
        'read',
      ),
      /several BackupLocations are the default \(a, b\)/,
    );
  });
});
