/**
 * kombu's Redis key layout (`kombu/transport/redis.py:Channel`), pure functions of the options:
 * priority sub-queue keys (`_q_for_pri`), BRPOP key order (`_brpop_start`), binding sets
 * (`keyprefix_queue`, `_queue_bind`), fanout channels (`_get_publish_topic`) and `global_keyprefix`
 * (`GlobalKeyPrefixMixin`). Methods returning keys to send to Redis say so (`prefixed`).
 */
import type { ResolvedRedisOptions } from './options.ts';

/**
 * kombu's `virtual.Channel._get_message_priority`: `int(priority)` clamped to 0..9; anything `int()`
 * refuses (None, "high", "5.0", a missing value) means the default priority 0.
 */
export function messagePriority(value: unknown): number {
  let n: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 0;
    n = Math.trunc(value);
  } else if (typeof value === 'bigint') n = value > 9n ? 9 : value < 0n ? 0 : Number(value);
  else if (typeof value === 'boolean') n = value ? 1 : 0;
  else if (typeof value === 'string' && /^\s*[+-]?\d+(_\d+)*\s*$/.test(value)) n = Number(value.trim().replaceAll('_', ''));
  else return 0;
  return Math.max(Math.min(n, 9), 0);
}

export class RedisKeys {
  readonly o: ResolvedRedisOptions;
  constructor(options: ResolvedRedisOptions) {
    this.o = options;
  }

  /** `global_keyprefix + key`. */
  prefixed(key: string): string {
    return this.o.globalKeyprefix + key;
  }

  /** kombu `Channel.priority`: the largest step <= n (`steps[bisect(steps, n) - 1]`, Python indexing). */
  step(n: number): number {
    const steps = this.o.prioritySteps;
    let i = 0;
    while (i < steps.length && steps[i]! <= n) i++;
    return steps[i === 0 ? steps.length - 1 : i - 1]!;
  }

  /** kombu `_q_for_pri`: the list key (unprefixed) of `queue` for message priority `pri`. */
  queueKey(queue: string, pri: number): string {
    const step = this.step(pri);
    return step ? `${queue}${this.o.sep}${step}` : queue;
  }

  /** Every list key of a queue (one per priority step), prefixed. */
  allQueueKeys(queue: string): string[] {
    return this.o.prioritySteps.map((s) => this.prefixed(this.queueKey(queue, s)));
  }

  /**
   * BRPOP keys for `queues` (already in cycle order), prefixed, priority-major as kombu's
   * `_brpop_start`: `[q1, q2, q1<sep>3, q2<sep>3, ...]`; plus the prefixed key -> queue map.
   */
  brpopKeys(queues: readonly string[]): { keys: string[]; keyToQueue: Map<string, string> } {
    const keys: string[] = [];
    const keyToQueue = new Map<string, string>();
    for (const pri of this.o.prioritySteps) {
      for (const queue of queues) {
        const key = this.prefixed(this.queueKey(queue, pri));
        if (keyToQueue.has(key)) continue;
        keys.push(key);
        keyToQueue.set(key, queue);
      }
    }
    return { keys, keyToQueue };
  }

  /** `_kombu.binding.<exchange>`, prefixed. */
  bindingKey(exchange: string): string {
    return this.prefixed(`_kombu.binding.${exchange}`);
  }

  /** A binding set member: `<routing_key><sep><pattern><sep><queue>`. */
  bindingMember(routingKey: string, pattern: string, queue: string): string {
    return [routingKey, pattern, queue].join(this.o.sep);
  }

  /** Splits a binding member (kombu `get_table`); a queue name containing `sep` is kept whole. */
  parseBindingMember(member: string): { routingKey: string; pattern: string; queue: string } | undefined {
    const parts = member.split(this.o.sep);
    if (parts.length < 3) return undefined;
    return { routingKey: parts[0]!, pattern: parts[1]!, queue: parts.slice(2).join(this.o.sep) };
  }

  /** kombu `_get_publish_topic`, prefixed: `/<db>.<exchange>[/<routing_key>]`. */
  fanoutChannel(exchange: string, routingKey: string): string {
    const topic = routingKey && this.o.fanoutPatterns
      ? `${this.o.fanoutPrefix}${exchange}/${routingKey}`
      : `${this.o.fanoutPrefix}${exchange}`;
    return this.prefixed(topic);
  }

  /** celeriac: where malformed elements taken from `queue` are moved, prefixed. */
  invalidKey(queue: string): string {
    return this.prefixed(`${queue}.celeriac.invalid`);
  }

  get unacked(): string {
    return this.prefixed(this.o.unackedKey);
  }

  get unackedIndex(): string {
    return this.prefixed(this.o.unackedIndexKey);
  }

  get unackedMutex(): string {
    return this.prefixed(this.o.unackedMutexKey);
  }
}

/** kombu's `queue_order_strategy` cycles (`kombu/utils/scheduling.py`). */
export class QueueCycle {
  private readonly items: string[];
  private readonly strategy: ResolvedRedisOptions['queueOrderStrategy'];
  constructor(queues: readonly string[], strategy: ResolvedRedisOptions['queueOrderStrategy']) {
    this.items = [...queues];
    this.strategy = strategy;
  }

  /** The queues in the order the next BRPOP lists them. */
  consume(): string[] {
    return this.strategy === 'sorted' ? [...this.items].sort() : [...this.items];
  }

  /** round_robin: the queue that just delivered goes to the end. */
  rotate(lastUsed: string): void {
    if (this.strategy !== 'round_robin') return;
    const i = this.items.indexOf(lastUsed);
    if (i >= 0) this.items.push(...this.items.splice(i, 1));
  }
}
