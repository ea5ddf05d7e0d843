import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from './api-error.ts';
import {
  fromFieldsV1,
  leafPaths,
  recordManagedFields,
  serverSideApply,
  toFieldsV1,
} from './managed-fields.ts';
import type { Json } from './object-meta.ts';
import { BUILTIN_TYPES } from './registry/builtin.ts';
import type { ResourceType } from './registry/resource-type.ts';

const type = (resource: string): ResourceType => {
  const t = BUILTIN_TYPES.find((x) => x.resource === resource);
  assert.ok(t);
  return t;
};

const deployment = (containers: Json[], replicas = 1): Json => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'ns', labels: { app: 'web' } },
  spec: { replicas, template: { spec: { containers } } },
});

describe('field sets', () => {
  test('containers are keyed by name; FieldsV1 round-trips', () => {
    const paths = leafPaths(type('deployments'), deployment([{ name: 'app', image: 'nginx' }]));
    const fields = toFieldsV1(paths);
    assert.deepEqual(fields, {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:template': {
          'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
        },
      },
    });
    assert.deepEqual(fromFieldsV1(fields), paths);
  });

  test('an update hands changed fields to the writer and takes them from the others', () => {
    const t = type('configmaps');
    const v1: Json = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { a: '1', b: '1' },
    };
    recordManagedFields(t, undefined, v1, 'alice', 'Update', undefined);
    const v2: Json = structuredClone(v1);
    (v2.data as Json).b = '2';
    recordManagedFields(t, v1, v2, 'bob', 'Update', (v1.metadata as Json).managedFields);
    const managed = (v2.metadata as Json).managedFields as Json[];
    assert.deepEqual(
      managed.map((m) => [m.manager, m.fieldsV1]),
      [
        ['alice', { 'f:data': { 'f:a': {} } }],
        ['bob', { 'f:data': { 'f:b': {} } }],
      ],
    );
  });
});

describe('server-side apply', () => {
  test('merges lists by key and removes only what the applier dropped', () => {
    const t = type('deployments');
    const first = serverSideApply(
      t,
      undefined,
      deployment([
        { name: 'app', image: 'nginx' },
        { name: 'log', image: 'fluent' },
      ]),
      'ci',
      false,
    );
    // Someone else adds an env var to the app container.
    const live = structuredClone(first);
    const containers = ((((live.spec as Json).template as Json).spec as Json).containers as Json[]) ?? [];
    (containers[0] as Json).env = [{ name: 'X', value: '1' }];
    recordManagedFields(t, first, live, 'operator', 'Update', (first.metadata as Json).managedFields);
    // The applier drops the log container and changes the image.
    const second = serverSideApply(t, live, deployment([{ name: 'app', image: 'nginx:2' }]), 'ci', false);
    const result = (((second.spec as Json).template as Json).spec as Json).containers as Json[];
    assert.deepEqual(result, [{ name: 'app', image: 'nginx:2', env: [{ name: 'X', value: '1' }] }]);
  });

  test('conflicts name the other manager and the field; force takes ownership', () => {
    const t = type('deployments');
    const applied = serverSideApply(t, undefined, deployment([{ name: 'app', image: 'a' }], 1), 'ci', false);
    const live = structuredClone(applied);
    (live.spec as Json).replicas = 5;
    recordManagedFields(t, applied, live, 'hpa', 'Update', (applied.metadata as Json).managedFields);
    assert.throws(
      () => serverSideApply(t, live, deployment([{ name: 'app', image: 'a' }], 2), 'ci', false),
      (e: unknown) =>
        e instanceof ApiError &&
        e.code === 409 &&
        e.message === 'Apply failed with 1 conflict: - conflict with "hpa" using apps/v1: .spec.replicas',
    );
    const forced = serverSideApply(t, live, deployment([{ name: 'app', image: 'a' }], 2), 'ci', true);
    assert.equal((forced.spec as Json).replicas, 2);
    const owners = ((forced.metadata as Json).managedFields as Json[]).map((m) => m.manager);
    assert.deepEqual(owners, ['ci'], 'hpa lost its only field');
  });

  test('applying the same value another manager owns is shared ownership, not a conflict', () => {
    const t = type('configmaps');
    const base: Json = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' } };
    recordManagedFields(t, undefined, base, 'kubectl-client-side-apply', 'Update', undefined);
    const applied = serverSideApply(t, base, structuredClone(base), 'kubectl', false);
    assert.deepEqual(
      ((applied.metadata as Json).managedFields as Json[]).map((m) => [m.manager, m.operation]),
      [
        ['kubectl-client-side-apply', 'Update'],
        ['kubectl', 'Apply'],
      ],
    );
  });
});
