import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeRng, type Rng } from '../patch/prng.ts';
import {
  formatLabelSelector,
  isQualifiedName,
  isValidLabelValue,
  type LabelOperator,
  labelSelectorFromObject,
  parseLabelSelector,
  SelectorError,
} from './label-selector.ts';

function assertSelectorError(text: string, pattern?: RegExp): void {
  assert.throws(
    () => parseLabelSelector(text),
    (err: unknown) => {
      assert.ok(
        err instanceof SelectorError,
        `${JSON.stringify(text)}: expected SelectorError, got ${String(err)}`,
      );
      assert.equal(err.status, 400);
      if (pattern !== undefined) assert.match(err.message, pattern);
      return true;
    },
    JSON.stringify(text),
  );
}

// apimachinery labels/selector_test.go TestSelectorParse: testGoodStrings / testBadStrings.
describe('parseLabelSelector: selector_test.go TestSelectorParse', () => {
  it('accepts the good strings and prints their canonical form', () => {
    const good: Array<[string, string]> = [
      ['x=a,y=b,z=c', 'x=a,y=b,z=c'],
      ['', ''],
      ['x!=a,y=b', 'x!=a,y=b'],
      ['x=', 'x='],
      ['x= ', 'x='],
      ['x=,z= ', 'x=,z='],
      ['x= ,z= ', 'x=,z='],
      ['!x', '!x'],
      ['x>1', 'x>1'],
      ['x>1,z<5', 'x>1,z<5'],
      ['x in (),y', 'x in (),y'],
      ['x notin (),y', 'x notin (),y'],
      ['x in (a,,b),y', 'x in (,a,b),y'],
      ['z=c,y=b,x=a', 'x=a,y=b,z=c'],
    ];
    for (const [text, canonical] of good) {
      assert.equal(formatLabelSelector(parseLabelSelector(text)), canonical, text);
    }
  });
  it('rejects the bad strings', () => {
    for (const text of ['x=a||y=b', 'x==a==b', '!x=a', 'x<a']) {
      assertSelectorError(text);
    }
  });
});

// apimachinery labels/selector_test.go TestSelectorMatches (expectMatch / expectNoMatch).
describe('LabelSelector.matches: selector_test.go TestSelectorMatches', () => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['', { x: 'y' }, true],
    ['x=y', { x: 'y' }, true],
    ['x=y,z=w', { x: 'y', z: 'w' }, true],
    ['x!=y,z!=w', { x: 'z', z: 'a' }, true],
    ['notin=in', { notin: 'in' }, true],
    ['x', { x: 'z' }, true],
    ['!x', { y: 'z' }, true],
    ['x>1', { x: '2' }, true],
    ['x<1', { x: '0' }, true],
    ['x=z', {}, false],
    ['x=y', { x: 'z' }, false],
    ['x=y,z=w', { x: 'w', z: 'w' }, false],
    ['x!=y,z!=w', { x: 'z', z: 'w' }, false],
    ['x', { y: 'z' }, false],
    ['!x', { x: 'z' }, false],
    ['x>1', { x: '0' }, false],
    ['x<1', { x: '2' }, false],
  ];
  for (const [text, labels, expected] of cases) {
    it(`${JSON.stringify(text)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(labels)}`, () => {
      assert.equal(parseLabelSelector(text).matches(labels), expected);
    });
  }
  it('treats undefined labels as an empty set', () => {
    assert.equal(parseLabelSelector('!x').matches(undefined), true);
    assert.equal(parseLabelSelector('x').matches(undefined), false);
    assert.equal(parseLabelSelector('x notin (a)').matches(undefined), true);
  });
  it('gt/lt compare as int64 and never match non-integer label values', () => {
    assert.equal(parseLabelSelector('x>9').matches({ x: '10' }), true, 'numeric, not lexical');
    assert.equal(parseLabelSelector('x<5').matches({ x: 'abc' }), false);
    assert.equal(parseLabelSelector('x>1').matches({ x: '99999999999999999999' }), false, 'overflows int64');
  });
});

// Kubernetes docs, concepts/overview/working-with-objects/labels ("Label selectors").
describe('parseLabelSelector: examples from the Labels and Selectors docs', () => {
  it('equality-based requirements', () => {
    const sel = parseLabelSelector('environment = production,tier != frontend');
    assert.deepEqual(sel.requirements, [
      { key: 'environment', operator: '=', values: ['production'] },
      { key: 'tier', operator: '!=', values: ['frontend'] },
    ]);
    assert.equal(sel.matches({ environment: 'production', tier: 'backend' }), true);
    assert.equal(sel.matches({ environment: 'production', tier: 'frontend' }), false);
  });
  it('set-based requirements', () => {
    const sel = parseLabelSelector(
      'environment in (production, qa),tier notin (frontend, backend),partition,!beta',
    );
    assert.equal(
      sel.toString(),
      '!beta,environment in (production,qa),partition,tier notin (backend,frontend)',
    );
    assert.equal(sel.matches({ environment: 'qa', tier: 'cache', partition: 'a' }), true);
    assert.equal(sel.matches({ environment: 'dev', tier: 'cache', partition: 'a' }), false);
    assert.equal(sel.matches({ environment: 'qa', tier: 'cache' }), false);
    assert.equal(sel.matches({ environment: 'qa', tier: 'cache', partition: 'a', beta: '' }), false);
  });
});

// apimachinery labels/selector_test.go TestLexer / TestLexerSequence, observed through the parser.
describe('parseLabelSelector: lexer details', () => {
  it('longest special symbol wins ("!=" over "!")', () => {
    assert.deepEqual(parseLabelSelector('x!=y').requirements, [{ key: 'x', operator: '!=', values: ['y'] }]);
    assert.deepEqual(parseLabelSelector('x==y').requirements, [{ key: 'x', operator: '==', values: ['y'] }]);
  });
  it('keywords are identifiers in value position', () => {
    assert.deepEqual(parseLabelSelector('in in (in,notin)').requirements, [
      { key: 'in', operator: 'in', values: ['in', 'notin'] },
    ]);
  });
  it('whitespace (space, tab, CR, LF) separates tokens', () => {
    assert.equal(parseLabelSelector(' x\tin\n( a ,\rb ) ').toString(), 'x in (a,b)');
  });
  it('a NUL byte ends the input, as Go reads byte 0 as end of string', () => {
    assert.equal(parseLabelSelector('\0x=y').isEverything(), true);
  });
});

describe('parseLabelSelector: errors like Kubernetes', () => {
  it('invalid keys', () => {
    assertSelectorError(
      'a@b',
      /^unable to parse requirement: <nil>: Invalid value: "a@b": name part must consist of/,
    );
    assertSelectorError('-a=b', /name part must consist of alphanumeric characters/);
    assertSelectorError(`${'a'.repeat(64)}=b`, /name part must be no more than 63 characters/);
    assertSelectorError('/a=b', /prefix part must be non-empty/);
    assertSelectorError('Example.com/a=b', /prefix part a lowercase RFC 1123 subdomain/);
    assertSelectorError(`${'a'.repeat(254)}/a`, /prefix part must be no more than 253 characters/);
    assertSelectorError('a/b/c', /a qualified name must consist of/);
  });
  it('invalid values', () => {
    assertSelectorError(
      'a=-b',
      /^unable to parse requirement: values\[0\]\[a\]: Invalid value: "-b": a valid label must be/,
    );
    assertSelectorError(`a=${'b'.repeat(64)}`, /must be no more than 63 characters/);
    assertSelectorError('a in (x,y_)', /values\[1\]\[a\]/);
    assertSelectorError(
      'a>b',
      /values\[0\]: Invalid value: "b": for 'Gt', 'Lt' operators, the value must be an integer/,
    );
  });
  it('syntax errors', () => {
    assertSelectorError(',', /found ',', expected: !, identifier, or 'end of string'/);
    assertSelectorError('a,', /found '', expected: identifier after ','/);
    assertSelectorError('a b', /found 'b', expected: in, notin, =, ==, !=, gt, lt/);
    assertSelectorError('a in b', /found 'b' expected: '\('/);
    assertSelectorError('a in (b c)', /found 'c', expected: ',' or '\)'/);
    assertSelectorError('a in (b', /found '', expected: ',' or '\)'/);
    assertSelectorError('a in (=)', /found '=', expected: ',', '\)' or identifier/);
    assertSelectorError('a=b c', /found 'c', expected: ',' or 'end of string'/);
    assertSelectorError('a=(', /found '\(', expected: identifier/);
    assertSelectorError('!', /found '', expected: identifier/);
  });
});

describe('validation helpers', () => {
  it('isQualifiedName / isValidLabelValue', () => {
    assert.deepEqual(isQualifiedName('app.kubernetes.io/name'), []);
    assert.deepEqual(isQualifiedName('a'.repeat(63)), []);
    assert.notDeepEqual(isQualifiedName('a'.repeat(64)), []);
    assert.deepEqual(isValidLabelValue(''), []);
    assert.deepEqual(isValidLabelValue('My_value.1'), []);
    assert.notDeepEqual(isValidLabelValue('ü'), []);
  });
});

// metav1.LabelSelectorAsSelector (apimachinery pkg/apis/meta/v1/helpers.go) and its test table.
describe('labelSelectorFromObject', () => {
  it('nil selects nothing, empty selects everything', () => {
    assert.equal(labelSelectorFromObject(null).matches({}), false);
    assert.equal(labelSelectorFromObject(undefined).matchesNothing, true);
    assert.equal(labelSelectorFromObject({}).matches({ a: 'b' }), true);
    assert.equal(labelSelectorFromObject({ matchLabels: {}, matchExpressions: [] }).isEverything(), true);
  });
  it('matchLabels and matchExpressions (helpers_test.go TestLabelSelectorAsSelector)', () => {
    const sel = labelSelectorFromObject({
      matchLabels: { foo: 'bar' },
      matchExpressions: [{ key: 'baz', operator: 'In', values: ['qux', 'norf'] }],
    });
    assert.equal(sel.toString(), 'baz in (norf,qux),foo=bar');
    assert.equal(sel.matches({ foo: 'bar', baz: 'norf' }), true);
    assert.equal(sel.matches({ foo: 'bar', baz: 'x' }), false);
    const ops = labelSelectorFromObject({
      matchExpressions: [
        { key: 'a', operator: 'NotIn', values: ['x'] },
        { key: 'b', operator: 'Exists' },
        { key: 'c', operator: 'DoesNotExist' },
      ],
    });
    assert.equal(ops.toString(), 'a notin (x),b,!c');
    assert.equal(ops.matches({ b: '' }), true);
    assert.equal(ops.matches({ a: 'x', b: '' }), false);
    assert.equal(ops.matches({ b: '', c: '' }), false);
  });
  it('rejects unknown operators and invalid requirements', () => {
    assert.throws(
      () => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }),
      (err: unknown) =>
        err instanceof SelectorError && /"Gt" is not a valid label selector operator/.test(err.message),
    );
    assert.throws(
      () => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
      (err: unknown) => err instanceof SelectorError && /values set can't be empty/.test(err.message),
    );
    assert.throws(
      () => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }),
      (err: unknown) => err instanceof SelectorError && /must be empty for exists/.test(err.message),
    );
  });
});

// ---------------------------------------------------------------------------
// Properties

const ALPHABET = [
  'a',
  'b',
  'x',
  '1',
  '0',
  '-',
  '_',
  '.',
  '/',
  '=',
  '!',
  '(',
  ')',
  ',',
  '<',
  '>',
  ' ',
  '\t',
  'in',
  'notin',
  'ü',
  '\0',
  '@',
];

function randomText(rng: Rng): string {
  let out = '';
  const n = rng.int(16);
  for (let i = 0; i < n; i++) out += rng.pick(ALPHABET);
  return out;
}

const KEYS = ['a', 'app', 'app.kubernetes.io/name', 'x-y', 'Z_9', 'example.com/tier'];
const VALUES = ['', 'a', 'prod', 'v1.2', 'X_y-z', '42', '7'];

/** A random valid selector text built from the grammar, with sloppy whitespace. */
function randomValidSelector(rng: Rng): string {
  const ws = (): string => rng.pick(['', ' ', '  ', '\t']);
  const reqs: string[] = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const key = rng.pick(KEYS);
    const op = rng.pick<LabelOperator>(['in', 'notin', '=', '==', '!=', 'exists', '!', 'gt', 'lt']);
    switch (op) {
      case 'exists':
        reqs.push(`${ws()}${key}${ws()}`);
        break;
      case '!':
        reqs.push(`${ws()}!${ws()}${key}${ws()}`);
        break;
      case 'gt':
      case 'lt':
        reqs.push(`${key}${ws()}${op === 'gt' ? '>' : '<'}${ws()}${rng.int(100)}`);
        break;
      case 'in':
      case 'notin': {
        const values = Array.from({ length: 1 + rng.int(3) }, () => rng.pick(VALUES.filter((v) => v !== '')));
        reqs.push(`${key} ${op}${ws()}(${ws()}${values.join(`${ws()},${ws()}`)}${ws()})`);
        break;
      }
      default:
        reqs.push(`${key}${ws()}${op}${ws()}${rng.pick(VALUES)}`);
    }
  }
  return reqs.join(',');
}

describe('parseLabelSelector: properties (seeded)', () => {
  it('random strings never throw anything but SelectorError; parses round-trip through format', () => {
    const seed = 0x1abe1;
    const rng = makeRng(seed);
    let parsed = 0;
    let rejected = 0;
    for (let i = 0; i < 20000; i++) {
      const text = randomText(rng);
      let sel: ReturnType<typeof parseLabelSelector>;
      try {
        sel = parseLabelSelector(text);
      } catch (err) {
        assert.ok(
          err instanceof SelectorError,
          `seed ${seed} case ${i} ${JSON.stringify(text)}: ${String(err)}`,
        );
        assert.equal(err.status, 400);
        rejected++;
        continue;
      }
      parsed++;
      const formatted = formatLabelSelector(sel);
      const again = parseLabelSelector(formatted);
      assert.deepStrictEqual(
        again.requirements,
        sel.requirements,
        `seed ${seed} case ${i} ${JSON.stringify(text)}`,
      );
      assert.equal(formatLabelSelector(again), formatted, `seed ${seed} case ${i}: format is a fixpoint`);
    }
    assert.ok(parsed > 1000 && rejected > 1000, `parsed ${parsed}, rejected ${rejected}`);
  });

  it('grammar-generated selectors parse, round-trip, and match like their requirements', () => {
    const seed = 0x1abe2;
    const rng = makeRng(seed);
    for (let i = 0; i < 5000; i++) {
      const text = randomValidSelector(rng);
      const sel = parseLabelSelector(text);
      assert.deepStrictEqual(parseLabelSelector(sel.toString()).requirements, sel.requirements, text);
      // matches() is the AND of single-requirement selectors.
      const labels: Record<string, string> = {};
      for (const key of KEYS) if (rng.chance(0.5)) labels[key] = rng.pick(VALUES);
      const each = sel.requirements.map((r) =>
        parseLabelSelector(formatLabelSelector({ ...sel, requirements: [r] })),
      );
      assert.equal(
        sel.matches(labels),
        each.every((s) => s.matches(labels)),
        `seed ${seed} case ${i} ${text} ${JSON.stringify(labels)}`,
      );
    }
  });
});
