/**
 * kombu's Redis ack emulation (`kombu/transport/redis.py:QoS`), with the same keys and values so Python
 * and TypeScript consumers restore each other's messages:
 *
 * - delivered: `MULTI; ZADD unacked_index <now> <tag>; HSET unacked <tag> [<envelope>, EX, RK]; EXEC`
 * - ack / reject without requeue: `MULTI; ZREM unacked_index <tag>; HDEL unacked <tag>; EXEC`
 * - restore by tag: remove from both and push the envelope (with `redelivered` flags) back to the
 *   queue(s) its exchange/routing key reach: LPUSH (back) for reject+requeue, RPUSH (front) otherwise
 * - restore_visible: under the `unacked_mutex` lock (SET NX PX), every tag older than
 *   `visibility_timeout` in `unacked_index` is restored to the front.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parseKombuJson } from '../../../protocol/index.ts';
import { isPlainObject, type PyDict } from '../../../protocol/values.ts';
import { BrokerError } from '../errors.ts';
import { messagePriority, type RedisKeys } from './keys.ts';
import { joinUnacked, markRedelivered, splitUnacked } from './jsontext.ts';
import { RELEASE_MUTEX, RESTORE_BY_TAG } from './lua.ts';
import type { ResolvedRedisOptions } from './options.ts';

/** The queues a message published to `exchange` with `routingKey` reaches (kombu `Channel._lookup`). */
export type Router = (exchange: string, routingKey: string) => Promise<string[]>;

interface ScriptClient {
  celeriacRestoreByTag(numKeys: number, ...args: Array<string | Buffer>): Promise<number>;
  celeriacReleaseMutex(key: string, token: string): Promise<number>;
}

/** Checks a MULTI result: ioredis reports per-command errors inside the reply. */
export function execOk(res: Array<[Error | null, unknown]> | null, what: string): void {
  if (res === null) throw new BrokerError(`${what}: transaction aborted`);
  for (const [err] of res) if (err) throw new BrokerError(`${what}: ${err.message}`, { cause: err });
}

export class UnackedStore {
  private readonly client: Redis & ScriptClient;

  constructor(
    client: Redis,
    private readonly keys: RedisKeys,
    private readonly options: ResolvedRedisOptions,
    private readonly route: Router,
  ) {
    client.defineCommand('celeriacRestoreByTag', { lua: RESTORE_BY_TAG });
    client.defineCommand('celeriacReleaseMutex', { lua: RELEASE_MUTEX, numberOfKeys: 1 });
    this.client = client as Redis & ScriptClient;
  }

  /** kombu `QoS.append`: record a delivery (`envelope` = the exact bytes taken from the list). */
  async append(tag: string, envelope: Buffer, exchange: string, routingKey: string): Promise<void> {
    const res = await this.client
      .multi()
      .zadd(this.keys.unackedIndex, String(Date.now() / 1000), tag)
      .hset(this.keys.unacked, tag, joinUnacked(envelope, exchange, routingKey))
      .exec();
    execOk(res, `recording delivery ${tag} in ${this.keys.unacked}`);
  }

  /** kombu `QoS._remove_from_indices` (ack, reject without requeue). */
  async remove(tag: string): Promise<void> {
    const res = await this.client.multi().zrem(this.keys.unackedIndex, tag).hdel(this.keys.unacked, tag).exec();
    execOk(res, `acknowledging ${tag}`);
  }

  /**
   * kombu `QoS.restore_by_tag`. `leftmost` = LPUSH (back of the queue). Returns false when the tag was
   * no longer unacked (only the index entry is cleaned up, as kombu does). A stored value that cannot be
   * parsed or routed is left in place and reported by throwing. `fallbackQueue` (the queue a delivery
   * of ours came from) is used when the exchange/routing key reach no queue, where kombu would drop it.
   */
  async restoreByTag(tag: string, leftmost: boolean, fallbackQueue?: string): Promise<boolean> {
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
        tag, sha, leftmost ? '1' : '0', plan.payload,
      );
      if (done === 1) return true;
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
          if (await this.restoreByTag(tag, false)) restored++;
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
