/**
 * The CLI's access to Cairn's custom resources: connection flags, and
 * create/get/list/patch/delete of `cairn.dev` objects in Cairn's namespace
 * through ClusterConnection. These commands only write resources — the
 * controller does the work — so they run whether or not it is up.
 */
import type { Command } from 'commander';
import { API_VERSION, DEFAULT_NAMESPACE } from '../api/common.ts';
import { cairnResourcePath } from '../api/group-version.ts';
import { ClusterConnection } from '../cluster/connection.ts';
import { isKubeStatus, KubeApiError } from '../cluster/kube-api-error.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { cairnApiServes } from './cairn-api.ts';
import { parseOutputFormat, printStructured } from './output.ts';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
  namespace: string;
}

/** `--kubeconfig`, `--context`, `-n/--namespace` (Cairn's namespace, default cairn-system). */
export function addKubeOptions(command: Command): Command {
  return command
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('-n, --namespace <name>', "Cairn's namespace", DEFAULT_NAMESPACE);
}

export function connectFromFlags(flags: KubeFlags): Promise<ClusterConnection> {
  return ClusterConnection.connect({
    ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }),
    ...(flags.context === undefined ? {} : { context: flags.context }),
  });
}

export interface CairnObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    creationTimestamp?: string;
    resourceVersion?: string;
  };
  spec?: unknown;
  status?: unknown;
}

/** Cairn's resources of one namespace. */
export class CairnResources {
  readonly connection: ClusterConnection;
  readonly namespace: string;

  constructor(connection: ClusterConnection, namespace: string) {
    this.connection = connection;
    this.namespace = namespace;
  }

  #path(plural: string, name?: string): string {
    return cairnResourcePath(this.namespace, plural, name);
  }

  /** Turns "the API group is not served" into an error that says to install Cairn. */
  async #notInstalled(err: unknown, plural: string): Promise<never> {
    if (isKubeStatus(err, 404)) {
      const served = await cairnApiServes(this.connection, plural).catch(() => false);
      if (!served)
        throw new CairnError('CAIRN_NOT_INSTALLED', `the cluster does not serve ${plural}.${API_VERSION}`, {
          hint: "Install Cairn's CRDs and controller with `cairn install` (or check --context).",
          cause: err,
        });
    }
    throw err;
  }

  async list<T extends CairnObject>(plural: string, labelSelector?: string): Promise<T[]> {
    try {
      const list = await this.connection.request<{ items?: T[] }>('GET', this.#path(plural), {
        ...(labelSelector === undefined ? {} : { query: { labelSelector } }),
      });
      return list.items ?? [];
    } catch (err) {
      return this.#notInstalled(err, plural);
    }
  }

  /** The object, or undefined when it does not exist. */
  async find<T extends CairnObject>(plural: string, name: string): Promise<T | undefined> {
    try {
      return await this.connection.request<T>('GET', this.#path(plural, name));
    } catch (err) {
      if (isKubeStatus(err, 404)) {
        await this.list(plural); // throws CAIRN_NOT_INSTALLED when the kind is not served
        return undefined;
      }
      throw err;
    }
  }

  /** The object; a NOT_FOUND error naming near matches when it does not exist. */
  async get<T extends CairnObject>(plural: string, kind: string, name: string): Promise<T> {
    const found = await this.find<T>(plural, name);
    if (found !== undefined) return found;
    const others = (await this.list(plural)).map((o) => o.metadata.name);
    throw new CairnError(
      `${kind.toUpperCase()}_NOT_FOUND`,
      `${kind} "${name}" does not exist in namespace ${this.namespace}`,
      {
        hint:
          others.length > 0
            ? `Existing: ${others.slice(0, 10).join(', ')}${others.length > 10 ? ', …' : ''}.`
            : `There are none in ${this.namespace}; pass -n if Cairn is installed elsewhere.`,
      },
    );
  }

  async create<T extends CairnObject>(plural: string, object: T): Promise<T> {
    try {
      return await this.connection.request<T>('POST', this.#path(plural), { body: object });
    } catch (err) {
      if (isKubeStatus(err, 409))
        throw new CairnError(
          'ALREADY_EXISTS',
          `${object.kind} "${object.metadata.name}" already exists in ${this.namespace}`,
          {
            hint: 'Pick another name, or delete the existing one first.',
            cause: err,
          },
        );
      if (err instanceof KubeApiError && (err.status === 422 || err.status === 400))
        throw new CairnError(
          'INVALID_RESOURCE',
          `the API server rejected ${object.kind} "${object.metadata.name}": ${err.kubeStatus?.message ?? err.message}`,
          {
            hint: 'Fix the flags named above and run the command again.',
            cause: err,
          },
        );
      return this.#notInstalled(err, plural);
    }
  }

  /** JSON merge patch of the main resource (not status). */
  async mergePatch<T extends CairnObject>(plural: string, name: string, patch: unknown): Promise<T> {
    return this.connection.request<T>('PATCH', this.#path(plural, name), {
      body: patch,
      contentType: 'application/merge-patch+json',
    });
  }

  async delete(plural: string, name: string): Promise<void> {
    await this.connection.request('DELETE', this.#path(plural, name));
  }
}

/** `3d`, `5h`, `12m`, `40s` — kubectl's AGE column. */
export function shortAge(from: string | undefined, now: Date): string {
  if (from === undefined) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(from)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 2 * 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** A kubectl-style table: columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `${cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd()}\n`;
  return line(header) + rows.map(line).join('');
}

/** How `<noun> get` shows one kind of Cairn resource as a table. */
export interface ResourceTable<T extends CairnObject> {
  readonly plural: string;
  readonly kind: string;
  /** Plural for people, in "No <noun> in <namespace>." */
  readonly noun: string;
  readonly columns: string[];
  readonly row: (item: T, now: Date) => string[];
  /** Lines printed after the table (e.g. why a location is unavailable). */
  readonly notes?: (item: T) => string | undefined;
}

/** `<noun> get [NAME] [-o text|json|yaml]`: one resource or all of them, as a table or a List. */
export function addGetCommand<T extends CairnObject>(
  parent: Command,
  out: (text: string) => void,
  shape: ResourceTable<T>,
): void {
  addKubeOptions(
    parent
      .command('get')
      .argument('[name]', `one ${shape.kind} (default: all)`)
      .description(`list ${shape.noun} and their status`)
      .option('-o, --output <format>', 'text, json or yaml', 'text'),
  ).action(async (name: string | undefined, flags: KubeFlags & { output: string }) => {
    const format = parseOutputFormat(flags.output);
    const connection = await connectFromFlags(flags);
    try {
      const resources = new CairnResources(connection, flags.namespace);
      const items =
        name === undefined
          ? await resources.list<T>(shape.plural)
          : [await resources.get<T>(shape.plural, shape.kind, name)];
      if (format !== 'text') {
        printStructured(
          name === undefined ? { apiVersion: 'v1', kind: 'List', items } : items[0],
          format,
          out,
        );
        return;
      }
      if (items.length === 0) {
        out(`No ${shape.noun} in ${flags.namespace}.\n`);
        return;
      }
      const now = new Date();
      out(
        table(
          shape.columns,
          items.map((item) => shape.row(item, now)),
        ),
      );
      for (const item of items) {
        const note = shape.notes?.(item);
        if (note !== undefined) out(`${item.metadata.name}: ${note}\n`);
      }
    } finally {
      connection.close();
    }
  });
}

/** Refuses a resource its validation found problems in, listing every one. */
export function refuseInvalid(
  code: string,
  what: string,
  problems: readonly string[],
  command: string,
): void {
  if (problems.length === 0) return;
  throw new CairnError(code, `${what} is invalid:\n  ${problems.join('\n  ')}`, {
    hint: `Fix the flags above; see \`${command} --help\`.`,
  });
}

/**
 * `-o yaml|json` on a create command: prints the resource instead of
 * submitting it (true), or returns false when no output was asked for.
 */
export function printInsteadOfSubmitting(
  output: string | undefined,
  resource: unknown,
  out: (s: string) => void,
): boolean {
  if (output === undefined) return false;
  const format = parseOutputFormat(output);
  if (format === 'text')
    throw new CairnError('CLI_INVALID_OUTPUT', '-o text is not a resource format', {
      hint: 'Use -o yaml or -o json.',
    });
  printStructured(resource, format, out);
  return true;
}
