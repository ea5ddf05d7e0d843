import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PatchError } from './errors.ts';
import { deepClone } from './json-value.ts';
import { applyMergePatch } from './merge-patch.ts';
import { makeRng, type Rng, randomJson, randomKey, randomObject, randomScalar } from './prng.ts';
import {
  applyStrategicMergePatch,
  builtinPatchSchema,
  CUSTOM_RESOURCE_PATCH_TYPES,
  isStrategicMergeSupported,
  type PatchSchema,
} from './strategic-merge.ts';

/**
 * The `MergeItem` test type of apimachinery's strategicpatch/patch_test.go,
 * written as a PatchSchema (its struct tags, one for one).
 */
const MERGE_ITEM: PatchSchema = (() => {
  const item: { name: string; fields: Record<string, object> } = { name: 'MergeItem', fields: {} };
  const retainKeysItem: PatchSchema = {
    name: 'RetainKeysMergeItem',
    fields: {
      mergingIntList: { patchStrategy: 'merge' },
      mergingList: { patchStrategy: 'merge', patchMergeKey: 'name', schema: item },
    },
  };
  Object.assign(item.fields, {
    mergingList: { patchStrategy: 'merge', patchMergeKey: 'name', schema: item },
    nonMergingList: { schema: item },
    mergingIntList: { patchStrategy: 'merge' },
    mergeItemPtr: { patchStrategy: 'merge', patchMergeKey: 'name', schema: item },
    replacingItem: { patchStrategy: 'replace' },
    retainKeysMap: { patchStrategy: 'retainKeys', schema: retainKeysItem },
    retainKeysMergingList: { patchStrategy: 'merge,retainKeys', patchMergeKey: 'name', schema: item },
  });
  return item as PatchSchema;
})();

function assertPatchError(fn: () => unknown, status: number, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PatchError, `expected PatchError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  });
}

type Case = { description: string; original: unknown; patch: unknown; expected: unknown };

// apimachinery strategicpatch/patch_test.go: customStrategicMergePatchTestCaseData
// ("original" + "twoWay" → "modified"), transcribed from YAML.
const CUSTOM_CASES: Case[] = [
  {
    description: 'unique scalars when merging lists',
    original: { mergingIntList: [1, 2] },
    patch: { mergingIntList: [2, 3] },
    expected: { mergingIntList: [1, 2, 3] },
  },
  {
    description: 'delete map from nested map',
    original: { simpleMap: { key1: 1, key2: 1 } },
    patch: { simpleMap: { $patch: 'delete' } },
    expected: { simpleMap: {} },
  },
  {
    description: 'delete all items from merging list',
    original: { mergingList: [{ name: 1 }, { name: 2 }] },
    patch: { mergingList: [{ $patch: 'replace' }] },
    expected: { mergingList: [] },
  },
  {
    description: 'merge empty merging lists',
    original: { mergingList: [] },
    patch: { mergingList: [] },
    expected: { mergingList: [] },
  },
  {
    description: 'delete all keys from map',
    original: { name: 1, value: 1 },
    patch: { $patch: 'replace' },
    expected: {},
  },
  {
    description: 'add key and delete all keys from map',
    original: { name: 1, value: 1 },
    patch: { other: 'a', $patch: 'replace' },
    expected: { other: 'a' },
  },
  {
    description: 'delete all duplicate entries in a merging list',
    original: { mergingList: [{ name: 1 }, { name: 1 }, { name: 2, value: 'a' }, { name: 3 }, { name: 3 }] },
    patch: {
      mergingList: [
        { name: 1, $patch: 'delete' },
        { name: 3, $patch: 'delete' },
      ],
    },
    expected: { mergingList: [{ name: 2, value: 'a' }] },
  },
  {
    description: 'retainKeys map can add a field when no retainKeys directive present',
    original: { retainKeysMap: { name: 'foo' } },
    patch: { retainKeysMap: { value: 'bar' } },
    expected: { retainKeysMap: { name: 'foo', value: 'bar' } },
  },
  {
    description: 'retainKeys map can delete a field when no retainKeys directive present',
    original: { retainKeysMap: { name: 'foo', value: 'a' } },
    patch: { retainKeysMap: { value: null } },
    expected: { retainKeysMap: { name: 'foo' } },
  },
  {
    description: 'retainKeys list can add a field when no retainKeys directive present',
    original: { retainKeysMergingList: [{ name: 'bar' }, { name: 'foo' }] },
    patch: { retainKeysMergingList: [{ name: 'foo', value: 'a' }] },
    expected: { retainKeysMergingList: [{ name: 'bar' }, { name: 'foo', value: 'a' }] },
  },
  {
    description: 'preserve the order from the patch in a merging list',
    original: { mergingList: [{ name: 1 }, { name: 2, value: 'b' }, { name: 3 }] },
    patch: {
      mergingList: [
        { name: 3, value: 'c' },
        { name: 1, value: 'a' },
        { name: 2, other: 'x' },
      ],
    },
    expected: {
      mergingList: [
        { name: 3, value: 'c' },
        { name: 1, value: 'a' },
        { name: 2, value: 'b', other: 'x' },
      ],
    },
  },
  {
    description: 'preserve the order from the patch in a merging list 2',
    original: { mergingList: [{ name: 1 }, { name: 2, value: 'b' }, { name: 3 }] },
    patch: {
      mergingList: [
        { name: 3, value: 'c' },
        { name: 1, value: 'a' },
      ],
    },
    expected: {
      mergingList: [
        { name: 2, value: 'b' },
        { name: 3, value: 'c' },
        { name: 1, value: 'a' },
      ],
    },
  },
  {
    description: 'preserve the order from the patch in a merging int list',
    original: { mergingIntList: [1, 2, 3] },
    patch: { mergingIntList: [3, 1] },
    expected: { mergingIntList: [2, 3, 1] },
  },
];

// apimachinery patch_test.go: customStrategicMergePatchRawTestCases and
// strategicMergePatchRawTestCases (original + twoWay → modified / current + threeWay → result).
const RAW_CASES: Case[] = [
  {
    description: '$setElementOrder contains item that is not present in the list to be merged',
    original: { mergingList: [{ name: 1 }, { name: 3 }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: 3 }, { name: 2 }, { name: 1 }],
      mergingList: [
        { name: 3, value: 3 },
        { name: 1, value: 1 },
      ],
    },
    expected: {
      mergingList: [
        { name: 3, value: 3 },
        { name: 1, value: 1 },
      ],
    },
  },
  {
    description: '$setElementOrder contains item that is not present in the int list to be merged',
    original: { mergingIntList: [1, 3] },
    patch: { '$setElementOrder/mergingIntList': [3, 2, 1] },
    expected: { mergingIntList: [3, 1] },
  },
  {
    description: '$deleteFromPrimitiveList of nonexistent item should not add the item to the list',
    original: { mergingIntList: [1, 2] },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: [1, 2] },
  },
  {
    description: '$deleteFromPrimitiveList on empty primitive list should not add the item to the list',
    original: { mergingIntList: null },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: null },
  },
  {
    description: '$deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list',
    original: { foo: ['bar'] },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { foo: ['bar'] },
  },
  {
    description: '$deleteFromPrimitiveList should delete item from a list without merge patch strategy',
    original: { nonMergingIntList: [1, 2, 3] },
    patch: { '$deleteFromPrimitiveList/nonMergingIntList': [2] },
    expected: { nonMergingIntList: [1, 3] },
  },
  {
    description: 'nested patch merge with empty list (threeWay on current)',
    original: { name: 'hi', mergingList: [{ name: 'hello2' }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: 'hello' }, { name: 'doesntexist' }],
      mergingList: [{ name: 'hello' }, { $patch: 'delete', name: 'doesntexist' }],
    },
    expected: { name: 'hi', mergingList: [{ name: 'hello' }, { name: 'hello2' }] },
  },
  {
    description: 'delete items in lists of scalars (threeWay on current)',
    original: { mergingIntList: [1, 2, 3, 4] },
    patch: { '$setElementOrder/mergingIntList': [1, 2], '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: [1, 2, 4] },
  },
  {
    description: 'add and delete items in lists of scalars (twoWay)',
    original: { mergingIntList: [1, 2, 3] },
    patch: {
      '$setElementOrder/mergingIntList': [1, 2, 4],
      '$deleteFromPrimitiveList/mergingIntList': [3],
      mergingIntList: [4],
    },
    expected: { mergingIntList: [1, 2, 4] },
  },
  {
    description: 'merge lists of maps (threeWay on current)',
    original: {
      mergingList: [
        { name: 1, other: 'a' },
        { name: 2, value: 2, other: 'b' },
      ],
    },
    patch: {
      '$setElementOrder/mergingList': [{ name: 4 }, { name: 1 }, { name: 2 }, { name: 3 }],
      mergingList: [
        { name: 4, value: 4 },
        { name: 3, value: 3 },
      ],
    },
    expected: {
      mergingList: [
        { name: 4, value: 4 },
        { name: 1, other: 'a' },
        { name: 2, value: 2, other: 'b' },
        { name: 3, value: 3 },
      ],
    },
  },
  {
    description: 'defined null values should propagate removing original fields (twoWay)',
    original: { name: 'original-name', value: 'original-value' },
    patch: { name: 'modified-name', value: null },
    expected: { name: 'modified-name' },
  },
];

describe('applyStrategicMergePatch: apimachinery patch_test.go tables (MergeItem schema)', () => {
  for (const c of [...CUSTOM_CASES, ...RAW_CASES]) {
    it(c.description, () => {
      const original = deepClone(c.original);
      const patch = deepClone(c.patch);
      assert.deepStrictEqual(applyStrategicMergePatch(original, patch, MERGE_ITEM), c.expected);
      assert.deepStrictEqual(original, c.original, 'original mutated');
      assert.deepStrictEqual(patch, c.patch, 'patch mutated');
    });
  }

  // patch_test.go raw cases with ExpectedError.
  it('"should check if order in $setElementOrder and patch list match" fails', () => {
    const original = { mergingList: [{ name: 1 }, { name: 3 }, { name: 2 }] };
    const patch = {
      '$setElementOrder/mergingList': [{ name: 1 }, { name: 2 }, { name: 3 }],
      mergingList: [
        { name: 3, value: 3 },
        { name: 1, value: 1 },
      ],
    };
    assertPatchError(() => applyStrategicMergePatch(original, patch, MERGE_ITEM), 500, /doesn't match/);
  });
  it('"missing merge key should error out"', () => {
    assertPatchError(
      () =>
        applyStrategicMergePatch(
          { mergingList: [{ name: 1, value: 'a' }] },
          { mergingList: [{ value: 'b' }] },
          MERGE_ITEM,
        ),
      500,
      /does not contain declared merge key/,
    );
  });
});

describe('applyStrategicMergePatch: directives and errors', () => {
  it('$patch: merge on a map and unknown $patch values are errors (500, as kube-apiserver)', () => {
    assertPatchError(
      () => applyStrategicMergePatch({ a: { b: 1 } }, { a: { $patch: 'merge' } }, {}),
      500,
      /unknown patch type/,
    );
    assertPatchError(() => applyStrategicMergePatch({}, { $patch: 'bogus' }, {}), 500, /unknown patch type/);
  });
  it('$patch: merge inside a merging list is rejected', () => {
    assertPatchError(
      () =>
        applyStrategicMergePatch(
          { mergingList: [{ name: 1 }] },
          { mergingList: [{ $patch: 'merge' }] },
          MERGE_ITEM,
        ),
      500,
      /merging lists cannot yet be specified/,
    );
  });
  it('$retainKeys must be a list (400) and cover every patched key (400)', () => {
    assertPatchError(
      () => applyStrategicMergePatch({ m: { a: 1 } }, { m: { $retainKeys: 'a' } }, {}),
      400,
      /invalid patch format of retainKeys/,
    );
    assertPatchError(
      () => applyStrategicMergePatch({ m: { a: 1 } }, { m: { $retainKeys: ['a'], b: 2 } }, {}),
      400,
      /invalid patch format of retainKeys/,
    );
  });
  it('malformed $deleteFromPrimitiveList / $setElementOrder keys are 400', () => {
    assertPatchError(
      () => applyStrategicMergePatch({}, { $deleteFromPrimitiveListx: [1] }, {}),
      400,
      /primitive list/,
    );
    assertPatchError(
      () => applyStrategicMergePatch({}, { $setElementOrderx: [1] }, {}),
      400,
      /setElementOrder/,
    );
  });
  it('lists of lists are 422 (ErrNoListOfLists)', () => {
    assertPatchError(
      () => applyStrategicMergePatch({ mergingIntList: [[1]] }, { mergingIntList: [[2]] }, MERGE_ITEM),
      422,
      /lists of lists/,
    );
  });
  it('a non-object body is 400; null is a no-op', () => {
    assertPatchError(() => applyStrategicMergePatch({}, [1], {}), 400, /cannot unmarshal array/);
    assert.deepStrictEqual(applyStrategicMergePatch({ a: 1 }, null, {}), { a: 1 });
  });
  it('drops nulls and $patch maps inside newly added values', () => {
    const out = applyStrategicMergePatch(
      {},
      { a: { b: null, c: { $patch: 'delete' }, d: [{ e: null, f: 1 }] } },
      {},
    );
    assert.deepStrictEqual(out, { a: { d: [{ f: 1 }] } });
  });
  it('patchStrategy replace on a map replaces it', () => {
    assert.deepStrictEqual(
      applyStrategicMergePatch({ replacingItem: { a: 1, b: 2 } }, { replacingItem: { c: 3 } }, MERGE_ITEM),
      { replacingItem: { c: 3 } },
    );
  });
  it('lists without schema are replaced', () => {
    assert.deepStrictEqual(
      applyStrategicMergePatch({ l: [1, 2], m: [{ x: 1 }] }, { l: [3], m: [{ y: 2 }] }, {}),
      {
        l: [3],
        m: [{ y: 2 }],
      },
    );
  });
});

const DEPLOYMENT = builtinPatchSchema('apps', 'Deployment');

describe('applyStrategicMergePatch: built-in schemas (Kubernetes docs examples)', () => {
  // kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
  const patchDemo = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'patch-demo' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'nginx' } },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: {
          containers: [{ name: 'patch-demo-ctr', image: 'nginx' }],
          tolerations: [{ effect: 'NoSchedule', key: 'dedicated', value: 'test-team' }],
        },
      },
    },
  };

  it('docs: containers merge by name and the new container comes first', () => {
    const out = applyStrategicMergePatch(
      patchDemo,
      { spec: { template: { spec: { containers: [{ name: 'patch-demo-ctr-2', image: 'redis' }] } } } },
      DEPLOYMENT,
    ) as typeof patchDemo;
    assert.deepStrictEqual(out.spec.template.spec.containers, [
      { name: 'patch-demo-ctr-2', image: 'redis' },
      { name: 'patch-demo-ctr', image: 'nginx' },
    ]);
    assert.deepStrictEqual(out.spec.template.spec.tolerations, patchDemo.spec.template.spec.tolerations);
  });

  it('docs: tolerations have no patchStrategy and are replaced', () => {
    const out = applyStrategicMergePatch(
      patchDemo,
      {
        spec: {
          template: { spec: { tolerations: [{ effect: 'NoSchedule', key: 'disktype', value: 'ssd' }] } },
        },
      },
      DEPLOYMENT,
    ) as typeof patchDemo;
    assert.deepStrictEqual(out.spec.template.spec.tolerations, [
      { effect: 'NoSchedule', key: 'disktype', value: 'ssd' },
    ]);
  });

  it('docs: Deployment strategy with $retainKeys drops rollingUpdate', () => {
    const live = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '30%' } } } };
    assert.deepStrictEqual(
      applyStrategicMergePatch(live, { spec: { strategy: { type: 'Recreate' } } }, DEPLOYMENT),
      { spec: { strategy: { type: 'Recreate', rollingUpdate: { maxSurge: '30%' } } } },
      'without $retainKeys the map merges',
    );
    assert.deepStrictEqual(
      applyStrategicMergePatch(
        live,
        { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
        DEPLOYMENT,
      ),
      { spec: { strategy: { type: 'Recreate' } } },
    );
  });

  it('ObjectMeta: finalizers merge as a set; $deleteFromPrimitiveList removes', () => {
    const schema = builtinPatchSchema('', 'ConfigMap');
    const live = { metadata: { name: 'c', finalizers: ['a', 'b'] } };
    assert.deepStrictEqual(applyStrategicMergePatch(live, { metadata: { finalizers: ['b', 'c'] } }, schema), {
      metadata: { name: 'c', finalizers: ['a', 'b', 'c'] },
    });
    assert.deepStrictEqual(
      applyStrategicMergePatch(live, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }, schema),
      { metadata: { name: 'c', finalizers: ['b'] } },
    );
  });

  it('ObjectMeta: ownerReferences merge by uid', () => {
    const schema = builtinPatchSchema('', 'Pod');
    const live = { metadata: { ownerReferences: [{ uid: '1', name: 'rs-a' }] } };
    const out = applyStrategicMergePatch(
      live,
      {
        metadata: {
          ownerReferences: [
            { uid: '1', controller: true },
            { uid: '2', name: 'rs-b' },
          ],
        },
      },
      schema,
    );
    assert.deepStrictEqual(out, {
      metadata: {
        ownerReferences: [
          { uid: '1', name: 'rs-a', controller: true },
          { uid: '2', name: 'rs-b' },
        ],
      },
    });
  });

  it('Service ports merge by port', () => {
    const schema = builtinPatchSchema('', 'Service');
    const live = {
      spec: {
        ports: [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'https', port: 443 },
        ],
      },
    };
    const out = applyStrategicMergePatch(live, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, schema);
    assert.deepStrictEqual(out, {
      spec: {
        ports: [
          { name: 'http', port: 80, targetPort: 9090 },
          { name: 'https', port: 443 },
        ],
      },
    });
  });

  it('Pod: env merges by name, $patch: delete removes a variable, volumeMounts by mountPath', () => {
    const schema = builtinPatchSchema('', 'Pod');
    const live = {
      spec: {
        containers: [
          {
            name: 'app',
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
            volumeMounts: [{ mountPath: '/data', name: 'data' }],
          },
        ],
      },
    };
    const patch = {
      spec: {
        containers: [
          {
            name: 'app',
            env: [
              { name: 'B', $patch: 'delete' },
              { name: 'A', value: '10' },
            ],
            volumeMounts: [{ mountPath: '/data', readOnly: true }],
          },
        ],
      },
    };
    assert.deepStrictEqual(applyStrategicMergePatch(live, patch, schema), {
      spec: {
        containers: [
          {
            name: 'app',
            env: [{ name: 'A', value: '10' }],
            volumeMounts: [{ mountPath: '/data', name: 'data', readOnly: true }],
          },
        ],
      },
    });
  });

  it('Pod volumes: merge by name with $retainKeys switching the volume source', () => {
    const schema = builtinPatchSchema('', 'Pod');
    const live = {
      spec: {
        volumes: [
          { name: 'v', emptyDir: {} },
          { name: 'w', emptyDir: {} },
        ],
      },
    };
    const patch = {
      spec: { volumes: [{ name: 'v', $retainKeys: ['configMap', 'name'], configMap: { name: 'cm' } }] },
    };
    assert.deepStrictEqual(applyStrategicMergePatch(live, patch, schema), {
      spec: {
        volumes: [
          { name: 'v', configMap: { name: 'cm' } },
          { name: 'w', emptyDir: {} },
        ],
      },
    });
  });

  it('CronJob: jobTemplate.spec.template containers merge by name', () => {
    const schema = builtinPatchSchema('batch', 'CronJob');
    const live = {
      spec: {
        jobTemplate: { spec: { template: { spec: { containers: [{ name: 'job', image: 'busybox:1' }] } } } },
      },
    };
    const patch = {
      spec: {
        jobTemplate: { spec: { template: { spec: { containers: [{ name: 'job', image: 'busybox:2' }] } } } },
      },
    };
    assert.deepStrictEqual(applyStrategicMergePatch(live, patch, schema), patch);
  });

  it('kubectl-style $setElementOrder/containers reorders containers', () => {
    const live = {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'a', image: 'x' },
              { name: 'b', image: 'y' },
            ],
          },
        },
      },
    };
    const patch = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }],
            containers: [{ name: 'a', image: 'z' }],
          },
        },
      },
    };
    assert.deepStrictEqual(applyStrategicMergePatch(live, patch, DEPLOYMENT), {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'b', image: 'y' },
              { name: 'a', image: 'z' },
            ],
          },
        },
      },
    });
  });

  it('every built-in kind gets ObjectMeta metadata; unknown kinds too', () => {
    for (const [group, kind] of [
      ['', 'Pod'],
      ['apps', 'StatefulSet'],
      ['batch', 'Job'],
      ['', 'Secret'],
      ['example.com', 'Widget'],
      ['', 'constructor'],
    ] as const) {
      const schema = builtinPatchSchema(group, kind);
      assert.equal(
        schema.fields?.metadata?.schema?.fields?.finalizers?.patchStrategy,
        'merge',
        `${group}/${kind}`,
      );
    }
  });

  it('custom resources do not support strategic merge (415 decided by the server)', () => {
    assert.equal(isStrategicMergeSupported(true), false);
    assert.equal(isStrategicMergeSupported(false), true);
    assert.ok(!CUSTOM_RESOURCE_PATCH_TYPES.includes('application/strategic-merge-patch+json'));
  });
});

/**
 * A patch without directives whose nulls appear only as object members outside
 * arrays: on such patches strategic merge and merge patch agree (both drop
 * nulls of inserted values; json-patch v4 differs only for nulls in arrays).
 */
function randomPlainPatch(rng: Rng, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = rng.int(5);
  for (let i = 0; i < n; i++) {
    const r = rng.int(4);
    let value: unknown;
    if (r === 0) value = null;
    else if (r === 1 && depth > 0) value = randomPlainPatch(rng, depth - 1);
    else if (r === 2) value = Array.from({ length: rng.int(3) }, () => randomJson(rng, 1, false));
    else value = randomScalar(rng, false);
    Object.defineProperty(out, randomKey(rng), {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const DIRECTIVE_KEYS = [
  '$patch',
  '$retainKeys',
  '$setElementOrder/a',
  '$deleteFromPrimitiveList/a',
  '$setElementOrder',
];

/** Sprinkle directives at random places (valid or not). */
function withDirectives(rng: Rng, value: unknown): unknown {
  if (Array.isArray(value)) {
    const out = value.map((v) => withDirectives(rng, v));
    if (rng.chance(0.2)) out.push({ $patch: rng.pick(['delete', 'replace', 'merge']), name: 'a' });
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: withDirectives(rng, v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    if (rng.chance(0.2)) {
      out[rng.pick(DIRECTIVE_KEYS)] = rng.pick([
        ['a', 'name'],
        'replace',
        'delete',
        [1, 2],
        [{ name: 'a' }],
        null,
      ]);
    }
    return out;
  }
  return value;
}

describe('applyStrategicMergePatch: properties (seeded)', () => {
  it('without list directives and schema it equals JSON merge patch', () => {
    const seed = 0x5a1;
    const rng = makeRng(seed);
    for (let i = 0; i < 3000; i++) {
      const target = randomObject(rng, 3);
      const patch = randomPlainPatch(rng, 3);
      assert.deepStrictEqual(
        applyStrategicMergePatch(target, patch, {}),
        applyMergePatch(target, patch),
        `seed ${seed} case ${i}`,
      );
    }
  });

  it('with random directives and the Pod schema: only PatchError, inputs untouched', () => {
    const seed = 0x5a2;
    const rng = makeRng(seed);
    const schemas = [MERGE_ITEM, builtinPatchSchema('', 'Pod'), {}];
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < 3000; i++) {
      const target = randomObject(rng, 3);
      const patch = withDirectives(rng, randomObject(rng, 3));
      const targetBefore = deepClone(target);
      const patchBefore = deepClone(patch);
      try {
        applyStrategicMergePatch(target, patch, rng.pick(schemas));
        ok++;
      } catch (err) {
        assert.ok(err instanceof PatchError, `seed ${seed} case ${i}: ${String(err)}`);
        failed++;
      }
      assert.deepStrictEqual(target, targetBefore, `seed ${seed} case ${i}: target mutated`);
      assert.deepStrictEqual(patch, patchBefore, `seed ${seed} case ${i}: patch mutated`);
    }
    assert.ok(ok > 300 && failed > 30, `ok ${ok}, failed ${failed}`);
  });

  it('merging a list of maps by key keeps every key exactly once', () => {
    const seed = 0x5a3;
    const rng = makeRng(seed);
    for (let i = 0; i < 2000; i++) {
      const names = (): number[] => [...new Set(Array.from({ length: rng.int(5) }, () => rng.int(6)))];
      const live = { mergingList: names().map((name) => ({ name, value: `live${name}` })) };
      const patch = { mergingList: names().map((name) => ({ name, other: `patch${name}` })) };
      const out = applyStrategicMergePatch(live, patch, MERGE_ITEM) as {
        mergingList: Array<Record<string, unknown>>;
      };
      const expected = new Set([...live.mergingList, ...patch.mergingList].map((e) => e.name));
      const got = out.mergingList.map((e) => e.name);
      assert.equal(got.length, expected.size, `seed ${seed} case ${i}`);
      assert.deepStrictEqual(new Set(got), expected, `seed ${seed} case ${i}`);
      for (const e of out.mergingList) {
        const inLive = live.mergingList.some((l) => l.name === e.name);
        const inPatch = patch.mergingList.some((p) => p.name === e.name);
        assert.equal(e.value, inLive ? `live${e.name}` : undefined, `seed ${seed} case ${i}`);
        assert.equal(e.other, inPatch ? `patch${e.name}` : undefined, `seed ${seed} case ${i}`);
      }
      // Patch order is preserved among patch items (apimachinery normalizeElementOrder).
      const patchNames = patch.mergingList.map((p) => p.name);
      assert.deepStrictEqual(
        got.filter((n) => patchNames.includes(n as number)),
        patchNames,
        `seed ${seed} case ${i}`,
      );
    }
  });
});
