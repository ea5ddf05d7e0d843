/**
 * The connection to one Kubernetes API server. Configuration and
 * authentication come from the official `@kubernetes/client-node`
 * (`KubeConfig`: kubeconfig files, contexts, exec plugins, tokens, client
 * certificates, in-cluster config). Requests themselves are plain JSON over a
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
import { KubeApiError, type KubeStatus } from './kube-api-error.ts';

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

/** How long cached auth headers are reused before asking client-node again (tokens rotate). */
const HEADER_TTL_MS = 30_000;

export class ClusterConnection {
  readonly server: string;
  readonly contextName: string;
  readonly #kc: KubeConfig;
  readonly #agent: http.Agent;
  readonly #secure: boolean;
  readonly #limiter: TokenBucket;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  #headers: { value: Record<string, string>; at: number } | undefined;
  #tlsOptions: https.RequestOptions = {};

  private constructor(kc: KubeConfig, options: ConnectOptions) {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) {
      throw new CairnError('KUBECONFIG_INVALID', `context "${kc.getCurrentContext()}" names no cluster`, {
        hint: 'Check the kubeconfig (kubectl config view) or pass --context.',
      });
    }
    this.#kc = kc;
    this.server = cluster.server.replace(/\/+$/, '');
    this.contextName = kc.getCurrentContext();
    this.#secure = this.server.startsWith('https:');
    this.#limiter = new TokenBucket(options.qps ?? 100, options.burst ?? 200);
    this.#maxAttempts = options.maxAttempts ?? 4;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    const agentOptions = { keepAlive: true, maxSockets: 64 };
    this.#agent = this.#secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** Loads the kubeconfig through client-node and prepares a connection (no request is made yet). */
  static async connect(options: ConnectOptions = {}): Promise<ClusterConnection> {
    // Loaded on first use: client-node is the heaviest import of the CLI (~130 MiB, seconds on a
    // busy machine), and commands that never talk to a cluster must not pay for it.
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    try {
      if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
      else kc.loadFromDefault();
    } catch (err) {
      throw new CairnError('KUBECONFIG_INVALID', `cannot load the kubeconfig: ${(err as Error).message}`, {
        hint: 'Pass --kubeconfig FILE, set KUBECONFIG, or run `cairn sandbox start` for a local cluster.',
        cause: err,
      });
    }
    if (options.context !== undefined) {
      if (kc.getContextObject(options.context) === null) {
        throw new CairnError(
          'KUBECONFIG_CONTEXT_UNKNOWN',
          `context "${options.context}" is not in the kubeconfig`,
          {
            hint: `Known contexts: ${
              kc
                .getContexts()
                .map((c) => c.name)
                .join(', ') || 'none'
            }.`,
          },
        );
      }
      kc.setCurrentContext(options.context);
    }
    if (kc.getCurrentCluster() === null) {
      throw new CairnError('KUBECONFIG_MISSING', 'no Kubernetes cluster is configured', {
        hint: 'Pass --kubeconfig FILE, set KUBECONFIG, or run `cairn sandbox start` for a local cluster.',
      });
    }
    const connection = new ClusterConnection(kc, options);
    await connection.#authHeaders();
    return connection;
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
    for (let attempt = 1; ; attempt++) {
      if (!options.unthrottled) await this.#limiter.take();
      try {
        return await this.#send(method, path, options);
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
    if (cached !== undefined && performance.now() - cached.at < HEADER_TTL_MS) return cached.value;
    const opts: https.RequestOptions = {};
    await this.#kc.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    const user = this.#kc.getCurrentUser();
    if (user?.username)
      headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    this.#tlsOptions = {
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
      ...(opts.cert === undefined ? {} : { cert: opts.cert }),
      ...(opts.key === undefined ? {} : { key: opts.key }),
      ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
    };
    this.#headers = { value: headers, at: performance.now() };
    return headers;
  }

  async #send(method: string, path: string, options: RequestOptions): Promise<Buffer> {
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
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('error', (err) => reject(this.#networkError(err, what)));
          response.on('end', () => {
            const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
            const status = response.statusCode ?? 0;
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
