/**
 * A tiny seeded PRNG (mulberry32) and generators for property tests. Seeded so
 * that a failing case can be replayed: every property test prints its seed in
 * the assertion message.
 */

/** Deterministic pseudo-random source. */
export interface Rng {
  /** Float in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: small, fast, good enough for test-case generation. */
export function makeRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(items.length)] as T,
  };
}

const KEY_POOL = ['a', 'b', 'c', 'name', 'x/y', 'm~n', '', '0', '-', 'spec', 'items', '__proto__'];

/** A random object key from a small pool (small so that keys collide often). */
export function randomKey(rng: Rng): string {
  return rng.pick(KEY_POOL);
}

/** A random scalar JSON value. */
export function randomScalar(rng: Rng, allowNull = true): unknown {
  switch (rng.int(allowNull ? 5 : 4)) {
    case 0:
      return rng.int(100);
    case 1:
      return rng.pick(['', 'x', 'y', 'hello', 'ü']);
    case 2:
      return rng.chance(0.5);
    case 3:
      return rng.int(10) / 4;
    default:
      return null;
  }
}

/** A random JSON value of bounded depth. */
export function randomJson(rng: Rng, depth: number, allowNull = true): unknown {
  if (depth <= 0 || rng.chance(0.3)) {
    return randomScalar(rng, allowNull);
  }
  if (rng.chance(0.5)) {
    const out: unknown[] = [];
    const n = rng.int(4);
    for (let i = 0; i < n; i++) out.push(randomJson(rng, depth - 1, allowNull));
    return out;
  }
  return randomObject(rng, depth - 1, allowNull);
}

/** A random JSON object of bounded depth. */
export function randomObject(rng: Rng, depth: number, allowNull = true): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = rng.int(5);
  for (let i = 0; i < n; i++) {
    Object.defineProperty(out, randomKey(rng), {
      value: randomJson(rng, depth, allowNull),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
