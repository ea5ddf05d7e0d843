/**
 * Resources benchmark (issue 4): seeds N objects of several types (ConfigMaps,
 * Secrets, Services, ServiceAccounts, Deployments and a custom resource) into
 * a sandbox running in its own process, then measures, each phase as one child
 * process under `/usr/bin/time -f '%e %U %S %M'`:
 *
 *   1. a bare paginated LIST of exactly the types Cairn backs up, with Cairn's
 *      client and nothing written (bench/lib/resources-list.ts);
 *   2. `cairn backup create` to a filesystem location;
 *   3. `kubectl get <type> -A -o yaml > file` for each of those types;
 *   4. `cairn restore create` of that backup into a second, empty sandbox.
 *
 * The sandboxes' CPU and memory are not counted for any tool.
 *
 *   npm run bench:resources [-- --objects 100000 --runs 3 --restores 1]
 *   npm run bench:resources -- --quick          # 10k objects, 1 run
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ClusterConnection } from '../src/cluster/connection.ts';
import { groupResourceName } from '../src/cluster/discovery.ts';
import { SEED_TYPES, seed } from './lib/resources-seed.ts';
import { backupTypes } from './lib/resources-types.ts';
import { liveSandboxes, startSandboxProcess } from './lib/sandbox-process.ts';
import { median, runTimed, type Timing } from './lib/timed.ts';

const execFileAsync = promisify(execFile);

const { values } = parseArgs({
  options: {
    objects: { type: 'string' },
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    restores: { type: 'string', default: '1' },
    namespaces: { type: 'string', default: '50' },
    'seed-concurrency': { type: 'string', default: '32' },
    qps: { type: 'string', default: '1000' },
    burst: { type: 'string', default: '1000' },
  },
});
const OBJECTS = Number(values.objects ?? (values.quick ? 10_000 : 100_000));
const RUNS = Number(values.runs ?? (values.quick ? 1 : 3));
const RESTORES = Number(values.restores);
const NAMESPACES = Number(values.namespaces);
const SEED_CONCURRENCY = Number(values['seed-concurrency']);
const QPS = values.qps;
const BURST = values.burst;
const TARGET_RATIO = 1.3;
const TARGET_RSS_MIB = 300;

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = process.execPath;
/**
 * Cairn is run the way users run it (`npx cairn`, the image): bin/cairn.js executed through its
 * shebang, which gives Node its start-up options, with the Node running this benchmark first on
 * PATH. The bare LIST is a plain script run by that Node.
 */
const CAIRN = path.join(ROOT, 'bin', 'cairn.js');

function peakRssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Counts the objects of one collection in a sandbox, page by page. */
async function countAll(connection: ClusterConnection, collection: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await connection.request<{ items?: unknown[]; metadata?: { continue?: string } }>(
      'GET',
      collection,
      { query: { limit: 500, continue: token } },
    );
    n += page.items?.length ?? 0;
    token = page.metadata?.continue || undefined;
  } while (token !== undefined);
  return n;
}

const collectionOf = (gr: string): string => {
  const t = SEED_TYPES.find((s) => s.gr === gr);
  if (t === undefined) throw new Error(`unknown seeded type ${gr}`);
  return `${t.apiPath}/${gr.split('.')[0]}`;
};

interface Row {
  readonly phase: string;
  readonly runs: Timing[];
  readonly note: string;
}

const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

function summarize(runs: readonly Timing[]) {
  return {
    wall: median(runs.map((r) => r.wall)),
    cpu: median(runs.map((r) => r.user + r.sys)),
    rssMiB: median(runs.map((r) => r.maxRssKiB)) / 1024,
    maxRssMiB: Math.max(...runs.map((r) => r.maxRssKiB)) / 1024,
  };
}

async function version(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 30_000 });
    return stdout.trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function main(work: string): Promise<void> {
  const loadAtStart = load();
  process.stdout.write(`load average (1, 5, 15 min) at start: ${loadAtStart}\n`);
  const env = {
    ...process.env,
    PATH: `${path.dirname(NODE)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    KUBECACHEDIR: path.join(work, 'kube-cache'),
    NO_COLOR: '1',
  };
  const location = path.join(work, 'location');
  const logs = path.join(work, 'logs');
  await mkdir(logs, { recursive: true });
  const timeFile = path.join(work, 'time.txt');
  const cairn = async (args: string[], label: string): Promise<string> => {
    const { stdout } = await execFileAsync(CAIRN, args, {
      env,
      maxBuffer: 256 * 1024 * 1024,
    }).catch((e: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`${label} failed: ${e.message}\n${e.stderr ?? ''}`);
    });
    return stdout;
  };

  const source = await startSandboxProcess(path.join(work, 'source.kubeconfig'));
  process.stdout.write(`source sandbox ${source.url} (pid ${source.child.pid})\n`);
  const seedConnection = await ClusterConnection.connect({
    kubeconfig: source.kubeconfig,
    qps: 100_000,
    burst: 100_000,
  });
  const t0 = performance.now();
  const seeded = await seed(seedConnection, OBJECTS, NAMESPACES, SEED_CONCURRENCY);
  const seedSec = (performance.now() - t0) / 1000;
  const types = await backupTypes(seedConnection);
  seedConnection.close();
  process.stdout.write(
    `seeded ${fmt(OBJECTS)} objects (${[...seeded].map(([gr, n]) => `${gr} ${fmt(n)}`).join(', ')}) ` +
      `in ${NAMESPACES} namespaces: ${seedSec.toFixed(1)} s (${fmt(OBJECTS / seedSec)}/s, ${SEED_CONCURRENCY} concurrent)\n` +
      `Cairn backs up ${types.length} types; the bare LIST and kubectl list the same ones\n`,
  );
  await cairn(['location', 'init', location], 'cairn location init');

  const client = ['--kubeconfig', source.kubeconfig, '--qps', QPS, '--burst', BURST];
  const list: Timing[] = [];
  const backup: Timing[] = [];
  const kubectl: Timing[] = [];
  let listed: { types: number; items: number; pages: number } | undefined;
  let kubectlBytes = 0;
  for (let run = 1; run <= RUNS; run++) {
    const logFile = path.join(logs, `list-${run}.log`);
    list.push(
      await runTimed(NODE, [path.join(ROOT, 'bench', 'lib', 'resources-list.ts'), ...client], {
        env,
        logFile,
        timeFile,
      }),
    );
    listed = JSON.parse((await readFile(logFile, 'utf8')).trim().split('\n').pop() ?? '{}');
    backup.push(
      await runTimed(CAIRN, ['backup', 'create', `bench-${run}`, '--location', location, ...client], {
        env,
        logFile: path.join(logs, `backup-${run}.log`),
        timeFile,
      }),
    );
    let wall = 0;
    let user = 0;
    let sys = 0;
    let rss = 0;
    let bytes = 0;
    for (const type of types) {
      const gr = groupResourceName(type);
      const out = path.join(logs, `kubectl-${run}-${gr}.yaml`);
      const t = await runTimed(
        'kubectl',
        ['--kubeconfig', source.kubeconfig, 'get', gr, '-A', '-o', 'yaml'],
        { env, logFile: out, timeFile },
      );
      wall += t.wall;
      user += t.user;
      sys += t.sys;
      rss = Math.max(rss, t.maxRssKiB);
      bytes += (await stat(out)).size;
      await rm(out);
    }
    kubectl.push({ wall, user, sys, maxRssKiB: rss });
    kubectlBytes = bytes;
    process.stdout.write(
      `run ${run}/${RUNS}: list ${list.at(-1)?.wall} s, backup ${backup.at(-1)?.wall} s, kubectl ${wall.toFixed(2)} s\n`,
    );
  }
  const sourceRssMiB = peakRssMiB(source.child.pid);

  const described = JSON.parse(
    await cairn(['backup', 'describe', 'bench-1', '--location', location, '-o', 'json'], 'backup describe'),
  ) as {
    manifest: {
      status: { itemsBackedUp: number; errors: number; perResource: Record<string, number> };
      files: Record<string, { size: number }>;
    };
  };
  const status = described.manifest.status;
  if (status.errors !== 0) throw new Error(`backup bench-1 has ${status.errors} errors`);
  for (const [gr, n] of seeded) {
    const got = status.perResource[gr] ?? 0;
    if (got < n) throw new Error(`VERIFY FAILED: backup holds ${got} ${gr}, seeded ${n}`);
  }
  const archiveBytes = Object.values(described.manifest.files).reduce((a, f) => a + f.size, 0);

  const restore: Timing[] = [];
  let restored = 0;
  let restoreTotals: Record<string, number> = {};
  let targetRssMiB = Number.NaN;
  for (let r = 1; r <= RESTORES; r++) {
    const target = await startSandboxProcess(path.join(work, `target-${r}.kubeconfig`));
    try {
      restore.push(
        await runTimed(
          CAIRN,
          [
            'restore',
            'create',
            `bench-${r}`,
            '--from-backup',
            'bench-1',
            '--location',
            location,
            '--kubeconfig',
            target.kubeconfig,
            '--qps',
            QPS,
            '--burst',
            BURST,
          ],
          { env, logFile: path.join(logs, `restore-${r}.log`), timeFile },
        ),
      );
      targetRssMiB = peakRssMiB(target.child.pid);
      const summary = JSON.parse(
        await cairn(['restore', 'get', `bench-${r}`, '--location', location, '-o', 'json'], 'restore get'),
      ) as { totals: Record<string, number> };
      restoreTotals = summary.totals;
      restored = summary.totals.created ?? 0;
      if ((summary.totals.failed ?? 0) !== 0)
        throw new Error(`restore bench-${r}: ${summary.totals.failed} failed`);
      const check = await ClusterConnection.connect({
        kubeconfig: target.kubeconfig,
        qps: 10_000,
        burst: 10_000,
      });
      try {
        for (const [gr] of seeded) {
          const got = await countAll(check, collectionOf(gr));
          const want = status.perResource[gr] ?? 0;
          if (got !== want)
            throw new Error(`VERIFY FAILED: restored sandbox has ${got} ${gr}, backup ${want}`);
        }
      } finally {
        check.close();
      }
      process.stdout.write(`restore ${r}/${RESTORES}: ${restore.at(-1)?.wall} s, verified\n`);
    } finally {
      await target.stop();
    }
  }
  await source.stop();

  const L = summarize(list);
  const B = summarize(backup);
  const K = summarize(kubectl);
  const R = summarize(restore);
  const rows: Row[] = [
    {
      phase: 'bare paginated LIST',
      runs: list,
      note: `${fmt(listed?.items ?? 0)} items, ${listed?.pages} pages`,
    },
    {
      phase: 'cairn backup create',
      runs: backup,
      note: `${fmt(status.itemsBackedUp)} items, ${(archiveBytes / 1024 / 1024).toFixed(1)} MiB stored`,
    },
    {
      phase: `kubectl get -A -o yaml ×${types.length}`,
      runs: kubectl,
      note: `${(kubectlBytes / 1024 / 1024).toFixed(0)} MiB YAML; RSS = max of the calls`,
    },
    {
      phase: 'cairn restore create',
      runs: restore,
      note: `${fmt(restored)} created into an empty sandbox (${fmt(restored / R.wall)} objects/s)`,
    },
  ];
  const lines = [
    '',
    `resources benchmark: ${fmt(OBJECTS)} seeded objects, ${types.length} types, client --qps ${QPS} --burst ${BURST}, ` +
      `median of ${RUNS} run(s) (restore: ${RESTORES} run(s)); sandboxes in their own processes, not counted`,
    '',
    `| phase | wall s | CPU s (user+sys) | peak RSS MiB | notes |`,
    `|---|---:|---:|---:|---|`,
    ...rows.map((row) => {
      const s = summarize(row.runs);
      return `| ${row.phase} | ${s.wall.toFixed(2)} | ${s.cpu.toFixed(2)} | ${fmt(s.rssMiB)} | ${row.note} |`;
    }),
    '',
    `backup ÷ bare LIST (wall): ${(B.wall / L.wall).toFixed(2)}× (target ≤ ${TARGET_RATIO}) ${B.wall / L.wall <= TARGET_RATIO ? 'MET' : 'MISSED'}`,
    `backup ÷ bare LIST (CPU):  ${(B.cpu / L.cpu).toFixed(2)}×`,
    `kubectl ÷ Cairn backup (wall): ${(K.wall / B.wall).toFixed(2)}×, (CPU): ${(K.cpu / B.cpu).toFixed(2)}×`,
    `restore: ${fmt(restored / R.wall)} objects/s (${fmt(restored)} objects in ${R.wall.toFixed(1)} s; Velero ≈ 10/s at 20 QPS)`,
    `peak RSS: backup ${fmt(B.maxRssMiB)} MiB, restore ${fmt(R.maxRssMiB)} MiB (target ≤ ${TARGET_RSS_MIB} MB) ` +
      `${Math.max(B.maxRssMiB, R.maxRssMiB) * 1.048576 <= TARGET_RSS_MIB ? 'MET' : 'MISSED'}`,
    `sandbox peak RSS (not counted): source ${fmt(sourceRssMiB)} MiB, restore target ${fmt(targetRssMiB)} MiB; seeding ${seedSec.toFixed(1)} s`,
    `load average (1, 5, 15 min): ${loadAtStart} at start, ${load()} at the end (2 CPUs; other work on the machine slows every phase)`,
    '',
  ];
  process.stdout.write(lines.join('\n'));

  const results = {
    date: new Date().toISOString(),
    objects: OBJECTS,
    seeded: Object.fromEntries(seeded),
    namespaces: NAMESPACES,
    types: types.map(groupResourceName),
    qps: Number(QPS),
    burst: Number(BURST),
    runs: RUNS,
    restores: RESTORES,
    seedSeconds: seedSec,
    node: process.version,
    kubectlVersion: await version('kubectl', ['version', '--client']),
    list: { runs: list, median: L, ...listed },
    backup: { runs: backup, median: B, itemsBackedUp: status.itemsBackedUp, storedBytes: archiveBytes },
    kubectl: { runs: kubectl, median: K, yamlBytes: kubectlBytes },
    restore: { runs: restore, median: R, totals: restoreTotals, objectsPerSecond: restored / R.wall },
    ratios: { backupOverList: B.wall / L.wall, kubectlOverBackup: K.wall / B.wall },
    sandboxPeakRssMiB: { source: sourceRssMiB, target: targetRssMiB },
    loadAverage: { start: loadAtStart, end: load() },
  };
  const file = path.join(
    tmpdir(),
    `cairn-bench-resources-${results.date.slice(0, 19).replace(/:/g, '')}.json`,
  );
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`results: ${file}\n`);
}

const work = await mkdtemp(path.join(tmpdir(), 'cairn-bench-resources-'));
const cleanup = async () => {
  await Promise.all([...liveSandboxes].map((sb) => sb.stop()));
  await rm(work, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanup().finally(() => process.exit(130));
  });
}
try {
  await main(work);
} finally {
  await cleanup();
}
