/**
 * Resource backup end to end: the real `cairn` binary against the sandbox API
 * server, storing on a filesystem location and on Ceph RGW, archives read back
 * and compared with what the API server returns.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Sandbox, startSandbox } from '../../sandbox/index.ts';
import { runBackup } from '../../src/backup/engine.ts';
import { BACKUP_FILES, type BackupManifest, backupSpec } from '../../src/catalog/backup-manifest.ts';
import { layout } from '../../src/catalog/layout.ts';
import { LayoutGuardedStore } from '../../src/catalog/layout-guard.ts';
import { openLocation } from '../../src/catalog/open-location.ts';
import { type ArchivedItem, readResourceArchive } from '../../src/catalog/resource-archive.ts';
import { ClusterConnection } from '../../src/cluster/connection.ts';
import { FileSystemBlobStore } from '../../src/storage/fs/fs-store.ts';
import { FaultyBlobStore } from '../../src/storage/wrappers/faulty-store.ts';
import { type CairnRun, runCairn } from '../support/run-cairn.ts';
import { adminClient, createTestBucket, testS3 } from '../support/s3-env.ts';

const s3 = testS3();
const s3Env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };

const widgetsCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
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

async function seed(connection: ClusterConnection): Promise<void> {
  const post = (p: string, body: unknown) => connection.request('POST', p, { body });
  for (const ns of ['shop', 'shop-staging', 'tools'])
    await post('/api/v1/namespaces', { metadata: { name: ns, labels: { team: ns.split('-')[0] } } });
  await post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetsCrd);
  for (let i = 0; i < 40; i++) {
    const established = await connection.request<{
      status?: { conditions?: { type: string; status: string }[] };
    }>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com');
    if (established.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // Enough ConfigMaps to need three LIST pages of 500.
  await Promise.all(
    Array.from({ length: 1_100 }, (_, i) =>
      post('/api/v1/namespaces/shop/configmaps', {
        metadata: {
          name: `cm-${i}`,
          labels: { tier: i % 2 ? 'odd' : 'even', ...(i < 3 ? { keep: 'yes' } : {}) },
        },
        data: { index: String(i), payload: 'x'.repeat(100 + (i % 50)) },
      }),
    ),
  );
  await post('/api/v1/namespaces/shop/secrets', {
    metadata: { name: 'db' },
    type: 'Opaque',
    data: { password: Buffer.from('s3cret').toString('base64') },
  });
  await post('/apis/apps/v1/namespaces/shop/deployments', {
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
      },
    },
  });
  await post('/api/v1/persistentvolumes', {
    metadata: { name: 'pv-shop-data' },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      hostPath: { path: '/data' },
      storageClassName: 'standard',
    },
  });
  await post('/apis/storage.k8s.io/v1/storageclasses', {
    metadata: { name: 'standard' },
    provisioner: 'example.com/hostpath',
  });
  await post('/api/v1/namespaces/shop/persistentvolumeclaims', {
    metadata: { name: 'data' },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      volumeName: 'pv-shop-data',
      storageClassName: 'standard',
    },
  });
  await post('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    metadata: { name: 'shop-reader' },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
  });
  await post('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    metadata: { name: 'unrelated-role' },
    rules: [],
  });
  await post('/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings', {
    metadata: { name: 'readers' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'shop-reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'shop' }],
  });
  await post('/apis/example.com/v1/namespaces/shop/widgets', {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w1' },
    spec: { size: 3 },
  });
  await post('/api/v1/namespaces/tools/configmaps', { metadata: { name: 'tool-config' }, data: { a: 'b' } });
}

async function archiveOf(
  location: string,
  name: string,
  env: Record<string, string> = {},
): Promise<{ manifest: BackupManifest; items: ArchivedItem[] }> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const { store } = openLocation(location, { readOnly: true });
  try {
    const manifest = JSON.parse((await store.get(layout.backupManifest(name))).toString()) as BackupManifest;
    const items: ArchivedItem[] = [];
    for await (const item of readResourceArchive(
      await store.getStream(layout.backupFile(name, BACKUP_FILES.resources)),
    ))
      items.push(item);
    // Every file matches the size and SHA-256 its manifest records.
    for (const [file, record] of Object.entries(manifest.files)) {
      const data = await store.get(layout.backupFile(name, file));
      assert.equal(data.length, record.size, file);
      assert.equal(createHash('sha256').update(data).digest('hex'), record.sha256, file);
    }
    return { manifest, items };
  } finally {
    await store.close();
    process.env = saved;
  }
}

const keysOf = (items: ArchivedItem[], resource: string) =>
  items
    .filter((i) => i.path.startsWith(`resources/${resource}/`))
    .map((i) => `${i.ref.namespace ?? ''}/${i.ref.name}`)
    .sort();

/** `cairn backup create NAME` of the sandbox into a location, with extra flags. */
function backupCreate(
  name: string,
  location: string,
  kubeconfig: string,
  ...flags: string[]
): Promise<CairnRun> {
  return runCairn(['backup', 'create', name, '--location', location, '--kubeconfig', kubeconfig, ...flags]);
}

function ok(run: CairnRun): CairnRun {
  assert.equal(run.code, 0, `cairn failed:\n${run.stdout}\n${run.stderr}`);
  return run;
}

function refused(run: CairnRun, message: RegExp): void {
  assert.notEqual(run.code, 0, run.stdout);
  assert.match(run.stderr, /^error: /m);
  assert.match(run.stderr, /^hint: /m);
  assert.match(run.stderr, message);
  assert.doesNotMatch(run.stderr, /^\s+at /m);
}

describe('cairn backup against the sandbox', () => {
  let sandbox: Sandbox;
  let connection: ClusterConnection;
  let base: string;
  let bucket: { bucket: string; remove(): Promise<void> };
  const admin = adminClient(s3);
  let fsLocation: string;
  let s3Location: string;

  before(async () => {
    sandbox = await startSandbox();
    connection = await ClusterConnection.connect({ kubeconfig: sandbox.kubeconfig });
    await seed(connection);
    base = await mkdtemp(path.join(tmpdir(), 'cairn-backup-test-'));
    fsLocation = path.join(base, 'location');
    bucket = await createTestBucket(admin, 'backup');
    s3Location = `s3://${bucket.bucket}/cairn?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}`;
    ok(await runCairn(['location', 'init', fsLocation]));
    ok(await runCairn(['location', 'init', s3Location], s3Env));
  });

  after(async () => {
    connection?.close();
    await sandbox?.stop();
    await rm(base, { recursive: true, force: true });
    await bucket?.remove();
    admin.destroy();
  });

  for (const target of ['filesystem', 'rgw'] as const) {
    it(`backs up the whole cluster to ${target}, every object as the API server returns it`, async () => {
      const location = target === 'filesystem' ? fsLocation : s3Location;
      const env = target === 'filesystem' ? {} : s3Env;
      const run = ok(
        await runCairn(
          ['backup', 'create', 'full', '--location', location, '--kubeconfig', sandbox.kubeconfig],
          env,
        ),
      );
      assert.match(run.stdout, /Backup "full" Completed: \d+ items/);
      const { manifest, items } = await archiveOf(location, 'full', env);
      assert.equal(manifest.status.phase, 'Completed');
      assert.equal(manifest.status.itemsBackedUp, items.length);
      assert.equal(
        keysOf(items, 'configmaps').filter((k) => k.startsWith('shop/')).length,
        1_100,
        'all LIST pages',
      );
      assert.equal(manifest.status.perResource.configmaps, keysOf(items, 'configmaps').length);
      assert.deepEqual(keysOf(items, 'widgets.example.com'), ['shop/w1']);
      assert.deepEqual(keysOf(items, 'customresourcedefinitions.apiextensions.k8s.io'), [
        '/widgets.example.com',
      ]);
      assert.ok(
        keysOf(items, 'clusterroles.rbac.authorization.k8s.io').includes('/unrelated-role'),
        'whole-cluster backups take all cluster-scoped objects',
      );
      assert.deepEqual(keysOf(items, 'events'), [], 'events are left out by default');
      // Byte-for-byte what the server returns (apiVersion/kind filled in, as LIST items lack them).
      const live = await connection.request<Record<string, unknown>>(
        'GET',
        '/apis/apps/v1/namespaces/shop/deployments/web',
      );
      const archived = items.find((i) => i.path === 'resources/deployments.apps/v1/namespaces/shop/web.json');
      assert.deepEqual(archived?.object, live);
      const secret = items.find((i) => i.ref.resource === 'secrets' && i.ref.name === 'db');
      assert.equal(
        (secret?.object.data as Record<string, string> | undefined)?.password,
        Buffer.from('s3cret').toString('base64'),
      );

      const get = ok(await runCairn(['backup', 'get', '--location', location], env));
      assert.match(get.stdout, /full\s+Completed\s+\d+\s+0/);
      const describe = ok(await runCairn(['backup', 'describe', 'full', '--location', location], env));
      assert.match(describe.stdout, /configmaps\s+11\d\d/);
      assert.match(describe.stdout, /resources\.tar\.zst .* sha256:[0-9a-f]{64}/);
      const logs = ok(await runCairn(['backup', 'logs', 'full', '--location', location], env));
      assert.match(logs.stdout, /info\s+listed .*"resource":"configmaps".*"count":11\d\d/);
    });
  }

  it('narrows to namespaces and pulls in the cluster objects they need (PV, StorageClass, ClusterRole, CRD)', async () => {
    ok(
      await runCairn([
        'backup',
        'create',
        'shop-only',
        '--location',
        fsLocation,
        '--kubeconfig',
        sandbox.kubeconfig,
        '--include-namespaces',
        'shop*',
        '--exclude-namespaces',
        'shop-staging',
      ]),
    );
    const { manifest, items } = await archiveOf(fsLocation, 'shop-only');
    assert.deepEqual(Object.keys(manifest.status.perNamespace).sort(), ['', 'shop']);
    assert.deepEqual(keysOf(items, 'persistentvolumes'), ['/pv-shop-data']);
    assert.deepEqual(keysOf(items, 'storageclasses.storage.k8s.io'), ['/standard']);
    assert.deepEqual(keysOf(items, 'clusterroles.rbac.authorization.k8s.io'), ['/shop-reader']);
    assert.deepEqual(keysOf(items, 'customresourcedefinitions.apiextensions.k8s.io'), [
      '/widgets.example.com',
    ]);
    assert.deepEqual(keysOf(items, 'namespaces'), ['/shop']);
    assert.deepEqual(
      keysOf(items, 'configmaps').filter((k) => k.startsWith('tools/')),
      [],
    );
  });

  it('selects by resource name (with its CRD) and by OR-ed label selectors', async () => {
    ok(await backupCreate('widgets', fsLocation, sandbox.kubeconfig, '--include-resources', 'wd'));
    const widgets = await archiveOf(fsLocation, 'widgets');
    assert.deepEqual(widgets.items.map((i) => i.path).sort(), [
      'resources/customresourcedefinitions.apiextensions.k8s.io/v1/cluster/widgets.example.com.json',
      'resources/widgets.example.com/v1/namespaces/shop/w1.json',
    ]);
    ok(
      await runCairn([
        'backup',
        'create',
        'labelled',
        '--location',
        fsLocation,
        '--kubeconfig',
        sandbox.kubeconfig,
        '--include-resources',
        'configmaps,namespaces',
        '-l',
        'keep=yes',
        '-l',
        'team=tools',
      ]),
    );
    const labelled = await archiveOf(fsLocation, 'labelled');
    assert.deepEqual(keysOf(labelled.items, 'configmaps'), ['shop/cm-0', 'shop/cm-1', 'shop/cm-2']);
    assert.deepEqual(keysOf(labelled.items, 'namespaces'), ['/tools']);
  });

  it('refuses bad input with a clear error and writes nothing', async () => {
    const before = (await readdir(path.join(fsLocation, 'backups'))).sort();
    refused(
      await runCairn([
        'backup',
        'create',
        'full',
        '--location',
        fsLocation,
        '--kubeconfig',
        sandbox.kubeconfig,
      ]),
      /a backup named "full" already exists/,
    );
    refused(
      await runCairn([
        'backup',
        'create',
        'x1',
        '--location',
        fsLocation,
        '--kubeconfig',
        sandbox.kubeconfig,
        '--include-resources',
        'deploymnts',
      ]),
      /no resource type "deploymnts"[\s\S]*Did you mean "deployments\.apps"/,
    );
    refused(
      await runCairn([
        'backup',
        'create',
        'x2',
        '--location',
        fsLocation,
        '--kubeconfig',
        sandbox.kubeconfig,
        '--include-namespaces',
        'shopp',
      ]),
      /namespace "shopp" does not exist[\s\S]*"shop"/,
    );
    refused(
      await runCairn([
        'backup',
        'create',
        'x3',
        '--location',
        path.join(base, 'not-initialised'),
        '--kubeconfig',
        sandbox.kubeconfig,
      ]),
      /does not exist|not a usable Cairn location/,
    );
    refused(
      await runCairn([
        'backup',
        'create',
        'Bad_Name',
        '--location',
        fsLocation,
        '--kubeconfig',
        sandbox.kubeconfig,
      ]),
      /invalid backup name/,
    );
    assert.deepEqual((await readdir(path.join(fsLocation, 'backups'))).sort(), before);

    // An API server that is not there: the error names its URL.
    const dead = sandbox.kubeconfigYaml.replace(sandbox.url, 'http://127.0.0.1:9');
    const deadConfig = path.join(base, 'dead.kubeconfig');
    await writeFile(deadConfig, dead);
    refused(
      await runCairn(['backup', 'create', 'x4', '--location', fsLocation, '--kubeconfig', deadConfig]),
      /cannot reach the Kubernetes API server at http:\/\/127\.0\.0\.1:9/,
    );
    assert.deepEqual((await readdir(path.join(fsLocation, 'backups'))).sort(), before);
    refused(
      await runCairn(['backup', 'describe', 'fulll', '--location', fsLocation]),
      /backup "fulll" does not exist[\s\S]*Did you mean "full"/,
    );
  });

  it('leaves no manifest — an incomplete backup, shown as such — when storage fails midway', async () => {
    const root = path.join(base, 'location');
    const faulty = new FaultyBlobStore(new FileSystemBlobStore(root));
    faulty.inject({
      operation: 'put',
      key: /resources\.tar\.zst$/,
      failure: 'transient',
      afterBytes: 20_000,
    });
    await assert.rejects(
      runBackup({
        name: 'broken',
        spec: backupSpec(),
        connection,
        store: new LayoutGuardedStore(faulty),
        pageSize: 50,
      }),
      /injected transient failure/,
    );
    const leftovers: string[] = await readdir(path.join(root, 'backups', 'broken')).catch(() => []);
    assert.ok(
      !leftovers.includes('manifest.json'),
      `no manifest may be written, found ${leftovers.join(', ')}`,
    );
    assert.ok(!leftovers.includes('resources.tar.zst'), 'the failed archive is not visible');
    if (leftovers.length > 0) {
      const get = ok(await runCairn(['backup', 'get', '--location', fsLocation]));
      assert.match(get.stdout, /broken\s+Incomplete/);
      refused(
        await runCairn(['backup', 'describe', 'broken', '--location', fsLocation]),
        /backup "broken" is incomplete/,
      );
    }
  });

  it('deletes a backup only with --confirm, manifest first', async () => {
    if ((await runCairn(['backup', 'get', 'widgets', '--location', fsLocation])).code !== 0) {
      ok(await backupCreate('widgets', fsLocation, sandbox.kubeconfig, '--include-resources', 'wd'));
    }
    refused(await runCairn(['backup', 'delete', 'widgets', '--location', fsLocation]), /--confirm/);
    ok(await runCairn(['backup', 'delete', 'widgets', '--location', fsLocation, '--confirm']));
    refused(await runCairn(['backup', 'get', 'widgets', '--location', fsLocation]), /does not exist/);
  });

  it('downloads the archive only when it matches its manifest, never over an existing file', async () => {
    const target = path.join(base, 'shop-only.tar.zst');
    const saved = ok(
      await runCairn(['backup', 'download', 'shop-only', '--location', fsLocation, '--file', target]),
    );
    assert.match(saved.stdout, /sha256 verified/);
    const { manifest } = await archiveOf(fsLocation, 'shop-only');
    const bytes = await readFile(target);
    assert.equal(
      createHash('sha256').update(bytes).digest('hex'),
      manifest.files[BACKUP_FILES.resources]?.sha256,
    );
    refused(
      await runCairn(['backup', 'download', 'shop-only', '--location', fsLocation, '--file', target]),
      /already exists/,
    );

    // Damage the stored archive: the download is refused and leaves no file behind.
    const stored = path.join(fsLocation, 'backups', 'shop-only', BACKUP_FILES.resources);
    const damaged = Buffer.from(await readFile(stored));
    damaged[damaged.length >> 1] = (damaged[damaged.length >> 1] ?? 0) ^ 0x01;
    await writeFile(stored, damaged);
    const second = path.join(base, 'damaged.tar.zst');
    refused(
      await runCairn(['backup', 'download', 'shop-only', '--location', fsLocation, '--file', second]),
      /does not match its manifest/,
    );
    assert.deepEqual(
      (await readdir(base)).filter((f) => f.startsWith('damaged')),
      [],
    );
  });
});

describe('a LIST whose continue token expires mid-way (410)', () => {
  it('lists the type again from the start and stores every object once', async () => {
    const requests: string[] = [];
    let expireOnce: (() => void) | undefined;
    const sandbox = await startSandbox({
      log: (line) => {
        requests.push(line);
        // The first page of the ConfigMaps has been answered: the API server compacts (after a
        // write), so the continue token the backup holds — and asks for the next page with while
        // it archives this one — is too old.
        if (/^GET \/api\/v1\/namespaces\/relist\/configmaps\?.*limit=10 200/.test(line)) expireOnce?.();
      },
    });
    const connection = await ClusterConnection.connect({ kubeconfig: sandbox.kubeconfig });
    const base = await mkdtemp(path.join(tmpdir(), 'cairn-backup-410-'));
    try {
      await connection.request('POST', '/api/v1/namespaces', { body: { metadata: { name: 'relist' } } });
      for (let i = 0; i < 35; i++)
        await connection.request('POST', '/api/v1/namespaces/relist/configmaps', {
          body: { metadata: { name: `cm-${i}` }, data: { i: String(i) } },
        });
      const configmaps = sandbox.cluster.registry.get('', 'v1', 'configmaps');
      assert.ok(configmaps);
      expireOnce = () => {
        expireOnce = undefined;
        // Synchronously, before the server reads its next request: one write, then a compaction.
        sandbox.cluster.create(
          { type: configmaps, version: 'v1', namespace: 'relist' },
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-late' } },
          {},
        );
        sandbox.cluster.store.compactListsBefore(sandbox.cluster.store.revision);
      };
      const store = new LayoutGuardedStore(new FileSystemBlobStore(path.join(base, 'location')));
      ok(await runCairn(['location', 'init', path.join(base, 'location')]));
      const manifest = await runBackup({
        name: 'relisted',
        spec: backupSpec({ includeNamespaces: ['relist'], includeResources: ['configmaps'] }),
        connection,
        store,
        pageSize: 10,
      });
      assert.ok(
        requests.some((r) => /^GET \/api\/v1\/namespaces\/relist\/configmaps\?.*continue=.* 410 /.test(r)),
        `a continue request was refused with 410:\n${requests.join('\n')}`,
      );
      const { items } = await archiveOf(path.join(base, 'location'), 'relisted');
      const names = keysOf(items, 'configmaps');
      assert.equal(new Set(names).size, names.length, 'no object twice');
      // The 35 seeded ones and the late one (the relist sees it), whatever else the namespace holds.
      for (let i = 0; i < 35; i++) assert.ok(names.includes(`relist/cm-${i}`), `relist/cm-${i}`);
      assert.ok(names.includes('relist/cm-late'));
      assert.equal(manifest.status.errors, 0);
      assert.equal(manifest.status.perResource.configmaps, names.length);
    } finally {
      connection.close();
      await sandbox.stop();
      await rm(base, { recursive: true, force: true });
    }
  });
});
