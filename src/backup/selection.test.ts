import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupSpec } from '../catalog/backup-manifest.ts';
import type { ResourceType } from '../cluster/discovery.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { globToRegExp, selectBackup, selectNamespaces } from './selection.ts';

const verbs = ['get', 'list', 'create', 'update', 'delete'];
const type = (
  group: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  shortNames: string[] = [],
): ResourceType => ({
  group,
  version: group === '' ? 'v1' : 'v1',
  resource,
  kind,
  namespaced,
  verbs,
  shortNames,
  singularName: kind.toLowerCase(),
  categories: [],
  preferred: true,
});

const TYPES = [
  type('', 'configmaps', 'ConfigMap', true, ['cm']),
  type('', 'secrets', 'Secret', true),
  type('', 'events', 'Event', true, ['ev']),
  type('', 'namespaces', 'Namespace', false, ['ns']),
  type('', 'persistentvolumes', 'PersistentVolume', false, ['pv']),
  type('apps', 'deployments', 'Deployment', true, ['deploy']),
  type('iam.kubesphere.io', 'users', 'User', false),
  type('rbac.authorization.k8s.io', 'clusterroles', 'ClusterRole', false),
  { ...type('', 'bindings', 'Binding', true), verbs: ['create'] },
];

const spec = backupSpec;

const names = (types: ResourceType[]) =>
  types.map((t) => (t.group ? `${t.resource}.${t.group}` : t.resource)).sort();

describe('backup selection', () => {
  it('backs up the whole cluster by default, minus events and non-listable types', () => {
    const s = selectBackup(spec(), TYPES, ['default', 'team-a']);
    assert.equal(s.namespaces, 'all');
    assert.equal(s.clusterMode, 'all');
    assert.deepEqual(names(s.namespacedTypes), ['configmaps', 'deployments.apps', 'secrets']);
    assert.deepEqual(names(s.clusterTypes), [
      'clusterroles.rbac.authorization.k8s.io',
      'namespaces',
      'persistentvolumes',
      'users.iam.kubesphere.io',
    ]);
  });

  it('narrows to namespaces by name and glob, and then pulls only related cluster objects', () => {
    const s = selectBackup(
      spec({ includeNamespaces: ['team-*', 'default'], excludeNamespaces: ['team-b'] }),
      TYPES,
      ['default', 'kube-system', 'team-a', 'team-b', 'team-c'],
    );
    assert.deepEqual(s.namespaces, ['default', 'team-a', 'team-c']);
    assert.equal(s.clusterMode, 'related');
    assert.deepEqual(s.clusterTypes, []);
  });

  it('resolves resource names as kubectl does (plural, short, kind, with group) and includes events only when named', () => {
    const s = selectBackup(spec({ includeResources: ['deploy', 'users.iam.kubesphere.io', 'ev'] }), TYPES, [
      'default',
    ]);
    assert.deepEqual(names(s.namespacedTypes), ['deployments.apps', 'events']);
    assert.deepEqual(names(s.clusterTypes), ['users.iam.kubesphere.io']);
    const excluded = selectBackup(spec({ excludeResources: ['secret'] }), TYPES, ['default']);
    assert.deepEqual(names(excluded.namespacedTypes), ['configmaps', 'deployments.apps']);
    assert.deepEqual(
      [...excluded.excludedResources],
      ['secrets'],
      'only what the user named, not the default exclusions',
    );
  });

  it('honours includeClusterResources true/false', () => {
    assert.equal(selectBackup(spec({ includeClusterResources: 'false' }), TYPES, ['a']).clusterMode, 'none');
    const forced = selectBackup(spec({ includeClusterResources: 'true', includeNamespaces: ['a'] }), TYPES, [
      'a',
    ]);
    assert.equal(forced.clusterMode, 'all');
    assert.equal(forced.clusterTypes.length, 4);
  });

  it('names near matches for unknown resources and namespaces', () => {
    assert.throws(
      () => selectBackup(spec({ includeResources: ['deployment.app'] }), TYPES, ['a']),
      (e: unknown) =>
        e instanceof CairnError && e.code === 'RESOURCE_UNKNOWN' && /deployments\.apps/.test(e.hint ?? ''),
    );
    assert.throws(
      () => selectNamespaces(spec({ includeNamespaces: ['team-x'] }), ['team-a', 'team-b', 'default']),
      (e: unknown) =>
        e instanceof CairnError && e.code === 'NAMESPACE_UNKNOWN' && /"team-a"/.test(e.hint ?? ''),
    );
  });

  it('matches globs exactly', () => {
    assert.ok(globToRegExp('team-*').test('team-a'));
    assert.ok(!globToRegExp('team-*').test('xteam-a'));
    assert.ok(globToRegExp('a.b?').test('a.bc'));
    assert.ok(!globToRegExp('a.b?').test('axbc'));
  });
});
