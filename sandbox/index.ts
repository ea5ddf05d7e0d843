import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Cluster } from './cluster.ts';
import { ApiServer } from './http/server.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { ResourceRegistry } from './registry/registry.ts';
import { EtcdPersistence } from './store/etcd.ts';
import { ObjectStore } from './store/object-store.ts';
import { DiskPersistence, type Persistence } from './store/persistence.ts';

export interface SandboxOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Where to write the kubeconfig; default `<tmpdir>/cairn-sandbox-<port>/kubeconfig`. */
  kubeconfigPath?: string;
  /** Persist objects under this directory (default: memory only). */
  dataDir?: string;
  /**
   * Store objects in etcd at this URL (plain http, v3 JSON gateway) under
   * `/registry/...`, with etcd revisions as resourceVersions. The sandbox must
   * be that etcd's only writer.
   */
  etcd?: string;
  /** Request log sink (one line per request). */
  log?: (line: string) => void;
  /** How many events the watch log keeps (default 20000); older resourceVersions get 410. */
  eventLogSize?: number;
  /**
   * List continue tokens expire after one to two of these intervals (default
   * 5 minutes, kube-apiserver's etcd compaction interval).
   */
  compactionIntervalMs?: number;
  /** Interval of watch BOOKMARK events when a client allows them (default 10 s). */
  bookmarkIntervalMs?: number;
}

export interface Sandbox {
  /** Base URL, e.g. `http://127.0.0.1:34567`. */
  url: string;
  /** Path of the kubeconfig written for this sandbox. */
  kubeconfig: string;
  kubeconfigYaml: string;
  /** The in-process cluster (for tests that need to peek or compact). */
  cluster: Cluster;
  stop(): Promise<void>;
}

/** Thrown for options the sandbox cannot honour. */
export class SandboxOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxOptionError';
  }
}

/**
 * Starts a Kubernetes-compatible API server on 127.0.0.1 and writes a
 * kubeconfig (context `cairn-sandbox`) pointing at it.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  if (options.etcd !== undefined && options.dataDir !== undefined)
    throw new SandboxOptionError('--etcd and --data-dir are exclusive: objects live in one place');
  const registry = new ResourceRegistry();
  let persistence: Persistence | undefined;
  if (options.etcd !== undefined) {
    try {
      persistence = new EtcdPersistence(options.etcd);
    } catch (e) {
      throw new SandboxOptionError((e as Error).message);
    }
  } else if (options.dataDir) {
    persistence = new DiskPersistence(options.dataDir);
  }
  const store = new ObjectStore({
    ...(options.eventLogSize !== undefined ? { eventLogSize: options.eventLogSize } : {}),
    ...(persistence ? { persistence } : {}),
  });
  try {
    await store.load();
  } catch (e) {
    await store.close();
    throw new SandboxOptionError((e as Error).message);
  }
  const cluster = new Cluster(registry, store, options.compactionIntervalMs);
  cluster.bootstrap();
  await store.flush();
  const api = new ApiServer(cluster, {
    ...(options.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: options.bookmarkIntervalMs } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  let port: number;
  try {
    port = await api.listen(options.port ?? 0);
  } catch (e) {
    cluster.close();
    await store.close();
    throw e;
  }
  const url = `http://127.0.0.1:${port}`;
  // The default folder is this sandbox's own: stop() removes it (a kubeconfig for a closed port
  // helps no one, and test runs left hundreds of them in the temp folder).
  const ownFolder =
    options.kubeconfigPath === undefined ? join(tmpdir(), `cairn-sandbox-${port}`) : undefined;
  const kubeconfig = options.kubeconfigPath ?? join(ownFolder as string, 'kubeconfig');
  const yaml = kubeconfigYaml(url);
  mkdirSync(dirname(kubeconfig), { recursive: true });
  writeFileSync(kubeconfig, yaml, { mode: 0o600 });
  let stopped: Promise<void> | undefined;
  return {
    url,
    kubeconfig,
    kubeconfigYaml: yaml,
    cluster,
    stop() {
      stopped ??= (async () => {
        cluster.close();
        await api.close();
        await store.close();
        if (ownFolder !== undefined) rmSync(ownFolder, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
