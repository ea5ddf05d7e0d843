import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PatchError } from './errors.ts';
import { applyJsonPatch, MAX_JSON_PATCH_OPERATIONS, parsePointer } from './json-patch.ts';
import { deepClone } from './json-value.ts';
import { makeRng, type Rng, randomJson, randomObject } from './prng.ts';

function assertPatchError(fn: () => unknown, status: number, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PatchError, `expected PatchError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  });
}

// RFC 6902 Appendix A, "Examples" (A.1 - A.16).
describe('applyJsonPatch: RFC 6902 appendix A', () => {
  it('A.1 adding an object member', () => {
    assert.deepEqual(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }]), {
      baz: 'qux',
      foo: 'bar',
    });
  });
  it('A.2 adding an array element', () => {
    assert.deepEqual(applyJsonPatch({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }]), {
      foo: ['bar', 'qux', 'baz'],
    });
  });
  it('A.3 removing an object member', () => {
    assert.deepEqual(applyJsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }]), {
      foo: 'bar',
    });
  });
  it('A.4 removing an array element', () => {
    assert.deepEqual(applyJsonPatch({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }]), {
      foo: ['bar', 'baz'],
    });
  });
  it('A.5 replacing a value', () => {
    assert.deepEqual(
      applyJsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }]),
      {
        baz: 'boo',
        foo: 'bar',
      },
    );
  });
  it('A.6 moving a value', () => {
    const doc = { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } };
    assert.deepEqual(applyJsonPatch(doc, [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }]), {
      foo: { bar: 'baz' },
      qux: { corge: 'grault', thud: 'fred' },
    });
  });
  it('A.7 moving an array element', () => {
    const doc = { foo: ['all', 'grass', 'cows', 'eat'] };
    assert.deepEqual(applyJsonPatch(doc, [{ op: 'move', from: '/foo/1', path: '/foo/3' }]), {
      foo: ['all', 'cows', 'eat', 'grass'],
    });
  });
  it('A.8 testing a value: success', () => {
    const doc = { baz: 'qux', foo: ['a', 2, 'c'] };
    const ops = [
      { op: 'test', path: '/baz', value: 'qux' },
      { op: 'test', path: '/foo/1', value: 2 },
    ];
    assert.deepEqual(applyJsonPatch(doc, ops), doc);
  });
  it('A.9 testing a value: error → 422', () => {
    assertPatchError(
      () => applyJsonPatch({ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }]),
      422,
      /test/,
    );
  });
  it('A.10 adding a nested member object', () => {
    assert.deepEqual(
      applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }]),
      {
        foo: 'bar',
        child: { grandchild: {} },
      },
    );
  });
  it('A.11 ignoring unrecognized elements', () => {
    assert.deepEqual(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }]), {
      foo: 'bar',
      baz: 'qux',
    });
  });
  it('A.12 adding to a nonexistent target → 422', () => {
    assertPatchError(
      () => applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }]),
      422,
      /missing path/,
    );
  });
  it('A.14 ~ escape ordering', () => {
    const doc = { '/': 9, '~1': 10 };
    assert.deepEqual(applyJsonPatch(doc, [{ op: 'test', path: '/~01', value: 10 }]), doc);
  });
  it('A.15 comparing strings and numbers → 422', () => {
    assertPatchError(
      () => applyJsonPatch({ '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }]),
      422,
    );
  });
  it('A.16 adding an array value with "-"', () => {
    assert.deepEqual(
      applyJsonPatch({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }]),
      {
        foo: ['bar', ['abc', 'def']],
      },
    );
  });
});

// RFC 6901 section 5 examples for pointer decoding.
describe('parsePointer: RFC 6901 section 5', () => {
  it('decodes ~1 and ~0 in the right order', () => {
    assert.deepEqual(parsePointer(''), []);
    assert.deepEqual(parsePointer('/'), ['']);
    assert.deepEqual(parsePointer('/a~1b'), ['a/b']);
    assert.deepEqual(parsePointer('/m~0n'), ['m~n']);
    assert.deepEqual(parsePointer('/~01'), ['~1']);
    assert.equal(parsePointer('a/b'), undefined);
  });
});

// kube-apiserver / evanphx json-patch v4 specifics (k8s.io/apiserver handlers/patch.go).
describe('applyJsonPatch: kube-apiserver behaviour', () => {
  it('rejects a body that is not an array with 400', () => {
    assertPatchError(
      () => applyJsonPatch({}, { op: 'add', path: '/a', value: 1 }),
      400,
      /cannot unmarshal object/,
    );
    assertPatchError(() => applyJsonPatch({}, ['add']), 400, /cannot unmarshal string/);
  });
  it('reports an unknown or missing op as 422 "Unexpected kind"', () => {
    assertPatchError(
      () => applyJsonPatch({}, [{ op: 'frobnicate', path: '/a' }]),
      422,
      /Unexpected kind: frobnicate/,
    );
    assertPatchError(() => applyJsonPatch({}, [{ path: '/a' }]), 422, /Unexpected kind: unknown/);
    assertPatchError(() => applyJsonPatch({}, [null]), 422, /Unexpected kind: unknown/);
  });
  it('reports a missing path as 422', () => {
    assertPatchError(() => applyJsonPatch({}, [{ op: 'add', value: 1 }]), 422, /decode path/);
  });
  it('answers 413 above 10000 operations', () => {
    const ops = Array.from({ length: MAX_JSON_PATCH_OPERATIONS + 1 }, () => ({
      op: 'test',
      path: '/a',
      value: 1,
    }));
    assertPatchError(() => applyJsonPatch({ a: 1 }, ops), 413, /maximum operations/);
  });
  it('replace of a missing object member adds it (v4 quirk kubectl users rely on)', () => {
    assert.deepEqual(
      applyJsonPatch({ metadata: { labels: {} } }, [
        { op: 'replace', path: '/metadata/labels/app', value: 'web' },
      ]),
      { metadata: { labels: { app: 'web' } } },
    );
  });
  it('replace of a missing array index is 422', () => {
    assertPatchError(() => applyJsonPatch({ a: [1] }, [{ op: 'replace', path: '/a/1', value: 2 }]), 422);
  });
  it('supports negative array indices (SupportNegativeIndices)', () => {
    assert.deepEqual(applyJsonPatch({ a: [1, 2, 3] }, [{ op: 'remove', path: '/a/-1' }]), { a: [1, 2] });
    // For add the array is one longer afterwards, so -1 addresses the new last slot.
    assert.deepEqual(applyJsonPatch({ a: [1, 2] }, [{ op: 'add', path: '/a/-1', value: 9 }]), {
      a: [1, 2, 9],
    });
    assert.deepEqual(applyJsonPatch({ a: [1, 2] }, [{ op: 'add', path: '/a/-3', value: 9 }]), {
      a: [9, 1, 2],
    });
    assertPatchError(
      () => applyJsonPatch({ a: [1] }, [{ op: 'remove', path: '/a/-2' }]),
      422,
      /invalid index/,
    );
  });
  it('enforces array bounds for add and remove', () => {
    assert.deepEqual(applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/1', value: 2 }]), { a: [1, 2] });
    assertPatchError(
      () => applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/3', value: 2 }]),
      422,
      /invalid index/,
    );
    assertPatchError(
      () => applyJsonPatch({ a: [1] }, [{ op: 'remove', path: '/a/1' }]),
      422,
      /invalid index/,
    );
    assertPatchError(
      () => applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/x', value: 2 }]),
      422,
      /array index/,
    );
  });
  it('remove of a nonexistent key is 422', () => {
    assertPatchError(() => applyJsonPatch({}, [{ op: 'remove', path: '/a' }]), 422, /nonexistent key: a/);
  });
  it('cannot address the whole document (path "")', () => {
    assertPatchError(
      () => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: {} }]),
      422,
      /missing path/,
    );
  });
  it('copy deep-copies and copy from a missing path is 422', () => {
    const out = applyJsonPatch({ a: { b: [1] } }, [{ op: 'copy', from: '/a', path: '/c' }]) as {
      a: { b: number[] };
      c: { b: number[] };
    };
    assert.deepEqual(out, { a: { b: [1] }, c: { b: [1] } });
    assert.notEqual(out.a, out.c);
    assertPatchError(() => applyJsonPatch({}, [{ op: 'copy', from: '/nope', path: '/c' }]), 422, /from path/);
  });
  it('cannot move a value into its own child', () => {
    assertPatchError(
      () => applyJsonPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]),
      422,
    );
  });
  it('test of a missing member passes only for null (v4 cannot tell missing from null)', () => {
    assert.deepEqual(applyJsonPatch({}, [{ op: 'test', path: '/a', value: null }]), {});
    assertPatchError(() => applyJsonPatch({}, [{ op: 'test', path: '/a', value: 1 }]), 422);
  });
  it('is atomic from the caller’s view: a failing op leaves the input untouched', () => {
    const doc = { a: 1 };
    assertPatchError(
      () =>
        applyJsonPatch(doc, [
          { op: 'add', path: '/b', value: 2 },
          { op: 'test', path: '/a', value: 2 },
        ]),
      422,
    );
    assert.deepEqual(doc, { a: 1 });
  });
  it('creates own "__proto__" members instead of touching prototypes', () => {
    const out = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<
      string,
      unknown
    >;
    assert.equal(Object.hasOwn(out, '__proto__'), true);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

/** Every JSON pointer that exists in `doc` (root excluded). */
function pointers(doc: unknown, prefix = ''): string[] {
  const out: string[] = [];
  const escapeToken = (k: string): string => k.replaceAll('~', '~0').replaceAll('/', '~1');
  if (Array.isArray(doc)) {
    doc.forEach((v, i) => {
      const p = `${prefix}/${i}`;
      out.push(p, ...pointers(v, p));
    });
  } else if (typeof doc === 'object' && doc !== null) {
    for (const [k, v] of Object.entries(doc)) {
      const p = `${prefix}/${escapeToken(k)}`;
      out.push(p, ...pointers(v, p));
    }
  }
  return out;
}

function getPointer(doc: unknown, pointer: string): unknown {
  let cur: unknown = doc;
  for (const token of parsePointer(pointer) ?? []) {
    cur = Array.isArray(cur) ? cur[Number(token)] : (cur as Record<string, unknown>)[token];
  }
  return cur;
}

function randomOp(rng: Rng, doc: unknown): Record<string, unknown> {
  const existing = pointers(doc);
  const somePath = (): string => {
    if (existing.length > 0 && rng.chance(0.8)) {
      const p = rng.pick(existing);
      // Sometimes aim at a child or a sibling that may not exist.
      return rng.chance(0.2) ? `${p}/${rng.pick(['-', '0', 'new', '5'])}` : p;
    }
    return rng.pick(['/new', '/a/b', '', '/', 'nope', '/0']);
  };
  const op = rng.pick(['add', 'remove', 'replace', 'move', 'copy', 'test']);
  const value = randomJson(rng, 2);
  switch (op) {
    case 'add':
    case 'replace':
    case 'test':
      return { op, path: somePath(), value };
    case 'remove':
      return { op, path: somePath() };
    default:
      return { op, from: somePath(), path: somePath() };
  }
}

describe('applyJsonPatch: properties (seeded)', () => {
  it('never throws anything but PatchError and never mutates its inputs', () => {
    const seed = 0x5eed1;
    const rng = makeRng(seed);
    let applied = 0;
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const doc = randomObject(rng, 3);
      const ops = Array.from({ length: 1 + rng.int(4) }, () => randomOp(rng, doc));
      const docBefore = deepClone(doc);
      const opsBefore = deepClone(ops);
      try {
        applyJsonPatch(doc, ops);
        applied++;
      } catch (err) {
        assert.ok(err instanceof PatchError, `seed ${seed} case ${i}: ${String(err)}`);
        assert.ok(err.status === 422, `seed ${seed} case ${i}: status ${err.status}`);
        rejected++;
      }
      assert.deepStrictEqual(doc, docBefore, `seed ${seed} case ${i}: doc mutated`);
      assert.deepStrictEqual(ops, opsBefore, `seed ${seed} case ${i}: ops mutated`);
    }
    // The generator must exercise both outcomes to mean anything.
    assert.ok(applied > 200 && rejected > 200, `applied ${applied}, rejected ${rejected}`);
  });

  it('test with the current value always passes; add then remove of a fresh member is the identity', () => {
    const seed = 0x5eed2;
    const rng = makeRng(seed);
    for (let i = 0; i < 1000; i++) {
      const doc = randomObject(rng, 3);
      for (const p of pointers(doc)) {
        const out = applyJsonPatch(doc, [{ op: 'test', path: p, value: getPointer(doc, p) }]);
        assert.deepStrictEqual(out, doc, `seed ${seed} case ${i} pointer ${p}`);
      }
      const value = randomJson(rng, 2);
      const out = applyJsonPatch(doc, [
        { op: 'add', path: '/fresh~1key', value },
        { op: 'test', path: '/fresh~1key', value },
        { op: 'remove', path: '/fresh~1key' },
      ]);
      assert.deepStrictEqual(out, doc, `seed ${seed} case ${i}`);
    }
  });
});
