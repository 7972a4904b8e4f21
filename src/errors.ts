/**
 * Errors of celeriac's runtime (configuration, routing, publishing). The codec's errors live in
 * protocol/errors.ts; everything here extends the same {@link CeleriacError}, with a stable `name`
 * and `code`, and `cause` when it wraps a lower-level failure.
 */
import { CeleriacError } from '../protocol/errors.ts';

export { CeleriacError };

/** A setting or option has an invalid value, or is unknown. The message names it and what is accepted. */
export class ConfigurationError extends CeleriacError {
  override name = 'ConfigurationError';
  override readonly code: string = 'ECONFIG';
}

/**
 * A task was routed to a queue that is not in `task_queues` while `task_create_missing_queues` is
 * false (Celery's `QueueNotFound`).
 */
export class QueueNotFoundError extends ConfigurationError {
  override name = 'QueueNotFoundError';
  override readonly code = 'EQUEUENOTFOUND';
  readonly queue: string;
  constructor(queue: string) {
    super(`Queue ${JSON.stringify(queue)} missing from task_queues (or set task_create_missing_queues: true)`);
    this.queue = queue;
  }
}

/**
 * The broker could not be reached or the connection failed while publishing, after the retries the
 * `retry_policy` allowed (kombu's `OperationalError`). `cause` is the last connection error.
 */
export class OperationalError extends CeleriacError {
  override name = 'OperationalError';
  override readonly code = 'EOPERATIONAL';
  /** How many times the publish was retried before giving up. */
  readonly retries: number;
  /**
   * What became of the message, when the transport knows: `'not-sent'` (it never reached the broker and
   * will not be delivered: safe to send again) or `'uncertain'` (the broker may have received it before
   * the failure: sending it again may run the task twice).
   */
  readonly delivery: 'not-sent' | 'uncertain' | undefined;
  constructor(message: string, options: { cause?: unknown; retries?: number; delivery?: 'not-sent' | 'uncertain' } = {}) {
    super(message, { cause: options.cause });
    this.retries = options.retries ?? 0;
    this.delivery = options.delivery;
  }
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'ENOTCONN', 'ESHUTDOWN', 'EOPERATIONAL', 'ECONNECTION', 'EBROKERCONN',
]);

/**
 * Whether an error is a (recoverable) connection failure that kombu's `ensure` would retry: socket
 * errors (`ECONNREFUSED`, `ECONNRESET`, ...), ioredis' "Connection is closed" / "Stream isn't writeable"
 * / `MaxRetriesPerRequestError`, amqplib's closed channel/connection, or anything with
 * `recoverable: true`. Protocol and configuration errors are never retried.
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof ConfigurationError) return false;
  const e = err as Error & { code?: unknown; recoverable?: unknown };
  if (e.recoverable === true) return true;
  if (e.recoverable === false) return false;
  if (typeof e.code === 'string' && CONNECTION_ERROR_CODES.has(e.code)) return true;
  if (e.name === 'MaxRetriesPerRequestError' || e.name === 'ConnectionError') return true;
  if (/Connection is closed|Stream isn't writeable|Connection closed|Channel closed|connect E[A-Z]+/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isConnectionError(e.cause);
}
