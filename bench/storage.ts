// `npm run bench:storage`: write and read throughput of Cairn's storage backends (filesystem and
// S3 on a real Ceph RGW) next to `rclone copy` of the same data, in one run, printed as ratios.
//
//   node scripts/with-services.ts node bench/storage.ts [--runs N] [--scale F | --quick]
//        [--targets rclone-local,cairn-fs,rclone-rgw,cairn-rgw] [--datasets large,small]
//
// Data: large/ = 8 × 128 MiB pseudo-random files; small/ = 20,000 files of 1–8 KiB in 100 folders
// (--scale F multiplies the large file size and the small file count; --quick = --scale 0.125 --runs 1).
// Every measured phase is a child process under /usr/bin/time (wall, user, sys, peak RSS), Cairn
// (bench/storage-worker.ts) and rclone alike, startup included. Phases run in the same order for
// every target: write, read, and the read is verified (SHA-256 of every file, not timed).
// Results: a table of medians on stdout and a JSON file in the OS temp dir (path printed).

import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { assertSameTree, generateSource, hashTree } from './lib/files.ts';
import {
  type BenchS3,
  benchAdmin,
  benchS3FromEnv,
  findRgwConf,
  purgeBucket,
  radosgwVersion,
} from './lib/rgw.ts';
import { median, runTimed, TIME_BIN, type Timing } from './lib/timed.ts';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workerScript = path.join(repoRoot, 'bench', 'storage-worker.ts');

type Dataset = 'large' | 'small';
type Phase = 'write' | 'read';
type TargetName = 'rclone-local' | 'cairn-fs' | 'rclone-rgw' | 'cairn-rgw';
const ALL_TARGETS: readonly TargetName[] = ['rclone-local', 'cairn-fs', 'rclone-rgw', 'cairn-rgw'];
const ALL_DATASETS: readonly Dataset[] = ['large', 'small'];
const CONCURRENCY: Record<Dataset, number> = { large: 4, small: 32 };
const TARGET_LABEL: Record<TargetName, string> = {
  'rclone-local': 'rclone → local folder (ceiling)',
  'cairn-fs': 'Cairn → filesystem location',
  'rclone-rgw': 'rclone → RGW',
  'cairn-rgw': 'Cairn → RGW',
};

interface Options {
  runs: number;
  scale: number;
  targets: TargetName[];
  datasets: Dataset[];
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { runs: 3, scale: 1, targets: [...ALL_TARGETS], datasets: [...ALL_DATASETS] };
  let runsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--runs') {
      options.runs = Number(value());
      runsGiven = true;
    } else if (arg === '--scale') options.scale = Number(value());
    else if (arg === '--quick') {
      options.scale = 0.125;
      if (!runsGiven) options.runs = 1;
    } else if (arg === '--targets') {
      options.targets = value()
        .split(',')
        .map((t) => {
          if (!ALL_TARGETS.includes(t as TargetName)) throw new Error(`unknown target ${t}`);
          return t as TargetName;
        });
    } else if (arg === '--datasets') {
      options.datasets = value()
        .split(',')
        .map((d) => {
          if (!ALL_DATASETS.includes(d as Dataset)) throw new Error(`unknown dataset ${d}`);
          return d as Dataset;
        });
    } else if (arg === '--help' || arg === '-h') {
      console.log(
        'usage: node bench/storage.ts [--runs N] [--scale F | --quick] [--targets a,b] [--datasets large,small]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isSafeInteger(options.runs) || options.runs < 1)
    throw new Error('--runs must be a whole number ≥ 1');
  if (!(options.scale > 0 && options.scale <= 1)) throw new Error('--scale must be in (0, 1]');
  return options;
}

const log = (line: string) => console.error(`[bench] ${line}`);

interface Measurement extends Timing {
  readonly dataset: Dataset;
  readonly phase: Phase;
  readonly target: TargetName;
  readonly run: number;
  /** Seconds the `sync` after the phase took (dirty data the tool left in the page cache). */
  readonly syncAfter: number;
  /** The machine's 1-minute load average when the phase ended (other work competes for the CPUs). */
  readonly load1: number;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 30_000 });
    return stdout.trim().split('\n')[0] ?? '';
  } catch (err) {
    return `unknown (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
  }
}

/** Flushes dirty pages and, where permitted, drops the page cache. Returns the seconds `sync` took. */
function makeSettler(): { settle: () => Promise<number>; canDrop: boolean } {
  const dropCaches = (): boolean => {
    try {
      execFileSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  execFileSync('sync');
  const canDrop = dropCaches();
  const settle = async () => {
    const started = performance.now();
    execFileSync('sync');
    const syncSeconds = (performance.now() - started) / 1000;
    if (canDrop) {
      dropCaches();
      // Load the tools' executables again, so a phase does not pay for reading the node or rclone binary.
      execFileSync(process.execPath, ['--version'], { stdio: 'ignore' });
      execFileSync('rclone', ['version'], { stdio: 'ignore' });
    }
    return syncSeconds;
  };
  return { settle, canDrop };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const s3: BenchS3 = benchS3FromEnv();
  const admin = benchAdmin(s3);
  const rgwConf = await findRgwConf(s3.endpoint);

  const shape = {
    largeFiles: 8,
    largeFileBytes: Math.round((128 * MiB * options.scale) / 4096) * 4096,
    smallFiles: Math.round(20_000 * options.scale),
    smallFolders: 100,
  };

  const versions = {
    node: process.version,
    rclone: await firstLine('rclone', ['version']),
    radosgw: await radosgwVersion(),
    time: TIME_BIN,
  };
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    kernel: os.release(),
  };
  log(`node ${versions.node}; ${versions.rclone}; ${versions.radosgw}`);
  log(`${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, kernel ${machine.kernel}`);
  log(`S3: ${s3.endpoint}${rgwConf ? ` (ceph.conf ${rgwConf})` : ''}`);
  if (rgwConf === undefined) {
    log(
      'WARNING: cannot find the ceph.conf of this RGW: buckets are deleted over S3, whose data RGW garbage-collects only after 2 h: the 3 GiB memstore may fill up',
    );
  }

  const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-storage-'));
  const openBuckets = new Set<() => Promise<void>>();
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const remove of openBuckets) await remove().catch(() => {});
    openBuckets.clear();
    await rm(root, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up ${root}`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const src = path.join(root, 'src');
    log(
      `generating ${shape.largeFiles} × ${(shape.largeFileBytes / MiB).toFixed(1)} MiB and ${shape.smallFiles} small files under ${src}`,
    );
    const generated = await generateSource(src, shape);
    const bytes: Record<Dataset, number> = { large: generated.largeBytes, small: generated.smallBytes };
    const objects: Record<Dataset, number> = { large: shape.largeFiles, small: shape.smallFiles };
    const sourceHashes: Record<Dataset, Map<string, string>> = {
      large: await hashTree(path.join(src, 'large')),
      small: await hashTree(path.join(src, 'small')),
    };
    log(
      `source ready: large ${(bytes.large / MiB).toFixed(0)} MiB, small ${(bytes.small / MiB).toFixed(1)} MiB in ${shape.smallFiles} files (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );

    const { settle, canDrop } = makeSettler();
    log(
      canDrop
        ? 'page cache: dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every phase'
        : 'page cache: NOT dropped (writing /proc/sys/vm/drop_caches is not permitted here): reads of the source come from the page cache, for every tool alike',
    );

    const rcloneConfig = path.join(root, 'rclone.conf');
    await writeFile(rcloneConfig, '');
    const baseEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      TMPDIR: root,
    };
    const cairnEnv: NodeJS.ProcessEnv = {
      ...baseEnv,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
    const rcloneEnv: NodeJS.ProcessEnv = {
      ...baseEnv,
      RCLONE_CONFIG: rcloneConfig,
      RCLONE_CONFIG_RGW_TYPE: 's3',
      RCLONE_CONFIG_RGW_PROVIDER: 'Ceph',
      RCLONE_CONFIG_RGW_ENV_AUTH: 'false',
      RCLONE_CONFIG_RGW_ENDPOINT: s3.endpoint,
      RCLONE_CONFIG_RGW_REGION: s3.region,
      RCLONE_CONFIG_RGW_ACCESS_KEY_ID: s3.accessKeyId,
      RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY: s3.secretAccessKey,
      RCLONE_CONFIG_RGW_FORCE_PATH_STYLE: 'true',
    };
    const s3Url = (bucket: string) =>
      `s3://${bucket}?endpoint=${encodeURIComponent(s3.endpoint)}&region=${encodeURIComponent(s3.region)}&forcePathStyle=true`;

    const measurements: Measurement[] = [];
    const logsDir = path.join(root, 'logs');
    await mkdir(logsDir);

    for (const dataset of options.datasets) {
      const n = CONCURRENCY[dataset];
      const keyPrefix = `repository/bench/${dataset}/`;
      const srcDir = path.join(src, dataset);
      for (let run = 1; run <= options.runs; run++) {
        for (const target of options.targets) {
          const tag = `${dataset}-${target}-${run}`;
          const restore = path.join(root, 'restore', tag);
          let writeCmd: [string, string[]];
          let readCmd: [string, string[]];
          let env: NodeJS.ProcessEnv;
          let removeDest: () => Promise<void>;
          if (target === 'rclone-local' || target === 'cairn-fs') {
            const dest = path.join(root, 'dest', tag);
            await mkdir(dest, { recursive: true });
            removeDest = () => rm(dest, { recursive: true, force: true });
            if (target === 'rclone-local') {
              const destDir = path.join(dest, ...keyPrefix.split('/').filter(Boolean));
              env = rcloneEnv;
              writeCmd = ['rclone', ['copy', srcDir, destDir, '--transfers', `${n}`, '--checkers', `${n}`]];
              readCmd = ['rclone', ['copy', destDir, restore, '--transfers', `${n}`, '--checkers', `${n}`]];
            } else {
              env = cairnEnv;
              writeCmd = [process.execPath, [workerScript, 'put-dir', dest, srcDir, keyPrefix, `${n}`]];
              readCmd = [process.execPath, [workerScript, 'get-dir', dest, restore, keyPrefix, `${n}`]];
            }
          } else {
            const bucket = await admin.createBucket(`bench-${dataset}`);
            const remove = async () => {
              openBuckets.delete(remove);
              if (rgwConf !== undefined) await purgeBucket(rgwConf, bucket.bucket);
              else await bucket.remove();
            };
            openBuckets.add(remove);
            removeDest = remove;
            if (target === 'rclone-rgw') {
              const remote = `rgw:${bucket.bucket}/${keyPrefix.slice(0, -1)}`;
              env = rcloneEnv;
              writeCmd = ['rclone', ['copy', srcDir, remote, '--transfers', `${n}`, '--checkers', `${n}`]];
              readCmd = ['rclone', ['copy', remote, restore, '--transfers', `${n}`, '--checkers', `${n}`]];
            } else {
              const url = s3Url(bucket.bucket);
              env = cairnEnv;
              writeCmd = [process.execPath, [workerScript, 'put-dir', url, srcDir, keyPrefix, `${n}`]];
              readCmd = [process.execPath, [workerScript, 'get-dir', url, restore, keyPrefix, `${n}`]];
            }
          }

          try {
            for (const [phase, [cmd, args]] of [
              ['write', writeCmd],
              ['read', readCmd],
            ] as const) {
              await settle();
              const timing = await runTimed(cmd, args, {
                env,
                cwd: repoRoot,
                logFile: path.join(logsDir, `${tag}-${phase}.log`),
                timeFile: path.join(logsDir, `${tag}-${phase}.time`),
              });
              const load1 = os.loadavg()[0] ?? Number.NaN;
              const syncAfter = await settle();
              const m: Measurement = { ...timing, dataset, phase, target, run, syncAfter, load1 };
              measurements.push(m);
              log(
                `${dataset} run ${run}/${options.runs} ${target.padEnd(12)} ${phase.padEnd(5)} ${timing.wall.toFixed(2).padStart(7)} s  ${mbps(bytes[dataset], timing.wall).toFixed(1).padStart(7)} MB/s  cpu ${(timing.user + timing.sys).toFixed(2)} s  rss ${(timing.maxRssKiB / 1024).toFixed(0)} MiB  sync ${syncAfter.toFixed(2)} s  load ${load1.toFixed(1)}`,
              );
            }
            assertSameTree(
              sourceHashes[dataset],
              await hashTree(restore),
              `${dataset} via ${target} run ${run}`,
            );
          } finally {
            await rm(restore, { recursive: true, force: true });
            await removeDest();
          }
        }
      }
    }

    const report = buildReport(measurements, options, bytes, objects, canDrop);
    console.log(report.text);
    const jsonPath = path.join(
      os.tmpdir(),
      `cairn-bench-storage-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
    );
    await writeFile(
      jsonPath,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          options,
          shape,
          bytes,
          objects,
          concurrency: CONCURRENCY,
          pageCacheDropped: canDrop,
          versions,
          machine,
          medians: report.medians,
          ratios: report.ratios,
          measurements,
        },
        null,
        2,
      )}\n`,
    );
    log(`JSON results: ${jsonPath}`);
    log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await cleanup();
    admin.client.destroy();
  }
}

function mbps(bytes: number, seconds: number): number {
  return bytes / 1e6 / seconds;
}

interface Median {
  dataset: Dataset;
  phase: Phase;
  target: TargetName;
  runs: number;
  wall: number;
  mbps: number;
  objectsPerSecond: number;
  cpu: number;
  maxRssMiB: number;
  syncAfter: number;
}

function buildReport(
  measurements: readonly Measurement[],
  options: Options,
  bytes: Record<Dataset, number>,
  objects: Record<Dataset, number>,
  canDrop: boolean,
) {
  const medians: Median[] = [];
  for (const dataset of options.datasets) {
    for (const phase of ['write', 'read'] as const) {
      for (const target of options.targets) {
        const ms = measurements.filter(
          (m) => m.dataset === dataset && m.phase === phase && m.target === target,
        );
        if (ms.length === 0) continue;
        const wall = median(ms.map((m) => m.wall));
        medians.push({
          dataset,
          phase,
          target,
          runs: ms.length,
          wall,
          mbps: mbps(bytes[dataset], wall),
          objectsPerSecond: objects[dataset] / wall,
          cpu: median(ms.map((m) => m.user + m.sys)),
          maxRssMiB: median(ms.map((m) => m.maxRssKiB)) / 1024,
          syncAfter: median(ms.map((m) => m.syncAfter)),
        });
      }
    }
  }
  const find = (dataset: Dataset, phase: Phase, target: TargetName) =>
    medians.find((m) => m.dataset === dataset && m.phase === phase && m.target === target);

  const lines: string[] = [];
  lines.push('');
  lines.push(
    `Storage benchmark — medians of ${options.runs} run(s); MB = 10^6 bytes; CPU = user+sys of the client process; page cache ${canDrop ? 'dropped' : 'NOT dropped'} between phases`,
  );
  lines.push(
    `large = ${objects.large} × ${(bytes.large / objects.large / MiB).toFixed(0)} MiB (concurrency ${CONCURRENCY.large}); small = ${objects.small} files, ${(bytes.small / MiB).toFixed(1)} MiB (concurrency ${CONCURRENCY.small})`,
  );
  const loads = measurements.map((m) => m.load1);
  lines.push(
    `1-min load average at the end of the phases: median ${median(loads).toFixed(1)} (${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}) on ${os.cpus().length} CPUs`,
  );
  lines.push('');
  lines.push(
    '| data | phase | tool → target | wall s | MB/s | objects/s | CPU s | peak RSS MiB | sync after s |',
  );
  lines.push('|---|---|---|--:|--:|--:|--:|--:|--:|');
  for (const m of medians) {
    lines.push(
      `| ${m.dataset} | ${m.phase} | ${TARGET_LABEL[m.target]} | ${m.wall.toFixed(2)} | ${m.mbps.toFixed(1)} | ${m.dataset === 'small' ? m.objectsPerSecond.toFixed(0) : '–'} | ${m.cpu.toFixed(2)} | ${m.maxRssMiB.toFixed(0)} | ${m.syncAfter.toFixed(2)} |`,
    );
  }

  const pairs: [TargetName, TargetName, string][] = [
    ['cairn-fs', 'rclone-local', 'Cairn fs ÷ rclone local (same target, and the I/O ceiling)'],
    ['cairn-rgw', 'rclone-rgw', 'Cairn RGW ÷ rclone RGW (same target)'],
    ['cairn-rgw', 'rclone-local', 'Cairn RGW ÷ rclone local ceiling'],
  ];
  const ratios: {
    dataset: Dataset;
    phase: Phase;
    cairn: TargetName;
    peer: TargetName;
    throughput: number;
    cpu: number;
    rss: number;
  }[] = [];
  lines.push('');
  lines.push('Ratios (throughput: > 1 means Cairn is faster; CPU and RSS: > 1 means Cairn uses more)');
  lines.push('');
  lines.push('| data | phase | comparison | throughput | CPU | peak RSS |');
  lines.push('|---|---|---|--:|--:|--:|');
  for (const dataset of options.datasets) {
    for (const phase of ['write', 'read'] as const) {
      for (const [cairn, peer, label] of pairs) {
        const a = find(dataset, phase, cairn);
        const b = find(dataset, phase, peer);
        if (a === undefined || b === undefined) continue;
        const r = {
          dataset,
          phase,
          cairn,
          peer,
          throughput: b.wall / a.wall,
          cpu: a.cpu / b.cpu,
          rss: a.maxRssMiB / b.maxRssMiB,
        };
        ratios.push(r);
        lines.push(
          `| ${dataset} | ${phase} | ${label} | ${r.throughput.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.rss.toFixed(2)} |`,
        );
      }
    }
  }
  lines.push('');
  lines.push(
    'Note: Cairn\'s filesystem backend fsyncs every object and its folder before a put returns (durability); rclone\'s local copy does not fsync (its dirty data is flushed by the untimed `sync` after the phase: see "sync after"). Reads are not fsynced by either.',
  );
  return { text: lines.join('\n'), medians, ratios };
}

try {
  await main();
} catch (err) {
  console.error(`[bench] FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
}
