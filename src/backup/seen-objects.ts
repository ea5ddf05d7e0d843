/**
 * Which listed objects a backup already stored, for the two cases where one
 * collection is listed more than once: several label selectors (OR-ed, one
 * listing each) and a relist from the start after a 410 (the continue token
 * expired).
 *
 * A Set of every `namespace/name` cost ~0.13 s of main-thread CPU and the GC
 * of 58k strings kept alive for the 100k-object benchmark's ConfigMaps, for a
 * relist that almost never happens. So with one selector only a bound is
 * kept: the API server returns a LIST in key order (etcd keys
 * `…/<namespace>/<name>`; continue tokens are built on that), so the objects
 * stored before a relist are the keys up to the greatest one stored, and the
 * relist skips those. Should a server answer out of key order, keys are
 * remembered one by one from then on, and a relist of that listing is
 * refused (see {@link relist}). An object created at a key below the bound
 * between the two listings is left out, like any object created while a
 * backup runs.
 */
export class SeenObjects {
  /** Keys remembered one by one (several selectors, or keys that came out of order). */
  #set: Set<string> | undefined;
  /** Greatest key stored while keys came in order. */
  #last: string | undefined;
  /** Keys up to this one were stored by an earlier listing (after a relist). */
  #bound: string | undefined;
  #ordered = true;
  readonly #rememberAll: boolean;

  /** `rememberAll`: several selectors will list the collection, so every key is remembered. */
  constructor(rememberAll: boolean) {
    this.#rememberAll = rememberAll;
    if (rememberAll) this.#set = new Set();
  }

  /** Whether the object is new; if so, it counts as stored from now on. */
  add(namespace: string | undefined, name: string | undefined): boolean {
    const key = `${namespace ?? ''}/${name ?? ''}`;
    if (this.#bound !== undefined && key <= this.#bound) return false;
    if (this.#set !== undefined) {
      if (this.#set.has(key)) return false;
      this.#set.add(key);
      if (!this.#ordered) return true;
    }
    if (this.#ordered && (this.#last === undefined || key > this.#last)) {
      this.#last = key;
      return true;
    }
    // Out of key order (or seen again while in order: an answer repeating an object).
    if (this.#ordered && key === this.#last) return false;
    this.#ordered = false;
    this.#set ??= new Set();
    this.#set.add(key);
    return true;
  }

  /**
   * The collection is being listed again from the start (410): what was stored stays stored.
   * False when that cannot be told: the server answered out of key order and not every key was
   * remembered, so a key below the bound may simply not have come yet. The caller then fails
   * the listing rather than lose or double objects.
   */
  relist(): boolean {
    if (this.#rememberAll) {
      // Every key is in the Set: no bound (it would also skip keys another selector's listing
      // never returned).
      this.#last = undefined;
      this.#ordered = true;
      return true;
    }
    if (!this.#ordered) return false;
    if (this.#last !== undefined && (this.#bound === undefined || this.#last > this.#bound))
      this.#bound = this.#last;
    this.#last = undefined;
    return true;
  }
}
