/**
 * `cairn install` / `cairn uninstall` against the sandbox, checked with the
 * real kubectl: the rendered manifests are valid for `kubectl apply`, the
 * install is idempotent, RBAC and the Deployment are what docs/controller.md
 * says, and uninstall never touches storage.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { type ApiSandbox, ok, startApiSandbox } from './support.ts';

const CRDS = [
  'backuplocations.cairn.dev',
  'backups.cairn.dev',
  'restores.cairn.dev',
  'schedules.cairn.dev',
  'etcdbackups.cairn.dev',
];

interface Crd {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/** Every file under `dir` with its SHA-256 (what "storage untouched" means). */
async function snapshotTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    out[full.slice(dir.length)] = createHash('sha256')
      .update(await readFile(full))
      .digest('hex');
  }
  return out;
}

describe('cairn install --dry-run', () => {
  let api: ApiSandbox;
  before(async () => {
    api = await startApiSandbox();
  });
  after(async () => {
    await api?.stop();
  });

  it('-o yaml is accepted by kubectl apply --dry-run=client', async () => {
    const rendered = ok(await api.cairn(['install', '--dry-run', '-o', 'yaml']), 'install --dry-run -o yaml');
    const docs = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as { kind: string });
    assert.equal(docs.length, 13);
    assert.deepEqual(
      [...new Set(docs.map((d) => d.kind))],
      [
        'Namespace',
        'CustomResourceDefinition',
        'ServiceAccount',
        'ClusterRole',
        'ClusterRoleBinding',
        'Role',
        'RoleBinding',
        'Service',
        'Deployment',
      ],
    );
    // Every RBAC rule says why it exists.
    assert.equal((rendered.stdout.match(/^ {2}# /gm) ?? []).length, 3 + 5);
    const applied = ok(
      await api.kubectl(['apply', '--dry-run=client', '-f', '-'], rendered.stdout),
      'kubectl apply',
    );
    for (const crd of CRDS)
      assert.match(
        applied.stdout,
        new RegExp(`customresourcedefinition.apiextensions.k8s.io/${crd} created \\(dry run\\)`),
      );
    assert.match(applied.stdout, /deployment.apps\/cairn created \(dry run\)/);
    assert.match(applied.stdout, /clusterrole.rbac.authorization.k8s.io\/cairn created \(dry run\)/);
    // Nothing was created.
    const crds = await api.kubectlJson<{ items: Crd[] }>(['get', 'crd']);
    assert.equal(crds.items.filter((c) => c.metadata.name.endsWith('.cairn.dev')).length, 0);
  });

  it('-o json is a v1 List kubectl accepts, with the chosen namespace and image', async () => {
    const rendered = ok(
      await api.cairn([
        'install',
        '--dry-run',
        '-o',
        'json',
        '-n',
        'backup-ops',
        '--image',
        'registry.example/cairn:test',
      ]),
      'install --dry-run -o json',
    );
    const list = JSON.parse(rendered.stdout) as {
      kind: string;
      items: { kind: string; metadata: { name: string; namespace?: string } }[];
    };
    assert.equal(list.kind, 'List');
    const deployment = list.items.find((i) => i.kind === 'Deployment') as unknown as {
      metadata: { namespace: string };
      spec: { template: { spec: { containers: { image: string; args: string[] }[] } } };
    };
    assert.equal(deployment.metadata.namespace, 'backup-ops');
    assert.equal(deployment.spec.template.spec.containers[0]?.image, 'registry.example/cairn:test');
    // The args are flags the real `cairn server` accepts (the image's ENTRYPOINT is `cairn server`):
    // it gets as far as loading the kubeconfig.
    const args = deployment.spec.template.spec.containers[0]?.args ?? [];
    const server = await api.cairn(['server', ...args, '--kubeconfig', '/nonexistent/kubeconfig']);
    assert.notEqual(server.code, 0);
    assert.doesNotMatch(server.stderr, /unknown option|too many arguments/);
    assert.match(server.stderr, /KUBECONFIG_INVALID|kubeconfig/);
    // Cluster-scoped RBAC names carry the namespace, so two installs never collide.
    assert.ok(list.items.some((i) => i.kind === 'ClusterRole' && i.metadata.name === 'cairn-backup-ops'));
    ok(await api.kubectl(['apply', '--dry-run=client', '-f', '-'], rendered.stdout), 'kubectl apply json');
  });

  it('--no-restore-permissions leaves out every cluster-wide write rule', async () => {
    const rendered = ok(
      await api.cairn(['install', '--dry-run', '-o', 'json', '--no-restore-permissions']),
      'install',
    );
    const list = JSON.parse(rendered.stdout) as { items: { kind: string; rules?: { verbs: string[] }[] }[] };
    const role = list.items.find((i) => i.kind === 'ClusterRole');
    assert.deepEqual(
      role?.rules?.map((r) => r.verbs),
      [['get', 'list', 'watch']],
    );
  });
});

describe('cairn install / uninstall', () => {
  let api: ApiSandbox;
  let work: string;
  before(async () => {
    api = await startApiSandbox();
    work = await mkdtemp(join(tmpdir(), 'cairn-install-test-'));
  });
  after(async () => {
    await api?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('installs CRDs (Established), RBAC, the Deployment and the metrics Service', async () => {
    const run = ok(await api.cairn(['install']), 'cairn install');
    assert.match(run.stdout, /CRDs Established/);
    const crds = await api.kubectlJson<{ items: Crd[] }>(['get', 'crd']);
    const ours = crds.items.filter((c) => c.metadata.name.endsWith('.cairn.dev'));
    assert.deepEqual(ours.map((c) => c.metadata.name).sort(), [...CRDS].sort());
    for (const crd of ours)
      assert.ok(
        crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'),
        `${crd.metadata.name} Established`,
      );

    const deployment = await api.kubectlJson<{
      spec: {
        template: {
          spec: {
            serviceAccountName: string;
            securityContext: { runAsNonRoot: boolean };
            containers: {
              securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
              livenessProbe: { httpGet: { path: string } };
              readinessProbe: { httpGet: { path: string } };
              ports: { containerPort: number }[];
            }[];
          };
        };
      };
    }>(['get', 'deployment', 'cairn', '-n', 'cairn-system']);
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    assert.equal(pod.serviceAccountName, 'cairn');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(container?.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container?.securityContext.allowPrivilegeEscalation, false);
    assert.equal(container?.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container?.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container?.ports[0]?.containerPort, 8085);

    const service = await api.kubectlJson<{ spec: { ports: { port: number }[] } }>([
      'get',
      'service',
      'cairn-metrics',
      '-n',
      'cairn-system',
    ]);
    assert.equal(service.spec.ports[0]?.port, 8085);

    const role = await api.kubectlJson<{
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    }>(['get', 'role', 'cairn', '-n', 'cairn-system']);
    const leases = role.rules.find((r) => r.resources.includes('leases'));
    assert.deepEqual(leases?.apiGroups, ['coordination.k8s.io']);
    assert.ok(role.rules.some((r) => r.resources.includes('schedules/status')));
    assert.ok(role.rules.some((r) => r.resources.includes('events') && r.verbs.includes('create')));
    const binding = await api.kubectlJson<{ subjects: { name: string; namespace: string }[] }>([
      'get',
      'clusterrolebinding',
      'cairn',
    ]);
    assert.deepEqual(
      binding.subjects.map((s) => `${s.namespace}/${s.name}`),
      ['cairn-system/cairn'],
    );

    // The kinds are served: kubectl lists them by full name and by category.
    ok(await api.kubectl(['get', 'schedules.cairn.dev', '-n', 'cairn-system']), 'kubectl get schedules');
    const categories = ok(
      await api.kubectl(['api-resources', '--categories', 'cairn', '-o', 'name']),
      'api-resources',
    );
    assert.deepEqual(categories.stdout.trim().split('\n').sort(), CRDS.slice().sort());
  });

  it('a second install changes nothing', async () => {
    const run = ok(await api.cairn(['install', '-o', 'json']), 'cairn install again');
    const result = JSON.parse(run.stdout) as { applied: { object: string; action: string }[] };
    assert.equal(result.applied.length, 13);
    assert.deepEqual(
      result.applied.filter((a) => a.action !== 'unchanged'),
      [],
    );
  });

  it('uninstall without --yes only reports, and with --yes leaves storage untouched', async () => {
    // A real backup in a real location, a BackupLocation resource pointing at it, and a schedule.
    const location = join(work, 'location');
    ok(await api.cairn(['location', 'init', location]), 'location init');
    ok(await api.kubectl(['create', 'namespace', 'shop']), 'create ns');
    ok(
      await api.kubectl(['create', 'configmap', 'settings', '-n', 'shop', '--from-literal=a=b']),
      'create cm',
    );
    ok(
      await api.cairn([
        'backup',
        'create',
        'before-uninstall',
        // Inline: the CRDs are installed here but no controller runs to take a Backup resource.
        '--local',
        '--location',
        location,
        '--include-namespaces',
        'shop',
        '--kubeconfig',
        api.sandbox.kubeconfig,
      ]),
      'backup create',
    );
    ok(await api.cairn(['location', 'create', 'primary', '--url', location, '--default']), 'location create');
    ok(await api.cairn(['schedule', 'create', 'nightly', '--schedule', '@daily']), 'schedule create');
    const before = await snapshotTree(location);
    assert.ok(Object.keys(before).some((k) => k.endsWith('backups/before-uninstall/manifest.json')));

    const refused = await api.cairn(['uninstall']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /CONFIRMATION_REQUIRED|--yes/);
    assert.match(refused.stdout, /Deployment cairn-system\/cairn/);
    assert.match(refused.stdout, /1 Schedule, 1 BackupLocation|1 BackupLocation, 1 Schedule/);
    assert.match(refused.stdout, /NOT touched/);
    ok(await api.kubectl(['get', 'deployment', 'cairn', '-n', 'cairn-system']), 'deployment still there');

    const removed = ok(await api.cairn(['uninstall', '--yes']), 'uninstall --yes');
    assert.match(removed.stdout, /CustomResourceDefinition schedules.cairn.dev deleted/);
    assert.match(removed.stdout, /were not touched/);
    const crds = await api.kubectlJson<{ items: Crd[] }>(['get', 'crd']);
    assert.deepEqual(
      crds.items.filter((c) => c.metadata.name.endsWith('.cairn.dev')),
      [],
    );
    assert.notEqual((await api.kubectl(['get', 'deployment', 'cairn', '-n', 'cairn-system'])).code, 0);
    assert.notEqual((await api.kubectl(['get', 'clusterrole', 'cairn'])).code, 0);
    // The namespace stays (it may hold credential Secrets).
    ok(await api.kubectl(['get', 'namespace', 'cairn-system']), 'namespace kept');

    // Storage: byte for byte the same, and the backup still reads back.
    assert.deepEqual(await snapshotTree(location), before);
    const listed = ok(
      await api.cairn(['backup', 'get', 'before-uninstall', '--location', location, '-o', 'json']),
      'backup get',
    );
    assert.match(listed.stdout, /"phase": "Completed"/);

    // Uninstalling twice is harmless.
    ok(await api.cairn(['uninstall', '--yes']), 'second uninstall');
  });
});
