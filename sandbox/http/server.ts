import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ApiError, badRequest, methodNotAllowed, pathNotFound, unsupportedMediaType } from '../api-error.ts';
import { Cluster, type DeleteOptions, type Target } from '../cluster.ts';
import {
  aggregatedContentType,
  aggregatedDiscovery,
  aggregatedVersionFor,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  versionInfo,
} from '../discovery.ts';
import { isObject, type Json } from '../object-meta.ts';
import { openApiGroupVersion, openApiIndex } from '../openapi.ts';
import { applyPatch, patchTypeOf } from '../patching.ts';
import { apiVersionOf, type ResourceType, storageKey } from '../registry/resource-type.ts';
import type { StoredObject } from '../store/object-store.ts';
import { decodeJson, decodeObjectBody, decodeYaml, readBody } from './body.ts';
import {
  layoutFor,
  partialObjectMetadata,
  renderingFor,
  table,
  tableContentType,
  tableRow,
} from './table.ts';
import { serveWatch } from './watch.ts';

export interface ApiServerOptions {
  bookmarkIntervalMs?: number;
  log?: (line: string) => void;
}

/** A parsed resource URL. */
interface ResourceRoute {
  target: Target;
  subresource: string | undefined;
}

const JSON_TYPE = 'application/json';
/** Objects per write when a list response is streamed. */
const LIST_BATCH = 2000;

/**
 * The HTTP face of the sandbox: plain `node:http`, JSON everywhere, Status
 * objects for every failure. Routing follows kube-apiserver's URL layout:
 * `/api/v1/...` for the core group, `/apis/<group>/<version>/...` otherwise,
 * with `namespaces/<ns>/` before namespaced resources.
 */
export class ApiServer {
  readonly cluster: Cluster;
  readonly server: Server;
  #watches = new Set<() => void>();
  #bookmarkIntervalMs: number;
  #log: ((line: string) => void) | undefined;
  #address = '127.0.0.1:0';

  constructor(cluster: Cluster, options: ApiServerOptions = {}) {
    this.cluster = cluster;
    this.#bookmarkIntervalMs = options.bookmarkIntervalMs ?? 10_000;
    this.#log = options.log;
    this.server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((e: unknown) => this.#fail(res, e));
    });
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    const bound = typeof addr === 'object' && addr ? addr.port : port;
    this.#address = `${host}:${bound}`;
    return bound;
  }

  async close(): Promise<void> {
    for (const end of [...this.#watches]) end();
    this.#watches.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (this.#log) {
      const started = Date.now();
      res.on('finish', () =>
        this.#log?.(
          `${method} ${req.url} ${res.statusCode} ${Date.now() - started}ms ${req.headers['user-agent'] ?? ''}`,
        ),
      );
    }
    let segments: string[];
    try {
      segments = path
        .split('/')
        .filter((s) => s !== '')
        .map(decodeURIComponent);
    } catch {
      throw badRequest(`malformed URL path: ${path}`);
    }
    const head = segments[0];
    if (head === 'api' || head === 'apis') {
      await this.#handleApi(req, res, url, segments);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed();
    switch (path) {
      case '/version':
        return this.#json(res, 200, versionInfo());
      case '/healthz':
      case '/readyz':
      case '/livez':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('ok');
        return;
      case '/openapi/v3':
        return this.#json(res, 200, openApiIndex(this.cluster.registry));
      case '/openapi/v2':
        // kubectl ≤ 1.27 insists on fetching the v2 document and only decodes its
        // protobuf form; an empty message is an empty (valid) Document.
        res.writeHead(200, {
          'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
          'Content-Length': 0,
        });
        res.end();
        return;
    }
    if (path.startsWith('/openapi/v3/')) {
      const doc = openApiGroupVersion(this.cluster.registry, path.slice('/openapi/v3/'.length));
      if (doc) return this.#json(res, 200, doc);
    }
    throw pathNotFound();
  }

  async #handleApi(req: IncomingMessage, res: ServerResponse, url: URL, segs: string[]): Promise<void> {
    const registry = this.cluster.registry;
    const method = req.method ?? 'GET';
    const legacy = segs[0] === 'api';
    // Discovery documents.
    if (segs.length === 1 || (!legacy && segs.length === 2) || (legacy && segs.length === 2)) {
      if (method !== 'GET') throw methodNotAllowed();
      if (segs.length === 1) {
        const agg = aggregatedVersionFor(req.headers.accept);
        if (agg) {
          return this.#send(
            res,
            200,
            aggregatedContentType(agg),
            JSON.stringify(aggregatedDiscovery(registry, legacy, agg)),
          );
        }
        return this.#json(res, 200, legacy ? apiVersions(this.#address) : apiGroupList(registry));
      }
      if (legacy) {
        const doc = apiResourceList(registry, '', segs[1] as string);
        if (doc) return this.#json(res, 200, doc);
        throw pathNotFound();
      }
      const doc = apiGroup(registry, segs[1] as string);
      if (doc) return this.#json(res, 200, doc);
      throw pathNotFound();
    }
    const group = legacy ? '' : (segs[1] as string);
    const version = legacy ? (segs[1] as string) : (segs[2] as string);
    const rest = segs.slice(legacy ? 2 : 3);
    if (rest.length === 0) {
      if (method !== 'GET') throw methodNotAllowed();
      const doc = apiResourceList(registry, group, version);
      if (doc) return this.#json(res, 200, doc);
      throw pathNotFound();
    }
    const route = this.#route(group, version, rest);
    await this.#handleResource(req, res, url, route);
  }

  #route(group: string, version: string, rest: string[]): ResourceRoute {
    const registry = this.cluster.registry;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const nsType = registry.get(group, version, rest[2] as string);
      if (nsType?.namespaced) {
        if (rest.length > 5) throw pathNotFound();
        const target: Target = { type: nsType, version, namespace: rest[1] as string };
        if (rest[3] !== undefined) target.name = rest[3];
        return { target, subresource: rest[4] };
      }
    }
    const type = registry.get(group, version, rest[0] as string);
    if (!type || rest.length > 3) throw pathNotFound();
    if (type.namespaced && rest.length > 1) throw pathNotFound();
    const target: Target = { type, version, namespace: undefined };
    if (rest[1] !== undefined) target.name = rest[1];
    return { target, subresource: rest[2] };
  }

  async #handleResource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: ResourceRoute,
  ): Promise<void> {
    const { target, subresource } = route;
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const type = target.type;
    if (subresource !== undefined && !(type.subresources as string[]).includes(subresource))
      throw pathNotFound();
    if (subresource === undefined && !type.verbs.includes(verbOf(method, target.name === undefined, q))) {
      throw methodNotAllowed();
    }
    if (target.name === undefined) {
      // Collection.
      switch (method) {
        case 'GET':
          if (q.get('watch') === 'true' || q.get('watch') === '1') return this.#watch(req, res, target, q);
          return this.#list(req, res, target, q);
        case 'POST': {
          if (type.namespaced && target.namespace === undefined) throw methodNotAllowed();
          const body = decodeObjectBody(await readBody(req), req.headers['content-type']);
          const created = this.cluster.create(target, body, this.#writeOptions(req, q));
          await this.#durable();
          return this.#object(req, res, 201, created, target);
        }
        case 'DELETE': {
          if (type.namespaced && target.namespace === undefined) throw methodNotAllowed();
          if (!type.verbs.includes('deletecollection')) throw methodNotAllowed();
          const opts = deleteOptions(await readBody(req), req.headers['content-type'], q);
          const deleted = this.cluster.deleteCollection(
            target,
            { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') },
            { ...opts, ...this.#writeOptions(req, q) },
          );
          await this.#durable();
          return this.#listBody(res, target, deleted, String(this.cluster.store.revision), undefined);
        }
        default:
          throw methodNotAllowed();
      }
    }
    if (subresource === 'scale') return this.#scale(req, res, target, q);
    switch (method) {
      case 'GET':
        return this.#object(req, res, 200, this.cluster.get(target), target);
      case 'PUT': {
        const body = decodeObjectBody(await readBody(req), req.headers['content-type']);
        const updated = this.cluster.update(target, body, this.#writeOptions(req, q), statusSub(subresource));
        await this.#durable();
        return this.#object(req, res, 200, updated, target);
      }
      case 'PATCH': {
        const patchType = patchTypeOf(req.headers['content-type']);
        if (!patchType) {
          throw unsupportedMediaType([
            'application/json-patch+json',
            'application/merge-patch+json',
            'application/apply-patch+yaml',
            ...(type.custom ? [] : ['application/strategic-merge-patch+json']),
          ]);
        }
        const raw = await readBody(req);
        const body = patchType === 'apply' ? decodeYaml(raw) : decodeJson(raw);
        const opts = this.#writeOptions(req, q);
        if (patchType === 'apply') {
          opts.fieldManager = q.get('fieldManager') ?? undefined;
          opts.force = q.get('force') === 'true';
        }
        const existed = patchType === 'apply' ? this.#exists(target) : true;
        const patched = this.cluster.patch(target, patchType, body, opts, statusSub(subresource));
        await this.#durable();
        return this.#object(req, res, existed ? 200 : 201, patched, target);
      }
      case 'DELETE': {
        const opts = deleteOptions(await readBody(req), req.headers['content-type'], q);
        const { stored } = this.cluster.delete(target, { ...opts, ...this.#writeOptions(req, q) });
        await this.#durable();
        return this.#object(req, res, 200, stored, target);
      }
      default:
        throw methodNotAllowed();
    }
  }

  /** A write is acknowledged only once the persistence (disk, etcd) has it. */
  async #durable(): Promise<void> {
    try {
      await this.cluster.store.flush();
    } catch (e) {
      throw new ApiError(500, 'InternalError', `Internal error occurred: storage: ${(e as Error).message}`);
    }
  }

  #exists(t: Target): boolean {
    return this.cluster.store.get(storageKey(t.type), t.namespace ?? '', t.name ?? '') !== undefined;
  }

  #writeOptions(
    req: IncomingMessage,
    q: URLSearchParams,
  ): { dryRun: boolean; fieldManager?: string; force?: boolean } {
    const dryRun = q.getAll('dryRun');
    for (const d of dryRun)
      if (d !== 'All') throw badRequest(`Invalid dry run value: ${d}; only "All" is supported`);
    const fm = q.get('fieldManager');
    if (fm !== null && (fm.length > 128 || /[^\x20-\x7e]/.test(fm)))
      throw badRequest('fieldManager: Invalid value: must be printable and at most 128 characters');
    const agent = String(req.headers['user-agent'] ?? '').split('/')[0] ?? '';
    const manager = fm ?? (agent || 'unknown');
    return { dryRun: dryRun.length > 0, fieldManager: manager };
  }

  #list(req: IncomingMessage, res: ServerResponse, target: Target, q: URLSearchParams) {
    const limitText = q.get('limit');
    let limit: number | undefined;
    if (limitText !== null && limitText !== '') {
      limit = Number(limitText);
      if (!Number.isInteger(limit) || limit < 0) throw badRequest(`limit: Invalid value: "${limitText}"`);
    }
    const result = this.cluster.list(target, {
      labelSelector: q.get('labelSelector'),
      fieldSelector: q.get('fieldSelector'),
      ...(limit !== undefined ? { limit } : {}),
      continueToken: q.get('continue'),
    });
    const rendering = renderingFor(req.headers.accept);
    if (rendering) {
      const metadata: Json = { resourceVersion: result.resourceVersion };
      if (result.continueToken) metadata.continue = result.continueToken;
      const objs = result.items.map(
        (o) => JSON.parse(Cluster.served(o, target.type, target.version)) as Json,
      );
      if (rendering.as === 'Table') {
        const now = Date.now();
        const layout = layoutFor(target.type, target.version);
        const rows = objs.map((o) => tableRow(o, layout, q.get('includeObject'), rendering.version, now));
        return this.#send(
          res,
          200,
          tableContentType('Table', rendering.version, true),
          JSON.stringify(table(rows, metadata, rendering.version, layout)),
        );
      }
      return this.#send(
        res,
        200,
        tableContentType('PartialObjectMetadata', rendering.version, true),
        JSON.stringify({
          kind: 'PartialObjectMetadataList',
          apiVersion: `meta.k8s.io/${rendering.version}`,
          metadata,
          items: objs.map((o) => partialObjectMetadata(o, rendering.version)),
        }),
      );
    }
    this.#listBody(res, target, result.items, result.resourceVersion, result.continueToken);
  }

  /** Lists are assembled from the stored JSON text: no per-item re-serialisation. */
  #listBody(
    res: ServerResponse,
    target: Target,
    items: StoredObject[],
    resourceVersion: string,
    continueToken: string | undefined,
  ): void {
    const type = target.type;
    const metadata: Json = { resourceVersion };
    if (continueToken) metadata.continue = continueToken;
    const head = `{"kind":${JSON.stringify(type.listKind)},"apiVersion":${JSON.stringify(apiVersionOf(type.group, target.version))},"metadata":${JSON.stringify(metadata)},"items":[`;
    const served = (i: number) => Cluster.served(items[i] as StoredObject, type, target.version);
    if (items.length <= LIST_BATCH) {
      const parts: string[] = new Array(items.length);
      for (let i = 0; i < items.length; i++) parts[i] = served(i);
      this.#send(res, 200, JSON_TYPE, `${head}${parts.join(',')}]}`);
      return;
    }
    // Unpaginated lists of many objects are streamed in batches: one string of
    // everything could exceed V8's maximum string length (~512 MiB).
    res.writeHead(200, { 'Content-Type': JSON_TYPE });
    res.write(head);
    for (let start = 0; start < items.length; start += LIST_BATCH) {
      const parts: string[] = [];
      for (let i = start; i < Math.min(items.length, start + LIST_BATCH); i++) parts.push(served(i));
      res.write(start === 0 ? parts.join(',') : `,${parts.join(',')}`);
    }
    res.end(']}');
  }

  #watch(req: IncomingMessage, res: ServerResponse, target: Target, q: URLSearchParams): void {
    const filter = this.cluster.filterFor(target, q.get('labelSelector'), q.get('fieldSelector'));
    const rvText = q.get('resourceVersion');
    let rv: number | undefined;
    if (rvText !== null && rvText !== '') {
      rv = Number(rvText);
      if (!Number.isInteger(rv) || rv < 0) throw badRequest(`resourceVersion: Invalid value: "${rvText}"`);
    }
    const timeoutText = q.get('timeoutSeconds');
    const timeoutSeconds = timeoutText ? Number(timeoutText) : undefined;
    const rendering = renderingFor(req.headers.accept);
    const type = target.type;
    const version = target.version;
    const apiVersion = apiVersionOf(type.group, version);
    const includeObject = q.get('includeObject');
    const render = (stored: StoredObject): string => {
      const served = Cluster.served(stored, type, version);
      if (!rendering) return served;
      const o = JSON.parse(served) as Json;
      if (rendering.as === 'PartialObjectMetadata')
        return JSON.stringify(partialObjectMetadata(o, rendering.version));
      const layout = layoutFor(type, version);
      return JSON.stringify(
        table([tableRow(o, layout, includeObject, rendering.version)], {}, rendering.version, layout),
      );
    };
    const key = storageKey(type);
    const end = serveWatch(res, this.cluster.store, {
      typeKey: key,
      namespace: target.namespace,
      filter,
      resourceVersion: rv,
      allowBookmarks: q.get('allowWatchBookmarks') === 'true',
      sendInitialEvents: q.get('sendInitialEvents') === 'true',
      timeoutSeconds,
      bookmarkIntervalMs: this.#bookmarkIntervalMs,
      initial: () => this.cluster.store.list(key, target.namespace),
      render,
      bookmark: (at, initialEventsEnd) =>
        JSON.stringify({
          kind: type.kind,
          apiVersion,
          metadata: {
            resourceVersion: String(at),
            ...(initialEventsEnd ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}),
          },
        }),
    });
    this.#watches.add(end);
    res.on('close', () => this.#watches.delete(end));
  }

  async #scale(req: IncomingMessage, res: ServerResponse, target: Target, q: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const current = this.cluster.get(target);
    const scale = scaleOf(current.obj);
    if (method === 'GET') return this.#json(res, 200, scale);
    let wanted: unknown;
    if (method === 'PUT') {
      wanted = decodeObjectBody(await readBody(req), req.headers['content-type']);
    } else if (method === 'PATCH') {
      const patchType = patchTypeOf(req.headers['content-type']);
      if (!patchType || patchType === 'apply')
        throw unsupportedMediaType([
          'application/json-patch+json',
          'application/merge-patch+json',
          'application/strategic-merge-patch+json',
        ]);
      wanted = applyPatch(patchType, scale, decodeJson(await readBody(req)), scaleType);
    } else {
      throw methodNotAllowed();
    }
    const spec = isObject(wanted) && isObject(wanted.spec) ? wanted.spec : {};
    const replicas = spec.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)
      throw new ApiError(
        422,
        'Invalid',
        `Scale.autoscaling "${target.name}" is invalid: spec.replicas: Invalid value`,
      );
    const obj = JSON.parse(current.json) as Json;
    obj.spec = { ...(isObject(obj.spec) ? obj.spec : {}), replicas };
    const updated = this.cluster.update(target, obj, this.#writeOptions(req, q));
    await this.#durable();
    this.#json(res, 200, scaleOf(updated.obj));
  }

  #object(req: IncomingMessage, res: ServerResponse, code: number, stored: StoredObject, target: Target) {
    const rendering = renderingFor(req.headers.accept);
    const json = Cluster.served(stored, target.type, target.version);
    if (!rendering) return this.#send(res, code, JSON_TYPE, json);
    const obj = JSON.parse(json) as Json;
    if (rendering.as === 'PartialObjectMetadata')
      return this.#send(
        res,
        code,
        tableContentType('PartialObjectMetadata', rendering.version, false),
        JSON.stringify(partialObjectMetadata(obj, rendering.version)),
      );
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const layout = layoutFor(target.type, target.version);
    const rows = [tableRow(obj, layout, url.searchParams.get('includeObject'), rendering.version)];
    this.#send(
      res,
      code,
      tableContentType('Table', rendering.version, false),
      JSON.stringify(table(rows, { resourceVersion: String(stored.rv) }, rendering.version, layout)),
    );
  }

  #json(res: ServerResponse, code: number, body: unknown): void {
    this.#send(res, code, JSON_TYPE, JSON.stringify(body));
  }

  #send(res: ServerResponse, code: number, contentType: string, body: string): void {
    res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  #fail(res: ServerResponse, e: unknown): void {
    const err =
      e instanceof ApiError
        ? e
        : new ApiError(
            500,
            'InternalError',
            `Internal error occurred: ${(e as Error)?.message ?? String(e)}`,
          );
    if (err.code === 500) this.#log?.(`internal error: ${(e as Error)?.stack ?? String(e)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.#json(res, err.code, err.toStatus());
  }
}

/** The Kubernetes verb of a request on a resource (not a subresource). */
function verbOf(method: string, collection: boolean, q: URLSearchParams): string {
  switch (method) {
    case 'GET':
      if (!collection) return 'get';
      return q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return collection ? 'deletecollection' : 'delete';
    default:
      return method.toLowerCase();
  }
}

function statusSub(sub: string | undefined): 'status' | undefined {
  return sub === 'status' ? 'status' : undefined;
}

/** DeleteOptions from the body (JSON) and/or the query string. */
function deleteOptions(
  body: Buffer,
  contentType: string | undefined,
  q: URLSearchParams,
): Pick<DeleteOptions, 'preconditions' | 'propagationPolicy'> {
  let parsed: unknown;
  if (body.length > 0) parsed = decodeObjectBody(body, contentType);
  const out: Pick<DeleteOptions, 'preconditions' | 'propagationPolicy'> = {};
  const policy =
    (isObject(parsed) && typeof parsed.propagationPolicy === 'string'
      ? parsed.propagationPolicy
      : undefined) ??
    q.get('propagationPolicy') ??
    ((isObject(parsed) && parsed.orphanDependents === true) || q.get('orphanDependents') === 'true'
      ? 'Orphan'
      : undefined);
  if (policy !== undefined) {
    if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan')
      throw badRequest(
        `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
      );
    out.propagationPolicy = policy;
  }
  if (isObject(parsed) && isObject(parsed.preconditions)) {
    const p = parsed.preconditions;
    out.preconditions = {
      ...(typeof p.uid === 'string' ? { uid: p.uid } : {}),
      ...(typeof p.resourceVersion === 'string' ? { resourceVersion: p.resourceVersion } : {}),
    };
  }
  if (isObject(parsed) && Array.isArray(parsed.dryRun) && parsed.dryRun.includes('All'))
    q.append('dryRun', 'All');
  return out;
}

const scaleType: ResourceType = {
  group: 'autoscaling',
  versions: ['v1'],
  resource: 'scale',
  singular: 'scale',
  kind: 'Scale',
  listKind: 'ScaleList',
  namespaced: true,
  shortNames: [],
  categories: [],
  verbs: [],
  subresources: [],
  custom: false,
};

function scaleOf(obj: Json): Json {
  const meta = obj.metadata as Json;
  const spec = isObject(obj.spec) ? obj.spec : {};
  const status = isObject(obj.status) ? obj.status : {};
  const selector =
    isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      creationTimestamp: meta.creationTimestamp,
    },
    spec: { replicas: typeof spec.replicas === 'number' ? spec.replicas : 1 },
    status: {
      replicas: typeof status.replicas === 'number' ? status.replicas : 0,
      selector: Object.entries(selector)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(','),
    },
  };
}
