/**
 * `npm run bench:repository` (issue 6): Cairn's repository against restic 0.14
 * (repository v2, `--compression auto`) on the same ≈1 GiB of deterministic
 * data, in the same run, to a local folder — full backup, incremental backup
 * after a ~5 % change, restore — with `cp -a` and `rsync -a` as the I/O floor;
 * then the full backup to Ceph RGW. Caches are synced and dropped before every
 * phase (where permitted); every phase is run under `/usr/bin/time` (wall,
 * user+sys CPU seconds, peak RSS of the process tree) and, for Cairn and
 * restic, the peak anonymous memory sampled from /proc (RSS without the
 * program's own code: Node's binary keeps ~55 MiB of it resident, restic's
 * ~16); median of N runs; every restore is verified by SHA-256 of every file.
 * Ratios Cairn / restic printed.
 *
 * Options: --runs N (3), --scale F (1 = the data set), --rgw-runs N
 * (= runs; 0 skips RGW), --keep (leave the temp folder).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertSameTree, hashTree } from './lib/files.ts';
import { dataShape, generateData, setVersion } from './lib/repository-data.ts';
import { benchAdmin, benchS3FromEnv, findRgwConf, purgeBucket } from './lib/rgw.ts';
import { median, runTimed, type Timing } from './lib/timed.ts';

const log = (line: string) => console.error(`[bench] ${line}`);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Cairn is run the way users run it (`npx cairn`, the image): bin/cairn.js executed through its
 * shebang, which gives Node its start-up options (see bin/cairn.js), with the Node running this
 * benchmark first on PATH.
 */
const CAIRN = path.join(repoRoot, 'bin/cairn.js');
const PASSWORD = 'bench password, not secret';

type Tool = 'cairn' | 'restic' | 'cp' | 'rsync';
type Phase = 'full' | 'incremental' | 'restore' | 'full-rgw';

interface Row extends Timing {
  readonly tool: Tool;
  readonly phase: Phase;
  readonly run: number;
  readonly repoBytes?: number;
  readonly load1: number;
}

function parseArgs(argv: string[]) {
  const o = { runs: 3, scale: 1, rgwRuns: -1, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--scale') o.scale = Number(argv[++i]);
    else if (a === '--rgw-runs') o.rgwRuns = Number(argv[++i]);
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (o.rgwRuns < 0) o.rgwRuns = o.runs;
  return o;
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir]).toString().split(/\s+/)[0]);
}

function settler(): { settle: () => void; canDrop: boolean } {
  const drop = (): boolean => {
    try {
      execFileSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  execFileSync('sync');
  const canDrop = drop();
  return {
    canDrop,
    settle: () => {
      execFileSync('sync');
      if (canDrop) {
        drop();
        // Page the executables back in: a phase should not pay for loading node or restic from disk.
        execFileSync(CAIRN, ['--version'], {
          stdio: 'ignore',
          env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` },
        });
        execFileSync('restic', ['version'], { stdio: 'ignore' });
      }
    },
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const shape = dataShape(opts.scale);
  const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-repo-'));
  const src = path.join(root, 'src');
  const rows: Row[] = [];
  const resticVersion = execFileSync('restic', ['version']).toString().trim();
  log(
    `node ${process.version}; ${resticVersion}; ${os.cpus().length} CPUs; load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  log(`data under ${src}`);
  const gen = await generateData(src, shape);
  log(`generated ${gen.files} files, ${(gen.bytes / 2 ** 20).toFixed(0)} MiB`);
  const v1 = await hashTree(src);
  await setVersion(src, shape, 'v2');
  const v2 = await hashTree(src);
  await setVersion(src, shape, 'v1');
  assertSameTree(v1, await hashTree(src), 'the reverted source (v1)');
  const changed = [...v2].filter(([k, d]) => v1.get(k) !== d).length;
  log(`version 2 changes ${changed} files`);
  const { settle, canDrop } = settler();
  log(
    canDrop
      ? 'page cache dropped before every phase'
      : 'page cache NOT dropped (not permitted): every tool reads from the page cache alike',
  );

  const env: NodeJS.ProcessEnv = {
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: process.env.HOME ?? '/root',
    TMPDIR: root,
    CAIRN_PASSWORD: PASSWORD,
    RESTIC_PASSWORD: PASSWORD,
  };
  const timed = async (
    tool: Tool,
    phase: Phase,
    run: number,
    cmd: string,
    args: string[],
    extra: NodeJS.ProcessEnv = {},
  ) => {
    settle();
    const t = await runTimed(cmd, args, {
      env: { ...env, ...extra },
      logFile: path.join(root, `${tool}-${phase}-${run}.log`),
      timeFile: path.join(root, `${tool}-${phase}-${run}.time`),
      sampleMemory: tool === 'cairn' || tool === 'restic',
    });
    const row: Row = { ...t, tool, phase, run, load1: os.loadavg()[0] ?? 0 };
    rows.push(row);
    const anon = t.peakAnonKiB === undefined ? '' : ` (${(t.peakAnonKiB / 1024).toFixed(0)} MiB anonymous)`;
    log(
      `run ${run} ${phase.padEnd(11)} ${tool.padEnd(6)} ${t.wall.toFixed(2)} s wall, ${(t.user + t.sys).toFixed(2)} s CPU, ${(t.maxRssKiB / 1024).toFixed(0)} MiB RSS${anon} (load ${row.load1.toFixed(1)})`,
    );
    return row;
  };

  try {
    for (let run = 1; run <= opts.runs; run++) {
      const dir = path.join(root, `run-${run}`);
      await mkdir(dir);
      const cairnRepo = path.join(dir, 'cairn-repo');
      const resticRepo = path.join(dir, 'restic-repo');
      const cairnCache = path.join(dir, 'cairn-cache');
      const resticCache = path.join(dir, 'restic-cache');
      execFileSync(CAIRN, ['repo', 'init', '--location', cairnRepo], { env, stdio: 'ignore' });
      execFileSync('restic', ['init', '--repository-version', '2', '-r', resticRepo], {
        env,
        stdio: 'ignore',
      });
      const cairnBackup = ['repo', 'backup', src, '--location', cairnRepo, '--cache-dir', cairnCache];
      const resticBackup = [
        '-r',
        resticRepo,
        '--cache-dir',
        resticCache,
        'backup',
        src,
        '--compression',
        'auto',
        '--host',
        'bench',
      ];

      // Full.
      const size = (r: Row, dirOf: string) =>
        rows.splice(rows.indexOf(r), 1, { ...r, repoBytes: duBytes(dirOf) });
      size(await timed('cairn', 'full', run, CAIRN, cairnBackup), cairnRepo);
      size(await timed('restic', 'full', run, 'restic', resticBackup), resticRepo);
      await timed('cp', 'full', run, 'cp', ['-a', src, path.join(dir, 'cp-copy')]);
      await timed('rsync', 'full', run, 'rsync', ['-a', `${src}/`, path.join(dir, 'rsync-copy/')]);

      // Incremental (the ~5 % change; rsync updates its copy, cp has no incremental mode).
      await setVersion(src, shape, 'v2');
      size(await timed('cairn', 'incremental', run, CAIRN, cairnBackup), cairnRepo);
      size(await timed('restic', 'incremental', run, 'restic', resticBackup), resticRepo);
      await timed('rsync', 'incremental', run, 'rsync', ['-a', `${src}/`, path.join(dir, 'rsync-copy/')]);

      // Restore of version 2, each verified.
      const cairnTarget = path.join(dir, 'cairn-restore');
      await timed('cairn', 'restore', run, CAIRN, [
        'repo',
        'restore',
        'latest',
        cairnTarget,
        '--location',
        cairnRepo,
      ]);
      assertSameTree(v2, await hashTree(cairnTarget), `cairn restore, run ${run}`);
      const resticTarget = path.join(dir, 'restic-restore');
      await timed('restic', 'restore', run, 'restic', [
        '-r',
        resticRepo,
        '--cache-dir',
        resticCache,
        'restore',
        'latest',
        '--target',
        resticTarget,
      ]);
      assertSameTree(v2, await hashTree(path.join(resticTarget, src)), `restic restore, run ${run}`);
      await timed('cp', 'restore', run, 'cp', [
        '-a',
        path.join(dir, 'rsync-copy'),
        path.join(dir, 'cp-restore'),
      ]);
      assertSameTree(v2, await hashTree(path.join(dir, 'cp-restore')), `cp restore, run ${run}`);
      await timed('rsync', 'restore', run, 'rsync', [
        '-a',
        `${path.join(dir, 'rsync-copy')}/`,
        path.join(dir, 'rsync-restore/'),
      ]);
      assertSameTree(v2, await hashTree(path.join(dir, 'rsync-restore')), `rsync restore, run ${run}`);

      await setVersion(src, shape, 'v1');
      await rm(dir, { recursive: true, force: true });
    }

    if (opts.rgwRuns > 0) {
      // A failing S3 run (the shared RGW under load) must not lose the local results.
      await rgwRuns(opts.rgwRuns, src, env, timed).catch((err: unknown) =>
        log(
          `RGW runs stopped: ${err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err)}`,
        ),
      );
    }
  } finally {
    if (!opts.keep) await rm(root, { recursive: true, force: true });
    else log(`kept ${root}`);
  }
  report(rows, {
    shape,
    bytes: gen.bytes,
    files: gen.files,
    changed,
    canDrop,
    resticVersion,
    runs: opts.runs,
  });
}

async function rgwRuns(
  runs: number,
  src: string,
  env: NodeJS.ProcessEnv,
  timed: (
    tool: Tool,
    phase: Phase,
    run: number,
    cmd: string,
    args: string[],
    extra?: NodeJS.ProcessEnv,
  ) => Promise<Row>,
): Promise<void> {
  const s3 = benchS3FromEnv();
  const admin = benchAdmin(s3);
  const conf = await findRgwConf(s3.endpoint);
  const creds = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  try {
    for (let run = 1; run <= runs; run++) {
      for (const tool of ['cairn', 'restic'] as const) {
        const bucket = await admin.createBucket(`bench-repo-${tool}`);
        try {
          if (tool === 'cairn') {
            const url = `s3://${bucket.bucket}/cairn?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}`;
            execFileSync(CAIRN, ['repo', 'init', '--location', url], {
              env: { ...env, ...creds },
              stdio: 'ignore',
            });
            await timed(
              'cairn',
              'full-rgw',
              run,
              CAIRN,
              ['repo', 'backup', src, '--location', url, '--no-cache'],
              creds,
            );
          } else {
            const repo = `s3:${s3.endpoint}/${bucket.bucket}/restic`;
            execFileSync('restic', ['init', '--repository-version', '2', '-r', repo], {
              env: { ...env, ...creds },
              stdio: ['ignore', 'ignore', 'pipe'],
            });
            await timed(
              'restic',
              'full-rgw',
              run,
              'restic',
              ['-r', repo, '--no-cache', 'backup', src, '--compression', 'auto', '--host', 'bench'],
              creds,
            );
          }
        } finally {
          if (conf !== undefined) await purgeBucket(conf, bucket.bucket).catch(() => bucket.remove());
          else await bucket.remove();
        }
      }
    }
  } finally {
    admin.client.destroy();
  }
}

function report(
  rows: Row[],
  info: {
    shape: object;
    bytes: number;
    files: number;
    changed: number;
    canDrop: boolean;
    resticVersion: string;
    runs: number;
  },
): void {
  const phases: Phase[] = ['full', 'incremental', 'restore', 'full-rgw'];
  const tools: Tool[] = ['cairn', 'restic', 'cp', 'rsync'];
  const med = (tool: Tool, phase: Phase) => {
    const r = rows.filter((x) => x.tool === tool && x.phase === phase);
    if (r.length === 0) return undefined;
    return {
      wall: median(r.map((x) => x.wall)),
      cpu: median(r.map((x) => x.user + x.sys)),
      rss: median(r.map((x) => x.maxRssKiB / 1024)),
      anon: r.every((x) => x.peakAnonKiB !== undefined)
        ? median(r.map((x) => (x.peakAnonKiB ?? 0) / 1024))
        : undefined,
      size: r[0]?.repoBytes === undefined ? undefined : median(r.map((x) => x.repoBytes ?? 0)),
      load: median(r.map((x) => x.load1)),
      n: r.length,
    };
  };
  const lines: string[] = [];
  lines.push(
    `data: ${info.files} files, ${(info.bytes / 2 ** 20).toFixed(0)} MiB; version 2 changes ${info.changed} files; ${info.resticVersion}`,
  );
  lines.push(
    `page cache: ${info.canDrop ? 'dropped before every phase' : 'not dropped'}; medians of ${info.runs} runs`,
  );
  lines.push('');
  lines.push('| phase | tool | wall s | CPU s | peak RSS MiB | peak anonymous MiB | repo MiB | load1 |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const phase of phases) {
    for (const tool of tools) {
      const m = med(tool, phase);
      if (m === undefined) continue;
      lines.push(
        `| ${phase} | ${tool} | ${m.wall.toFixed(2)} | ${m.cpu.toFixed(2)} | ${m.rss.toFixed(0)} | ${m.anon === undefined ? '' : m.anon.toFixed(0)} | ${m.size === undefined ? '' : (m.size / 2 ** 20).toFixed(0)} | ${m.load.toFixed(1)} |`,
      );
    }
  }
  lines.push('');
  lines.push('| phase | wall Cairn/restic | CPU | RSS | anonymous | size | target (wall) |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  const targets: Record<Phase, string> = {
    full: '≤ 0.85',
    incremental: '≤ 0.75',
    restore: '≤ 0.9',
    'full-rgw': '—',
  };
  for (const phase of phases) {
    const c = med('cairn', phase);
    const r = med('restic', phase);
    if (c === undefined || r === undefined) continue;
    const ratio = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? '' : (a / b).toFixed(2);
    lines.push(
      `| ${phase} | ${ratio(c.wall, r.wall)} | ${ratio(c.cpu, r.cpu)} | ${ratio(c.rss, r.rss)} | ${ratio(c.anon, r.anon)} | ${ratio(c.size, r.size)} | ${targets[phase]} |`,
    );
  }
  console.log(lines.join('\n'));
  console.log(`\nraw: ${JSON.stringify(rows)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
