import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { objectPath } from './apply.ts';
import { clusterRules, namespaceRules, renderInstall } from './manifests.ts';
import { renderJson, renderYaml } from './render.ts';

describe('renderInstall', () => {
  const objects = renderInstall({ version: '9.9.9' });

  it('orders the namespace and CRDs first and the Deployment last', () => {
    assert.equal(objects[0]?.kind, 'Namespace');
    assert.equal(objects.at(-1)?.kind, 'Deployment');
    const firstNonCrd = objects.findIndex((o, i) => i > 0 && o.kind !== 'CustomResourceDefinition');
    assert.equal(firstNonCrd, 6);
  });

  it('every object has a path the installer knows', () => {
    for (const o of objects) assert.match(objectPath(o), /^\/api/);
    assert.equal(
      objectPath(objects.find((o) => o.kind === 'Deployment') ?? assert.fail()),
      '/apis/apps/v1/namespaces/cairn-system/deployments/cairn',
    );
  });

  it('defaults the image to cairn:<version> and puts everything in the namespace asked for', () => {
    const other = renderInstall({ version: '1.2.3', namespace: 'ops' });
    const deployment = JSON.stringify(other.find((o) => o.kind === 'Deployment'));
    assert.match(deployment, /"image":"cairn:1\.2\.3"/);
    for (const o of other)
      if (!['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))
        assert.equal(o.metadata.namespace, 'ops', o.kind);
  });

  it('grants no wildcard verbs and nothing beyond the explained rules', () => {
    for (const { rule, why } of [...clusterRules(), ...namespaceRules()]) {
      assert.ok(!rule.verbs.includes('*'), JSON.stringify(rule));
      assert.ok(!rule.verbs.includes('impersonate') && !rule.verbs.includes('deletecollection'));
      assert.ok(why.length > 40, 'every rule says why');
    }
    const role = objects.find((o) => o.kind === 'ClusterRole') as unknown as { rules: unknown[] };
    assert.deepEqual(
      role.rules,
      clusterRules().map((r) => r.rule),
    );
  });

  it('a backup-only install reads the cluster and writes nothing outside its namespace', () => {
    assert.deepEqual(
      clusterRules(false).map((r) => r.rule.verbs),
      [['get', 'list', 'watch']],
    );
  });

  it('the Deployment is hardened', () => {
    const d = objects.find((o) => o.kind === 'Deployment') as unknown as {
      spec: {
        template: {
          spec: { securityContext: Record<string, unknown>; containers: Record<string, unknown>[] };
        };
      };
    };
    const pod = d.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    const c = pod.containers[0] as { securityContext: Record<string, unknown>; args: string[] };
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    assert.ok(!c.args.includes('server'), 'server is the image ENTRYPOINT');
  });

  it('YAML and JSON renderings carry the same objects; YAML explains every rule', () => {
    const yaml = renderYaml(objects);
    const docs = parseAllDocuments(yaml).map((d) => d.toJS());
    assert.deepEqual(docs, objects);
    assert.deepEqual((JSON.parse(renderJson(objects)) as { items: unknown[] }).items, objects);
    for (const { why } of [...clusterRules(), ...namespaceRules()]) assert.ok(yaml.includes(`# ${why}`));
  });
});
