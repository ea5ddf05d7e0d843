import { API_VERSION } from '../api/group-version.ts';
import type { ClusterConnection } from '../cluster/connection.ts';
import { isKubeStatus } from '../cluster/kube-api-error.ts';

/**
 * Whether the cluster serves Cairn's `plural` resource (the CRDs are installed): false when
 * the API group is not served (404); other API errors are thrown.
 */
export async function cairnApiServes(connection: ClusterConnection, plural: string): Promise<boolean> {
  try {
    const list = await connection.request<{ resources?: { name: string }[] }>('GET', `/apis/${API_VERSION}`);
    return (list.resources ?? []).some((r) => r.name === plural);
  } catch (err) {
    if (isKubeStatus(err, 404)) return false;
    throw err;
  }
}
