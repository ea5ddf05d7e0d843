/**
 * `cairn schedule …` and `cairn location create|get` against the sandbox:
 * resources created by the CLI are read back with the real kubectl; invalid
 * input is refused before anything is submitted; `-o yaml` prints without
 * submitting. No controller runs: these commands only write resources.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { type ApiSandbox, ok, startApiSandbox } from './support.ts';

const NS = 'cairn-system';

interface Schedule {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    schedule: string;
    timeZone?: string;
    paused?: boolean;
    skipImmediately?: boolean;
    template: Record<string, unknown>;
    retention?: Record<string, unknown>;
  };
}

interface BackupLocation {
  metadata: { name: string };
  spec: {
    provider: string;
    url?: string;
    default?: boolean;
    accessMode?: string;
    credential?: { name: string; key: string };
  };
}

describe('CLI on cairn.dev resources, read back with kubectl', () => {
  let api: ApiSandbox;
  before(async () => {
    api = await startApiSandbox();
  });
  after(async () => {
    await api?.stop();
  });

  it('says to install Cairn when the CRDs are missing', async () => {
    const run = await api.cairn(['schedule', 'get']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /does not serve schedules/);
    assert.match(run.stderr, /cairn install/);
  });

  it('schedule create writes the spec kubectl reads back', async () => {
    ok(await api.cairn(['install']), 'install');
    const created = ok(
      await api.cairn([
        'schedule',
        'create',
        'nightly',
        '--schedule',
        '30 2 * * *',
        '--time-zone',
        'Europe/Berlin',
        '--include-namespaces',
        'shop,tools',
        '--exclude-resources',
        'events',
        '-l',
        'app=web',
        '-l',
        'tier in (db,cache)',
        '--include-cluster-resources',
        'false',
        '--storage-location',
        'primary',
        '--backup-ttl',
        '2160h',
        '--ttl',
        '720h',
        '--keep-last',
        '3',
        '--keep-daily',
        '7',
        '--keep-weekly',
        '4',
        '--keep-monthly',
        '12',
        '--min-good-backups',
        '2',
        '--skip-immediately',
      ]),
      'schedule create',
    );
    assert.match(created.stdout, /Schedule "nightly" created in cairn-system\. Next run: /);
    // The location does not exist yet: a warning, not a refusal (it may be created later).
    assert.match(
      created.stderr,
      /warning: spec\.template\.storageLocation: BackupLocation "primary" does not exist/,
    );
    const got = await api.kubectlJson<Schedule>(['get', 'schedules.cairn.dev', 'nightly', '-n', NS]);
    assert.deepEqual(got.spec, {
      schedule: '30 2 * * *',
      timeZone: 'Europe/Berlin',
      skipImmediately: true,
      template: {
        storageLocation: 'primary',
        includeNamespaces: ['shop', 'tools'],
        excludeResources: ['events'],
        includeClusterResources: 'false',
        labelSelectors: ['app=web', 'tier in (db,cache)'],
        ttl: '2160h',
      },
      retention: {
        ttl: '720h',
        keepLast: 3,
        keepDaily: 7,
        keepWeekly: 4,
        keepMonthly: 12,
        minGoodBackups: 2,
      },
    });
    // The printer columns of the CRD.
    const table = ok(await api.kubectl(['get', 'schedules.cairn.dev', '-n', NS]), 'kubectl get');
    assert.match(table.stdout, /NAME\s+SCHEDULE\s+TIME ZONE\s+PAUSED\s+PHASE\s+LAST BACKUP\s+NEXT RUN\s+AGE/);
    assert.match(table.stdout, /nightly\s+30 2 \* \* \*\s+Europe\/Berlin\s+/);
  });

  it('schedule create refuses invalid input with every problem, and submits nothing', async () => {
    const run = await api.cairn([
      'schedule',
      'create',
      'broken',
      '--schedule',
      '61 * * * *',
      '--time-zone',
      'Mars/Olympus',
      '--include-namespaces',
      'a',
      '--exclude-namespaces',
      'a',
      '-l',
      'app in (x',
    ]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /SCHEDULE_INVALID|is invalid/);
    assert.match(run.stderr, /spec\.timeZone: unknown time zone "Mars\/Olympus"/);
    assert.match(run.stderr, /spec\.schedule: invalid cron "61 \* \* \* \*"/);
    assert.match(run.stderr, /namespace "a" is both included and excluded/);
    assert.match(run.stderr, /invalid label selector "app in \(x"/);
    assert.notEqual((await api.kubectl(['get', 'schedules.cairn.dev', 'broken', '-n', NS])).code, 0);

    const badKeep = await api.cairn(['schedule', 'create', 'x', '--schedule', '@daily', '--keep-last', '-1']);
    assert.notEqual(badKeep.code, 0);
    const badTtl = await api.cairn(['schedule', 'create', 'x', '--schedule', '@daily', '--ttl', '30 days']);
    assert.match(badTtl.stderr, /spec\.retention\.ttl: invalid duration/);
    const tooLong = await api.cairn(['schedule', 'create', 'x'.repeat(64), '--schedule', '@daily']);
    assert.notEqual(tooLong.code, 0);
  });

  it('schedule create -o yaml prints the resource without submitting it', async () => {
    const run = ok(
      await api.cairn(['schedule', 'create', 'preview', '--schedule', '@every 6h', '-o', 'yaml']),
      'create -o yaml',
    );
    const printed = parse(run.stdout) as Schedule & { apiVersion: string; kind: string };
    assert.equal(printed.apiVersion, 'cairn.dev/v1alpha1');
    assert.equal(printed.kind, 'Schedule');
    assert.equal(printed.spec.schedule, '@every 6h');
    assert.notEqual((await api.kubectl(['get', 'schedules.cairn.dev', 'preview', '-n', NS])).code, 0);
    // …and what it prints is what kubectl would apply.
    ok(
      await api.kubectl(['apply', '--dry-run=server', '-f', '-'], run.stdout),
      'kubectl apply --dry-run=server',
    );
  });

  it('schedule get, pause, unpause', async () => {
    const list = ok(await api.cairn(['schedule', 'get', '-o', 'json']), 'schedule get -o json');
    assert.deepEqual(
      (JSON.parse(list.stdout) as { items: Schedule[] }).items.map((s) => s.metadata.name),
      ['nightly'],
    );
    const text = ok(await api.cairn(['schedule', 'get']), 'schedule get');
    assert.match(text.stdout, /^NAME\s+SCHEDULE/);
    assert.match(text.stdout, /nightly\s+30 2 \* \* \*\s+Europe\/Berlin\s+false/);

    ok(await api.cairn(['schedule', 'pause', 'nightly']), 'pause');
    assert.equal(
      (await api.kubectlJson<Schedule>(['get', 'schedules.cairn.dev', 'nightly', '-n', NS])).spec.paused,
      true,
    );
    const again = ok(await api.cairn(['schedule', 'pause', 'nightly']), 'pause again');
    assert.match(again.stdout, /already paused/);
    const unpaused = ok(await api.cairn(['schedule', 'unpause', 'nightly']), 'unpause');
    assert.match(unpaused.stdout, /waits for its next slot/);
    assert.equal(
      (await api.kubectlJson<Schedule>(['get', 'schedules.cairn.dev', 'nightly', '-n', NS])).spec.paused,
      false,
    );

    const missing = await api.cairn(['schedule', 'pause', 'nightli']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /SCHEDULE_NOT_FOUND|does not exist/);
    assert.match(missing.stderr, /nightly/);
  });

  it('schedule describe shows the recent backups and what retention would do', async () => {
    // Backups as the controller would have made them, with their status set through the subresource.
    const times = [
      '2026-11-20T01:30:00Z',
      '2026-11-21T01:30:00Z',
      '2026-11-22T01:30:00Z',
      '2026-11-23T01:30:00Z',
    ];
    for (const [i, time] of times.entries()) {
      const name = `nightly-${time.replace(/[-:TZ]/g, '')}`;
      const manifest = {
        apiVersion: 'cairn.dev/v1alpha1',
        kind: 'Backup',
        metadata: { name, namespace: NS, labels: { 'cairn.dev/schedule': 'nightly' } },
        spec: { storageLocation: 'primary' },
      };
      ok(await api.kubectl(['create', '-f', '-'], JSON.stringify(manifest)), 'create backup');
      const status = {
        status: {
          phase: i === 3 ? 'Failed' : 'Completed',
          startTimestamp: time,
          completionTimestamp: time,
          itemsBackedUp: 10 + i,
          errors: i === 3 ? 1 : 0,
        },
      };
      ok(
        await api.kubectl([
          'patch',
          'backups.cairn.dev',
          name,
          '-n',
          NS,
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify(status),
        ]),
        'patch status',
      );
    }
    const run = ok(await api.cairn(['schedule', 'describe', 'nightly']), 'describe');
    assert.match(run.stdout, /Schedule:\s+30 2 \* \* \* \(Europe\/Berlin\)/);
    assert.match(run.stdout, /Recent backups \(4 of 4\)/);
    assert.match(run.stdout, /nightly-20261123013000\s+Failed\s+13\s+1/);
    assert.match(run.stdout, /Next run:\s+\S+ \(computed here\)/);
    const json = JSON.parse(
      ok(await api.cairn(['schedule', 'describe', 'nightly', '-o', 'json']), 'describe -o json').stdout,
    ) as {
      backups: { metadata: { name: string } }[];
      retention: { keep: { name: string }[]; delete: { name: string }[] };
    };
    assert.equal(json.backups[0]?.metadata.name, 'nightly-20261123013000');
    assert.equal(json.retention.keep.length + json.retention.delete.length, 4);
  });

  it('schedule delete asks for --yes and leaves the backups', async () => {
    const refused = await api.cairn(['schedule', 'delete', 'nightly']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--yes/);
    ok(await api.kubectl(['get', 'schedules.cairn.dev', 'nightly', '-n', NS]), 'still there');
    const deleted = ok(await api.cairn(['schedule', 'delete', 'nightly', '--yes']), 'delete');
    assert.match(deleted.stdout, /its 4 backups stay/);
    assert.notEqual((await api.kubectl(['get', 'schedules.cairn.dev', 'nightly', '-n', NS])).code, 0);
    const backups = await api.kubectlJson<{ items: unknown[] }>([
      'get',
      'backups.cairn.dev',
      '-n',
      NS,
      '-l',
      'cairn.dev/schedule=nightly',
    ]);
    assert.equal(backups.items.length, 4);
  });

  it('location create / get, one default at a time', async () => {
    ok(
      await api.cairn(['location', 'create', 'primary', '--url', '/var/lib/cairn', '--default']),
      'create primary',
    );
    const s3 = ok(
      await api.cairn([
        'location',
        'create',
        'offsite',
        '--url',
        's3://backups/cluster-a?endpoint=http://127.0.0.1:7480&forcePathStyle=true',
        '--credential-secret',
        'cairn-s3/cloud',
        '--access-mode',
        'ReadOnly',
        '--default',
      ]),
      'create offsite',
    );
    assert.match(s3.stdout, /"primary" is no longer the default/);
    const primary = await api.kubectlJson<BackupLocation>([
      'get',
      'backuplocations.cairn.dev',
      'primary',
      '-n',
      NS,
    ]);
    assert.deepEqual(primary.spec, {
      provider: 'filesystem',
      url: '/var/lib/cairn',
      accessMode: 'ReadWrite',
      default: false,
    });
    const offsite = await api.kubectlJson<BackupLocation>([
      'get',
      'backuplocations.cairn.dev',
      'offsite',
      '-n',
      NS,
    ]);
    assert.deepEqual(offsite.spec, {
      provider: 's3',
      url: 's3://backups/cluster-a?endpoint=http://127.0.0.1:7480&forcePathStyle=true',
      accessMode: 'ReadOnly',
      credential: { name: 'cairn-s3', key: 'cloud' },
      default: true,
    });
    const table = ok(await api.cairn(['location', 'get']), 'location get');
    assert.match(table.stdout, /primary\s+filesystem\s+\/var\/lib\/cairn\s+ReadWrite\s+false\s+<pending>/);
    assert.match(table.stdout, /offsite\s+s3\s+s3:\/\/backups\S*\s+ReadOnly\s+true/);
    const one = JSON.parse(
      ok(await api.cairn(['location', 'get', 'offsite', '-o', 'json']), 'get one').stdout,
    ) as BackupLocation;
    assert.equal(one.metadata.name, 'offsite');
  });

  it('location create refuses bad input and -o yaml submits nothing', async () => {
    for (const [args, expected] of [
      [['--url', 'relative/dir'], /must be an absolute path/],
      [['--url', 's3://b/p?endpiont=http://x'], /LOCATION_URL_INVALID|endpiont/],
      [['--url', '/x', '--access-mode', 'RW'], /--access-mode must be ReadWrite or ReadOnly/],
      [['--url', '/x', '--credential-secret', 'nokey'], /NAME\/KEY/],
      [['--url', '/x', '--credential-secret', 's/k'], /filesystem location takes no credential/],
      [['--url', '/x', '--sync-period', 'often'], /syncPeriod: invalid duration/],
    ] as const) {
      const run = await api.cairn(['location', 'create', 'bad', ...args]);
      assert.notEqual(run.code, 0, args.join(' '));
      assert.match(run.stderr, expected, args.join(' '));
    }
    assert.notEqual((await api.kubectl(['get', 'backuplocations.cairn.dev', 'bad', '-n', NS])).code, 0);
    const preview = ok(
      await api.cairn(['location', 'create', 'preview', '--url', '/data', '-o', 'json']),
      'preview',
    );
    assert.equal((JSON.parse(preview.stdout) as BackupLocation).spec.url, '/data');
    assert.notEqual((await api.kubectl(['get', 'backuplocations.cairn.dev', 'preview', '-n', NS])).code, 0);
  });
});
