import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox } from '../../sandbox/index.ts';

/**
 * `--etcd`: objects in a real etcd (Debian etcd-server 3.4) under /registry/...,
 * with etcd revisions as resourceVersions.
 */

const ETCD = '/usr/bin/etcd';
const ETCDCTL = '/usr/bin/etcdctl';
let dir: string;
let etcd: ChildProcess;
let endpoint: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function etcdctl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      ETCDCTL,
      ['--endpoints', endpoint, ...args],
      { env: { ...process.env, ETCDCTL_API: '3' } },
      (e, out, err) => (e ? reject(new Error(`${e.message}\n${err}`)) : resolve(out)),
    );
  });
}

before(async () => {
  assert.ok(existsSync(ETCD), 'etcd is missing: install Debian etcd-server (scripts/install-test-deps.sh)');
  dir = mkdtempSync(join(tmpdir(), 'cairn-sandbox-etcd-'));
  const client = await freePort();
  const peer = await freePort();
  endpoint = `http://127.0.0.1:${client}`;
  etcd = spawn(
    ETCD,
    [
      '--name',
      'sandbox-test',
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-cluster',
      `sandbox-test=http://127.0.0.1:${peer}`,
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(`${endpoint}/health`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('etcd did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  if (etcd && etcd.exitCode === null) {
    const exited = new Promise((r) => etcd.on('exit', r));
    etcd.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: JSON read ad hoc by assertions
async function call(url: string, method: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method,
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }
      : {}),
  });
  return { status: res.status, json: await res.json() };
}

test('objects live in etcd under /registry with etcd revisions as resourceVersions, across restarts', async () => {
  const first = await startSandbox({ etcd: endpoint, kubeconfigPath: join(dir, 'kc1') });
  let cmRv: string;
  try {
    const ns = await call(`${first.url}/api/v1/namespaces`, 'POST', { metadata: { name: 'team' } });
    assert.equal(ns.status, 201);
    const cm = await call(`${first.url}/api/v1/namespaces/team/configmaps`, 'POST', {
      metadata: { name: 'cfg' },
      data: { k: 'v' },
    });
    assert.equal(cm.status, 201);
    cmRv = cm.json.metadata.resourceVersion;
    const dep = await call(`${first.url}/apis/apps/v1/namespaces/team/deployments`, 'POST', {
      metadata: { name: 'web' },
      spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } } } },
    });
    assert.equal(dep.status, 201);

    const stored = JSON.parse(await etcdctl(['get', '/registry/configmaps/team/cfg', '-w', 'json']));
    const kv = stored.kvs[0];
    assert.equal(String(kv.mod_revision), cmRv);
    assert.deepEqual(JSON.parse(Buffer.from(kv.value, 'base64').toString()).data, { k: 'v' });
    const keys = (await etcdctl(['get', '/registry/', '--prefix', '--keys-only']))
      .split('\n')
      .filter(Boolean);
    assert.ok(keys.includes('/registry/namespaces/team'), keys.join());
    assert.ok(keys.includes('/registry/apps/deployments/team/web'), keys.join());
    const status = JSON.parse(await etcdctl(['endpoint', 'status', '-w', 'json']));
    const deleted = await call(`${first.url}/apis/apps/v1/namespaces/team/deployments/web`, 'DELETE');
    assert.equal(deleted.status, 200);
    assert.equal(Number(deleted.json.metadata.resourceVersion), Number(status[0].Status.header.revision) + 1);
  } finally {
    await first.stop();
  }

  const second = await startSandbox({ etcd: endpoint, kubeconfigPath: join(dir, 'kc2') });
  try {
    const cm = await call(`${second.url}/api/v1/namespaces/team/configmaps/cfg`, 'GET');
    assert.equal(cm.status, 200);
    assert.equal(cm.json.metadata.resourceVersion, cmRv);
    assert.equal(
      (await call(`${second.url}/apis/apps/v1/namespaces/team/deployments/web`, 'GET')).status,
      404,
    );
    const updated = await call(`${second.url}/api/v1/namespaces/team/configmaps/cfg`, 'PUT', {
      ...cm.json,
      data: { k: 'v2' },
    });
    assert.equal(updated.status, 200);
    const kv = JSON.parse(await etcdctl(['get', '/registry/configmaps/team/cfg', '-w', 'json'])).kvs[0];
    assert.equal(String(kv.mod_revision), updated.json.metadata.resourceVersion);

    // Another writer breaks the revision mapping: the sandbox refuses to pretend.
    await etcdctl(['put', '/registry/intruder', 'x']);
    const refused = await call(`${second.url}/api/v1/namespaces/team/configmaps`, 'POST', {
      metadata: { name: 'late' },
    });
    assert.equal(refused.status, 500);
    assert.match(refused.json.message, /another client writes to this etcd/);
  } finally {
    await second.stop();
  }
});

test('an unreachable etcd fails at start with a clear error', async () => {
  const port = await freePort();
  await assert.rejects(
    startSandbox({ etcd: `http://127.0.0.1:${port}` }),
    /cannot reach etcd at http:\/\/127\.0\.0\.1:\d+/,
  );
});
