/**
 * `cairn install --dry-run -o yaml|json`: the install as kubectl reads it.
 * YAML is one document per object, with the reason for every RBAC rule as a
 * comment above it; JSON is a `v1/List` (what `kubectl apply -f -` accepts).
 */
import { Document, isMap, isSeq, type YAMLMap } from 'yaml';
import { type KubeObject, ruleReasons } from './manifests.ts';

export function renderYaml(objects: readonly KubeObject[], restorePermissions = true): string {
  const docs = objects.map((object) => {
    const doc = new Document(object);
    if (object.kind === 'ClusterRole' || object.kind === 'Role') {
      const reasons = ruleReasons(object.kind, restorePermissions);
      const rules = (doc.contents as YAMLMap).get('rules', true);
      if (isSeq(rules))
        rules.items.forEach((item, i) => {
          const why = reasons[i];
          if (why !== undefined && isMap(item)) item.commentBefore = ` ${why}`;
        });
    }
    if (object.kind === 'CustomResourceDefinition')
      doc.commentBefore = ' Generated from the typebox schemas in src/api (one source of truth).';
    return doc.toString({ lineWidth: 0 });
  });
  return `# Cairn — rendered by \`cairn install --dry-run -o yaml\`\n${docs.map((d) => `---\n${d}`).join('')}`;
}

export function renderJson(objects: readonly KubeObject[]): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
}
