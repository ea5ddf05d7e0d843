import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PatchError } from './errors.ts';
import { deepClone, deepEqual, isJsonObject, type JsonObject, setKey } from './json-value.ts';
import { applyMergePatch, assertMergePatchDocument } from './merge-patch.ts';
import { makeRng, type Rng, randomJson, randomObject } from './prng.ts';

// RFC 7386 Appendix A, "Example Test Cases" (all of them).
const RFC7386_CASES: Array<[unknown, unknown, unknown]> = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [
    ['a', 'b'],
    ['c', 'd'],
    ['c', 'd'],
  ],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

describe('applyMergePatch: RFC 7386 appendix A', () => {
  RFC7386_CASES.forEach(([target, patch, expected], i) => {
    it(`case ${i + 1}: ${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      const targetBefore = deepClone(target);
      const patchBefore = deepClone(patch);
      assert.deepStrictEqual(applyMergePatch(target, patch), expected);
      assert.deepStrictEqual(target, targetBefore);
      assert.deepStrictEqual(patch, patchBefore);
    });
  });
});

// evanphx json-patch v4 MergePatch, which kube-apiserver uses for merge-patch+json.
describe('applyMergePatch: kube-apiserver (json-patch v4) behaviour', () => {
  it('drops null members of objects inside inserted arrays (pruneNulls)', () => {
    assert.deepStrictEqual(applyMergePatch({}, { a: [{ x: null, y: 1 }, null] }), { a: [{ y: 1 }, null] });
  });
  it('replaces an existing object by a non-object patch value without pruning', () => {
    assert.deepStrictEqual(applyMergePatch({ a: { b: 1 } }, { a: [{ x: null }] }), { a: [{ x: null }] });
  });
  it('treats a null member of the target as absent', () => {
    assert.deepStrictEqual(applyMergePatch({ a: null }, { a: { b: null, c: 1 } }), { a: { c: 1 } });
  });
  it('merges labels like `kubectl patch --type merge`', () => {
    const pod = {
      metadata: { name: 'p', labels: { app: 'web', tier: 'fe' } },
      spec: { containers: [{ name: 'c' }] },
    };
    assert.deepStrictEqual(applyMergePatch(pod, { metadata: { labels: { tier: null, v: '2' } } }), {
      metadata: { name: 'p', labels: { app: 'web', v: '2' } },
      spec: { containers: [{ name: 'c' }] },
    });
  });
  it('assertMergePatchDocument answers 400 "Invalid JSON Patch" for non-object bodies', () => {
    for (const body of [null, 1, 'x', [1]]) {
      assert.throws(
        () => assertMergePatchDocument(body),
        (err: unknown) =>
          err instanceof PatchError && err.status === 400 && err.message === 'Invalid JSON Patch',
      );
    }
    assert.doesNotThrow(() => assertMergePatchDocument({}));
  });
});

/**
 * createMergePatch(a, b): the RFC 7386 diff that turns a into b. Only valid
 * when b has no null object members (merge patch cannot express them).
 */
function createMergePatch(a: unknown, b: unknown): unknown {
  if (!isJsonObject(a) || !isJsonObject(b)) {
    return deepClone(b);
  }
  const patch: JsonObject = {};
  for (const key of Object.keys(a)) {
    if (!Object.hasOwn(b, key)) setKey(patch, key, null);
  }
  for (const [key, bv] of Object.entries(b)) {
    const av = Object.hasOwn(a, key) ? a[key] : undefined;
    if (av === undefined) {
      setKey(patch, key, deepClone(bv));
    } else if (isJsonObject(av) && isJsonObject(bv)) {
      const sub = createMergePatch(av, bv) as JsonObject;
      if (Object.keys(sub).length > 0) setKey(patch, key, sub);
    } else if (!deepEqual(av, bv)) {
      setKey(patch, key, deepClone(bv));
    }
  }
  return patch;
}

/** Mutate a document a little: change, add or delete members. */
function mutate(rng: Rng, doc: unknown): unknown {
  if (!isJsonObject(doc)) {
    return rng.chance(0.5) ? randomObject(rng, 2, false) : randomJson(rng, 2, false);
  }
  const out = deepClone(doc);
  for (const key of Object.keys(out)) {
    const r = rng.int(4);
    if (r === 0) delete out[key];
    else if (r === 1) setKey(out, key, mutate(rng, out[key]));
  }
  if (rng.chance(0.5)) setKey(out, `k${rng.int(5)}`, randomJson(rng, 2, false));
  return out;
}

describe('applyMergePatch: properties (seeded)', () => {
  it('applying createMergePatch(a, b) to a yields b', () => {
    const seed = 0x7386;
    const rng = makeRng(seed);
    for (let i = 0; i < 3000; i++) {
      const a = randomObject(rng, 3, false);
      const b = rng.chance(0.2) ? randomObject(rng, 3, false) : mutate(rng, a);
      const patch = createMergePatch(a, b);
      assert.deepStrictEqual(applyMergePatch(a, patch), b, `seed ${seed} case ${i}`);
    }
  });

  it('is idempotent and never mutates its inputs', () => {
    const seed = 0x7387;
    const rng = makeRng(seed);
    for (let i = 0; i < 2000; i++) {
      const a = randomObject(rng, 3);
      // Nulls only as object members: v4 keeps nulls of a non-object value that
      // replaces an object, so patches with nulls inside arrays are not idempotent.
      const patch = randomObject(rng, 3, false);
      for (const key of ['a', 'b', 'spec']) {
        if (rng.chance(0.3)) setKey(patch, key, null);
      }
      const aBefore = deepClone(a);
      const patchBefore = deepClone(patch);
      const once = applyMergePatch(a, patch);
      assert.deepStrictEqual(applyMergePatch(once, patch), once, `seed ${seed} case ${i}`);
      assert.deepStrictEqual(a, aBefore, `seed ${seed} case ${i}`);
      assert.deepStrictEqual(patch, patchBefore, `seed ${seed} case ${i}`);
    }
  });
});
