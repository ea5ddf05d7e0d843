import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Sandbox, startSandbox } from '../../sandbox/index.ts';

/**
 * Seeded fuzzing of the HTTP surface: malformed paths, bodies, media types and
 * query strings must get a 4xx `Status` (or a success), never a 500 or a crash.
 */

let sandbox: Sandbox;
before(async () => {
  sandbox = await startSandbox();
  for (const name of ['fuzz', 'fuzz2']) {
    await fetch(`${sandbox.url}/api/v1/namespaces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ metadata: { name } }),
    });
  }
});
after(async () => {
  await sandbox.stop();
});

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const WEIRD: unknown[] = [
  null,
  0,
  -1,
  1.5,
  '',
  'x',
  'Bad Name!',
  true,
  [],
  [1, 'a', null],
  {},
  { a: 1 },
  { $patch: 'delete' },
  { $patch: 'bogus' },
  '__proto__',
  'a'.repeat(300),
];

test('seeded fuzz of requests never yields a 5xx and always a Status on errors', async () => {
  const next = rng(Number(process.env.SANDBOX_FUZZ_SEED ?? 1337));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const paths = [
    '/api/v1/namespaces/fuzz/configmaps',
    '/api/v1/namespaces/fuzz/configmaps/c',
    '/api/v1/namespaces/fuzz/secrets/s',
    '/api/v1/namespaces/fuzz/services/svc',
    '/api/v1/namespaces/fuzz2',
    '/api/v1/namespaces/fuzz2/status',
    '/api/v1/namespaces',
    '/apis/apps/v1/namespaces/fuzz/deployments',
    '/apis/apps/v1/namespaces/fuzz/deployments/d',
    '/apis/apps/v1/namespaces/fuzz/deployments/d/scale',
    '/apis/apps/v1/namespaces/fuzz/deployments/d/status',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/r',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.fuzz.io',
    '/apis/fuzz.io/v1/namespaces/fuzz/things/t',
    '/api/v1/namespaces/fuzz/configmaps/c/bogus',
    '/api/v1/namespaces/%2e%2e/configmaps',
    '/apis//v1',
    '/api/v1/namespaces/fuzz/configmaps/c/status/extra/more',
  ];
  const queries = [
    '',
    '?dryRun=All',
    '?dryRun=Nope',
    '?watch=true&timeoutSeconds=0',
    '?labelSelector=a%20in%20(b',
    '?labelSelector=a%3D%3Db,c!%3Dd',
    '?fieldSelector=metadata.name%3Dc',
    '?fieldSelector=x',
    '?limit=abc',
    '?limit=1&continue=%%%',
    '?resourceVersion=-5&watch=1',
    '?fieldManager=%00',
    '?force=true&fieldManager=f',
  ];
  const contentTypes = [
    'application/json',
    'application/merge-patch+json',
    'application/json-patch+json',
    'application/strategic-merge-patch+json',
    'application/apply-patch+yaml',
    'application/yaml',
    'application/vnd.kubernetes.protobuf',
    'text/plain',
  ];
  const validBodies: unknown[] = [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { a: 'b' } }, data: { k: 'v' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { k: 'v' } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { a: 'b' } },
        template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
    },
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'things.fuzz.io' },
      spec: {
        group: 'fuzz.io',
        scope: 'Namespaced',
        names: { plural: 'things', kind: 'Thing' },
        versions: [{ name: 'v1', served: true, storage: true }],
      },
    },
    [{ op: 'add', path: '/metadata/labels/x', value: 'y' }],
    [{ op: 'move', from: '/data', path: '/data/k' }],
    { spec: { replicas: 3 } },
    { metadata: { finalizers: ['x/y'] } },
  ];
  const mutate = (v: unknown, depth = 0): unknown => {
    if (next() < 0.06) return pick(WEIRD);
    if (Array.isArray(v)) return v.map((x) => mutate(x, depth + 1));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v))
        if (next() > 0.04) out[k] = depth > 6 ? x : mutate(x, depth + 1);
      if (next() < 0.1)
        out[pick(['metadata', 'spec', 'data', 'kind', 'apiVersion', 'status', 'x'])] = pick(WEIRD);
      return out;
    }
    return v;
  };
  const failures: string[] = [];
  const statuses = new Set<number>();
  for (let i = 0; i < 2500; i++) {
    const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
    const path = pick(paths) + pick(queries);
    let body: string | undefined;
    if (method !== 'GET' && method !== 'OPTIONS') {
      const r = next();
      body =
        r < 0.1
          ? '{"unterminated'
          : r < 0.15
            ? 'k8s\u0000garbage'
            : r < 0.2
              ? ': : - [yaml'
              : r < 0.4
                ? JSON.stringify(pick(validBodies))
                : JSON.stringify(mutate(pick(validBodies)));
    }
    const contentType =
      next() < 0.4
        ? pick(contentTypes)
        : method === 'PATCH'
          ? pick(contentTypes.slice(1, 5))
          : 'application/json';
    const res = await fetch(`${sandbox.url}${path}`, {
      method,
      ...(body !== undefined ? { body, headers: { 'Content-Type': contentType } } : {}),
      signal: AbortSignal.timeout(5000),
    });
    statuses.add(res.status);
    if (res.status === 200 && res.headers.get('transfer-encoding') === 'chunked' && path.includes('watch')) {
      await res.body?.cancel(); // an open watch: the status is what matters here
      continue;
    }
    const text = await res.text();
    const what = `#${i} ${method} ${path} ${contentType} ${body?.slice(0, 200)} -> ${res.status} ${text.slice(0, 300)}`;
    if (res.status >= 500) failures.push(what);
    else if (res.status >= 400) {
      try {
        const status = JSON.parse(text) as { kind?: string; code?: number };
        if (status.kind !== 'Status' || status.code !== res.status) failures.push(`not a Status: ${what}`);
      } catch {
        failures.push(`not JSON: ${what}`);
      }
    }
  }
  assert.deepEqual(failures, []);
  process.stdout.write(`# fuzz statuses: ${[...statuses].sort().join(',')}\n`);
  assert.ok(statuses.size >= 6, `varied outcomes: ${[...statuses].join(',')}`);
  assert.ok(statuses.has(201) && statuses.has(200), 'some requests succeed');
  const alive = await fetch(`${sandbox.url}/api/v1/namespaces/default`);
  assert.equal(alive.status, 200);
});
