import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CairnError } from '../errors/cairn-error.ts';
import { formatLocation, parseLocationUrl } from './location-url.ts';

const env = {};

describe('parseLocationUrl', () => {
  it('takes plain paths (relative to cwd) and file:// URLs', () => {
    assert.deepEqual(parseLocationUrl('backups', env, '/srv'), {
      provider: 'filesystem',
      path: '/srv/backups',
    });
    assert.deepEqual(parseLocationUrl('/mnt/nfs/cairn', env), {
      provider: 'filesystem',
      path: '/mnt/nfs/cairn',
    });
    assert.deepEqual(parseLocationUrl('file:///mnt/with%20space', env), {
      provider: 'filesystem',
      path: '/mnt/with space',
    });
  });

  it('parses s3 URLs with endpoint, region, path style and prefix', () => {
    const spec = parseLocationUrl(
      's3://my-bucket/team/prod/?endpoint=http://127.0.0.1:7480&region=eu-west-1',
      env,
    );
    assert.equal(spec.provider, 's3');
    if (spec.provider !== 's3') return;
    assert.equal(spec.bucket, 'my-bucket');
    assert.equal(spec.prefix, 'team/prod/');
    assert.equal(spec.endpoint, 'http://127.0.0.1:7480');
    assert.equal(spec.region, 'eu-west-1');
    assert.equal(spec.forcePathStyle, true, 'custom endpoints default to path style');
    assert.equal(
      formatLocation(spec),
      's3://my-bucket/team/prod/?endpoint=http%3A%2F%2F127.0.0.1%3A7480&region=eu-west-1&forcePathStyle=true',
    );
  });

  it('defaults to AWS: virtual-hosted style, region from the environment', () => {
    const spec = parseLocationUrl('s3://bucket-a', { AWS_REGION: 'ap-south-1' });
    assert.ok(spec.provider === 's3');
    assert.equal(spec.prefix, '');
    assert.equal(spec.region, 'ap-south-1');
    assert.equal(spec.forcePathStyle, false);
    assert.equal(spec.endpoint, undefined);
  });

  for (const [url, problem] of [
    ['', /empty/],
    ['ftp://host/x', /unsupported scheme/],
    ['s3://Bad_Bucket/x', /bucket name/],
    ['s3://bucket/x?forcepathstyle=true', /unknown parameter "forcepathstyle"/],
    ['s3://bucket/x?forcePathStyle=yes', /true or false/],
    ['s3://key:secret@bucket/x', /credentials must not be part of the URL/],
    ['s3://bucket/a/../b', /segments/],
    ['s3://bucket/x?endpoint=127.0.0.1:9000', /must start with http/],
    ['s3://bucket/x?partSize=1000', /at least 5 MiB/],
  ] as const) {
    it(`rejects ${JSON.stringify(url)} with a clear error`, () => {
      assert.throws(
        () => parseLocationUrl(url, env),
        (e: unknown) =>
          e instanceof CairnError &&
          e.code === 'LOCATION_URL_INVALID' &&
          problem.test(e.message) &&
          e.hint !== undefined,
      );
    });
  }
});
