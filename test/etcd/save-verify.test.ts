import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, fillEtcd, sha256File, startEtcd, type TestEtcd, tree } from '../support/etcd.ts';
import { runCairn } from '../support/run-cairn.ts';

const SIZE = 200 * 1024 * 1024;

describe('cairn etcd snapshot save/list/get/verify against a real etcd (~200 MB)', () => {
  let etcd: TestEtcd;
  let base: string;
  let loc: string;
  const at = (...args: string[]) => [...args, '--location', loc, '--cluster', 'main'];

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cairn-etcd-save-'));
    loc = path.join(base, 'loc');
    etcd = await startEtcd();
    const t = Date.now();
    await fillEtcd(etcd, SIZE);
    // Plus some small keys, so key counts mean something.
    for (let i = 0; i < 50; i++) await etcd.etcdctl(['put', `/small/${i}`, `value-${i}`]);
    console.log(`filled ${SIZE >> 20} MiB in ${Date.now() - t} ms`);
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
  });
  after(async () => {
    await etcd?.stop();
    await rm(base, { recursive: true, force: true });
  });

  it('refuses to save before the cluster is initialised, writing nothing', async () => {
    const before = await tree(loc);
    const run = await runCairn(['etcd', 'snapshot', 'save', ...at(...etcd.flags)]);
    assertCleanFailure(run, /etcd cluster "main" is not initialised/);
    assert.match(run.stderr, /cairn etcd cluster init/);
    assert.deepEqual(await tree(loc), before);
  });

  it('saves byte-for-byte what etcdctl snapshot save writes, with a manifest written last', async () => {
    const init = await runCairn(['etcd', 'cluster', 'init', ...at('--members', `test=${etcd.peerUrl}`)]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /initialized/);
    const spec = JSON.parse(await readFile(path.join(loc, 'control/etcd/main/spec.json'), 'utf8'));
    assert.equal(spec.schedule.interval, '15m');
    assert.deepEqual(spec.retention, { keepAllFor: '1h', hourlyFor: '168h', dailyFor: '365d', minKeep: 3 });

    const reference = path.join(base, 'etcdctl.db');
    let t = Date.now();
    await etcd.etcdctl(['snapshot', 'save', reference]);
    const etcdctlMs = Date.now() - t;
    t = Date.now();
    const run = await runCairn(['etcd', 'snapshot', 'save', ...at(...etcd.flags), '-o', 'json']);
    const cairnMs = Date.now() - t;
    assert.equal(run.code, 0, run.stderr);
    console.log(`etcdctl snapshot save ${etcdctlMs} ms, cairn etcd snapshot save ${cairnMs} ms`);
    const { manifest } = JSON.parse(run.stdout);
    assert.match(manifest.id, /^\d{8}T\d{6}Z-\d+$/);
    const folder = path.join(loc, 'etcd/main/snapshots', manifest.id);
    assert.deepEqual((await readdir(folder)).sort(), ['manifest.json', 'snapshot.db']);
    const stored = path.join(folder, 'snapshot.db');
    assert.equal((await stat(stored)).size, (await stat(reference)).size);
    assert.equal(
      await sha256File(stored),
      await sha256File(reference),
      'same bytes as etcdctl snapshot save',
    );
    assert.equal(manifest.sha256, await sha256File(stored));
    assert.equal(manifest.size, (await stat(stored)).size);
    assert.equal(manifest.dbSize, manifest.size - 32);
    assert.ok(manifest.size > SIZE, `snapshot ${manifest.size} bytes`);
    assert.equal(manifest.keyCount, Math.ceil(SIZE / (512 * 1024)) + 50);
    assert.equal(manifest.etcdVersion, '3.4.23');
    const status = JSON.parse(await etcd.etcdctl(['endpoint', 'status', '-w', 'json']))[0].Status;
    assert.equal(manifest.revision, status.header.revision);
    // `endpoint status` prints the member id in hex (JSON numbers lose its low bits).
    const memberHex = (await etcd.etcdctl(['endpoint', 'status'])).split(',')[1]?.trim();
    assert.equal(manifest.members.length, 1);
    assert.equal(manifest.members[0].name, 'test');
    assert.equal(manifest.memberId, memberHex);
    // The manifest is written after the data.
    const manifestTime = (await stat(path.join(folder, 'manifest.json'))).mtimeMs;
    assert.ok(manifestTime >= (await stat(stored)).mtimeMs);
    // etcdctl agrees the stored file is a valid snapshot of that revision.
    const toolStatus = JSON.parse(await etcd.etcdctl(['snapshot', 'status', stored, '-w', 'json']));
    assert.equal(toolStatus.revision, manifest.revision);
  });

  it('lists, gets and verifies (manifest, sha256, trailer, etcdctl snapshot status)', async () => {
    const list = await runCairn(['etcd', 'snapshot', 'list', ...at('-o', 'json')]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].complete, true);
    const id = rows[0].id;
    const text = await runCairn(['etcd', 'snapshot', 'list', ...at()]);
    assert.match(text.stdout, new RegExp(`^${id}\\s+\\d+\\s+\\d+\\s+\\d+\\.\\d MiB`, 'm'));

    const get = await runCairn(['etcd', 'snapshot', 'get', 'latest', ...at('-o', 'json')]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(JSON.parse(get.stdout).id, id);
    const downloaded = path.join(base, 'downloaded.db');
    const getFile = await runCairn(['etcd', 'snapshot', 'get', id, ...at('--file', downloaded)]);
    assert.equal(getFile.code, 0, getFile.stderr);
    assert.equal(await sha256File(downloaded), JSON.parse(get.stdout).sha256);

    const verify = await runCairn(['etcd', 'snapshot', 'verify', id, ...at()]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    for (const check of ['manifest', 'size', 'sha256', 'trailer', 'status']) {
      assert.match(verify.stdout, new RegExp(`ok\\s+${check}\\s`), `${check}:\n${verify.stdout}`);
    }
    assert.match(verify.stdout, /etcdctl snapshot status: revision \d+/);
  });

  it('refuses everything when the spec is deleted but snapshots exist, naming the newest, writing nothing', async () => {
    const specFile = path.join(loc, 'control/etcd/main/spec.json');
    const saved = await readFile(specFile);
    await rm(specFile);
    const [newest] = await readdir(path.join(loc, 'etcd/main/snapshots'));
    const before = await tree(loc);

    const save = await runCairn(['etcd', 'snapshot', 'save', ...at(...etcd.flags)]);
    assertCleanFailure(
      save,
      /cluster spec control\/etcd\/main\/spec\.json is MISSING but .* holds snapshots/,
    );
    assert.match(save.stderr, new RegExp(`newest ${newest} taken .* \\(\\d+ (s|min) ago\\)`));
    assert.match(save.stderr, /Nothing was written/);
    const init = await runCairn(['etcd', 'cluster', 'init', ...at()]);
    assertCleanFailure(init, /refusing to initialise etcd cluster "main": .* already holds its snapshots/);
    assert.match(init.stderr, /--i-understand-this-reinitializes/);
    const prune = await runCairn(['etcd', 'snapshot', 'prune', ...at()]);
    assertCleanFailure(prune, /cannot prune snapshots: the cluster spec .* is MISSING/);
    const status = await runCairn(['etcd', 'cluster', 'status', ...at('-o', 'prometheus')]);
    assert.match(status.stdout, /^cairn_etcd_control_files_healthy\{cluster="main"\} 0$/m);
    assert.match(
      status.stdout,
      /^cairn_etcd_snapshot_last_successful_timestamp_seconds\{cluster="main"\} \d+/m,
    );
    const list = await runCairn(['etcd', 'snapshot', 'list', ...at()]);
    assert.equal(list.code, 0);
    assert.match(list.stderr, /WARNING: .*MISSING/);
    assert.deepEqual(await tree(loc), before, 'refusals write nothing');

    const forced = await runCairn(['etcd', 'cluster', 'init', ...at('--i-understand-this-reinitializes')]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /reinitialized/);
    assert.match(forced.stderr, /WARNING: wrote a new spec over 1 existing snapshots/);
    await writeFile(specFile, saved);
    const healthy = await runCairn(['etcd', 'cluster', 'status', ...at('-o', 'prometheus')]);
    assert.match(healthy.stdout, /^cairn_etcd_control_files_healthy\{cluster="main"\} 1$/m);
  });
});
