/**
 * Celery's settings, as far as a producer, a worker and a result backend need them. Names, meanings and
 * defaults are Celery 5.6's (`celery/app/defaults.py`, `celery/app/utils.py:Settings`), so a user can
 * paste the settings of their Python app. Every setting is accepted in Celery's snake_case
 * (`task_default_queue`) and in camelCase (`taskDefaultQueue`); the resolved {@link Settings} uses
 * camelCase. Nested option dicts (`broker_transport_options`, ...) are passed through as written.
 *
 *   const settings = resolveConfig({ broker_url: 'redis://redis:6379/0', task_routes: { 'feed.*': 'feeds' } });
 */
import { COMPRESSIONS } from '../protocol/compression.ts';
import { prepareAcceptContent } from '../protocol/serialization/registry.ts';
import { isPlainObject } from '../protocol/values.ts';
import type { ExchangeType } from './broker.ts';
import { ConfigurationError } from './errors.ts';
import type { QueuesSetting, RoutesSetting } from './routing.ts';

/** kombu's publish retry policy (`task_publish_retry_policy`, `apply_async(retry_policy=...)`). */
export interface RetryPolicy {
  /** Give up after this many retries; `null` retries forever. @default 3 */
  maxRetries: number | null;
  /** Seconds to wait before the first retry. @default 0 */
  intervalStart: number;
  /** Seconds added to the wait for each further retry. @default 0.2 */
  intervalStep: number;
  /** Longest wait between retries, in seconds. @default 1 */
  intervalMax: number;
}

/** A retry policy as users write it: Celery's keys or camelCase, any subset. */
export interface RetryPolicyInput {
  max_retries?: number | null;
  interval_start?: number;
  interval_step?: number;
  interval_max?: number;
  maxRetries?: number | null;
  intervalStart?: number;
  intervalStep?: number;
  intervalMax?: number;
}

/** Transport options, exactly as Celery's `broker_transport_options` (kombu names: `visibility_timeout`, ...). */
export type TransportOptions = Record<string, unknown>;

/** The resolved settings (camelCase). Celery's name of each is in its doc comment. */
export interface Settings {
  /** `broker_url`. Env `CELERY_BROKER_URL` wins, as in Celery. @default 'redis://localhost:6379/0' */
  readonly brokerUrl: string;
  /** `result_backend`; `null` disables results. Env `CELERY_RESULT_BACKEND` wins. @default null */
  readonly resultBackend: string | null;
  /** `task_default_queue`. @default 'celery' */
  readonly taskDefaultQueue: string;
  /** `task_default_exchange`. @default the default queue's name */
  readonly taskDefaultExchange: string;
  /** `task_default_exchange_type`. @default 'direct' */
  readonly taskDefaultExchangeType: ExchangeType;
  /** `task_default_routing_key`. @default the default queue's name */
  readonly taskDefaultRoutingKey: string;
  /** `task_default_priority`: used when a task is sent without `priority`. @default null (sent as 0) */
  readonly taskDefaultPriority: number | null;
  /** `task_default_delivery_mode`: 2 persistent, 1 transient (`'persistent'`/`'transient'` accepted). @default 2 */
  readonly taskDefaultDeliveryMode: number;
  /** `task_queues`. @default null (only the default queue) */
  readonly taskQueues: QueuesSetting | null;
  /** `task_routes`. @default null */
  readonly taskRoutes: RoutesSetting | null;
  /** `task_create_missing_queues`. @default true */
  readonly taskCreateMissingQueues: boolean;
  /** `task_queue_max_priority`: `x-max-priority` of every queue that sets none. @default null */
  readonly taskQueueMaxPriority: number | null;
  /** `task_serializer`. @default 'json' */
  readonly taskSerializer: string;
  /** `task_compression`. @default null */
  readonly taskCompression: string | null;
  /** `result_serializer`. @default 'json' */
  readonly resultSerializer: string;
  /** `result_compression`. @default null */
  readonly resultCompression: string | null;
  /** `accept_content`. @default ['json'] */
  readonly acceptContent: readonly string[];
  /** `result_accept_content`. @default null (= accept_content) */
  readonly resultAcceptContent: readonly string[] | null;
  /** `security_key`: path of the PEM private key the `auth` serializer signs with. @default null */
  readonly securityKey: string | null;
  /** `security_key_password`: its passphrase. @default null */
  readonly securityKeyPassword: string | null;
  /** `security_certificate`: path of the PEM certificate of that key (its id names the signer). @default null */
  readonly securityCertificate: string | null;
  /** `security_cert_store`: a directory or glob of the PEM certificates whose signatures are trusted. @default null */
  readonly securityCertStore: string | null;
  /** `security_digest`. @default 'sha256' */
  readonly securityDigest: string;
  /** `result_expires` in seconds; `null` or 0 keeps results forever. @default 86400 */
  readonly resultExpires: number | null;
  /** `result_extended`. @default false */
  readonly resultExtended: boolean;
  /** `result_persistent`. @default null */
  readonly resultPersistent: boolean | null;
  /** `task_ignore_result`. @default false */
  readonly taskIgnoreResult: boolean;
  /** `task_track_started`. @default false */
  readonly taskTrackStarted: boolean;
  /** `task_acks_late`. @default false */
  readonly taskAcksLate: boolean;
  /** `task_reject_on_worker_lost`. @default null */
  readonly taskRejectOnWorkerLost: boolean | null;
  /** `task_time_limit` (worker side). @default null */
  readonly taskTimeLimit: number | null;
  /** `task_soft_time_limit` (worker side). @default null */
  readonly taskSoftTimeLimit: number | null;
  /** `task_publish_retry`. @default true */
  readonly taskPublishRetry: boolean;
  /** `task_publish_retry_policy`. @default {maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1} */
  readonly taskPublishRetryPolicy: Readonly<RetryPolicy>;
  /** `task_send_sent_event`. @default false */
  readonly taskSendSentEvent: boolean;
  /** `task_inherit_parent_priority`. @default false */
  readonly taskInheritParentPriority: boolean;
  /** `worker_prefetch_multiplier`. @default 4 */
  readonly workerPrefetchMultiplier: number;
  /** `worker_concurrency`; `null` = number of CPUs. @default null */
  readonly workerConcurrency: number | null;
  /**
   * `worker_pool` (`-P`): `async` (the event loop), `threads` (a worker thread per slot), `processes` (a
   * child process per slot); Celery's `prefork` → processes, `solo`, `eventlet`, `gevent` → async. @default 'async'
   */
  readonly workerPool: string;
  /** `worker_max_tasks_per_child`: a pool slot is replaced after this many tasks (threads, processes). @default null */
  readonly workerMaxTasksPerChild: number | null;
  /** `worker_max_memory_per_child` (KiB): a pool slot above it after a task is replaced (threads, processes). @default null */
  readonly workerMaxMemoryPerChild: number | null;
  /** `broker_transport_options`. @default {} */
  readonly brokerTransportOptions: Readonly<TransportOptions>;
  /** `result_backend_transport_options`. @default {} */
  readonly resultBackendTransportOptions: Readonly<TransportOptions>;
  /** `broker_connection_retry`. @default true */
  readonly brokerConnectionRetry: boolean;
  /** `broker_connection_retry_on_startup`. @default null (follows broker_connection_retry) */
  readonly brokerConnectionRetryOnStartup: boolean | null;
  /**
   * `broker_connection_max_retries`; `null` = forever, 0 = give up at the first failure (kombu's
   * `retry_over_time`; Celery's docs say 0 is forever, its code does not). @default 100
   */
  readonly brokerConnectionMaxRetries: number | null;
  /** `broker_connection_timeout` in seconds. @default 4 */
  readonly brokerConnectionTimeout: number;
  /** `result_chord_join_timeout`: seconds a chord waits joining its header results (`celery.chord_unlock`, a saved complex header). @default 3.0 */
  readonly resultChordJoinTimeout: number;
  /**
   * `task_allow_error_cb_on_chord_header` (Celery 5.3+): linking an errback to a chord links it to every
   * header task too (as an immutable clone), not only to the body. @default false
   */
  readonly taskAllowErrorCbOnChordHeader: boolean;
  /** `broker_heartbeat` in seconds (AMQP); 0 disables heartbeats. @default 120 */
  readonly brokerHeartbeat: number;
  /** `broker_use_ssl` (AMQP): true, or kombu's dict `{ca_certs, certfile, keyfile, cert_reqs, server_hostname}`. @default false */
  readonly brokerUseSsl: boolean | Readonly<Record<string, unknown>>;
  /** `redis_backend_use_ssl`: Celery's dict `{ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ssl_keyfile}` for a rediss:// or sentinel:// result backend. @default null */
  readonly redisBackendUseSsl: boolean | null | Readonly<Record<string, unknown>>;
  /** `task_default_queue_type`: `classic` or `quorum` (`x-queue-type` of the default queue, AMQP). @default 'classic' */
  readonly taskDefaultQueueType: 'classic' | 'quorum';
  /** `task_create_missing_queue_type`: `classic` or `quorum` for queues created on demand (AMQP). @default 'classic' */
  readonly taskCreateMissingQueueType: 'classic' | 'quorum';
  /** `broker_native_delayed_delivery_queue_type`: `x-queue-type` of the `celery_delayed_*` queues. @default 'quorum' */
  readonly brokerNativeDelayedDeliveryQueueType: 'classic' | 'quorum';
  /** `worker_detect_quorum_queues`: per-consumer QoS when a queue is a quorum queue. @default true */
  readonly workerDetectQuorumQueues: boolean;
  /** `control_exchange`: remote control goes through `<name>.pidbox`. @default 'celery' */
  readonly controlExchange: string;
  /** `control_queue_ttl`: `x-message-ttl` of pidbox queues (s). @default 300 */
  readonly controlQueueTtl: number | null;
  /** `control_queue_expires`: `x-expires` of pidbox queues (s). @default 10 */
  readonly controlQueueExpires: number | null;
  /** `control_queue_durable`. @default false */
  readonly controlQueueDurable: boolean;
  /** `control_queue_exclusive`. @default false */
  readonly controlQueueExclusive: boolean;
  /** `worker_enable_remote_control`: the worker consumes `celery.pidbox`. @default true */
  readonly workerEnableRemoteControl: boolean;
  /** `worker_disable_rate_limits`. @default false */
  readonly workerDisableRateLimits: boolean;
  /** `worker_send_task_events` (`celery worker -E`): task events; worker events are sent regardless. @default false */
  readonly workerSendTaskEvents: boolean;
  /** `event_exchange`. @default 'celeryev' */
  readonly eventExchange: string;
  /** `event_serializer`. @default 'json' */
  readonly eventSerializer: string;
  /** `event_queue_ttl`: `x-message-ttl` of event receiver queues (s, AMQP). @default 5.0 */
  readonly eventQueueTtl: number | null;
  /** `event_queue_expires`: `x-expires` of event receiver queues (s, AMQP). @default 60.0 */
  readonly eventQueueExpires: number | null;
  /** `event_queue_prefix`: receiver queues are `<prefix>.<uuid>`. @default 'celeryev' */
  readonly eventQueuePrefix: string;
  /** `event_queue_exclusive`. @default false */
  readonly eventQueueExclusive: boolean;
  /** `event_queue_durable`. @default false */
  readonly eventQueueDurable: boolean;
  /** `timezone`. @default null (UTC when enable_utc) */
  readonly timezone: string | null;
  /** `enable_utc`. @default true */
  readonly enableUtc: boolean;
  /**
   * `beat_schedule`: entry name -> `{task, schedule, args, kwargs, options, relative}` (snake_case or
   * camelCase), read by `celeriac beat` (src/beat/entries.ts validates each entry). @default {}
   */
  readonly beatSchedule: Readonly<Record<string, unknown>>;
  /** `beat_scheduler`: Celery's class path or `file` / `redis` (`redbeat.RedBeatScheduler`). @default 'celery.beat:PersistentScheduler' */
  readonly beatScheduler: string;
  /** `beat_schedule_filename` (the file store). @default 'celerybeat-schedule.json' */
  readonly beatScheduleFilename: string;
  /** `beat_max_loop_interval` in seconds; 0 = the scheduler's own (300 s). @default 0 */
  readonly beatMaxLoopInterval: number;
  /** `beat_cron_starting_deadline` in seconds. @default null */
  readonly beatCronStartingDeadline: number | null;
  /** `beat_sync_every`: accepted for Celery's sake; the file store persists every claim before it sends. @default 0 */
  readonly beatSyncEvery: number;
  /** `redbeat_redis_url`: the Redis store's URL; null = `broker_url` (RedBeat's fallback). @default null */
  readonly redbeatRedisUrl: string | null;
  /** `redbeat_key_prefix`. @default 'redbeat:' */
  readonly redbeatKeyPrefix: string;
  /** `redbeat_lock_key`; null = `<prefix>:lock`. @default null */
  readonly redbeatLockKey: string | null;
  /** `redbeat_lock_timeout` in seconds; null = 5 x the max loop interval (RedBeat's default). @default null */
  readonly redbeatLockTimeout: number | null;
  /**
   * `redbeat_celeriac_only` (celeriac's): no Python RedBeat reads the Redis store, so entries RedBeat
   * cannot represent (solar, clocked, a crontab with its own time zone) may be stored. @default false
   */
  readonly redbeatCeleriacOnly: boolean;
  /**
   * `worker_deduplicate_successful_tasks`: a worker skips a delivery whose task id already succeeded
   * (Celery checks redelivered acks_late messages; celeriac checks every delivery, see src/worker). @default false
   */
  readonly workerDeduplicateSuccessfulTasks: boolean;
  /**
   * `worker_metrics_port` (celeriac's, no Celery setting): `celeriac worker` serves Prometheus metrics
   * (celery-exporter's names) on this port, as `--metrics-port` does. @default null (none)
   */
  readonly workerMetricsPort: number | null;
  /**
   * `worker_quarantine_max_messages` (celeriac's): how many refused messages (malformed, undecodable,
   * invalid, badly signed, unknown task) each queue's quarantine `<queue>.celeriac.invalid` keeps, newest
   * first; 0 keeps none (logged and dropped, as Celery does). See src/quarantine/. @default 10000
   */
  readonly workerQuarantineMaxMessages: number;
  /**
   * `worker_quarantine_max_age` (celeriac's): seconds a quarantined message is kept; null keeps it until
   * the count pushes it out or an operator purges it. @default 604800 (7 days)
   */
  readonly workerQuarantineMaxAge: number | null;
  /**
   * `worker_soft_shutdown_timeout` (Celery 5.5): seconds a cold shutdown first waits for running tasks
   * (a "soft" shutdown) before it abandons them; 0 is off. See src/worker/service/signals.ts. @default 0
   */
  readonly workerSoftShutdownTimeout: number;
  /** `worker_enable_soft_shutdown_on_idle` (Celery 5.5): the soft shutdown also when no task runs. @default false */
  readonly workerEnableSoftShutdownOnIdle: boolean;
}

/** What {@link resolveConfig} accepts: every setting in snake_case or camelCase, all optional. */
export type SettingsInput = {
  [K in keyof Settings]?: InputOf<K>;
} & {
  [K in keyof Settings as SnakeOf<K>]?: InputOf<K>;
};

type InputOf<K extends keyof Settings> = K extends 'taskPublishRetryPolicy'
  ? RetryPolicyInput
  : K extends 'taskDefaultDeliveryMode'
    ? number | 'persistent' | 'transient'
    : K extends 'taskDefaultPriority' | 'resultExpires'
      ? Settings[K] | undefined
      : Settings[K] extends readonly string[] | null
        ? readonly string[] | Settings[K]
        : Settings[K];

type SnakeOf<S extends string> = S extends `${infer H}${infer T}`
  ? `${H extends Lowercase<H> ? H : `_${Lowercase<H>}`}${SnakeOf<T>}`
  : S;

/** Celery's defaults (Celery 5.6), except `broker_url`, which defaults to local Redis instead of AMQP. */
export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  brokerUrl: 'redis://localhost:6379/0',
  resultBackend: null,
  taskDefaultQueue: 'celery',
  taskDefaultExchange: 'celery',
  taskDefaultExchangeType: 'direct',
  taskDefaultRoutingKey: 'celery',
  taskDefaultPriority: null,
  taskDefaultDeliveryMode: 2,
  taskQueues: null,
  taskRoutes: null,
  taskCreateMissingQueues: true,
  taskQueueMaxPriority: null,
  taskSerializer: 'json',
  taskCompression: null,
  resultSerializer: 'json',
  resultCompression: null,
  acceptContent: Object.freeze(['json']),
  resultAcceptContent: null,
  securityKey: null,
  securityKeyPassword: null,
  securityCertificate: null,
  securityCertStore: null,
  securityDigest: 'sha256',
  resultExpires: 86400,
  resultExtended: false,
  resultPersistent: null,
  taskIgnoreResult: false,
  taskTrackStarted: false,
  taskAcksLate: false,
  taskRejectOnWorkerLost: null,
  taskTimeLimit: null,
  taskSoftTimeLimit: null,
  taskPublishRetry: true,
  taskPublishRetryPolicy: Object.freeze({ maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1 }),
  taskSendSentEvent: false,
  taskInheritParentPriority: false,
  workerPrefetchMultiplier: 4,
  workerConcurrency: null,
  workerPool: 'async',
  workerMaxTasksPerChild: null,
  workerMaxMemoryPerChild: null,
  brokerTransportOptions: Object.freeze({}),
  resultBackendTransportOptions: Object.freeze({}),
  brokerConnectionRetry: true,
  brokerConnectionRetryOnStartup: null,
  brokerConnectionMaxRetries: 100,
  brokerConnectionTimeout: 4,
  resultChordJoinTimeout: 3,
  taskAllowErrorCbOnChordHeader: false,
  brokerHeartbeat: 120,
  brokerUseSsl: false,
  redisBackendUseSsl: null,
  taskDefaultQueueType: 'classic',
  taskCreateMissingQueueType: 'classic',
  brokerNativeDelayedDeliveryQueueType: 'quorum',
  workerDetectQuorumQueues: true,
  controlExchange: 'celery',
  controlQueueTtl: 300,
  controlQueueExpires: 10,
  controlQueueDurable: false,
  controlQueueExclusive: false,
  workerEnableRemoteControl: true,
  workerDisableRateLimits: false,
  workerSendTaskEvents: false,
  eventExchange: 'celeryev',
  eventSerializer: 'json',
  eventQueueTtl: 5,
  eventQueueExpires: 60,
  eventQueuePrefix: 'celeryev',
  eventQueueExclusive: false,
  eventQueueDurable: false,
  timezone: null,
  enableUtc: true,
  beatSchedule: Object.freeze({}),
  beatScheduler: 'celery.beat:PersistentScheduler',
  beatScheduleFilename: 'celerybeat-schedule.json',
  beatMaxLoopInterval: 0,
  beatCronStartingDeadline: null,
  beatSyncEvery: 0,
  redbeatRedisUrl: null,
  redbeatKeyPrefix: 'redbeat:',
  redbeatLockKey: null,
  redbeatLockTimeout: null,
  redbeatCeleriacOnly: false,
  workerDeduplicateSuccessfulTasks: false,
  workerMetricsPort: null,
  workerQuarantineMaxMessages: 10_000,
  workerQuarantineMaxAge: 604_800,
  workerSoftShutdownTimeout: 0,
  workerEnableSoftShutdownOnIdle: false,
});

// ---------------------------------------------------------------------------------------------
// names

/** `taskDefaultQueue` -> `task_default_queue`. */
export function toSnakeCase(name: string): string {
  return memo(SNAKE_CACHE, name, () => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
}

/** `task_default_queue` -> `taskDefaultQueue`. */
export function toCamelCase(name: string): string {
  return memo(CAMEL_CACHE, name, () => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
}

// Option and setting names are converted on every send: remember the (few) names seen, bounded so
// arbitrary keys (e.g. custom headers passed by mistake) cannot grow it without limit.
const SNAKE_CACHE = new Map<string, string>();
const CAMEL_CACHE = new Map<string, string>();
function memo(cache: Map<string, string>, key: string, compute: () => string): string {
  let v = cache.get(key);
  if (v === undefined) {
    v = compute();
    if (cache.size < 1024) cache.set(key, v);
  }
  return v;
}

const CAMEL_NAMES = Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[];
const SNAKE_NAMES = CAMEL_NAMES.map(toSnakeCase);
const BY_NAME = new Map<string, keyof Settings>();
for (const camel of CAMEL_NAMES) {
  BY_NAME.set(camel, camel);
  BY_NAME.set(toSnakeCase(camel), camel);
}

/** Celery's pre-4.0 uppercase names that differ from `celery_` + the new name. */
const OLD_NAMES: Record<string, string> = {
  broker_url: 'broker_url', celery_result_backend: 'result_backend', celery_task_result_expires: 'result_expires',
  celeryd_prefetch_multiplier: 'worker_prefetch_multiplier', celeryd_concurrency: 'worker_concurrency',
  celeryd_task_time_limit: 'task_time_limit', celeryd_task_soft_time_limit: 'task_soft_time_limit',
  celery_message_compression: 'task_compression', celery_routes: 'task_routes', celery_queues: 'task_queues',
  celery_default_queue: 'task_default_queue', celery_default_exchange: 'task_default_exchange',
  celery_default_exchange_type: 'task_default_exchange_type', celery_default_routing_key: 'task_default_routing_key',
  celery_default_delivery_mode: 'task_default_delivery_mode', celery_create_missing_queues: 'task_create_missing_queues',
  celery_accept_content: 'accept_content', celery_enable_utc: 'enable_utc', celery_timezone: 'timezone',
  celery_acks_late: 'task_acks_late', celery_track_started: 'task_track_started', celery_ignore_result: 'task_ignore_result',
  celery_send_task_sent_event: 'task_send_sent_event', celery_send_events: 'worker_send_task_events', celery_task_publish_retry: 'task_publish_retry',
  celery_task_publish_retry_policy: 'task_publish_retry_policy',
};

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** Up to 3 names from `names` close to `name` (edit distance, or one containing the other). */
export function nearMatches(name: string, names: readonly string[]): string[] {
  const n = toSnakeCase(name).toLowerCase();
  return names
    .map((candidate) => {
      const c = candidate.toLowerCase();
      let d = levenshtein(n, c);
      if (n.length >= 4 && (c.includes(n) || n.includes(c))) d = Math.min(d, 2);
      return { candidate, d };
    })
    .filter(({ d }) => d <= Math.max(2, Math.floor(n.length / 3)))
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map(({ candidate }) => candidate);
}

function unknownSetting(key: string): ConfigurationError {
  const lower = key.toLowerCase();
  const renamed = OLD_NAMES[lower] ?? (lower.startsWith('celery_') ? lower.slice(7) : undefined);
  if (key !== lower && renamed && BY_NAME.has(renamed)) {
    return new ConfigurationError(`unknown setting ${JSON.stringify(key)}: that is Celery's old name, use ${JSON.stringify(renamed)}`);
  }
  const near = nearMatches(key, SNAKE_NAMES);
  const hint = near.length > 0 ? `; did you mean ${near.map((n) => JSON.stringify(n)).join(' or ')}?` : '';
  return new ConfigurationError(`unknown setting ${JSON.stringify(key)}${hint} (settings use Celery's names, snake_case or camelCase)`);
}

// ---------------------------------------------------------------------------------------------
// validation

function show(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function fail(name: string, expected: string, value: unknown): never {
  throw new ConfigurationError(`${name} must be ${expected}, got ${show(value)}`);
}

function str(name: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') fail(name, 'a non-empty string', v);
  return v;
}
function strOrNull(name: string, v: unknown): string | null {
  return v === null ? null : str(name, v);
}
function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(name, 'true or false', v);
  return v;
}
function boolOrNull(name: string, v: unknown): boolean | null {
  return v === null ? null : bool(name, v);
}
function num(name: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail(name, `a number >= ${min}`, v);
  return v;
}
function numOrNull(name: string, v: unknown, min = 0): number | null {
  return v === null ? null : num(name, v, min);
}
function int(name: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(name, `an integer >= ${min}`, v);
  return v;
}
function intOrNull(name: string, v: unknown, min = 0): number | null {
  return v === null ? null : int(name, v, min);
}
function queueType(name: string, v: unknown): 'classic' | 'quorum' {
  if (v !== 'classic' && v !== 'quorum') fail(name, "'classic' or 'quorum'", v);
  return v;
}
function dict(name: string, v: unknown): Readonly<Record<string, unknown>> {
  if (!isPlainObject(v)) fail(name, 'an object', v);
  return Object.freeze({ ...(v as Record<string, unknown>) });
}

const SERIALIZER_NAMES = ['json', 'msgpack', 'yaml'];

/** A serializer celeriac can write. */
export function checkSerializer(name: string, v: unknown): string {
  if (v === 'pickle') throw new ConfigurationError(`${name}: pickle can only be produced and read by Python; use ${SERIALIZER_NAMES.join(', ')}`);
  if (typeof v !== 'string' || !SERIALIZER_NAMES.includes(v)) fail(name, `one of ${SERIALIZER_NAMES.join(', ')}`, v);
  return v;
}

/** A compression kombu knows (alias or mime type), or null. */
export function checkCompression(name: string, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const ok = typeof v === 'string' && COMPRESSIONS.some((c) => c.contentType === v || c.aliases.includes(v));
  if (!ok) fail(name, `null or one of ${COMPRESSIONS.flatMap((c) => c.aliases).join(', ')}`, v);
  return v as string;
}

function contentList(name: string, v: unknown): readonly string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) fail(name, 'a list of serializer names or content types', v);
  try {
    prepareAcceptContent(list.filter((x) => x !== 'pickle'));
  } catch (err) {
    throw new ConfigurationError(`${name}: ${(err as Error).message.replace(/^serializer: /, '')}`, { cause: err });
  }
  return Object.freeze([...list]);
}

const EXCHANGE_TYPES: readonly ExchangeType[] = ['direct', 'topic', 'fanout', 'headers'];

/** `'direct' | 'topic' | 'fanout' | 'headers'`. */
export function checkExchangeType(name: string, v: unknown): ExchangeType {
  if (typeof v !== 'string' || !EXCHANGE_TYPES.includes(v as ExchangeType)) fail(name, `one of ${EXCHANGE_TYPES.join(', ')}`, v);
  return v as ExchangeType;
}

/** kombu's `maybe_delivery_mode`: 2/'persistent' or 1/'transient'. */
export function checkDeliveryMode(name: string, v: unknown): number {
  if (v === 'persistent') return 2;
  if (v === 'transient') return 1;
  if (v !== 1 && v !== 2) fail(name, "1, 2, 'transient' or 'persistent'", v);
  return v;
}

/** A priority 0..255 (Redis uses 0..9, RabbitMQ up to the queue's `x-max-priority`). */
export function checkPriority(name: string, v: unknown): number {
  return int(name, v, 0);
}

const RETRY_POLICY_KEYS: Record<string, keyof RetryPolicy> = {
  max_retries: 'maxRetries', maxRetries: 'maxRetries',
  interval_start: 'intervalStart', intervalStart: 'intervalStart',
  interval_step: 'intervalStep', intervalStep: 'intervalStep',
  interval_max: 'intervalMax', intervalMax: 'intervalMax',
};

/** Merge a retry policy onto a base (Celery: `dict(default_policy, **retry_policy)`), validating it. */
export function resolveRetryPolicy(name: string, input: unknown, base: Readonly<RetryPolicy> = DEFAULT_SETTINGS.taskPublishRetryPolicy): Readonly<RetryPolicy> {
  if (input === undefined || input === null) return base;
  if (!isPlainObject(input)) fail(name, 'an object with max_retries, interval_start, interval_step, interval_max', input);
  const out: RetryPolicy = { ...base };
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    const field = RETRY_POLICY_KEYS[key];
    if (!field) {
      const near = nearMatches(key, ['max_retries', 'interval_start', 'interval_step', 'interval_max']);
      throw new ConfigurationError(`${name}: unknown key ${JSON.stringify(key)}${near.length ? `; did you mean ${JSON.stringify(near[0])}?` : ''} (accepted: max_retries, interval_start, interval_step, interval_max)`);
    }
    if (value === undefined) continue;
    if (field === 'maxRetries') out.maxRetries = intOrNull(`${name}.max_retries`, value);
    else out[field] = num(`${name}.${toSnakeCase(field)}`, value);
  }
  return Object.freeze(out);
}

function queuesSetting(name: string, v: unknown): QueuesSetting | null {
  if (v === null) return null;
  if (!Array.isArray(v) && !isPlainObject(v)) fail(name, 'a list of queues (names or {name, exchange, routing_key, ...}) or an object {name: options}', v);
  return v as QueuesSetting;
}

function routesSetting(name: string, v: unknown): RoutesSetting | null {
  if (v === null) return null;
  if (typeof v === 'string') {
    throw new ConfigurationError(`${name}: a router given by import path (${JSON.stringify(v)}) is Python-only; pass a function or a map`);
  }
  if (!Array.isArray(v) && !isPlainObject(v) && !(v instanceof Map) && typeof v !== 'function') {
    fail(name, 'an object {task name or glob: route}, a Map, a function, or a list of those', v);
  }
  return v as RoutesSetting;
}

type Validator = (name: string, v: unknown) => unknown;

const VALIDATORS: { [K in keyof Settings]: Validator } = {
  brokerUrl: str,
  resultBackend: strOrNull,
  taskDefaultQueue: str,
  taskDefaultExchange: str,
  taskDefaultExchangeType: checkExchangeType,
  taskDefaultRoutingKey: str,
  taskDefaultPriority: (n, v) => (v === null ? null : checkPriority(n, v)),
  taskDefaultDeliveryMode: checkDeliveryMode,
  taskQueues: queuesSetting,
  taskRoutes: routesSetting,
  taskCreateMissingQueues: bool,
  taskQueueMaxPriority: (n, v) => intOrNull(n, v),
  taskSerializer: (n, v) => (v === 'auth' ? v : checkSerializer(n, v)), // auth: Celery's message signing (src/security.ts)
  taskCompression: checkCompression,
  resultSerializer: (n, v) => (v === 'auth' ? v : checkSerializer(n, v)), // auth: signed results, after app.setupSecurity()
  resultCompression: checkCompression,
  acceptContent: contentList,
  resultAcceptContent: (n, v) => (v === null ? null : contentList(n, v)),
  securityKey: strOrNull,
  securityKeyPassword: strOrNull,
  securityCertificate: strOrNull,
  securityCertStore: strOrNull,
  securityDigest: str,
  resultExpires: (n, v) => numOrNull(n, v),
  resultExtended: bool,
  resultPersistent: boolOrNull,
  taskIgnoreResult: bool,
  taskTrackStarted: bool,
  taskAcksLate: bool,
  taskRejectOnWorkerLost: boolOrNull,
  taskTimeLimit: (n, v) => numOrNull(n, v),
  taskSoftTimeLimit: (n, v) => numOrNull(n, v),
  taskPublishRetry: bool,
  taskPublishRetryPolicy: (n, v) => resolveRetryPolicy(n, v),
  taskSendSentEvent: bool,
  taskInheritParentPriority: bool,
  workerPrefetchMultiplier: (n, v) => int(n, v),
  workerConcurrency: (n, v) => intOrNull(n, v, 1),
  workerPool: str,
  workerMaxTasksPerChild: (n, v) => intOrNull(n, v, 1),
  workerMaxMemoryPerChild: (n, v) => intOrNull(n, v, 1),
  brokerTransportOptions: dict,
  resultBackendTransportOptions: dict,
  brokerConnectionRetry: bool,
  brokerConnectionRetryOnStartup: boolOrNull,
  brokerConnectionMaxRetries: (n, v) => intOrNull(n, v),
  brokerConnectionTimeout: (n, v) => num(n, v),
  resultChordJoinTimeout: (n, v) => num(n, v),
  taskAllowErrorCbOnChordHeader: bool,
  brokerHeartbeat: (n, v) => num(n, v),
  brokerUseSsl: (n, v) => (typeof v === 'boolean' ? v : dict(n, v)),
  redisBackendUseSsl: (n, v) => (v === null || typeof v === 'boolean' ? v : dict(n, v)),
  taskDefaultQueueType: queueType,
  taskCreateMissingQueueType: queueType,
  brokerNativeDelayedDeliveryQueueType: queueType,
  workerDetectQuorumQueues: bool,
  controlExchange: str,
  controlQueueTtl: (n, v) => numOrNull(n, v),
  controlQueueExpires: (n, v) => numOrNull(n, v),
  controlQueueDurable: bool,
  controlQueueExclusive: bool,
  workerEnableRemoteControl: bool,
  workerDisableRateLimits: bool,
  workerSendTaskEvents: bool,
  eventExchange: str,
  eventSerializer: checkSerializer,
  eventQueueTtl: (n, v) => numOrNull(n, v),
  eventQueueExpires: (n, v) => numOrNull(n, v),
  eventQueuePrefix: str,
  eventQueueExclusive: bool,
  eventQueueDurable: bool,
  timezone: strOrNull,
  enableUtc: bool,
  beatSchedule: (n, v) => (v === null ? Object.freeze({}) : dict(n, v)),
  beatScheduler: str,
  beatScheduleFilename: str,
  beatMaxLoopInterval: (n, v) => num(n, v),
  beatCronStartingDeadline: (n, v) => numOrNull(n, v),
  beatSyncEvery: (n, v) => int(n, v),
  redbeatRedisUrl: strOrNull,
  redbeatKeyPrefix: str,
  redbeatLockKey: strOrNull,
  redbeatLockTimeout: (n, v) => numOrNull(n, v),
  redbeatCeleriacOnly: bool,
  workerDeduplicateSuccessfulTasks: bool,
  workerMetricsPort: (n, v) => {
    const port = intOrNull(n, v, 0);
    if (port !== null && port > 65535) fail(n, 'a port number (0-65535) or null', v);
    return port;
  },
  workerQuarantineMaxMessages: (n, v) => int(n, v),
  workerSoftShutdownTimeout: (n, v) => num(n, v),
  workerEnableSoftShutdownOnIdle: bool,
  workerQuarantineMaxAge: (n, v) => {
    const age = numOrNull(n, v);
    if (age === 0) fail(n, 'a number of seconds above 0, or null (no age limit)', v);
    return age;
  },
};

export interface ResolveConfigOptions {
  /** Where `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND` are read. @default process.env */
  env?: Record<string, string | undefined>;
}

/**
 * Validate settings once and merge them onto {@link DEFAULT_SETTINGS}. Keys may be snake_case or
 * camelCase (giving both spellings of one setting is an error); unknown keys fail with the nearest
 * names. `undefined` values are ignored. As in Celery, the environment variables
 * `CELERY_BROKER_URL` and `CELERY_RESULT_BACKEND` override `broker_url` / `result_backend`, and
 * `task_default_exchange` / `task_default_routing_key` default to the default queue's name.
 */
export function resolveConfig(input: SettingsInput | Record<string, unknown> = {}, options: ResolveConfigOptions = {}): Settings {
  if (!isPlainObject(input)) throw new ConfigurationError(`settings must be an object, got ${show(input)}`);
  const env = options.env ?? process.env;
  const given = new Map<keyof Settings, { key: string; value: unknown }>();
  for (const [key, value] of Object.entries(input)) {
    const name = BY_NAME.get(key);
    if (!name) throw unknownSetting(key);
    if (value === undefined) continue;
    const prev = given.get(name);
    if (prev) throw new ConfigurationError(`setting ${toSnakeCase(name)} is given twice (as ${JSON.stringify(prev.key)} and ${JSON.stringify(key)})`);
    given.set(name, { key, value });
  }
  const out: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const [name, { key, value }] of given) {
    out[name] = VALIDATORS[name](key, value);
  }
  if (env.CELERY_BROKER_URL) out.brokerUrl = env.CELERY_BROKER_URL;
  if (env.CELERY_RESULT_BACKEND) out.resultBackend = env.CELERY_RESULT_BACKEND;
  if (!given.has('taskDefaultExchange')) out.taskDefaultExchange = out.taskDefaultQueue;
  if (!given.has('taskDefaultRoutingKey')) out.taskDefaultRoutingKey = out.taskDefaultQueue;
  return Object.freeze(out) as unknown as Settings;
}

/**
 * Settings in layers, lowest first, as one input for {@link resolveConfig}: a later layer's value of a
 * setting replaces an earlier one's, whichever spelling each uses (Celery's `config_from_object`
 * module below the app's own `Celery(...)` settings). Unknown keys fail, naming the layer's `source`
 * (when not empty).
 */
export function layerSettings(layers: readonly { source: string; settings: Record<string, unknown> }[]): Record<string, unknown> {
  const byName = new Map<keyof Settings, [string, unknown]>();
  for (const { source, settings } of layers) {
    const at = source ? `${source}: ` : '';
    const seen = new Map<keyof Settings, string>();
    for (const [key, value] of Object.entries(settings)) {
      const name = BY_NAME.get(key);
      if (!name) {
        const err = unknownSetting(key);
        throw at ? new ConfigurationError(at + err.message) : err;
      }
      if (value === undefined) continue;
      const prev = seen.get(name);
      if (prev !== undefined) throw new ConfigurationError(`${at}setting ${toSnakeCase(name)} is given twice (as ${JSON.stringify(prev)} and ${JSON.stringify(key)})`);
      seen.set(name, key);
      byName.set(name, [key, value]);
    }
  }
  return Object.fromEntries(byName.values());
}

/** Whether a key is a setting's name (snake_case or camelCase), or one of Celery's pre-4.0 names. */
export function isSettingName(key: string): boolean {
  if (BY_NAME.has(key)) return true;
  const lower = key.toLowerCase();
  return lower in OLD_NAMES || (lower.startsWith('celery_') && BY_NAME.has(lower.slice(7)));
}

/** Every setting's Celery (snake_case) name, in {@link DEFAULT_SETTINGS} order. */
export const SETTING_NAMES: readonly string[] = Object.freeze([...SNAKE_NAMES]);
