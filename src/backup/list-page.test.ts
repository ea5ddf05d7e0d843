import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonStringAt, scanListPage } from './list-page.ts';

const text = (page: Buffer, range: { start: number; end: number }) =>
  page.toString('utf8', range.start, range.end);

/** Deterministic pseudo-random values with the characters that trip naive scanners. */
function randomValue(seed: { n: number }, depth: number): unknown {
  const next = () => {
    seed.n = (seed.n * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed.n;
  };
  const strings = [
    '',
    'a"b',
    'back\\slash',
    'brace}{',
    'bracket][',
    '\\"',
    'ünïcødé ☃',
    'colon:,',
    '\n\t',
    'x\\',
    // Around and past the length up to which the scanner walks strings itself.
    'l'.repeat(45),
    `${'l'.repeat(44)}\\"q"`,
    `${'m'.repeat(100)}"\\`,
    `${'n'.repeat(60)}\\\\`,
  ];
  const pick = next() % (depth > 3 ? 4 : 7);
  switch (pick) {
    case 0:
      return strings[next() % strings.length];
    case 1:
      return next() % 1000;
    case 2:
      return [true, false, null][next() % 3];
    case 3:
      return -1.5e3;
    case 4:
      return Array.from({ length: next() % 4 }, () => randomValue(seed, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let k = next() % 5; k > 0; k--)
        out[strings[next() % strings.length] as string] = randomValue(seed, depth + 1);
      return out;
    }
  }
}

describe('scanListPage', () => {
  it('finds every item, its metadata and the list metadata, matching JSON.parse', () => {
    for (let n = 0; n < 200; n++) {
      const seed = { n: n + 1 };
      const items = Array.from({ length: n % 7 }, (_, i) => ({
        ...(i % 2 === 0 ? { apiVersion: 'v1' } : {}),
        ...(i % 3 === 0 ? { kind: 'ConfigMap' } : {}),
        spec: randomValue(seed, 0),
        metadata: { name: `cm-${i}`, namespace: 'n"s', labels: { 'a}': '{b' } },
        data: randomValue(seed, 0),
      }));
      const list = {
        kind: 'ConfigMapList',
        apiVersion: 'v1',
        metadata: { continue: 'tok"}', resourceVersion: '7' },
        items,
      };
      for (const page of [
        Buffer.from(JSON.stringify(list)),
        Buffer.from(JSON.stringify(list, null, n % 3)),
      ]) {
        const scanned = scanListPage(page);
        assert.equal(scanned.items.length, items.length);
        assert.deepEqual(
          JSON.parse(text(page, scanned.metadata as { start: number; end: number })),
          list.metadata,
        );
        scanned.items.forEach((item, i) => {
          assert.deepEqual(JSON.parse(text(page, item)), items[i]);
          assert.deepEqual(
            JSON.parse(text(page, item.metadata as { start: number; end: number })),
            items[i]?.metadata,
          );
          assert.equal(jsonStringAt(page, item.name as { start: number; end: number }), `cm-${i}`);
          assert.equal(jsonStringAt(page, item.namespace as { start: number; end: number }), 'n"s');
          assert.equal(item.hasApiVersion, i % 2 === 0);
          assert.equal(item.hasKind, i % 3 === 0);
        });
      }
    }
  });

  it('ignores keys named like tracked ones deeper in an item, and a metadata that is not an object', () => {
    const page = Buffer.from(
      JSON.stringify({
        items: [
          {
            spec: { metadata: { name: 'inner' }, kind: 'x', items: [{ a: 1 }] },
            metadata: { name: 'outer' },
          },
          { metadata: null },
        ],
        other: [{ metadata: {} }],
      }),
    );
    const scanned = scanListPage(page);
    assert.equal(scanned.items.length, 2);
    assert.deepEqual(JSON.parse(text(page, scanned.items[0]?.metadata as { start: number; end: number })), {
      name: 'outer',
    });
    assert.equal(scanned.items[0]?.hasKind, false);
    assert.equal(jsonStringAt(page, scanned.items[0]?.name as { start: number; end: number }), 'outer');
    assert.equal(scanned.items[1]?.metadata, undefined);
    assert.equal(scanned.metadata, undefined);
  });

  it('refuses what is not a whole JSON object', () => {
    for (const bad of ['', '[]', '{"items":[{"a":"b}]}', '{"items":[{}]', '{}}', '{"a":"\\"}']) {
      assert.throws(() => scanListPage(Buffer.from(bad)), Error, bad);
    }
    assert.deepEqual(scanListPage(Buffer.from('{"items":[]}')).items, []);
  });
});
