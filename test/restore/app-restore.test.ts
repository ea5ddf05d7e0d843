/**
 * Scenario 1: a realistic two-namespace app with a CRD and custom resources is
 * backed up, its namespaces and CRD deleted, and restored — on a folder and on
 * RGW — every object compared with the original but for runtime fields.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readRestoreRecord } from '../../src/restore/results.ts';
import {
  certificateCrd,
  type Manifest,
  SAMPLE_APP_NAMESPACES,
  sampleApp,
  sampleAppOwned,
} from '../support/fixtures/sample-app.ts';
import {
  assertSameObject,
  backupCreate,
  cairn,
  createAll,
  deleteAndWait,
  fsLocation,
  getLive,
  type KubeObject,
  must,
  s3Location,
  startCluster,
  type TestCluster,
  type TestLocation,
  uidOf,
} from './helpers.ts';

/** Creates the app with its controller-made objects; returns every live object. */
async function deployApp(cluster: TestCluster): Promise<KubeObject[]> {
  const app = await createAll(cluster, sampleApp());
  const find = (kind: string, name: string) =>
    app.find((o) => o.kind === kind && (o.metadata as { name: string }).name === name) as KubeObject;
  const owners = {
    deployment: { uid: uidOf(find('Deployment', 'storefront')) },
    certificate: { uid: uidOf(find('Certificate', 'storefront-tls')) },
  };
  const [rs, ...rest] = await createAll(cluster, sampleAppOwned(owners).slice(0, 1));
  const more = await createAll(cluster, sampleAppOwned(owners, { uid: uidOf(rs as KubeObject) }).slice(1));
  return [...app, rs as KubeObject, ...rest, ...more];
}

const kindName = (o: KubeObject) => `${o.kind}/${(o.metadata as { name: string }).name}`;

for (const storage of ['filesystem', 'rgw'] as const) {
  describe(`restore of a multi-namespace app (${storage})`, () => {
    let cluster: TestCluster;
    let location: TestLocation;
    let original: KubeObject[];

    before(async () => {
      cluster = await startCluster();
      location = storage === 'filesystem' ? await fsLocation() : await s3Location('restore-app');
      original = await deployApp(cluster);
      await backupCreate(
        location,
        cluster,
        'shop-1',
        '--include-namespaces',
        'shop,shop-data',
        '--include-cluster-resources',
        'true',
      );
    });
    after(async () => {
      await cluster?.stop();
      await location?.remove();
    });

    it('restores every object after the namespaces and the CRD were deleted', async () => {
      const namespaces = original.filter((o) => o.kind === 'Namespace');
      assert.deepEqual(
        namespaces.map((n) => (n.metadata as { name: string }).name),
        [...SAMPLE_APP_NAMESPACES],
      );
      const clusterScoped = original.filter((o) =>
        ['ClusterRole', 'ClusterRoleBinding', 'StorageClass'].includes(String(o.kind)),
      );
      await deleteAndWait(cluster, [...namespaces, certificateCrd as Manifest, ...clusterScoped]);
      assert.equal(
        await getLive(cluster, original.find((o) => o.kind === 'Certificate') as KubeObject),
        undefined,
      );

      const run = await cairn(
        location,
        [
          'restore',
          'create',
          'shop-1-restore',
          '--from-backup',
          'shop-1',
          '--location',
          location.url,
          '--kubeconfig',
          cluster.kubeconfig,
        ],
        { spawn: storage === 'filesystem' },
      );
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /Completed/);

      const controllerMade = new Set(['ReplicaSet/storefront-7c9d8b6f5d', 'Pod/storefront-7c9d8b6f5d-x2vqk']);
      for (const object of original) {
        const live = await getLive(cluster, object);
        if (controllerMade.has(kindName(object))) {
          assert.equal(live, undefined, `${kindName(object)} is made by its controller, not restored`);
          continue;
        }
        assertSameObject(live, object);
      }
      // The certificate's Secret points at the restored Certificate by its new uid.
      const certificate = await getLive(
        cluster,
        original.find((o) => o.kind === 'Certificate') as KubeObject,
      );
      const tls = await getLive(
        cluster,
        original.find((o) => kindName(o) === 'Secret/storefront-tls') as KubeObject,
      );
      const refs = (must(tls).metadata as { ownerReferences?: { uid: string; kind: string }[] })
        .ownerReferences;
      assert.deepEqual(
        refs?.map((r) => [r.kind, r.uid]),
        [['Certificate', uidOf(certificate as KubeObject)]],
      );
      // Allocated fields are new, the headless Service stays headless.
      const svc = await getLive(
        cluster,
        original.find((o) => kindName(o) === 'Service/postgres') as KubeObject,
      );
      assert.equal((must(svc).spec as { clusterIP: string }).clusterIP, 'None');

      const { summary, items = [] } = await readRestoreRecord(location.store, 'shop-1-restore', {
        items: true,
      });
      assert.equal(summary.phase, 'Completed');
      assert.equal(summary.totals.failed, 0);
      const skipped = items
        .filter((i) => i.outcome === 'skipped' && /controlled by/.test(i.message ?? ''))
        .map((i) => `${i.resource}/${i.name}`);
      assert.deepEqual(skipped.sort(), [
        'pods/storefront-7c9d8b6f5d-x2vqk',
        'replicasets.apps/storefront-7c9d8b6f5d',
      ]);
      assert.equal(summary.perResource['certificates.cert-manager.io']?.created, 1);
      assert.equal(summary.perResource['customresourcedefinitions.apiextensions.k8s.io']?.created, 1);
    });

    it('a second restore finds everything identical and changes nothing', async () => {
      const run = await cairn(location, [
        'restore',
        'create',
        'shop-1-again',
        '--from-backup',
        'shop-1',
        '--location',
        location.url,
        '--kubeconfig',
        cluster.kubeconfig,
        '-o',
        'json',
      ]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const { summary, items } = JSON.parse(run.stdout) as {
        summary: { totals: Record<string, number> };
        items: { outcome: string; message?: string; resource: string; name: string }[];
      };
      assert.equal(summary.totals.created, 0, JSON.stringify(items.filter((i) => i.outcome === 'created')));
      assert.equal(summary.totals.failed, 0);
      const differing = items.filter(
        (i) => i.outcome === 'skipped' && !/identical|controlled by/.test(i.message ?? ''),
      );
      assert.deepEqual(differing, []);
    });

    it('get and describe show the recorded restore', async () => {
      const get = await cairn(location, ['restore', 'get', 'shop-1-restore', '--location', location.url]);
      assert.equal(get.code, 0, get.stderr);
      assert.match(get.stdout, /shop-1-restore\s+shop-1\s+Completed/);
      const all = await cairn(location, ['restore', 'get', '--location', location.url]);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /^shop-1-restore\s+shop-1\s+Completed.*\n^shop-1-again\s+shop-1\s+Completed/m);
      const describe = await cairn(location, [
        'restore',
        'describe',
        'shop-1-restore',
        '--location',
        location.url,
      ]);
      assert.equal(describe.code, 0, describe.stderr);
      assert.match(describe.stdout, /Phase:\s+Completed/);
      assert.match(
        describe.stdout,
        /skipped\s+replicasets\.apps shop\/storefront-7c9d8b6f5d\s+\(controlled by Deployment storefront/,
      );
      const again = await cairn(location, [
        'restore',
        'create',
        'shop-1-restore',
        '--from-backup',
        'shop-1',
        '--location',
        location.url,
        '--kubeconfig',
        cluster.kubeconfig,
      ]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /restore "shop-1-restore" already exists/);
    });
  });
}
