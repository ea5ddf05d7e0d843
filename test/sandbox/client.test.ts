import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { type Sandbox, startSandbox } from '../../sandbox/index.ts';

/**
 * The sandbox through the official client: what Cairn's cluster/ layer will do
 * against a real API server.
 */

let sandbox: Sandbox;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;

before(async () => {
  sandbox = await startSandbox({ bookmarkIntervalMs: 200 });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
});

after(async () => {
  await sandbox.stop();
});

async function apiError(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof k8s.ApiException) {
      const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      return { code: e.code, body };
    }
    throw e;
  }
  assert.fail('expected the request to fail');
}

/** HTTP status of a client call: 200 when it succeeds. */
async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof k8s.ApiException) return e.code;
    throw e;
  }
}

async function raw(method: string, path: string, body?: string, contentType = 'application/json') {
  const res = await fetch(`${sandbox.url}${path}`, {
    method,
    ...(body !== undefined ? { body, headers: { 'Content-Type': contentType } } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function createNamespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
}

describe('discovery', () => {
  test('version, core and group discovery', async () => {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    assert.equal(version.major, '1');
    const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    const names = groups.groups.map((g) => g.name);
    for (const g of [
      'apps',
      'batch',
      'rbac.authorization.k8s.io',
      'snapshot.storage.k8s.io',
      'apiextensions.k8s.io',
    ])
      assert.ok(names.includes(g), g);
    const coreResources = await core.getAPIResources();
    const pods = coreResources.resources.find((r) => r.name === 'pods');
    assert.deepEqual(pods?.shortNames, ['po']);
    assert.deepEqual(pods?.categories, ['all']);
    assert.ok(coreResources.resources.some((r) => r.name === 'pods/status'));
    const apps = await kc.makeApiClient(k8s.AppsV1Api).getAPIResources();
    assert.ok(apps.resources.some((r) => r.name === 'deployments/scale' && r.kind === 'Scale'));
  });

  test('access reviews say every client is an administrator', async () => {
    const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
    const review = await authz.createSelfSubjectAccessReview({
      body: {
        spec: { resourceAttributes: { verb: 'delete', resource: 'secrets', namespace: 'kube-system' } },
      },
    });
    assert.equal(review.status?.allowed, true);
    assert.equal(review.spec.resourceAttributes?.resource, 'secrets');
    const rules = await authz.createSelfSubjectRulesReview({ body: { spec: { namespace: 'default' } } });
    assert.deepEqual(
      rules.status?.resourceRules.map((r) => [r.verbs, r.apiGroups, r.resources]),
      [[['*'], ['*'], ['*']]],
    );
  });

  test('aggregated discovery is chosen by Accept and echoed in Content-Type', async () => {
    for (const v of ['v2', 'v2beta1']) {
      const accept = `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList,application/json`;
      const res = await fetch(`${sandbox.url}/apis`, { headers: { Accept: accept } });
      assert.equal(
        res.headers.get('content-type'),
        `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`,
      );
      const doc = (await res.json()) as {
        kind: string;
        apiVersion: string;
        items: Array<{ metadata: { name: string } }>;
      };
      assert.equal(doc.kind, 'APIGroupDiscoveryList');
      assert.equal(doc.apiVersion, `apidiscovery.k8s.io/${v}`);
      assert.ok(doc.items.some((i) => i.metadata.name === 'apps'));
    }
    const legacy = await fetch(`${sandbox.url}/api`, { headers: { Accept: 'application/json' } });
    assert.equal(((await legacy.json()) as { kind: string }).kind, 'APIVersions');
  });

  test('openapi v3 index and per group-version stubs with fieldValidation on PATCH', async () => {
    const index = (await raw('GET', '/openapi/v3')).json as {
      paths: Record<string, { serverRelativeURL: string }>;
    };
    const apps = index.paths['apis/apps/v1'];
    assert.ok(apps);
    const doc = (await raw('GET', apps.serverRelativeURL)).json as {
      paths: Record<
        string,
        { patch?: { 'x-kubernetes-group-version-kind': unknown; parameters: Array<{ name: string }> } }
      >;
    };
    const op = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}']?.patch;
    assert.deepEqual(op?.['x-kubernetes-group-version-kind'], {
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
    });
    assert.ok(op?.parameters.some((p) => p.name === 'fieldValidation'));
  });
});

describe('CRUD', () => {
  test('create, get, replace with stale resourceVersion, patch in three flavours, delete', async () => {
    await createNamespace('crud');
    const created = await core.createNamespacedConfigMap({
      namespace: 'crud',
      body: { metadata: { name: 'one', labels: { app: 'x' } }, data: { a: '1' } },
    });
    assert.equal(created.apiVersion, 'v1');
    assert.equal(created.kind, 'ConfigMap');
    assert.ok(created.metadata?.uid);
    assert.ok(created.metadata?.creationTimestamp);
    const rv1 = created.metadata?.resourceVersion;
    assert.ok(rv1);

    const dup = await apiError(
      core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'one' } } }),
    );
    assert.equal(dup.code, 409);
    assert.equal(dup.body.reason, 'AlreadyExists');

    const got = await core.readNamespacedConfigMap({ name: 'one', namespace: 'crud' });
    assert.deepEqual(got.data, { a: '1' });

    const replaced = await core.replaceNamespacedConfigMap({
      name: 'one',
      namespace: 'crud',
      body: { ...got, data: { a: '2' } },
    });
    assert.notEqual(replaced.metadata?.resourceVersion, rv1);
    const stale = await apiError(
      core.replaceNamespacedConfigMap({ name: 'one', namespace: 'crud', body: { ...got, data: { a: '3' } } }),
    );
    assert.equal(stale.code, 409);
    assert.equal(stale.body.reason, 'Conflict');
    assert.equal(stale.body.kind, 'Status');

    const merged = await core.patchNamespacedConfigMap(
      { name: 'one', namespace: 'crud', body: { data: { b: '2' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    assert.deepEqual(merged.data, { a: '2', b: '2' });
    const jsonPatched = await core.patchNamespacedConfigMap(
      { name: 'one', namespace: 'crud', body: [{ op: 'remove', path: '/data/a' }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    assert.deepEqual(jsonPatched.data, { b: '2' });
    const strategic = await core.patchNamespacedConfigMap(
      { name: 'one', namespace: 'crud', body: { metadata: { labels: { tier: 'web' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(strategic.metadata?.labels, { app: 'x', tier: 'web' });
    const failedTest = await apiError(
      core.patchNamespacedConfigMap(
        { name: 'one', namespace: 'crud', body: [{ op: 'test', path: '/data/b', value: 'nope' }] },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
      ),
    );
    assert.equal(failedTest.code, 422);

    await core.deleteNamespacedConfigMap({ name: 'one', namespace: 'crud' });
    const gone = await apiError(core.readNamespacedConfigMap({ name: 'one', namespace: 'crud' }));
    assert.equal(gone.code, 404);
    assert.equal(gone.body.reason, 'NotFound');
    assert.equal(gone.body.message, 'configmaps "one" not found');
  });

  test('strategic merge patch merges containers by name', async () => {
    await createNamespace('smp');
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const dep = await apps.createNamespacedDeployment({
      namespace: 'smp',
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              containers: [
                { name: 'app', image: 'nginx:1' },
                { name: 'side', image: 'busybox' },
              ],
            },
          },
        },
      },
    });
    assert.equal(dep.metadata?.generation, 1);
    const patched = await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'smp',
        body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:2' }] } } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    const containers = patched.spec?.template.spec?.containers ?? [];
    assert.deepEqual(
      containers.map((c) => [c.name, c.image]),
      [
        ['app', 'nginx:2'],
        ['side', 'busybox'],
      ],
    );
    assert.equal(patched.metadata?.generation, 2);
    const scale = await apps.replaceNamespacedDeploymentScale({
      name: 'web',
      namespace: 'smp',
      body: { metadata: { name: 'web', namespace: 'smp' }, spec: { replicas: 5 } },
    });
    assert.equal(scale.spec?.replicas, 5);
    assert.equal((await apps.readNamespacedDeployment({ name: 'web', namespace: 'smp' })).spec?.replicas, 5);
  });

  test('status subresource: main writes keep status, status writes keep spec', async () => {
    await createNamespace('status');
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const body: k8s.V1Deployment = {
      metadata: { name: 'd' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
      status: { replicas: 9 },
    };
    const created = await apps.createNamespacedDeployment({ namespace: 'status', body });
    assert.equal(created.status?.replicas, undefined);
    const withStatus = await apps.replaceNamespacedDeploymentStatus({
      name: 'd',
      namespace: 'status',
      body: {
        ...created,
        spec: { ...created.spec, replicas: 7 } as k8s.V1DeploymentSpec,
        status: { replicas: 3 },
      },
    });
    assert.equal(withStatus.status?.replicas, 3);
    assert.notEqual(withStatus.spec?.replicas, 7);
  });

  test('generateName, dryRun, missing namespace, invalid name, namespace mismatch', async () => {
    await createNamespace('misc');
    const generated = await core.createNamespacedSecret({
      namespace: 'misc',
      body: { metadata: { generateName: 'tok-' }, stringData: { password: 'hunter2' } },
    });
    assert.match(generated.metadata?.name ?? '', /^tok-[a-z0-9]{5}$/);
    assert.equal(generated.data?.password, Buffer.from('hunter2').toString('base64'));
    assert.equal(generated.stringData, undefined);
    assert.equal(generated.type, 'Opaque');

    const dry = await core.createNamespacedConfigMap({
      namespace: 'misc',
      body: { metadata: { name: 'dry' } },
      dryRun: 'All',
    });
    assert.equal(dry.metadata?.name, 'dry');
    assert.equal(
      (await apiError(core.readNamespacedConfigMap({ name: 'dry', namespace: 'misc' }))).code,
      404,
    );

    const noNs = await apiError(
      core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'x' } } }),
    );
    assert.equal(noNs.code, 404);
    assert.equal(noNs.body.message, 'namespaces "nowhere" not found');

    const bad = await apiError(
      core.createNamespacedConfigMap({ namespace: 'misc', body: { metadata: { name: 'Bad_Name' } } }),
    );
    assert.equal(bad.code, 422);
    assert.equal(bad.body.reason, 'Invalid');

    const mismatch = await raw(
      'POST',
      '/api/v1/namespaces/misc/configmaps',
      JSON.stringify({ metadata: { name: 'm', namespace: 'other' } }),
    );
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.json.reason, 'BadRequest');
  });

  test('malformed requests get a Status, never a crash', async () => {
    const cases: Array<[string, string, string | undefined, string | undefined, number]> = [
      ['POST', '/api/v1/namespaces/default/configmaps', '{not json', 'application/json', 400],
      ['POST', '/api/v1/namespaces/default/configmaps', '[]', 'application/json', 400],
      [
        'POST',
        '/api/v1/namespaces/default/configmaps',
        '{"kind":"Secret","metadata":{"name":"k"}}',
        'application/json',
        400,
      ],
      ['PATCH', '/api/v1/namespaces/default/services/kubernetes', '{}', 'text/plain', 415],
      [
        'PATCH',
        '/api/v1/namespaces/default/services/kubernetes',
        '{"op":"add"}',
        'application/json-patch+json',
        400,
      ],
      ['GET', '/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(', undefined, undefined, 400],
      ['GET', '/api/v1/namespaces/default/configmaps?fieldSelector=spec.x%3D1', undefined, undefined, 400],
      ['GET', '/api/v1/namespaces/default/configmaps?limit=-4', undefined, undefined, 400],
      ['GET', '/api/v1/namespaces/default/configmaps?continue=garbage', undefined, undefined, 400],
      ['GET', '/api/v1/nosuchthings', undefined, undefined, 404],
      ['GET', '/api/v1/namespaces/%zz', undefined, undefined, 400],
      ['GET', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', undefined, undefined, 405],
      ['DELETE', '/api/v1/namespaces', undefined, undefined, 405],
      [
        'PATCH',
        '/api/v1/namespaces/default/services/kubernetes?fieldManager=x',
        '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"kubernetes"}}',
        'application/apply-patch+yaml',
        400,
      ],
      ['GET', '/apis/nosuch.group/v1', undefined, undefined, 404],
      ['PUT', '/api/v1/namespaces/default/configmaps', '{}', 'application/json', 405],
      [
        'POST',
        '/api/v1/namespaces/default/configmaps',
        'k8s\u0000\u00ff\u00ff',
        'application/vnd.kubernetes.protobuf',
        400,
      ],
    ];
    for (const [method, path, body, ct, code] of cases) {
      const res = await raw(method, path, body, ct);
      assert.equal(res.status, code, `${method} ${path} ${body}`);
      assert.equal(res.json.kind, 'Status', `${method} ${path}`);
      assert.equal(res.json.code, code);
    }
    // The server still works.
    assert.equal((await raw('GET', '/api/v1/namespaces/default')).status, 200);
  });
});

describe('list', () => {
  test('paginates in name order with continue tokens; selectors filter', async () => {
    await createNamespace('paging');
    for (let i = 0; i < 25; i++) {
      await core.createNamespacedConfigMap({
        namespace: 'paging',
        body: {
          metadata: {
            name: `cm-${String(i).padStart(2, '0')}`,
            labels: { parity: i % 2 ? 'odd' : 'even', idx: String(i) },
          },
        },
      });
    }
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    let listRv: string | undefined;
    do {
      const page = await core.listNamespacedConfigMap({ namespace: 'paging', limit: 10, _continue: token });
      pages++;
      listRv ??= page.metadata?.resourceVersion;
      assert.equal(
        page.metadata?.resourceVersion,
        listRv,
        'continued pages report the first page resourceVersion',
      );
      names.push(...page.items.map((c) => c.metadata?.name ?? ''));
      token = page.metadata?._continue;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(
      names,
      Array.from({ length: 25 }, (_, i) => `cm-${String(i).padStart(2, '0')}`),
    );

    const odd = await core.listNamespacedConfigMap({
      namespace: 'paging',
      labelSelector: 'parity=odd,idx notin (1,3)',
    });
    assert.equal(odd.items.length, 10);
    const exists = await core.listNamespacedConfigMap({ namespace: 'paging', labelSelector: '!parity' });
    assert.equal(exists.items.length, 0);
    const byName = await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.name=cm-07' });
    assert.deepEqual(
      byName.items.map((c) => c.metadata?.namespace),
      ['paging'],
    );
    const notNs = await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.namespace!=paging' });
    assert.ok(notNs.items.every((c) => c.metadata?.namespace !== 'paging'));
  });

  test('continue tokens outlive a busy event log and expire on compaction ticks', async () => {
    const busy = await startSandbox({ eventLogSize: 10, compactionIntervalMs: 150 });
    try {
      const post = (name: string) =>
        fetch(`${busy.url}/api/v1/namespaces/default/configmaps`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ metadata: { name } }),
        });
      for (let i = 0; i < 5; i++) await post(`early-${i}`);
      const first = (await (
        await fetch(`${busy.url}/api/v1/namespaces/default/configmaps?limit=2`)
      ).json()) as {
        metadata: { continue: string; resourceVersion: string };
      };
      const token = encodeURIComponent(first.metadata.continue);
      for (let i = 0; i < 40; i++) await post(`later-${i}`);
      const watch = await fetch(
        `${busy.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${first.metadata.resourceVersion}`,
      );
      const watchText = await watch.text();
      assert.match(watchText, /"code":410/, 'the watch history is gone...');
      const next = await fetch(`${busy.url}/api/v1/namespaces/default/configmaps?limit=2&continue=${token}`);
      assert.equal(next.status, 200, '...but the list can still be continued');
      await new Promise((r) => setTimeout(r, 500));
      const late = await fetch(`${busy.url}/api/v1/namespaces/default/configmaps?limit=2&continue=${token}`);
      assert.equal(late.status, 410);
      assert.equal(((await late.json()) as { reason: string }).reason, 'Expired');
    } finally {
      await busy.stop();
    }
  });

  test('an unpaginated list larger than one write batch is streamed whole', async () => {
    await createNamespace('big');
    const type = sandbox.cluster.registry.get('', 'v1', 'configmaps');
    assert.ok(type);
    for (let i = 0; i < 4500; i++)
      sandbox.cluster.create(
        { type, version: 'v1', namespace: 'big' },
        { metadata: { name: `c${String(i).padStart(4, '0')}` }, data: { i: String(i) } },
        {},
      );
    const all = await core.listNamespacedConfigMap({ namespace: 'big' });
    assert.equal(all.items.length, 4500);
    assert.equal(all.items[4499]?.data?.i, '4499');
    assert.equal(all.kind, 'ConfigMapList');
  });

  test('a continue token older than the event log gets 410 Expired', async () => {
    await createNamespace('expire');
    for (let i = 0; i < 3; i++)
      await core.createNamespacedConfigMap({ namespace: 'expire', body: { metadata: { name: `c${i}` } } });
    const first = await core.listNamespacedConfigMap({ namespace: 'expire', limit: 1 });
    assert.ok(first.metadata?._continue);
    await core.createNamespacedConfigMap({ namespace: 'expire', body: { metadata: { name: 'later' } } });
    sandbox.cluster.store.compact();
    const err = await apiError(
      core.listNamespacedConfigMap({ namespace: 'expire', limit: 1, _continue: first.metadata?._continue }),
    );
    assert.equal(err.code, 410);
    assert.equal(err.body.reason, 'Expired');
  });
});

describe('watch', () => {
  test('streams ADDED/MODIFIED/DELETED from a resourceVersion, with bookmarks', async () => {
    await createNamespace('watching');
    const list = await core.listNamespacedConfigMap({ namespace: 'watching' });
    const events: Array<[string, string]> = [];
    let bookmarks = 0;
    const watch = new k8s.Watch(kc);
    const controller = await watch.watch(
      '/api/v1/namespaces/watching/configmaps',
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type, obj: k8s.V1ConfigMap) => {
        if (type === 'BOOKMARK') bookmarks++;
        else events.push([type, obj.metadata?.name ?? '']);
      },
      () => {},
    );
    await core.createNamespacedConfigMap({ namespace: 'watching', body: { metadata: { name: 'w' } } });
    await core.patchNamespacedConfigMap(
      { name: 'w', namespace: 'watching', body: { data: { x: 'y' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedConfigMap({ name: 'w', namespace: 'watching' });
    await eventually(async () => events.length >= 3 && bookmarks >= 1, 'three events and a bookmark');
    controller.abort();
    assert.deepEqual(events, [
      ['ADDED', 'w'],
      ['MODIFIED', 'w'],
      ['DELETED', 'w'],
    ]);
  });

  test('replays history from an old resourceVersion; label selector transitions become ADDED/DELETED', async () => {
    await createNamespace('replay');
    const start = await core.listNamespacedConfigMap({ namespace: 'replay' });
    await core.createNamespacedConfigMap({
      namespace: 'replay',
      body: { metadata: { name: 'r', labels: { on: 'no' } } },
    });
    await core.patchNamespacedConfigMap(
      { name: 'r', namespace: 'replay', body: { metadata: { labels: { on: 'yes' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await core.patchNamespacedConfigMap(
      { name: 'r', namespace: 'replay', body: { metadata: { labels: { on: 'no' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const events: string[] = [];
    const controller = await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/replay/configmaps',
      { resourceVersion: start.metadata?.resourceVersion, labelSelector: 'on=yes' },
      (type) => events.push(type),
      () => {},
    );
    await eventually(async () => events.length >= 2, 'replayed events');
    controller.abort();
    assert.deepEqual(events, ['ADDED', 'DELETED']);
  });

  test('a watch from a compacted resourceVersion gets a 410 ERROR event', async () => {
    const before = await core.listNamespace();
    await createNamespace('compact-me');
    sandbox.cluster.store.compact();
    const seen: Array<[string, Record<string, unknown>]> = [];
    let done = false;
    await new k8s.Watch(kc).watch(
      '/api/v1/namespaces',
      { resourceVersion: before.metadata?.resourceVersion },
      (type, obj) => seen.push([type, obj]),
      () => {
        done = true;
      },
    );
    await eventually(async () => done, 'the watch to end');
    assert.equal(seen[0]?.[0], 'ERROR');
    assert.equal(seen[0]?.[1].code, 410);
    assert.equal(seen[0]?.[1].reason, 'Expired');
  });

  test('an informer sees add, update and delete', async () => {
    await createNamespace('informed');
    await core.createNamespacedConfigMap({ namespace: 'informed', body: { metadata: { name: 'pre' } } });
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/informed/configmaps', () =>
      core.listNamespacedConfigMap({ namespace: 'informed' }),
    );
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add:${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update:${o.metadata?.name}`));
    informer.on('delete', (o) => seen.push(`delete:${o.metadata?.name}`));
    await informer.start();
    try {
      await eventually(async () => seen.includes('add:pre'), 'initial add');
      await core.createNamespacedConfigMap({ namespace: 'informed', body: { metadata: { name: 'live' } } });
      await eventually(async () => seen.includes('add:live'), 'add of live');
      await core.patchNamespacedConfigMap(
        { name: 'live', namespace: 'informed', body: { data: { k: 'v' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await eventually(async () => seen.includes('update:live'), 'update of live');
      await core.deleteNamespacedConfigMap({ name: 'live', namespace: 'informed' });
      await eventually(async () => seen.includes('delete:live'), 'delete of live');
      assert.equal(informer.list('informed').length, 1);
    } finally {
      await informer.stop();
    }
  });
});

describe('server-side apply', () => {
  test('creates when absent, merges, removes fields the manager dropped, reports conflicts', async () => {
    await createNamespace('ssa');
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const spec = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: 'ssa', labels: { a: '1', b: '2' } },
      data: { x: '1', y: '2' },
    };
    const created: k8s.KubernetesObject = await objects.patch(
      spec,
      undefined,
      undefined,
      'tester',
      undefined,
      k8s.PatchStrategy.ServerSideApply,
    );
    assert.deepEqual((created as k8s.V1ConfigMap).data, { x: '1', y: '2' });
    assert.equal(created.metadata?.managedFields?.[0]?.manager, 'tester');
    assert.equal(created.metadata?.managedFields?.[0]?.operation, 'Apply');

    // Another writer adds a key; the applier then drops `y` and label `b`.
    await core.patchNamespacedConfigMap(
      { name: 'applied', namespace: 'ssa', body: { data: { z: 'other' } }, fieldManager: 'someone-else' },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const second: k8s.KubernetesObject = await objects.patch(
      { ...spec, metadata: { ...spec.metadata, labels: { a: '1' } }, data: { x: '1' } },
      undefined,
      undefined,
      'tester',
      undefined,
      k8s.PatchStrategy.ServerSideApply,
    );
    assert.deepEqual((second as k8s.V1ConfigMap).data, { x: '1', z: 'other' });
    assert.deepEqual(second.metadata?.labels, { a: '1' });

    const conflict = await apiError(
      objects.patch(
        { ...spec, data: { z: 'mine' } },
        undefined,
        undefined,
        'tester',
        undefined,
        k8s.PatchStrategy.ServerSideApply,
      ),
    );
    assert.equal(conflict.code, 409);
    assert.match(String(conflict.body.message), /conflict with "someone-else"/);
    const forced = await objects.patch(
      { ...spec, data: { z: 'mine' } },
      undefined,
      undefined,
      'tester',
      true,
      k8s.PatchStrategy.ServerSideApply,
    );
    assert.equal((forced as k8s.V1ConfigMap).data?.z, 'mine');
  });
});

describe('custom resources', () => {
  test('a CRD is established, served, rejects strategic merge, and takes its instances with it', async () => {
    await createNamespace('crs');
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: 'widgets.example.com' },
        spec: {
          group: 'example.com',
          scope: 'Namespaced',
          names: {
            plural: 'widgets',
            singular: 'widget',
            kind: 'Widget',
            shortNames: ['wg'],
            categories: ['all'],
          },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
              subresources: { status: {} },
            },
          ],
        },
      },
    });
    const crd = await ext.readCustomResourceDefinition({ name: 'widgets.example.com' });
    const established = crd.status?.conditions?.find((c) => c.type === 'Established');
    assert.equal(established?.status, 'True');
    const discovered = (await raw('GET', '/apis/example.com/v1')).json as {
      resources: Array<{ name: string; shortNames?: string[] }>;
    };
    assert.deepEqual(discovered.resources.find((r) => r.name === 'widgets')?.shortNames, ['wg']);

    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: 'example.com',
      version: 'v1',
      namespace: 'crs',
      plural: 'widgets',
      body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } },
    });
    const listed = (await custom.listNamespacedCustomObject({
      group: 'example.com',
      version: 'v1',
      namespace: 'crs',
      plural: 'widgets',
    })) as { items: Array<{ metadata: { name: string; generation: number } }> };
    assert.deepEqual(
      listed.items.map((i) => [i.metadata.name, i.metadata.generation]),
      [['w1', 1]],
    );
    const smp = await raw(
      'PATCH',
      '/apis/example.com/v1/namespaces/crs/widgets/w1',
      '{"spec":{"size":4}}',
      'application/strategic-merge-patch+json',
    );
    assert.equal(smp.status, 415);
    assert.equal(smp.json.reason, 'UnsupportedMediaType');
    const merge = await raw(
      'PATCH',
      '/apis/example.com/v1/namespaces/crs/widgets/w1',
      '{"spec":{"size":4}}',
      'application/merge-patch+json',
    );
    assert.equal(merge.status, 200);
    assert.equal(merge.json.metadata.generation, 2);

    const renamed = await raw(
      'PATCH',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com',
      '{"spec":{"group":"other.example.com"}}',
      'application/merge-patch+json',
    );
    assert.equal(renamed.status, 422, 'spec.group is immutable');
    await ext.deleteCustomResourceDefinition({ name: 'widgets.example.com' });
    await eventually(
      async () => (await raw('GET', '/apis/example.com/v1')).status === 404,
      'the group to go',
    );
    await ext.createCustomResourceDefinition({
      body: { ...crd, metadata: { name: 'widgets.example.com' }, status: undefined },
    });
    const again = (await custom.listNamespacedCustomObject({
      group: 'example.com',
      version: 'v1',
      namespace: 'crs',
      plural: 'widgets',
    })) as { items: unknown[] };
    assert.equal(again.items.length, 0, 'instances were deleted with their CRD');
  });
});

describe('multi-version custom resources', () => {
  test('every served version is discovered, the preferred one first, objects served at the asked version', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const schema = { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } };
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: 'gizmos.multi.example.com' },
        spec: {
          group: 'multi.example.com',
          scope: 'Cluster',
          names: { plural: 'gizmos', kind: 'Gizmo' },
          versions: [
            { name: 'v1alpha1', served: true, storage: false, schema },
            { name: 'v1', served: true, storage: true, schema },
            { name: 'v1beta2', served: true, storage: false, schema },
            { name: 'v0', served: false, storage: false, schema },
          ],
        },
      },
    });
    const group = (await raw('GET', '/apis/multi.example.com')).json;
    assert.deepEqual(
      group.versions.map((v: { version: string }) => v.version),
      ['v1', 'v1beta2', 'v1alpha1'],
    );
    assert.equal(group.preferredVersion.version, 'v1');
    const created = await raw(
      'POST',
      '/apis/multi.example.com/v1alpha1/gizmos',
      JSON.stringify({
        apiVersion: 'multi.example.com/v1alpha1',
        kind: 'Gizmo',
        metadata: { name: 'g' },
        spec: { a: 1 },
      }),
    );
    assert.equal(created.status, 201);
    assert.equal(created.json.apiVersion, 'multi.example.com/v1alpha1');
    const asV1 = await raw('GET', '/apis/multi.example.com/v1/gizmos/g');
    assert.equal(asV1.json.apiVersion, 'multi.example.com/v1');
    assert.deepEqual(asV1.json.spec, { a: 1 });
    const list = await raw('GET', '/apis/multi.example.com/v1beta2/gizmos');
    assert.deepEqual(
      list.json.items.map((i: { apiVersion: string }) => i.apiVersion),
      ['multi.example.com/v1beta2'],
    );
    assert.equal((await raw('GET', '/apis/multi.example.com/v0/gizmos')).status, 404, 'unserved version');
    await ext.deleteCustomResourceDefinition({ name: 'gizmos.multi.example.com' });
  });
});

describe('deletion', () => {
  test('finalizers hold an object with a deletionTimestamp until they are removed', async () => {
    await createNamespace('final');
    await core.createNamespacedConfigMap({
      namespace: 'final',
      body: { metadata: { name: 'held', finalizers: ['example.com/hold'] } },
    });
    // client-node types the DELETE response as V1Status; read the raw answer instead.
    const deleted = await raw('DELETE', '/api/v1/namespaces/final/configmaps/held');
    assert.equal(deleted.status, 200);
    assert.ok(deleted.json.metadata.deletionTimestamp);
    const still = await core.readNamespacedConfigMap({ name: 'held', namespace: 'final' });
    assert.ok(still.metadata?.deletionTimestamp);
    await core.patchNamespacedConfigMap(
      { name: 'held', namespace: 'final', body: { metadata: { finalizers: null } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    assert.equal(
      (await apiError(core.readNamespacedConfigMap({ name: 'held', namespace: 'final' }))).code,
      404,
    );
  });

  test('deleting a namespace terminates it, refuses new content, then removes it and its contents', async () => {
    await createNamespace('doomed');
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'a' } } });
    await core.createNamespacedSecret({ namespace: 'doomed', body: { metadata: { name: 's' } } });
    const events: string[] = [];
    const controller = await new k8s.Watch(kc).watch(
      '/api/v1/namespaces',
      { fieldSelector: 'metadata.name=doomed' },
      (type, obj: k8s.V1Namespace) => events.push(`${type}:${obj.status?.phase}`),
      () => {},
    );
    const ns = await raw('DELETE', '/api/v1/namespaces/doomed');
    assert.equal(ns.json.status.phase, 'Terminating');
    const refused = await apiError(
      core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'b' } } }),
    );
    assert.equal(refused.code, 403);
    assert.equal(refused.body.reason, 'Forbidden');
    await eventually(
      async () => (await codeOf(core.readNamespace({ name: 'doomed' }))) === 404,
      'namespace gone',
    );
    await eventually(async () => events.some((e) => e.startsWith('DELETED')), 'DELETED event');
    controller.abort();
    assert.deepEqual(events.slice(0, 2), ['ADDED:Active', 'MODIFIED:Terminating']);
    const left = await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.namespace=doomed' });
    assert.equal(left.items.length, 0);
  });

  test('ownerReferences: background deletion collects dependents, Orphan keeps them, Foreground waits for them', async () => {
    await createNamespace('gc');
    const owner = async (name: string) =>
      (await core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name } } })).metadata
        ?.uid ?? '';
    const dependent = async (name: string, ownerName: string, uid: string) =>
      core.createNamespacedSecret({
        namespace: 'gc',
        body: {
          metadata: {
            name,
            ownerReferences: [
              { apiVersion: 'v1', kind: 'ConfigMap', name: ownerName, uid, blockOwnerDeletion: true },
            ],
          },
        },
      });
    const secretCode = (name: string) => codeOf(core.readNamespacedSecret({ name, namespace: 'gc' }));

    const bg = await owner('bg');
    await dependent('bg-child', 'bg', bg);
    await core.deleteNamespacedConfigMap({ name: 'bg', namespace: 'gc' });
    await eventually(async () => (await secretCode('bg-child')) === 404, 'background collection');

    const orphanUid = await owner('orphan');
    await dependent('orphan-child', 'orphan', orphanUid);
    await core.deleteNamespacedConfigMap({ name: 'orphan', namespace: 'gc', propagationPolicy: 'Orphan' });
    const kept = await core.readNamespacedSecret({ name: 'orphan-child', namespace: 'gc' });
    assert.equal(kept.metadata?.ownerReferences, undefined);

    const fg = await owner('fg');
    await core.createNamespacedSecret({
      namespace: 'gc',
      body: {
        metadata: {
          name: 'fg-child',
          finalizers: ['example.com/slow'],
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'fg', uid: fg }],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'fg', namespace: 'gc', propagationPolicy: 'Foreground' });
    const waiting = await core.readNamespacedConfigMap({ name: 'fg', namespace: 'gc' });
    assert.ok(waiting.metadata?.deletionTimestamp);
    assert.deepEqual(waiting.metadata?.finalizers, ['foregroundDeletion']);
    await eventually(
      async () =>
        Boolean(
          (await core.readNamespacedSecret({ name: 'fg-child', namespace: 'gc' })).metadata
            ?.deletionTimestamp,
        ),
      'the dependent to be deleting',
    );
    assert.equal(
      await codeOf(core.readNamespacedConfigMap({ name: 'fg', namespace: 'gc' })),
      200,
      'owner waits',
    );
    await core.patchNamespacedSecret(
      { name: 'fg-child', namespace: 'gc', body: { metadata: { finalizers: null } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually(
      async () => (await codeOf(core.readNamespacedConfigMap({ name: 'fg', namespace: 'gc' }))) === 404,
      'the owner to go after its dependent',
    );
  });

  test('deletecollection with a label selector', async () => {
    await createNamespace('bulk');
    for (const [name, tier] of [
      ['a', 'x'],
      ['b', 'x'],
      ['c', 'y'],
    ] as const)
      await core.createNamespacedConfigMap({
        namespace: 'bulk',
        body: { metadata: { name, labels: { tier } } },
      });
    await core.deleteCollectionNamespacedConfigMap({ namespace: 'bulk', labelSelector: 'tier=x' });
    const left = await core.listNamespacedConfigMap({ namespace: 'bulk' });
    assert.deepEqual(
      left.items.map((c) => c.metadata?.name),
      ['c'],
    );
  });
});
