import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CairnRun, runCairn } from '../support/run-cairn.ts';

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** Every failure must be an `error:` line plus a `hint:` line, a non-zero exit and no stack trace. */
function assertCleanFailure(run: CairnRun, message: RegExp): void {
  assert.notEqual(run.code, 0, `expected failure, got ${run.code}: ${run.stdout}`);
  assert.match(run.stderr, /^error: /m);
  assert.match(run.stderr, /^hint: /m);
  assert.match(run.stderr, message);
  assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack trace without --debug');
}

describe('cairn location on a filesystem location', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cairn-cli-fs-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('initialises an empty folder, is idempotent, checks healthy and reports info', async () => {
    const loc = path.join(base, 'fresh');
    const init = await runCairn(['location', 'init', loc]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /initialised \(id [0-9a-f-]{36}, format 1\)/);
    const marker = JSON.parse(await readFile(path.join(loc, 'cairn-location.json'), 'utf8'));
    assert.equal(marker.kind, 'CairnLocation');
    assert.equal(marker.formatVersion, 1);
    const copy = JSON.parse(await readFile(path.join(loc, 'control/location.json'), 'utf8'));
    assert.equal(copy.locationId, marker.locationId);

    const again = await runCairn(['location', 'init', `file://${loc}`]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, new RegExp(`already initialised \\(id ${marker.locationId}`));

    const check = await runCairn(['location', 'check', loc]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    for (const name of ['reach', 'list', 'layout', 'marker', 'write', 'control']) {
      assert.match(check.stdout, new RegExp(`ok\\s+${name}\\s`), `${name} should be ok:\n${check.stdout}`);
    }
    assert.deepEqual(
      await tree(loc),
      ['cairn-location.json', 'control', 'control/location.json'],
      'the probe is gone',
    );

    const info = await runCairn(['location', 'info', loc, '-o', 'json']);
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(info.stdout);
    assert.equal(parsed.marker.marker.locationId, marker.locationId);
    assert.equal(parsed.objects, 2);
    assert.equal(parsed.areas.control.objects, 1);

    const yaml = await runCairn(['location', 'check', loc, '-o', 'yaml']);
    assert.match(yaml.stdout, /healthy: true/);
  });

  it('refuses a folder with foreign data and writes nothing', async () => {
    const loc = path.join(base, 'foreign');
    await mkdir(path.join(loc, 'photos'), { recursive: true });
    await writeFile(path.join(loc, 'photos/cat.jpg'), 'meow');
    const before = await tree(loc);
    const run = await runCairn(['location', 'init', loc]);
    assertCleanFailure(run, /not empty and is not a Cairn location.*"photos\/cat\.jpg"/);
    assert.deepEqual(await tree(loc), before);
    // --adopt never takes over foreign data.
    const adopt = await runCairn(['location', 'init', loc, '--adopt']);
    assertCleanFailure(adopt, /not a Cairn location/);
    assert.deepEqual(await tree(loc), before);
    const check = await runCairn(['location', 'check', loc]);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /FAIL\s+layout\s+1 objects outside Cairn's layout/);
  });

  it('refuses a location whose marker was lost, naming the newest backup, until --adopt', async () => {
    const loc = path.join(base, 'lost-marker');
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
    const id = JSON.parse(await readFile(path.join(loc, 'cairn-location.json'), 'utf8')).locationId;
    for (const name of ['old-backup', 'new-backup']) {
      await mkdir(path.join(loc, 'backups', name), { recursive: true });
      await writeFile(path.join(loc, 'backups', name, 'manifest.json'), '{}');
      await new Promise((r) => setTimeout(r, 20));
    }
    await mkdir(path.join(loc, 'backups', 'half-done'), { recursive: true });
    await writeFile(path.join(loc, 'backups', 'half-done', 'resources.tar.zst'), 'x');
    await rm(path.join(loc, 'cairn-location.json'));
    const before = await tree(loc);

    const run = await runCairn(['location', 'init', loc]);
    assertCleanFailure(
      run,
      /holds Cairn data .*2 complete backups, newest "new-backup" completed .* but its marker cairn-location\.json is missing/,
    );
    assert.match(run.stderr, new RegExp(`--adopt.*keeping id ${id}`));
    assert.deepEqual(await tree(loc), before, 'a refusal writes nothing');

    const check = await runCairn(['location', 'check', loc]);
    assert.equal(check.code, 1);
    assert.match(
      check.stdout,
      /FAIL\s+marker\s+cairn-location\.json is missing but the location holds Cairn data/,
    );
    assert.match(
      check.stdout,
      /WARN\s+layout\s+2 complete backups.*1 without a manifest \(incomplete\): half-done/,
    );

    const adopt = await runCairn(['location', 'init', loc, '--adopt']);
    assert.equal(adopt.code, 0, adopt.stderr);
    assert.match(adopt.stdout, new RegExp(`adopted \\(id ${id}`));
    assert.equal((await runCairn(['location', 'check', loc])).code, 0);
  });

  it('refuses a marker of another format version or an unreadable one', async () => {
    const loc = path.join(base, 'future');
    await mkdir(loc);
    const future = {
      kind: 'CairnLocation',
      formatVersion: 99,
      locationId: 'x',
      createdAt: '',
      createdBy: '',
    };
    await writeFile(path.join(loc, 'cairn-location.json'), JSON.stringify(future));
    assertCleanFailure(
      await runCairn(['location', 'init', loc]),
      /format version 99; this Cairn understands version 1/,
    );
    await writeFile(path.join(loc, 'cairn-location.json'), '{not json');
    assertCleanFailure(await runCairn(['location', 'init', loc]), /not valid JSON/);
    assert.equal(
      await readFile(path.join(loc, 'cairn-location.json'), 'utf8'),
      '{not json',
      'never overwritten',
    );
  });

  it('reports a corrupt control file by name', async () => {
    const loc = path.join(base, 'corrupt-control');
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
    await mkdir(path.join(loc, 'control/etcd/main'), { recursive: true });
    await writeFile(path.join(loc, 'control/etcd/main/spec.json'), '{"members": [');
    const check = await runCairn(['location', 'check', loc]);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /FAIL\s+control\s+control\/etcd\/main\/spec\.json is not valid JSON/);
  });

  it('checks a read-only location without writing, and reports a missing folder', async () => {
    const loc = path.join(base, 'ro');
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
    const check = await runCairn(['location', 'check', loc, '--read-only']);
    assert.equal(check.code, 0, check.stdout);
    assert.match(check.stdout, /skip\s+write\s+opened read-only/);

    const missing = await runCairn(['location', 'check', path.join(base, 'does-not-exist')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /FAIL\s+reach\s+.*does not exist/);
    assert.match(missing.stdout, /hint: Create it with `cairn location init`/);
    assertCleanFailure(
      await runCairn(['location', 'init', path.join(base, 'no/such/parent')]),
      /parent folder .* does not exist/,
    );
  });

  it('rejects bad URLs and options with a hint, and prints a stack only with --debug', async () => {
    assertCleanFailure(
      await runCairn(['location', 'check', 's3://bucket/x?forcepathstyle=true']),
      /unknown parameter "forcepathstyle"/,
    );
    assertCleanFailure(
      await runCairn(['location', 'info', base, '-o', 'xml']),
      /unknown output format "xml"/,
    );
    const debug = await runCairn(['--debug', 'location', 'init', path.join(base, 'no/such/parent')]);
    assert.match(debug.stderr, /code: STORAGE_BUCKET_MISSING/);
    assert.match(debug.stderr, /^\s+at /m);
    const usage = await runCairn(['location', 'init']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing required argument 'url'/);
  });
});
