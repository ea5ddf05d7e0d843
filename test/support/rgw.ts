// A real S3 server for tests: a throwaway single-node Ceph cluster (memstore OSD,
// no cephx) with a radosgw (beast frontend) on a loopback port.
//
// Layout of `dir`:
//   ceph.conf, monmap, owner.pid (pid of the node process that owns a temporary instance)
//   run/<name>.pid, run/<name>.asok   log/<name>.log   mon/ mgr/ osd/ data dirs
//
// Daemons fork into the background; they are tracked and stopped by their pid files.
// A temporary instance whose owner died without cleaning up (e.g. SIGKILL) is
// reaped by the next startRgw() call.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type RgwServer = {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A second S3 user, for AccessDenied tests. */
  otherAccessKeyId: string;
  otherSecretAccessKey: string;
  region: string;
  dir: string;
  stop(): Promise<void>;
};

export type StartRgwOptions = {
  /** Directory for the cluster. Default: a fresh temp dir, removed by stop(). */
  dir?: string;
  /** RGW HTTP port on 127.0.0.1. Default: a free port. */
  port?: number;
  /** Mon (msgr v2) port on 127.0.0.1. Default: a free port. */
  monPort?: number;
  /** Progress messages. */
  log?: (line: string) => void;
  /** Abort start-up; everything started so far is stopped and startRgw rejects. */
  signal?: AbortSignal;
  /** How long to wait for RGW to answer HTTP. Default 180 s. */
  readyTimeoutMs?: number;
  /**
   * Keep the instance when its creating process exits (no owner.pid), e.g. for a
   * developer's long-running instance. Default false.
   */
  persistent?: boolean;
};

export const RGW_ACCESS_KEY_ID = 'cairntest';
export const RGW_SECRET_ACCESS_KEY = 'cairntestsecret';
export const RGW_OTHER_ACCESS_KEY_ID = 'cairnother';
export const RGW_OTHER_SECRET_ACCESS_KEY = 'cairnothersecret';
// RGW accepts any region in SigV4; this is the zonegroup's api name default.
export const RGW_REGION = 'us-east-1';

const TEMP_PREFIX = 'cairn-rgw-';
const RGW_NAME = 'client.rgw.a';
// Stop order: clients first, mon last (an OSD stops quickly only while the mon is up).
const DAEMONS = [RGW_NAME, 'osd.0', 'mgr.x', 'mon.a'] as const;
const RGW_POOLS = [
  '.rgw.root',
  'default.rgw.log',
  'default.rgw.control',
  'default.rgw.meta',
  'default.rgw.buckets.index',
  'default.rgw.buckets.data',
  'default.rgw.buckets.non-ec',
];
const MEMSTORE_BYTES = 3 * 1024 * 1024 * 1024;

export async function startRgw(options: StartRgwOptions = {}): Promise<RgwServer> {
  const log = options.log ?? (() => {});
  const signal = options.signal;
  signal?.throwIfAborted();
  await reapOrphans(log);

  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), TEMP_PREFIX)));
  if (!ownsDir) {
    // A previous instance in a fixed dir (e.g. scripts/rgw.ts) must go first.
    await stopRgwDir(dir, log);
    await mkdir(dir, { recursive: true });
  }
  if (join(dir, 'run', `${RGW_NAME}.asok`).length > 100) {
    throw new Error(`startRgw: dir ${dir} is too long for unix socket paths (max ~100 chars)`);
  }

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await stopDaemons(dir, log);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    if (!options.persistent) await writeFile(join(dir, 'owner.pid'), `${process.pid}\n`);
    const monPort = options.monPort ?? (await freePort());
    const port = options.port ?? (await freePort([monPort]));
    const conf = join(dir, 'ceph.conf');
    const fsid = randomUUID();
    for (const sub of ['run', 'log', 'mon/mon.a', 'mgr/mgr.x', 'osd/osd.0']) {
      await mkdir(join(dir, sub), { recursive: true });
    }
    await writeFile(conf, cephConf({ dir, fsid, monPort, port }));
    const step = async (what: string, cmd: string, args: string[], logName?: string) => {
      signal?.throwIfAborted();
      const t = Date.now();
      await run(cmd, args, what, logName ? join(dir, 'log', `${logName}.log`) : undefined);
      log(`rgw: ${what} done in ${Date.now() - t} ms`);
    };

    log(`rgw: starting ceph in ${dir} (mon 127.0.0.1:${monPort}, rgw 127.0.0.1:${port})`);
    const monmap = join(dir, 'monmap');
    await step('monmaptool', 'monmaptool', [
      '--create',
      '--add',
      'a',
      `v2:127.0.0.1:${monPort}`,
      '--fsid',
      fsid,
      monmap,
    ]);
    await step('ceph-mon --mkfs', 'ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', monmap], 'mon.a');
    await step('ceph-mon', 'ceph-mon', ['-c', conf, '-i', 'a'], 'mon.a');
    await step('ceph-mgr', 'ceph-mgr', ['-c', conf, '-i', 'x'], 'mgr.x');
    const osdUuid = randomUUID();
    await step(
      'ceph osd new',
      'ceph',
      ['-c', conf, '--connect-timeout', '60', 'osd', 'new', osdUuid],
      'mon.a',
    );
    await step(
      'ceph-osd --mkfs',
      'ceph-osd',
      ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid],
      'osd.0',
    );
    await step('ceph-osd', 'ceph-osd', ['-c', conf, '-i', '0'], 'osd.0');
    // Create RGW's pools up front, all at once: radosgw would otherwise create them one
    // by one (~2 s each, waiting for PGs), half of them on the first bucket creation.
    signal?.throwIfAborted();
    const ceph = (args: string[], what: string) =>
      run('ceph', ['-c', conf, '--connect-timeout', '60', ...args], what);
    await settleAll(
      RGW_POOLS.map((pool) => ceph(['osd', 'pool', 'create', pool, '8'], `create pool ${pool}`)),
    );
    await settleAll(
      RGW_POOLS.map((pool) =>
        ceph(['osd', 'pool', 'application', 'enable', pool, 'rgw'], `enable rgw on ${pool}`),
      ),
    );
    log(`rgw: rgw pools created`);
    await step('radosgw', 'radosgw', ['-c', conf, '-n', RGW_NAME], RGW_NAME);

    const endpoint = `http://127.0.0.1:${port}`;
    await waitForHttp(endpoint, dir, options.readyTimeoutMs ?? 180_000, signal);
    log(`rgw: answering on ${endpoint}`);

    for (const [uid, access, secret] of [
      ['cairntest', RGW_ACCESS_KEY_ID, RGW_SECRET_ACCESS_KEY],
      ['cairnother', RGW_OTHER_ACCESS_KEY_ID, RGW_OTHER_SECRET_ACCESS_KEY],
    ] as const) {
      await step(`radosgw-admin user create ${uid}`, 'radosgw-admin', [
        '-c',
        conf,
        'user',
        'create',
        '--uid',
        uid,
        '--display-name',
        uid,
        '--access-key',
        access,
        '--secret-key',
        secret,
      ]);
    }
    signal?.throwIfAborted();

    return {
      endpoint,
      accessKeyId: RGW_ACCESS_KEY_ID,
      secretAccessKey: RGW_SECRET_ACCESS_KEY,
      otherAccessKeyId: RGW_OTHER_ACCESS_KEY_ID,
      otherSecretAccessKey: RGW_OTHER_SECRET_ACCESS_KEY,
      region: RGW_REGION,
      dir,
      stop,
    };
  } catch (error) {
    await stop().catch((stopError: unknown) =>
      log(`rgw: cleanup after failed start failed: ${String(stopError)}`),
    );
    throw error;
  }
}

/** Stops the daemons of an instance in `dir` (by pid files) and removes `dir`. */
export async function stopRgwDir(dir: string, log: (line: string) => void = () => {}): Promise<void> {
  if (!existsSync(dir)) return;
  // Refuse to wipe a directory that is not (or was never) one of ours.
  if (!existsSync(join(dir, 'ceph.conf')) && (await readdir(dir)).length > 0) {
    throw new Error(`stopRgwDir: ${dir} is not empty and has no ceph.conf; refusing to delete it`);
  }
  await stopDaemons(dir, log);
  await rm(dir, { recursive: true, force: true });
}

function cephConf(p: { dir: string; fsid: string; monPort: number; port: number }): string {
  const { dir } = p;
  return `[global]
fsid = ${p.fsid}
mon host = v2:127.0.0.1:${p.monPort}
mon addr = v2:127.0.0.1:${p.monPort}
public addr = 127.0.0.1
auth supported = none
auth cluster required = none
auth service required = none
auth client required = none
# without this radosgw hangs on auth
ms mon client mode = crc
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
osd pool default pg autoscale mode = off
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${MEMSTORE_BYTES}
run dir = ${dir}/run
pid file = ${dir}/run/$name.pid
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
mon data = ${dir}/mon/$name
mgr data = ${dir}/mgr/$name
osd data = ${dir}/osd/$name
crash dir = ${dir}/crash

[${RGW_NAME}]
rgw frontends = beast endpoint=127.0.0.1:${p.port}
rgw data = ${dir}/rgw
`;
}

/** Like Promise.all, but waits for every command to finish before rejecting. */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Runs a short command; on failure the error carries its output and the tail of a log file. */
function run(cmd: string, args: string[], what: string, logFile?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, async (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout);
        return;
      }
      const detail = [
        `${what} failed: ${error.message.split('\n')[0]}`,
        stderr.trim() && `stderr:\n${tailLines(stderr, 20)}`,
        stdout.trim() && `stdout:\n${tailLines(stdout, 20)}`,
        logFile && (await logTail(logFile)),
      ]
        .filter(Boolean)
        .join('\n');
      reject(new Error(`startRgw: ${detail}`, { cause: error }));
    });
  });
}

async function waitForHttp(
  endpoint: string,
  dir: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const rgwLog = join(dir, 'log', `${RGW_NAME}.log`);
  let lastError = 'no attempt';
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    try {
      const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(3000) });
      const body = await res.text();
      // Make sure it is our radosgw answering, not something else on a reused port.
      const pid = await readPid(dir, RGW_NAME);
      if (body.includes('ListAllMyBucketsResult') && pid !== undefined && isOurDaemon(pid, dir)) return;
      lastError = `unexpected answer: HTTP ${res.status} ${body.slice(0, 200)}`;
    } catch (error) {
      lastError =
        error instanceof Error
          ? `${error.message}${error.cause ? ` (${String(error.cause)})` : ''}`
          : String(error);
    }
    const pid = await readPid(dir, RGW_NAME);
    if (pid === undefined || !isAlive(pid)) {
      throw new Error(
        `startRgw: radosgw exited before answering HTTP on ${endpoint}\n${await logTail(rgwLog)}`,
      );
    }
    await sleep(250);
  }
  throw new Error(
    `startRgw: radosgw did not answer HTTP on ${endpoint} within ${Math.round(timeoutMs / 1000)} s (last error: ${lastError})\n${await logTail(rgwLog)}\n${await logTail(join(dir, 'log', 'osd.0.log'))}`,
  );
}

async function logTail(file: string, lines = 30): Promise<string> {
  try {
    return `--- last ${lines} lines of ${file} ---\n${tailLines(await readFile(file, 'utf8'), lines)}`;
  } catch {
    return `(no log file ${file})`;
  }
}

function tailLines(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function freePort(avoid: number[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => {
        if (port === 0 || avoid.includes(port)) freePort(avoid).then(resolve, reject);
        else resolve(port);
      });
    });
  });
}

async function readPid(dir: string, name: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(join(dir, 'run', `${name}.pid`), 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True if pid runs and is not a zombie (zombies linger where pid 1 does not reap). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = readFileSyncSafe(`/proc/${pid}/stat`);
  if (stat === undefined) return true; // no /proc: trust kill(0)
  // "pid (comm) S ..." — comm may contain spaces/parens, so take the last ')'.
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state !== 'Z' && state !== 'X';
}

/** True if pid is a live ceph daemon of the instance in `dir` (guards against pid reuse). */
function isOurDaemon(pid: number, dir: string): boolean {
  if (!isAlive(pid)) return false;
  const cmdline = readFileSyncSafe(`/proc/${pid}/cmdline`);
  if (cmdline === undefined) return true; // no /proc: trust the pid file
  return cmdline.split('\0').includes(join(dir, 'ceph.conf'));
}

function readFileSyncSafe(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function stopDaemons(dir: string, log: (line: string) => void): Promise<void> {
  if (!existsSync(dir)) return;
  for (const name of DAEMONS) {
    const pid = await readPid(dir, name);
    if (pid === undefined || !isOurDaemon(pid, dir)) continue;
    await killAndWait(pid, name, log);
  }
  // Belt and braces: anything else with our ceph.conf on its command line, e.g. a
  // daemon whose pid file was never written or already removed.
  for (const pid of await findByConf(join(dir, 'ceph.conf'))) {
    await killAndWait(pid, `pid ${pid}`, log);
  }
}

async function killAndWait(pid: number, name: string, log: (line: string) => void): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitExit(pid, 5000)) return;
  log(`rgw: ${name} (pid ${pid}) ignored SIGTERM, sending SIGKILL`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitExit(pid, 5000))) log(`rgw: ${name} (pid ${pid}) still alive after SIGKILL`);
}

async function waitExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(50);
  }
  return !isAlive(pid);
}

async function findByConf(conf: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cmdline = readFileSyncSafe(`/proc/${pid}/cmdline`);
    if (cmdline?.split('\0').includes(conf) && isAlive(pid)) found.push(pid);
  }
  return found;
}

/** Stops temp instances whose owning process is gone (e.g. a test run killed with SIGKILL). */
async function reapOrphans(log: (line: string) => void): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    let owner: number;
    try {
      owner = Number.parseInt(await readFile(join(dir, 'owner.pid'), 'utf8'), 10);
    } catch {
      continue; // persistent instance, or not ours
    }
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) continue;
    log(`rgw: reaping orphaned instance ${dir} (owner pid ${owner} is gone)`);
    await stopDaemons(dir, log);
    await rm(dir, { recursive: true, force: true });
  }
}
