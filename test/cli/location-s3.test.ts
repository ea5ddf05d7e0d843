import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { type CairnRun, runCairn } from '../support/run-cairn.ts';
import { adminClient, createTestBucket, testS3 } from '../support/s3-env.ts';

const s3 = testS3();
const admin = adminClient(s3);
const creds = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
const otherCreds = { AWS_ACCESS_KEY_ID: s3.otherAccessKeyId, AWS_SECRET_ACCESS_KEY: s3.otherSecretAccessKey };

function url(bucket: string, prefix: string, endpoint = s3.endpoint): string {
  return `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(endpoint)}&region=${s3.region}`;
}

function assertFailLine(run: CairnRun, check: string, detail: RegExp, hint: RegExp): void {
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stdout, new RegExp(`FAIL\\s+${check}\\s+${detail.source}`));
  assert.match(run.stdout, hint);
  assert.doesNotMatch(run.stdout + run.stderr, /^\s+at /m);
}

describe('cairn location on S3 (Ceph RGW)', () => {
  let bucket: string;
  let remove: () => Promise<void>;
  before(async () => {
    ({ bucket, remove } = await createTestBucket(admin, 'cli'));
  });
  after(async () => {
    await remove();
    admin.destroy();
  });

  it('initialises a prefix, checks it healthy (write probe included) and shows info', async () => {
    const loc = url(bucket, 'team-a/prod');
    const init = await runCairn(['location', 'init', loc], creds);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /initialised/);
    const check = await runCairn(['location', 'check', loc], creds);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, new RegExp(`ok\\s+reach\\s+bucket "${bucket}" answered at ${s3.endpoint}`));
    assert.match(check.stdout, /ok\s+write\s+put, stat, get, list and delete/);
    const info = JSON.parse((await runCairn(['location', 'info', loc, '-o', 'json'], creds)).stdout);
    assert.equal(info.provider, 's3');
    assert.equal(info.marker.state, 'ok');
    assert.equal(info.objects, 2);
  });

  it('takes credentials from a shared-credentials file and profile (?credentialsFile=&profile=)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-creds-'));
    const file = path.join(dir, 'credentials');
    await writeFile(
      file,
      `[backup]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = ${s3.secretAccessKey}\n`,
    );
    try {
      const loc = `${url(bucket, 'team-a/prod')}&credentialsFile=${encodeURIComponent(file)}&profile=backup`;
      const check = await runCairn(['location', 'check', loc]); // no AWS_* variables at all
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.match(check.stdout, /ok\s+write/);
      const wrongProfile = await runCairn([
        'location',
        'check',
        loc.replace('profile=backup', 'profile=nope'),
      ]);
      assert.equal(wrongProfile.code, 1);
      assert.match(wrongProfile.stdout, /FAIL\s+reach/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('explains an unreachable endpoint in one line with a hint', async () => {
    const run = await runCairn(['location', 'check', url(bucket, 'x', 'http://127.0.0.1:9')], creds);
    assertFailLine(run, 'reach', /cannot reach the location: .*ECONNREFUSED/, /hint: Check the endpoint URL/);
    const init = await runCairn(['location', 'init', url(bucket, 'x', 'http://127.0.0.1:9')], creds);
    assert.equal(init.code, 1);
    assert.match(init.stderr, /^error: .*ECONNREFUSED/m);
    assert.match(init.stderr, /^hint: Check the endpoint URL/m);
  });

  it('explains wrong credentials', async () => {
    const run = await runCairn(['location', 'check', url(bucket, 'team-a/prod')], {
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: 'not-the-secret',
    });
    assertFailLine(
      run,
      'reach',
      /.*(SignatureDoesNotMatch|AccessDenied|Forbidden|403)/,
      /hint: Check the credentials/,
    );
  });

  it('explains a missing bucket', async () => {
    const run = await runCairn(['location', 'check', url('cairn-missing-bucket-zz', 'p')], creds);
    assertFailLine(
      run,
      'reach',
      /.*bucket "cairn-missing-bucket-zz" does not exist/,
      /hint: Create the bucket first/,
    );
    const init = await runCairn(['location', 'init', url('cairn-missing-bucket-zz', 'p')], creds);
    assert.equal(init.code, 1);
    assert.match(init.stderr, /bucket|NoSuchBucket/);
  });

  it('refuses a prefix holding foreign data, writing nothing', async () => {
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'shared/photos/cat.jpg', Body: 'meow' }));
    const run = await runCairn(['location', 'init', url(bucket, 'shared')], creds);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /not empty and is not a Cairn location.*"photos\/cat\.jpg"/);
    assert.match(run.stderr, /^hint: Use an empty folder or bucket, or a prefix of its own/m);
    const info = JSON.parse(
      (await runCairn(['location', 'info', url(bucket, 'shared'), '-o', 'json'], creds)).stdout,
    );
    assert.equal(info.objects, 1, 'nothing was written');
    assert.equal(info.marker.state, 'missing');
  });

  it('tells read-only credentials apart, and passes them with --read-only', async () => {
    const loc = url(bucket, 'team-a/prod');
    // Grant the second user read and list only, as a restore-only cluster would have.
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: [`arn:aws:iam:::user/${s3.otherAccessKeyId}`] },
          Action: ['s3:GetObject', 's3:ListBucket'],
          Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        },
      ],
    };
    await admin.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
    const writable = await runCairn(['location', 'check', loc], otherCreds);
    assertFailLine(
      writable,
      'write',
      /put of probe .* failed: .*AccessDenied/,
      /hint: The credentials may read but not write/,
    );
    const readOnly = await runCairn(['location', 'check', loc, '--read-only'], otherCreds);
    assert.equal(readOnly.code, 0, readOnly.stdout);
    assert.match(readOnly.stdout, /ok\s+marker\s+format 1/);
    assert.match(readOnly.stdout, /skip\s+write\s+opened read-only/);
  });
});
