import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCairnError } from '../errors/cairn-error.ts';
import { parseLabelSelector } from './label-selector.ts';
import { namespaceMatcher, parseExistingPolicy, parseNameMapping } from './options.ts';
import { tierOf } from './order.ts';

describe('restore flag grammar', () => {
  it('parses the existing-resource policy with per-type overrides', () => {
    assert.deepEqual(parseExistingPolicy('update'), { default: 'update', perType: {} });
    assert.deepEqual(parseExistingPolicy('skip,secrets=update,configmaps=recreate'), {
      default: 'skip',
      perType: { secrets: 'update', configmaps: 'recreate' },
    });
    assert.deepEqual(parseExistingPolicy('cm=fail'), { default: 'skip', perType: { cm: 'fail' } });
    assert.throws(
      () => parseExistingPolicy('overwrite'),
      (e) => isCairnError(e, 'CLI_INVALID_POLICY'),
    );
    assert.throws(
      () => parseExistingPolicy('secrets=replace'),
      (e) => isCairnError(e, 'CLI_INVALID_POLICY'),
    );
  });

  it('parses name mappings and refuses malformed or duplicate entries', () => {
    assert.deepEqual(parseNameMapping('--namespace-mapping', 'a:b, c:d'), { a: 'b', c: 'd' });
    for (const bad of ['a', 'a:', ':b', 'a:b:c', 'a:b,a:c'])
      assert.throws(
        () => parseNameMapping('--namespace-mapping', bad),
        (e) => isCairnError(e, 'CLI_INVALID_MAPPING'),
      );
  });

  it('matches namespace globs', () => {
    const m = namespaceMatcher(['team-*', 'prod']);
    assert.ok(m('team-a'));
    assert.ok(m('prod'));
    assert.ok(!m('production'));
    assert.ok(!m('xteam-a'));
  });
});

describe('label selectors', () => {
  it('evaluates every kubectl operator', () => {
    const labels = { app: 'web', tier: 'frontend', env: 'prod' };
    const yes = [
      'app=web',
      'app==web',
      'tier!=db',
      'env in (prod, staging)',
      'env notin (dev)',
      'app',
      '!legacy',
      'app=web,env=prod',
      '',
    ];
    const no = [
      'app=api',
      'tier!=frontend',
      'env in (dev)',
      'env notin (prod)',
      'legacy',
      '!app',
      'app=web,env=dev',
    ];
    for (const s of yes) assert.ok(parseLabelSelector(s)(labels), s);
    for (const s of no) assert.ok(!parseLabelSelector(s)(labels), s);
    assert.ok(parseLabelSelector('missing!=x')(labels));
  });

  it('refuses malformed selectors', () => {
    for (const bad of ['app=web,', '=x', 'a in b', 'a=b c'])
      assert.throws(
        () => parseLabelSelector(bad),
        (e) => isCairnError(e, 'INVALID_LABEL_SELECTOR'),
        bad,
      );
  });
});

describe('restore tiers', () => {
  it('orders CRDs, namespaces, storage, accounts, config, RBAC, workloads, custom resources', () => {
    const order = [
      'customresourcedefinitions.apiextensions.k8s.io',
      'namespaces',
      'storageclasses.storage.k8s.io',
      'persistentvolumes',
      'persistentvolumeclaims',
      'serviceaccounts',
      'secrets',
      'configmaps',
      'resourcequotas',
      'roles.rbac.authorization.k8s.io',
      'rolebindings.rbac.authorization.k8s.io',
      'deployments.apps',
    ].map((gr) => tierOf(gr, false));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
    assert.equal(new Set(order).size, order.length);
    assert.ok(tierOf('users.iam.kubesphere.io', true) > tierOf('deployments.apps', false));
    assert.equal(tierOf('limitranges', false), tierOf('resourcequotas', false));
  });
});
