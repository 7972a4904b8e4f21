/**
 * kombu's Redis ack emulation (`kombu/transport/redis.py:QoS`), with the same keys and values so Python
 * and TypeScript consumers restore each other's messages:
 *
 * - delivered: `MULTI; ZADD unacked_index <now> <tag>; HSET unacked <tag> [<envelope>, EX, RK]; EXEC`
 * - ack / reject without requeue: `MULTI; ZREM unacked_index <tag>; HDEL unacked <tag>; EXEC`; the
 *   removals of one tick go out together (`ZREM unacked_index <tag>...; HDEL unacked <tag>...`)
 * - batch fetch (celeriac): a Lua script RPOPs up to n messages and records each as `QoS.append` does, in
 *   the same atomic step (see `FETCH_BATCH`)
 * - restore by tag: remove from both and push the envelope (with `redelivered` flags) back to the
 *   queue(s) its exchange/routing key reach: LPUSH (back) for reject+requeue, RPUSH (front) otherwise
 * - restore_visible: under the `unacked_mutex` lock (SET NX PX), every tag older than
 *   `visibility_timeout` in `unacked_index` is restored to the front.
 *
 * celeriac keeps what a live worker holds out of every restore (kombu #337, celery #2599, #3270, #4400,
 * #5935, #6229: an ETA/countdown or an acks_late task longer than `visibility_timeout` ran again, once
 * per restore): while a delivery is held, its `unacked_index` score is re-set to the current time every
 * `visibility_timeout / 4` seconds (at most every 60 s), one command for all held tags (`REFRESH_UNACKED`,
 * `ZADD XX`). kombu's restore takes only entries scored at or below `now - visibility_timeout`, so neither a
 * Python nor a TypeScript restore takes them; a worker that dies (or stops) stops refreshing, and its
 * messages come back after the timeout as before. Our own restore re-checks the score of each tag it is
 * about to restore, so a refresh landing between its scan and the restore still wins.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parseKombuJson } from '../../../protocol/index.ts';
import { isPlainObject, type PyDict } from '../../../protocol/values.ts';
import { BrokerError } from '../errors.ts';
import { isReplyError } from '../../redis/client.ts';
import { messagePriority, type RedisKeys } from './keys.ts';
import { joinUnacked, markRedelivered, splitUnacked } from './jsontext.ts';
import { FETCH_BATCH, REFRESH_UNACKED, RELEASE_MUTEX, RESTORE_BY_TAG } from './lua.ts';
import type { ResolvedRedisOptions } from './options.ts';

/** The queues a message published to `exchange` with `routingKey` reaches (kombu `Channel._lookup`). */
export type Router = (exchange: string, routingKey: string) => Promise<string[]>;

interface ScriptClient {
  celeriacFetchBatchBuffer(numKeys: number, ...args: Array<string | Buffer>): Promise<Buffer[]>;
  celeriacRestoreByTag(numKeys: number, ...args: Array<string | Buffer>): Promise<number>;
  celeriacReleaseMutex(key: string, token: string): Promise<number>;
  celeriacRefreshUnacked(numKeys: number, ...args: string[]): Promise<string[]>;
}

/** Longest wait between two refreshes of the held deliveries' scores, whatever `visibility_timeout`. */
const MAX_REFRESH_INTERVAL_S = 60;
/** Most tags one refresh command carries (a larger hold is refreshed in several, pipelined). */
const REFRESH_CHUNK = 1000;

/**
 * Seconds between two refreshes of held deliveries: a quarter of `visibility_timeout` (so three
 * refreshes may be late or lost before any restore could take them), at most 60 s.
 */
export function refreshInterval(visibilityTimeout: number): number {
  return Math.min(Math.max(visibilityTimeout / 4, 0.05), MAX_REFRESH_INTERVAL_S);
}

/** A held delivery's tag, kept fresh: how many holders (the same tag may be held twice) and who to tell. */
interface Kept {
  holders: number;
  /** Told once if the entry is found gone (restored by another process while still held here). */
  lost: (err: Error) => void;
}

/** A message a BRPOP took, to be recorded as unacked by {@link UnackedStore.fetchBatch}. */
export interface Taken {
  tag: string;
  envelope: Buffer;
  exchange: string;
  routingKey: string;
}

/** One message taken by {@link UnackedStore.fetchBatch}, already recorded as unacked. */
export interface Fetched {
  key: string;
  element: Buffer;
  tag: string;
  exchange: string;
  routingKey: string;
}

/**
 * Removals (acks) not sent yet: their tags, and ONE promise for all of them, settled when the command
 * carrying them is answered (one promise per batch rather than per ack).
 */
class Removals {
  readonly tags: string[] = [];
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => {}); // a batch nobody awaits any more must not be an unhandled rejection
  }

  /** `earlier`'s tags go first, and its promise settles with this one. */
  absorb(earlier: Removals): void {
    this.tags.unshift(...earlier.tags);
    this.done.then(earlier.resolve, earlier.reject);
  }
}

/** Checks a MULTI result: ioredis reports per-command errors inside the reply. */
export function execOk(res: Array<[Error | null, unknown]> | null, what: string): void {
  if (res === null) throw new BrokerError(`${what}: transaction aborted`);
  for (const [err] of res) if (err) throw new BrokerError(`${what}: ${err.message}`, { cause: err });
}

export class UnackedStore {
  private readonly client: Redis & ScriptClient;
  /** Removals not sent yet (see {@link remove}). */
  private removals = new Removals();
  /** Batch fetches in flight: while one is, removals wait to ride with the next one. */
  private fetching = 0;
  /** The server runs our scripts (until it refuses one: then removals go in a MULTI). */
  private scripting = true;
  /** Tags of held deliveries whose `unacked_index` score is kept fresh (see {@link keepFresh}). */
  private readonly kept = new Map<string, Kept>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing = false;
  /** The server refused REFRESH_UNACKED: plain `ZADD XX` (no report of lost entries) from now on. */
  private refreshByScript = true;

  constructor(
    client: Redis,
    private readonly keys: RedisKeys,
    private readonly options: ResolvedRedisOptions,
    private readonly route: Router,
  ) {
    client.defineCommand('celeriacRestoreByTag', { lua: RESTORE_BY_TAG });
    client.defineCommand('celeriacReleaseMutex', { lua: RELEASE_MUTEX, numberOfKeys: 1 });
    client.defineCommand('celeriacFetchBatch', { lua: FETCH_BATCH });
    client.defineCommand('celeriacRefreshUnacked', { lua: REFRESH_UNACKED });
    this.client = client as Redis & ScriptClient;
  }

  /** kombu `QoS.append`: record a delivery (`envelope` = the exact bytes taken from the list). */
  async append(tag: string, envelope: Buffer, exchange: string, routingKey: string): Promise<void> {
    this.flushRemovals(true); // acks that already freed prefetch slots go first
    const res = await this.client
      .multi()
      .zadd(this.keys.unackedIndex, String(Date.now() / 1000), tag)
      .hset(this.keys.unacked, tag, joinUnacked(envelope, exchange, routingKey))
      .exec();
    execOk(res, `recording delivery ${tag} in ${this.keys.unacked}`);
  }

  /**
   * Pops up to `max` messages without blocking from `keys` (priority-major, `nq` queues per priority
   * step, in BRPOP order), each recorded as unacked atomically with its pop (see `FETCH_BATCH`).
   * `taken` (a message the caller's BRPOP took) is recorded first, as {@link append} would, in the
   * same command: a BRPOP's delivery then costs one round trip, not a MULTI and a fetch after it.
   */
  async fetchBatch(keys: readonly string[], nq: number, max: number, rotate: boolean, taken?: Taken): Promise<Fetched[]> {
    // acks already released their prefetch slots: Redis must apply them first, so they ride along
    const removals = this.removals;
    this.removals = new Removals();
    this.fetching++;
    let reply: Buffer[];
    try {
      const record: Array<string | Buffer> = taken ? ['1', taken.tag, joinUnacked(taken.envelope, taken.exchange, taken.routingKey)] : ['0'];
      reply = await this.client.celeriacFetchBatchBuffer(
        2 + keys.length, this.keys.unacked, this.keys.unackedIndex, ...keys,
        String(max), String(Date.now() / 1000), String(nq), rotate ? '1' : '0', ...record, ...removals.tags,
      );
    } catch (err) {
      this.fetching--;
      // not known to be applied: send them the usual way (removing twice is harmless)
      if (removals.tags.length > 0) this.removals.absorb(removals);
      this.flushRemovals();
      throw err;
    }
    this.fetching--;
    removals.resolve();
    // removals queued meanwhile ride with the consumer's next fetch (issued before this fires), if any
    if (this.removals.tags.length > 0) setImmediate(() => this.flushRemovals());
    const out: Fetched[] = [];
    for (let i = 0; i + 4 < reply.length; i += 5) {
      out.push({
        key: reply[i]!.toString('utf8'),
        element: reply[i + 1]!,
        tag: reply[i + 2]!.toString('utf8'),
        exchange: reply[i + 3]!.toString('utf8'),
        routingKey: reply[i + 4]!.toString('utf8'),
      });
    }
    return out;
  }

  /** Re-records a fetched message under the tag/exchange/routing key the decoder found (one MULTI). */
  async rerecord(oldTag: string, tag: string, envelope: Buffer, exchange: string, routingKey: string): Promise<void> {
    const res = await this.client
      .multi()
      .zrem(this.keys.unackedIndex, oldTag)
      .hdel(this.keys.unacked, oldTag)
      .zadd(this.keys.unackedIndex, String(Date.now() / 1000), tag)
      .hset(this.keys.unacked, tag, joinUnacked(envelope, exchange, routingKey))
      .exec();
    execOk(res, `recording delivery ${tag} in ${this.keys.unacked}`);
  }

  /**
   * Gives back fetched messages untouched (consumer cancelled meanwhile): removed from the unacked
   * hash/index and RPUSHed to their lists, last fetched first, so they are back in their original order.
   */
  async unfetch(items: readonly Fetched[]): Promise<void> {
    if (items.length === 0) return;
    const tags = items.map((f) => f.tag);
    const m = this.client.multi().zrem(this.keys.unackedIndex, ...tags).hdel(this.keys.unacked, ...tags);
    for (let i = items.length - 1; i >= 0; i--) m.rpush(items[i]!.key, items[i]!.element);
    execOk(await m.exec(), `giving back ${items.length} fetched message(s)`);
  }

  /**
   * A batch fetch is about to be sent (the consumer waits one setImmediate first): acks queued meanwhile
   * wait to ride along with it instead of going out as a MULTI of their own. {@link releaseRemovals}
   * ends the hold (and flushes if no fetch took them).
   */
  holdRemovals(): void {
    this.fetching++;
  }

  releaseRemovals(): void {
    this.fetching--;
    if (this.fetching === 0 && this.removals.tags.length > 0) this.flushRemovals();
  }

  /**
   * kombu `QoS._remove_from_indices` (ack, reject without requeue). Settles once this tag's removal
   * is written; the removals of one tick share that promise. They go out together in one command
   * (`ZREM unacked_index <tag>...; HDEL unacked <tag>...`) at the end of the tick, or in the next
   * {@link fetchBatch} if it comes first (which applies them before it pops anything).
   */
  remove(tag: string): Promise<void> {
    const r = this.removals;
    r.tags.push(tag);
    if (r.tags.length === 1) setImmediate(() => this.flushRemovals());
    return r.done;
  }

  /**
   * Sends the removals queued so far (one command); their shared promise settles with its reply. Unless
   * `now`, left to the next batch fetch while one is in flight (it sends them or reschedules this).
   */
  flushRemovals(now = false): void {
    const batch = this.removals;
    if (batch.tags.length === 0 || (this.fetching > 0 && !now)) return;
    this.removals = new Removals();
    this.removeNow(batch.tags).then(batch.resolve, batch.reject);
  }

  /**
   * `ZREM unacked_index <tag>...; HDEL unacked <tag>...`, atomically: through the fetch script with
   * nothing to fetch (one command), or, where the server refuses scripts, in a MULTI as kombu does.
   */
  private async removeNow(tags: string[]): Promise<void> {
    if (this.scripting) {
      try {
        await this.client.celeriacFetchBatchBuffer(2, this.keys.unacked, this.keys.unackedIndex, '0', '0', '0', '0', '0', ...tags);
        return;
      } catch (err) {
        if (!isReplyError(err)) throw err;
        this.scripting = false; // scripting disabled or not allowed: MULTI from now on
      }
    }
    const res = await this.client.multi().zrem(this.keys.unackedIndex, ...tags).hdel(this.keys.unacked, ...tags).exec();
    execOk(res, tags.length === 1 ? `acknowledging ${tags[0]}` : `acknowledging ${tags.length} deliveries (${tags.join(', ')})`);
  }

  /**
   * kombu `QoS.restore_by_tag`. `leftmost` = LPUSH (back of the queue). Returns false when the tag was
   * no longer unacked (only the index entry is cleaned up, as kombu does). A stored value that cannot be
   * parsed or routed is left in place and reported by throwing. `fallbackQueue` (the queue a delivery
   * of ours came from) is used when the exchange/routing key reach no queue, where kombu would drop it.
   * `ceil` (visibility restore): restore only if the tag's `unacked_index` score is still at or below it
   * (false otherwise: refreshed by its holder since the scan).
   */
  async restoreByTag(tag: string, leftmost: boolean, fallbackQueue?: string, ceil?: number): Promise<boolean> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const value = await this.client.hgetBuffer(this.keys.unacked, tag);
      if (value === null) {
        await this.remove(tag);
        return false;
      }
      const plan = await this.plan(tag, value, fallbackQueue);
      const sha = createHash('sha1').update(value).digest('hex');
      const done = await this.client.celeriacRestoreByTag(
        2 + plan.keys.length, this.keys.unacked, this.keys.unackedIndex, ...plan.keys,
        tag, sha, leftmost ? '1' : '0', plan.payload, ...(ceil === undefined ? [] : [String(ceil)]),
      );
      if (done === 1) return true;
      if (done === 2) return false; // refreshed since the scan: its holder is alive
    }
    throw new BrokerError(`could not restore unacked message ${tag}: its entry in ${this.keys.unacked} kept changing`);
  }

  private async plan(tag: string, value: Buffer, fallbackQueue?: string): Promise<{ keys: string[]; payload: string }> {
    let envelope: string;
    let exchange: string;
    let routingKey: string;
    let priority: unknown;
    let payload: string;
    try {
      ({ envelope, exchange, routingKey } = splitUnacked(value.toString('utf8')));
      payload = markRedelivered(envelope);
      const doc = parseKombuJson(envelope);
      const props = isPlainObject(doc) ? (doc as PyDict).properties : undefined;
      priority = isPlainObject(props) ? (props as PyDict).priority : undefined;
    } catch (err) {
      throw new BrokerError(
        `cannot restore unacked message ${tag}: its value in ${this.keys.unacked} is not [envelope, exchange, routing_key] JSON ` +
          `(${(err as Error).message}); left in place`,
        { cause: err },
      );
    }
    let queues: string[];
    try {
      queues = await this.route(exchange, routingKey);
      if (queues.length === 0) throw new BrokerError(`exchange ${JSON.stringify(exchange)} routing key ${JSON.stringify(routingKey)} reaches no queue`);
    } catch (err) {
      if (fallbackQueue === undefined) {
        throw new BrokerError(`cannot restore unacked message ${tag}: ${(err as Error).message}; left in ${this.keys.unacked}`, { cause: err });
      }
      queues = [fallbackQueue];
    }
    const pri = messagePriority(priority);
    return { keys: queues.map((q) => this.keys.prefixed(this.keys.queueKey(q, pri))), payload };
  }

  /**
   * A delivery is held (delivered, not yet acked/rejected/given back): its `unacked_index` score is
   * refreshed every {@link refreshInterval} until {@link stopKeeping}. Call it only once the entry is
   * written. `lost` is told (once) if a refresh finds the entry gone while it is still held.
   */
  keepFresh(tag: string, lost: (err: Error) => void): void {
    const k = this.kept.get(tag);
    if (k) k.holders++;
    else this.kept.set(tag, { holders: 1, lost });
    if (!this.refreshTimer) {
      this.refreshTimer = setInterval(() => void this.refresh(), refreshInterval(this.options.visibilityTimeout) * 1000);
      this.refreshTimer.unref();
    }
  }

  /** The delivery is being settled or given back: no more refreshes for it (call before the removal is queued). */
  stopKeeping(tag: string): void {
    const k = this.kept.get(tag);
    if (!k) return;
    if (--k.holders <= 0) this.kept.delete(tag); // the timer stops at its next tick with nothing held
  }

  /** Tags kept fresh now (for tests and inspection). */
  get keptTags(): string[] {
    return [...this.kept.keys()];
  }

  /**
   * Re-scores every held delivery's `unacked_index` entry with the current time (`ZADD XX`), 1000 tags
   * per command, pipelined. Skipped while the previous refresh is unanswered (Redis unreachable: it is
   * sent on reconnect); the timer stops when nothing is held or the connection is closed for good. Failures are left to the client's
   * own error reports; the next interval tries again.
   */
  async refresh(): Promise<void> {
    if (this.refreshing) return;
    if (this.kept.size === 0 || this.client.status === 'end') {
      if (this.refreshTimer) clearInterval(this.refreshTimer);
      this.refreshTimer = undefined;
      return;
    }
    this.refreshing = true;
    try {
      const tags = [...this.kept.keys()];
      const now = String(Date.now() / 1000);
      const chunks: string[][] = [];
      for (let i = 0; i < tags.length; i += REFRESH_CHUNK) chunks.push(tags.slice(i, i + REFRESH_CHUNK));
      const missing = (await Promise.all(chunks.map((c) => this.refreshChunk(now, c)))).flat();
      for (const tag of missing) {
        const k = this.kept.get(tag);
        if (!k) continue; // settled meanwhile (its removal may have gone before this refresh)
        this.kept.delete(tag);
        k.lost(new BrokerError(
          `delivery ${tag} is no longer in ${this.keys.unackedIndex} although this worker still holds it: another process restored ` +
            `it (this process did not refresh it for longer than visibility_timeout: event loop blocked or process stopped?), ` +
            'so it may run twice',
        ));
      }
    } catch {
      // connection trouble: reported by the client; the next interval retries
    } finally {
      this.refreshing = false;
    }
  }

  private async refreshChunk(now: string, tags: string[]): Promise<string[]> {
    if (this.refreshByScript) {
      try {
        const missing = await this.client.celeriacRefreshUnacked(1, this.keys.unackedIndex, now, ...tags);
        return missing.map(String);
      } catch (err) {
        if (!isReplyError(err)) throw err;
        this.refreshByScript = false; // scripting disabled or not allowed: plain ZADD XX from now on
      }
    }
    const args: string[] = [];
    for (const tag of tags) args.push(now, tag);
    await this.client.zadd(this.keys.unackedIndex, 'XX', ...args);
    return [];
  }

  /**
   * kombu `QoS.restore_visible`: restore (to the front) every message unacked for longer than
   * `visibility_timeout`, unless another process holds the `unacked_mutex` lock. Returns how many
   * were restored; per-message failures go to `onError` and leave that message in place.
   */
  async restoreVisible(onError: (err: Error) => void, visibilityTimeout = this.options.visibilityTimeout): Promise<number> {
    const token = randomUUID().replaceAll('-', '');
    const px = Math.max(1, Math.trunc(this.options.unackedMutexExpire * 1000));
    const got = await this.client.set(this.keys.unackedMutex, token, 'PX', px, 'NX');
    if (got !== 'OK') return 0;
    let restored = 0;
    try {
      const ceil = Date.now() / 1000 - visibilityTimeout;
      const limit = this.options.unackedRestoreLimit;
      // kombu asks WITHSCORES and ignores the scores; tags only here
      const tags = limit
        ? await this.client.zrevrangebyscore(this.keys.unackedIndex, String(ceil), 0, 'LIMIT', 0, limit)
        : await this.client.zrevrangebyscore(this.keys.unackedIndex, String(ceil), 0);
      for (const tag of tags) {
        try {
          if (await this.restoreByTag(tag, false, undefined, ceil)) restored++;
        } catch (err) {
          onError(err as Error);
        }
      }
    } finally {
      await this.client.celeriacReleaseMutex(this.keys.unackedMutex, token).catch(() => 0);
    }
    return restored;
  }
}
