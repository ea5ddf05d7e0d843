import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pseudoRandomStream } from '../../src/util/pseudo-random.ts';

/** Every regular file under `dir`, as paths relative to `dir`, depth-first in name order. */
export async function* walkFiles(dir: string, rel = ''): AsyncGenerator<string> {
  const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const child = rel === '' ? entry.name : path.join(rel, entry.name);
    if (entry.isDirectory()) yield* walkFiles(dir, child);
    else if (entry.isFile()) yield child;
  }
}

const STREAM_HASH_ABOVE = 8 * 1024 * 1024;

async function sha256File(file: string, size: number): Promise<string> {
  if (size <= STREAM_HASH_ABOVE)
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/** SHA-256 and size of every file under `dir`, keyed by relative path. */
export async function hashTree(dir: string, concurrency = 16): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const files: string[] = [];
  for await (const rel of walkFiles(dir)) files.push(rel);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const rel = files[next++];
      if (rel === undefined) return;
      const file = path.join(dir, rel);
      const { size } = await stat(file);
      out.set(rel, `${size}:${await sha256File(file, size)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** Throws, naming the first few differences, unless `actual` holds exactly the files of `expected`. */
export function assertSameTree(expected: Map<string, string>, actual: Map<string, string>, what: string) {
  const problems: string[] = [];
  for (const [rel, digest] of expected) {
    const got = actual.get(rel);
    if (got === undefined) problems.push(`missing ${rel}`);
    else if (got !== digest) problems.push(`${rel}: expected ${digest}, got ${got}`);
  }
  for (const rel of actual.keys()) if (!expected.has(rel)) problems.push(`unexpected ${rel}`);
  if (problems.length > 0) {
    throw new Error(
      `VERIFY FAILED for ${what}: ${problems.length} problem(s):\n  ${problems.slice(0, 10).join('\n  ')}`,
    );
  }
}

export interface SourceShape {
  /** Number of large files and the size of each. */
  readonly largeFiles: number;
  readonly largeFileBytes: number;
  /** Number of small files, spread over `smallFolders` folders, sizes spread over 1–8 KiB. */
  readonly smallFiles: number;
  readonly smallFolders: number;
}

/** Size of small file `i`: spread evenly (but shuffled) over 1 KiB … 8 KiB. */
export function smallFileBytes(i: number): number {
  return 1024 + ((i * 2_654_435_761) % 7169);
}

/** Writes `large/` and `small/` under `root` with deterministic incompressible content; returns byte totals. */
export async function generateSource(
  root: string,
  shape: SourceShape,
): Promise<{ largeBytes: number; smallBytes: number }> {
  const large = path.join(root, 'large');
  await mkdir(large, { recursive: true });
  for (let i = 0; i < shape.largeFiles; i++) {
    await pipeline(
      pseudoRandomStream(shape.largeFileBytes, `bench-large-${i}`),
      createWriteStream(path.join(large, `object-${String(i).padStart(2, '0')}.bin`)),
    );
  }

  const small = path.join(root, 'small');
  const sizes = Array.from({ length: shape.smallFiles }, (_, i) => smallFileBytes(i));
  const smallBytes = sizes.reduce((a, b) => a + b, 0);
  // One keystream sliced into files: every file differs, and it is one fast cipher pass.
  const chunks: Buffer[] = [];
  for await (const chunk of pseudoRandomStream(smallBytes, 'bench-small')) chunks.push(chunk as Buffer);
  const all = Buffer.concat(chunks);
  for (let f = 0; f < shape.smallFolders; f++) {
    await mkdir(path.join(small, `d${String(f).padStart(3, '0')}`), { recursive: true });
  }
  let offset = 0;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      const size = sizes[i];
      if (size === undefined) return;
      const start = offset;
      offset += size;
      const folder = `d${String(i % shape.smallFolders).padStart(3, '0')}`;
      await writeFile(
        path.join(small, folder, `f${String(i).padStart(6, '0')}.bin`),
        all.subarray(start, start + size),
      );
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { largeBytes: shape.largeFiles * shape.largeFileBytes, smallBytes };
}
