import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StorageError } from '../../src/errors/storage-error.ts';
import { describeBlobStoreConformance } from '../../src/storage/conformance.ts';
import { S3BlobStore } from '../../src/storage/s3/s3-store.ts';
import { adminClient, createTestBucket, openMultipartUploads, testS3 } from '../support/s3-env.ts';

const s3 = testS3();
const admin = adminClient(s3);

function storeFor(
  bucket: string,
  prefix: string,
  keys = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
) {
  return new S3BlobStore({
    bucket,
    prefix,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: keys,
  });
}

// Against the real Ceph RGW: the S3 of record. A bucket root and a nested prefix
// both run the whole suite, so prefix stripping is covered.
for (const prefix of ['', 'nested/location/']) {
  describeBlobStoreConformance(
    `s3 (Ceph RGW) prefix "${prefix}"`,
    async () => {
      const { bucket, remove } = await createTestBucket(admin, 'conf');
      const store = storeFor(bucket, prefix);
      return {
        store,
        cleanup: async () => {
          await store.close();
          await remove();
        },
      };
    },
    {
      boundedMemory: true,
      // Only the bucket root run streams 200 MiB; the nested run checks semantics with 64 MiB.
      largeObjectBytes: prefix === '' ? 200 * 1024 * 1024 : 64 * 1024 * 1024,
      assertNoLeftovers: async (store, keyPrefix) => {
        const s3store = store as S3BlobStore;
        const open = await openMultipartUploads(
          admin,
          s3store.config.bucket,
          s3store.config.prefix + keyPrefix,
        );
        assert.deepEqual(open, [], 'a failed streamed put must abort its multipart upload');
      },
    },
  );
}

describe('s3 backend against RGW: error classes', () => {
  let bucket: string;
  let remove: () => Promise<void>;
  before(async () => {
    ({ bucket, remove } = await createTestBucket(admin, 'errors'));
  });
  after(async () => {
    await remove();
    admin.destroy();
  });

  const failureOf = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (err) {
      assert.ok(err instanceof StorageError, String(err));
      return err;
    }
    assert.fail('expected a failure');
  };

  it('reports a missing bucket as bucket-missing, with a hint', async () => {
    const store = storeFor('cairn-no-such-bucket-x1', '');
    const err = await failureOf(store.checkBucket());
    assert.equal(err.failure, 'bucket-missing');
    assert.match(err.hint ?? '', /Create the bucket/);
    assert.equal((await failureOf(store.put('k', 'v'))).failure, 'bucket-missing');
    await store.close();
  });

  it('reports wrong credentials as access-denied, never retryable', async () => {
    const store = storeFor(bucket, '', { accessKeyId: s3.accessKeyId, secretAccessKey: 'wrong-secret' });
    const err = await failureOf(store.checkBucket());
    assert.equal(err.failure, 'access-denied');
    assert.equal(err.retryable, false);
    assert.equal((await failureOf(store.get('x'))).failure, 'access-denied');
    await store.close();
  });

  it("reports another user's bucket as access-denied", async () => {
    const store = storeFor(bucket, '', {
      accessKeyId: s3.otherAccessKeyId,
      secretAccessKey: s3.otherSecretAccessKey,
    });
    assert.equal((await failureOf(store.put('k', 'v'))).failure, 'access-denied');
    assert.equal((await failureOf(store.stat('k'))).failure, 'access-denied');
    await store.close();
  });

  it('reports a dead endpoint as unreachable', async () => {
    const store = new S3BlobStore({
      bucket,
      prefix: '',
      region: s3.region,
      endpoint: 'http://127.0.0.1:9', // discard port: nothing listens
      forcePathStyle: true,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      connectTimeoutMs: 1000,
    });
    const err = await failureOf(store.checkBucket());
    assert.equal(err.failure, 'unreachable');
    assert.equal(err.retryable, true);
    await store.close();
  });
});
