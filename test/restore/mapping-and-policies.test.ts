/**
 * Scenario 3: namespace and storage-class mapping into a second cluster.
 * Scenario 4: restoring over existing objects with each policy (skip, update,
 * recreate, fail, per-type overrides) and the dry-run plan with diffs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RestoreItemResult, readRestoreRecord } from '../../src/restore/results.ts';
import { sampleApp } from '../support/fixtures/sample-app.ts';
import {
  assertSameObject,
  backupCreate,
  cairn,
  createAll,
  fsLocation,
  getLive,
  type KubeObject,
  must,
  objectPath,
  startCluster,
  type TestCluster,
  type TestLocation,
  uidOf,
} from './helpers.ts';

const nameOf = (o: KubeObject | undefined) => (must(o).metadata as { name: string }).name;
const find = (objects: KubeObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && nameOf(o) === name) as KubeObject;

describe('restore with mappings into another cluster, and over existing objects', () => {
  let source: TestCluster;
  let location: TestLocation;
  let original: KubeObject[];

  before(async () => {
    source = await startCluster();
    location = await fsLocation();
    original = await createAll(source, sampleApp());
    await backupCreate(
      location,
      source,
      'shop',
      '--include-namespaces',
      'shop,shop-data',
      '--include-cluster-resources',
      'true',
    );
  });
  after(async () => {
    await source?.stop();
    await location?.remove();
  });

  const restore = (name: string, cluster: TestCluster, ...flags: string[]) =>
    cairn(location, [
      'restore',
      'create',
      name,
      '--from-backup',
      'shop',
      '--location',
      location.url,
      '--kubeconfig',
      cluster.kubeconfig,
      ...flags,
    ]);

  it('maps namespaces (objects, Namespace objects, ServiceAccount subjects) and storage classes', async () => {
    const target = await startCluster();
    try {
      const run = await restore(
        'mapped',
        target,
        '--namespace-mapping',
        'shop:shop-staging,shop-data:shop-staging-data',
        '--storage-class-mapping',
        'shop-standard:fast-ssd',
      );
      assert.equal(run.code, 0, run.stdout + run.stderr);
      for (const [from, to] of [
        ['shop', 'shop-staging'],
        ['shop-data', 'shop-staging-data'],
      ] as const) {
        const ns = await getLive(target, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: to } });
        assert.equal((must(ns).metadata as { labels: Record<string, string> }).labels.team, 'commerce');
        assert.equal(
          await getLive(target, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: from } }),
          undefined,
        );
      }
      for (const object of original.filter(
        (o) => (o.metadata as { namespace?: string }).namespace !== undefined,
      )) {
        const meta = object.metadata as { namespace: string; name: string };
        const moved = {
          ...object,
          metadata: { ...meta, namespace: meta.namespace === 'shop' ? 'shop-staging' : 'shop-staging-data' },
        };
        const live = await getLive(target, moved);
        assert.ok(live, `${object.kind} ${meta.name} is in the mapped namespace`);
      }
      const rb = await getLive(target, {
        ...find(original, 'RoleBinding', 'storefront-reader'),
        metadata: { name: 'storefront-reader', namespace: 'shop-staging' },
      });
      assert.deepEqual(rb?.subjects, [
        { kind: 'ServiceAccount', name: 'storefront', namespace: 'shop-staging' },
      ]);
      const crb = await getLive(target, find(original, 'ClusterRoleBinding', 'shop-node-reader'));
      assert.deepEqual(crb?.subjects, [
        { kind: 'ServiceAccount', name: 'storefront', namespace: 'shop-staging' },
      ]);
      const pvc = await getLive(target, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data-postgres-0', namespace: 'shop-staging-data' },
      });
      assert.equal((must(pvc).spec as { storageClassName: string }).storageClassName, 'fast-ssd');
      const sts = await getLive(target, {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'postgres', namespace: 'shop-staging-data' },
      });
      const templates = (must(sts).spec as { volumeClaimTemplates: { spec: { storageClassName: string } }[] })
        .volumeClaimTemplates;
      assert.equal(templates[0]?.spec.storageClassName, 'fast-ssd');
      // The StorageClass object keeps its name: the mapping names the target's class, it does not rename.
      assert.ok(await getLive(target, find(original, 'StorageClass', 'shop-standard')));
      // The Certificate (custom resource) landed in the mapped namespace of the other cluster.
      assert.ok(
        await getLive(target, {
          apiVersion: 'cert-manager.io/v1',
          kind: 'Certificate',
          metadata: { name: 'storefront-tls', namespace: 'shop-staging' },
        }),
      );
    } finally {
      await target.stop();
    }
  });

  it('restores only what the filters select, creating the namespace it needs', async () => {
    const target = await startCluster();
    try {
      const run = await restore(
        'filtered',
        target,
        '--include-namespaces',
        'shop-data',
        '--include-resources',
        'cm,secrets',
        '-l',
        'app.kubernetes.io/name=postgres',
      );
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.ok(await getLive(target, find(original, 'ConfigMap', 'postgres-init')));
      assert.ok(await getLive(target, find(original, 'Secret', 'postgres-credentials')));
      assert.equal(await getLive(target, find(original, 'StatefulSet', 'postgres')), undefined);
      assert.equal(await getLive(target, find(original, 'ConfigMap', 'storefront-config')), undefined);
      assert.ok(await getLive(target, find(original, 'Namespace', 'shop-data')));
    } finally {
      await target.stop();
    }
  });

  it('waits for a namespace that is still terminating, then restores into it', async () => {
    const target = await startCluster();
    try {
      // A finalizer holds the namespace in Terminating until "its controller" lets go.
      await createAll(target, [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-data' } },
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'held', namespace: 'shop-data', finalizers: ['example.com/hold'] },
        },
      ]);
      const nsPath = await objectPath(target, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'shop-data' },
      });
      await target.connection.request('DELETE', nsPath);
      // Let the namespace go only once the restore has seen it terminating (no timing guess).
      let sawTerminating = () => {};
      const seen = new Promise<void>((resolve) => {
        sawTerminating = resolve;
      });
      const running = cairn(
        location,
        [
          'restore',
          'create',
          'terminating',
          '--from-backup',
          'shop',
          '--location',
          location.url,
          '--kubeconfig',
          target.kubeconfig,
          '--include-namespaces',
          'shop-data',
        ],
        { onStderr: (text) => (/to finish terminating/.test(text) ? sawTerminating() : undefined) },
      );
      await seen;
      const held = await target.connection.request<KubeObject>('GET', `${nsPath}/configmaps/held`);
      (held.metadata as { finalizers?: string[] }).finalizers = [];
      await target.connection.request('PUT', `${nsPath}/configmaps/held`, { body: held });
      const run = await running;
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const ns = must(
        await getLive(target, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-data' } }),
      );
      assert.equal((ns.status as { phase: string }).phase, 'Active');
      const { items = [] } = await readRestoreRecord(location.store, 'terminating', { items: true });
      const nsResult = items.find((i) => i.resource === 'namespaces' && i.name === 'shop-data');
      assert.equal(nsResult?.outcome, 'created');
      assert.match(nsResult?.message ?? '', /terminating; waited until it was gone/);
      assert.ok(await getLive(target, find(original, 'StatefulSet', 'postgres')));
    } finally {
      await target.stop();
    }
  });

  describe('over existing objects', () => {
    let changed: Record<string, KubeObject>;

    before(async () => {
      // Drift after the backup: edited config, rotated secret, scaled deployment, one extra object.
      const edit = async (kind: string, name: string, change: (o: KubeObject) => void) => {
        const live = await getLive(source, find(original, kind, name));
        const copy = structuredClone(live) as KubeObject;
        change(copy);
        return await source.connection.request<KubeObject>('PUT', await objectPath(source, copy), {
          body: copy,
        });
      };
      changed = {
        config: await edit('ConfigMap', 'storefront-config', (o) => {
          (o.data as Record<string, string>).LOG_LEVEL = 'debug';
        }),
        secret: await edit('Secret', 'storefront-db', (o) => {
          (o.data as Record<string, string>).password = Buffer.from('rotated').toString('base64');
        }),
        deployment: await edit('Deployment', 'storefront', (o) => {
          (o.spec as { replicas: number }).replicas = 7;
        }),
        role: await edit('Role', 'storefront-reader', (o) => {
          (o.rules as unknown[]).push({ apiGroups: [''], resources: ['pods'], verbs: ['delete'] });
        }),
      };
    });

    const liveOf = async (key: string) => (await getLive(source, changed[key] as KubeObject)) as KubeObject;

    it('dry run: plans skip/update/recreate/conflict with diffs and changes nothing', async () => {
      const before = await Promise.all(Object.keys(changed).map(liveOf));
      const run = await restore(
        'dry',
        source,
        '--dry-run',
        '--existing-resource-policy',
        'skip,secrets=update,configmaps=recreate,roles=fail',
      );
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(
        run.stdout,
        /^recreate configmaps shop\/storefront-config {2}\(exists and differs; policy recreate/m,
      );
      assert.match(run.stdout, /^ {4}- {3}LOG_LEVEL: debug$/m);
      assert.match(run.stdout, /^ {4}\+ {3}LOG_LEVEL: info$/m);
      assert.match(run.stdout, /^update {3}secrets shop\/storefront-db/m);
      assert.match(run.stdout, /^conflict roles.rbac.authorization.k8s.io shop\/storefront-reader/m);
      assert.match(
        run.stdout,
        /^skip {5}deployments.apps shop\/storefront {2}\(exists and differs; policy skip/m,
      );
      assert.match(run.stdout, /^ {4}- {3}replicas: 7$/m);
      assert.match(run.stdout, /^ {4}\+ {3}password: <redacted sha256:[0-9a-f]{12}>$/m);
      assert.doesNotMatch(run.stdout, /cm90YXRlZA==|czNjcjN0/, 'no secret values in the plan');
      assert.match(run.stdout, /^skip {5}services shop\/storefront {2}\(exists, identical\)/m);
      assert.match(run.stdout, /Dry run of restore dry .* nothing changed/);
      const after = await Promise.all(Object.keys(changed).map(liveOf));
      assert.deepEqual(after, before);
      const record = await cairn(location, ['restore', 'get', 'dry', '--location', location.url]);
      assert.equal(record.code, 1, 'a dry run records nothing');
    });

    it('skip (the default) keeps the live objects and reports that they differ', async () => {
      const run = await restore('skip', source, '-o', 'json');
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const { items } = JSON.parse(run.stdout) as { items: RestoreItemResult[] };
      const config = items.find((i) => i.name === 'storefront-config');
      assert.deepEqual(
        [config?.outcome, config?.message],
        ['skipped', 'exists, differs from the backup (policy skip)'],
      );
      assert.equal(
        items.find((i) => i.resource === 'services' && i.name === 'storefront')?.message,
        'exists, identical',
      );
      assert.equal(((await liveOf('deployment')).spec as { replicas: number }).replicas, 7);
    });

    it('fail reports a conflict per differing object and exits 1 (PartiallyFailed)', async () => {
      const run = await restore('fail', source, '--existing-resource-policy', 'skip,roles=fail');
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(
        run.stdout,
        /FAILED {2}roles.rbac.authorization.k8s.io shop\/storefront-reader: exists and differs from the backup \(policy fail\)/,
      );
      assert.match(run.stdout, /PartiallyFailed/);
      const { summary } = await readRestoreRecord(location.store, 'fail');
      assert.equal(summary.phase, 'PartiallyFailed');
      assert.equal(summary.totals.failed, 1);
      assert.equal(((await liveOf('role')).rules as unknown[]).length, 3);
    });

    it('per-type update and recreate bring the backup back; recreate makes a new object', async () => {
      const configUid = uidOf(await liveOf('config'));
      const secretUid = uidOf(await liveOf('secret'));
      const run = await restore(
        'mixed',
        source,
        '--existing-resource-policy',
        'skip,secrets=update,configmaps=recreate,deploy=update,roles=update',
      );
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const config = await liveOf('config');
      assertSameObject(config, find(original, 'ConfigMap', 'storefront-config'));
      assert.notEqual(uidOf(config), configUid, 'recreated: a new object');
      const secret = await liveOf('secret');
      assertSameObject(secret, find(original, 'Secret', 'storefront-db'));
      assert.equal(uidOf(secret), secretUid, 'updated in place');
      assertSameObject(await liveOf('deployment'), find(original, 'Deployment', 'storefront'));
      assertSameObject(await liveOf('role'), find(original, 'Role', 'storefront-reader'));
      const { items = [] } = await readRestoreRecord(location.store, 'mixed', { items: true });
      const outcome = (name: string, resource: string) =>
        items.find((i) => i.name === name && i.resource === resource)?.outcome;
      assert.equal(outcome('storefront-config', 'configmaps'), 'recreated');
      assert.equal(outcome('storefront-db', 'secrets'), 'updated');
      assert.equal(outcome('storefront', 'deployments.apps'), 'updated');
      assert.equal(outcome('postgres-init', 'configmaps'), 'skipped');
    });
  });
});
