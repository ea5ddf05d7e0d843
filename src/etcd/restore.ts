/**
 * `snapshot restore`: download → verify → `etcdutl|etcdctl snapshot restore`
 * into a staging folder beside the data dir → move the existing data dir to
 * `<dir>-trashcan-<time>` (never deleted) → move the restored dir into place.
 * Until the last two renames nothing the member uses is touched, so a failed
 * download, a corrupt snapshot or a failing tool leaves the old data dir as it
 * was.
 */

import { createReadStream } from 'node:fs';
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { layout } from '../catalog/layout.ts';
import { describeAge } from '../catalog/location.ts';
import { CairnError } from '../errors/cairn-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { compactUtc, type EtcdSnapshotManifest, findSnapshot, readManifest } from './catalog.ts';
import { assertWellFormed, type SnapshotDigest, SnapshotHasher } from './snapshot-format.ts';
import {
  DEFAULT_CONFIRM_OLDER_THAN,
  type EtcdSpecMember,
  formatInitialCluster,
  parseMembers,
  readClusterSpec,
} from './spec.ts';
import { findSnapshotTool, runTool, type SnapshotTool } from './tools.ts';
import { downloadAndHash } from './verify.ts';

export interface RestoreInput {
  /** A snapshot in a location: `store` + `cluster` + `ref` (an id or `latest`). */
  readonly store?: BlobStore;
  readonly cluster?: string;
  readonly ref?: string;
  /** Or a local snapshot file (e.g. from `etcdctl snapshot save`): no manifest, so "unverified". */
  readonly localFile?: string;
  readonly dataDir: string;
  readonly name: string;
  /** `a=https://10.0.0.1:2380,…`; default from the cluster spec's members, else `<name>=<peer URL>`. */
  readonly initialCluster?: string;
  readonly initialAdvertisePeerUrls?: string;
  readonly initialClusterToken?: string;
  /** Client URLs for the printed start command. */
  readonly clientUrls?: string;
  /** Overrides the spec's `restore.confirmOlderThan`. */
  readonly confirmOlderThan?: string;
  /** Asked when the snapshot is old or unverified; resolve true to go ahead. */
  readonly confirm: (reasons: string[]) => Promise<boolean>;
  readonly now?: Date;
  /** Warnings and progress for the user. */
  readonly log?: (line: string) => void;
}

export interface RestoreOutcome {
  readonly snapshot: { id?: string; file?: string; revision?: number; takenAt?: string; sha256: string };
  readonly dataDir: string;
  /** Where the previous data dir went, if there was one. */
  readonly trashcan?: string;
  readonly tool: SnapshotTool['name'];
  readonly confirmed: string[];
  /** The exact command that starts the member on the restored data. */
  readonly startCommand: string[];
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Restores a snapshot into a data dir; see the module comment for the order of steps. */
export async function restoreSnapshot(input: RestoreInput): Promise<RestoreOutcome> {
  const now = input.now ?? new Date();
  const log = input.log ?? (() => {});
  const reasons: string[] = [];
  let manifest: EtcdSnapshotManifest | undefined;
  let id: string | undefined;
  let members: EtcdSpecMember[] = [];
  let confirmOlderThan = input.confirmOlderThan;

  if (input.localFile === undefined) {
    const { store, cluster, ref } = input;
    if (store === undefined || cluster === undefined || ref === undefined) {
      throw new CairnError(
        'ETCD_RESTORE_SOURCE',
        'restore needs a snapshot id and --location/--cluster, or a local file',
        {
          hint: 'Name a snapshot from `cairn etcd snapshot list`, `latest`, or a path to a snapshot file.',
        },
      );
    }
    const spec = await readClusterSpec(store, cluster);
    if (spec.state === 'ok') {
      members = spec.spec.members;
      confirmOlderThan ??= spec.spec.restore.confirmOlderThan;
    } else {
      log(
        `WARNING: the cluster spec ${layout.etcdClusterSpec(cluster)} is ${spec.state.toUpperCase()}${spec.state === 'invalid' ? ` (${spec.problem})` : ''}. Restoring anyway (a restore is how you recover), but nothing will take new snapshots until the spec is back: restore it from a copy, or see \`cairn etcd cluster init --help\`.`,
      );
    }
    const entry = await findSnapshot(store, cluster, ref);
    id = entry.id;
    manifest = await readManifest(store, cluster, entry.id);
    if (manifest === undefined) {
      reasons.push(
        `snapshot ${entry.id} has no manifest (its save failed or is still running): it cannot be verified against one, only by its own SHA-256 trailer`,
      );
    }
    const takenAt = manifest?.completedAt ?? entry.takenAt.toISOString();
    const limit = parseDuration(confirmOlderThan ?? DEFAULT_CONFIRM_OLDER_THAN, 'confirm-older-than');
    const age = now.getTime() - Date.parse(takenAt);
    if (age > limit) {
      reasons.push(
        `snapshot ${entry.id} was taken ${takenAt} (${describeAge(takenAt, now)}), older than ${formatDuration(limit)}: every change to the cluster since then will be lost`,
      );
    }
  } else {
    reasons.push(
      `${input.localFile} is a local file without a Cairn manifest: only its own SHA-256 trailer can be checked`,
    );
  }

  // Member configuration: flags first, then the spec, then a one-member cluster.
  const initialCluster =
    input.initialCluster ??
    (members.length > 0
      ? formatInitialCluster(members)
      : input.initialAdvertisePeerUrls !== undefined
        ? input.initialAdvertisePeerUrls
            .split(',')
            .map((u) => `${input.name}=${u}`)
            .join(',')
        : undefined);
  if (initialCluster === undefined) {
    throw new CairnError('ETCD_RESTORE_MEMBERS', 'cannot tell the member list of the restored cluster', {
      hint: 'Pass --initial-cluster name=https://host:2380,… (and --initial-advertise-peer-urls), or record members with `cairn etcd cluster init --members …`.',
    });
  }
  const parsedCluster = parseMembers(initialCluster);
  const self = parsedCluster.find((m) => m.name === input.name);
  if (self === undefined) {
    throw new CairnError(
      'ETCD_RESTORE_MEMBERS',
      `member "${input.name}" is not in the initial cluster ${initialCluster}`,
      { hint: 'Pass the --name of one of the members listed in --initial-cluster.' },
    );
  }
  const peerUrls = input.initialAdvertisePeerUrls ?? self.peerURLs.join(',');
  const token = input.initialClusterToken ?? 'etcd-cluster';

  if (reasons.length > 0 && !(await input.confirm(reasons))) {
    throw new CairnError('ETCD_RESTORE_NOT_CONFIRMED', `restore not confirmed: ${reasons.join('; ')}`, {
      hint: 'Nothing was changed. Check that this is the snapshot you want; pass --yes to confirm in scripts.',
    });
  }

  const tool = await findSnapshotTool();
  if (tool === undefined) {
    throw new CairnError('ETCD_TOOL_MISSING', 'neither etcdutl nor etcdctl is installed', {
      hint: 'Install etcdutl (etcd ≥ 3.5) or etcdctl (3.4) from the etcd release matching your cluster. Nothing was changed.',
    });
  }

  const dataDir = path.resolve(input.dataDir);
  const parent = path.dirname(dataDir);
  if (!(await exists(parent))) {
    throw new CairnError(
      'ETCD_RESTORE_DATA_DIR',
      `the parent folder ${parent} of --data-dir does not exist`,
      {
        hint: 'Create it (or mount the volume) first. Nothing was changed.',
      },
    );
  }
  const stamp = compactUtc(now);
  const staging = `${dataDir}.cairn-restore-${stamp}`;
  await mkdir(staging, { mode: 0o700 });
  try {
    let digest: SnapshotDigest;
    let file: string;
    if (input.localFile !== undefined) {
      file = path.resolve(input.localFile);
      log(`Checking ${file}…`);
      digest = await hashFile(file);
    } else {
      file = path.join(staging, 'snapshot.db');
      log(`Downloading snapshot ${id} from ${input.store?.description}…`);
      digest = await downloadAndHash(
        input.store as BlobStore,
        layout.etcdSnapshotData(input.cluster as string, id as string),
        file,
      );
    }
    if (manifest !== undefined && (digest.size !== manifest.size || digest.sha256 !== manifest.sha256)) {
      throw new CairnError(
        'ETCD_SNAPSHOT_CORRUPT',
        `refusing to restore snapshot ${id}: the stored data (${digest.size} bytes, sha256 ${digest.sha256}) does not match its manifest (${manifest.size} bytes, sha256 ${manifest.sha256})`,
        { hint: 'Nothing was changed. Use another snapshot (`cairn etcd snapshot list`, `… verify`).' },
      );
    }
    assertWellFormed(digest, id !== undefined ? `snapshot ${id}` : file);

    const restored = path.join(staging, 'data');
    log(`Restoring with ${tool.name} into ${restored}…`);
    await runTool(tool, [
      'snapshot',
      'restore',
      file,
      '--data-dir',
      restored,
      '--name',
      input.name,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      token,
      '--initial-advertise-peer-urls',
      peerUrls,
    ]);

    let trashcan: string | undefined;
    if (await exists(dataDir)) {
      trashcan = `${dataDir}-trashcan-${stamp}`;
      await rename(dataDir, trashcan);
      log(`Moved the existing ${dataDir} to ${trashcan} (not deleted).`);
    }
    await rename(restored, dataDir);

    const clientUrls = input.clientUrls ?? members.find((m) => m.name === input.name)?.clientURLs?.join(',');
    const startCommand = [
      'etcd',
      '--name',
      input.name,
      '--data-dir',
      dataDir,
      '--initial-advertise-peer-urls',
      peerUrls,
      '--listen-peer-urls',
      peerUrls,
      '--advertise-client-urls',
      clientUrls ?? '<client-urls>',
      '--listen-client-urls',
      clientUrls ?? '<client-urls>',
    ];
    return {
      snapshot: {
        ...(id === undefined ? { file } : { id }),
        ...(manifest ? { revision: manifest.revision, takenAt: manifest.completedAt } : {}),
        sha256: digest.sha256,
      },
      dataDir,
      ...(trashcan === undefined ? {} : { trashcan }),
      tool: tool.name,
      confirmed: reasons,
      startCommand,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function hashFile(file: string): Promise<SnapshotDigest> {
  const hasher = new SnapshotHasher();
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }))
      hasher.update(chunk as Buffer);
  } catch (err) {
    throw new CairnError('ETCD_RESTORE_SOURCE', `cannot read ${file}`, {
      hint: 'Check the path and its permissions.',
      cause: err,
    });
  }
  return hasher.digest();
}
