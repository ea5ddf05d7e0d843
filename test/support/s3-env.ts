import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

/** The S3 server the test run was given by scripts/with-services.ts (Ceph RGW). */
export interface TestS3 {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly otherAccessKeyId: string;
  readonly otherSecretAccessKey: string;
}

/** The four variables every user of the S3 server needs, read with a hint for when one is missing. */
export function s3ServerFromEnv(
  howToSet: string,
  env: NodeJS.ProcessEnv = process.env,
): Pick<TestS3, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'> & { need(name: string): string } {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set: ${howToSet}`);
    return value;
  };
  return {
    endpoint: need('CAIRN_TEST_S3_ENDPOINT'),
    region: need('CAIRN_TEST_S3_REGION'),
    accessKeyId: need('CAIRN_TEST_S3_ACCESS_KEY_ID'),
    secretAccessKey: need('CAIRN_TEST_S3_SECRET_ACCESS_KEY'),
    need,
  };
}

/** Reads the server from the environment; fails loudly (never skips) when it is missing. */
export function testS3(): TestS3 {
  const { need, ...server } = s3ServerFromEnv(
    'integration tests need the real S3 server. Run them through `npm test` or `node scripts/with-services.ts node --test …`.',
  );
  return {
    ...server,
    otherAccessKeyId: need('CAIRN_TEST_S3_OTHER_ACCESS_KEY_ID'),
    otherSecretAccessKey: need('CAIRN_TEST_S3_OTHER_SECRET_ACCESS_KEY'),
  };
}

/** A raw SDK client for test setup (bucket creation, leftover checks) as the main test user. */
export function adminClient(s3: TestS3): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a bucket with a unique name; returns it and a cleanup that empties and removes it. */
export async function createTestBucket(
  client: S3Client,
  label: string,
): Promise<{ bucket: string; remove(): Promise<void> }> {
  const bucket = `cairn-${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.slice(0, 63);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    remove: async () => {
      for (;;) {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
        const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
        if (keys.length === 0) break;
        await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
        );
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    },
  };
}

/** Multipart uploads still open under a prefix (a failed put must leave none). */
export async function openMultipartUploads(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<string[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (out.Uploads ?? []).map((u) => u.Key ?? '?');
}
