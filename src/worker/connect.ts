/**
 * The worker's first connection to the broker, as Celery's `Consumer.ensure_connected` makes it
 * (celery/worker/consumer/consumer.py, kombu `Connection.ensure_connection` + `retry_over_time`):
 *
 * - `broker_connection_retry_on_startup` (Celery's default `None` follows `broker_connection_retry`,
 *   itself True): a worker started while the broker is down keeps trying, waiting 2 s, 4 s, 6 s, ...
 *   at most 30 s between attempts (kombu: interval_start=2, interval_step=2, interval_max=30), and
 *   logs each failure at ERROR as Celery does:
 *
 *       consumer: Cannot connect to amqp://guest:**@127.0.0.1:5672//: connect ECONNREFUSED 127.0.0.1:5672.
 *       Trying again in 2.00 seconds... (1/100)
 *
 *   up to `broker_connection_max_retries` retries (kombu: `None` = forever; `0` = no retry), then
 *   fails with a {@link BrokerConnectionError}.
 * - retry disabled: one attempt; the error names the safe URL (never the password) and the setting.
 *
 * Only connection errors are retried (kombu's `recoverable_connection_errors`); a refused login
 * (AMQP ACCESS_REFUSED) or a configuration error fails at once, as it does in Celery.
 */
import type { Broker } from '../broker.ts';
import { BrokerConnectionError, BrokerError } from '../brokers/errors.ts';
import type { Settings } from '../config.ts';
import type { WorkerLogger } from './log.ts';

export type StartupRetrySettings = Pick<Settings, 'brokerConnectionRetry' | 'brokerConnectionRetryOnStartup' | 'brokerConnectionMaxRetries'>;

export interface StartupConnectOptions {
  logger: WorkerLogger;
  /** True once the worker is being stopped: the retry loop gives up. */
  stopping?: () => boolean;
  /** Seconds to wait before each retry (tests); default kombu's 2, 4, ..., 30, 30, ... */
  intervals?: () => Iterator<number>;
}

/** kombu `retry_over_time` intervals: `fxrange(start, max + start, step, repeatlast=True)`, in seconds. */
export function* startupIntervals(start = 2, step = 2, max = 30): Generator<number> {
  let cur = start;
  let last = start;
  for (;;) {
    if (cur < max + start) last = cur;
    yield last;
    cur += step;
  }
}

/** Celery's `humanize_seconds(secs, 'in', ' ')`: "in 2.00 seconds", "in 1.00 minute", "now". */
export function humanizeIn(secs: number): string {
  const s = Number(secs.toFixed(2));
  for (const [unit, div] of [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]] as const) {
    if (s >= div) {
      const w = s / div;
      return `in ${w.toFixed(2)} ${w === 1 ? unit : `${unit}s`}`;
    }
  }
  return 'now';
}

/** Whether Celery would retry the error (a connection error, not a refused login). */
function retriable(err: unknown): boolean {
  if (!(err instanceof BrokerConnectionError)) return false;
  return !/ACCESS[_-]REFUSED|NOT_ALLOWED|\b403\b/.test(err.message);
}

/** The error without the "cannot connect to the X broker <url>: " prefix the transports add. */
function reason(err: Error, safeUrl: string): string {
  const m = err.message;
  const at = m.indexOf(`${safeUrl}: `);
  return /^cannot connect to /i.test(m) && at >= 0 ? m.slice(at + safeUrl.length + 2) : m;
}

/** Connect `broker` for a starting worker with Celery's startup retry rules (see the module notes). */
export async function connectOnStartup(broker: Broker, conf: StartupRetrySettings, options: StartupConnectOptions): Promise<void> {
  const { logger } = options;
  const onStartup = conf.brokerConnectionRetryOnStartup;
  const retry = onStartup === null || onStartup === undefined ? conf.brokerConnectionRetry : onStartup;
  if ((onStartup === null || onStartup === undefined) && !conf.brokerConnectionRetry) {
    logger.warning(
      'The broker_connection_retry configuration setting will no longer determine\n' +
      'whether broker connection retries are made during startup in Celery 6.0 and above.\n' +
      'If you wish to refrain from retrying connections on startup,\n' +
      'you should set broker_connection_retry_on_startup to False instead.',
    );
  }
  const max = conf.brokerConnectionMaxRetries;
  const intervals = options.intervals?.() ?? startupIntervals();
  for (let retries = 0; ; retries++) {
    try {
      await broker.connect();
      return;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const why = reason(e, broker.safeUrl);
      if (!retriable(e)) throw e;
      if (!retry) {
        throw new BrokerConnectionError(
          `consumer: Cannot connect to ${broker.safeUrl}: ${why}. Not retrying: ` +
          `broker_connection_retry_on_startup is ${onStartup === false ? 'False' : 'None and broker_connection_retry is False'}`,
          { cause: err },
        );
      }
      if (max !== null && retries >= max) {
        throw new BrokerConnectionError(
          `consumer: Cannot connect to ${broker.safeUrl}: ${why}. Giving up after ${retries} retries (broker_connection_max_retries=${max})`,
          { cause: err },
        );
      }
      const wait = intervals.next().value as number;
      logger.error(`consumer: Cannot connect to ${broker.safeUrl}: ${why}.\nTrying again ${humanizeIn(wait)}... (${retries + 1}/${max ?? 'None'})`);
      // in slices, so a worker stopped meanwhile does not wait out the backoff
      const end = Date.now() + wait * 1000;
      while (Date.now() < end) {
        if (options.stopping?.()) break;
        await new Promise((r) => setTimeout(r, Math.min(200, end - Date.now())));
      }
      if (options.stopping?.()) throw new BrokerError(`the worker was stopped while connecting to ${broker.safeUrl}`);
    }
  }
}
