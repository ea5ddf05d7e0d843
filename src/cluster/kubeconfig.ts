/**
 * Loading a kubeconfig context through the official `@kubernetes/client-node`
 * (files, $KUBECONFIG, contexts, in-cluster config, exec plugins, tokens,
 * client certificates) and turning it into what a request needs: the server
 * URL, auth headers and TLS material.
 *
 * client-node is the heaviest module Cairn loads: importing it costs ~76 MiB
 * of RSS and ~55 MB of live JS heap (mostly the sources and code of its
 * generated API), which every major GC of a long backup or restore then
 * walks — in the resources benchmark it was a quarter of the 300 MB budget.
 * So `resolveKubeconfig` runs this module as a short-lived child process
 * (`node kubeconfig.ts '{"kubeconfig":…}'`), which prints the resolved context
 * as JSON and exits. When the credentials can change during a run (an exec
 * plugin or auth provider issuing short-lived tokens, in-cluster token
 * files), the caller loads client-node in-process instead and asks it again
 * as tokens rotate.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import { CairnError } from '../errors/cairn-error.ts';

export interface KubeconfigOptions {
  /** Kubeconfig file; default: $KUBECONFIG, ~/.kube/config, or in-cluster config. */
  readonly kubeconfig?: string;
  readonly context?: string;
}

/** TLS material for requests (PEM text). */
export interface ResolvedTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized?: boolean;
}

/** A kubeconfig context, resolved. */
export interface ResolvedContext {
  readonly server: string;
  readonly contextName: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly tls: ResolvedTls;
  /** False when the credentials come from an exec plugin, auth provider or token file (they rotate). */
  readonly static: boolean;
}

/** Loads the kubeconfig with client-node, in this process, with Cairn's errors for bad input. */
export async function loadKubeConfig(options: KubeconfigOptions): Promise<KubeConfig> {
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
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    if (kc.getCurrentContext() && kc.getContextObject(kc.getCurrentContext()) !== null)
      throw new CairnError('KUBECONFIG_INVALID', `context "${kc.getCurrentContext()}" names no cluster`, {
        hint: 'Check the kubeconfig (kubectl config view) or pass --context.',
      });
    throw new CairnError('KUBECONFIG_MISSING', 'no Kubernetes cluster is configured', {
      hint: 'Pass --kubeconfig FILE, set KUBECONFIG, or run `cairn sandbox start` for a local cluster.',
    });
  }
  return kc;
}

/** Asks client-node for the current context's headers and TLS material (tokens may be fetched or refreshed). */
export async function contextAuth(kc: KubeConfig): Promise<ResolvedContext> {
  const opts: import('node:https').RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
  const user = kc.getCurrentUser();
  if (user?.username)
    headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
  const pem = (value: unknown) =>
    value === undefined ? undefined : Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  const ca = pem(opts.ca);
  const cert = pem(opts.cert);
  const key = pem(opts.key);
  return {
    server: (kc.getCurrentCluster()?.server ?? '').replace(/\/+$/, ''),
    contextName: kc.getCurrentContext(),
    headers,
    tls: {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
    },
    static: user?.exec === undefined && user?.authProvider === undefined,
  };
}

type ChildAnswer =
  | ({ readonly ok: true } & ResolvedContext)
  | { readonly ok: false; readonly code: string; readonly message: string; readonly hint?: string };

/**
 * Resolves the context in a child process (see the module comment). Returns
 * undefined when the child could not answer at all (then the caller loads
 * client-node itself); throws Cairn's KUBECONFIG_* errors for bad input.
 */
export async function resolveKubeconfig(options: KubeconfigOptions): Promise<ResolvedContext | undefined> {
  let stdout: string | undefined;
  const early = prefetched;
  if (early !== undefined && early.key === keyOf(options)) {
    prefetched = undefined;
    holdOpen(early.child, true); // waited for now: it must keep the process alive again
    stdout = await early.answer;
  } else {
    stdout = await startResolver(options).answer;
  }
  let answer: ChildAnswer;
  try {
    answer = JSON.parse(stdout ?? '') as ChildAnswer;
  } catch {
    return undefined;
  }
  if (!answer.ok) throw new CairnError(answer.code, answer.message, answer.hint ? { hint: answer.hint } : {});
  const { ok: _ok, ...resolved } = answer;
  return resolved;
}

interface Resolver {
  readonly child: ChildProcess;
  /** The child's output; undefined when it failed. */
  readonly answer: Promise<string | undefined>;
}

function startResolver(options: KubeconfigOptions): Resolver {
  const script = fileURLToPath(import.meta.url);
  const request = JSON.stringify({ kubeconfig: options.kubeconfig, context: options.context });
  let resolveAnswer: (out: string | undefined) => void = () => {};
  const answer = new Promise<string | undefined>((resolve) => {
    resolveAnswer = resolve;
  });
  const child = execFile(process.execPath, [script, request], { maxBuffer: 16 * 1024 * 1024 }, (err, out) =>
    resolveAnswer(err ? undefined : out),
  );
  return { child, answer };
}

/** Whether the child (its process and output pipes) keeps this process alive. */
function holdOpen(child: ChildProcess, hold: boolean): void {
  for (const handle of [child, child.stdout as Socket | null, child.stderr as Socket | null]) {
    if (hold) handle?.ref();
    else handle?.unref();
  }
}

const keyOf = (options: KubeconfigOptions) => JSON.stringify([options.kubeconfig, options.context]);

let prefetched: (Resolver & { readonly key: string }) | undefined;

/**
 * Starts resolving `options` in the child process now, for a command that will connect: the
 * child's ~0.5 s then runs while the command's modules load (2 CPUs: in parallel). The next
 * {@link resolveKubeconfig} with the same options takes its answer. Until then the child does
 * not keep the process alive, so a command that ends early (bad flags, --help) does not wait.
 */
export function prefetchKubeconfig(options: KubeconfigOptions): void {
  const resolver = startResolver(options);
  holdOpen(resolver.child, false);
  prefetched = { ...resolver, key: keyOf(options) };
}

/** Forgets an unused prefetch (a CLI run ended): a later run must read the kubeconfig afresh. */
export function discardKubeconfigPrefetch(): void {
  prefetched = undefined;
}

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? '{}') as KubeconfigOptions;
  let answer: ChildAnswer;
  try {
    answer = { ok: true, ...(await contextAuth(await loadKubeConfig(options))) };
  } catch (err) {
    answer =
      err instanceof CairnError
        ? { ok: false, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) }
        : {
            ok: false,
            code: 'KUBECONFIG_INVALID',
            message: `cannot load the kubeconfig: ${(err as Error).message}`,
          };
  }
  process.stdout.write(JSON.stringify(answer));
}
