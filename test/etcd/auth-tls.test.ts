import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, fillEtcd, startEtcd, type TestEtcd, tree } from '../support/etcd.ts';
import { runCairn } from '../support/run-cairn.ts';

describe('cairn etcd snapshot save with auth and TLS', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cairn-etcd-auth-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  async function prepare(name: string): Promise<(...args: string[]) => string[]> {
    const loc = path.join(base, name);
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
    const at = (...args: string[]) => [...args, '--location', loc, '--cluster', 'main'];
    assert.equal((await runCairn(['etcd', 'cluster', 'init', ...at()])).code, 0);
    return at;
  }

  describe('auth enabled (simple tokens)', () => {
    let etcd: TestEtcd;
    let at: (...args: string[]) => string[];
    before(async () => {
      etcd = await startEtcd({ auth: true });
      await fillEtcd(etcd, 4 * 1024 * 1024, { valueBytes: 32 * 1024 });
      at = await prepare('auth');
    });
    after(async () => {
      await etcd?.stop();
    });

    it('sends the token on the Snapshot stream too (password from CAIRN_ETCD_PASSWORD)', async () => {
      const password = etcd.auth?.password ?? '';
      const run = await runCairn(
        ['etcd', 'snapshot', 'save', ...at('--endpoints', etcd.endpoint, '--user', 'root', '-o', 'json')],
        { CAIRN_ETCD_PASSWORD: password },
      );
      assert.equal(run.code, 0, run.stderr);
      const { manifest } = JSON.parse(run.stdout);
      assert.equal(manifest.keyCount, 128);
      // `--user name:password`, as etcdctl takes it.
      const colon = await runCairn([
        'etcd',
        'snapshot',
        'save',
        ...at('--endpoints', etcd.endpoint, '--user', `root:${password}`),
      ]);
      assert.equal(colon.code, 0, colon.stderr);
      const verify = await runCairn(['etcd', 'snapshot', 'verify', '--all', ...at()]);
      assert.equal(verify.code, 0, verify.stdout);
    });

    it('reports wrong or missing credentials cleanly and stores nothing', async () => {
      const before = await tree(path.join(base, 'auth'));
      const wrong = await runCairn([
        'etcd',
        'snapshot',
        'save',
        ...at('--endpoints', etcd.endpoint, '--user', 'root:nope'),
      ]);
      assertCleanFailure(wrong, /refused the credentials \(etcdserver: authentication failed/);
      const none = await runCairn(['etcd', 'snapshot', 'save', ...at('--endpoints', etcd.endpoint)]);
      assertCleanFailure(none, /etcd at http:\/\/127\.0\.0\.1:\d+ (refused the credentials|denied it)/);
      assert.match(none.stderr, /hint: .*--user/);
      const noPassword = await runCairn([
        'etcd',
        'snapshot',
        'save',
        ...at('--endpoints', etcd.endpoint, '--user', 'root'),
      ]);
      assertCleanFailure(noPassword, /no password for etcd user "root"/);
      assert.deepEqual(await tree(path.join(base, 'auth')), before);
    });
  });

  describe('TLS with client certificates', () => {
    let etcd: TestEtcd;
    let at: (...args: string[]) => string[];
    before(async () => {
      etcd = await startEtcd({ tls: true });
      await fillEtcd(etcd, 4 * 1024 * 1024, { valueBytes: 32 * 1024 });
      at = await prepare('tls');
    });
    after(async () => {
      await etcd?.stop();
    });

    it('saves over TLS (--cacert/--cert/--key) the same bytes etcdctl saves', async () => {
      assert.ok(etcd.endpoint.startsWith('https://'));
      const reference = path.join(base, 'tls-etcdctl.db');
      await etcd.etcdctl(['snapshot', 'save', reference]);
      const run = await runCairn(['etcd', 'snapshot', 'save', ...at(...etcd.flags, '-o', 'json')]);
      assert.equal(run.code, 0, run.stderr);
      const { manifest } = JSON.parse(run.stdout);
      assert.equal(manifest.endpoint, etcd.endpoint);
      const { sha256File } = await import('../support/etcd.ts');
      assert.equal(manifest.sha256, await sha256File(reference));
    });

    it('fails cleanly without the CA or without a client certificate', async () => {
      const certs = etcd.certs;
      assert.ok(certs);
      const noCa = await runCairn([
        'etcd',
        'snapshot',
        'save',
        ...at('--endpoints', etcd.endpoint, '--cert', certs.clientCert, '--key', certs.clientKey),
      ]);
      assertCleanFailure(noCa, /is unreachable/);
      assert.match(noCa.stderr, /hint: .*--cacert/);
      const noClientCert = await runCairn([
        'etcd',
        'snapshot',
        'save',
        ...at('--endpoints', etcd.endpoint, '--cacert', certs.ca),
      ]);
      assertCleanFailure(noClientCert, /is unreachable|refused/);
      const halfPair = await runCairn([
        'etcd',
        'snapshot',
        'save',
        ...at('--endpoints', etcd.endpoint, '--cacert', certs.ca, '--cert', certs.clientCert),
      ]);
      assertCleanFailure(halfPair, /--cert and --key must be given together/);
      const snapshots = await readdir(path.join(base, 'tls', 'etcd/main/snapshots'));
      assert.equal(snapshots.length, 1, 'only the successful save stored anything');
    });
  });
});
