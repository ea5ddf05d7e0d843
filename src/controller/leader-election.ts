/**
 * Leader election on a Lease, with client-go's rules: a candidate takes the
 * lease when nobody holds it, or when the holder's record has not changed for
 * a whole lease duration *as measured by the candidate's own clock since it
 * last saw a change* (so clock skew between replicas does not matter); the
 * leader renews every retry period and steps down when it could not renew
 * for the renew deadline, or at once when it sees another holder. On
 * shutdown the leader releases the lease (empty holder) so a standby takes
 * over on its next try instead of waiting out the lease.
 */
import type { LeaseRecord, LeaseStore } from '../cluster/lease.ts';
import { microTime } from '../cluster/lease.ts';
import { type Clock, sleepOn, systemClock } from './clock.ts';

export interface LeaderElectionOptions {
  readonly store: LeaseStore;
  /** This replica's name (pod name + random suffix). */
  readonly identity: string;
  readonly clock?: Clock;
  /** How long a lease holds without renewal (default 15 s). */
  readonly leaseDurationMs?: number;
  /** The leader gives up when it could not renew for this long (default 10 s). */
  readonly renewDeadlineMs?: number;
  /** Between tries to acquire or renew (default 2 s). */
  readonly retryPeriodMs?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly onError?: (error: unknown) => void;
}

type Attempt = 'held' | 'other' | 'failed';

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #clock: Clock;
  readonly #stop = new AbortController();
  #leader = false;
  #observed: { record: string; at: number } | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  get #leaseMs(): number {
    return this.#o.leaseDurationMs ?? 15_000;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops campaigning; a leader steps down and releases the lease. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    if (this.#leader) {
      this.#leader = false;
      this.#o.onStoppedLeading();
      await this.#release().catch((err) => this.#o.onError?.(err));
    }
  }

  async #run(): Promise<void> {
    const retry = this.#o.retryPeriodMs ?? 2_000;
    const deadline = this.#o.renewDeadlineMs ?? 10_000;
    let lastRenew = 0;
    while (!this.#stop.signal.aborted) {
      const attempt = await this.#tryAcquireOrRenew();
      if (this.#stop.signal.aborted) break;
      const now = this.#clock.now().getTime();
      if (attempt === 'held') {
        lastRenew = now;
        if (!this.#leader) {
          this.#leader = true;
          this.#o.onStartedLeading();
        }
      } else if (this.#leader && (attempt === 'other' || now - lastRenew >= deadline)) {
        this.#leader = false;
        this.#o.onStoppedLeading();
      }
      await sleepOn(this.#clock, retry, this.#stop.signal);
    }
  }

  async #tryAcquireOrRenew(): Promise<Attempt> {
    const now = this.#clock.now();
    const fresh: LeaseRecord = {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    try {
      const current = await this.#o.store.get();
      if (current === undefined) return (await this.#o.store.create(fresh)) ? 'held' : 'other';
      const record = current.record;
      const text = JSON.stringify(record);
      if (this.#observed?.record !== text) this.#observed = { record: text, at: now.getTime() };
      const holder = record.holderIdentity ?? '';
      const mine = holder === this.#o.identity;
      const expired =
        holder === '' ||
        now.getTime() - (this.#observed?.at ?? 0) >= (record.leaseDurationSeconds ?? 15) * 1000;
      if (!mine && !expired) return 'other';
      const next: LeaseRecord = mine
        ? { ...record, renewTime: microTime(now), leaseDurationSeconds: fresh.leaseDurationSeconds }
        : { ...fresh, leaseTransitions: (record.leaseTransitions ?? 0) + 1 };
      const ok = await this.#o.store.update(next, current.resourceVersion);
      return ok ? 'held' : 'other';
    } catch (err) {
      this.#o.onError?.(err);
      return 'failed';
    }
  }

  async #release(): Promise<void> {
    const current = await this.#o.store.get();
    if (current === undefined || current.record.holderIdentity !== this.#o.identity) return;
    const now = microTime(this.#clock.now());
    await this.#o.store.update(
      { ...current.record, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now },
      current.resourceVersion,
    );
  }
}
