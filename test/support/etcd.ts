// A real etcd for tests: Debian's etcd-server (3.4) started on free loopback
// ports in a temp dir, optionally with client TLS (a throwaway CA made with
// openssl) and/or auth enabled (root user, simple tokens). Each test file
// starts its own, so auth/TLS variants never leak into each other.

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdClient, type EtcdConnectOptions } from '../../src/etcd/client.ts';
import type { CairnRun } from './run-cairn.ts';

export interface TestCerts {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export interface TestEtcd {
  readonly name: string;
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly dir: string;
  readonly certs: TestCerts | undefined;
  readonly auth: { user: string; password: string } | undefined;
  /** Options for EtcdClient.connect matching this server. */
  connectOptions(): Promise<EtcdConnectOptions>;
  /** Flags for cairn / etcdctl: --endpoints plus TLS and auth flags. */
  readonly flags: string[];
  /** Runs etcdctl (API v3) against this server with its TLS/auth flags. */
  etcdctl(args: string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  readonly tls?: boolean;
  readonly auth?: boolean;
  /** Start on an existing data dir (e.g. one made by `snapshot restore`). */
  readonly dataDir?: string;
  readonly name?: string;
  /** Ports to use; free ones by default. */
  readonly clientPort?: number;
  readonly peerPort?: number;
  /** Extra etcd flags. */
  readonly extraArgs?: readonly string[];
  /** A full command line to run instead (e.g. the one `cairn etcd snapshot restore` prints). */
  readonly command?: readonly string[];
  readonly endpoint?: string;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate (CN root). */
export async function makeTestCerts(dir: string): Promise<TestCerts> {
  await mkdir(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const ossl = (args: string[]) => run('openssl', args);
  await ossl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=cairn-test-ca',
    ]),
  );
  await writeFile(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await writeFile(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [who, cn] of [
    ['server', 'localhost'],
    ['client', 'root'],
  ] as const) {
    await ossl(
      ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout'].concat([
        f(`${who}.key`),
        '-out',
        f(`${who}.csr`),
        '-subj',
        `/CN=${cn}`,
      ]),
    );
    await ossl(
      ['x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key')].concat([
        '-CAcreateserial',
        '-out',
        f(`${who}.crt`),
        '-days',
        '2',
        '-extfile',
        f(`${who}.ext`),
      ]),
    );
  }
  return {
    dir,
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
}

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
// A test runner or bench interrupted by a signal must not leave etcd running.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

/** Starts an etcd and waits until it answers Status. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<TestEtcd> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-etcd-'));
  tempDirs.add(dir);
  const name = options.name ?? 'test';
  const clientPort = options.clientPort ?? (await freePort());
  const peerPort = options.peerPort ?? (await freePort());
  const certs = options.tls ? await makeTestCerts(join(dir, 'pki')) : undefined;
  const scheme = certs ? 'https' : 'http';
  const endpoint = options.endpoint ?? `${scheme}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const dataDir = options.dataDir ?? join(dir, 'data');
  const args = options.command?.slice(1) ?? [
    '--name',
    name,
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    endpoint,
    '--advertise-client-urls',
    endpoint,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    `${name}=${peerUrl}`,
    '--initial-cluster-state',
    'new',
    '--initial-cluster-token',
    `cairn-test-${randomBytes(4).toString('hex')}`,
    '--quota-backend-bytes',
    String(8 * 1024 * 1024 * 1024),
    '--logger',
    'zap',
    '--log-outputs',
    join(dir, 'etcd.log'),
    ...(certs
      ? [
          '--cert-file',
          certs.serverCert,
          '--key-file',
          certs.serverKey,
          '--trusted-ca-file',
          certs.ca,
          '--client-cert-auth',
        ]
      : []),
    ...(options.extraArgs ?? []),
  ];
  const command = options.command?.[0] ?? 'etcd';
  const child = spawn(command, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ETCD_UNSUPPORTED_ARCH: '' },
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      children.delete(child);
      resolve();
    }),
  );

  const tlsFlags = certs ? ['--cacert', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey] : [];
  let auth: { user: string; password: string } | undefined;
  const flags = () => [
    '--endpoints',
    endpoint,
    ...tlsFlags,
    ...(auth ? ['--user', auth.user, '--password', auth.password] : []),
  ];
  const etcdctl = (cmd: string[], timeoutMs?: number) => {
    const authFlags = auth ? ['--user', `${auth.user}:${auth.password}`] : [];
    return run('etcdctl', ['--endpoints', endpoint, ...tlsFlags, ...authFlags, ...cmd], {
      env: { ...process.env, ETCDCTL_API: '3' },
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  };
  const connectOptions = async (): Promise<EtcdConnectOptions> => ({
    endpoints: [endpoint],
    ...(certs
      ? {
          tls: {
            ca: await readFile(certs.ca),
            cert: await readFile(certs.clientCert),
            key: await readFile(certs.clientKey),
          },
        }
      : {}),
    ...(auth ? { auth } : {}),
  });

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([exitedPromise, sleep(10_000, undefined, { ref: false })]);
      if (!exited) child.kill('SIGKILL');
      await exitedPromise;
    }
    await rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  };

  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`etcd exited during start-up:\n${stderr}`);
      try {
        const client = await EtcdClient.connect({ ...(await connectOptions()), callTimeoutMs: 1000 });
        client.close();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd did not answer in 30 s: ${String(err)}\n${stderr}`);
        await sleep(100);
      }
    }
    if (options.auth) {
      const password = `pw-${randomBytes(6).toString('hex')}`;
      await etcdctl(['user', 'add', `root:${password}`]);
      await etcdctl(['auth', 'enable']);
      auth = { user: 'root', password };
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    name,
    endpoint,
    peerUrl,
    dataDir,
    dir,
    certs,
    get auth() {
      return auth;
    },
    get flags() {
      return flags();
    },
    connectOptions,
    etcdctl,
    stop,
  };
}

/**
 * Writes about `totalBytes` of random values (as `valueBytes`-sized values under
 * `prefix`) through a few parallel gRPC puts; returns the number of keys written.
 */
export async function fillEtcd(
  etcd: TestEtcd,
  totalBytes: number,
  options: { valueBytes?: number; prefix?: string; parallel?: number } = {},
): Promise<number> {
  const valueBytes = options.valueBytes ?? 512 * 1024;
  const prefix = options.prefix ?? '/fill/';
  const keys = Math.ceil(totalBytes / valueBytes);
  const client = await EtcdClient.connect(await etcd.connectOptions());
  try {
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= keys) return;
        await client.put(`${prefix}${String(i).padStart(8, '0')}`, randomBytes(valueBytes));
      }
    };
    await Promise.all(Array.from({ length: options.parallel ?? 8 }, worker));
  } finally {
    client.close();
  }
  return keys;
}

/** SHA-256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every path under a folder, sorted. */
export async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** Every failure must be an `error:` line plus a `hint:` line, a non-zero exit and no stack trace. */
export function assertCleanFailure(run: CairnRun, message: RegExp): void {
  assert.notEqual(run.code, 0, `expected failure, got ${run.code}: ${run.stdout}`);
  assert.match(run.stderr, /^error: /m);
  assert.match(run.stderr, /^hint: /m);
  assert.match(run.stderr, message);
  assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack trace without --debug');
}
