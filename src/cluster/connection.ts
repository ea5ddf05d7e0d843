/**
 * The connection to one Kubernetes API server. Configuration and
 * authentication come from the official `@kubernetes/client-node`
 * (`KubeConfig`: kubeconfig files, contexts, exec plugins, tokens, client
 * certificates, in-cluster config), resolved in a short-lived child process
 * when the credentials are static (see `kubeconfig.ts`). Requests themselves are plain JSON over a
 * keep-alive agent, on purpose: client-node's generated API deserialises into
 * typed models, which drops fields it does not know and rewrites timestamps —
 * a backup must keep every object byte-for-byte as the server returned it
 * (Velero uses client-go's unstructured dynamic client for the same reason),
 * and skipping model mapping is what lets backup run close to a bare LIST.
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { CairnError } from '../errors/cairn-error.ts';
import { TokenBucket } from '../util/rate-limit.ts';
import type { BufferPool, PooledBytes } from './buffer-pool.ts';
import { KubeApiError, type KubeStatus } from './kube-api-error.ts';
import { contextAuth, loadKubeConfig, type ResolvedContext, resolveKubeconfig } from './kubeconfig.ts';

export interface ConnectOptions {
  /** Kubeconfig file; default: $KUBECONFIG, ~/.kube/config, or in-cluster config. */
  readonly kubeconfig?: string;
  readonly context?: string;
  /** Client-side budget (default 100 qps, burst 200: a backup is a burst of LISTs). */
  readonly qps?: number;
  readonly burst?: number;
  /** Attempts for throttled/5xx/reset requests (default 4). */
  readonly maxAttempts?: number;
  /** Per-request timeout in ms (default 60 s). */
  readonly timeoutMs?: number;
}

export interface RequestOptions {
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly body?: unknown;
  readonly contentType?: string;
  /** Exempt from the QPS budget (e.g. polling a single object). */
  readonly unthrottled?: boolean;
}

/** Options of {@link ClusterConnection.requestPooled}. */
export interface PooledRequestOptions extends RequestOptions {
  readonly pool: BufferPool;
}

/** How long cached auth headers are reused before asking client-node again (tokens rotate). */
const HEADER_TTL_MS = 30_000;

export class ClusterConnection {
  readonly server: string;
  readonly contextName: string;
  /** In-process client-node, kept only when the credentials rotate. */
  readonly #kc: KubeConfig | undefined;
  readonly #agent: http.Agent;
  readonly #secure: boolean;
  readonly #limiter: TokenBucket;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  #headers: { value: Record<string, string>; at: number } | undefined;
  #tlsOptions: https.RequestOptions = {};

  private constructor(context: ResolvedContext, kc: KubeConfig | undefined, options: ConnectOptions) {
    this.#kc = kc;
    this.server = context.server;
    this.contextName = context.contextName;
    this.#secure = this.server.startsWith('https:');
    this.#limiter = new TokenBucket(options.qps ?? 100, options.burst ?? 200);
    this.#maxAttempts = options.maxAttempts ?? 4;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    const agentOptions = { keepAlive: true, maxSockets: 64 };
    this.#agent = this.#secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.#useAuth(context);
  }

  /** Loads the kubeconfig through client-node and prepares a connection (no request is made yet). */
  static async connect(options: ConnectOptions = {}): Promise<ClusterConnection> {
    const which = {
      ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
      ...(options.context === undefined ? {} : { context: options.context }),
    };
    const resolved = await resolveKubeconfig(which);
    if (resolved?.static) return new ClusterConnection(resolved, undefined, options);
    // Rotating credentials (or no answer from the child): client-node stays loaded and is asked again.
    const kc = await loadKubeConfig(which);
    return new ClusterConnection(await contextAuth(kc), kc, options);
  }

  /** Sends one request and parses the JSON answer; API errors become KubeApiError, network errors CLUSTER_UNREACHABLE. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const text = (await this.requestBytes(method, path, options)).toString('utf8');
    try {
      return (text === '' ? {} : JSON.parse(text)) as T;
    } catch {
      throw new CairnError(
        'KUBE_BAD_RESPONSE',
        `${method} ${path}: the API server answered with non-JSON`,
        {},
      );
    }
  }

  /**
   * Sends one request and returns the successful answer's body as bytes, unparsed (a backup
   * stores LIST items exactly as the server sent them). Errors as {@link request}.
   */
  async requestBytes(method: string, path: string, options: RequestOptions = {}): Promise<Buffer> {
    return this.#withRetries(options, () => this.#send(method, path, options));
  }

  /**
   * As {@link requestBytes}, with the body read into a buffer of `options.pool`; the caller
   * releases it once done with the bytes (error answers never use the pool).
   */
  async requestPooled(method: string, path: string, options: PooledRequestOptions): Promise<PooledBytes> {
    return this.#withRetries(options, async () => {
      const { pool } = options;
      const bytes = await this.#send(method, path, options, pool);
      // The pool's buffers are whole ArrayBuffers of their own (allocUnsafeSlow), so the view's
      // ArrayBuffer is the buffer to give back.
      const whole = Buffer.from(bytes.buffer, 0, bytes.buffer.byteLength);
      return { bytes, release: () => pool.release(whole) };
    });
  }

  async #withRetries<T>(options: RequestOptions, send: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (!options.unthrottled) await this.#limiter.take();
      try {
        return await send();
      } catch (err) {
        const retryable =
          (err instanceof KubeApiError && err.retryable) ||
          (err instanceof CairnError && err.code === 'CLUSTER_CONNECTION_RESET');
        if (!retryable || attempt >= this.#maxAttempts) throw err;
        await sleep(Math.min(5000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
      }
    }
  }

  close(): void {
    this.#agent.destroy();
  }

  /**
   * Opens a long-running GET (a watch) and resolves with the response once its
   * headers arrived; the caller reads the body as it streams and destroys it to
   * stop. No client-side timeout: a watch is ended by the server's
   * `timeoutSeconds` or by the caller. Non-2xx answers become KubeApiError.
   */
  async openStream(path: string, query: RequestOptions['query'] = {}): Promise<http.IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers = { ...(await this.#authHeaders()), Accept: 'application/json', 'User-Agent': 'cairn' };
    const what = `GET ${url.pathname} (stream)`;
    return new Promise((resolve, reject) => {
      const request = (this.#secure ? https : http).request(
        url,
        { method: 'GET', headers, ...(this.#secure ? this.#tlsOptions : {}) },
        (response) => {
          const status = response.statusCode ?? 0;
          if (status < 400) return resolve(response);
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('error', (err) => reject(this.#networkError(err, what)));
          response.on('end', () => {
            let parsed: KubeStatus = {};
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as KubeStatus;
            } catch {}
            reject(new KubeApiError(status, what, parsed));
          });
        },
      );
      request.on('error', (err) => reject(this.#networkError(err, what)));
      request.end();
    });
  }

  async #authHeaders(): Promise<Record<string, string>> {
    const cached = this.#headers;
    if (cached !== undefined && (this.#kc === undefined || performance.now() - cached.at < HEADER_TTL_MS))
      return cached.value;
    if (this.#kc !== undefined) this.#useAuth(await contextAuth(this.#kc));
    return (this.#headers as { value: Record<string, string> }).value;
  }

  #useAuth(context: ResolvedContext): void {
    const { ca, cert, key, rejectUnauthorized } = context.tls;
    this.#tlsOptions = {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
    };
    this.#headers = { value: { ...context.headers }, at: performance.now() };
  }

  /** One request; with `pool`, a successful body is read into a pooled buffer (see requestPooled). */
  async #send(method: string, path: string, options: RequestOptions, pool?: BufferPool): Promise<Buffer> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(options.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = {
      ...(await this.#authHeaders()),
      Accept: 'application/json',
      'User-Agent': 'cairn',
      ...(body === undefined
        ? {}
        : {
            'Content-Type': options.contentType ?? 'application/json',
            'Content-Length': String(body.length),
          }),
    };
    const what = `${method} ${url.pathname}`;
    return new Promise<Buffer>((resolve, reject) => {
      const request = (this.#secure ? https : http).request(
        url,
        {
          method,
          headers,
          agent: this.#agent,
          timeout: this.#timeoutMs,
          ...(this.#secure ? this.#tlsOptions : {}),
        },
        (response) => {
          const status = response.statusCode ?? 0;
          if (pool !== undefined && status < 400)
            return this.#readPooled(response, pool, what, resolve, reject);
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('error', (err) => reject(this.#networkError(err, what)));
          response.on('end', () => {
            const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
            if (status < 400) return resolve(bytes);
            const text = bytes.toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              return reject(new KubeApiError(status, what, { message: text.slice(0, 300) }));
            }
            reject(new KubeApiError(status, what, parsed as KubeStatus));
          });
        },
      );
      request.on('timeout', () =>
        request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
      );
      request.on('error', (err) => reject(this.#networkError(err, what)));
      request.end(body);
    });
  }

  /** Reads a successful body into a pooled buffer, moving to a bigger one when it outgrows it. */
  #readPooled(
    response: http.IncomingMessage,
    pool: BufferPool,
    what: string,
    resolve: (bytes: Buffer) => void,
    reject: (err: Error) => void,
  ): void {
    const length = Number(response.headers['content-length']);
    let buffer = pool.take(Number.isSafeInteger(length) ? length : 0);
    let used = 0;
    response.on('data', (chunk: Buffer) => {
      if (used + chunk.length > buffer.length) {
        const bigger = pool.take(Math.max(used + chunk.length, 2 * buffer.length));
        buffer.copy(bigger, 0, 0, used);
        pool.release(buffer);
        buffer = bigger;
      }
      chunk.copy(buffer, used);
      used += chunk.length;
    });
    response.on('error', (err) => {
      pool.release(buffer);
      reject(this.#networkError(err, what));
    });
    response.on('end', () => resolve(buffer.subarray(0, used)));
  }

  #networkError(err: Error & { code?: string }, what: string): CairnError {
    const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ETIMEDOUT';
    return new CairnError(
      reset ? 'CLUSTER_CONNECTION_RESET' : 'CLUSTER_UNREACHABLE',
      `cannot reach the Kubernetes API server at ${this.server} (${what}): ${err.message}`,
      {
        hint: `Check that the API server at ${this.server} is running and reachable, and that context "${this.contextName}" is the one you meant.`,
        cause: err,
      },
    );
  }
}
