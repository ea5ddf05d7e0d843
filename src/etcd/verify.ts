/**
 * `snapshot verify`: re-reads a snapshot from storage and checks it against
 * its manifest (size, SHA-256), its own SHA-256 trailer, and — where
 * `etcdutl`/`etcdctl` is installed — `snapshot status` (the database opens,
 * its revision is at least the manifest's).
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { layout } from '../catalog/layout.ts';
import { StorageError } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { messageOf } from '../storage/body.ts';
import { type EtcdSnapshotManifest, parseManifest } from './catalog.ts';
import { type SnapshotDigest, SnapshotHasher, snapshotProblem } from './snapshot-format.ts';
import { findSnapshotTool, type ToolSnapshotStatus, toolSnapshotStatus } from './tools.ts';

export type VerifyStatus = 'ok' | 'fail' | 'skip';

export interface VerifyCheck {
  /** manifest, size, sha256, trailer, status */
  readonly check: string;
  readonly status: VerifyStatus;
  readonly detail: string;
}

export interface VerifyReport {
  readonly cluster: string;
  readonly id: string;
  readonly ok: boolean;
  readonly checks: VerifyCheck[];
  readonly manifest?: EtcdSnapshotManifest;
  readonly digest?: SnapshotDigest;
  readonly toolStatus?: ToolSnapshotStatus;
}

export interface VerifyInput {
  readonly store: BlobStore;
  readonly cluster: string;
  readonly id: string;
  /** Run `etcdutl/etcdctl snapshot status` when the tool is installed (default true). */
  readonly useTool?: boolean;
  /** Keep the downloaded file here (restore uses it); otherwise a temp file is removed. */
  readonly keepFile?: string;
}

/** Streams an object to an optional file while hashing it. */
export async function downloadAndHash(store: BlobStore, key: string, file?: string): Promise<SnapshotDigest> {
  const hasher = new SnapshotHasher();
  const source = await store.getStream(key);
  const sink = file === undefined ? undefined : createWriteStream(file, { flags: 'wx' });
  try {
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      hasher.update(buffer);
      if (sink !== undefined && !sink.write(buffer)) await once(sink, 'drain');
    }
    if (sink !== undefined) {
      sink.end();
      await once(sink, 'close');
    }
  } catch (err) {
    source.destroy();
    sink?.destroy();
    throw err;
  }
  return hasher.digest();
}

/** Verifies one snapshot; never throws for a bad snapshot (the report says what failed). */
export async function verifySnapshot(input: VerifyInput): Promise<VerifyReport> {
  const { store, cluster, id } = input;
  const checks: VerifyCheck[] = [];
  const finish = (extra: Partial<VerifyReport> = {}): VerifyReport => ({
    cluster,
    id,
    ok: checks.every((c) => c.status !== 'fail'),
    checks,
    ...extra,
  });

  const manifestKey = layout.etcdSnapshotManifest(cluster, id);
  let manifest: EtcdSnapshotManifest | undefined;
  try {
    manifest = parseManifest(await store.get(manifestKey), manifestKey);
    checks.push({
      check: 'manifest',
      status: 'ok',
      detail: `revision ${manifest.revision}, ${manifest.keyCount} keys, etcd ${manifest.etcdVersion}, completed ${manifest.completedAt}`,
    });
  } catch (err) {
    const missing = err instanceof StorageError && err.failure === 'not-found';
    checks.push({
      check: 'manifest',
      status: 'fail',
      detail: missing
        ? `${manifestKey} is missing: the snapshot is incomplete (its save failed or is still running)`
        : messageOf(err),
    });
  }

  const tool = input.useTool === false ? undefined : await findSnapshotTool();
  let tempDir: string | undefined;
  let file = input.keepFile;
  if (file === undefined && tool !== undefined) {
    tempDir = await mkdtemp(path.join(tmpdir(), 'cairn-etcd-verify-'));
    file = path.join(tempDir, 'snapshot.db');
  }
  try {
    let digest: SnapshotDigest;
    try {
      digest = await downloadAndHash(store, layout.etcdSnapshotData(cluster, id), file);
    } catch (err) {
      checks.push({ check: 'read', status: 'fail', detail: `cannot read snapshot.db: ${messageOf(err)}` });
      return finish(manifest ? { manifest } : {});
    }
    if (manifest !== undefined) {
      checks.push(
        digest.size === manifest.size
          ? { check: 'size', status: 'ok', detail: `${digest.size} bytes, as the manifest says` }
          : {
              check: 'size',
              status: 'fail',
              detail: `${digest.size} bytes stored, the manifest says ${manifest.size} (truncated or replaced)`,
            },
      );
      checks.push(
        digest.sha256 === manifest.sha256
          ? { check: 'sha256', status: 'ok', detail: `${digest.sha256} matches the manifest` }
          : {
              check: 'sha256',
              status: 'fail',
              detail: `stored data hashes to ${digest.sha256}, the manifest says ${manifest.sha256}`,
            },
      );
    }
    const problem = snapshotProblem(digest);
    checks.push(
      problem === undefined
        ? {
            check: 'trailer',
            status: 'ok',
            detail: `SHA-256 trailer matches the ${digest.dbSize}-byte database`,
          }
        : { check: 'trailer', status: 'fail', detail: problem },
    );
    let toolStatus: ToolSnapshotStatus | undefined;
    if (tool === undefined || file === undefined) {
      checks.push({
        check: 'status',
        status: 'skip',
        detail: input.useTool === false ? 'not asked for' : 'neither etcdutl nor etcdctl is installed',
      });
    } else if (problem !== undefined) {
      checks.push({ check: 'status', status: 'skip', detail: 'not run on a corrupt file' });
    } else {
      try {
        toolStatus = await toolSnapshotStatus(tool, file);
        const low = manifest !== undefined && toolStatus.revision < manifest.revision;
        checks.push({
          check: 'status',
          status: low ? 'fail' : 'ok',
          detail: `${tool.name} snapshot status: revision ${toolStatus.revision}, ${toolStatus.totalKey} bolt keys, ${toolStatus.totalSize} bytes${low ? `; the manifest promised at least revision ${manifest?.revision}` : ''}`,
        });
      } catch (err) {
        checks.push({ check: 'status', status: 'fail', detail: messageOf(err) });
      }
    }
    return finish({
      ...(manifest ? { manifest } : {}),
      digest,
      ...(toolStatus ? { toolStatus } : {}),
    });
  } finally {
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
  }
}
