import { randomBytes } from 'node:crypto';
import type { ClusterConnection } from '../../src/cluster/connection.ts';
import { forEachLimit } from '../../src/util/rate-limit.ts';

/** One seeded type: its group-resource name (as Cairn's manifest counts it), collection path and share of the objects. */
export interface SeedType {
  readonly gr: string;
  readonly apiPath: string;
  readonly share: number;
  readonly make: (name: string, i: number) => Record<string, unknown>;
}

export const CRD_GROUP = 'bench.cairn.io';

/** 0.5–4 KiB, spread deterministically. */
function blobBytes(i: number): number {
  return 512 + ((i * 2_654_435_761) % 3585);
}

function labels(i: number): Record<string, string> {
  return { app: `app-${i % 50}`, bench: 'resources' };
}

export const SEED_TYPES: readonly SeedType[] = [
  {
    gr: 'configmaps',
    apiPath: '/api/v1',
    share: 0.58,
    make: (name, i) => ({
      metadata: { name, labels: labels(i) },
      data: { blob: randomBytes(blobBytes(i)).toString('base64').slice(0, blobBytes(i)) },
    }),
  },
  {
    gr: 'secrets',
    apiPath: '/api/v1',
    share: 0.3,
    make: (name, i) => ({
      metadata: { name, labels: labels(i) },
      type: 'Opaque',
      data: { blob: randomBytes(Math.ceil((blobBytes(i) * 3) / 4)).toString('base64') },
    }),
  },
  {
    gr: 'services',
    apiPath: '/api/v1',
    share: 0.05,
    make: (name, i) => ({
      metadata: { name, labels: labels(i) },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    }),
  },
  {
    gr: 'serviceaccounts',
    apiPath: '/api/v1',
    share: 0.03,
    make: (name, i) => ({ metadata: { name, labels: labels(i) } }),
  },
  {
    gr: 'deployments.apps',
    apiPath: '/apis/apps/v1',
    share: 0.02,
    make: (name, i) => ({
      metadata: { name, labels: labels(i) },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: 'app',
                image: `registry.example.com/app:${i % 100}`,
                ports: [{ containerPort: 8080 }],
                env: [{ name: 'MODE', value: 'bench' }],
                resources: { requests: { cpu: '10m', memory: '16Mi' } },
              },
            ],
          },
        },
      },
    }),
  },
  {
    gr: `widgets.${CRD_GROUP}`,
    apiPath: `/apis/${CRD_GROUP}/v1`,
    share: 0.02,
    make: (name, i) => ({
      apiVersion: `${CRD_GROUP}/v1`,
      kind: 'Widget',
      metadata: { name, labels: labels(i) },
      spec: { size: i % 17, color: ['red', 'green', 'blue'][i % 3], notes: 'x'.repeat(200 + (i % 300)) },
    }),
  },
];

const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${CRD_GROUP}` },
  spec: {
    group: CRD_GROUP,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};

/** How many objects of each seeded type `total` becomes (shares rounded; the first type takes the remainder). */
export function seedCounts(total: number): Map<string, number> {
  const counts = new Map<string, number>();
  let rest = total;
  for (const t of SEED_TYPES.slice(1)) {
    const n = Math.round(total * t.share);
    counts.set(t.gr, n);
    rest -= n;
  }
  counts.set((SEED_TYPES[0] as SeedType).gr, rest);
  return counts;
}

/** Creates the CRD, `namespaces` namespaces and `total` objects (SEED_TYPES mix), `concurrency` requests at a time. */
export async function seed(
  connection: ClusterConnection,
  total: number,
  namespaces: number,
  concurrency: number,
): Promise<Map<string, number>> {
  await connection.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: CRD });
  for (let attempt = 0; ; attempt++) {
    try {
      await connection.request('GET', `/apis/${CRD_GROUP}/v1/widgets`, { query: { limit: 1 } });
      break;
    } catch (err) {
      if (attempt > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const nsNames = Array.from({ length: namespaces }, (_, n) => `bench-${String(n).padStart(2, '0')}`);
  await forEachLimit(nsNames, concurrency, async (name) => {
    await connection.request('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  });
  const counts = seedCounts(total);
  const jobs: { type: SeedType; i: number }[] = [];
  for (const type of SEED_TYPES) {
    const n = counts.get(type.gr) ?? 0;
    for (let i = 0; i < n; i++) jobs.push({ type, i });
  }
  await forEachLimit(jobs, concurrency, async ({ type, i }) => {
    const ns = nsNames[i % namespaces] as string;
    const resource = type.gr.split('.')[0] as string;
    const name = `${resource.replace(/s$/, '')}-${String(i).padStart(6, '0')}`;
    await connection.request('POST', `${type.apiPath}/namespaces/${ns}/${resource}`, {
      body: type.make(name, i),
    });
  });
  return counts;
}
