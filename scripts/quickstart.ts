// The README's first command (`npm run quickstart`): Cairn's main job end to end on the
// embedded defaults. It starts a sandbox cluster, seeds a realistic two-namespace app and
// KubeSphere's user data (CRDs + users, global roles, workspace roles), backs it all up to
// ./cairn-data with the real `cairn` CLI, deletes everything, restores it — CRDs first — and
// checks every object against the original, ignoring only runtime fields. Exit code 0 means
// every object came back identical.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { groupResourceName } from '../src/cluster/discovery.ts';
import { comparableObject, jsonEqual } from '../src/restore/prepare.ts';
import {
  createAll,
  deleteAndWait,
  getLive,
  type KubeObject,
  objectPath,
  startCluster,
} from '../test/restore/helpers.ts';
import { kubesphereUserData } from '../test/support/fixtures/kubesphere.ts';
import { type Manifest, sampleApp } from '../test/support/fixtures/sample-app.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const location = path.resolve(process.env.CAIRN_QUICKSTART_LOCATION ?? 'cairn-data');
const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
const backupName = `quickstart-${stamp}`;

const say = (text: string) => process.stdout.write(`\n\u001b[1m== ${text}\u001b[0m\n`);

/** Runs the real CLI, output shown as a user would see it. */
function cairn(args: string[]): Promise<number> {
  process.stdout.write(`$ cairn ${args.join(' ')}\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/cairn.js'), ...args], { stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function must(step: Promise<number>, what: string): Promise<void> {
  const code = await step;
  if (code !== 0) throw new Error(`${what} failed (exit ${code})`);
}

const timings: [string, number][] = [];
async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    timings.push([label, performance.now() - started]);
  }
}

const cluster = await startCluster();
let exitCode = 0;
try {
  say(`Sandbox cluster at ${cluster.sandbox.url} (kubeconfig ${cluster.kubeconfig})`);
  const seeded: Manifest[] = [...sampleApp(), ...kubesphereUserData()];
  const originals = await timed('seed', () => createAll(cluster, seeded));
  console.log(
    `Seeded ${originals.length} objects: the "shop" app in namespaces shop and shop-data, and KubeSphere users and roles.`,
  );

  say(`Location ${location}`);
  if (!existsSync(path.join(location, 'cairn-location.json')))
    await must(cairn(['location', 'init', location]), 'location init');
  else console.log('Already a Cairn location; the new backup goes next to the old ones.');

  say('Back up the whole cluster');
  await timed('backup', () =>
    must(
      cairn(['backup', 'create', backupName, '--location', location, '--kubeconfig', cluster.kubeconfig]),
      'backup',
    ),
  );
  await must(cairn(['backup', 'describe', backupName, '--location', location]), 'backup describe');

  say(
    'Delete it all: the namespaces, the CRDs (and with them every custom resource), the cluster-scoped objects',
  );
  await timed('delete', async () => {
    // KubeSphere's users carry a finalizer its controller would clear; no controller runs here.
    for (const object of originals) {
      if ((object.metadata as { finalizers?: string[] }).finalizers?.length) {
        await cluster.connection.request('PATCH', await objectPath(cluster, object), {
          body: { metadata: { finalizers: null } },
          contentType: 'application/merge-patch+json',
        });
      }
    }
    await deleteAndWait(cluster, [...originals].reverse());
  });
  const left = (await Promise.all(originals.map((o) => getLive(cluster, o)))).filter(Boolean).length;
  console.log(`${left} of ${originals.length} seeded objects left in the cluster.`);

  say('Restore — CRDs first, then namespaces, storage, RBAC, workloads, custom resources');
  await timed('restore', () =>
    must(
      cairn([
        'restore',
        'create',
        `${backupName}-restore`,
        '--from-backup',
        backupName,
        '--location',
        location,
        '--kubeconfig',
        cluster.kubeconfig,
      ]),
      'restore',
    ),
  );

  say('Verify every object against the original (runtime fields ignored)');
  const types = await cluster.types();
  const differences: string[] = [];
  for (const original of originals as KubeObject[]) {
    const meta = original.metadata as { name: string; namespace?: string };
    const what = `${original.kind} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`;
    const live = await getLive(cluster, original);
    if (live === undefined) {
      differences.push(`${what}: missing`);
      continue;
    }
    const type = types.find(
      (t) => t.kind === original.kind && String(original.apiVersion).startsWith(t.group),
    );
    const gr = type === undefined ? String(original.kind) : groupResourceName(type);
    if (!jsonEqual(comparableObject(gr, live), comparableObject(gr, original)))
      differences.push(`${what}: differs`);
  }
  if (differences.length === 0) console.log(`All ${originals.length} objects restored identical.`);
  else {
    exitCode = 1;
    console.log(
      `${differences.length} of ${originals.length} objects are not identical:\n  ${differences.join('\n  ')}`,
    );
  }

  say('Summary');
  for (const [label, ms] of timings) console.log(`  ${label.padEnd(8)} ${(ms / 1000).toFixed(2)} s`);
  console.log(
    `  backup "${backupName}" is in ${location}; list it with: npx cairn backup get --location ${path.relative(process.cwd(), location) || '.'}`,
  );
} catch (err) {
  exitCode = 1;
  console.error(`quickstart failed: ${(err as Error).message}`);
} finally {
  await cluster.stop();
}
process.exitCode = exitCode;
