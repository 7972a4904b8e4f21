/**
 * The beat's tick: Celery's `Scheduler.tick` (celery/beat.py) over a {@link BeatStore}, with the send
 * made safe. Each tick asks the store for the entries due now (a heap or a sorted set: the work follows
 * what is due, not the number of entries), asks each entry's schedule whether it is due (Celery's
 * `is_due`), then:
 *
 * 1. claims every due slot in the store, durably, with the entry's next run and a task id derived from
 *    entry + slot ({@link slotTaskId}), before anything is sent;
 * 2. publishes the claimed slots (the publisher uses confirms and the publish retry policy);
 * 3. marks the confirmed ones sent. A slot whose publish failed stays claimed and is retried with the
 *    same task id until the broker takes it, instead of being dropped as Celery's beat drops it.
 *
 * Run state follows Celery: a sent entry's `last_run_at` is the time it was sent and its run count
 * goes up by one; a new entry's first run is one interval after it was added; after downtime an
 * entry runs once to catch up, not once per missed slot.
 */
import type { WorkerLogger } from '../worker/log.ts';
import type { ScheduleContext } from './schedules/base.ts';
import { slotTaskId } from './slot.ts';
import type { BeatStore, Claim, ClaimRequest, Entry } from './store.ts';

/** Sends one claimed slot; resolves once the broker confirmed it, rejects when it could not. */
export interface BeatPublisher {
  publish(claim: Claim): Promise<void>;
}

export interface BeatClock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: BeatClock = { now: () => Date.now() };

export interface SchedulerOptions {
  store: BeatStore;
  publisher: BeatPublisher;
  /** The app's time zone and `beat_cron_starting_deadline`. */
  context: ScheduleContext;
  logger: WorkerLogger;
  clock?: BeatClock;
  /** `beat_max_loop_interval` in ms: the longest sleep between ticks. @default 300000 */
  maxInterval?: number;
  /** Asked before every publish: false (a leader lease that may have lapsed) stops sending at once. */
  mayPublish?: () => boolean;
  /** Publishes in flight at once. @default 100 */
  concurrency?: number;
  /** First wait before a failed publish is tried again, ms (doubling up to maxInterval). @default 1000 */
  retryDelay?: number;
  /** Called after the broker confirmed a slot (metrics, tests): the claim and when it was confirmed. */
  onSent?: (claim: Claim, at: number) => void;
}

/** RedBeat's stand-in `last_run_at` for an entry that never ran: `datetime(MINYEAR, 1, 2)`. */
const NEVER = new Date(0).setUTCFullYear(1, 0, 2);

interface Retry { claim: Claim; at: number; delay: number }

export class Scheduler {
  readonly store: BeatStore;
  private readonly publisher: BeatPublisher;
  private readonly ctx: ScheduleContext;
  private readonly log: WorkerLogger;
  private readonly clock: BeatClock;
  private readonly maxInterval: number;
  private readonly mayPublish: () => boolean;
  private readonly concurrency: number;
  private readonly retryDelay: number;
  private readonly onSent: ((claim: Claim, at: number) => void) | undefined;
  /** Claimed slots whose publish failed, by task id. */
  private readonly retries = new Map<string, Retry>();
  /** Set when a claim failed part-way: the next tick first resends what the store holds as pending. */
  private recheckPending = false;
  /** Totals since start, for logs and tests. */
  readonly counts = { sent: 0, failed: 0, resent: 0, refused: 0 };

  constructor(options: SchedulerOptions) {
    this.store = options.store;
    this.publisher = options.publisher;
    this.ctx = options.context;
    this.log = options.logger;
    this.clock = options.clock ?? systemClock;
    this.maxInterval = options.maxInterval ?? 300_000;
    this.mayPublish = options.mayPublish ?? (() => true);
    this.concurrency = options.concurrency ?? 100;
    this.retryDelay = options.retryDelay ?? 1000;
    this.onSent = options.onSent;
  }

  /**
   * When `entry` is next due, epoch ms, or null when never (disabled, a clocked entry that ran). An
   * entry that never ran is due now; an overdue one keeps its past due time. (RedBeat's `due_at` adds
   * the remaining time to `last_run_at` instead of to now, which is the same only when they are equal.)
   */
  dueAt(entry: Pick<Entry, 'schedule' | 'lastRunAt' | 'enabled'>, now: number): number | null {
    if (!entry.enabled) return null;
    if (entry.lastRunAt === null) return now;
    // remaining_estimate is counted from now (Celery's `remaining`: end - now)
    const rem = entry.schedule.remainingEstimate(entry.lastRunAt, now, this.ctx);
    return rem === null ? null : now + rem;
  }

  /** One tick; resolves with the milliseconds to sleep before the next. */
  async tick(): Promise<number> {
    const now = this.clock.now();
    if (this.recheckPending) {
      this.recheckPending = false;
      await this.resendPending();
    }
    await this.retryFailed(now);
    const { entries, nextAt } = await this.store.due(now);
    const requests: ClaimRequest[] = [];
    let soonest = nextAt === null ? Infinity : nextAt - now;
    for (const entry of entries) {
      if (!entry.enabled) {
        await this.store.reschedule(entry.name, null);
        continue;
      }
      let state;
      try {
        state = entry.schedule.isDue(entry.lastRunAt ?? NEVER, now, this.ctx);
      } catch (err) {
        this.log.error(`Scheduler: entry ${entry.name}: its schedule failed: ${(err as Error).message}; checking again in ${this.maxInterval / 1000} s`);
        await this.store.reschedule(entry.name, now + this.maxInterval);
        continue;
      }
      if (!state.isDue) {
        const next = state.next === null ? null : now + state.next * 1000;
        await this.store.reschedule(entry.name, next);
        if (next !== null) soonest = Math.min(soonest, next - now);
        continue;
      }
      const slot = this.slotOf(entry, now);
      const meta = { lastRunAt: now, totalRunCount: entry.totalRunCount + 1 };
      const nextDueAt = this.dueAt({ ...entry, ...meta }, now);
      if (nextDueAt !== null) soonest = Math.min(soonest, nextDueAt - now);
      requests.push({ entry, slot, taskId: slotTaskId(entry.name, slot), meta, nextDueAt });
    }
    if (requests.length > 0) {
      let claims: Claim[];
      try {
        claims = await this.store.claim(requests);
      } catch (err) {
        // the store may have recorded some of them before it failed (a full disk while compacting):
        // the next tick sends whatever it holds as pending
        this.recheckPending = true;
        throw err;
      }
      this.counts.refused += requests.length - claims.length;
      if (claims.length < requests.length) {
        const got = new Set(claims.map((c) => c.name));
        for (const r of requests) if (!got.has(r.entry.name)) this.log.debug(`Scheduler: ${r.entry.name} at ${new Date(r.slot).toISOString()} was claimed elsewhere`);
      }
      await this.send(claims, false);
    }
    for (const r of this.retries.values()) soonest = Math.min(soonest, r.at - now);
    return Math.max(0, Math.min(soonest, this.maxInterval));
  }

  /** Resends the slots the store holds as claimed and never confirmed (after a crash, on taking over). */
  async resendPending(): Promise<number> {
    const pending = (await this.store.pending()).filter((c) => !this.retries.has(c.taskId));
    if (pending.length === 0) return 0;
    this.log.warning(`Scheduler: resending ${pending.length} slot(s) claimed but never confirmed (same task ids): ${pending.slice(0, 5).map((c) => `${c.name}@${new Date(c.slot).toISOString()}`).join(', ')}${pending.length > 5 ? ', ...' : ''}`);
    await this.send(pending, true);
    return pending.length;
  }

  /** Failed publishes waiting for their next try. */
  get retrying(): number {
    return this.retries.size;
  }

  /** The due instant the send is for: deterministic from the stored run state, so every beat agrees. */
  private slotOf(entry: Entry, now: number): number {
    if (entry.lastRunAt === null) return Math.floor(now / 1000) * 1000;
    const rem = entry.schedule.remainingEstimate(entry.lastRunAt, now, this.ctx);
    return rem === null ? Math.floor(now / 1000) * 1000 : now + rem;
  }

  private async retryFailed(now: number): Promise<void> {
    const ready = [...this.retries.values()].filter((r) => r.at <= now);
    if (ready.length > 0) await this.send(ready.map((r) => r.claim), true);
  }

  private async send(claims: readonly Claim[], resend: boolean): Promise<void> {
    const confirmed: Claim[] = [];
    let i = 0;
    const worker = async () => {
      while (i < claims.length) {
        const claim = claims[i++]!;
        if (!this.mayPublish()) return;
        this.log.info(`Scheduler: Sending due task ${claim.name} (${claim.task})`);
        try {
          await this.publisher.publish(claim);
          confirmed.push(claim);
          this.retries.delete(claim.taskId);
          this.counts.sent++;
          if (resend) this.counts.resent++;
          this.onSent?.(claim, this.clock.now());
          this.log.debug(`${claim.task} sent. id->${claim.taskId}`);
        } catch (err) {
          this.counts.failed++;
          const prev = this.retries.get(claim.taskId);
          const delay = prev ? Math.min(prev.delay * 2, this.maxInterval) : this.retryDelay;
          this.retries.set(claim.taskId, { claim, at: this.clock.now() + delay, delay });
          this.log.error(`Scheduler: could not send ${claim.name} (${claim.task}, id ${claim.taskId}): ${(err as Error).message}; kept, trying again in ${delay / 1000} s`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, claims.length) }, worker));
    if (confirmed.length > 0) await this.store.sent(confirmed);
  }
}
