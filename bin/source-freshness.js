// Shared by bin/cairn.js and scripts/build.ts: plain JavaScript so the entry
// point can use it before deciding whether to load TypeScript sources at all.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Folders whose files end up in dist/. */
export const SOURCE_DIRS = ['src', 'sandbox'];

/**
 * The newest modification time of any file under the source folders, or
 * undefined when they are absent (an image that ships only dist/).
 * About 200 stats: a few milliseconds.
 */
export async function newestSourceMtimeMs(root) {
  let newest;
  for (const dir of SOURCE_DIRS) {
    const full = path.join(root, dir);
    let entries;
    try {
      entries = await readdir(full, { recursive: true, withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const { mtimeMs } = await stat(path.join(entry.parentPath, entry.name));
      if (newest === undefined || mtimeMs > newest) newest = mtimeMs;
    }
  }
  return newest;
}
