/**
 * Composes a beat from settings: the store (`-S` / `beat_scheduler`: the file, or Redis in RedBeat's
 * layout with its leader lock), the scheduler and the service. It takes only what beat needs from the
 * app (its settings and its `sendTask`), so `celeriac beat`, `celeriac worker -B` and tests build it
 * the same way.
 */
import { Redis } from 'ioredis';
import { ConfigurationError, OperationalError } from '../errors.ts';
import type { Settings } from '../config.ts';
import { connectRedis, guardRedisClient } from '../redis/client.ts';
import { parseRedisUrl, type RedisConnectOptions, type RedisUseSsl } from '../redis/url.ts';
import { createLogger, type WorkerLogger } from '../worker/log.ts';
import { entriesFromConfig } from './entries.ts';
import { LeaderLock } from './lock.ts';
import { beatPublisher, type SendTask } from './publisher.ts';
import { Scheduler, systemClock, type BeatClock } from './scheduler.ts';
import type { ScheduleContext } from './schedules/base.ts';
import { scheduleFromJSON } from './schedules/index.ts';
import { BeatService } from './service.ts';
import type { BeatStore, Claim, Entry } from './store.ts';
import { FileBeatStore } from './stores/file.ts';
import { RedisBeatStore } from './stores/redis.ts';

/** What beat takes from the app. */
export interface BeatHost {
  readonly conf: Settings;
  readonly sendTask: SendTask;
}

export interface BeatOptions {
  /** `-S`: `file`, `redis`, or a Celery class path (`redbeat.RedBeatScheduler`). @default beat_scheduler */
  scheduler?: string;
  /** `-s`: the file store's path. @default beat_schedule_filename */
  schedule?: string;
  /** `--max-interval` in seconds. @default beat_max_loop_interval, else 300 (file) or 30 (redis) */
  maxInterval?: number;
  /** The Redis store's lease, seconds. @default redbeat_lock_timeout, else 30 */
  lockTimeout?: number;
  logger?: WorkerLogger;
  clock?: BeatClock;
  /** Called after the broker confirmed a slot (metrics, tests). */
  onSent?: (claim: Claim, at: number) => void;
}

export type StoreKind = 'file' | 'redis';

const FILE_NAMES = ['file', 'celery.beat:PersistentScheduler', 'celery.beat.PersistentScheduler', 'PersistentScheduler'];
const REDIS_NAMES = [
  'redis', 'redbeat', 'redbeat.RedBeatScheduler', 'redbeat:RedBeatScheduler', 'redbeat.schedulers.RedBeatScheduler',
  'redbeat.schedulers:RedBeatScheduler', 'RedBeatScheduler',
];

/** `-S` / `beat_scheduler` to a store kind; Celery's class paths are accepted. */
export function storeKind(name: string): StoreKind {
  if (FILE_NAMES.includes(name)) return 'file';
  if (REDIS_NAMES.includes(name)) return 'redis';
  if (/django_celery_beat/i.test(name)) {
    throw new ConfigurationError(`scheduler ${JSON.stringify(name)}: django-celery-beat's database scheduler is not supported; use -S file or -S redis (RedBeat's layout)`);
  }
  throw new ConfigurationError(`unknown scheduler ${JSON.stringify(name)}: use file (celery.beat:PersistentScheduler) or redis (redbeat.RedBeatScheduler)`);
}

/** Celery's `app.timezone`: `timezone`, else UTC with `enable_utc`, else the local zone. Checked against the zone database. */
export function appTimezone(conf: Pick<Settings, 'timezone' | 'enableUtc'>): string {
  const zone = conf.timezone ?? (conf.enableUtc ? 'UTC' : Intl.DateTimeFormat().resolvedOptions().timeZone);
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    throw new ConfigurationError(`timezone ${JSON.stringify(zone)} is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)`);
  }
}

export interface Beat {
  readonly service: BeatService;
  readonly scheduler: Scheduler;
  readonly store: BeatStore;
  readonly kind: StoreKind;
  readonly maxInterval: number;
  /** The Redis store's lock key and lease (ms); null for the file store. */
  readonly lock: { key: string; timeout: number } | null;
}

/** Builds a beat (not started: call `beat.service.start()`). */
export async function createBeat(host: BeatHost, options: BeatOptions = {}): Promise<Beat> {
  const conf = host.conf;
  const logger = options.logger ?? createLogger('warning');
  const clock = options.clock ?? systemClock;
  const kind = storeKind(options.scheduler ?? conf.beatScheduler);
  const context: ScheduleContext = { timezone: appTimezone(conf), cronStartingDeadline: conf.beatCronStartingDeadline };
  const statics = entriesFromConfig(conf.beatSchedule);
  const maxInterval = 1000 * (options.maxInterval ?? (conf.beatMaxLoopInterval || (kind === 'redis' ? 30 : 300)));
  // the scheduler is built after the store, which needs its dueAt: a forward reference
  let scheduler!: Scheduler;
  const dueAt = (entry: Entry, now: number) => scheduler.dueAt(entry, now);
  let store: BeatStore;
  let lease: LeaderLock | undefined;
  let lock: Beat['lock'] = null;
  if (kind === 'file') {
    store = new FileBeatStore({
      path: options.schedule ?? conf.beatScheduleFilename, timezone: context.timezone, dueAt, fromJSON: scheduleFromJSON, logger, now: () => clock.now(),
    });
  } else {
    const url = conf.redbeatRedisUrl ?? conf.brokerUrl;
    const target = parseRedisUrl(url, conf.brokerTransportOptions as RedisConnectOptions, conf.brokerUseSsl as RedisUseSsl);
    const client = guardRedisClient(new Redis({ ...target.options, lazyConnect: true }));
    try {
      await connectRedis(client);
    } catch (err) {
      client.disconnect();
      throw new OperationalError(`cannot connect to the beat's Redis store ${target.safeUrl}: ${(err as Error).message}`, { cause: err });
    }
    const prefix = conf.redbeatKeyPrefix;
    let key = conf.redbeatLockKey ?? `${prefix}:lock`;
    if (!key.startsWith(prefix)) key = prefix + key;
    const timeout = 1000 * (options.lockTimeout ?? conf.redbeatLockTimeout ?? 30);
    lease = new LeaderLock(client, { key, timeoutMs: timeout });
    lock = { key, timeout };
    store = new RedisBeatStore({
      client, keyPrefix: prefix, lockKey: key, fromJSON: scheduleFromJSON, dueAt, lock: lease, location: target.safeUrl, closeClient: true,
      timezone: context.timezone, logger, now: () => clock.now(), redbeatCompatible: !conf.redbeatCeleriacOnly,
    });
  }
  scheduler = new Scheduler({
    store, publisher: beatPublisher((name, args, kwargs, opts) => host.sendTask(name, args, kwargs, opts)), context, logger, clock, maxInterval,
    mayPublish: () => service.mayPublish(),
    ...(options.onSent ? { onSent: options.onSent } : {}),
  });
  const service: BeatService = new BeatService({
    scheduler, store, statics, logger, clock, maxInterval,
    ...(lease ? { lease, leaseTime: lock!.timeout } : {}),
  });
  return { service, scheduler, store, kind, maxInterval, lock };
}
