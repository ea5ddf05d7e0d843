import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ListObjectsV2CommandOutput, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { blobNotFound, StorageError } from '../../errors/storage-error.ts';
import {
  assertValidKey,
  assertValidPrefix,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type ListOptions,
  type PutBody,
  type PutOptions,
} from '../blob-store.ts';
import { bodyChunks, bufferedBytes, isBufferedBody } from '../body.ts';
import { classifyS3Error, storageErrorFromS3 } from './s3-errors.ts';

/** Everything needed to reach a bucket. Secrets are never part of `description`. */
export interface S3LocationConfig {
  readonly bucket: string;
  /** Key prefix inside the bucket that is this location's root ('' or ending in '/'). */
  readonly prefix: string;
  readonly region: string;
  /** Custom endpoint for S3-compatible servers (MinIO, Ceph RGW); omitted for AWS S3. */
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  /** Explicit credentials; otherwise the AWS default chain (env, shared files, IMDS…) or `profile`/`credentialsFile`. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Named profile in the shared credentials/config files. */
  readonly profile?: string;
  /** A shared-credentials-format file (as Velero's `--secret-file`). */
  readonly credentialsFile?: string;
  /** PEM bundle of extra CAs to trust for the endpoint. */
  readonly caBundle?: string;
  readonly insecureSkipTlsVerify?: boolean;
  /** Multipart part size in bytes (default 8 MiB); memory per streamed upload is about partSize × queueSize. */
  readonly partSize?: number;
  /** Parts uploaded in parallel per streamed put (default 4). */
  readonly queueSize?: number;
  /** Connection timeout in ms (default 5 s). */
  readonly connectTimeoutMs?: number;
}

type S3Sdk = typeof import('@aws-sdk/client-s3');

let sdkLoading: Promise<S3Sdk> | undefined;
function loadSdk(): Promise<S3Sdk> {
  sdkLoading ??= import('@aws-sdk/client-s3');
  return sdkLoading;
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_QUEUE_SIZE = 4;

/**
 * S3-compatible backend (AWS S3, MinIO, Ceph RGW) over `@aws-sdk/client-s3`.
 *
 * - In-memory bodies go up in one PutObject; streams go through
 *   `@aws-sdk/lib-storage` multipart with bounded memory (partSize × queueSize),
 *   aborted on failure so nothing becomes visible.
 * - For custom endpoints, request checksums and response validation are
 *   `WHEN_REQUIRED`: the SDK's default aws-chunked encoding with trailing
 *   checksums is stored verbatim as data by some servers.
 * - The SDK's own retries are off (`maxAttempts: 1`): retrying is the job of
 *   the retry wrapper, which decides from our error classes.
 */
export class S3BlobStore implements BlobStore {
  readonly description: string;
  readonly config: S3LocationConfig;
  #client: Promise<{ client: S3Client; sdk: S3Sdk }> | undefined;

  constructor(config: S3LocationConfig) {
    this.config = config;
    this.description = `s3://${config.bucket}/${config.prefix}${config.endpoint ? ` at ${config.endpoint}` : ''}`;
  }

  /** Checks that the bucket exists and the credentials may use it (HeadBucket). */
  async checkBucket(): Promise<void> {
    try {
      const s3 = await this.#s3();
      await s3.client.send(new s3.sdk.HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (err) {
      // HeadBucket answers 404 without a body: that is a missing bucket, not a missing key.
      const failure = classifyS3Error(err);
      if (failure === 'not-found' || failure === 'bucket-missing') {
        throw new StorageError('bucket-missing', `bucket "${this.config.bucket}" does not exist`, {
          cause: err,
          hint: 'Create the bucket first, or fix the bucket name in the location URL.',
        });
      }
      throw storageErrorFromS3(err, `cannot reach bucket "${this.config.bucket}"`);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const stream = await this.getStream(key, range);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (err) {
      throw storageErrorFromS3(err, `reading "${key}" from ${this.description} failed`, key);
    }
    return Buffer.concat(chunks);
  }

  async getStream(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    const rangeHeader = await this.#rangeHeader(key, range);
    if (rangeHeader === 'empty') return Readable.from([]);
    try {
      const s3 = await this.#s3();
      const out = await s3.client.send(
        new s3.sdk.GetObjectCommand({
          Bucket: this.config.bucket,
          Key: this.#fullKey(key),
          ...(rangeHeader === undefined ? {} : { Range: rangeHeader }),
        }),
      );
      if (!(out.Body instanceof Readable)) {
        throw new StorageError('other', `unexpected response body for "${key}"`, { key });
      }
      return out.Body;
    } catch (err) {
      if (classifyS3Error(err) === 'not-found') throw blobNotFound(key, this.description);
      if (classifyS3Error(err) === 'invalid' && range !== undefined) {
        throw new StorageError('invalid', `range starts at ${range.offset}, past the end of "${key}"`, {
          key,
          cause: err,
        });
      }
      throw storageErrorFromS3(err, `cannot read "${key}" from ${this.description}`, key);
    }
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<BlobInfo> {
    assertValidKey(key);
    const Key = this.#fullKey(key);
    const contentType = options.contentType ?? 'application/octet-stream';
    try {
      if (isBufferedBody(body)) {
        const bytes = bufferedBytes(body);
        if (options.length !== undefined && options.length !== bytes.length) {
          throw new StorageError(
            'source-failed',
            `the data for "${key}" has ${bytes.length} bytes, not the promised ${options.length}`,
            { key },
          );
        }
        const s3 = await this.#s3();
        await s3.client.send(
          new s3.sdk.PutObjectCommand({
            Bucket: this.config.bucket,
            Key,
            Body: bytes,
            ContentLength: bytes.length,
            ContentType: contentType,
          }),
        );
        return { key, size: bytes.length, modified: new Date() };
      }
      let size = 0;
      const counted = Readable.from(
        (async function* () {
          for await (const chunk of bodyChunks(body, key, options.length)) {
            size += chunk.length;
            yield chunk;
          }
        })(),
      );
      // Multipart support is loaded on the first streamed put only (it is a heavy import).
      const { Upload } = await import('@aws-sdk/lib-storage');
      const upload = new Upload({
        client: (await this.#s3()).client,
        params: { Bucket: this.config.bucket, Key, Body: counted, ContentType: contentType },
        partSize: this.config.partSize ?? DEFAULT_PART_SIZE,
        queueSize: this.config.queueSize ?? DEFAULT_QUEUE_SIZE,
        // On failure lib-storage aborts the multipart upload: no parts linger, nothing is visible.
        leavePartsOnError: false,
      });
      await upload.done();
      return { key, size, modified: new Date() };
    } catch (err) {
      throw storageErrorFromS3(err, `cannot write "${key}" to ${this.description}`, key);
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    assertValidKey(key);
    try {
      const s3 = await this.#s3();
      const out = await s3.client.send(
        new s3.sdk.HeadObjectCommand({ Bucket: this.config.bucket, Key: this.#fullKey(key) }),
      );
      return { key, size: out.ContentLength ?? 0, modified: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (classifyS3Error(err) === 'not-found') return undefined;
      throw storageErrorFromS3(err, `cannot stat "${key}" in ${this.description}`, key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    assertValidPrefix(prefix);
    const root = this.config.prefix;
    let continuationToken: string | undefined;
    let startAfter = options.startAfter === undefined ? undefined : root + options.startAfter;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        const s3 = await this.#s3();
        page = await s3.client.send(
          new s3.sdk.ListObjectsV2Command({
            Bucket: this.config.bucket,
            Prefix: root + prefix,
            MaxKeys: 1000,
            ...(continuationToken === undefined ? {} : { ContinuationToken: continuationToken }),
            ...(startAfter === undefined || continuationToken !== undefined
              ? {}
              : { StartAfter: startAfter }),
          }),
        );
      } catch (err) {
        throw storageErrorFromS3(err, `cannot list "${prefix}" in ${this.description}`);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key.slice(root.length),
          size: object.Size ?? 0,
          modified: object.LastModified ?? new Date(0),
        };
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      startAfter = undefined;
    } while (continuationToken !== undefined);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      const s3 = await this.#s3();
      await s3.client.send(
        new s3.sdk.DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.#fullKey(key) }),
      );
    } catch (err) {
      if (classifyS3Error(err) === 'not-found') return;
      throw storageErrorFromS3(err, `cannot delete "${key}" from ${this.description}`, key);
    }
  }

  async close(): Promise<void> {
    const opened = this.#client;
    this.#client = undefined;
    if (opened !== undefined) (await opened).client.destroy();
  }

  /** The raw client, for tests and admin tasks (bucket creation) that are not part of the BlobStore contract. */
  async client(): Promise<S3Client> {
    return (await this.#s3()).client;
  }

  /**
   * The SDK and the client, made on first use: `@aws-sdk/client-s3` is a heavy
   * import (~36 MB, a few hundred ms), and most commands never touch S3. So are
   * `node:http`/`node:https` (+16 MiB RSS for a command that only loads this
   * module, measured from dist/).
   */
  #s3(): Promise<{ client: S3Client; sdk: S3Sdk }> {
    this.#client ??= Promise.all([
      loadSdk(),
      import('@smithy/node-http-handler'),
      import('node:http'),
      import('node:https'),
    ]).then(([sdk, handler, http, https]) => ({
      sdk,
      client: new sdk.S3Client(clientConfig(this.config, handler.NodeHttpHandler, http.Agent, https.Agent)),
    }));
    return this.#client;
  }

  /**
   * The HTTP Range header for a ranged get. A zero-length range cannot be
   * expressed in HTTP, so it is answered locally after checking the object exists.
   */
  async #rangeHeader(key: string, range: ByteRange | undefined): Promise<string | undefined | 'empty'> {
    if (range === undefined) return undefined;
    const { offset, length } = range;
    if (
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      (length !== undefined && (!Number.isSafeInteger(length) || length < 0))
    ) {
      throw new StorageError('invalid', `invalid range ${JSON.stringify(range)} for "${key}"`, { key });
    }
    if (length === 0) {
      const info = await this.stat(key);
      if (info === undefined) throw blobNotFound(key, this.description);
      if (offset >= info.size && info.size > 0) {
        throw new StorageError(
          'invalid',
          `range starts at ${offset} but "${key}" has only ${info.size} bytes`,
          { key },
        );
      }
      return 'empty';
    }
    return length === undefined ? `bytes=${offset}-` : `bytes=${offset}-${offset + length - 1}`;
  }

  #fullKey(key: string): string {
    return this.config.prefix + key;
  }
}

function clientConfig(
  config: S3LocationConfig,
  NodeHttpHandler: typeof import('@smithy/node-http-handler').NodeHttpHandler,
  HttpAgent: typeof import('node:http').Agent,
  HttpsAgent: typeof import('node:https').Agent,
): S3ClientConfig {
  const custom = config.endpoint !== undefined;
  const ca = config.caBundle === undefined ? undefined : readFileSync(config.caBundle);
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  const fromFiles = config.credentialsFile !== undefined || config.profile !== undefined;
  const credentials =
    config.credentials ??
    (fromFiles
      ? // A provider function, so the shared-files loader is imported only when credentials are needed.
        async () => {
          const { fromIni } = await import('@aws-sdk/credential-providers');
          return fromIni({
            ...(config.profile === undefined ? {} : { profile: config.profile }),
            ...(config.credentialsFile === undefined ? {} : { filepath: config.credentialsFile }),
          })();
        }
      : undefined);
  return {
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(custom ? { endpoint: config.endpoint } : {}),
    ...(credentials === undefined ? {} : { credentials }),
    maxAttempts: 1,
    ...(custom
      ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
      : {}),
    requestHandler: new NodeHttpHandler({
      connectionTimeout: config.connectTimeoutMs ?? 5000,
      socketTimeout: 120_000,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent({
        ...agentOptions,
        ...(ca === undefined ? {} : { ca }),
        ...(config.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
      }),
    }),
  };
}
