import type { Json } from './object-meta.ts';
import type { ObjectStore, StoredObject, StoreEvent } from './store/object-store.ts';

/** A stored object's address: `<typeKey>\0<namespace>/<name>`. */
type Ref = string;

const SEP = '\u0000';
const ref = (typeKey: string, id: string): Ref => `${typeKey}${SEP}${id}`;

/**
 * The garbage collector for `metadata.ownerReferences`: when an owner is gone,
 * its dependents that have no other existing owner are deleted (and their own
 * dependents after them). Orphaning strips the owner's reference from its
 * dependents instead. Indexes are kept from the store's events, so lookups
 * never scan all objects.
 */
export class GarbageCollector {
  #store: ObjectStore;
  #byUid = new Map<string, Ref>();
  #dependents = new Map<string, Set<Ref>>();
  #delete: (typeKey: string, stored: StoredObject) => void;
  #schedule: (fn: () => void) => void;

  constructor(
    store: ObjectStore,
    deleteDependent: (typeKey: string, stored: StoredObject) => void,
    schedule: (fn: () => void) => void,
  ) {
    this.#store = store;
    this.#delete = deleteDependent;
    this.#schedule = schedule;
    store.subscribe((e) => this.#observe(e));
  }

  /** Indexes an object that was stored before the collector existed. */
  index(typeKey: string, o: StoredObject): void {
    this.#link(typeKey, o);
  }

  hasDependents(uid: string): boolean {
    return (this.#dependents.get(uid)?.size ?? 0) > 0;
  }

  /** Removes `ownerUid` from the ownerReferences of every dependent (propagationPolicy=Orphan). */
  orphan(ownerUid: string): void {
    for (const r of [...(this.#dependents.get(ownerUid) ?? [])]) {
      const [typeKey, id] = r.split(SEP) as [string, string];
      const stored = this.#lookup(typeKey, id);
      if (!stored) continue;
      const obj = stored.obj;
      const meta = obj.metadata as Json;
      const refs = Array.isArray(meta.ownerReferences) ? (meta.ownerReferences as Json[]) : [];
      const kept = refs.filter((o) => o.uid !== ownerUid);
      if (kept.length > 0) meta.ownerReferences = kept;
      else delete meta.ownerReferences;
      this.#store.put(typeKey, obj, 'MODIFIED');
    }
  }

  /** Deletes the dependents of `ownerUid` that have no other existing owner. */
  collect(ownerUid: string): void {
    for (const r of [...(this.#dependents.get(ownerUid) ?? [])]) {
      const [typeKey, id] = r.split(SEP) as [string, string];
      const stored = this.#lookup(typeKey, id);
      if (!stored) continue;
      if (stored.owners?.some((uid) => uid !== ownerUid && this.#byUid.has(uid))) continue;
      this.#delete(typeKey, stored);
    }
  }

  #lookup(typeKey: string, id: string): StoredObject | undefined {
    const slash = id.indexOf('/');
    return this.#store.get(typeKey, id.slice(0, slash), id.slice(slash + 1));
  }

  #observe(e: StoreEvent): void {
    if (e.prev) this.#unlink(e.typeKey, e.prev);
    if (e.type === 'DELETED') {
      this.#unlink(e.typeKey, e.object);
      const uid = e.object.uid;
      if (uid) {
        this.#byUid.delete(uid);
        if (this.hasDependents(uid)) this.#schedule(() => this.collect(uid));
      }
      return;
    }
    this.#link(e.typeKey, e.object);
  }

  #link(typeKey: string, o: StoredObject): void {
    const r = ref(typeKey, o.id);
    if (o.uid) this.#byUid.set(o.uid, r);
    for (const owner of o.owners ?? []) {
      let set = this.#dependents.get(owner);
      if (!set) {
        set = new Set();
        this.#dependents.set(owner, set);
      }
      set.add(r);
    }
  }

  #unlink(typeKey: string, o: StoredObject): void {
    const r = ref(typeKey, o.id);
    for (const owner of o.owners ?? []) {
      const set = this.#dependents.get(owner);
      if (!set) continue;
      set.delete(r);
      if (set.size === 0) this.#dependents.delete(owner);
    }
  }
}
