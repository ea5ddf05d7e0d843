/**
 * Shared pieces of the controller tests: a sandbox with Cairn's CRDs and
 * namespace, BackupLocations on a folder or on RGW (credentials from a
 * Secret), controllers started in-process with an injected clock, and
 * event-driven waits (polling the API with a generous deadline; no timing
 * assumptions).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Backup } from '../../src/api/backup.ts';
import type { BackupLocation, BackupLocationSpec } from '../../src/api/backup-location.ts';
import { API_VERSION } from '../../src/api/common.ts';
import { crdManifests } from '../../src/api/crd.ts';
import type { ClusterConnection } from '../../src/cluster/connection.ts';
import type { Clock } from '../../src/controller/clock.ts';
import type { ControllerSettings } from '../../src/controller/context.ts';
import { Controller, type LeaderElectionSettings } from '../../src/controller/controller.ts';
import { CairnResources } from '../../src/controller/resources.ts';
import { ControllerMetrics } from '../../src/server/metrics.ts';
import { createAll, startCluster, type TestCluster } from '../restore/helpers.ts';
import { type Manifest, sampleApp } from '../support/fixtures/sample-app.ts';
import { adminClient, createTestBucket, testS3 } from '../support/s3-env.ts';

export const NAMESPACE = 'cairn-system';

export interface ControllerCluster extends TestCluster {
  readonly resources: CairnResources;
}

/** Waits until `probe` returns a value (not undefined/false), polling; fails after `timeoutMs` with `what`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 180_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(50);
  }
}

/** Applies Cairn's CRDs and namespace to a connection and waits until they are served. */
export async function installCairnApi(connection: ClusterConnection): Promise<void> {
  await connection.request('POST', '/api/v1/namespaces', { body: { metadata: { name: NAMESPACE } } });
  for (const crd of crdManifests())
    await connection.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      body: crd,
    });
  await waitFor('the cairn.dev CRDs to be served', async () => {
    const list = await connection.request<{ resources?: { name: string }[] }>('GET', `/apis/${API_VERSION}`);
    return (list.resources ?? []).some((r) => r.name === 'schedules') || undefined;
  });
}

/** A sandbox with Cairn's API installed (and optionally the sample app). */
export async function startControllerCluster(
  options: { sampleApp?: boolean } = {},
): Promise<ControllerCluster> {
  const cluster = await startCluster();
  await installCairnApi(cluster.connection);
  if (options.sampleApp) await createAll(cluster, sampleApp() as Manifest[]);
  const controllerCluster: ControllerCluster = {
    ...cluster,
    resources: new CairnResources(cluster.connection, NAMESPACE),
    stop: async () => {
      await cluster.stop();
      for (const dir of tempDirs.get(controllerCluster) ?? [])
        await rm(dir, { recursive: true, force: true });
    },
  };
  return controllerCluster;
}

/** Temp folders made for a cluster's tests (backup locations), removed when it stops. */
const tempDirs = new WeakMap<ControllerCluster, string[]>();

async function tempDirFor(cluster: ControllerCluster, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const dirs = tempDirs.get(cluster) ?? [];
  dirs.push(dir);
  tempDirs.set(cluster, dirs);
  return dir;
}

/** A BackupLocation resource on a new temp folder. */
export async function fsBackupLocation(
  cluster: ControllerCluster,
  name: string,
  spec: Partial<BackupLocationSpec> & { path?: string } = {},
): Promise<{ location: BackupLocation; path: string }> {
  const { path: given, ...rest } = spec;
  const path = given ?? join(await tempDirFor(cluster, 'cairn-controller-loc-'), 'location');
  const location = await cluster.resources.create<BackupLocation>('backuplocations', {
    apiVersion: API_VERSION,
    kind: 'BackupLocation',
    metadata: { name, namespace: NAMESPACE },
    spec: { provider: 'filesystem', url: path, ...rest },
  });
  if (location === undefined) throw new Error(`BackupLocation ${name} exists`);
  return { location, path };
}

/** A BackupLocation on a new RGW bucket, its credentials in a Secret (AWS shared-credentials file). */
export async function s3BackupLocation(
  cluster: ControllerCluster,
  name: string,
  label: string,
): Promise<{ location: BackupLocation; bucket: string; remove(): Promise<void> }> {
  const s3 = testS3();
  const bucket = await createTestBucket(adminClient(s3), label);
  await cluster.connection.request('POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, {
    body: {
      metadata: { name: `${name}-credentials` },
      stringData: {
        cloud: `[default]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = ${s3.secretAccessKey}\n`,
      },
    },
  });
  const location = await cluster.resources.create<BackupLocation>('backuplocations', {
    apiVersion: API_VERSION,
    kind: 'BackupLocation',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      provider: 's3',
      config: {
        bucket: bucket.bucket,
        prefix: 'cairn',
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
      },
      credential: { name: `${name}-credentials`, key: 'cloud' },
    },
  });
  if (location === undefined) throw new Error(`BackupLocation ${name} exists`);
  return { location, bucket: bucket.bucket, remove: bucket.remove };
}

export interface TestControllerOptions {
  readonly clock?: Clock;
  readonly leaderElection?: false | LeaderElectionSettings;
  readonly identity?: string;
  readonly settings?: Partial<ControllerSettings>;
  readonly connection?: ClusterConnection;
}

/** Starts a controller in-process (quiet log, its own metrics registry). */
export function startTestController(
  cluster: ControllerCluster,
  options: TestControllerOptions = {},
): Controller {
  return new Controller({
    connection: options.connection ?? cluster.connection,
    namespace: NAMESPACE,
    leaderElection: options.leaderElection ?? false,
    log: pino({ level: process.env.CAIRN_TEST_LOG ?? 'silent' }),
    metrics: new ControllerMetrics({ processMetrics: false }),
    version: 'test',
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.identity === undefined ? {} : { identity: options.identity }),
    ...(options.settings === undefined ? {} : { settings: options.settings }),
    shutdownTimeoutMs: 60_000,
  }).start();
}

export function newBackup(name: string, spec: Backup['spec'] = {}, labels?: Record<string, string>): Backup {
  return {
    apiVersion: API_VERSION,
    kind: 'Backup',
    metadata: { name, namespace: NAMESPACE, ...(labels ? { labels } : {}) },
    spec,
  };
}

/** Waits for a Backup to reach one of `phases`; returns it. */
export function waitForBackupPhase(
  cluster: ControllerCluster,
  name: string,
  phases: readonly string[],
): Promise<Backup> {
  return waitFor(`Backup ${name} to be ${phases.join(' or ')}`, async () => {
    const b = await cluster.resources.get<Backup>('backups', name);
    return b !== undefined && phases.includes(b.status?.phase ?? 'New') ? b : undefined;
  });
}

type RecordedEvent = { reason: string; type: string; message: string };

/**
 * Events recorded on one object, oldest first, once `until` holds (by default:
 * once there is one). A reconciler records its event after the status write a
 * test waits for, so reading them at once would race it.
 */
export async function eventsOf(
  cluster: ControllerCluster,
  kind: string,
  name: string,
  until: (events: RecordedEvent[]) => boolean = (events) => events.length > 0,
): Promise<RecordedEvent[]> {
  return waitFor(`events of ${kind} ${name}`, async () => {
    const events = await recordedEvents(cluster, kind, name);
    return until(events) ? events : undefined;
  });
}

/** Reasons of the events that must all have been recorded. */
export const withReasons =
  (...reasons: string[]) =>
  (events: RecordedEvent[]): boolean =>
    reasons.every((r) => events.some((e) => e.reason === r));

async function recordedEvents(
  cluster: ControllerCluster,
  kind: string,
  name: string,
): Promise<RecordedEvent[]> {
  const list = await cluster.connection.request<{
    items: {
      metadata: { resourceVersion: string };
      reason: string;
      type: string;
      message: string;
      involvedObject: { kind: string; name: string };
    }[];
  }>('GET', `/api/v1/namespaces/${NAMESPACE}/events`);
  // Names are random; the resourceVersion orders them as they were recorded.
  return list.items
    .filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name)
    .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
}

/** One sample value of a metric from Prometheus text (`name{labels} value`). */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      got[pair[1] as string] = pair[2] as string;
    if (
      Object.entries(labels).every(([k, v]) => got[k] === v) &&
      Object.keys(got).length === Object.keys(labels).length
    )
      return Number(m[3]);
  }
  return undefined;
}

/** An HTTP proxy in front of the API server that can hold matching requests (to freeze a backup mid-run). */
export interface HoldingProxy {
  readonly url: string;
  /** A kubeconfig whose cluster is this proxy. */
  readonly kubeconfig: string;
  /** Holds every new request whose `METHOD path?query` matches, until `release`. */
  hold(pattern: RegExp): void;
  release(): void;
  /** Requests held now. */
  readonly held: number;
  close(): Promise<void>;
}

export async function startHoldingProxy(cluster: ControllerCluster): Promise<HoldingProxy> {
  const target = new URL(cluster.sandbox.url);
  let pattern: RegExp | undefined;
  let pending: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const forward = () => {
      const upstream = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.flushHeaders(); // watches must see headers at once
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    if (pattern?.test(`${req.method} ${req.url}`)) pending.push(forward);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = await mkdtemp(join(tmpdir(), 'cairn-proxy-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, cluster.sandbox.kubeconfigYaml.replaceAll(cluster.sandbox.url, url));
  return {
    url,
    kubeconfig,
    hold: (p) => {
      pattern = p;
    },
    release: () => {
      pattern = undefined;
      const run = pending;
      pending = [];
      for (const f of run) f();
    },
    get held() {
      return pending.length;
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
