// One measured phase of `npm run bench:storage`, run as its own process (under /usr/bin/time)
// so that Cairn is measured exactly like the peer tools: startup included.
//
//   node bench/storage-worker.ts put-dir <locationUrl> <dir> <keyPrefix> <concurrency>
//   node bench/storage-worker.ts get-dir <locationUrl> <dir> <keyPrefix> <concurrency>
//
// put-dir uploads every file under <dir> as <keyPrefix><relative path>; get-dir lists <keyPrefix>
// and writes each object to <dir>/<key without the prefix>. The location is opened exactly as the
// CLI opens it (parseLocationUrl + openStore; S3 credentials from AWS_ACCESS_KEY_ID/…).
// Files above 8 MiB are streamed (with their length); smaller ones go through memory.

import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../src/storage/blob-store.ts';
import { parseLocationUrl } from '../src/storage/location-url.ts';
import { openStore } from '../src/storage/open-store.ts';
import { walkFiles } from './lib/files.ts';

const STREAM_ABOVE = 8 * 1024 * 1024;

/** Runs `work` on every item of `items` with at most `concurrency` in flight; fails on the first error. */
async function forEachConcurrent<T>(
  items: AsyncIterable<T>,
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<number> {
  const iterator = items[Symbol.asyncIterator]();
  let done = 0;
  let failed = false;
  // Async generators queue concurrent next() calls, so the workers can share one iterator.
  const worker = async () => {
    while (!failed) {
      const next = await iterator.next();
      if (next.done) return;
      try {
        await work(next.value);
        done++;
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done;
}

async function putDir(store: BlobStore, dir: string, keyPrefix: string, concurrency: number) {
  return forEachConcurrent(walkFiles(dir), concurrency, async (rel) => {
    const file = path.join(dir, rel);
    const key = keyPrefix + rel.split(path.sep).join('/');
    const { size } = await stat(file);
    if (size > STREAM_ABOVE) {
      await store.put(key, createReadStream(file, { highWaterMark: 1 << 20 }), { length: size });
    } else {
      await store.put(key, await readFile(file));
    }
  });
}

async function getDir(store: BlobStore, dir: string, keyPrefix: string, concurrency: number) {
  const folders = new Map<string, Promise<unknown>>();
  const ensureFolder = (folder: string) => {
    let made = folders.get(folder);
    if (made === undefined) {
      made = mkdir(folder, { recursive: true });
      folders.set(folder, made);
    }
    return made;
  };
  return forEachConcurrent(store.list(keyPrefix), concurrency, async (info) => {
    const file = path.join(dir, ...info.key.slice(keyPrefix.length).split('/'));
    await ensureFolder(path.dirname(file));
    if (info.size > STREAM_ABOVE) {
      await pipeline(await store.getStream(info.key), createWriteStream(file));
    } else {
      await writeFile(file, await store.get(info.key));
    }
  });
}

async function main(): Promise<void> {
  const [mode, url, dir, keyPrefix, concurrencyText] = process.argv.slice(2);
  const concurrency = Number(concurrencyText);
  if (
    (mode !== 'put-dir' && mode !== 'get-dir') ||
    url === undefined ||
    dir === undefined ||
    keyPrefix === undefined ||
    !Number.isSafeInteger(concurrency) ||
    concurrency < 1
  ) {
    console.error(
      'usage: node bench/storage-worker.ts put-dir|get-dir <locationUrl> <dir> <keyPrefix> <concurrency>',
    );
    process.exit(2);
  }
  const { store } = openStore(parseLocationUrl(url));
  try {
    const count =
      mode === 'put-dir'
        ? await putDir(store, dir, keyPrefix, concurrency)
        : await getDir(store, dir, keyPrefix, concurrency);
    console.log(`${mode}: ${count} objects`);
  } finally {
    await store.close();
  }
}

await main();
