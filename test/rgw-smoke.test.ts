// Smoke test for the test S3 server (Ceph RGW). Run it under scripts/with-services.ts:
//   node scripts/with-services.ts node --test test/rgw-smoke.test.ts

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the integration tests under scripts/with-services.ts, e.g.\n` +
        '  node scripts/with-services.ts node --test test/rgw-smoke.test.ts\n' +
        'or start a dev server once with: eval "$(node scripts/rgw.ts start)"',
    );
  }
  return value;
}

function client(accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    endpoint: requireEnv('CAIRN_TEST_S3_ENDPOINT'),
    region: requireEnv('CAIRN_TEST_S3_REGION'),
    credentials: { accessKeyId, secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function expectAccessDenied(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof S3ServiceException, `expected an S3 error, got ${String(error)}`);
    assert.equal(error.name, 'AccessDenied');
    assert.equal(error.$metadata.httpStatusCode, 403);
    return true;
  });
}

test('RGW: create bucket, put/get/list, other user is denied', async () => {
  requireEnv('CAIRN_TEST_S3_ENDPOINT');
  const s3 = client(requireEnv('CAIRN_TEST_S3_ACCESS_KEY_ID'), requireEnv('CAIRN_TEST_S3_SECRET_ACCESS_KEY'));
  const other = client(
    requireEnv('CAIRN_TEST_S3_OTHER_ACCESS_KEY_ID'),
    requireEnv('CAIRN_TEST_S3_OTHER_SECRET_ACCESS_KEY'),
  );
  try {
    const bucket = `smoke-${randomUUID()}`;
    const key = 'dir/hello.txt';
    const body = `hello from cairn ${Date.now()}`;

    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(await got.Body?.transformToString(), body);

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual(
      listed.Contents?.map((o) => [o.Key, o.Size]),
      [[key, Buffer.byteLength(body)]],
    );

    await expectAccessDenied(other.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    await expectAccessDenied(other.send(new ListObjectsV2Command({ Bucket: bucket })));
  } finally {
    s3.destroy();
    other.destroy();
  }
});
