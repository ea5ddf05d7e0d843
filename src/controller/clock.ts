/**
 * The controller's only source of time. Every reconciler, the work queue and
 * leader election read `now()` and wait with `setTimer` from one injected
 * clock, so tests move time forward (a schedule's next minute, a lease's
 * expiry) without sleeping.
 */

/** A pending timer; `cancel` is idempotent. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): Date;
  /** Calls `fn` once `ms` of this clock's time passed. */
  setTimer(ms: number, fn: () => void): Timer;
}

/** Wall-clock time and Node timers. */
export const systemClock: Clock = {
  now: () => new Date(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** Resolves after `ms` of the clock's time, or at once when `signal` aborts. */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      timer.cancel();
      resolve();
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A clock that only moves when told to (tests and the benchmark). Timers due
 * at or before the new time fire in due order on `advance`/`set`.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers: { at: number; fn: () => void; seq: number }[] = [];
  #seq = 0;

  constructor(start: Date) {
    this.#now = start.getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  setTimer(ms: number, fn: () => void): Timer {
    const entry = { at: this.#now + Math.max(0, ms), fn, seq: this.#seq++ };
    this.#timers.push(entry);
    return {
      cancel: () => {
        this.#timers = this.#timers.filter((t) => t !== entry);
      },
    };
  }

  /** Moves time forward by `ms`, firing due timers. */
  advance(ms: number): void {
    this.set(new Date(this.#now + ms));
  }

  /** Moves time to `to` (never backwards), firing due timers. */
  set(to: Date): void {
    const target = Math.max(this.#now, to.getTime());
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = target;
  }

  /** How many timers wait (tests wait for a component to arm its timer before advancing). */
  get pendingTimers(): number {
    return this.#timers.length;
  }
}
