/**
 * Backups a restore must refuse before touching the cluster: a tampered file
 * (SHA-256 mismatch), a hostile archive (path traversal after valid entries),
 * an incomplete backup, a missing backup, and custom resources whose CRD
 * neither the cluster nor the restore has. Plus the read-only location.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import tar from 'tar-stream';
import { BACKUP_FILES } from '../../src/catalog/backup-manifest.ts';
import { layout } from '../../src/catalog/layout.ts';
import { itemPath } from '../../src/catalog/resource-archive.ts';
import { certificateCrd, sampleApp } from '../support/fixtures/sample-app.ts';
import {
  backupCreate,
  cairn,
  createAll,
  deleteAndWait,
  type FixtureBackupItem,
  fsLocation,
  getLive,
  type KubeObject,
  refsOf,
  startCluster,
  type TestCluster,
  type TestLocation,
  writeFixtureBackup,
} from './helpers.ts';

describe('restore refuses bad backups before applying anything', () => {
  let cluster: TestCluster;
  let location: TestLocation;
  let original: KubeObject[];
  let refs: FixtureBackupItem[];
  const shopNs = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } };

  before(async () => {
    cluster = await startCluster();
    location = await fsLocation();
    original = await createAll(cluster, sampleApp());
    refs = await refsOf(cluster, original);
    await backupCreate(location, cluster, 'good', '--include-namespaces', 'shop,shop-data');
    await backupCreate(location, cluster, 'tampered', '--include-namespaces', 'shop,shop-data');
    // Everything the backups hold is gone from the cluster, so any write would show.
    await deleteAndWait(cluster, [
      ...original.filter((o) => o.kind === 'Namespace'),
      certificateCrd,
      ...original.filter((o) =>
        ['ClusterRole', 'ClusterRoleBinding', 'StorageClass'].includes(String(o.kind)),
      ),
    ]);
  });
  after(async () => {
    await cluster?.stop();
    await location?.remove();
  });

  const restore = (backup: string, ...flags: string[]) =>
    cairn(location, [
      'restore',
      'create',
      `r-${backup}`,
      '--from-backup',
      backup,
      '--location',
      location.url,
      '--kubeconfig',
      cluster.kubeconfig,
      ...flags,
    ]);

  async function assertNothingApplied(): Promise<void> {
    assert.equal(await getLive(cluster, shopNs), undefined, 'namespace shop was not created');
    assert.equal(await getLive(cluster, certificateCrd), undefined, 'the CRD was not created');
    const stored = [];
    for await (const info of location.store.list('restores/')) stored.push(info.key);
    assert.deepEqual(stored, [], 'no restore record');
  }

  it('a file whose SHA-256 differs from the manifest', async () => {
    const file = join(location.url, layout.backupFile('tampered', BACKUP_FILES.resources));
    const bytes = await readFile(file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff; // same size, other content
    await writeFile(file, bytes);
    const run = await restore('tampered');
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /error: backup "tampered": resources.tar.zst does not match its manifest \(SHA-256 /,
    );
    assert.match(run.stderr, /hint: Nothing was restored/);
    await assertNothingApplied();
  });

  it('a hostile archive (path traversal after valid entries)', async () => {
    const pack = tar.pack();
    const good = original.find((o) => o.kind === 'Namespace') as KubeObject;
    pack.entry(
      { name: itemPath({ group: '', version: 'v1', resource: 'namespaces', name: 'shop' }) },
      JSON.stringify(good),
    );
    pack.entry(
      { name: 'resources/../../../etc/cron.d/evil.json' },
      JSON.stringify({ metadata: { name: 'evil' } }),
    );
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack as unknown as Readable) chunks.push(c as Buffer);
    await writeFixtureBackup(location.store, 'hostile', [], {
      archive: zstdCompressSync(Buffer.concat(chunks)),
    });
    const run = await restore('hostile');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error: the backup archive is malformed or hostile: unexpected entry path/);
    await assertNothingApplied();
  });

  it('an incomplete backup (files, no manifest)', async () => {
    await location.store.put(layout.backupFile('half', BACKUP_FILES.resources), 'partial');
    const run = await restore('half');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error: backup "half" is incomplete: it has 1 file\(s\) but no manifest/);
    await assertNothingApplied();
  });

  it('a backup that does not exist, with near names', async () => {
    const run = await restore('goood');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error: backup "goood" does not exist/);
    assert.match(run.stderr, /hint: Did you mean "good"/);
  });

  it('custom resources whose CRD the cluster lacks and the restore leaves out', async () => {
    const run = await restore('good', '--exclude-resources', 'crd');
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /the cluster has no CustomResourceDefinition certificates.cert-manager.io \(1 object\(s\) of kind certificates in cert-manager.io\/v1 need it\)/,
    );
    await writeFixtureBackup(
      location.store,
      'no-crd',
      refs.filter((r) => r.object.kind === 'Certificate'),
    );
    const run2 = await restore('no-crd');
    assert.equal(run2.code, 1);
    assert.match(
      run2.stderr,
      /no CustomResourceDefinition certificates.cert-manager.io .* \(it is not in the backup\)/,
    );
    await assertNothingApplied();
  });

  it('a read-only location: restores, prints the results, stores nothing', async () => {
    const run = await restore('good', '--read-only', '--include-namespaces', 'shop-data');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /read-only: results were printed only, not stored/);
    assert.ok(
      await getLive(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-data' } }),
    );
    const stored = [];
    for await (const info of location.store.list('restores/')) stored.push(info.key);
    assert.deepEqual(stored, []);
  });
});
