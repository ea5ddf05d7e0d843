import { createHash } from 'node:crypto';
import {
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { pseudoRandomStream } from '../../src/util/pseudo-random.ts';

export async function pseudoRandomBytes(bytes: number, seed: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of pseudoRandomStream(bytes, seed)) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Text-like bytes: words from a small vocabulary, deterministic per seed (compresses about 3:1 with zstd). */
export function textLike(bytes: number, seed: string): Buffer {
  const words = ['cairn', 'volume', 'backup', 'restore', 'snapshot', 'cluster', 'the', 'of', 'pack', 'index'];
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  let out = '';
  while (out.length < bytes) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out += `${words[state % words.length]}${state % 7 === 0 ? '\n' : ' '}`;
  }
  return Buffer.from(out.slice(0, bytes));
}

const MiB = 1024 * 1024;

/**
 * A small source tree with every kind of entry a restore must get right:
 * random and text files (many small, a few multi-chunk), a 0-byte file, files
 * of exactly the chunker's min and max size, an empty directory, a symlink
 * (and a dangling one), a hard-linked pair, odd modes and nanosecond mtimes.
 * About 16 MiB.
 */
export async function makeSourceTree(root: string): Promise<void> {
  await mkdir(path.join(root, 'docs/deep/deeper'), { recursive: true });
  await mkdir(path.join(root, 'data'), { recursive: true });
  await mkdir(path.join(root, 'empty-dir'), { recursive: true });
  for (let i = 0; i < 30; i++) {
    const size = 1024 + ((i * 7919) % (60 * 1024));
    const body = i % 3 === 0 ? await pseudoRandomBytes(size, `small-${i}`) : textLike(size, `small-${i}`);
    await writeFile(path.join(root, i % 2 === 0 ? 'docs' : 'docs/deep', `file-${i}.txt`), body);
  }
  await writeFile(path.join(root, 'data/random-3m.bin'), await pseudoRandomBytes(3 * MiB + 12345, 'big-a'));
  await writeFile(path.join(root, 'data/text-2m.txt'), textLike(2 * MiB, 'big-text'));
  await writeFile(path.join(root, 'data/exact-max.bin'), await pseudoRandomBytes(8 * MiB, 'exact-max'));
  await writeFile(path.join(root, 'data/exact-min.bin'), await pseudoRandomBytes(512 * 1024, 'exact-min'));
  await writeFile(path.join(root, 'data/zero-bytes'), '');
  await writeFile(path.join(root, 'docs/deep/deeper/script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o750 });
  await writeFile(path.join(root, 'docs/secret.txt'), 'secret\n', { mode: 0o600 });
  await link(path.join(root, 'data/random-3m.bin'), path.join(root, 'docs/hard-link.bin'));
  await symlink('../data/text-2m.txt', path.join(root, 'docs/link-to-text'));
  await symlink('does/not/exist', path.join(root, 'docs/dangling'));
  // Distinct, sub-second mtimes (directories last, so writing files does not move them again).
  let t = 1_600_000_000;
  for (const rel of await listAll(root)) {
    const full = path.join(root, rel);
    if ((await lstat(full)).isSymbolicLink()) continue;
    t += 3601.123456;
    await utimes(full, t, t);
  }
  for (const dir of ['docs/deep/deeper', 'docs/deep', 'docs', 'data', 'empty-dir', '.']) {
    t += 77.5;
    await utimes(path.join(root, dir), t, t);
  }
}

async function listAll(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(root, rel))).sort()) {
    const child = rel === '' ? name : `${rel}/${name}`;
    out.push(child);
    if ((await lstat(path.join(root, child))).isDirectory()) out.push(...(await listAll(root, child)));
  }
  return out;
}

export interface EntryFacts {
  readonly type: 'file' | 'dir' | 'symlink';
  readonly mode: number;
  readonly mtimeUs: bigint;
  readonly sha256?: string;
  readonly target?: string;
  /** Paths (relative) sharing this file's inode, for hard links. */
  readonly ino: bigint;
}

/** SHA-256 of every file and the metadata of every entry, keyed by relative path. */
export async function describeTree(root: string): Promise<Map<string, EntryFacts>> {
  const out = new Map<string, EntryFacts>();
  for (const rel of ['.', ...(await listAll(root))]) {
    const full = path.join(root, rel);
    const st = await lstat(full, { bigint: true });
    const base = { mode: Number(st.mode & 0o7777n), mtimeUs: st.mtimeNs / 1000n, ino: st.ino };
    if (st.isSymbolicLink()) out.set(rel, { ...base, type: 'symlink', target: await readlink(full) });
    else if (st.isDirectory()) out.set(rel, { ...base, type: 'dir' });
    else
      out.set(rel, {
        ...base,
        type: 'file',
        sha256: createHash('sha256')
          .update(await readFile(full))
          .digest('hex'),
      });
  }
  return out;
}
