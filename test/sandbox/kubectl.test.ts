import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { type Sandbox, startSandbox } from '../../sandbox/index.ts';

/**
 * Conformance with the real kubectl (/usr/bin/kubectl, 1.32 on the machine
 * image; `KUBECTL` overrides it). kubectl runs as a child process and the
 * sandbox in this process, so every kubectl call must be asynchronous.
 */

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

let sandbox: Sandbox;
let dir: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      KUBECTL,
      ['--kubeconfig', sandbox.kubeconfig, ...args],
      { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON read ad hoc by assertions
async function json(args: string[]): Promise<Record<string, any>> {
  return JSON.parse(await ok([...args, '-o', 'json']));
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const APP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: shop
type: Opaque
data:
  token: czNjcjN0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - {name: A, value: "1"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
`;

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.demo.cairn.dev
spec:
  group: demo.cairn.dev
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
`;

const GADGETS = `apiVersion: demo.cairn.dev/v1
kind: Gadget
metadata: {name: g1, namespace: shop}
spec: {size: 1, parts: [a, b]}
---
apiVersion: demo.cairn.dev/v1
kind: Gadget
metadata: {name: g2, namespace: shop}
spec: {size: 2}
`;

before(async () => {
  assert.ok(
    existsSync(KUBECTL),
    `${KUBECTL} is missing: install Debian's kubernetes-client (scripts/install-test-deps.sh)`,
  );
  dir = mkdtempSync(join(tmpdir(), 'cairn-kubectl-'));
  sandbox = await startSandbox({ kubeconfigPath: join(dir, 'kubeconfig') });
});

after(async () => {
  await sandbox.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubectl against the sandbox', { concurrency: false }, () => {
  test('version and api-resources', async () => {
    const version = JSON.parse(await ok(['version', '-o', 'json']));
    assert.equal(version.serverVersion.major, '1');
    const resources = await ok(['api-resources']);
    for (const line of [
      /^configmaps\s+cm\s+v1\s+true\s+ConfigMap$/m,
      /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m,
      /^namespaces\s+ns\s+v1\s+false\s+Namespace$/m,
      /^customresourcedefinitions\s+crd,crds\s+apiextensions.k8s.io\/v1\s+false\s+CustomResourceDefinition$/m,
      /^volumesnapshots\s+vs\s+snapshot.storage.k8s.io\/v1\s+true\s+VolumeSnapshot$/m,
    ])
      assert.match(resources, line);
  });

  test('auth can-i and auth whoami (protobuf review bodies)', async () => {
    assert.equal((await ok(['auth', 'can-i', 'delete', 'secrets', '-A'])).trim(), 'yes');
    assert.equal((await ok(['auth', 'can-i', 'get', '/healthz'])).trim(), 'yes');
    assert.match(await ok(['auth', 'can-i', '--list']), /^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m);
    assert.match(await ok(['auth', 'whoami']), /cairn-sandbox-admin/);
  });

  test('create namespace, configmap and secret (protobuf request bodies)', async () => {
    assert.match(await ok(['create', 'namespace', 'shop']), /namespace\/shop created/);
    await ok([
      'create',
      'configmap',
      'settings',
      '-n',
      'shop',
      '--from-literal=mode=fast',
      '--from-literal=level=3',
    ]);
    await ok(['create', 'secret', 'generic', 'creds', '-n', 'shop', '--from-literal=user=admin']);
    await ok(['label', 'namespace', 'shop', 'team=payments']);
    const cm = await json(['get', 'configmap', 'settings', '-n', 'shop', '--show-managed-fields']);
    assert.deepEqual(cm.data, { mode: 'fast', level: '3' });
    assert.equal(cm.metadata.managedFields[0].manager, 'kubectl-create');
    const secret = await json(['get', 'secret', 'creds', '-n', 'shop']);
    assert.equal(Buffer.from(secret.data.user, 'base64').toString(), 'admin');
    const ns = await json(['get', 'namespace', 'shop']);
    assert.equal(ns.status.phase, 'Active');
    assert.equal(ns.metadata.labels.team, 'payments');
    const dup = await kubectl(['create', 'namespace', 'shop']);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /AlreadyExists.*namespaces "shop" already exists/);
  });

  test('create generators for other kinds (protobuf bodies too)', async () => {
    await ok(['create', 'deployment', 'gen', '-n', 'shop', '--image=nginx:1', '--replicas=2', '--port=8080']);
    const dep = await json(['get', 'deploy', 'gen', '-n', 'shop']);
    assert.equal(dep.spec.replicas, 2);
    assert.deepEqual(dep.spec.selector, { matchLabels: { app: 'gen' } });
    assert.deepEqual(dep.spec.template.spec.containers, [
      { name: 'nginx', image: 'nginx:1', ports: [{ containerPort: 8080 }], resources: {} },
    ]);
    await ok(['create', 'service', 'nodeport', 'gen', '-n', 'shop', '--tcp=80:8080', '--node-port=30080']);
    const svc = await json(['get', 'svc', 'gen', '-n', 'shop']);
    assert.equal(svc.spec.type, 'NodePort');
    assert.deepEqual(svc.spec.ports, [
      { name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 },
    ]);
    await ok(['create', 'serviceaccount', 'bot', '-n', 'shop']);
    await ok([
      'create',
      'role',
      'reader',
      '-n',
      'shop',
      '--verb=get,list',
      '--resource=pods,deployments.apps',
    ]);
    await ok(['create', 'rolebinding', 'reader', '-n', 'shop', '--role=reader', '--serviceaccount=shop:bot']);
    const binding = await json(['get', 'rolebinding', 'reader', '-n', 'shop']);
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'bot', namespace: 'shop' }]);
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'reader',
    });
    await ok(['create', 'job', 'once', '-n', 'shop', '--image=busybox', '--', 'echo', 'hi']);
    const job = await json(['get', 'job', 'once', '-n', 'shop']);
    assert.deepEqual(job.spec.template.spec.containers[0].command, ['echo', 'hi']);
    assert.equal(job.spec.template.spec.restartPolicy, 'Never');
    await ok([
      'create',
      'cronjob',
      'tick',
      '-n',
      'shop',
      '--image=busybox',
      '--schedule=*/5 * * * *',
      '--',
      'date',
    ]);
    assert.equal((await json(['get', 'cronjob', 'tick', '-n', 'shop'])).spec.schedule, '*/5 * * * *');
    await ok(['create', 'quota', 'small', '-n', 'shop', '--hard=pods=3,requests.cpu=2']);
    assert.deepEqual((await json(['get', 'quota', 'small', '-n', 'shop'])).spec.hard, {
      pods: '3',
      'requests.cpu': '2',
    });
    await ok(['create', 'pdb', 'gen', '-n', 'shop', '--selector=app=gen', '--min-available=50%']);
    assert.equal((await json(['get', 'pdb', 'gen', '-n', 'shop'])).spec.minAvailable, '50%');
    await ok([
      'create',
      'ingress',
      'gen',
      '-n',
      'shop',
      '--class=nginx',
      '--rule=shop.example.com/*=gen:80,tls=cert',
    ]);
    const ing = await json(['get', 'ingress', 'gen', '-n', 'shop']);
    assert.equal(ing.spec.rules[0].http.paths[0].backend.service.port.number, 80);
    assert.deepEqual(ing.spec.tls, [{ hosts: ['shop.example.com'], secretName: 'cert' }]);
    await ok(['run', 'one-off', '-n', 'shop', '--image=busybox', '--env=A=1', '--labels=run=one-off']);
    assert.deepEqual((await json(['get', 'pod', 'one-off', '-n', 'shop'])).spec.containers[0].env, [
      { name: 'A', value: '1' },
    ]);
    for (const what of [
      'deploy/gen',
      'svc/gen',
      'sa/bot',
      'role/reader',
      'rolebinding/reader',
      'job/once',
      'cronjob/tick',
      'quota/small',
      'pdb/gen',
      'ingress/gen',
      'pod/one-off',
    ])
      await ok(['delete', what, '-n', 'shop']);
  });

  test('apply twice (client-side), then server-side', async () => {
    const app = file('app.yaml', APP);
    const first = await ok(['apply', '-f', app]);
    assert.match(first, /configmap\/web-config created/);
    assert.match(first, /deployment.apps\/web created/);
    assert.match(first, /service\/web created/);
    const second = await ok(['apply', '-f', app]);
    for (const what of ['configmap/web-config', 'secret/web-secret', 'deployment.apps/web', 'service/web'])
      assert.match(second, new RegExp(`${what.replace('.', '\\.')} unchanged`));
    const ssa = await ok(['apply', '--server-side', '-f', app]);
    assert.match(ssa, /deployment.apps\/web serverside-applied/);
    const dep = await json(['get', 'deployment', 'web', '-n', 'shop', '--show-managed-fields']);
    const managers = dep.metadata.managedFields.map(
      (m: { manager: string; operation: string }) => `${m.manager}/${m.operation}`,
    );
    assert.ok(managers.includes('kubectl/Apply'), managers.join());
    assert.ok(managers.includes('kubectl-client-side-apply/Update'), managers.join());
    // Changing the manifest and re-applying updates the object.
    await ok(
      ['apply', '-f', '-'],
      APP.replace('replicas: 2', 'replicas: 3').replace('greeting: hello', 'greeting: hi'),
    );
    assert.equal((await json(['get', 'deploy', 'web', '-n', 'shop'])).spec.replicas, 3);
    assert.equal((await json(['get', 'cm', 'web-config', '-n', 'shop'])).data.greeting, 'hi');
  });

  test('get -o yaml, -A and get all', async () => {
    const yaml = parseYaml(await ok(['get', 'deployment', 'web', '-n', 'shop', '-o', 'yaml']));
    assert.equal(yaml.kind, 'Deployment');
    assert.equal(yaml.apiVersion, 'apps/v1');
    assert.equal(yaml.spec.template.spec.containers[0].image, 'nginx:1.27');
    assert.ok(yaml.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
    const all = await ok(['get', 'configmaps', '-A']);
    assert.match(all, /^NAMESPACE\s+NAME\s+AGE$/m);
    assert.match(all, /^shop\s+web-config\s+\d+s$/m);
    const everything = await ok(['get', 'all', '-n', 'shop']);
    assert.match(everything, /service\/web/);
    assert.match(everything, /deployment.apps\/web/);
    const list = await json(['get', 'cm,secret', '-n', 'shop']);
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items
        .map((i: { kind: string; metadata: { name: string } }) => `${i.kind}/${i.metadata.name}`)
        .sort(),
      ['ConfigMap/settings', 'ConfigMap/web-config', 'Secret/creds', 'Secret/web-secret'],
    );
    const byLabel = await ok(['get', 'deploy', '-A', '-l', 'app in (web,api)', '-o', 'name']);
    assert.equal(byLabel.trim(), 'deployment.apps/web');
  });

  test('label, annotate, patch (strategic, merge, json), scale', async () => {
    await ok(['label', 'configmap', 'web-config', '-n', 'shop', 'tier=front']);
    await ok(['annotate', 'configmap', 'web-config', '-n', 'shop', 'owner=ops']);
    await ok(['label', 'configmap', 'web-config', '-n', 'shop', 'tier=back', '--overwrite']);
    const cm = await json(['get', 'cm', 'web-config', '-n', 'shop']);
    assert.equal(cm.metadata.labels.tier, 'back');
    assert.equal(cm.metadata.annotations.owner, 'ops');
    await ok(['label', 'configmap', 'web-config', '-n', 'shop', 'tier-']);
    assert.equal((await json(['get', 'cm', 'web-config', '-n', 'shop'])).metadata.labels?.tier, undefined);

    await ok([
      'patch',
      'deployment',
      'web',
      '-n',
      'shop',
      '-p',
      '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}',
    ]);
    let dep = await json(['get', 'deploy', 'web', '-n', 'shop']);
    assert.deepEqual(
      dep.spec.template.spec.containers.map((c: { name: string }) => c.name),
      ['sidecar', 'nginx'],
      'strategic merge adds a container by name (new ones first, as apimachinery orders them)',
    );
    await ok(['patch', 'deployment', 'web', '-n', 'shop', '--type=merge', '-p', '{"spec":{"paused":true}}']);
    await ok([
      'patch',
      'deployment',
      'web',
      '-n',
      'shop',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/replicas","value":5}]',
    ]);
    dep = await json(['get', 'deploy', 'web', '-n', 'shop']);
    assert.equal(dep.spec.paused, true);
    assert.equal(dep.spec.replicas, 5);
    await ok(['scale', 'deployment', 'web', '-n', 'shop', '--replicas=1']);
    assert.equal((await json(['get', 'deploy', 'web', '-n', 'shop'])).spec.replicas, 1);
    const bad = await kubectl([
      'patch',
      'cm',
      'web-config',
      '-n',
      'shop',
      '--type=json',
      '-p',
      '[{"op":"test","path":"/data/greeting","value":"nope"}]',
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /test/i);
  });

  test('apply a CRD, wait until Established, apply and list its custom resources', async () => {
    await ok(['apply', '-f', file('crd.yaml', CRD)]);
    await ok(['wait', '--for=condition=Established', 'crd/gadgets.demo.cairn.dev', '--timeout=20s']);
    const gadgets = file('gadgets.yaml', GADGETS);
    assert.match(await ok(['apply', '-f', gadgets]), /gadget.demo.cairn.dev\/g1 created/);
    assert.match(await ok(['apply', '-f', gadgets]), /gadget.demo.cairn.dev\/g1 unchanged/);
    await ok(['apply', '-f', '-'], GADGETS.replace('size: 2', 'size: 20'));
    const list = await json(['get', 'gadgets', '-n', 'shop']);
    assert.deepEqual(
      list.items.map((i: { metadata: { name: string }; spec: { size: number } }) => [
        i.metadata.name,
        i.spec.size,
      ]),
      [
        ['g1', 1],
        ['g2', 20],
      ],
    );
    const table = await ok(['get', 'gd', '-A']);
    assert.match(table, /^NAMESPACE\s+NAME\s+SIZE\s+AGE$/m, 'additionalPrinterColumns');
    assert.match(table, /^shop\s+g2\s+20\s+\d+s$/m);
    assert.match(
      await ok(['api-resources', '--api-group=demo.cairn.dev']),
      /^gadgets\s+gd\s+demo.cairn.dev\/v1\s+true\s+Gadget$/m,
    );
    // g2's size now belongs to client-side apply with another value: a real conflict.
    const conflict = await kubectl(['apply', '--server-side', '-f', gadgets]);
    assert.notEqual(conflict.code, 0);
    assert.match(
      conflict.stderr,
      /conflict with "kubectl-client-side-apply" using demo.cairn.dev\/v1: \.spec\.size/,
    );
    await ok(['apply', '--server-side', '--force-conflicts', '-f', gadgets]);
    assert.equal((await json(['get', 'gadget', 'g2', '-n', 'shop'])).spec.size, 2);
  });

  test('get --watch streams changes until the request timeout', async (t) => {
    const child = spawn(KUBECTL, [
      '--kubeconfig',
      sandbox.kubeconfig,
      'get',
      'configmaps',
      '-n',
      'shop',
      '--watch',
      '--output-watch-events',
      '--request-timeout=4s',
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const deadline = Date.now() + 10_000;
    while (!/ADDED\s+web-config/.test(out) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await ok(['create', 'configmap', 'watched', '-n', 'shop']);
    await ok(['delete', 'configmap', 'watched', '-n', 'shop']);
    const code = await exited;
    assert.equal(code, 0);
    assert.match(out, /ADDED\s+watched/);
    assert.match(out, /DELETED\s+watched/);
  });

  test('other kubectl minors on the machine image: create, apply (client- and server-side), get', async () => {
    // kubectl 1.27 reads aggregated discovery v2beta1 only and insists on /openapi/v2.
    const dirOfMinors = '/usr/lib/google-cloud-sdk/bin';
    const minors = existsSync(dirOfMinors)
      ? readdirSync(dirOfMinors).filter((f) => /^kubectl\.1\.\d+$/.test(f))
      : [];
    for (const bin of minors) {
      const run = (args: string[], input?: string) =>
        new Promise<Result>((resolve) => {
          const child = execFile(
            join(dirOfMinors, bin),
            ['--kubeconfig', sandbox.kubeconfig, ...args],
            { timeout: 60_000 },
            (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
          );
          if (input !== undefined) child.stdin?.end(input);
        });
      const ns = `minor-${bin.slice('kubectl.'.length).replace('.', '-')}`;
      const must = async (args: string[], input?: string) => {
        const r = await run(args, input);
        assert.equal(r.code, 0, `${bin} ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      await must(['create', 'namespace', ns]);
      await must(['create', 'configmap', 'c', '-n', ns, '--from-literal=a=b']);
      const manifest = APP.replaceAll('namespace: shop', `namespace: ${ns}`);
      await must(['apply', '-f', '-'], manifest);
      assert.match(await must(['apply', '-f', '-'], manifest), /deployment.apps\/web unchanged/);
      await must(['apply', '--server-side', '-f', '-'], manifest);
      assert.match(await must(['get', 'all', '-n', ns]), /deployment.apps\/web/);
      await must(['delete', 'namespace', ns, '--wait=true']);
    }
  });

  test('delete -f, then delete the namespace and wait', async () => {
    const deleted = await ok(['delete', '-f', file('app2.yaml', APP)]);
    assert.match(deleted, /deployment.apps "web" deleted/);
    const none = await kubectl(['get', 'deploy', 'web', '-n', 'shop']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /NotFound/);
    await ok(['delete', 'namespace', 'shop', '--wait=true', '--timeout=30s']);
    const gone = await kubectl(['get', 'namespace', 'shop']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /namespaces "shop" not found/);
    const leftovers = await ok(['get', 'gadgets', '-A', '-o', 'name']);
    assert.equal(leftovers.trim(), '');
    await ok(['delete', '-f', file('crd2.yaml', CRD), '--wait=true']);
    const noCrd = await kubectl(['get', 'gadgets', '-A']);
    assert.notEqual(noCrd.code, 0);
  });
});
