/**
 * The etcd snapshot metrics, observed from the location itself (so a CronJob,
 * the CLI and later the controller report the same truth), and rendered in
 * the Prometheus text exposition format (no client library needed for three
 * gauges; the controller can register the same samples in its registry).
 *
 * - `cairn_etcd_snapshot_last_successful_timestamp_seconds{cluster}`: when the
 *   newest complete snapshot finished; absent when there is none (alert on
 *   `absent()` too).
 * - `cairn_etcd_snapshot_size_bytes{cluster}`: size of that snapshot.
 * - `cairn_etcd_control_files_healthy{cluster}`: 1 when the cluster spec is
 *   present and parses, 0 otherwise — the file whose loss started the
 *   etcd-manager incident.
 */
import type { BlobStore } from '../storage/blob-store.ts';
import { listSnapshots, newestComplete, readManifest } from './catalog.ts';
import { readClusterSpec } from './spec.ts';

export interface EtcdClusterObservation {
  readonly cluster: string;
  readonly controlFilesHealthy: boolean;
  readonly specState: 'ok' | 'missing' | 'invalid';
  readonly completeSnapshots: number;
  readonly incompleteSnapshots: number;
  readonly lastSuccessful?: { id: string; completedAt: string; size: number; revision: number };
}

/** Reads the spec and the snapshot listing fresh and summarises them. */
export async function observeEtcdCluster(store: BlobStore, cluster: string): Promise<EtcdClusterObservation> {
  const spec = await readClusterSpec(store, cluster);
  const entries = await listSnapshots(store, cluster);
  const newest = newestComplete(entries);
  const manifest = newest === undefined ? undefined : await readManifest(store, cluster, newest.id);
  const complete = entries.filter((e) => e.complete).length;
  return {
    cluster,
    controlFilesHealthy: spec.state === 'ok',
    specState: spec.state,
    completeSnapshots: complete,
    incompleteSnapshots: entries.length - complete,
    ...(manifest === undefined
      ? {}
      : {
          lastSuccessful: {
            id: manifest.id,
            completedAt: manifest.completedAt,
            size: manifest.size,
            revision: manifest.revision,
          },
        }),
  };
}

export interface MetricSample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export const METRIC_HELP: Record<string, string> = {
  cairn_etcd_snapshot_last_successful_timestamp_seconds:
    'Unix time at which the newest complete etcd snapshot finished.',
  cairn_etcd_snapshot_size_bytes: 'Size in bytes of the newest complete etcd snapshot.',
  cairn_etcd_control_files_healthy:
    '1 when the etcd cluster spec (control/etcd/<cluster>/spec.json) is present and valid.',
};

/** The samples of one or more observations. */
export function etcdMetricSamples(observations: readonly EtcdClusterObservation[]): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const o of observations) {
    const labels = { cluster: o.cluster };
    if (o.lastSuccessful !== undefined) {
      samples.push({
        name: 'cairn_etcd_snapshot_last_successful_timestamp_seconds',
        labels,
        value: Date.parse(o.lastSuccessful.completedAt) / 1000,
      });
      samples.push({ name: 'cairn_etcd_snapshot_size_bytes', labels, value: o.lastSuccessful.size });
    }
    samples.push({ name: 'cairn_etcd_control_files_healthy', labels, value: o.controlFilesHealthy ? 1 : 0 });
  }
  return samples;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** Prometheus text exposition (for `/metrics`, or a node-exporter textfile collector). */
export function formatPrometheus(samples: readonly MetricSample[]): string {
  const names = [...new Set(samples.map((s) => s.name))];
  let out = '';
  for (const name of names) {
    out += `# HELP ${name} ${METRIC_HELP[name] ?? name}\n# TYPE ${name} gauge\n`;
    for (const s of samples.filter((x) => x.name === name)) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',');
      out += `${name}${labels ? `{${labels}}` : ''} ${s.value}\n`;
    }
  }
  return out;
}
