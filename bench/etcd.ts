// `npm run bench:etcd`: `cairn etcd snapshot save` of a ~1 GiB etcd database next to
// `etcdctl snapshot save` of the same database, in the same run, plus the time to save
// straight into Ceph RGW (S3). Targets: Cairn ≤ 1.1× etcdctl's wall time, peak RSS ≤ 150 MB.
//
//   node scripts/with-services.ts node bench/etcd.ts [--size-mib N] [--runs N] [--no-rgw] [--part-size-mib N]
//
// CAIRN_RUN_FROM=src|dist is passed to every cairn child (bin/cairn.js runs dist/ only when it is
// fresher than every source file; the table says which one ran). `cairn --version` is measured as
// the start-up baseline of the CLI, and the 1-minute load average is recorded before every phase
// (the machine is shared: read CPU seconds, which load disturbs less than wall time).
//
// Every measured phase is a child process under /usr/bin/time (wall, user, sys, peak RSS),
// startup included. Runs alternate the order (etcdctl first, then Cairn first, …); when run
// as root, the page cache is dropped (after `sync`) before every phase. The first Cairn
// snapshot is compared byte-for-byte with etcdctl's (SHA-256). Results: a table of medians
// on stdout and a JSON file in the OS temp dir (path printed).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { fillEtcd, sha256File, startEtcd } from '../test/support/etcd.ts';
import { benchAdmin, benchS3FromEnv, findRgwConf } from './lib/rgw.ts';
import { median, runTimed, type Timing } from './lib/timed.ts';

const MiB = 1024 * 1024;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cairnBin = path.join(repoRoot, 'bin', 'cairn.js');

function parseArgs(argv: readonly string[]) {
  const options = { sizeMiB: 1024, runs: 3, rgw: true, partSizeMiB: undefined as number | undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => Number(argv[++i]);
    if (arg === '--size-mib') options.sizeMiB = next();
    else if (arg === '--runs') options.runs = next();
    else if (arg === '--no-rgw') options.rgw = false;
    else if (arg === '--part-size-mib') options.partSizeMiB = next();
    else throw new Error(`unknown argument ${arg}`);
  }
  return options;
}

const isRoot = process.getuid?.() === 0;
function dropCaches(): void {
  execFileSync('sync');
  if (isRoot) execFileSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']);
}

/** Which tree bin/cairn.js runs: CAIRN_RUN_FROM, else dist/ when its build-info is newer than every source. */
async function cairnEntry(): Promise<string> {
  const forced = process.env.CAIRN_RUN_FROM;
  if (forced === 'src' || forced === 'dist') return `${forced} (CAIRN_RUN_FROM)`;
  const info = path.join(repoRoot, 'dist', 'build-info.json');
  if (!existsSync(info)) return 'src (no dist/)';
  const { newestSourceMtimeMs } = await import('../bin/source-freshness.js');
  const built = JSON.parse(readFileSync(info, 'utf8')).sourceMtimeMs as number;
  const sources = await newestSourceMtimeMs(repoRoot);
  return sources === undefined || sources <= built ? 'dist (fresh)' : 'src (dist/ is stale)';
}

const load1 = () => os.loadavg()[0] ?? 0;

const fmt = (t: Timing) =>
  `${t.wall.toFixed(2)} s wall, ${(t.user + t.sys).toFixed(2)} s CPU, ${(t.maxRssKiB / 1024).toFixed(0)} MiB RSS`;

async function deletePrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const keys = (listed.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
  if (keys.length > 0)
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const work = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-etcd-'));
  const log = (line: string) => console.error(`[bench:etcd] ${line}`);
  const etcd = await startEtcd();
  try {
    const t = Date.now();
    const keys = await fillEtcd(etcd, options.sizeMiB * MiB, { valueBytes: MiB, parallel: 8 });
    const status = JSON.parse(await etcd.etcdctl(['endpoint', 'status', '-w', 'json']))[0].Status;
    log(
      `filled ${keys} keys of 1 MiB in ${((Date.now() - t) / 1000).toFixed(1)} s; db ${(status.dbSize / MiB).toFixed(0)} MiB`,
    );

    const env = { ...process.env, ETCDCTL_API: '3' };
    const loc = path.join(work, 'loc');
    const at = (location: string) => ['--location', location, '--cluster', 'bench'];
    execFileSync(process.execPath, [cairnBin, 'location', 'init', loc]);
    execFileSync(process.execPath, [cairnBin, 'etcd', 'cluster', 'init', ...at(loc)]);

    const entry = await cairnEntry();
    log(`cairn runs from ${entry}`);
    const loads: number[] = [];
    const baselineRuns: Timing[] = [];
    for (let run = 0; run < options.runs; run++) {
      loads.push(load1());
      const timing = await runTimed(process.execPath, [cairnBin, '--version'], {
        env: process.env,
        logFile: path.join(work, `version-${run}.log`),
        timeFile: path.join(work, `version-${run}.time`),
      });
      baselineRuns.push(timing);
      log(`run ${run + 1} cairn --version (start-up baseline): ${fmt(timing)}`);
    }

    const etcdctlRuns: Timing[] = [];
    const cairnRuns: Timing[] = [];
    let compared = false;
    for (let run = 0; run < options.runs; run++) {
      const order = run % 2 === 0 ? ['etcdctl', 'cairn'] : ['cairn', 'etcdctl'];
      for (const who of order) {
        dropCaches();
        loads.push(load1());
        const logFile = path.join(work, `${who}-${run}.log`);
        const timeFile = path.join(work, `${who}-${run}.time`);
        if (who === 'etcdctl') {
          const file = path.join(work, 'etcdctl.db');
          await rm(file, { force: true });
          const timing = await runTimed('etcdctl', ['--endpoints', etcd.endpoint, 'snapshot', 'save', file], {
            env,
            logFile,
            timeFile,
          });
          etcdctlRuns.push(timing);
          log(`run ${run + 1} etcdctl snapshot save: ${fmt(timing)}`);
        } else {
          await rm(path.join(loc, 'etcd'), { recursive: true, force: true });
          const timing = await runTimed(
            process.execPath,
            [cairnBin, 'etcd', 'snapshot', 'save', '--endpoints', etcd.endpoint, ...at(loc)],
            { env, logFile, timeFile },
          );
          cairnRuns.push(timing);
          log(`run ${run + 1} cairn etcd snapshot save: ${fmt(timing)}`);
        }
      }
      if (!compared) {
        const stored = execFileSync('find', [path.join(loc, 'etcd'), '-name', 'snapshot.db'])
          .toString()
          .trim();
        const [a, b] = await Promise.all([sha256File(stored), sha256File(path.join(work, 'etcdctl.db'))]);
        if (a !== b) throw new Error(`Cairn's snapshot differs from etcdctl's (${a} vs ${b})`);
        log(
          `byte-for-byte identical to etcdctl's snapshot (${((await stat(stored)).size / MiB).toFixed(0)} MiB, sha256 ${a.slice(0, 16)}…)`,
        );
        compared = true;
      }
    }

    let rgw: Timing[] = [];
    if (options.rgw) {
      const s3 = benchS3FromEnv();
      const admin = benchAdmin(s3);
      const bucket = await admin.createBucket('bench-etcd');
      try {
        const partSize =
          options.partSizeMiB === undefined ? '' : `&partSize=${Math.round(options.partSizeMiB * MiB)}`;
        const url = `s3://${bucket.bucket}/cairn?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}${partSize}`;
        const s3env = {
          ...env,
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        };
        execFileSync(process.execPath, [cairnBin, 'location', 'init', url], { env: s3env });
        execFileSync(process.execPath, [cairnBin, 'etcd', 'cluster', 'init', ...at(url)], { env: s3env });
        for (let run = 0; run < options.runs; run++) {
          // The test RGW keeps objects in a 3 GiB memstore: keep one snapshot at a time.
          // Deleted data is freed by RGW's garbage collector (hours later by default): run it now.
          if (run > 0) {
            await deletePrefix(admin.client, bucket.bucket, 'cairn/etcd/');
            const conf = await findRgwConf(s3.endpoint);
            if (conf !== undefined)
              execFileSync('radosgw-admin', ['-c', conf, 'gc', 'process', '--include-all']);
          }
          dropCaches();
          loads.push(load1());
          const timing = await runTimed(
            process.execPath,
            [cairnBin, 'etcd', 'snapshot', 'save', '--endpoints', etcd.endpoint, ...at(url)],
            {
              env: s3env,
              logFile: path.join(work, `rgw-${run}.log`),
              timeFile: path.join(work, `rgw-${run}.time`),
            },
          );
          rgw.push(timing);
          log(`run ${run + 1} cairn etcd snapshot save → RGW: ${fmt(timing)}`);
        }
        const verify = await runTimed(
          process.execPath,
          [cairnBin, 'etcd', 'snapshot', 'verify', 'latest', ...at(url)],
          {
            env: s3env,
            logFile: path.join(work, 'rgw-verify.log'),
            timeFile: path.join(work, 'rgw-verify.time'),
          },
        );
        log(`cairn etcd snapshot verify (RGW → SHA-256 + trailer + etcdctl status): ${fmt(verify)}`);
      } finally {
        await bucket.remove();
      }
    } else rgw = [];

    const summary = (runs: Timing[]) => ({
      wall: median(runs.map((r) => r.wall)),
      cpu: median(runs.map((r) => r.user + r.sys)),
      rssMiB: median(runs.map((r) => r.maxRssKiB)) / 1024,
      rssMaxMiB: Math.max(...runs.map((r) => r.maxRssKiB)) / 1024,
    });
    const b = summary(baselineRuns);
    const e = summary(etcdctlRuns);
    const c = summary(cairnRuns);
    const r = rgw.length > 0 ? summary(rgw) : undefined;
    const sizeMiB = (status.dbSize as number) / MiB;
    const rows = [
      ['cairn --version (start-up baseline)', b],
      ['etcdctl snapshot save → local file', e],
      ['cairn etcd snapshot save → filesystem location', c],
      ...(r ? [['cairn etcd snapshot save → Ceph RGW (S3)', r] as const] : []),
    ] as const;
    const sortedLoads = [...loads].sort((x, y) => x - y);
    console.log(
      `\netcd ${status.version}, database ${sizeMiB.toFixed(0)} MiB, ${keys} keys, median of ${options.runs}, page cache ${isRoot ? 'dropped before every phase' : 'NOT dropped (not root)'}; cairn from ${entry}${options.partSizeMiB === undefined ? '' : `; S3 part size ${options.partSizeMiB} MiB`}`,
    );
    console.log(
      `1-minute load average before the phases: median ${median(loads).toFixed(1)} (${sortedLoads[0]?.toFixed(1)}–${sortedLoads.at(-1)?.toFixed(1)}) on ${os.cpus().length} CPUs\n`,
    );
    console.log('| phase | wall (s) | MB/s | CPU (s) | peak RSS (MiB), median (max) |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const [label, s] of rows) {
      const mbs = s === b ? '' : (sizeMiB / s.wall).toFixed(0);
      console.log(
        `| ${label} | ${s.wall.toFixed(2)} | ${mbs} | ${s.cpu.toFixed(2)} | ${s.rssMiB.toFixed(0)} (${s.rssMaxMiB.toFixed(0)}) |`,
      );
    }
    console.log(
      `\nCairn / etcdctl: wall ${(c.wall / e.wall).toFixed(2)}× (target ≤ 1.1×), CPU ${(c.cpu / e.cpu).toFixed(2)}×; Cairn peak RSS ${c.rssMiB.toFixed(0)} MiB median, ${c.rssMaxMiB.toFixed(0)} max (target ≤ 150 MB = 143 MiB)`,
    );
    const out = path.join(os.tmpdir(), `cairn-bench-etcd-${Date.now()}.json`);
    await writeFile(
      out,
      JSON.stringify({ options, entry, status, loads, baselineRuns, etcdctlRuns, cairnRuns, rgw }, null, 2),
    );
    console.log(`raw results: ${out}`);
  } finally {
    await etcd.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
