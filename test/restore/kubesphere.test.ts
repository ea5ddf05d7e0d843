/**
 * Scenario 2: KubeSphere user data (users, global roles, workspace roles and
 * their CRDs) backed up from one cluster (into RGW) and restored into an EMPTY
 * second cluster: the CRDs come first, every object arrives identical, user
 * status (Active/Disabled) included when asked for.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  KUBESPHERE_CRDS,
  kubesphereGlobalRoles,
  kubesphereUserData,
  kubesphereUsers,
  kubesphereWorkspaceRoles,
} from '../support/fixtures/kubesphere.ts';
import {
  assertSameObject,
  backupCreate,
  cairn,
  createAll,
  getLive,
  type KubeObject,
  must,
  s3Location,
  startCluster,
  type TestCluster,
  type TestLocation,
} from './helpers.ts';

describe('restore of KubeSphere user data into an empty cluster (rgw)', () => {
  let source: TestCluster;
  let target: TestCluster;
  let location: TestLocation;
  let original: KubeObject[];

  before(async () => {
    [source, target] = await Promise.all([startCluster(), startCluster()]);
    location = await s3Location('restore-ks');
    original = await createAll(source, kubesphereUserData());
    // What a KubeSphere admin backs up: the three user-data types; the backup pulls their CRDs in.
    await backupCreate(
      location,
      source,
      'ks-users',
      '--include-resources',
      'users.iam.kubesphere.io,globalroles.iam.kubesphere.io,workspaceroles.iam.kubesphere.io',
    );
  });
  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    await location?.remove();
  });

  it('the target lacks the CRDs before the restore', async () => {
    for (const crd of KUBESPHERE_CRDS) assert.equal(await getLive(target, crd), undefined);
  });

  it('restores CRDs first, then identical users (with status), global roles and workspace roles', async () => {
    const run = await cairn(location, [
      'restore',
      'create',
      'ks-users-1',
      '--from-backup',
      'ks-users',
      '--location',
      location.url,
      '--kubeconfig',
      target.kubeconfig,
      '--restore-status',
      'users.iam.kubesphere.io',
      '-o',
      'yaml',
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /phase: Completed/);
    for (const crd of original.filter((o) => o.kind === 'CustomResourceDefinition')) {
      const live = await getLive(target, crd);
      assertSameObject(live, crd);
      const established = (
        must(live).status as { conditions?: { type: string; status: string }[] }
      ).conditions?.find((c) => c.type === 'Established');
      assert.equal(established?.status, 'True');
    }
    const users = original.filter((o) => o.kind === 'User');
    assert.equal(users.length, kubesphereUsers().length);
    for (const user of users) assertSameObject(await getLive(target, user), user, true);
    const roles = original.filter((o) => o.kind === 'GlobalRole' || o.kind === 'WorkspaceRole');
    assert.equal(roles.length, kubesphereGlobalRoles().length + kubesphereWorkspaceRoles().length);
    for (const role of roles) assertSameObject(await getLive(target, role), role);
    const bob = await getLive(
      target,
      users.find((u) => (u.metadata as { name: string }).name === 'bob') as KubeObject,
    );
    assert.equal((must(bob).status as { state: string }).state, 'Disabled');
  });

  it('without --restore-status the users come back without status', async () => {
    const fresh = await startCluster();
    try {
      const run = await cairn(location, [
        'restore',
        'create',
        'ks-users-2',
        '--from-backup',
        'ks-users',
        '--location',
        location.url,
        '--kubeconfig',
        fresh.kubeconfig,
        '--include-resources',
        'users.iam.kubesphere.io',
      ]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      // The CRD came along: custom resources need it, and the backup holds it.
      assert.ok(await getLive(fresh, KUBESPHERE_CRDS[0] as KubeObject));
      assert.equal(await getLive(fresh, KUBESPHERE_CRDS[1] as KubeObject), undefined);
      const admin = await getLive(fresh, kubesphereUsers()[0] as KubeObject);
      assert.deepEqual(admin?.status ?? {}, {}, 'no status restored (the server may answer an empty one)');
    } finally {
      await fresh.stop();
    }
  });
});
