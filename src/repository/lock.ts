/**
 * Repository locks: `control/repository/locks/<id>.json`, plaintext JSON,
 * beside the config and outside the data prefix (a lifecycle rule on
 * `repository/` cannot delete them).
 *
 * - **Shared** locks (backup, restore, check, forget without prune) coexist
 *   with each other; an **exclusive** lock (prune, forget --prune, repair)
 *   coexists with nothing.
 * - A lock names its host, pid and the time it was last refreshed. The holder
 *   refreshes it every third of the expiry by writing a new lock file and
 *   then deleting the old one (files stay write-once, as everything else).
 * - A lock whose time is older than its expiry is **stale**: its holder died
 *   or lost the storage; everyone ignores it, and the next acquirer removes
 *   it. A lock from this host whose pid is no longer running is stale at once,
 *   so a `kill -9`ed backup never blocks the next prune (the VolSync-with-restic
 *   pain of hand `unlock`s).
 * - Acquiring is restic's protocol: look for conflicting locks, write ours,
 *   look again (two acquirers racing both see each other's file and the
 *   later one backs off), so an exclusive holder never overlaps a live
 *   shared one.
 */
import { randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { isStorageFailure } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { repositoryError } from './errors.ts';
import { repositoryLayout } from './format.ts';

export const LOCK_VERSION = 1;
/** A lock not refreshed for this long is stale (restic uses 30 min; a crashed pod on another host waits this long at most). */
export const DEFAULT_LOCK_EXPIRY_MS = 15 * 60 * 1000;

/** A lock file's content. */
export interface LockFile {
  readonly kind: 'CairnRepositoryLock';
  readonly version: number;
  readonly exclusive: boolean;
  /** What holds it, e.g. `backup`, `prune`. */
  readonly operation: string;
  readonly hostname: string;
  readonly pid: number;
  /** When the holder first took the lock. */
  readonly createdAt: string;
  /** When the holder last refreshed it; staleness counts from here. */
  readonly time: string;
  /** Milliseconds after `time` at which the lock is stale. */
  readonly expiryMs: number;
}

/** A lock found in storage, judged. */
export interface FoundLock {
  readonly id: string;
  readonly key: string;
  readonly lock: LockFile | undefined;
  /** Why it is stale, or undefined when it is live. */
  readonly stale: string | undefined;
}

export interface LockOptions {
  readonly exclusive: boolean;
  readonly operation: string;
  /** Keep trying this long while a conflicting live lock exists (0: fail at once). */
  readonly retryMs?: number;
  readonly expiryMs?: number;
  readonly now?: () => Date;
  readonly hostname?: string;
  readonly pid?: number;
}

/** Judges a lock: stale when expired, or from this host with a pid that no longer runs. */
export function staleReason(
  lock: LockFile | undefined,
  now: Date,
  here: { hostname: string; pid: number } = { hostname: osHostname(), pid: process.pid },
): string | undefined {
  if (lock === undefined) return 'unreadable lock file';
  const age = now.getTime() - Date.parse(lock.time);
  if (!(age <= lock.expiryMs))
    return `not refreshed for ${Math.round(age / 1000)} s (expiry ${Math.round(lock.expiryMs / 1000)} s)`;
  if (lock.hostname === here.hostname && lock.pid !== here.pid && !pidRunning(lock.pid)) {
    return `process ${lock.pid} on this host (${lock.hostname}) is not running`;
  }
  return undefined;
}

function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every lock in the repository, each judged live or stale. */
export async function listLocks(
  store: BlobStore,
  now: Date = new Date(),
  here?: { hostname: string; pid: number },
): Promise<FoundLock[]> {
  const found: FoundLock[] = [];
  for await (const info of store.list(repositoryLayout.locksPrefix())) {
    const id = info.key.slice(repositoryLayout.locksPrefix().length).replace(/\.json$/, '');
    let lock: LockFile | undefined;
    try {
      const parsed = JSON.parse((await store.get(info.key)).toString('utf8')) as LockFile;
      if (parsed?.kind === 'CairnRepositoryLock' && parsed.version === LOCK_VERSION) lock = parsed;
    } catch (err) {
      // Deleted between list and get: its holder released it.
      if (isStorageFailure(err, 'not-found')) continue;
    }
    // An unreadable lock file is judged by the storage's own modification time.
    const judged =
      lock ??
      (Date.now() - info.modified.getTime() > DEFAULT_LOCK_EXPIRY_MS
        ? undefined
        : unknownLock(info.modified));
    found.push({ id, key: info.key, lock, stale: staleReason(judged, now, here) });
  }
  return found;
}

function unknownLock(modified: Date): LockFile {
  return {
    kind: 'CairnRepositoryLock',
    version: LOCK_VERSION,
    exclusive: true,
    operation: 'unknown',
    hostname: '?',
    pid: 0,
    createdAt: modified.toISOString(),
    time: modified.toISOString(),
    expiryMs: DEFAULT_LOCK_EXPIRY_MS,
  };
}

/** Removes stale locks (every lock with `all`); returns what was removed. */
export async function removeLocks(store: BlobStore, options: { all?: boolean } = {}): Promise<FoundLock[]> {
  const removed: FoundLock[] = [];
  for (const found of await listLocks(store)) {
    if (options.all === true || found.stale !== undefined) {
      await store.delete(found.key);
      removed.push(found);
    }
  }
  return removed;
}

/** A held lock; refreshed in the background until {@link RepositoryLock.release}. */
export class RepositoryLock {
  readonly #store: BlobStore;
  readonly #file: LockFile;
  readonly #now: () => Date;
  #key: string;
  #refreshedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> = Promise.resolve();
  #released = false;

  constructor(store: BlobStore, key: string, file: LockFile, now: () => Date) {
    this.#store = store;
    this.#key = key;
    this.#file = file;
    this.#now = now;
    this.#refreshedAt = now().getTime();
    this.#timer = setInterval(
      () => {
        this.#refreshing = this.#refresh();
      },
      Math.max(1000, file.expiryMs / 3),
    );
    // A held lock must not keep a finished process alive.
    this.#timer.unref();
  }

  get key(): string {
    return this.#key;
  }

  get exclusive(): boolean {
    return this.#file.exclusive;
  }

  /**
   * Throws when the lock may have gone stale for others (refreshes failed for
   * longer than the expiry): an exclusive holder must stop before deleting.
   */
  assertHeld(): void {
    if (this.#released || this.#now().getTime() - this.#refreshedAt > this.#file.expiryMs * 0.9) {
      throw repositoryError(
        'REPOSITORY_LOCK_LOST',
        `the ${this.#file.operation} lock could not be refreshed in time`,
        {
          hint: 'Storage was unreachable for a long time; run the command again (nothing unsafe was done).',
        },
      );
    }
  }

  /** Replaces the lock file with one of a fresh time (new file first, then the old one removed). */
  async refresh(): Promise<void> {
    await this.#refreshing;
    this.#refreshing = this.#refresh();
    await this.#refreshing;
  }

  async #refresh(): Promise<void> {
    if (this.#released) return;
    const now = this.#now();
    const file: LockFile = { ...this.#file, time: now.toISOString() };
    const key = repositoryLayout.lock(newLockId());
    try {
      await this.#store.put(key, `${JSON.stringify(file, null, 2)}\n`, { contentType: 'application/json' });
      const old = this.#key;
      this.#key = key;
      this.#refreshedAt = now.getTime();
      await this.#store.delete(old);
      if (this.#released) await this.#store.delete(key);
    } catch {
      // Retried at the next interval; assertHeld() reports a lock that stayed unrefreshed too long.
    }
  }

  /** Stops refreshing and deletes the lock file. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#refreshing;
    await this.#store.delete(this.#key);
  }
}

function newLockId(): string {
  return randomBytes(32).toString('hex');
}

function conflicts(mine: boolean, theirs: FoundLock): boolean {
  return theirs.stale === undefined && (mine || theirs.lock?.exclusive !== false);
}

function describeHolder(found: FoundLock): string {
  const l = found.lock;
  if (l === undefined) return `an unreadable lock ${found.key}`;
  return `${l.exclusive ? 'an exclusive' : 'a shared'} lock of ${l.operation} (pid ${l.pid} on ${l.hostname}, since ${l.createdAt}, refreshed ${l.time})`;
}

/**
 * Takes a lock: stale locks are removed on the way, a live conflicting lock
 * makes it wait (up to `retryMs`) and then fail with `REPOSITORY_LOCKED`
 * naming the holder.
 */
export async function acquireLock(store: BlobStore, options: LockOptions): Promise<RepositoryLock> {
  const now = options.now ?? (() => new Date());
  const here = { hostname: options.hostname ?? osHostname(), pid: options.pid ?? process.pid };
  const expiryMs = options.expiryMs ?? DEFAULT_LOCK_EXPIRY_MS;
  const deadline = Date.now() + (options.retryMs ?? 0);
  let delay = 200;
  for (;;) {
    const blocker = await firstConflict(store, options.exclusive, now(), here, undefined);
    if (blocker === undefined) {
      const t = now().toISOString();
      const file: LockFile = {
        kind: 'CairnRepositoryLock',
        version: LOCK_VERSION,
        exclusive: options.exclusive,
        operation: options.operation,
        hostname: here.hostname,
        pid: here.pid,
        createdAt: t,
        time: t,
        expiryMs,
      };
      const key = repositoryLayout.lock(newLockId());
      await store.put(key, `${JSON.stringify(file, null, 2)}\n`, { contentType: 'application/json' });
      // Someone may have written a conflicting lock between our look and our write.
      const raced = await firstConflict(store, options.exclusive, now(), here, key);
      if (raced === undefined) return new RepositoryLock(store, key, file, now);
      await store.delete(key);
      if (Date.now() >= deadline) throw locked(raced, options);
    } else if (Date.now() >= deadline) {
      throw locked(blocker, options);
    }
    await new Promise((r) =>
      setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now())) + Math.random() * 100),
    );
    delay = Math.min(delay * 2, 5000);
  }
}

async function firstConflict(
  store: BlobStore,
  exclusive: boolean,
  now: Date,
  here: { hostname: string; pid: number },
  own: string | undefined,
): Promise<FoundLock | undefined> {
  for (const found of await listLocks(store, now, here)) {
    if (found.key === own) continue;
    if (found.stale !== undefined) {
      // Removing a stale lock is what makes `unlock` unnecessary after a crash.
      await store.delete(found.key);
      continue;
    }
    if (conflicts(exclusive, found)) return found;
  }
  return undefined;
}

function locked(holder: FoundLock, options: LockOptions) {
  return repositoryError(
    'REPOSITORY_LOCKED',
    `cannot take ${options.exclusive ? 'an exclusive' : 'a shared'} lock for ${options.operation}: the repository is held by ${describeHolder(holder)}`,
    {
      hint: options.exclusive
        ? "Wait for it to finish (or pass --retry-lock DURATION to wait); a crashed holder's lock goes stale by itself, `cairn repo unlock` removes stale locks now."
        : 'An exclusive operation (prune, repair) is running; wait for it, or pass --retry-lock DURATION. `cairn repo unlock` removes stale locks.',
    },
  );
}
