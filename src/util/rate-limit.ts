import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Client-side QPS/burst budget (a token bucket), as client-go's flowcontrol
 * limiter: up to `burst` calls at once, refilled at `qps` per second. Shared by
 * every concurrent lister/creator of one cluster connection, so parallelism
 * never turns into a flood that trips API priority and fairness.
 */
export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  #tokens: number;
  #last: number;
  #queue: Promise<void> = Promise.resolve();
  readonly #now: () => number;

  constructor(qps: number, burst: number, now: () => number = () => performance.now()) {
    if (!(qps > 0) || !(burst >= 1)) throw new RangeError(`invalid rate limit qps=${qps} burst=${burst}`);
    this.qps = qps;
    this.burst = burst;
    this.#tokens = burst;
    this.#now = now;
    this.#last = now();
  }

  /** Waits until a call may go out. Callers are served in arrival order. */
  take(): Promise<void> {
    const turn = this.#queue.then(() => this.#takeOne());
    this.#queue = turn;
    return turn;
  }

  async #takeOne(): Promise<void> {
    for (;;) {
      const now = this.#now();
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.qps);
      this.#last = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await sleep(Math.ceil(((1 - this.#tokens) / this.qps) * 1000));
    }
  }
}

/**
 * Runs `fn` over `items` with at most `limit` in flight. On the first failure
 * no new item starts; it still waits for the items already running to settle,
 * so nothing keeps working in the background after it rejects, then rejects
 * with that first failure.
 */
export async function forEachLimit<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let firstError: { error: unknown } | undefined;
  const worker = async () => {
    for (let next = iterator.next(); !next.done && firstError === undefined; next = iterator.next()) {
      try {
        await fn(next.value);
      } catch (error) {
        firstError ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (firstError !== undefined) throw firstError.error;
}
