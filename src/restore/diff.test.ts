import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineDiff, objectDiff } from './diff.ts';

describe('dry-run diffs', () => {
  it('is empty for equal objects, whatever the key order', () => {
    assert.deepEqual(objectDiff({ a: 1, b: { c: 2 } }, { b: { c: 2 }, a: 1 }), []);
  });

  it('shows removed live lines and added backup lines with context', () => {
    const diff = objectDiff(
      { kind: 'ConfigMap', data: { a: '1', b: 'live', c: '3' } },
      { kind: 'ConfigMap', data: { a: '1', b: 'backup', c: '3' } },
    );
    assert.ok(diff.includes('-   b: live'), diff.join('\n'));
    assert.ok(diff.includes('+   b: backup'), diff.join('\n'));
    assert.ok(diff.includes('    a: "1"'), diff.join('\n'));
    assert.match(diff[0] ?? '', /^@@ line \d+ @@$/);
  });

  it('redacts secret values but still shows that they changed', () => {
    const diff = objectDiff(
      { kind: 'Secret', data: { pw: 'b2xk' } },
      { kind: 'Secret', data: { pw: 'bmV3' } },
      true,
    );
    assert.equal(
      diff.filter((l) => /^[-+] {3}pw: <redacted sha256:[0-9a-f]{12}>$/.test(l)).length,
      2,
      diff.join('\n'),
    );
    assert.ok(!diff.join('\n').includes('b2xk'));
  });

  it('separates distant changes into hunks', () => {
    const before = Array.from({ length: 30 }, (_, i) => `l${i}`);
    const after = [...before];
    after[2] = 'x';
    after[25] = 'y';
    const diff = lineDiff(before, after);
    assert.equal(diff.filter((l) => l.startsWith('@@')).length, 2);
    assert.equal(diff.filter((l) => l.startsWith('+')).length, 2);
  });
});
