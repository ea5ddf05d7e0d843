import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evalJsonPath, humanDuration, printerColumnsLayout } from './table.ts';

describe('tables', () => {
  test('JSONPath subset of CRD printer columns', () => {
    const obj = {
      spec: { replicas: 3, 'dotted.key': 'x' },
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'Synced', status: 'True' },
        ],
        list: ['a', 'b'],
      },
    };
    assert.equal(evalJsonPath(obj, '.spec.replicas'), 3);
    assert.equal(evalJsonPath(obj, '{.spec.replicas}'), 3);
    assert.equal(evalJsonPath(obj, ".spec['dotted.key']"), 'x');
    assert.equal(evalJsonPath(obj, '.status.conditions[?(@.type=="Synced")].status'), 'True');
    assert.equal(evalJsonPath(obj, ".status.conditions[?(@.type=='Ready')].status"), 'False');
    assert.equal(evalJsonPath(obj, '.status.list[1]'), 'b');
    assert.equal(evalJsonPath(obj, '.status.list[-1]'), 'b');
    assert.equal(evalJsonPath(obj, '.status.missing.deeper'), undefined);
    assert.equal(evalJsonPath(obj, '.spec.replicas.nope'), undefined);
  });

  test('printer columns: Name first, dates as ages, missing values null', () => {
    const layout = printerColumnsLayout([
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Started', type: 'date', jsonPath: '.status.startTime' },
    ]);
    assert.deepEqual(
      layout.columns.map((c) => c.name),
      ['Name', 'Phase', 'Started'],
    );
    const now = Date.parse('2026-01-01T01:00:00Z');
    assert.deepEqual(
      layout.cells({ metadata: { name: 'b' }, status: { startTime: '2026-01-01T00:00:00Z' } }, now),
      ['b', null, '60m'],
    );
  });

  test('ages print like kubectl', () => {
    assert.equal(humanDuration(5_000), '5s');
    assert.equal(humanDuration(150_000), '2m30s');
    assert.equal(humanDuration(3 * 3600_000 + 60_000), '3h1m');
    assert.equal(humanDuration(3 * 86400_000), '3d');
  });
});
