import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyS3Error, storageErrorFromS3 } from './s3-errors.ts';

const sdk = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(name), {
    name,
    ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }),
    ...extra,
  });

describe('S3 error classification', () => {
  it('classifies by error name first', () => {
    assert.equal(classifyS3Error(sdk('NoSuchKey', 404)), 'not-found');
    assert.equal(classifyS3Error(sdk('NoSuchBucket', 404)), 'bucket-missing');
    assert.equal(classifyS3Error(sdk('SignatureDoesNotMatch', 403)), 'access-denied');
    assert.equal(classifyS3Error(sdk('InvalidAccessKeyId', 403)), 'access-denied');
    assert.equal(classifyS3Error(sdk('SlowDown', 503)), 'transient');
    assert.equal(classifyS3Error(sdk('InvalidRange', 416)), 'invalid');
  });

  it('uses the S3 Code when the SDK only knows "UnknownError" (RGW GET errors)', () => {
    assert.equal(classifyS3Error(sdk('UnknownError', 404, { Code: 'NoSuchBucket' })), 'bucket-missing');
  });

  it('falls back to socket errno, then HTTP status', () => {
    assert.equal(
      classifyS3Error(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })),
      'unreachable',
    );
    assert.equal(classifyS3Error(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 'transient');
    assert.equal(classifyS3Error(sdk('Whatever', 500)), 'transient');
    assert.equal(classifyS3Error(sdk('Whatever', 429)), 'transient');
    assert.equal(classifyS3Error(sdk('Whatever', 403)), 'access-denied');
    assert.equal(classifyS3Error(sdk('Whatever', 400)), 'other');
  });

  it('names vague failures itself instead of echoing "UnknownError"', () => {
    const err = storageErrorFromS3(sdk('UnknownError', 403), 'cannot reach bucket "b"');
    assert.equal(err.failure, 'access-denied');
    assert.equal(err.message, 'cannot reach bucket "b": access denied (HTTP 403)');
    assert.match(err.hint ?? '', /credentials/);
    const missing = storageErrorFromS3(
      sdk('UnknownError', 404, { Code: 'NoSuchBucket' }),
      'cannot read "k"',
      'k',
    );
    assert.equal(missing.message, 'cannot read "k": the bucket does not exist (NoSuchBucket, HTTP 404)');
    assert.equal(missing.key, 'k');
  });
});
