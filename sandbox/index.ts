import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Cluster } from './cluster.ts';
import { ApiServer } from './http/server.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { ResourceRegistry } from './registry/registry.ts';
import { ObjectStore } from './store/object-store.ts';
import { DiskPersistence } from './store/persistence.ts';

export interface SandboxOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Where to write the kubeconfig; default `<tmpdir>/cairn-sandbox-<port>/kubeconfig`. */
  kubeconfigPath?: string;
  /** Persist objects under this directory (default: memory only). */
  dataDir?: string;
  /** etcd endpoint URL. Not supported yet: passing it fails with a clear error. */
  etcd?: string;
  /** Request log sink (one line per request). */
  log?: (line: string) => void;
  /** How many events the watch log keeps (default 20000); older resourceVersions get 410. */
  eventLogSize?: number;
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
  if (options.etcd !== undefined) {
    throw new SandboxOptionError(
      `--etcd is not supported yet: the sandbox stores objects in memory or, with --data-dir, on disk (asked for ${options.etcd})`,
    );
  }
  const registry = new ResourceRegistry();
  const persistence = options.dataDir ? new DiskPersistence(options.dataDir) : undefined;
  const store = new ObjectStore({
    ...(options.eventLogSize !== undefined ? { eventLogSize: options.eventLogSize } : {}),
    ...(persistence ? { persistence } : {}),
  });
  const cluster = new Cluster(registry, store);
  cluster.bootstrap();
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
  const kubeconfig = options.kubeconfigPath ?? join(tmpdir(), `cairn-sandbox-${port}`, 'kubeconfig');
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
      })();
      return stopped;
    },
  };
}
