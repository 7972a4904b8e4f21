/**
 * The beat service (Celery's `beat.Service`): installs `beat_schedule` in the store, then ticks the
 * scheduler until stopped, sleeping as long as the schedule allows (at most the max loop interval).
 *
 * With a leader lock (the Redis store), only the holder ticks: a beat that cannot acquire it never
 * sends, one that holds it renews it at a third of its life, and one whose renewal fails, or whose
 * lease may have lapsed (reckoned from when the renewal was sent), stops sending at once. On taking the
 * lead, a beat first resends the slots its predecessor claimed and never confirmed, with their task ids.
 *
 * Stopping is warm: the tick in progress finishes (every claimed slot is sent or left claimed for the
 * next beat), then the lock is released and the store closed.
 */
import { performance } from 'node:perf_hooks';
import type { WorkerLogger } from '../worker/log.ts';
import type { Scheduler, BeatClock } from './scheduler.ts';
import { systemClock } from './scheduler.ts';
import type { BeatStore, EntryDefinition } from './store.ts';

/** A leader lease (src/beat/lock.ts). */
export interface BeatLease {
  /** One attempt to take the lease; true when held. */
  acquire(): Promise<boolean>;
  /** Extends a held lease; false when it is no longer ours. */
  renew(): Promise<boolean>;
  release(): Promise<void>;
  /** Until when (ms on the lease's clock, see {@link BeatServiceOptions.leaseClock}) the lease is surely ours. */
  readonly heldUntil: number;
}

export interface BeatServiceOptions {
  scheduler: Scheduler;
  store: BeatStore;
  /** `beat_schedule`'s entries. */
  statics: readonly EntryDefinition[];
  logger: WorkerLogger;
  lease?: BeatLease;
  /** The lease's length in ms (it is renewed at a third of it). */
  leaseTime?: number;
  /** Longest sleep between ticks, ms. @default 300000 */
  maxInterval?: number;
  clock?: BeatClock;
  /** Margin kept before the lease's end, ms: no publish starts later than this. @default 1000 */
  leaseMargin?: number;
  /** The clock the lease's `heldUntil` is on (monotonic). @default performance.now */
  leaseClock?: () => number;
}

export class BeatService {
  private readonly o: BeatServiceOptions;
  private readonly clock: BeatClock;
  private stopping = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private leader = false;
  private renewAt = 0;
  /** Lock acquisitions so far: every one after the first installs beat_schedule again. */
  private acquisitions = 0;
  private unwatch: (() => Promise<void>) | null = null;
  /** Set when the loop ends with an error. */
  error: Error | null = null;

  constructor(options: BeatServiceOptions) {
    this.o = options;
    this.clock = options.clock ?? systemClock;
  }

  /** Whether this beat may send now: no lease, or a lease held with time to spare. */
  mayPublish = (): boolean => {
    const { lease } = this.o;
    if (!lease) return true;
    const now = (this.o.leaseClock ?? (() => performance.now()))();
    return this.leader && now < lease.heldUntil - (this.o.leaseMargin ?? 1000);
  };

  get isLeader(): boolean {
    return this.o.lease ? this.leader : true;
  }

  /** Installs the schedule and starts ticking; resolves once the loop runs. */
  async start(): Promise<void> {
    await this.o.store.setup(this.o.statics, this.clock.now());
    if (this.o.store.watch) this.unwatch = await this.o.store.watch(() => this.poke());
    this.loop = this.run().catch((err: Error) => {
      this.error = err;
      this.o.logger.critical(`beat: stopped by an error: ${err.stack ?? err.message}`);
    });
  }

  /** Resolves when the loop has ended (after {@link stop}, or an error). */
  get done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Warm stop: the tick in progress completes, then the lease is released and the store closed. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    await this.unwatch?.();
    if (this.o.lease && this.leader) {
      try {
        await this.o.lease.release();
        this.o.logger.info('beat: Releasing lock');
      } catch (err) {
        this.o.logger.warning(`beat: could not release the lock: ${(err as Error).message}`);
      }
    }
    this.leader = false;
    await this.o.store.close();
  }

  /** Wakes a sleeping loop (an entry was added or changed). */
  poke(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    const { scheduler, lease, logger } = this.o;
    const maxInterval = this.o.maxInterval ?? 300_000;
    // slots claimed and never confirmed (a crash, a predecessor): resent before the first tick
    let pendingToResend = !lease;
    while (!this.stopping) {
      if (lease) {
        const led = await this.lead(lease, maxInterval);
        if (led === 'retry') continue;
        if (led === 'acquired') pendingToResend = true;
      }
      if (pendingToResend) {
        try {
          await scheduler.resendPending();
          pendingToResend = false;
        } catch (err) {
          logger.error(`beat: could not read the slots left pending: ${(err as Error).message}; trying again`);
        }
      }
      let sleep = await this.tickSafely(maxInterval);
      if (lease && !this.mayPublish()) continue; // the lease was lost during the tick: take it again now
      if (lease) sleep = Math.min(sleep, Math.max(0, this.renewAt - this.clock.now()));
      if (sleep > 0) await this.sleep(sleep);
    }
  }

  /**
   * Takes the lease, or renews it when a third of it has passed: `acquired` when just taken (the
   * predecessor's pending slots are resent first), `held` to tick, `retry` to go round again (not
   * taken, lost, or lapsed; the reason is logged).
   */
  private async lead(lease: BeatLease, maxInterval: number): Promise<'acquired' | 'held' | 'retry'> {
    const { logger } = this.o;
    const renewEvery = (this.o.leaseTime ?? 30_000) / 3;
    const retryWait = Math.min(maxInterval, Math.max(100, renewEvery));
    let result: 'acquired' | 'held' = 'held';
    if (!this.leader) {
      if (!(await this.attempt(() => lease.acquire(), 'could not reach the lock'))) {
        await this.sleep(retryWait);
        return 'retry';
      }
      this.leader = true;
      this.renewAt = this.clock.now() + renewEvery;
      logger.info('beat: Acquired lock');
      // installing beat_schedule again on every acquisition (it keeps run state) also brings the
      // entries back after Redis lost its data (a restart without persistence), which also loses the lock
      try {
        if (this.acquisitions++ > 0) await this.o.store.setup(this.o.statics, this.clock.now());
      } catch (err) {
        this.leader = false;
        logger.error(`beat: could not take over the schedule: ${(err as Error).message}; trying again`);
        await this.sleep(retryWait);
        return 'retry';
      }
      result = 'acquired';
    } else if (this.clock.now() >= this.renewAt) {
      if (!(await this.attempt(() => lease.renew(), 'could not renew the lock'))) {
        this.leader = false;
        logger.error('beat: lost the lock: no longer sending (another beat may lead now)');
        return 'retry';
      }
      this.renewAt = this.clock.now() + renewEvery;
    }
    if (!this.mayPublish()) {
      this.leader = false;
      logger.error('beat: the lock may have lapsed (no renewal in time): no longer sending');
      return 'retry';
    }
    return result;
  }

  /** A lock call whose failure (Redis unreachable) is logged and counts as a refusal. */
  private async attempt(call: () => Promise<boolean>, what: string): Promise<boolean> {
    try {
      return await call();
    } catch (err) {
      this.o.logger.error(`beat: ${what}: ${(err as Error).message}`);
      return false;
    }
  }

  /** A tick whose failure (the store unreachable) is logged and retried, not fatal. */
  private async tickSafely(maxInterval: number): Promise<number> {
    try {
      return await this.o.scheduler.tick();
    } catch (err) {
      this.o.logger.error(`beat: tick failed: ${(err as Error).message}; trying again`);
      return Math.min(maxInterval, 1000);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }
}
