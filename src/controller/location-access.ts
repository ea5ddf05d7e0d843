/**
 * Opens the store of a BackupLocation resource for one piece of work. The
 * credentials Secret is read fresh every time (rotated keys apply at once)
 * and written to a private temp file (mode 0600, removed on close) that the
 * S3 client reads as an AWS shared-credentials file, as Velero's
 * `--secret-file` — never put in the environment or a log line.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackupLocation } from '../api/backup-location.ts';
import { openLocation } from '../catalog/open-location.ts';
import { CairnError } from '../errors/cairn-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { FileSystemBlobStore } from '../storage/fs/fs-store.ts';
import type { S3BlobStore } from '../storage/s3/s3-store.ts';
import type { CairnResources } from './resources.ts';

export interface LocationAccess {
  /** Layout-guarded, retrying, read-only for ReadOnly locations. */
  readonly store: BlobStore;
  readonly backend: FileSystemBlobStore | S3BlobStore;
  readonly readOnly: boolean;
  readonly url: string;
  close(): Promise<void>;
}

/** The Cairn location URL a BackupLocation names (`spec.url`, or built from `spec.config`). */
export function locationUrl(location: BackupLocation): string {
  const { spec } = location;
  if (spec.url !== undefined) return spec.url;
  const c = spec.config ?? {};
  if (spec.provider === 'filesystem') {
    if (c.path === undefined)
      throw new CairnError(
        'LOCATION_SPEC_INVALID',
        `BackupLocation "${location.metadata.name}" has no url or config.path`,
        {
          hint: 'Set spec.url or spec.config.path.',
        },
      );
    return c.path;
  }
  if (c.bucket === undefined)
    throw new CairnError(
      'LOCATION_SPEC_INVALID',
      `BackupLocation "${location.metadata.name}" has no url or config.bucket`,
      {
        hint: 'Set spec.url or spec.config.bucket.',
      },
    );
  const query = new URLSearchParams();
  if (c.endpoint !== undefined) query.set('endpoint', c.endpoint);
  if (c.region !== undefined) query.set('region', c.region);
  if (c.forcePathStyle !== undefined) query.set('forcePathStyle', String(c.forcePathStyle));
  if (c.insecureSkipTLSVerify !== undefined)
    query.set('insecureSkipTLSVerify', String(c.insecureSkipTLSVerify));
  const prefix = (c.prefix ?? '').replace(/^\/+/, '');
  const text = query.toString();
  return `s3://${c.bucket}${prefix ? `/${prefix}` : ''}${text ? `?${text}` : ''}`;
}

/** Opens a BackupLocation; the caller must `close()` it. */
export async function openBackupLocation(
  location: BackupLocation,
  resources: CairnResources,
): Promise<LocationAccess> {
  const readOnly = location.spec.accessMode === 'ReadOnly';
  let url = locationUrl(location);
  let tempDir: string | undefined;
  const credential = location.spec.credential;
  if (credential !== undefined) {
    const value = await resources.secretValue(credential.name, credential.key);
    if (value === undefined) {
      throw new CairnError(
        'LOCATION_CREDENTIALS_MISSING',
        `Secret "${credential.name}" key "${credential.key}" (credentials of BackupLocation "${location.metadata.name}") does not exist`,
        {
          hint: `Create it in namespace ${resources.namespace} with an AWS shared-credentials file under that key.`,
        },
      );
    }
    tempDir = await mkdtemp(join(tmpdir(), 'cairn-credentials-'));
    const file = join(tempDir, 'credentials');
    await writeFile(file, value, { mode: 0o600 });
    url += `${url.includes('?') ? '&' : '?'}credentialsFile=${encodeURIComponent(file)}`;
  }
  const caBundle = location.spec.config?.caBundle;
  if (caBundle !== undefined && location.spec.provider === 's3') {
    tempDir ??= await mkdtemp(join(tmpdir(), 'cairn-credentials-'));
    const file = join(tempDir, 'ca.pem');
    await writeFile(file, caBundle, { mode: 0o600 });
    url += `${url.includes('?') ? '&' : '?'}caBundle=${encodeURIComponent(file)}`;
  }
  try {
    const opened = openLocation(url, { readOnly });
    return {
      store: opened.store,
      backend: opened.backend,
      readOnly,
      url: locationUrl(location),
      close: async () => {
        await opened.store.close();
        if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    throw err;
  }
}
