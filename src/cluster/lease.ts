/**
 * A coordination.k8s.io/v1 Lease as a lock record, read and written with
 * optimistic concurrency (the resourceVersion): two candidates that both try
 * to take an expired lease race on one update, and exactly one wins.
 */
import type { ClusterConnection } from './connection.ts';
import { isKubeStatus } from './kube-api-error.ts';

/** The Lease fields leader election reads and writes (times are RFC 3339 micro-times). */
export interface LeaseRecord {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

export interface StoredLease {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
}

/** Where a lock lives; the fake in unit tests implements the same three calls. */
export interface LeaseStore {
  get(): Promise<StoredLease | undefined>;
  /** false when someone else created it first. */
  create(record: LeaseRecord): Promise<boolean>;
  /** false when the lease changed since `resourceVersion` was read. */
  update(record: LeaseRecord, resourceVersion: string): Promise<boolean>;
}

interface LeaseObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseRecord;
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A Lease object in the cluster as a LeaseStore. */
export class KubeLeaseStore implements LeaseStore {
  readonly #connection: ClusterConnection;
  readonly #namespace: string;
  readonly #name: string;

  constructor(connection: ClusterConnection, namespace: string, name: string) {
    this.#connection = connection;
    this.#namespace = namespace;
    this.#name = name;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#namespace}/leases`;
  }

  async get(): Promise<StoredLease | undefined> {
    try {
      const lease = await this.#connection.request<LeaseObject>('GET', `${this.#path}/${this.#name}`, {
        unthrottled: true,
      });
      return { record: lease.spec ?? {}, resourceVersion: lease.metadata.resourceVersion ?? '' };
    } catch (err) {
      if (isKubeStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Creates the Lease; false when another holder created it first. */
  async create(record: LeaseRecord): Promise<boolean> {
    return this.#write('POST', this.#path, record);
  }

  /** Replaces the Lease if it is still at `resourceVersion`; false when someone wrote it meanwhile. */
  async update(record: LeaseRecord, resourceVersion: string): Promise<boolean> {
    return this.#write('PUT', `${this.#path}/${this.#name}`, record, resourceVersion);
  }

  async #write(
    method: string,
    path: string,
    record: LeaseRecord,
    resourceVersion?: string,
  ): Promise<boolean> {
    try {
      await this.#connection.request(method, path, {
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name: this.#name,
            namespace: this.#namespace,
            ...(resourceVersion === undefined ? {} : { resourceVersion }),
          },
          spec: record,
        },
        unthrottled: true,
      });
      return true;
    } catch (err) {
      if (isKubeStatus(err, 409)) return false;
      throw err;
    }
  }
}
