import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compactUtc } from '../../src/etcd/catalog.ts';
import { startEtcd, type TestEtcd, tree } from '../support/etcd.ts';
import { runCairn } from '../support/run-cairn.ts';

const DAY = 86_400_000;

describe('cairn etcd snapshot prune, the one-shot CronJob path and metrics', () => {
  let base: string;
  let loc: string;
  let etcd: TestEtcd;
  const at = (...args: string[]) => [...args, '--location', loc, '--cluster', 'main'];
  const snapshots = () => path.join(loc, 'etcd/main/snapshots');
  /** Synthetic history: one snapshot a day for 400 days, plus an abandoned upload 2 days old. */
  const synthetic: string[] = [];
  let abandonedId = '';

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cairn-etcd-prune-'));
    loc = path.join(base, 'loc');
    etcd = await startEtcd();
    assert.equal((await runCairn(['location', 'init', loc])).code, 0);
    assert.equal((await runCairn(['etcd', 'cluster', 'init', ...at()])).code, 0);
    const now = Date.now();
    for (let day = 400; day >= 1; day--) {
      // Half a day off the boundaries, so the seconds a test takes never move one across.
      const id = `${compactUtc(new Date(now - day * DAY + DAY / 2))}-${1000 - day}`;
      synthetic.push(id);
      await mkdir(path.join(snapshots(), id), { recursive: true });
      await writeFile(path.join(snapshots(), id, 'snapshot.db'), 'db');
      await writeFile(path.join(snapshots(), id, 'manifest.json'), '{}');
    }
    abandonedId = `${compactUtc(new Date(now - 2 * DAY - 3_600_000))}-7`;
    await mkdir(path.join(snapshots(), abandonedId));
    await writeFile(path.join(snapshots(), abandonedId, 'snapshot.db'), 'half');
  });
  after(async () => {
    await etcd?.stop();
    await rm(base, { recursive: true, force: true });
  });

  it('--dry-run shows the plan and deletes nothing', async () => {
    const before = await tree(loc);
    const run = await runCairn(['etcd', 'snapshot', 'prune', ...at('--dry-run')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^365 snapshots kept, 36 would be pruned\.$/m);
    assert.match(run.stdout, /would delete {2}\d{8}T\d{6}Z-601 {2}\(older than the daily retention\)/);
    assert.match(run.stdout, /would delete {2}\d{8}T\d{6}Z-7 {2}\(incomplete/);
    assert.deepEqual(await tree(loc), before);
  });

  it('prunes per the spec, then save --prune --metrics-file runs the whole CronJob step', async () => {
    const run = await runCairn(['etcd', 'snapshot', 'prune', ...at('-o', 'json')]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.deleted.length, 36);
    assert.ok(result.deleted.includes(abandonedId));
    assert.deepEqual(result.failed, []);
    const left = await readdir(snapshots());
    assert.equal(left.length, 365);
    assert.deepEqual(left, synthetic.slice(35), 'the newest 365 daily snapshots remain');

    const metricsFile = path.join(base, 'cairn_etcd.prom');
    const save = await runCairn([
      'etcd',
      'snapshot',
      'save',
      ...at('--endpoints', etcd.endpoint, '--prune', '--metrics-file', metricsFile),
    ]);
    assert.equal(save.code, 0, save.stderr);
    assert.match(save.stdout, /Saved snapshot \d{8}T\d{6}Z-\d+ of "main"/);
    assert.match(save.stdout, /^Pruned 0 snapshots\.$/m);
    const metrics = await readFile(metricsFile, 'utf8');
    assert.match(metrics, /^# TYPE cairn_etcd_snapshot_last_successful_timestamp_seconds gauge$/m);
    const ts = Number(
      /^cairn_etcd_snapshot_last_successful_timestamp_seconds\{cluster="main"\} (\S+)$/m.exec(metrics)?.[1],
    );
    assert.ok(Math.abs(ts - Date.now() / 1000) < 60, `timestamp ${ts}`);
    assert.match(metrics, /^cairn_etcd_snapshot_size_bytes\{cluster="main"\} \d{5,}$/m);
    assert.match(metrics, /^cairn_etcd_control_files_healthy\{cluster="main"\} 1$/m);

    const status = await runCairn(['etcd', 'cluster', 'status', ...at()]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Spec: {7}ok/);
    assert.match(status.stdout, /Snapshots: {2}366 complete, 0 incomplete/);
    await rm(path.join(loc, 'control/etcd/main/spec.json'));
    const broken = await runCairn(['etcd', 'cluster', 'status', ...at()]);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /Spec: {7}MISSING \(control\/etcd\/main\/spec\.json\)/);
  });
});
