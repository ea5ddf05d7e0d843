/**
 * A rate-limited work queue of keys, with client-go's workqueue semantics
 * (hand-written: no maintained Node library has them): a key waiting in the
 * queue is held once however often it is added; a key is worked on by one
 * worker at a time — added while it runs, it is queued again once that run
 * ends; a failing key comes back after an exponentially growing delay; a
 * handler that is not done yet says so with `{ requeueAfterMs }`, which is a
 * result, not an error (VolSync's mover: "not ready yet").
 */
import { type Clock, systemClock, type Timer } from './clock.ts';

/** What a reconcile returns: nothing (done) or when to look again. */
export type ReconcileResult = undefined | { readonly requeueAfterMs: number };

export interface WorkQueueOptions {
  readonly name: string;
  readonly handler: (key: string) => Promise<ReconcileResult>;
  /** Keys worked on at once (default 4). */
  readonly workers?: number;
  readonly clock?: Clock;
  /** First retry delay after a failure (default 1 s), doubled per consecutive failure. */
  readonly baseDelayMs?: number;
  /** Longest retry delay (default 5 min). */
  readonly maxDelayMs?: number;
  /** Told about every failed reconcile (logging). */
  readonly onError?: (key: string, error: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  readonly name: string;
  readonly #options: WorkQueueOptions;
  readonly #clock: Clock;
  readonly #workers: number;
  /** Keys waiting for a worker, in order. */
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #running = new Map<string, Promise<void>>();
  /** Keys added while they were running: queued again when the run ends. */
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #delayed = new Map<string, { at: number; timer: Timer }>();
  #accepting = true;
  #idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#workers = options.workers ?? 4;
  }

  /** Queues a key now (no-op if already queued; deferred if it is running). */
  add(key: string): void {
    if (!this.#accepting) return;
    const delayed = this.#delayed.get(key);
    if (delayed !== undefined) {
      delayed.timer.cancel();
      this.#delayed.delete(key);
    }
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  /** Queues a key after `ms`; an earlier pending time for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (!this.#accepting) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now().getTime() + ms;
    const existing = this.#delayed.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      existing.timer.cancel();
    }
    const timer = this.#clock.setTimer(ms, () => {
      if (this.#delayed.get(key)?.timer !== timer) return;
      this.#delayed.delete(key);
      this.add(key);
    });
    this.#delayed.set(key, { at, timer });
  }

  /** Keys waiting, running, or scheduled for later. */
  get length(): number {
    return this.#queue.length + this.#running.size + this.#delayed.size;
  }

  /** Whether the key is being worked on right now. */
  isRunning(key: string): boolean {
    return this.#running.has(key);
  }

  /** When a key is due again (delayed keys only). */
  dueAt(key: string): number | undefined {
    return this.#delayed.get(key)?.at;
  }

  /**
   * Stops taking work: delayed keys are dropped, queued ones are not started;
   * resolves once the running handlers finished or `timeoutMs` passed
   * (true when everything finished).
   */
  async shutdown(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    this.#accepting = false;
    for (const { timer } of this.#delayed.values()) timer.cancel();
    this.#delayed.clear();
    this.#queue.length = 0;
    this.#queued.clear();
    this.#dirty.clear();
    const all = Promise.all(this.#running.values()).then(() => true);
    if (!Number.isFinite(timeoutMs)) return all;
    let handle: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      // Real time on purpose: shutdown is bounded by the pod's grace period, not by a test clock.
      handle = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(handle);
    }
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    while (this.#accepting && this.#running.size < this.#workers && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      this.#queued.delete(key);
      this.#running.set(key, this.#run(key));
    }
    if (this.#queue.length === 0 && this.#running.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #run(key: string): Promise<void> {
    let next: number | undefined;
    try {
      const result = await this.#options.handler(key);
      this.#failures.delete(key);
      if (result !== undefined) next = result.requeueAfterMs;
    } catch (err) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      next = Math.min(
        this.#options.maxDelayMs ?? 300_000,
        (this.#options.baseDelayMs ?? 1000) * 2 ** (failures - 1),
      );
      this.#options.onError?.(key, err, next);
    } finally {
      this.#running.delete(key);
    }
    if (this.#dirty.delete(key)) this.add(key);
    else if (next !== undefined) this.addAfter(key, next);
    this.#pump();
  }
}
