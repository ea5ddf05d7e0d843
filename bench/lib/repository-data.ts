/**
 * The repository benchmark's deterministic data (issue 6): ≈1 GiB of
 * 20,000 files of 1–64 KiB (70 % random, 30 % text-like) in 100 folders,
 * plus two 200 MiB files, the second half-copied from the first; and the
 * second version, changing ~5 %: 1,000 small files rewritten and 20 MiB
 * overwritten inside one big file. Everything is a pure function of the file
 * index and a seed, so the change can be applied and reverted exactly.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pseudoRandomStream } from '../../src/util/pseudo-random.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface DataShape {
  readonly smallFiles: number;
  readonly folders: number;
  readonly bigFileBytes: number;
  /** Small files rewritten by the change. */
  readonly changedFiles: number;
  /** Bytes overwritten inside big-a.bin by the change. */
  readonly changedBigBytes: number;
}

export function dataShape(scale: number): DataShape {
  return {
    smallFiles: Math.round(20_000 * scale),
    folders: 100,
    bigFileBytes: Math.round((200 * MiB * scale) / MiB) * MiB,
    changedFiles: Math.round(1_000 * scale),
    changedBigBytes: Math.max(1, Math.round(20 * scale)) * MiB,
  };
}

function mix(i: number): number {
  let x = (i + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

function keystream(seed: string, bytes: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

const WORDS = Array.from({ length: 256 }, (_, i) => {
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const h = mix(i * 7919);
  const len = 2 + (h % 9);
  let w = '';
  for (let k = 0; k < len; k++) w += letters[(mix(h + k) % 26) % (k === 0 ? 26 : 12 + (h % 14))];
  return w;
});

/** Text-like bytes: words from a 256-word vocabulary chosen by a keystream, lines of ~10 words (compresses ≈3×). */
function textLike(seed: string, bytes: number): Buffer {
  const picks = keystream(seed, bytes);
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = WORDS[picks[i % picks.length] as number] as string;
    const sep = i % 10 === 9 ? '\n' : ' ';
    parts.push(w, sep);
    n += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

export function smallFilePath(i: number, shape: DataShape): string {
  return path.join(
    'small',
    `d${String(i % shape.folders).padStart(3, '0')}`,
    `f${String(i).padStart(6, '0')}`,
  );
}

/** Content of small file `i` in a version (`v1`, or `v2` for the changed ones). */
export function smallFileContent(i: number, version: 'v1' | 'v2'): Buffer {
  const h = mix(i);
  const size = KiB + (h % (63 * KiB));
  const seed = `small-${i}-${version}`;
  return h % 10 < 7 ? keystream(seed, size) : textLike(seed, size);
}

/** Which small files the change rewrites: every 20th (at scale 1, 1,000 of 20,000). */
export function changedFiles(shape: DataShape): number[] {
  const step = Math.max(1, Math.floor(shape.smallFiles / shape.changedFiles));
  const out: number[] = [];
  for (let i = 7 % step; i < shape.smallFiles && out.length < shape.changedFiles; i += step) out.push(i);
  return out;
}

/** Writes version 1 under `root`. */
export async function generateData(
  root: string,
  shape: DataShape,
): Promise<{ bytes: number; files: number }> {
  for (let d = 0; d < shape.folders; d++) {
    await mkdir(path.join(root, 'small', `d${String(d).padStart(3, '0')}`), { recursive: true });
  }
  let bytes = 0;
  const writes: Promise<void>[] = [];
  for (let i = 0; i < shape.smallFiles; i++) {
    const content = smallFileContent(i, 'v1');
    bytes += content.length;
    writes.push(writeFile(path.join(root, smallFilePath(i, shape)), content));
    if (writes.length >= 64) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  const half = shape.bigFileBytes / 2;
  await mkdir(path.join(root, 'big'), { recursive: true });
  await pipeline(
    pseudoRandomStream(shape.bigFileBytes, 'big-a'),
    createWriteStream(path.join(root, 'big', 'a.bin')),
  );
  // b.bin: its first half is a.bin's first half (dedup across files), then fresh data.
  const b = createWriteStream(path.join(root, 'big', 'b.bin'));
  await pipeline(pseudoRandomStream(half, 'big-a'), b, { end: false });
  await pipeline(pseudoRandomStream(shape.bigFileBytes - half, 'big-b'), b);
  bytes += 2 * shape.bigFileBytes;
  return { bytes, files: shape.smallFiles + 2 };
}

/** Applies (`v2`) or reverts (`v1`) the ~5 % change in place. */
export async function setVersion(root: string, shape: DataShape, version: 'v1' | 'v2'): Promise<void> {
  const changed = changedFiles(shape);
  for (let k = 0; k < changed.length; k += 64) {
    await Promise.all(
      changed
        .slice(k, k + 64)
        .map((i) => writeFile(path.join(root, smallFilePath(i, shape)), smallFileContent(i, version))),
    );
  }
  // 20 MiB from the 50 MiB mark (scaled) of a.bin: v2 writes new bytes, v1 the original ones back.
  const offset = Math.floor(shape.bigFileBytes / 4 / MiB) * MiB;
  const handle = await open(path.join(root, 'big', 'a.bin'), 'r+');
  try {
    if (version === 'v2') {
      await handle.write(keystream('big-a-v2', shape.changedBigBytes), 0, shape.changedBigBytes, offset);
    } else {
      // The original bytes: the same AES-CTR keystream as pseudoRandomStream, from the offset.
      const original = keystream('big-a', offset + shape.changedBigBytes).subarray(offset);
      await handle.write(original, 0, shape.changedBigBytes, offset);
    }
  } finally {
    await handle.close();
  }
}
