import type { AppendRecord, PersistedRecord, Persistence } from './persistence.ts';

type Json = Record<string, unknown>;

/** Groups without a dot in their name; every other group name contains one. */
const UNDOTTED_GROUPS = new Set(['apps', 'batch', 'policy', 'autoscaling', 'extensions']);

/** `/registry/<group>/<resource>/<namespace>/<name>` (no group segment for the core group). */
export function registryKey(typeKey: string, id: string): string {
  const slash = typeKey.indexOf('/');
  const group = typeKey.slice(0, slash);
  const resource = typeKey.slice(slash + 1);
  const idSlash = id.indexOf('/');
  const namespace = id.slice(0, idSlash);
  const name = id.slice(idSlash + 1);
  return `/registry/${group ? `${group}/` : ''}${resource}/${namespace ? `${namespace}/` : ''}${name}`;
}

/** Inverse of {@link registryKey}; undefined for keys the sandbox did not write. */
export function parseRegistryKey(key: string): { typeKey: string; id: string } | undefined {
  if (!key.startsWith('/registry/')) return undefined;
  const parts = key.slice('/registry/'.length).split('/');
  let group = '';
  if (parts.length >= 3 && (UNDOTTED_GROUPS.has(parts[0] as string) || (parts[0] as string).includes('.')))
    group = parts.shift() as string;
  const resource = parts.shift();
  if (!resource || parts.length < 1 || parts.length > 2 || parts.some((p) => p === '')) return undefined;
  const namespace = parts.length === 2 ? (parts[0] as string) : '';
  const name = parts[parts.length - 1] as string;
  return { typeKey: `${group}/${resource}`, id: `${namespace}/${name}` };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

interface RangeResponse {
  header?: { revision?: string };
  kvs?: Array<{ key: string; value?: string; mod_revision?: string }>;
  more?: boolean;
}

/**
 * Objects in a real etcd (v3 API through etcd's JSON gateway, so no gRPC client
 * is needed), one key per object with the object's JSON as value, and etcd
 * revisions as resourceVersions. The sandbox keeps serving from memory; writes
 * go to etcd one at a time in revision order, and each must land at exactly the
 * revision the sandbox stamped on the object — which holds as long as the
 * sandbox is etcd's only writer. A mismatch (someone else wrote) fails the
 * write loudly instead of serving resourceVersions etcd does not have.
 */
export class EtcdPersistence implements Persistence {
  #endpoint: string;
  #tail: Promise<void> = Promise.resolve();
  #failure: Error | undefined;

  constructor(url: string) {
    const first = url.split(',')[0]?.trim() ?? '';
    let parsed: URL;
    try {
      parsed = new URL(first);
    } catch {
      throw new Error(`--etcd must be a URL such as http://127.0.0.1:2379, got ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:')
      throw new Error(`--etcd supports plain http:// endpoints only, got ${first}`);
    this.#endpoint = parsed.origin;
  }

  async #call(path: string, body: Json): Promise<Json> {
    let res: Response;
    try {
      res = await fetch(`${this.#endpoint}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw new Error(
        `cannot reach etcd at ${this.#endpoint}: ${(e as Error).cause ?? (e as Error).message}`,
      );
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`etcd ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as Json;
  }

  async load(): Promise<{ records: Iterable<PersistedRecord>; revision: number }> {
    const records: PersistedRecord[] = [];
    const end = b64('/registry0'); // '/' + 1: the whole /registry/ prefix
    let key = b64('/registry/');
    let revision: string | undefined;
    for (;;) {
      const page = (await this.#call('/v3/kv/range', {
        key,
        range_end: end,
        limit: 1000,
        ...(revision ? { revision } : {}),
      })) as RangeResponse;
      revision ??= page.header?.revision ?? '0';
      const kvs = page.kvs ?? [];
      for (const kv of kvs) {
        const k = unb64(kv.key);
        const where = parseRegistryKey(k);
        if (!where || !kv.value) continue;
        let obj: Json;
        try {
          obj = JSON.parse(unb64(kv.value)) as Json;
        } catch {
          continue; // not written by the sandbox (e.g. a real apiserver's protobuf)
        }
        records.push({ ...where, rv: Number(kv.mod_revision ?? 0), obj });
      }
      const last = kvs[kvs.length - 1];
      if (!page.more || !last) break;
      key = b64(`${unb64(last.key)}\u0000`);
    }
    return { records, revision: Number(revision ?? 0) };
  }

  async loaded(): Promise<void> {}

  append(rec: AppendRecord): void {
    this.#tail = this.#tail.then(() => this.#write(rec));
  }

  async #write(rec: AppendRecord): Promise<void> {
    if (this.#failure) throw this.#failure;
    const key = b64(registryKey(rec.typeKey, rec.id));
    try {
      const reply =
        rec.json !== null
          ? await this.#call('/v3/kv/put', { key, value: b64(rec.json) })
          : await this.#call('/v3/kv/deleterange', { key });
      const revision = Number((reply.header as Json | undefined)?.revision ?? Number.NaN);
      if (revision !== rec.rv)
        throw new Error(
          `etcd stored ${registryKey(rec.typeKey, rec.id)} at revision ${revision}, but the sandbox gave it resourceVersion ${rec.rv}: another client writes to this etcd (the sandbox must be its only writer)`,
        );
    } catch (e) {
      this.#failure = e as Error;
      throw e;
    }
  }

  flush(): Promise<void> {
    return this.#tail;
  }

  async close(): Promise<void> {
    await this.#tail.catch(() => {});
  }
}
