/**
 * Progress written into a resource's status while it runs: at most once per
 * `progressIntervalMs`, chained so writes never overtake each other or the
 * final status, and never failing the run (a lost progress write is logged).
 */
import { type ControllerContext, messageOf } from './context.ts';
import type { CairnPlural } from './resources.ts';

export interface StatusProgress<P> {
  /** Offers the latest progress; written if the interval has passed since the last write. */
  offer(progress: P): void;
  /** Resolves when every write offered so far has finished. */
  settled(): Promise<void>;
}

export function statusProgress<P>(
  ctx: ControllerContext,
  plural: CairnPlural,
  name: string,
  started: Date,
  toStatus: (progress: P) => Record<string, unknown>,
): StatusProgress<P> {
  let lastWrite = started.getTime();
  let writes: Promise<unknown> = Promise.resolve();
  return {
    offer(progress) {
      const now = ctx.clock.now().getTime();
      if (now - lastWrite < ctx.settings.progressIntervalMs) return;
      lastWrite = now;
      writes = writes
        .then(() => ctx.resources.patchStatus(plural, name, toStatus(progress)))
        .catch((err) => ctx.log.warn({ [plural]: name, err: messageOf(err) }, 'progress write failed'));
    },
    async settled() {
      await writes;
    },
  };
}
