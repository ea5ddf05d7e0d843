import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { etcdMetricSamples, formatPrometheus, METRIC_HELP } from './metrics.ts';

describe('etcd metrics', () => {
  it('renders the three gauges in the text exposition format', () => {
    const text = formatPrometheus(
      etcdMetricSamples([
        {
          cluster: 'main',
          controlFilesHealthy: true,
          specState: 'ok',
          completeSnapshots: 2,
          incompleteSnapshots: 0,
          lastSuccessful: { id: 'x', completedAt: '2026-01-01T00:00:00.500Z', size: 1234, revision: 9 },
        },
        {
          cluster: 'o"ther',
          controlFilesHealthy: false,
          specState: 'missing',
          completeSnapshots: 0,
          incompleteSnapshots: 0,
        },
      ]),
    );
    assert.match(text, /^# TYPE cairn_etcd_snapshot_last_successful_timestamp_seconds gauge$/m);
    assert.match(
      text,
      /^cairn_etcd_snapshot_last_successful_timestamp_seconds\{cluster="main"\} 1767225600\.5$/m,
    );
    assert.match(text, /^cairn_etcd_snapshot_size_bytes\{cluster="main"\} 1234$/m);
    assert.match(text, /^cairn_etcd_control_files_healthy\{cluster="main"\} 1$/m);
    assert.match(text, /^cairn_etcd_control_files_healthy\{cluster="o\\"ther"\} 0$/m);
    assert.doesNotMatch(text, /size_bytes\{cluster="o/, 'no snapshot, no size sample');
  });

  it('the PrometheusRule example parses and alerts on metrics Cairn exports', async () => {
    const rule = parse(
      await readFile(new URL('../../docs/etcd-prometheusrule.yaml', import.meta.url), 'utf8'),
    );
    assert.equal(rule.kind, 'PrometheusRule');
    const exprs: string[] = rule.spec.groups.flatMap((g: { rules: { expr: string }[] }) =>
      g.rules.map((r) => r.expr),
    );
    for (const expr of exprs) {
      const names = expr.match(/cairn_[a-z_]+/g) ?? [];
      assert.ok(names.length > 0);
      for (const name of names) assert.ok(name in METRIC_HELP, `${name} is exported`);
    }
    assert.ok(
      exprs.some((e) => e.includes('> 2 * 15 * 60')),
      'no successful snapshot in 2× the interval',
    );
  });
});
