/**
 * A shared-informer-like cache of one resource collection: LIST (paged), then
 * WATCH from the list's resourceVersion, resuming from the last seen version
 * when a watch ends and listing again when the server says 410 Gone (the
 * version was compacted away). Handlers hear add/update/delete.
 *
 * Hand-written on ClusterConnection rather than client-node's `makeInformer`:
 * that one deserialises into typed models (our custom resources have none, and
 * it rewrites timestamps), keeps a second auth/TLS path, and its reconnect on
 * error needs driving from outside anyway; a list+watch loop is short.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterConnection } from './connection.ts';
import { KubeApiError } from './kube-api-error.ts';

/** The metadata fields Cairn reads from any object. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

export interface KubeResource {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export type InformerEventType = 'add' | 'update' | 'delete';

export interface InformerOptions<T extends KubeResource> {
  /** Collection path, e.g. `/apis/cairn.dev/v1alpha1/namespaces/cairn-system/backups`. */
  readonly path: string;
  readonly labelSelector?: string;
  /** e.g. `metadata.name=x` to follow one object. */
  readonly fieldSelector?: string;
  readonly onEvent?: (type: InformerEventType, object: T, previous?: T) => void;
  /** Server-side watch timeout in seconds (default 300, as client-go's 5–10 min). */
  readonly watchTimeoutSeconds?: number;
  /** Told about list/watch failures (they are retried). */
  readonly onError?: (error: unknown) => void;
}

interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T & { code?: number; metadata?: ObjectMeta };
}

/** `namespace/name` (or `name`), the key of a cached object and of work-queue items. */
export function objectKey(object: { metadata: { name: string; namespace?: string } }): string {
  return object.metadata.namespace
    ? `${object.metadata.namespace}/${object.metadata.name}`
    : object.metadata.name;
}

export class Informer<T extends KubeResource> {
  readonly #connection: ClusterConnection;
  readonly #options: InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  readonly #abort = new AbortController();
  #resourceVersion = '';
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #loop: Promise<void> | undefined;
  #stream: { destroy(): void } | undefined;

  constructor(connection: ClusterConnection, options: InformerOptions<T>) {
    this.#connection = connection;
    this.#options = options;
  }

  /** Starts listing and watching in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Whether the first LIST was loaded into the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first LIST is in the cache. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#stream?.destroy();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let failures = 0;
    let needList = true;
    while (!this.#abort.signal.aborted) {
      try {
        if (needList) {
          await this.#list();
          needList = false;
        }
        await this.#watch();
        failures = 0;
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        if (err instanceof KubeApiError && err.status === 410) {
          needList = true;
          continue;
        }
        this.#options.onError?.(err);
        failures++;
        needList = true;
        await sleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)), undefined, {
          signal: this.#abort.signal,
        }).catch(() => {});
      }
    }
  }

  async #list(): Promise<void> {
    const seen = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.#connection.request<KubeList<T>>('GET', this.#options.path, {
        query: {
          limit: 500,
          continue: continueToken,
          labelSelector: this.#options.labelSelector,
          fieldSelector: this.#options.fieldSelector,
        },
        unthrottled: true,
      });
      for (const item of page.items ?? []) seen.set(objectKey(item), item);
      continueToken = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    } while (continueToken !== undefined);
    // Replace the cache, telling handlers what changed since the last view (a relist after 410
    // may have missed deletions).
    for (const [key, old] of this.#cache) {
      if (!seen.has(key)) {
        this.#cache.delete(key);
        this.#options.onEvent?.('delete', old);
      }
    }
    for (const [key, item] of seen) {
      const old = this.#cache.get(key);
      this.#cache.set(key, item);
      if (old === undefined) this.#options.onEvent?.('add', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion)
        this.#options.onEvent?.('update', item, old);
    }
    this.#resourceVersion = resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  async #watch(): Promise<void> {
    const response = await this.#connection.openStream(this.#options.path, {
      watch: true,
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: this.#options.watchTimeoutSeconds ?? 300,
      labelSelector: this.#options.labelSelector,
      fieldSelector: this.#options.fieldSelector,
    });
    this.#stream = response;
    if (this.#abort.signal.aborted) {
      response.destroy();
      return;
    }
    // The signal closes the line reader on stop: destroying the socket alone does not end it.
    const lines = createInterface({
      input: response,
      crlfDelay: Number.POSITIVE_INFINITY,
      signal: this.#abort.signal,
    });
    response.on('close', () => lines.close());
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        const event = JSON.parse(line) as WatchEvent<T>;
        if (event.type === 'ERROR') {
          const code = event.object.code ?? 500;
          throw new KubeApiError(code, `WATCH ${this.#options.path}`, event.object);
        }
        const rv = event.object.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
        if (event.type === 'BOOKMARK') continue;
        const object = event.object as T;
        const key = objectKey(object);
        const old = this.#cache.get(key);
        if (event.type === 'DELETED') {
          this.#cache.delete(key);
          this.#options.onEvent?.('delete', object);
        } else {
          this.#cache.set(key, object);
          this.#options.onEvent?.(old === undefined ? 'add' : 'update', object, old);
        }
      }
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      // A socket cut mid-stream just ends this watch; resume from the last version.
      if (err instanceof KubeApiError || err instanceof SyntaxError) throw err;
    } finally {
      response.destroy();
      this.#stream = undefined;
    }
  }
}
