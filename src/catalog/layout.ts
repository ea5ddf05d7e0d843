/**
 * Every key Cairn writes in a storage location is built here, and nowhere else
 * (after velero's `object_store_layout.go`). The layout:
 *
 * ```
 * cairn-location.json          marker: format version, location id (written once)
 * control/                     control files only — never shared with backup data
 *   location.json              copy of the marker, so a lost marker can be re-adopted with its id
 *   probes/                    short-lived objects written by `location check`
 *   repository/config.json     repository config (later)
 *   etcd/<cluster>/spec.json   etcd cluster spec (later)
 * backups/<name>/              written once, manifest.json LAST
 * restores/<name>/             restore results and logs
 * repository/                  content-addressed data
 * etcd/<cluster>/snapshots/    etcd snapshots and their manifests
 * ```
 *
 * Control files live under `control/` so that a lifecycle rule on `backups/`
 * or `etcd/` can never delete them (the kops/etcd-manager incident).
 */
import { CairnError } from '../errors/cairn-error.ts';

/** Version of the location layout; a location with another version is refused, not guessed at. */
export const LOCATION_FORMAT_VERSION = 1;

export const MARKER_KEY = 'cairn-location.json';

/** The top-level areas of a location; anything else at the top level is foreign data. */
export const AREAS = ['control', 'backups', 'restores', 'repository', 'etcd'] as const;
export type Area = (typeof AREAS)[number];

/** DNS-1123 subdomain, as Kubernetes object names: the names Cairn puts into keys. */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Checks a backup/restore/cluster name before it becomes part of a key. */
export function assertResourceName(kind: string, name: string): string {
  if (!NAME.test(name) || name.includes('..')) {
    throw new CairnError('INVALID_NAME', `invalid ${kind} name ${JSON.stringify(name)}`, {
      hint: 'Use lowercase letters, digits, "-" and ".", starting and ending with a letter or digit (at most 253 characters), as Kubernetes names.',
    });
  }
  return name;
}

/** The prefix of an area, ending in `/`. */
export function areaPrefix(area: Area): string {
  return `${area}/`;
}

export const layout = {
  marker: (): string => MARKER_KEY,
  /** The copy of the marker kept with the control files. */
  markerCopy: (): string => 'control/location.json',
  controlPrefix: (): string => areaPrefix('control'),
  probesPrefix: (): string => 'control/probes/',
  probe: (id: string): string => `control/probes/${id}.probe`,
  repositoryConfig: (): string => 'control/repository/config.json',
  etcdClusterSpec: (cluster: string): string =>
    `control/etcd/${assertResourceName('etcd cluster', cluster)}/spec.json`,
  backupsPrefix: (): string => areaPrefix('backups'),
  backupPrefix: (name: string): string => `backups/${assertResourceName('backup', name)}/`,
  backupFile: (name: string, file: string): string => `${layout.backupPrefix(name)}${file}`,
  backupManifest: (name: string): string => layout.backupFile(name, 'manifest.json'),
  restorePrefix: (name: string): string => `restores/${assertResourceName('restore', name)}/`,
  repositoryPrefix: (): string => areaPrefix('repository'),
  etcdSnapshotsPrefix: (cluster: string): string =>
    `etcd/${assertResourceName('etcd cluster', cluster)}/snapshots/`,
  /** Control files of one etcd cluster (the spec); never under `etcd/`, where snapshots live. */
  etcdControlPrefix: (cluster: string): string =>
    `control/etcd/${assertResourceName('etcd cluster', cluster)}/`,
  /** One snapshot's folder: `<UTC yyyymmddThhmmssZ>-<revision>[-n]/`, written once. */
  etcdSnapshotPrefix: (cluster: string, id: string): string =>
    `${layout.etcdSnapshotsPrefix(cluster)}${assertEtcdSnapshotId(id)}/`,
  etcdSnapshotData: (cluster: string, id: string): string =>
    `${layout.etcdSnapshotPrefix(cluster, id)}snapshot.db`,
  /** Written LAST: its presence means the snapshot is complete. */
  etcdSnapshotManifest: (cluster: string, id: string): string =>
    `${layout.etcdSnapshotPrefix(cluster, id)}manifest.json`,
} as const;

const ETCD_SNAPSHOT_ID = /^\d{8}T\d{6}Z-\d+(-\d+)?$/;

/** Checks an etcd snapshot id (`20260101T000000Z-1234`, optionally `-2` when two share a second and revision). */
export function assertEtcdSnapshotId(id: string): string {
  if (!ETCD_SNAPSHOT_ID.test(id)) {
    throw new CairnError('INVALID_NAME', `invalid etcd snapshot id ${JSON.stringify(id)}`, {
      hint: 'Snapshot ids look like 20260101T000000Z-1234 (UTC time, then the etcd revision); see `cairn etcd snapshot list`.',
    });
  }
  return id;
}

/** If `key` lies in an etcd snapshot folder: the snapshot id and the file name inside it. */
export function etcdSnapshotOfKey(cluster: string, key: string): { id: string; file: string } | undefined {
  const prefix = layout.etcdSnapshotsPrefix(cluster);
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  return { id: rest.slice(0, slash), file: rest.slice(slash + 1) };
}

/** Where a key belongs: the marker, one of the areas, or nowhere (foreign data). */
export type KeyPlace =
  | { kind: 'marker' }
  | { kind: 'area'; area: Area }
  | { kind: 'foreign'; topLevel: string };

export function placeOfKey(key: string): KeyPlace {
  if (key === MARKER_KEY) return { kind: 'marker' };
  const slash = key.indexOf('/');
  const top = slash === -1 ? key : key.slice(0, slash);
  const area = AREAS.find((a) => a === top);
  if (area !== undefined && slash !== -1) return { kind: 'area', area };
  return { kind: 'foreign', topLevel: slash === -1 ? key : `${top}/` };
}

/** Throws when a key lies outside the layout: Cairn never reads or writes foreign keys. */
export function assertKnownKey(key: string): void {
  const place = placeOfKey(key);
  if (place.kind === 'foreign') {
    throw new CairnError(
      'LOCATION_UNKNOWN_PREFIX',
      `"${key}" is outside Cairn's location layout (unknown top-level "${place.topLevel}")`,
      {
        hint: `A location holds only ${MARKER_KEY} and ${AREAS.map((a) => `${a}/`).join(', ')}. Keep other data under another prefix or bucket.`,
      },
    );
  }
}

/** If `key` is a backup manifest, the backup's name. */
export function backupNameOfManifest(key: string): string | undefined {
  const match = /^backups\/([^/]+)\/manifest\.json$/.exec(key);
  return match?.[1];
}
