import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml } from 'yaml';

/** `cairn sandbox start` as its own process (sandbox/main.ts is the same command). */

const MAIN = new URL('../../sandbox/main.ts', import.meta.url).pathname;
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cairn-sandbox-cmd-'));
});
const children: ChildProcess[] = [];
after(async () => {
  // Even when an assertion failed half-way, no sandbox process outlives the test.
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function start(args: string[]) {
  const child = spawn(process.execPath, [MAIN, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    out: () => stdout,
    err: () => stderr,
    async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const m = stdout.match(pattern);
        if (m) return m;
        if (Date.now() > deadline || child.exitCode !== null)
          assert.fail(`no ${pattern} in output:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: JSON read ad hoc by assertions
async function request(url: string, init?: RequestInit): Promise<{ status: number; json: any }> {
  const res = await fetch(url, init);
  return { status: res.status, json: await res.json() };
}

test('start prints the URL and kubeconfig, serves, and exits 0 on SIGTERM; --data-dir survives a restart', async () => {
  const kubeconfig = join(dir, 'kc');
  const data = join(dir, 'data');
  const first = start(['--kubeconfig', kubeconfig, '--data-dir', data]);
  const url = (await first.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1] as string;
  await first.waitFor(/kubeconfig: /);
  const kc = parseYaml(readFileSync(kubeconfig, 'utf8'));
  assert.equal(kc['current-context'], 'cairn-sandbox');
  assert.equal(kc.clusters[0].cluster.server, url);
  assert.equal(kc.clusters[0].cluster['insecure-skip-tls-verify'], true);
  const created = await request(`${url}/api/v1/namespaces/default/configmaps`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ metadata: { name: 'kept' }, data: { k: 'v' } }),
  });
  assert.equal(created.status, 201);
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0);

  const second = start(['--kubeconfig', kubeconfig, '--data-dir', data]);
  const url2 = (await second.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1] as string;
  const kept = await request(`${url2}/api/v1/namespaces/default/configmaps/kept`);
  assert.equal(kept.status, 200);
  assert.deepEqual(kept.json.data, { k: 'v' });
  assert.equal(kept.json.metadata.uid, created.json.metadata.uid);
  const next = await request(`${url2}/api/v1/namespaces/default/configmaps`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ metadata: { name: 'after' } }),
  });
  assert.ok(
    Number(next.json.metadata.resourceVersion) > Number(kept.json.metadata.resourceVersion),
    'resourceVersions keep growing across restarts',
  );
  second.child.kill('SIGINT');
  assert.equal(await second.exited, 0);
});

test('bad storage flags fail with a clear error and a non-zero exit', async () => {
  const unreachable = start(['--etcd', 'http://127.0.0.1:1', '--kubeconfig', join(dir, 'kc2')]);
  assert.notEqual(await unreachable.exited, 0);
  assert.match(unreachable.err(), /cannot reach etcd at http:\/\/127\.0\.0\.1:1/);
  const both = start([
    '--etcd',
    'http://127.0.0.1:1',
    '--data-dir',
    join(dir, 'd'),
    '--kubeconfig',
    join(dir, 'kc3'),
  ]);
  assert.notEqual(await both.exited, 0);
  assert.match(both.err(), /--etcd and --data-dir are exclusive/);
  const port = start(['--port', 'abc']);
  assert.notEqual(await port.exited, 0);
  assert.match(port.err(), /--port must be an integer/);
});
