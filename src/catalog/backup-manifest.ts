/**
 * `backups/<name>/manifest.json`: written LAST, its presence is what makes a
 * backup complete. It records the spec, what happened, and the size and
 * SHA-256 of every other file of the backup, so a reader can refuse a file
 * that was damaged or swapped before using a byte of it.
 */
import { CairnError } from '../errors/cairn-error.ts';
import { StorageError } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { backupNameOfManifest, layout } from './layout.ts';

export const BACKUP_MANIFEST_FORMAT = 1;

/** What to back up; the same fields as the CLI flags and the Backup resource. */
export interface BackupSpec {
  /** Namespace names or globs (`team-*`); empty means all. */
  readonly includeNamespaces: string[];
  readonly excludeNamespaces: string[];
  /** Resource names as kubectl accepts them (`deployments`, `deploy`, `users.iam.kubesphere.io`); empty means all. */
  readonly includeResources: string[];
  readonly excludeResources: string[];
  /** `auto`: all cluster-scoped objects for a whole-cluster backup, only related ones (CRDs, PVs, ClusterRoles) otherwise. */
  readonly includeClusterResources: 'auto' | 'true' | 'false';
  /** Label selectors; an object matching any of them is included. Empty means all objects. */
  readonly labelSelectors: string[];
  /** Every served version of each group instead of the preferred one. */
  readonly allVersions: boolean;
}

/** A spec with every field at its default (the whole cluster), overridden where given. */
export function backupSpec(overrides: Partial<BackupSpec> = {}): BackupSpec {
  return {
    includeNamespaces: [],
    excludeNamespaces: [],
    includeResources: [],
    excludeResources: [],
    includeClusterResources: 'auto',
    labelSelectors: [],
    allVersions: false,
    ...overrides,
  };
}

export type BackupPhase = 'Completed' | 'PartiallyFailed' | 'Failed';

/** One file of a backup as the manifest records it. */
export interface BackupFileRecord {
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
}

export interface CountByKey {
  [key: string]: number;
}

export interface BackupManifest {
  readonly apiVersion: 'cairn.dev/v1alpha1';
  readonly kind: 'BackupManifest';
  readonly formatVersion: number;
  readonly name: string;
  readonly spec: BackupSpec;
  readonly cluster: { readonly server: string; readonly context: string; readonly version?: string };
  readonly status: {
    readonly phase: BackupPhase;
    readonly startedAt: string;
    readonly completedAt: string;
    readonly durationMs: number;
    readonly itemsBackedUp: number;
    readonly errors: number;
    readonly warnings: number;
    readonly resourceTypes: number;
    /** Items per `resource.group`. */
    readonly perResource: CountByKey;
    /** Items per namespace (`""` for cluster-scoped). */
    readonly perNamespace: CountByKey;
    /** Bytes of JSON before compression. */
    readonly uncompressedBytes: number;
  };
  readonly files: Record<string, BackupFileRecord>;
  readonly createdBy: string;
}

/** Files of a backup, named once. */
export const BACKUP_FILES = {
  resources: 'resources.tar.zst',
  items: 'items.ndjson.zst',
  log: 'log.ndjson.zst',
} as const;

/** One line of `items.ndjson`: what happened to one object (or to a whole type, with name `*`). */
export interface ItemResult {
  readonly resource: string;
  readonly namespace?: string;
  readonly name: string;
  readonly outcome: 'backed-up' | 'skipped' | 'failed';
  readonly message?: string;
}

/** Reads and validates a backup manifest; `undefined` when there is none (absent or incomplete backup). */
export async function readBackupManifest(
  store: BlobStore,
  name: string,
): Promise<BackupManifest | undefined> {
  let raw: Buffer;
  try {
    raw = await store.get(layout.backupManifest(name));
  } catch (err) {
    if (err instanceof StorageError && err.failure === 'not-found') return undefined;
    throw err;
  }
  let parsed: BackupManifest;
  try {
    parsed = JSON.parse(raw.toString('utf8')) as BackupManifest;
  } catch {
    throw new CairnError('BACKUP_MANIFEST_INVALID', `the manifest of backup "${name}" is not valid JSON`, {
      hint: 'The backup cannot be trusted; restore from another one.',
    });
  }
  if (parsed.kind !== 'BackupManifest' || parsed.name !== name || typeof parsed.files !== 'object') {
    throw new CairnError(
      'BACKUP_MANIFEST_INVALID',
      `the manifest of backup "${name}" is not a Cairn backup manifest`,
      {
        hint: 'The backup cannot be trusted; restore from another one.',
      },
    );
  }
  if (parsed.formatVersion !== BACKUP_MANIFEST_FORMAT) {
    throw new CairnError(
      'BACKUP_FORMAT_UNSUPPORTED',
      `backup "${name}" has manifest format ${parsed.formatVersion}; this Cairn reads format ${BACKUP_MANIFEST_FORMAT}`,
      { hint: 'Use the Cairn release that wrote it.' },
    );
  }
  return parsed;
}

/** A backup as listed in a location: complete (with manifest) or incomplete (files but no manifest). */
export type BackupListing =
  | { readonly name: string; readonly complete: true; readonly manifest: BackupManifest }
  | {
      readonly name: string;
      readonly complete: false;
      readonly files: number;
      readonly lastModified: string;
    };

/** Lists every backup of a location, complete or not, by name. */
export async function listBackups(store: BlobStore): Promise<BackupListing[]> {
  const folders = new Map<string, { files: number; lastModified: Date; hasManifest: boolean }>();
  for await (const info of store.list(layout.backupsPrefix())) {
    const name = info.key.split('/')[1];
    if (name === undefined) continue;
    const entry = folders.get(name) ?? { files: 0, lastModified: new Date(0), hasManifest: false };
    entry.files++;
    if (info.modified > entry.lastModified) entry.lastModified = info.modified;
    if (backupNameOfManifest(info.key) === name) entry.hasManifest = true;
    folders.set(name, entry);
  }
  const out: BackupListing[] = [];
  for (const [name, entry] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
    const manifest = entry.hasManifest ? await readBackupManifest(store, name) : undefined;
    out.push(
      manifest === undefined
        ? { name, complete: false, files: entry.files, lastModified: entry.lastModified.toISOString() }
        : { name, complete: true, manifest },
    );
  }
  return out;
}
