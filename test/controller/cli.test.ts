/**
 * `cairn backup create` with the controller installed: the real CLI creates a
 * Backup resource, `--wait` follows it to Completed (exit 0) or to a failure
 * (exit 1), `-o yaml` prints the resource without submitting it, and
 * `--local --location` still backs up inline.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { Backup } from '../../src/api/backup.ts';
import type { Controller } from '../../src/controller/controller.ts';
import { runCairn } from '../support/run-cairn.ts';
import {
  type ControllerCluster,
  fsBackupLocation,
  startControllerCluster,
  startTestController,
} from './support.ts';

describe('controller: cairn backup create through Backup resources', () => {
  let cluster: ControllerCluster;
  let controller: Controller;

  before(async () => {
    cluster = await startControllerCluster({ sampleApp: true });
    await fsBackupLocation(cluster, 'primary', { default: true });
    controller = startTestController(cluster);
  });

  after(async () => {
    await controller?.stop();
    await cluster?.stop(); // the sandbox, the connection and the temp folders
  });

  it('creates a Backup resource and --wait follows it to Completed', async () => {
    const run = await runCairn([
      'backup',
      'create',
      'via-controller',
      '--include-namespaces',
      'shop',
      '--ttl',
      '72h',
      '--wait',
      '--kubeconfig',
      cluster.kubeconfig,
    ]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(
      run.stdout,
      /Backup "via-controller" Completed: \d+ items into BackupLocation "primary"; 0 errors/,
    );
    const backup = await cluster.resources.get<Backup>('backups', 'via-controller');
    assert.deepEqual(backup?.spec, {
      includeNamespaces: ['shop'],
      excludeNamespaces: [],
      includeResources: [],
      excludeResources: [],
      includeClusterResources: 'auto',
      labelSelectors: [],
      allVersions: false,
      ttl: '72h',
    });
    assert.equal(backup?.status?.phase, 'Completed');
  });

  it('exits non-zero when the Backup fails validation, and says why', async () => {
    const run = await runCairn([
      'backup',
      'create',
      'nowhere-1',
      '--location',
      'nowhere',
      '--wait',
      '--kubeconfig',
      cluster.kubeconfig,
    ]);
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /FailedValidation:\n {2}spec\.storageLocation: BackupLocation "nowhere" does not exist/,
    );
  });

  it('-o yaml prints the resource without submitting it', async () => {
    const run = await runCairn([
      'backup',
      'create',
      'dry',
      '--include-namespaces',
      'shop',
      '-o',
      'yaml',
      '--kubeconfig',
      cluster.kubeconfig,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const printed = parse(run.stdout) as Backup;
    assert.equal(printed.kind, 'Backup');
    assert.equal(printed.apiVersion, 'cairn.dev/v1alpha1');
    assert.equal(printed.metadata.namespace, 'cairn-system');
    assert.deepEqual(printed.spec.includeNamespaces, ['shop']);
    assert.equal(await cluster.resources.get('backups', 'dry'), undefined);
  });

  it('refuses a URL as --location on the controller path, and --local still runs inline', async (t) => {
    const parent = await mkdtemp(join(tmpdir(), 'cairn-cli-local-'));
    t.after(() => rm(parent, { recursive: true, force: true }));
    const dir = join(parent, 'loc');
    const refused = await runCairn([
      'backup',
      'create',
      'x',
      '--location',
      dir,
      '--kubeconfig',
      cluster.kubeconfig,
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /CLI_LOCATION_IS_URL|looks like a URL/);
    assert.equal((await runCairn(['location', 'init', dir])).code, 0);
    const local = await runCairn([
      'backup',
      'create',
      'inline',
      '--local',
      '--location',
      dir,
      '--include-namespaces',
      'shop',
      '--kubeconfig',
      cluster.kubeconfig,
    ]);
    assert.equal(local.code, 0, local.stderr);
    assert.match(local.stdout, /Backup "inline" Completed/);
    assert.equal(await cluster.resources.get('backups', 'inline'), undefined);
  });
});
