import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { adminClient, createTestBucket, s3ServerFromEnv, type TestS3 } from '../../test/support/s3-env.ts';

const execFileAsync = promisify(execFile);

/** The S3 server scripts/with-services.ts hands to the bench. */
export interface BenchS3 {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export function benchS3FromEnv(env: NodeJS.ProcessEnv = process.env): BenchS3 {
  const { need: _need, ...server } = s3ServerFromEnv(
    'run the benchmark with `npm run bench:storage` (it starts Ceph RGW), or export a dev RGW (`eval "$(node scripts/rgw.ts start)"`).',
    env,
  );
  return server;
}

export function benchAdmin(s3: BenchS3) {
  const full: TestS3 = { ...s3, otherAccessKeyId: '', otherSecretAccessKey: '' };
  const client = adminClient(full);
  return {
    client,
    /** A fresh, empty bucket and the function that empties and removes it. */
    createBucket: (label: string) => createTestBucket(client, label),
  };
}

/**
 * The ceph.conf of the radosgw that serves `endpoint`, found through its command line
 * (`radosgw -c <conf> …`) and its `rgw frontends = … endpoint=host:port` line.
 */
export async function findRgwConf(endpoint: string): Promise<string | undefined> {
  const port = new URL(endpoint).port;
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!(argv[0] ?? '').endsWith('radosgw')) continue;
    const conf = argv[argv.indexOf('-c') + 1];
    if (argv.indexOf('-c') === -1 || conf === undefined) continue;
    const text = await readFile(conf, 'utf8').catch(() => '');
    if (new RegExp(`endpoint=[^\\s]*:${port}(\\s|$)`, 'm').test(text)) return conf;
  }
  return undefined;
}

/**
 * Removes a bucket with everything in it on the server side, bypassing garbage collection so the
 * space is free at once. Deleting over S3 only queues the data of multipart and >4 MiB objects for
 * RGW's garbage collector, which waits 2 hours by default: with the 3 GiB memstore OSD of the test
 * server, three runs of 1 GiB per tool would fill it long before that.
 */
export async function purgeBucket(conf: string, bucket: string): Promise<void> {
  await execFileAsync(
    'radosgw-admin',
    ['-c', conf, 'bucket', 'rm', `--bucket=${bucket}`, '--purge-objects', '--bypass-gc'],
    { timeout: 300_000 },
  );
}

/** `radosgw --version`, first line. */
export async function radosgwVersion(): Promise<string> {
  try {
    const { stdout } = await execFileAsync('radosgw', ['--version'], { timeout: 30_000 });
    return stdout.trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
