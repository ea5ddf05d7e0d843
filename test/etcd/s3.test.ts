import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { assertCleanFailure, fillEtcd, startEtcd, type TestEtcd } from '../support/etcd.ts';
import { runCairn } from '../support/run-cairn.ts';
import { adminClient, createTestBucket, testS3 } from '../support/s3-env.ts';

const s3 = testS3();
const admin = adminClient(s3);
const creds = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };

describe('cairn etcd snapshots in S3 (Ceph RGW)', () => {
  let etcd: TestEtcd;
  let base: string;
  let bucket: string;
  let remove: () => Promise<void>;
  let loc: string;
  const at = (...args: string[]) => [...args, '--location', loc, '--cluster', 'main'];

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cairn-etcd-s3-'));
    ({ bucket, remove } = await createTestBucket(admin, 'etcd'));
    loc = `s3://${bucket}/cairn?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}`;
    etcd = await startEtcd();
    // Over one multipart part (8 MiB), so the stream goes through multipart upload.
    await fillEtcd(etcd, 20 * 1024 * 1024, { valueBytes: 256 * 1024 });
    assert.equal((await runCairn(['location', 'init', loc], creds)).code, 0);
    assert.equal(
      (await runCairn(['etcd', 'cluster', 'init', ...at('--members', `test=${etcd.peerUrl}`)], creds)).code,
      0,
    );
  });
  after(async () => {
    await etcd?.stop();
    await remove?.();
    admin.destroy();
    await rm(base, { recursive: true, force: true });
  });

  it('saves (multipart), lists, verifies and restores; control and snapshots under separate prefixes', async () => {
    const save = await runCairn(
      ['etcd', 'snapshot', 'save', ...at('--endpoints', etcd.endpoint, '-o', 'json')],
      creds,
    );
    assert.equal(save.code, 0, save.stderr);
    const { manifest } = JSON.parse(save.stdout);
    assert.ok(manifest.size > 20 * 1024 * 1024);
    const keys = (
      (await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'cairn/' }))).Contents ?? []
    ).map((o) => o.Key);
    assert.deepEqual(keys.sort(), [
      'cairn/cairn-location.json',
      'cairn/control/etcd/main/spec.json',
      'cairn/control/location.json',
      `cairn/etcd/main/snapshots/${manifest.id}/manifest.json`,
      `cairn/etcd/main/snapshots/${manifest.id}/snapshot.db`,
    ]);
    const verify = await runCairn(['etcd', 'snapshot', 'verify', 'latest', ...at()], creds);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /ok\s+status\s+etcdctl snapshot status: revision/);

    const dataDir = path.join(base, 'member', 'data');
    await mkdir(path.dirname(dataDir));
    const restore = await runCairn(
      ['etcd', 'snapshot', 'restore', 'latest', ...at('--data-dir', dataDir, '--name', 'test')],
      creds,
    );
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(await readdir(dataDir), ['member']);
  });

  it('refuses to save when the etcd endpoint is down, storing nothing', async () => {
    const run = await runCairn(
      ['etcd', 'snapshot', 'save', ...at('--endpoints', 'http://127.0.0.1:9')],
      creds,
    );
    assertCleanFailure(run, /etcd at http:\/\/127\.0\.0\.1:9 is unreachable/);
    const list = JSON.parse(
      (await runCairn(['etcd', 'snapshot', 'list', ...at('-o', 'json')], creds)).stdout,
    );
    assert.equal(list.length, 1);
  });
});
