/**
 * Errors raised or reported by the message transports. All extend {@link CeleriacError} (stable `name`
 * and `code`, `cause` when wrapping). Messages name the safe URL (never a password), the queue, the
 * exchange and routing key, so a log line is enough to find the problem.
 */
import { CeleriacError } from '../../protocol/errors.ts';

export class BrokerError extends CeleriacError {
  override name = 'BrokerError';
  override readonly code: string = 'EBROKER';
}

/** The broker cannot be reached, or the connection dropped (the client keeps reconnecting). */
export class BrokerConnectionError extends BrokerError {
  override name = 'BrokerConnectionError';
  override readonly code = 'EBROKERCONN';
}

/**
 * A publish matched no queue. kombu silently drops such a message (or sends it to
 * `deadletter_queue`); celeriac refuses it so the caller knows the task will never run.
 */
export class UnroutableError extends BrokerError {
  override name = 'UnroutableError';
  override readonly code = 'EUNROUTABLE';
  readonly exchange: string;
  readonly routingKey: string;
  constructor(exchange: string, routingKey: string, detail: string) {
    super(`message to exchange ${JSON.stringify(exchange)} with routing key ${JSON.stringify(routingKey)} matches no queue: ${detail}`);
    this.exchange = exchange;
    this.routingKey = routingKey;
  }
}

/**
 * A list element that is not a kombu envelope (cause: the {@link ProtocolError}). The element was not
 * delivered; its exact bytes were kept, with the reason, in the queue's quarantine `movedTo` (a Redis
 * list, see src/quarantine/), so nothing is lost.
 */
export class InvalidMessageError extends BrokerError {
  override name = 'InvalidMessageError';
  override readonly code = 'EINVALIDMESSAGE';
  readonly queue: string;
  /** The Redis list the element was moved to (with `global_keyprefix`), or null if it was not kept. */
  readonly movedTo: string | null;
  /** The element exactly as Redis held it. */
  readonly raw: Buffer;
  /** Why keeping it failed (a Redis error), when it did. */
  readonly keepError: unknown;
  constructor(queue: string, raw: Buffer, movedTo: string | null, cause: unknown, keepError?: unknown) {
    const why = (cause as Error)?.message ?? String(cause);
    const kept = movedTo
      ? `its raw bytes were quarantined in the Redis list ${JSON.stringify(movedTo)} (celeriac quarantine list -Q ${queue})`
      : keepError !== undefined
        ? `quarantining it FAILED (${(keepError as Error)?.message ?? String(keepError)}), raw bytes are on this error (.raw)`
        : 'worker_quarantine_max_messages is 0, so it was dropped; raw bytes are on this error (.raw)';
    super(`queue ${JSON.stringify(queue)}: a malformed message (${raw.length} bytes) was not delivered: ${why}; ${kept}`, { cause });
    this.queue = queue;
    this.raw = raw;
    this.movedTo = movedTo;
    this.keepError = keepError;
  }
}

/**
 * A transport's background error (lost connection, reconnect attempts, blocked publishing): to `sink`
 * (the caller's `onError`), or to the console when there is none or it throws.
 */
export function reportError(err: Error, sink: ((err: Error) => void) | undefined): void {
  if (sink) {
    try {
      sink(err);
      return;
    } catch {
      // fall through to the console
    }
  }
  console.error(`[celeriac] ${err.name}: ${err.message}`);
}
