import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeRng } from '../patch/prng.ts';
import {
  escapeFieldValue,
  formatFieldSelector,
  parseFieldSelector,
  SelectorError,
  unescapeFieldValue,
} from './field-selector.ts';

function assertSelectorError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SelectorError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, pattern);
    return true;
  });
}

const fields =
  (values: Record<string, string>) =>
  (path: string): string | undefined =>
    Object.hasOwn(values, path) ? values[path] : undefined;

// apimachinery fields/selector_test.go TestSelectorParse.
describe('parseFieldSelector: selector_test.go TestSelectorParse', () => {
  it('good strings round-trip through String()', () => {
    for (const text of ['x=a,y=b,z=c', '', 'x!=a,y=b', 'x=a||y\\=b', 'x=a\\=\\=b']) {
      assert.equal(formatFieldSelector(parseFieldSelector(text)), text, text);
    }
  });
  it('bad strings are rejected', () => {
    for (const text of ['x=a||y=b', 'x==a==b', 'x=a,b', 'x in (a)', 'x in (a,b,c)', 'x']) {
      assert.throws(() => parseFieldSelector(text), SelectorError, text);
    }
  });
  it('error messages', () => {
    assertSelectorError(
      () => parseFieldSelector('x=a,b'),
      /^invalid selector: 'x=a,b'; can't understand 'b'$/,
    );
    assertSelectorError(() => parseFieldSelector('x=a=b'), /unescaped character in value: 61$/);
    assertSelectorError(() => parseFieldSelector('x=a\\b'), /invalid escape sequence: \\b$/);
    assertSelectorError(() => parseFieldSelector('x=a\\'), /invalid escape sequence: \\$/);
  });
});

// apimachinery fields/selector_test.go TestEscapeValue / TestUnescapeValue.
describe('escapeFieldValue / unescapeFieldValue', () => {
  const pairs: Array<[string, string]> = [
    ['', ''],
    ['a', 'a'],
    ['=', '\\='],
    [',', '\\,'],
    ['\\', '\\\\'],
    ['\\=\\,\\', '\\\\\\=\\\\\\,\\\\'],
  ];
  for (const [raw, escaped] of pairs) {
    it(`${JSON.stringify(raw)} <-> ${JSON.stringify(escaped)}`, () => {
      assert.equal(escapeFieldValue(raw), escaped);
      assert.equal(unescapeFieldValue(escaped), raw);
    });
  }
});

describe('FieldSelector semantics', () => {
  it('sorts terms, treats == as =, and matches missing fields as ""', () => {
    const sel = parseFieldSelector('metadata.namespace!=default,metadata.name==web');
    assert.deepEqual(sel.requirements, [
      { field: 'metadata.name', operator: '=', value: 'web' },
      { field: 'metadata.namespace', operator: '!=', value: 'default' },
    ]);
    assert.equal(sel.toString(), 'metadata.name=web,metadata.namespace!=default');
    assert.equal(sel.matches(fields({ 'metadata.name': 'web', 'metadata.namespace': 'prod' })), true);
    assert.equal(sel.matches(fields({ 'metadata.name': 'web', 'metadata.namespace': 'default' })), false);
    assert.equal(parseFieldSelector('spec.nodeName=').matches(fields({})), true);
    assert.equal(parseFieldSelector('spec.nodeName!=').matches(fields({})), false);
  });
  it('docs example: kubectl get pods --field-selector status.phase!=Running,spec.restartPolicy=Always', () => {
    const sel = parseFieldSelector('status.phase!=Running,spec.restartPolicy=Always');
    assert.equal(sel.matches(fields({ 'status.phase': 'Pending', 'spec.restartPolicy': 'Always' })), true);
    assert.equal(sel.matches(fields({ 'status.phase': 'Running', 'spec.restartPolicy': 'Always' })), false);
  });
  it('does not trim whitespace and skips empty terms', () => {
    assert.deepEqual(parseFieldSelector(' a = b ,,').requirements, [
      { field: ' a ', operator: '=', value: ' b ' },
    ]);
    assert.equal(parseFieldSelector(',,').isEverything(), true);
  });
  it('escaped commas do not split terms', () => {
    const sel = parseFieldSelector('metadata.name=a\\,b');
    assert.deepEqual(sel.requirements, [{ field: 'metadata.name', operator: '=', value: 'a,b' }]);
    assert.equal(sel.matches(fields({ 'metadata.name': 'a,b' })), true);
  });
});

describe('parseFieldSelector: properties (seeded)', () => {
  it('random strings throw only SelectorError; results round-trip through format', () => {
    const seed = 0xf1e1d;
    const rng = makeRng(seed);
    const alphabet = ['a', 'b', '.', '=', '!', ',', '\\', ' ', 'x', 'ü', '=='];
    let parsed = 0;
    let rejected = 0;
    for (let i = 0; i < 20000; i++) {
      let text = '';
      for (let n = rng.int(12); n > 0; n--) text += rng.pick(alphabet);
      let sel: ReturnType<typeof parseFieldSelector>;
      try {
        sel = parseFieldSelector(text);
      } catch (err) {
        assert.ok(
          err instanceof SelectorError,
          `seed ${seed} case ${i} ${JSON.stringify(text)}: ${String(err)}`,
        );
        rejected++;
        continue;
      }
      parsed++;
      const formatted = formatFieldSelector(sel);
      const again = parseFieldSelector(formatted);
      // Kubernetes sorts the raw terms, so `a==x` and `a=x` may sort differently
      // once `==` is printed as `=`: compare as multisets, then check the fixpoint.
      const key = (r: { field: string; operator: string; value: string }): string => JSON.stringify(r);
      assert.deepStrictEqual(
        again.requirements.map(key).sort(),
        sel.requirements.map(key).sort(),
        `seed ${seed} case ${i} ${JSON.stringify(text)}`,
      );
      assert.equal(
        formatFieldSelector(parseFieldSelector(formatFieldSelector(again))),
        formatFieldSelector(again),
      );
    }
    assert.ok(parsed > 1000 && rejected > 1000, `parsed ${parsed}, rejected ${rejected}`);
  });

  it('escape/unescape are inverse on random strings', () => {
    const rng = makeRng(0xf1e1e);
    for (let i = 0; i < 5000; i++) {
      let raw = '';
      for (let n = rng.int(10); n > 0; n--) raw += rng.pick(['a', '\\', ',', '=', 'ü', ' ']);
      assert.equal(unescapeFieldValue(escapeFieldValue(raw)), raw, JSON.stringify(raw));
    }
  });
});
