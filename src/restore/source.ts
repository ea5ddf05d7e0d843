/**
 * The backup a restore reads, verified before anything touches a cluster: the
 * manifest must exist (an incomplete backup has none), and every file it lists
 * is downloaded while its size and SHA-256 are checked against the manifest.
 * Only the resource archive is kept (in a temp file); the others are hashed
 * and dropped.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import {
  BACKUP_FILES,
  type BackupManifest,
  listBackups,
  readBackupManifest,
} from '../catalog/backup-manifest.ts';
import { layout } from '../catalog/layout.ts';
import { nearMatches } from '../cluster/discovery.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { isStorageFailure } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';

export interface VerifiedBackup {
  readonly manifest: BackupManifest;
  /** Local path of the verified `resources.tar.zst`. */
  readonly resourcesFile: string;
}

/** The manifest, or an error that says whether the backup is incomplete or absent (with near names). */
export async function requireBackupManifest(store: BlobStore, name: string): Promise<BackupManifest> {
  const manifest = await readBackupManifest(store, name);
  if (manifest !== undefined) return manifest;
  const listing = await listBackups(store);
  const incomplete = listing.find((b) => b.name === name);
  if (incomplete !== undefined) {
    throw new CairnError(
      'BACKUP_INCOMPLETE',
      `backup "${name}" is incomplete: it has ${incomplete.complete ? 0 : incomplete.files} file(s) but no manifest (the backup never finished)`,
      { hint: 'An incomplete backup cannot be restored. Pick a complete one (`cairn backup list`).' },
    );
  }
  const complete = listing.filter((b) => b.complete).map((b) => b.name);
  const near = nearMatches(name, complete);
  throw new CairnError('BACKUP_NOT_FOUND', `backup "${name}" does not exist in ${store.description}`, {
    hint:
      near.length > 0
        ? `Did you mean ${near.map((n) => `"${n}"`).join(', ')}?`
        : complete.length > 0
          ? `Complete backups there: ${complete.slice(-5).join(', ')}${complete.length > 5 ? ', …' : ''}.`
          : 'The location holds no complete backup.',
  });
}

function tampered(backup: string, file: string, what: string): CairnError {
  return new CairnError(
    'BACKUP_FILE_MISMATCH',
    `backup "${backup}": ${file} does not match its manifest (${what})`,
    {
      hint: 'Nothing was restored. The file was damaged or replaced after the backup was written; restore from another backup.',
    },
  );
}

/**
 * Downloads and verifies every file of the backup; keeps the resource archive
 * under `tempDir`. Throws before returning if any file is missing, has another
 * size or another SHA-256 than the manifest records.
 */
export async function fetchVerifiedBackup(
  store: BlobStore,
  manifest: BackupManifest,
  tempDir: string,
): Promise<VerifiedBackup> {
  const name = manifest.name;
  if (manifest.files[BACKUP_FILES.resources] === undefined)
    throw tampered(name, BACKUP_FILES.resources, 'the manifest does not list it');
  const resourcesFile = join(tempDir, BACKUP_FILES.resources);
  for (const [file, record] of Object.entries(manifest.files).sort(([a], [b]) => a.localeCompare(b))) {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(file)) throw tampered(name, file, 'not a Cairn backup file name');
    let source: NodeJS.ReadableStream;
    try {
      source = await store.getStream(layout.backupFile(name, file));
    } catch (err) {
      if (isStorageFailure(err, 'not-found')) throw tampered(name, file, 'the file is missing');
      throw err;
    }
    const keep = file === BACKUP_FILES.resources;
    const sink = keep ? createWriteStream(resourcesFile, { flags: 'wx' }) : undefined;
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > record.size) {
        (source as NodeJS.ReadableStream & { destroy(): void }).destroy();
        sink?.destroy();
        throw tampered(name, file, `more than the ${record.size} bytes recorded`);
      }
      hash.update(buffer);
      if (sink !== undefined && !sink.write(buffer)) await once(sink, 'drain');
    }
    if (sink !== undefined) {
      sink.end();
      await once(sink, 'close');
    }
    if (size !== record.size) throw tampered(name, file, `${size} bytes, the manifest says ${record.size}`);
    const digest = hash.digest('hex');
    if (digest !== record.sha256)
      throw tampered(
        name,
        file,
        `SHA-256 ${digest.slice(0, 16)}…, the manifest says ${record.sha256.slice(0, 16)}…`,
      );
  }
  return { manifest, resourcesFile };
}
