/**
 * The etcd cluster spec — members, schedule, retention, restore policy — kept
 * at `control/etcd/<cluster>/spec.json`, never beside the snapshots, and read
 * fresh on every command (etcd-manager cached its `etcd-cluster-spec` and kept
 * it beside its backups; a lifecycle rule deleted it and a restart
 * re-initialised an empty cluster).
 *
 * The rules enforced here:
 * - a missing spec with snapshots present is an error for every command that
 *   would write, naming the newest snapshot and its age;
 * - `cluster init` over existing snapshots needs `reinitialize` (the CLI's
 *   `--i-understand-this-reinitializes`);
 * - an unreadable spec is never overwritten.
 */

import { readControlJson } from '../catalog/control-file.ts';
import { layout } from '../catalog/layout.ts';
import { describeAge, readMarker } from '../catalog/location.ts';
import { CairnError } from '../errors/cairn-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { messageOf } from '../storage/body.ts';
import { parseDuration } from '../util/duration.ts';
import { listSnapshots, newestComplete, type SnapshotEntry } from './catalog.ts';

export interface EtcdSpecMember {
  readonly name: string;
  readonly peerURLs: string[];
  readonly clientURLs?: string[];
}

/** Retention as durations (strings such as `168h`), after kops' etcd-manager defaults. */
export interface EtcdRetentionSpec {
  /** Keep every snapshot younger than this. */
  readonly keepAllFor: string;
  /** Keep the newest snapshot of each UTC hour younger than this. */
  readonly hourlyFor: string;
  /** Keep the newest snapshot of each UTC day younger than this. */
  readonly dailyFor: string;
  /** Never keep fewer than this many complete snapshots, whatever their age. */
  readonly minKeep: number;
}

export interface EtcdClusterSpec {
  readonly kind: 'EtcdClusterSpec';
  readonly formatVersion: 1;
  readonly cluster: string;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly members: EtcdSpecMember[];
  readonly schedule: { readonly interval: string };
  readonly retention: EtcdRetentionSpec;
  /** A restore from a snapshot older than this asks for confirmation. */
  readonly restore: { readonly confirmOlderThan: string };
}

/** kops/etcd-manager defaults: every 15 minutes, hourly kept 1 week, daily kept 1 year. */
export const DEFAULT_SCHEDULE = { interval: '15m' } as const;
export const DEFAULT_RETENTION: EtcdRetentionSpec = {
  keepAllFor: '1h',
  hourlyFor: '168h',
  dailyFor: '365d',
  minKeep: 3,
};
export const DEFAULT_CONFIRM_OLDER_THAN = '1h';

export type SpecState =
  | { readonly state: 'missing' }
  | { readonly state: 'ok'; readonly spec: EtcdClusterSpec }
  | { readonly state: 'invalid'; readonly problem: string };

/** Reads and validates the spec. Always from storage: there is no cache to go stale. */
export async function readClusterSpec(store: BlobStore, cluster: string): Promise<SpecState> {
  const key = layout.etcdClusterSpec(cluster);
  const read = await readControlJson(store, key);
  if (read.state !== 'parsed') return read;
  const parsed = read.value;
  const problem = specProblem(parsed, cluster);
  if (problem !== undefined) return { state: 'invalid', problem: `${key}: ${problem}` };
  return { state: 'ok', spec: parsed as EtcdClusterSpec };
}

function specProblem(value: unknown, cluster: string): string | undefined {
  const s = value as Partial<EtcdClusterSpec> | null;
  if (s === null || typeof s !== 'object' || s.kind !== 'EtcdClusterSpec') return 'not an etcd cluster spec';
  if (s.formatVersion !== 1) return `format version ${String(s.formatVersion)}; this Cairn understands 1`;
  if (s.cluster !== cluster) return `names cluster "${String(s.cluster)}", not "${cluster}"`;
  if (!Array.isArray(s.members)) return 'members is not a list';
  try {
    parseDuration(String(s.schedule?.interval), 'schedule.interval');
    parseDuration(String(s.retention?.keepAllFor), 'retention.keepAllFor');
    parseDuration(String(s.retention?.hourlyFor), 'retention.hourlyFor');
    parseDuration(String(s.retention?.dailyFor), 'retention.dailyFor');
    parseDuration(String(s.restore?.confirmOlderThan), 'restore.confirmOlderThan');
  } catch (err) {
    return messageOf(err);
  }
  if (typeof s.retention?.minKeep !== 'number' || s.retention.minKeep < 1)
    return 'retention.minKeep must be ≥ 1';
  return undefined;
}

/** Parses `a=https://10.0.0.1:2380,b=https://10.0.0.2:2380` (the --initial-cluster format). */
export function parseMembers(text: string): EtcdSpecMember[] {
  const byName = new Map<string, string[]>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    if (eq <= 0 || !/^https?:\/\/[^/]+$/.test(url)) {
      throw new CairnError('ETCD_MEMBERS_INVALID', `invalid member ${JSON.stringify(part)}`, {
        hint: 'Use the --initial-cluster format: name=https://host:2380,name2=https://host2:2380.',
      });
    }
    byName.set(name, [...(byName.get(name) ?? []), url]);
  }
  return [...byName].map(([name, peerURLs]) => ({ name, peerURLs }));
}

/** Members back in the --initial-cluster format. */
export function formatInitialCluster(members: readonly EtcdSpecMember[]): string {
  return members.flatMap((m) => m.peerURLs.map((u) => `${m.name}=${u}`)).join(',');
}

function snapshotsSummary(entries: readonly SnapshotEntry[], now: Date): string {
  const complete = entries.filter((e) => e.complete).length;
  const newest = newestComplete(entries);
  const parts = [`${complete} complete snapshot${complete === 1 ? '' : 's'}`];
  if (entries.length > complete) parts.push(`${entries.length - complete} incomplete`);
  if (newest !== undefined) {
    const at = newest.takenAt.toISOString();
    parts.push(`newest ${newest.id} taken ${at} (${describeAge(at, now)})`);
  }
  return parts.join(', ');
}

/** Refuses to touch a location that is not a healthy Cairn location. */
export async function requireLocation(store: BlobStore): Promise<void> {
  const marker = await readMarker(store);
  if (marker.state === 'ok') return;
  throw new CairnError(
    marker.state === 'missing' ? 'LOCATION_NOT_INITIALIZED' : 'LOCATION_MARKER_INVALID',
    `${store.description} is not a usable Cairn location (marker ${layout.marker()} is ${marker.state})`,
    {
      hint: 'Run `cairn location check <url>` to see why; `cairn location init <url>` makes an empty folder or bucket a location. Nothing was written.',
    },
  );
}

/**
 * The spec, or a loud refusal. When the spec is missing but snapshots exist,
 * the error names the newest one and its age: this is the state etcd-manager
 * silently "recovered" from by initialising an empty cluster.
 */
export async function requireClusterSpec(
  store: BlobStore,
  cluster: string,
  options: { now?: Date; doing?: string } = {},
): Promise<EtcdClusterSpec> {
  const now = options.now ?? new Date();
  const state = await readClusterSpec(store, cluster);
  if (state.state === 'ok') return state.spec;
  const key = layout.etcdClusterSpec(cluster);
  const doing = options.doing ?? 'continue';
  if (state.state === 'invalid') {
    throw new CairnError('CONTROL_FILE_CORRUPT', `cannot ${doing}: ${state.problem}`, {
      hint: `Restore ${key} from a copy or a versioned bucket; Cairn never overwrites it. Nothing was written.`,
    });
  }
  const entries = await listSnapshots(store, cluster);
  if (entries.length > 0) {
    throw new CairnError(
      'ETCD_SPEC_MISSING',
      `cannot ${doing}: the cluster spec ${key} is MISSING but ${store.description} holds snapshots of etcd cluster "${cluster}" (${snapshotsSummary(entries, now)})`,
      {
        hint: `Something deleted the spec (a bucket lifecycle rule? a cleanup?). Nothing was written. Restore ${key} from a copy or a versioned bucket; only if you are sure, recreate it with \`cairn etcd cluster init --cluster ${cluster} --location … --i-understand-this-reinitializes\`.`,
      },
    );
  }
  throw new CairnError(
    'ETCD_CLUSTER_NOT_INITIALIZED',
    `cannot ${doing}: etcd cluster "${cluster}" is not initialised in ${store.description} (no ${key}, no snapshots)`,
    {
      hint: `Run \`cairn etcd cluster init --cluster ${cluster} --location …\` first.`,
    },
  );
}

export interface InitClusterOptions {
  readonly members?: EtcdSpecMember[];
  readonly interval?: string;
  readonly retention?: Partial<EtcdRetentionSpec>;
  readonly confirmOlderThan?: string;
  /** Write a spec although snapshots exist without one (`--i-understand-this-reinitializes`). */
  readonly reinitialize?: boolean;
  readonly createdBy?: string;
  readonly now?: Date;
}

export interface InitClusterOutcome {
  readonly status: 'initialized' | 'already-initialized' | 'reinitialized';
  readonly spec: EtcdClusterSpec;
  /** Snapshots found when reinitialising (for the record). */
  readonly existingSnapshots: number;
}

/** Writes the cluster spec, refusing whenever that could hide existing data. Refusals write nothing. */
export async function initCluster(
  store: BlobStore,
  cluster: string,
  options: InitClusterOptions = {},
): Promise<InitClusterOutcome> {
  const now = options.now ?? new Date();
  await requireLocation(store);
  const state = await readClusterSpec(store, cluster);
  if (state.state === 'ok') return { status: 'already-initialized', spec: state.spec, existingSnapshots: 0 };
  const key = layout.etcdClusterSpec(cluster);
  if (state.state === 'invalid') {
    throw new CairnError('CONTROL_FILE_CORRUPT', state.problem, {
      hint: `Inspect ${key} by hand; Cairn will not overwrite it, not even with --i-understand-this-reinitializes. Nothing was written.`,
    });
  }
  const entries = await listSnapshots(store, cluster);
  if (entries.length > 0 && !options.reinitialize) {
    throw new CairnError(
      'ETCD_SPEC_MISSING',
      `refusing to initialise etcd cluster "${cluster}": ${store.description} already holds its snapshots (${snapshotsSummary(entries, now)}) but the spec ${key} is missing`,
      {
        hint: `Something deleted the spec. Nothing was written. Restore ${key} from a copy if you can; if you are sure this location belongs to this cluster, run again with --i-understand-this-reinitializes.`,
      },
    );
  }
  const spec: EtcdClusterSpec = {
    kind: 'EtcdClusterSpec',
    formatVersion: 1,
    cluster,
    createdAt: now.toISOString(),
    createdBy: options.createdBy ?? 'cairn',
    members: options.members ?? [],
    schedule: { interval: options.interval ?? DEFAULT_SCHEDULE.interval },
    retention: { ...DEFAULT_RETENTION, ...options.retention },
    restore: { confirmOlderThan: options.confirmOlderThan ?? DEFAULT_CONFIRM_OLDER_THAN },
  };
  const problem = specProblem(spec, cluster);
  if (problem !== undefined) {
    throw new CairnError('ETCD_SPEC_INVALID', `invalid cluster spec: ${problem}`, {
      hint: 'Fix the flag named above. Nothing was written.',
    });
  }
  await store.put(key, `${JSON.stringify(spec, null, 2)}\n`, { contentType: 'application/json' });
  return {
    status: entries.length > 0 ? 'reinitialized' : 'initialized',
    spec,
    existingSnapshots: entries.length,
  };
}
