import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdClient } from '../../src/etcd/client.ts';
import {
  assertCleanFailure,
  fillEtcd,
  freePort,
  sha256File,
  startEtcd,
  type TestEtcd,
} from '../support/etcd.ts';
import { runCairn } from '../support/run-cairn.ts';

interface Kv {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
  version: number;
}

/** Every key of a member, with values and revisions, via etcdctl (base64 JSON). */
async function allKeys(etcd: TestEtcd): Promise<Kv[]> {
  const out = JSON.parse(await etcd.etcdctl(['get', '', '--from-key', '-w', 'json'], 60_000));
  return (out.kvs ?? []).map((kv: Kv) => ({
    key: kv.key,
    value: kv.value,
    create_revision: kv.create_revision,
    mod_revision: kv.mod_revision,
    version: kv.version,
  }));
}

async function hashKv(etcd: TestEtcd, revision: number): Promise<{ hash: number; compactRevision: number }> {
  const client = await EtcdClient.connect(await etcd.connectOptions());
  try {
    const { hash, compactRevision } = await client.hashKV(revision);
    return { hash, compactRevision };
  } finally {
    client.close();
  }
}

describe('cairn etcd snapshot restore against a real etcd', () => {
  let source: TestEtcd;
  let base: string;
  let loc: string;
  let snapshotId: string;
  let revision: number;
  const at = (...args: string[]) => [...args, '--location', loc, '--cluster', 'main'];

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cairn-etcd-restore-'));
    loc = path.join(base, 'loc');
    source = await startEtcd();
    await fillEtcd(source, 8 * 1024 * 1024, { valueBytes: 64 * 1024, prefix: '/big/' });
    await fillEtcd(source, 2 * 1024 * 1024, { valueBytes: 1024, prefix: '/small/', parallel: 16 });
    // History: overwrites and deletes, so revisions and hashkv cover more than the latest values.
    for (let i = 0; i < 20; i++)
      await source.etcdctl(['put', `/small/${String(i).padStart(8, '0')}`, `v2-${i}`]);
    await source.etcdctl(['del', '/big/00000000', '/big/00000010']);
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
    const init = await runCairn(['etcd', 'cluster', 'init', ...at('--members', `test=${source.peerUrl}`)]);
    assert.equal(init.code, 0, init.stderr);
    const save = await runCairn(['etcd', 'snapshot', 'save', ...at(...source.flags), '-o', 'json']);
    assert.equal(save.code, 0, save.stderr);
    const { manifest } = JSON.parse(save.stdout);
    snapshotId = manifest.id;
    revision = manifest.revision;
  });
  after(async () => {
    await source?.stop();
    await rm(base, { recursive: true, force: true });
  });

  it('restores into a fresh data dir; the printed command starts a member with every key and the same hashkv', async () => {
    const dataDir = path.join(base, 'fresh', 'data');
    await mkdir(path.dirname(dataDir));
    const peerUrl = `http://127.0.0.1:${await freePort()}`;
    const clientUrl = `http://127.0.0.1:${await freePort()}`;
    const run = await runCairn([
      'etcd',
      'snapshot',
      'restore',
      snapshotId,
      ...at(),
      '--data-dir',
      dataDir,
      '--name',
      'restored',
      '--initial-cluster',
      `restored=${peerUrl}`,
      '--client-urls',
      clientUrl,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(`Restored ${snapshotId} \\(revision ${revision}\\) into ${dataDir} with etcdctl`),
    );
    assert.doesNotMatch(run.stdout, /trashcan/);
    assert.deepEqual(await readdir(dataDir), ['member']);
    assert.deepEqual(await readdir(path.dirname(dataDir)), ['data'], 'no staging folder left behind');
    const command = /Start the member with:\n {2}(.*)\n/.exec(run.stdout)?.[1]?.split(' ');
    assert.deepEqual(command?.slice(0, 5), ['etcd', '--name', 'restored', '--data-dir', dataDir]);
    assert.ok(command?.includes(clientUrl) && command.includes(peerUrl));

    const restored = await startEtcd({ command: command ?? [], endpoint: clientUrl });
    try {
      const [want, got] = await Promise.all([allKeys(source), allKeys(restored)]);
      assert.ok(want.length > 2000, `${want.length} keys`);
      assert.equal(got.length, want.length);
      assert.deepEqual(got, want, 'every key, value and revision');
      const [h1, h2] = await Promise.all([hashKv(source, revision), hashKv(restored, revision)]);
      assert.deepEqual(h2, h1, 'endpoint hashkv at the snapshot revision');
      const members = JSON.parse(await restored.etcdctl(['member', 'list', '-w', 'json'])).members;
      assert.deepEqual(
        members.map((m: { name: string }) => m.name),
        ['restored'],
      );
    } finally {
      await restored.stop();
    }
  });

  it('moves an existing data dir to <dir>-trashcan-<time>, never deleting it', async () => {
    const parent = path.join(base, 'existing');
    const dataDir = path.join(parent, 'data');
    await mkdir(path.join(dataDir, 'member'), { recursive: true });
    await writeFile(path.join(dataDir, 'member', 'old-wal'), 'the old member data');
    // Member list and peer URLs come from the cluster spec (`cluster init --members`).
    const run = await runCairn([
      'etcd',
      'snapshot',
      'restore',
      'latest',
      ...at(),
      '--data-dir',
      dataDir,
      '--name',
      'test',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const entries = (await readdir(parent)).sort();
    assert.equal(entries.length, 2, entries.join(', '));
    const trashcan = entries.find((e) => e.startsWith('data-trashcan-'));
    assert.match(trashcan ?? '', /^data-trashcan-\d{8}T\d{6}Z$/);
    assert.equal(
      await readFile(path.join(parent, trashcan ?? '', 'member', 'old-wal'), 'utf8'),
      'the old member data',
    );
    assert.match(
      run.stdout,
      new RegExp(`previous data dir was moved to ${path.join(parent, trashcan ?? '')}`),
    );
    assert.ok((await stat(path.join(dataDir, 'member', 'snap', 'db'))).size > 0);
    assert.match(run.stdout, /--advertise-client-urls '<client-urls>'/);
    assert.ok(
      run.stdout.includes(
        `--initial-advertise-peer-urls ${source.peerUrl} --listen-peer-urls ${source.peerUrl}`,
      ),
    );
  });

  it('asks for confirmation for an old snapshot or a manifest-less file, and changes nothing without it', async () => {
    const dataDir = path.join(base, 'confirm', 'data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'keep-me'), 'x');
    const args = ['--data-dir', dataDir, '--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:1'];
    await new Promise((r) => setTimeout(r, 1100));
    const old = await runCairn([
      'etcd',
      'snapshot',
      'restore',
      snapshotId,
      ...at(...args, '--confirm-older-than', '1s'),
    ]);
    assertCleanFailure(old, /restore not confirmed: snapshot .* was taken .* older than 1s/);
    assert.match(old.stderr, /--yes/);
    assert.deepEqual(await readdir(path.dirname(dataDir)), ['data']);
    assert.deepEqual(await readdir(dataDir), ['keep-me']);

    const file = path.join(base, 'etcdctl.db');
    await source.etcdctl(['snapshot', 'save', file]);
    const fromFile = await runCairn(['etcd', 'snapshot', 'restore', file, '--from-file', ...args]);
    assertCleanFailure(fromFile, /local file without a Cairn manifest/);
    assert.deepEqual(await readdir(dataDir), ['keep-me']);

    const yes = await runCairn(['etcd', 'snapshot', 'restore', file, '--from-file', ...args, '--yes']);
    assert.equal(yes.code, 0, yes.stderr);
    assert.match(yes.stderr, /WARNING: .*local file without a Cairn manifest.*\(confirmed by --yes\)/);
    assert.deepEqual(await readdir(dataDir), ['member']);
  });

  it('refuses a truncated or bit-flipped snapshot in verify and in restore', async () => {
    const snapshots = path.join(loc, 'etcd/main/snapshots');
    const [stamp, rev] = snapshotId.split('-');
    const make = async (suffix: string, damage: (file: string) => Promise<void>) => {
      const id = `${stamp}-${rev}-${suffix}`;
      await cp(path.join(snapshots, snapshotId), path.join(snapshots, id), { recursive: true });
      await damage(path.join(snapshots, id, 'snapshot.db'));
      return id;
    };
    const flip = async (file: string, offset: number) => {
      const handle = await open(file, 'r+');
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, offset);
      byte[0] = (byte[0] ?? 0) ^ 0x10;
      await handle.write(byte, 0, 1, offset);
      await handle.close();
    };
    const truncated = await make('2', async (file) => truncate(file, (await stat(file)).size - 4096));
    const flipped = await make('3', (file) => flip(file, 5 * 1024 * 1024));
    // A flip with a matching manifest (as if the manifest were rewritten too): only the trailer catches it.
    const forged = await make('4', async (file) => {
      await flip(file, 6 * 1024 * 1024);
      const manifestFile = path.join(path.dirname(file), 'manifest.json');
      const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
      manifest.sha256 = await sha256File(file);
      await writeFile(manifestFile, JSON.stringify(manifest));
    });

    const v1 = await runCairn(['etcd', 'snapshot', 'verify', truncated, ...at()]);
    assert.equal(v1.code, 1);
    assert.match(v1.stdout, /FAIL\s+size\s+\d+ bytes stored, the manifest says \d+/);
    assert.match(v1.stdout, /FAIL\s+trailer/);
    const v2 = await runCairn(['etcd', 'snapshot', 'verify', flipped, ...at()]);
    assert.equal(v2.code, 1);
    assert.match(v2.stdout, /FAIL\s+sha256/);
    assert.match(v2.stdout, /FAIL\s+trailer\s+the SHA-256 trailer .* does not match/);
    const v3 = await runCairn(['etcd', 'snapshot', 'verify', forged, ...at()]);
    assert.equal(v3.code, 1);
    assert.match(v3.stdout, /ok\s+sha256/);
    assert.match(v3.stdout, /FAIL\s+trailer/);
    const all = await runCairn(['etcd', 'snapshot', 'verify', '--all', ...at('--no-tool')]);
    assert.equal(all.code, 1);
    assert.match(all.stdout, new RegExp(`Snapshot ${snapshotId}: OK`));

    const dataDir = path.join(base, 'corrupt', 'data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'keep-me'), 'old member data');
    for (const [id, message] of [
      [truncated, /does not match its manifest/],
      [flipped, /does not match its manifest/],
      [forged, /not a valid etcd snapshot: the SHA-256 trailer/],
    ] as const) {
      const run = await runCairn([
        'etcd',
        'snapshot',
        'restore',
        id,
        ...at(),
        '--data-dir',
        dataDir,
        '--name',
        'test',
        '--yes',
      ]);
      assertCleanFailure(run, message);
      assert.deepEqual(await readdir(dataDir), ['keep-me'], 'the data dir is untouched');
      assert.deepEqual(await readdir(path.dirname(dataDir)), ['data'], 'no staging or trashcan left');
    }
    for (const id of [truncated, flipped, forged]) await rm(path.join(snapshots, id), { recursive: true });
  });
});
