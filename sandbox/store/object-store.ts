import type { AppendRecord, Persistence } from './persistence.ts';

export type Json = Record<string, unknown>;

/**
 * An object as stored: its JSON text (served as is, never re-serialised), its
 * revision, its `namespace/name` id and its labels (kept parsed for label
 * selectors). The parsed object is not kept — half the memory per object —
 * `obj` parses a fresh copy on each access, which callers may change.
 */
export class StoredObject {
  readonly json: string;
  readonly rv: number;
  readonly id: string;
  readonly labels: Readonly<Record<string, string>> | undefined;
  readonly uid: string | undefined;
  /** uids of `metadata.ownerReferences`, for the garbage collector. */
  readonly owners: readonly string[] | undefined;
  /** True when `metadata.deletionTimestamp` is set. */
  readonly deleting: boolean;

  constructor(
    json: string,
    rv: number,
    id: string,
    labels: Readonly<Record<string, string>> | undefined,
    uid?: string,
    owners?: readonly string[],
    deleting = false,
  ) {
    this.json = json;
    this.rv = rv;
    this.id = id;
    this.labels = labels;
    this.uid = uid;
    this.owners = owners;
    this.deleting = deleting;
  }

  /** Wraps an object written now (labels and owner uids are copied, the object is not kept). */
  static of(obj: Json, rv: number): StoredObject {
    const meta = (obj.metadata ?? {}) as Json;
    const labels = meta.labels;
    const refs = Array.isArray(meta.ownerReferences) ? meta.ownerReferences : [];
    const owners = refs
      .map((r) => (typeof r === 'object' && r !== null ? (r as Json).uid : undefined))
      .filter((u): u is string => typeof u === 'string' && u !== '');
    return new StoredObject(
      JSON.stringify(obj),
      rv,
      idOf(typeof meta.namespace === 'string' ? meta.namespace : '', String(meta.name ?? '')),
      typeof labels === 'object' && labels !== null && !Array.isArray(labels)
        ? { ...(labels as Record<string, string>) }
        : undefined,
      typeof meta.uid === 'string' ? meta.uid : undefined,
      owners.length > 0 ? owners : undefined,
      meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    );
  }

  /** A freshly parsed copy of the object. */
  get obj(): Json {
    return JSON.parse(this.json) as Json;
  }

  get namespace(): string {
    return this.id.slice(0, this.id.indexOf('/'));
  }

  get name(): string {
    return this.id.slice(this.id.indexOf('/') + 1);
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A change, as kept in the event log and fanned out to watchers. */
export interface StoreEvent {
  readonly type: WatchEventType;
  readonly rv: number;
  /** Resource type key `<group>/<resource>`. */
  readonly typeKey: string;
  readonly namespace: string;
  readonly object: StoredObject;
  /** The object before a MODIFIED event (lets selector-filtered watches see transitions). */
  readonly prev?: StoredObject;
}

export interface ObjectStoreOptions {
  /** How many events the log keeps for watch replay and continue tokens. */
  eventLogSize?: number;
  persistence?: Persistence;
}

/**
 * In-memory object store with one cluster-wide resourceVersion counter (like
 * etcd's revision), a bounded event log for watch replay, and optional
 * persistence. Stored objects are immutable; `obj` hands out parsed copies.
 *
 * Guarantees: every write gets a strictly greater revision than the previous
 * one; `list` returns objects ordered by `namespace/name`; an event is delivered
 * to subscribers synchronously, after the write is visible to `get`.
 */
export class ObjectStore {
  #types = new Map<string, Map<string, StoredObject>>();
  #sorted = new Map<string, string[]>();
  #revision = 0;
  #log: StoreEvent[] = [];
  #compacted = 0;
  #listCompacted = 0;
  #logSize: number;
  #listeners = new Set<(e: StoreEvent) => void>();
  #persistence: Persistence | undefined;

  constructor(options: ObjectStoreOptions = {}) {
    this.#logSize = options.eventLogSize ?? 20_000;
    this.#persistence = options.persistence;
  }

  /**
   * Loads what the persistence holds (call once, before serving). The store
   * continues from the persisted revision; history before it is not replayable.
   */
  async load(): Promise<void> {
    if (!this.#persistence) return;
    const { records, revision } = await this.#persistence.load();
    for (const rec of records) {
      const objects = this.#objects(rec.typeKey);
      if (rec.obj) {
        const meta = rec.obj.metadata as Json;
        meta.resourceVersion = String(rec.rv);
        objects.set(rec.id, StoredObject.of(rec.obj, rec.rv));
      } else {
        objects.delete(rec.id);
      }
      this.#sorted.delete(rec.typeKey);
      if (rec.rv > this.#revision) this.#revision = rec.rv;
    }
    if (revision > this.#revision) this.#revision = revision;
    this.#compacted = this.#revision;
    this.#listCompacted = this.#revision;
    await this.#persistence.loaded(this.#snapshot());
  }

  /**
   * Resolves once every write so far is durable (immediately without
   * persistence); rejects when the persistence failed.
   */
  flush(): Promise<void> {
    return this.#persistence ? this.#persistence.flush() : RESOLVED;
  }

  /** The newest revision handed out. */
  get revision(): number {
    return this.#revision;
  }

  /** Revisions at or below this are gone from the event log (410 Gone). */
  get compactedRevision(): number {
    return this.#compacted;
  }

  /**
   * Continue tokens of lists at revisions below this are too old (410). Unlike
   * watch history (bounded by the event log) this moves only on compaction
   * ticks, like etcd's periodic compaction behind a real API server, so heavy
   * write traffic does not expire the tokens of a paginated list in seconds.
   */
  get listCompactedRevision(): number {
    return this.#listCompacted;
  }

  /** Expires continue tokens of lists older than `rv` (a compaction tick). */
  compactListsBefore(rv: number): void {
    if (rv > this.#listCompacted) this.#listCompacted = Math.min(rv, this.#revision);
  }

  get(typeKey: string, namespace: string, name: string): StoredObject | undefined {
    return this.#types.get(typeKey)?.get(idOf(namespace, name));
  }

  count(typeKey: string): number {
    return this.#types.get(typeKey)?.size ?? 0;
  }

  /**
   * Objects of a type in `namespace/name` order, optionally within one namespace
   * and strictly after the id `after` (a continue position).
   */
  *list(typeKey: string, namespace?: string, after?: string): Generator<StoredObject> {
    const objects = this.#types.get(typeKey);
    if (!objects) return;
    const ids = this.#sortedIds(typeKey, objects);
    const prefix = namespace === undefined ? '' : `${namespace}/`;
    let start = 0;
    const from = after !== undefined && after > prefix ? after : prefix;
    start = lowerBound(ids, from);
    if (after !== undefined && ids[start] === after) start++;
    for (let i = start; i < ids.length; i++) {
      const id = ids[i] as string;
      if (prefix && !id.startsWith(prefix)) break;
      const o = objects.get(id);
      if (o) yield o;
    }
  }

  /** Stores a new or changed object, stamping `metadata.resourceVersion`. */
  put(typeKey: string, obj: Json, type: 'ADDED' | 'MODIFIED'): StoredObject {
    const rv = ++this.#revision;
    const meta = obj.metadata as Json;
    meta.resourceVersion = String(rv);
    const stored = StoredObject.of(obj, rv);
    const id = stored.id;
    const namespace = stored.namespace;
    const objects = this.#objects(typeKey);
    const prev = objects.get(id);
    if (!prev) this.#sorted.delete(typeKey);
    objects.set(id, stored);
    this.#persistence?.append({ typeKey, id, rv, json: stored.json });
    this.#emit(
      prev
        ? { type, rv, typeKey, namespace, object: stored, prev }
        : { type, rv, typeKey, namespace, object: stored },
    );
    return stored;
  }

  /** Removes an object; `last` is the object as it is announced in the DELETED event. */
  remove(typeKey: string, last: Json): StoredObject {
    const rv = ++this.#revision;
    const meta = last.metadata as Json;
    meta.resourceVersion = String(rv);
    const stored = StoredObject.of(last, rv);
    const id = stored.id;
    const objects = this.#types.get(typeKey);
    if (objects?.delete(id)) this.#sorted.delete(typeKey);
    this.#persistence?.append({ typeKey, id, rv, json: null });
    this.#emit({ type: 'DELETED', rv, typeKey, namespace: stored.namespace, object: stored });
    return stored;
  }

  /** Events after `rv`, or 'expired' when the log no longer reaches back that far. */
  eventsSince(rv: number): StoreEvent[] | 'expired' {
    if (rv < this.#compacted) return 'expired';
    let lo = 0;
    let hi = this.#log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#log[mid] as StoreEvent).rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.#log.slice(lo);
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Forgets the whole event log (what etcd compaction does); for tests. */
  compact(): void {
    this.#log = [];
    this.#compacted = this.#revision;
    this.#listCompacted = this.#revision;
  }

  async close(): Promise<void> {
    await this.#persistence?.close();
  }

  #emit(e: StoreEvent): void {
    this.#log.push(e);
    if (this.#log.length > this.#logSize + (this.#logSize >> 2)) {
      const drop = this.#log.length - this.#logSize;
      this.#compacted = (this.#log[drop - 1] as StoreEvent).rv;
      this.#log.splice(0, drop);
    }
    for (const l of this.#listeners) l(e);
  }

  #objects(typeKey: string): Map<string, StoredObject> {
    let m = this.#types.get(typeKey);
    if (!m) {
      m = new Map();
      this.#types.set(typeKey, m);
    }
    return m;
  }

  #sortedIds(typeKey: string, objects: Map<string, StoredObject>): string[] {
    let ids = this.#sorted.get(typeKey);
    if (!ids) {
      ids = [...objects.keys()].sort();
      this.#sorted.set(typeKey, ids);
    }
    return ids;
  }

  *#snapshot(): Generator<AppendRecord> {
    for (const [typeKey, objects] of this.#types) {
      for (const [id, o] of objects) yield { typeKey, id, rv: o.rv, json: o.json };
    }
  }
}

const RESOLVED = Promise.resolve();

function idOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function lowerBound(ids: string[], key: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((ids[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
