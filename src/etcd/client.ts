/**
 * A thin etcd v3 gRPC client of our own: Maintenance.Status/HashKV/Snapshot,
 * Cluster.MemberList, Auth.Authenticate and a count-only KV.Range. The `etcd3`
 * npm package is unmaintained and drops the auth token on the Snapshot stream;
 * here the token goes into the metadata of every call, streams included.
 *
 * Every call goes over plain `node:http2`: a gRPC call is an HTTP/2 POST of
 * `[flag:1][length:4][protobuf]` messages whose trailers carry `grpc-status`.
 * Unary messages are encoded and decoded with the trimmed `proto/etcd.proto`
 * through @grpc/proto-loader (protobufjs). The Snapshot stream — the call that
 * moves gigabytes — has a zero-copy frame parser (`snapshot-stream.ts`). Why
 * not @grpc/grpc-js for the unary calls: it and its channel machinery (65
 * more modules) held ~13 MiB after three calls, this ~3; `snapshot save`
 * starts its stream with a memory budget of 150 MB (docs/benchmarks.md, etcd).
 */
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { CairnError } from '../errors/cairn-error.ts';
import { GrpcStatusError, snapshotStream } from './snapshot-stream.ts';

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'proto/etcd.proto');

/** TLS material, as PEM bytes (or file paths resolved by {@link loadTls}). */
export interface EtcdTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface EtcdConnectOptions {
  /** Client URLs, e.g. `https://10.0.0.1:2379`; the first one that answers Status is used. */
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTls;
  readonly auth?: { readonly user: string; readonly password: string };
  /** Deadline of each unary call; default 10 s. */
  readonly callTimeoutMs?: number;
}

export interface EtcdStatus {
  readonly endpoint: string;
  readonly version: string;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  /** Member and cluster ids in hex, as etcdctl prints them. */
  readonly memberId: string;
  readonly clusterId: string;
  readonly leader: string;
  readonly revision: number;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly isLearner: boolean;
  readonly errors: string[];
}

export interface EtcdMember {
  readonly id: string;
  readonly name: string;
  readonly peerURLs: string[];
  readonly clientURLs: string[];
  readonly isLearner: boolean;
}

/** Reads `--cacert/--cert/--key` files. */
export async function loadTls(files: {
  cacert?: string;
  cert?: string;
  key?: string;
}): Promise<EtcdTls | undefined> {
  if (files.cacert === undefined && files.cert === undefined && files.key === undefined) return undefined;
  if ((files.cert === undefined) !== (files.key === undefined)) {
    throw new CairnError('ETCD_TLS_INVALID', '--cert and --key must be given together', {
      hint: 'Pass both the client certificate and its private key, or neither.',
    });
  }
  const read = async (file: string | undefined, what: string): Promise<Buffer | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      throw new CairnError('ETCD_TLS_INVALID', `cannot read the ${what} file ${file}`, {
        hint: 'Check the path and its permissions.',
        cause: err,
      });
    }
  };
  const ca = await read(files.cacert, 'CA certificate');
  const cert = await read(files.cert, 'client certificate');
  const key = await read(files.key, 'client key');
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

interface Endpoint {
  readonly url: string;
  readonly target: string;
  readonly secure: boolean;
}

/** `https://host:2379` → gRPC target `host:2379`; a bare `host:port` is plain unless TLS is given. */
export function parseEndpoint(url: string, tlsGiven: boolean): Endpoint {
  const match = /^(?:(https?|unixs?):\/\/)?([^/]+?)\/?$/.exec(url.trim());
  const scheme = match?.[1];
  const hostPort = match?.[2];
  if (match === null || hostPort === undefined || scheme?.startsWith('unix')) {
    throw new CairnError('ETCD_ENDPOINT_INVALID', `invalid etcd endpoint ${JSON.stringify(url)}`, {
      hint: 'Use client URLs such as https://10.0.0.1:2379 or http://127.0.0.1:2379.',
    });
  }
  const secure = scheme === 'https' || (scheme === undefined && tlsGiven);
  const target = /:\d+$/.test(hostPort) ? hostPort : `${hostPort}:2379`;
  return { url: `${secure ? 'https' : 'http'}://${target}`, target, secure };
}

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) that change the advice. */
const GRPC = {
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
};

type Method = protoLoader.MethodDefinition<object, object>;
let methods: Map<string, Method> | undefined;
/** `Service.Method` → its path and protobuf codec, from the trimmed proto (parsed once). */
function methodOf(name: string): Method {
  if (methods === undefined) {
    const definition = protoLoader.loadSync(PROTO, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    methods = new Map();
    for (const service of ['KV', 'Maintenance', 'Cluster', 'Auth']) {
      const methodsOfService = definition[`etcdserverpb.${service}`] as protoLoader.ServiceDefinition;
      for (const [method, def] of Object.entries(methodsOfService)) methods.set(`${service}.${method}`, def);
    }
  }
  const method = methods.get(name);
  if (method === undefined) throw new Error(`no ${name} in ${PROTO}`);
  return method;
}

/** Reads `grpc-status`/`grpc-message` from response headers (trailers-only replies) or trailers. */
function grpcStatus(headers: http2.IncomingHttpHeaders): { code: number; details: string } | undefined {
  const code = headers['grpc-status'];
  if (code === undefined) return undefined;
  const message = String(headers['grpc-message'] ?? '');
  let details = message;
  try {
    details = decodeURIComponent(message);
  } catch {
    // Not percent-encoded after all: keep it as sent.
  }
  return { code: Number(code), details };
}

/**
 * One HTTP/2 connection to one member for unary calls. Connection failures
 * (refused, TLS verification, reset) become UNAVAILABLE, a call past its
 * deadline DEADLINE_EXCEEDED, as grpc-js would report them.
 */
class UnaryChannel {
  readonly #session: http2.ClientHttp2Session;
  #failure: Error | undefined;

  constructor(url: string, tls: EtcdTls | undefined) {
    this.#session = http2.connect(url, {
      ...(tls?.ca ? { ca: tls.ca } : {}),
      ...(tls?.cert ? { cert: tls.cert } : {}),
      ...(tls?.key ? { key: tls.key } : {}),
      ALPNProtocols: ['h2'],
    });
    // Always listened to: an unhandled session error would end the process.
    this.#session.on('error', (err: Error) => {
      this.#failure = err;
    });
  }

  call(path: string, body: Buffer, metadata: Record<string, string>, timeoutMs: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (this.#failure !== undefined) {
        reject(new GrpcStatusError(GRPC.UNAVAILABLE, this.#failure.message));
        return;
      }
      let settled = false;
      const finish = (err: Error | undefined, value?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#session.off('error', onSessionError);
        if (err !== undefined) reject(err);
        else resolve(value ?? Buffer.alloc(0));
      };
      const onSessionError = (err: Error) => finish(new GrpcStatusError(GRPC.UNAVAILABLE, err.message));
      this.#session.on('error', onSessionError);
      const request = this.#session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...metadata,
      });
      const timer = setTimeout(() => {
        request.close(http2.constants.NGHTTP2_CANCEL);
        finish(new GrpcStatusError(GRPC.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      let status: { code: number; details: string } | undefined;
      request.on('response', (headers) => {
        const http = Number(headers[':status']);
        if (http !== 200) status = { code: GRPC.UNAVAILABLE, details: `HTTP status ${http}` };
        status = grpcStatus(headers) ?? status;
      });
      request.on('trailers', (headers) => {
        status = grpcStatus(headers) ?? status;
      });
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('error', (err: Error) => finish(new GrpcStatusError(GRPC.UNAVAILABLE, err.message)));
      request.on('close', () => {
        if (status === undefined) {
          const why = this.#failure?.message ?? 'the call ended without a gRPC status';
          finish(new GrpcStatusError(GRPC.UNAVAILABLE, why));
          return;
        }
        if (status.code !== 0) {
          finish(new GrpcStatusError(status.code, status.details));
          return;
        }
        const reply = Buffer.concat(chunks);
        if (reply.length < 5 || reply[0] !== 0 || reply.readUInt32BE(1) !== reply.length - 5) {
          finish(new GrpcStatusError(GRPC.INTERNAL, `malformed gRPC reply (${reply.length} bytes)`));
          return;
        }
        finish(undefined, reply.subarray(5));
      });
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      request.end(frame);
    });
  }

  close(): void {
    this.#session.close();
  }
}

/** Turns a gRPC failure into a CairnError that says what to do. */
export function etcdError(err: unknown, what: string, endpoint: string): CairnError {
  if (err instanceof CairnError) return err;
  const e = err as Partial<GrpcStatusError>;
  const details = e.details ?? (err instanceof Error ? err.message : String(err));
  const code = e.code;
  if (code === GRPC.UNAVAILABLE || code === GRPC.DEADLINE_EXCEEDED) {
    return new CairnError('ETCD_UNREACHABLE', `${what}: etcd at ${endpoint} is unreachable (${details})`, {
      hint: 'Check --endpoints (client URLs, usually port 2379), that etcd is running, and that https:// endpoints get --cacert (and --cert/--key when etcd requires client certificates).',
      cause: err,
    });
  }
  if (
    code === GRPC.UNAUTHENTICATED ||
    /authentication failed|invalid auth token|user name is empty|user name not found/.test(details)
  ) {
    return new CairnError(
      'ETCD_AUTH_FAILED',
      `${what}: etcd at ${endpoint} refused the credentials (${details})`,
      {
        hint: 'Pass --user and --password of an etcd user (snapshots need the root role), or a client certificate whose CN is such a user.',
        cause: err,
      },
    );
  }
  if (code === GRPC.PERMISSION_DENIED) {
    return new CairnError('ETCD_PERMISSION_DENIED', `${what}: etcd at ${endpoint} denied it (${details})`, {
      hint: 'Snapshots and member listing need an etcd user with the root role.',
      cause: err,
    });
  }
  return new CairnError('ETCD_FAILED', `${what}: etcd at ${endpoint} failed: ${details}`, {
    hint: 'Run again with --debug for the gRPC status; check the etcd member logs.',
    cause: err,
  });
}

const hex = (decimal: unknown): string => BigInt(String(decimal ?? 0)).toString(16);
const num = (value: unknown): number => Number(value ?? 0);

/** One connection to one etcd member (after choosing the first endpoint that answers). */
export class EtcdClient {
  readonly endpoint: string;
  readonly #channel: UnaryChannel;
  readonly #timeoutMs: number;
  readonly #tls: EtcdTls | undefined;
  #token: string | undefined;

  private constructor(endpoint: Endpoint, timeoutMs: number, tls: EtcdTls | undefined) {
    this.endpoint = endpoint.url;
    this.#tls = endpoint.secure ? tls : undefined;
    this.#timeoutMs = timeoutMs;
    this.#channel = new UnaryChannel(endpoint.url, this.#tls);
  }

  /**
   * Connects to the first endpoint that answers Status (authenticating first
   * when credentials are given). Fails with the reason of every endpoint.
   */
  static async connect(options: EtcdConnectOptions): Promise<EtcdClient> {
    if (options.endpoints.length === 0) {
      throw new CairnError('ETCD_ENDPOINT_INVALID', 'no etcd endpoints given', {
        hint: 'Pass --endpoints with the client URL of a member, e.g. https://127.0.0.1:2379.',
      });
    }
    const tlsGiven = options.tls !== undefined;
    const failures: CairnError[] = [];
    for (const url of options.endpoints) {
      const endpoint = parseEndpoint(url, tlsGiven);
      const client = new EtcdClient(endpoint, options.callTimeoutMs ?? 10_000, options.tls);
      try {
        if (options.auth !== undefined) await client.authenticate(options.auth.user, options.auth.password);
        await client.status();
        return client;
      } catch (err) {
        client.close();
        const error = etcdError(err, 'connect', endpoint.url);
        // Wrong credentials are wrong on every member: stop at once.
        if (error.code === 'ETCD_AUTH_FAILED' || error.code === 'ETCD_PERMISSION_DENIED') throw error;
        failures.push(error);
      }
    }
    if (failures.length === 1 && failures[0] !== undefined) throw failures[0];
    throw new CairnError(
      'ETCD_UNREACHABLE',
      `no etcd endpoint answered: ${failures.map((f) => f.message).join('; ')}`,
      { hint: failures[0]?.hint ?? '' },
    );
  }

  async #unary<T>(name: string, request: object): Promise<T> {
    const method = methodOf(name);
    // Every call, the Snapshot stream included (the etcd3 package forgets it there).
    const metadata: Record<string, string> = this.#token === undefined ? {} : { token: this.#token };
    const what = name.split('.')[1] ?? name;
    try {
      const reply = await this.#channel.call(
        method.path,
        method.requestSerialize(request),
        metadata,
        this.#timeoutMs,
      );
      return method.responseDeserialize(reply) as T;
    } catch (err) {
      throw etcdError(err, what, this.endpoint);
    }
  }

  /** Auth.Authenticate: keeps the token for every later call. */
  async authenticate(user: string, password: string): Promise<void> {
    const res = await this.#unary<{ token: string }>('Auth.Authenticate', { name: user, password });
    this.#token = res.token;
  }

  async status(): Promise<EtcdStatus> {
    // biome-ignore lint/suspicious/noExplicitAny: decoded protobuf
    const res = await this.#unary<any>('Maintenance.Status', {});
    return {
      endpoint: this.endpoint,
      version: String(res.version),
      dbSize: num(res.dbSize),
      dbSizeInUse: num(res.dbSizeInUse),
      memberId: hex(res.header?.member_id),
      clusterId: hex(res.header?.cluster_id),
      leader: hex(res.leader),
      revision: num(res.header?.revision),
      raftIndex: num(res.raftIndex),
      raftTerm: num(res.raftTerm),
      isLearner: res.isLearner === true,
      errors: (res.errors ?? []) as string[],
    };
  }

  async memberList(): Promise<EtcdMember[]> {
    // biome-ignore lint/suspicious/noExplicitAny: decoded protobuf
    const res = await this.#unary<any>('Cluster.MemberList', { linearizable: false });
    // biome-ignore lint/suspicious/noExplicitAny: decoded protobuf
    return (res.members ?? []).map((m: any) => ({
      id: hex(m.ID),
      name: String(m.name ?? ''),
      peerURLs: m.peerURLs ?? [],
      clientURLs: m.clientURLs ?? [],
      isLearner: m.isLearner === true,
    }));
  }

  /** Number of keys at `revision` (0 = current), counted by the server (count_only). */
  async countKeys(revision = 0): Promise<number> {
    const res = await this.#unary<{ count: string }>('KV.Range', {
      key: Buffer.from([0]),
      range_end: Buffer.from([0]),
      count_only: true,
      revision,
    });
    return num(res.count);
  }

  /** Maintenance.HashKV: the hash of the MVCC key space up to `revision` (0 = current). */
  async hashKV(revision = 0): Promise<{ hash: number; compactRevision: number; revision: number }> {
    // biome-ignore lint/suspicious/noExplicitAny: decoded protobuf
    const res = await this.#unary<any>('Maintenance.HashKV', { revision });
    return {
      hash: num(res.hash),
      compactRevision: num(res.compact_revision),
      revision: num(res.header?.revision),
    };
  }

  /** KV.Put; Cairn itself never writes to etcd — tests and benchmarks fill clusters with it. */
  async put(key: string | Buffer, value: Buffer | string): Promise<number> {
    // biome-ignore lint/suspicious/noExplicitAny: decoded protobuf
    const res = await this.#unary<any>('KV.Put', { key: Buffer.from(key), value: Buffer.from(value) });
    return num(res.header?.revision);
  }

  /**
   * Maintenance.Snapshot as a stream of 256 KiB buffers (the bbolt file
   * followed by its 32-byte SHA-256), with flow control: etcd sends more only as the
   * consumer pulls. Same endpoint, TLS material and token as the other calls.
   */
  async *snapshot(signal?: AbortSignal): AsyncGenerator<Buffer> {
    try {
      yield* snapshotStream({
        url: this.endpoint,
        ...(this.#tls === undefined ? {} : { tls: this.#tls }),
        ...(this.#token === undefined ? {} : { token: this.#token }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (err) {
      throw etcdError(err, 'Snapshot', this.endpoint);
    }
  }

  close(): void {
    this.#channel.close();
  }
}
