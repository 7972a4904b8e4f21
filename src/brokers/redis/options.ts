/**
 * The Redis transport options, with kombu's names (`broker_transport_options` in Celery), defaults
 * from `kombu/transport/redis.py:Channel` / `Transport`, validated once.
 */
import { ConfigurationError, type RedisConnectOptions } from '../../redis/url.ts';

export type QueueOrderStrategy = 'round_robin' | 'sorted' | 'priority';

export interface RedisTransportOptions extends RedisConnectOptions {
  /** Seconds a delivered, unacked message may stay unacked before any consumer restores it. @default 3600 */
  visibility_timeout?: number;
  /** Priority buckets (sub-queues). @default [0, 3, 6, 9] */
  priority_steps?: number[];
  /** Separator in priority keys and binding members. @default "\x06\x16" */
  sep?: string;
  /** @default "round_robin" */
  queue_order_strategy?: QueueOrderStrategy;
  /** Prefix of every key and pub/sub channel. @default "" */
  global_keyprefix?: string;
  /** `true` = `/{db}.`, `false` = none, or a custom string (`{db}` is replaced). @default true */
  fanout_prefix?: boolean | string;
  /** Fanout channel includes `/<routing key>`. @default true */
  fanout_patterns?: boolean;
  /** @default "unacked" */
  unacked_key?: string;
  /** @default "unacked_index" */
  unacked_index_key?: string;
  /** @default "unacked_mutex" */
  unacked_mutex_key?: string;
  /** Seconds. @default 300 */
  unacked_mutex_expire?: number;
  /** Max messages restored per visibility scan; null = no limit. @default null */
  unacked_restore_limit?: number | null;
  /** kombu's name for the BRPOP timeout in seconds. @default 1 */
  polling_interval?: number;
  /** Alias of `polling_interval` (kombu's `Transport.brpop_timeout`). */
  brpop_timeout?: number;
  /** Queue for messages that match no binding (kombu's virtual-transport option). @default none */
  deadletter_queue?: string | null;
  /** Only `true` (kombu's default) is supported. */
  ack_emulation?: boolean;
  /** celeriac: seconds between `restore_visible` scans while consuming (kombu: about every 10 s). @default 10 */
  restore_visible_interval?: number;
}

export interface ResolvedRedisOptions {
  visibilityTimeout: number;
  prioritySteps: readonly number[];
  sep: string;
  queueOrderStrategy: QueueOrderStrategy;
  globalKeyprefix: string;
  /** Already formatted with the db number. */
  fanoutPrefix: string;
  fanoutPatterns: boolean;
  unackedKey: string;
  unackedIndexKey: string;
  unackedMutexKey: string;
  unackedMutexExpire: number;
  unackedRestoreLimit: number | null;
  brpopTimeout: number;
  deadletterQueue: string | null;
  restoreVisibleInterval: number;
  socketTimeout: number | undefined;
}

/** kombu's defaults. */
export const REDIS_TRANSPORT_DEFAULTS = Object.freeze({
  visibility_timeout: 3600,
  priority_steps: Object.freeze([0, 3, 6, 9]),
  sep: '\x06\x16',
  queue_order_strategy: 'round_robin' as QueueOrderStrategy,
  global_keyprefix: '',
  fanout_prefix: true,
  fanout_patterns: true,
  unacked_key: 'unacked',
  unacked_index_key: 'unacked_index',
  unacked_mutex_key: 'unacked_mutex',
  unacked_mutex_expire: 300,
  unacked_restore_limit: null,
  polling_interval: 1,
  restore_visible_interval: 10,
});

function bad(name: string, expected: string, got: unknown): never {
  throw new ConfigurationError(`broker_transport_options.${name} must be ${expected} (got ${JSON.stringify(got) ?? String(got)})`);
}

function num(o: RedisTransportOptions, name: keyof RedisTransportOptions, dflt: number, min = 0): number {
  const v = o[name];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) bad(String(name), `a number >= ${min}`, v);
  return v;
}

function str(o: RedisTransportOptions, name: keyof RedisTransportOptions, dflt: string, allowEmpty = false): string {
  const v = o[name];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || (!allowEmpty && v === '')) bad(String(name), allowEmpty ? 'a string' : 'a non-empty string', v);
  return v;
}

function bool(o: RedisTransportOptions, name: keyof RedisTransportOptions, dflt: boolean): boolean {
  const v = o[name];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') bad(String(name), 'true or false', v);
  return v;
}

/** Validates the options (errors name the option and what it accepts) and fills in kombu's defaults. */
export function resolveRedisOptions(o: RedisTransportOptions, db: number): ResolvedRedisOptions {
  const d = REDIS_TRANSPORT_DEFAULTS;
  const steps = o.priority_steps ?? d.priority_steps;
  if (!Array.isArray(steps) || steps.length === 0 || steps.some((s, i) => !Number.isInteger(s) || s < 0 || (i > 0 && s <= steps[i - 1]!))) {
    bad('priority_steps', 'a non-empty ascending list of integers >= 0', steps);
  }
  const strategy = o.queue_order_strategy ?? d.queue_order_strategy;
  if (!['round_robin', 'sorted', 'priority'].includes(strategy)) bad('queue_order_strategy', '"round_robin", "sorted" or "priority"', strategy);
  const fp = o.fanout_prefix ?? d.fanout_prefix;
  if (typeof fp !== 'boolean' && typeof fp !== 'string') bad('fanout_prefix', 'true, false or a string', fp);
  const fanoutPrefix = fp === true ? `/${db}.` : fp === false ? '' : fp.replaceAll('{db}', String(db));
  if (o.ack_emulation === false) {
    throw new ConfigurationError('broker_transport_options.ack_emulation=false is not supported by celeriac (kombu\'s default, true, is always used)');
  }
  const limit = o.unacked_restore_limit;
  if (limit !== undefined && limit !== null && (!Number.isInteger(limit) || limit < 0)) bad('unacked_restore_limit', 'an integer >= 0 or null', limit);
  const brpop = o.polling_interval ?? o.brpop_timeout;
  if (brpop !== undefined && (typeof brpop !== 'number' || !Number.isFinite(brpop) || brpop < 0)) {
    bad(o.polling_interval !== undefined ? 'polling_interval' : 'brpop_timeout', 'a number >= 0', brpop);
  }
  const dl = o.deadletter_queue;
  if (dl !== undefined && dl !== null && (typeof dl !== 'string' || dl === '')) bad('deadletter_queue', 'a queue name or null', dl);
  return {
    visibilityTimeout: num(o, 'visibility_timeout', d.visibility_timeout),
    prioritySteps: Object.freeze([...steps]),
    sep: str(o, 'sep', d.sep),
    queueOrderStrategy: strategy,
    globalKeyprefix: str(o, 'global_keyprefix', d.global_keyprefix, true),
    fanoutPrefix,
    fanoutPatterns: bool(o, 'fanout_patterns', d.fanout_patterns),
    unackedKey: str(o, 'unacked_key', d.unacked_key),
    unackedIndexKey: str(o, 'unacked_index_key', d.unacked_index_key),
    unackedMutexKey: str(o, 'unacked_mutex_key', d.unacked_mutex_key),
    unackedMutexExpire: num(o, 'unacked_mutex_expire', d.unacked_mutex_expire, 0.001),
    unackedRestoreLimit: limit ?? null,
    // BRPOP with timeout 0 blocks forever; kombu sends `timeout or 0` too, but then cancel could hang
    brpopTimeout: brpop === undefined || brpop === 0 ? d.polling_interval : brpop,
    deadletterQueue: dl ?? null,
    restoreVisibleInterval: num(o, 'restore_visible_interval', d.restore_visible_interval, 0.01),
    socketTimeout: o.socket_timeout,
  };
}
