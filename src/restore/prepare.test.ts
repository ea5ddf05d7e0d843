import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { comparableObject, jsonEqual, prepareObject, stripRuntimeFields } from './prepare.ts';

const runtimeMeta = {
  uid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  resourceVersion: '4711',
  creationTimestamp: '2026-01-01T00:00:00Z',
  generation: 3,
  managedFields: [{ manager: 'kubectl' }],
  selfLink: '/api/v1/x',
};

const none = { namespaceMapping: {}, storageClassMapping: {}, keepStatus: false };

describe('stripRuntimeFields', () => {
  it('drops metadata the server owns and status', () => {
    const out = stripRuntimeFields('configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'n', labels: { x: 'y' }, ...runtimeMeta },
      data: { k: 'v' },
      status: { phase: 'x' },
    });
    assert.deepEqual(out, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'n', labels: { x: 'y' } },
      data: { k: 'v' },
    });
  });

  it('keeps status when asked, and never mutates its input', () => {
    const input = { metadata: { name: 'a', uid: 'u' }, status: { ready: true } };
    const out = stripRuntimeFields('widgets.example.com', input, { keepStatus: true });
    assert.deepEqual(out, { metadata: { name: 'a' }, status: { ready: true } });
    assert.equal(input.metadata.uid, 'u');
  });

  it('drops allocated cluster IPs but keeps headless None', () => {
    const svc = (clusterIP: string) => ({
      metadata: { name: 's' },
      spec: { clusterIP, clusterIPs: [clusterIP], healthCheckNodePort: 30000, ports: [{ port: 80 }] },
    });
    assert.deepEqual(stripRuntimeFields('services', svc('10.0.0.7')).spec, { ports: [{ port: 80 }] });
    assert.deepEqual(stripRuntimeFields('services', svc('None')).spec, {
      clusterIP: 'None',
      clusterIPs: ['None'],
      ports: [{ port: 80 }],
    });
  });

  it('cleans PV claimRef and pod node binding', () => {
    const pv = stripRuntimeFields('persistentvolumes', {
      metadata: { name: 'pv' },
      spec: { claimRef: { namespace: 'a', name: 'c', uid: 'u', resourceVersion: '9' } },
    });
    assert.deepEqual(pv.spec, { claimRef: { namespace: 'a', name: 'c' } });
    const pod = stripRuntimeFields('pods', {
      metadata: { name: 'p' },
      spec: { nodeName: 'n1', containers: [] },
    });
    assert.deepEqual(pod.spec, { containers: [] });
  });
});

describe('prepareObject mappings', () => {
  it('maps namespaces of objects, Namespace names and ServiceAccount subjects', () => {
    const mapping = { namespaceMapping: { shop: 'shop-copy' } };
    const cm = prepareObject({
      ...none,
      ...mapping,
      groupResource: 'configmaps',
      object: { metadata: { name: 'a', namespace: 'shop' } },
    });
    assert.equal((cm.metadata as { namespace: string }).namespace, 'shop-copy');
    const ns = prepareObject({
      ...none,
      ...mapping,
      groupResource: 'namespaces',
      object: { metadata: { name: 'shop' } },
    });
    assert.equal((ns.metadata as { name: string }).name, 'shop-copy');
    const rb = prepareObject({
      ...none,
      ...mapping,
      groupResource: 'clusterrolebindings.rbac.authorization.k8s.io',
      object: {
        metadata: { name: 'rb' },
        subjects: [
          { kind: 'ServiceAccount', name: 'api', namespace: 'shop' },
          { kind: 'ServiceAccount', name: 'x', namespace: 'other' },
          { kind: 'User', name: 'shop' },
        ],
      },
    });
    assert.deepEqual(rb.subjects, [
      { kind: 'ServiceAccount', name: 'api', namespace: 'shop-copy' },
      { kind: 'ServiceAccount', name: 'x', namespace: 'other' },
      { kind: 'User', name: 'shop' },
    ]);
  });

  it('maps storage classes of PVCs, PVs and StatefulSet claim templates, not StorageClass names', () => {
    const mapping = { storageClassMapping: { standard: 'fast' } };
    const pvc = prepareObject({
      ...none,
      ...mapping,
      groupResource: 'persistentvolumeclaims',
      object: { metadata: { name: 'c', namespace: 'a' }, spec: { storageClassName: 'standard' } },
    });
    assert.equal((pvc.spec as { storageClassName: string }).storageClassName, 'fast');
    const sts = prepareObject({
      ...none,
      ...mapping,
      groupResource: 'statefulsets.apps',
      object: {
        metadata: { name: 'db', namespace: 'a' },
        spec: {
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { storageClassName: 'standard' } }],
        },
      },
    });
    assert.deepEqual((sts.spec as { volumeClaimTemplates: unknown[] }).volumeClaimTemplates, [
      { metadata: { name: 'data' }, spec: { storageClassName: 'fast' } },
    ]);
    const sc = prepareObject({
      ...none,
      ...mapping,
      groupResource: 'storageclasses.storage.k8s.io',
      object: { metadata: { name: 'standard' }, provisioner: 'x' },
    });
    assert.equal((sc.metadata as { name: string }).name, 'standard');
  });
});

describe('comparableObject', () => {
  it('treats objects that differ only in runtime fields and owner uids as identical', () => {
    const a = {
      metadata: {
        name: 'a',
        ...runtimeMeta,
        ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'o', uid: '1' }],
      },
      data: { k: 'v' },
    };
    const b = {
      metadata: { name: 'a', ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'o', uid: '2' }] },
      data: { k: 'v' },
    };
    assert.ok(jsonEqual(comparableObject('configmaps', a), comparableObject('configmaps', b)));
    assert.ok(
      !jsonEqual(
        comparableObject('configmaps', a),
        comparableObject('configmaps', { ...b, data: { k: 'w' } }),
      ),
    );
  });

  it('compares JSON regardless of key order', () => {
    assert.ok(jsonEqual({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 }));
    assert.ok(!jsonEqual({ a: [1, 2] }, { a: [2, 1] }));
    assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: 2 }));
  });
});
