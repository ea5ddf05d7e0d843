import { selectBackup } from '../../src/backup/selection.ts';
import { backupSpec } from '../../src/catalog/backup-manifest.ts';
import type { ClusterConnection } from '../../src/cluster/connection.ts';
import { discoverResources, type ResourceType } from '../../src/cluster/discovery.ts';

/** The types a whole-cluster `cairn backup create` (default flags) lists: discovery + the backup's selection rules. */
export async function backupTypes(connection: ClusterConnection): Promise<ResourceType[]> {
  const discovery = await discoverResources(connection, { allVersions: false });
  const namespaces = await connection.request<{ items?: { metadata?: { name?: string } }[] }>(
    'GET',
    '/api/v1/namespaces',
  );
  const selection = selectBackup(
    backupSpec(),
    discovery.types,
    (namespaces.items ?? []).flatMap((n) => (n.metadata?.name ? [n.metadata.name] : [])),
  );
  return [...selection.namespacedTypes, ...selection.clusterTypes];
}
