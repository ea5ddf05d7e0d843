/**
 * Reads and writes Cairn's custom resources in the controller's namespace:
 * paths built in one place, status written through the `/status`
 * subresource (so a status write never races a spec edit), with an
 * optimistic-concurrency form for the writes that must happen once
 * (claiming a Backup for a run).
 */
import { cairnResourcePath } from '../api/group-version.ts';
import type { ClusterConnection } from '../cluster/connection.ts';
import { isKubeStatus } from '../cluster/kube-api-error.ts';

export type CairnPlural = 'backuplocations' | 'backups' | 'restores' | 'schedules' | 'etcdbackups';

const MERGE_PATCH = 'application/merge-patch+json';

export class CairnResources {
  readonly connection: ClusterConnection;
  readonly namespace: string;

  constructor(connection: ClusterConnection, namespace: string) {
    this.connection = connection;
    this.namespace = namespace;
  }

  path(plural: CairnPlural, name?: string, subresource?: 'status'): string {
    return cairnResourcePath(this.namespace, plural, name, subresource);
  }

  async get<T>(plural: CairnPlural, name: string): Promise<T | undefined> {
    try {
      return await this.connection.request<T>('GET', this.path(plural, name), { unthrottled: true });
    } catch (err) {
      if (isKubeStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Creates an object; resolves `undefined` when one of that name exists already. */
  async create<T>(plural: CairnPlural, object: T): Promise<T | undefined> {
    try {
      return await this.connection.request<T>('POST', this.path(plural), { body: object });
    } catch (err) {
      if (isKubeStatus(err, 409)) return undefined;
      throw err;
    }
  }

  /** Merge-patches `.status`; `undefined` when the object is gone. */
  async patchStatus<T>(plural: CairnPlural, name: string, status: object): Promise<T | undefined> {
    try {
      return await this.connection.request<T>('PATCH', this.path(plural, name, 'status'), {
        body: { status },
        contentType: MERGE_PATCH,
      });
    } catch (err) {
      if (isKubeStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /**
   * Replaces `.status` only if the object is still at `resourceVersion`;
   * `false` when someone wrote it meanwhile (or it is gone).
   */
  async replaceStatus(
    plural: CairnPlural,
    object: { metadata: { name: string; resourceVersion?: string } },
    status: object,
  ): Promise<boolean> {
    try {
      await this.connection.request('PUT', this.path(plural, object.metadata.name, 'status'), {
        body: { ...object, status },
      });
      return true;
    } catch (err) {
      if (isKubeStatus(err, 409) || isKubeStatus(err, 404)) return false;
      throw err;
    }
  }

  /** Merge-patches the object (metadata, spec). */
  async patch<T>(plural: CairnPlural, name: string, body: object): Promise<T | undefined> {
    try {
      return await this.connection.request<T>('PATCH', this.path(plural, name), {
        body,
        contentType: MERGE_PATCH,
      });
    } catch (err) {
      if (isKubeStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Deletes an object; resolves false when it was gone already. */
  async delete(plural: CairnPlural, name: string): Promise<boolean> {
    try {
      await this.connection.request('DELETE', this.path(plural, name));
      return true;
    } catch (err) {
      if (isKubeStatus(err, 404)) return false;
      throw err;
    }
  }

  /** Reads one key of a Secret in the namespace (decoded). */
  async secretValue(name: string, key: string): Promise<Buffer | undefined> {
    try {
      const secret = await this.connection.request<{ data?: Record<string, string> }>(
        'GET',
        `/api/v1/namespaces/${this.namespace}/secrets/${encodeURIComponent(name)}`,
        { unthrottled: true },
      );
      const value = secret.data?.[key];
      return value === undefined ? undefined : Buffer.from(value, 'base64');
    } catch (err) {
      if (isKubeStatus(err, 404)) return undefined;
      throw err;
    }
  }
}
