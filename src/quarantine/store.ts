/**
 * What the quarantine stores offer (src/quarantine/redis.ts, src/quarantine/amqp.ts), to the broker's
 * consumers (put), and to operators (`celeriac quarantine list|show|requeue|purge`). The record formats
 * are in protocol/quarantine.ts.
 */
import type { QuarantinedMessage } from '../../protocol/quarantine.ts';

export type { QuarantinedMessage, QuarantineKind, QuarantineReason } from '../../protocol/quarantine.ts';

/** `worker_quarantine_max_messages` and `worker_quarantine_max_age`. */
export interface QuarantineBounds {
  /** 0: keep none (the message is logged and dropped, as Celery does). */
  maxMessages: number;
  /** Seconds; null: no age limit. */
  maxAge: number | null;
}

export const DEFAULT_QUARANTINE_BOUNDS: QuarantineBounds = { maxMessages: 10_000, maxAge: 604_800 };

/** The bounds from the app's settings (both transports read them the same way). */
export function quarantineBounds(settings: { workerQuarantineMaxMessages?: number; workerQuarantineMaxAge?: number | null } | undefined): QuarantineBounds {
  return {
    maxMessages: settings?.workerQuarantineMaxMessages ?? DEFAULT_QUARANTINE_BOUNDS.maxMessages,
    maxAge: settings?.workerQuarantineMaxAge === undefined ? DEFAULT_QUARANTINE_BOUNDS.maxAge : settings.workerQuarantineMaxAge,
  };
}

/** Which entries an operation takes: every one, or those with these ids (or task ids). */
export type QuarantineSelection = { all: true } | { ids: readonly string[] };

export function selects(sel: QuarantineSelection, m: QuarantinedMessage): boolean {
  return 'all' in sel || sel.ids.includes(m.id) || (m.taskId !== null && sel.ids.includes(m.taskId));
}

/** A quarantined message with what a `show` prints: its stored bytes. */
export interface QuarantinedDetail extends QuarantinedMessage {
  /** Redis: the envelope text (or base64 when not UTF-8). AMQP: the body, with the properties. */
  envelope: Buffer;
  /** AMQP only: the message's properties and headers as stored (quarantine headers included). */
  properties?: Record<string, unknown>;
}

export interface QuarantineStore {
  /** Newest first (Redis) / oldest first (RabbitMQ: queue order). Entries past the age limit are gone first. */
  list(queue: string): Promise<QuarantinedDetail[]>;
  /** Puts the selected messages back on the queue they came from (the back of it); returns them. */
  requeue(queue: string, selection: QuarantineSelection): Promise<QuarantinedMessage[]>;
  /** Deletes the selected messages; returns how many. */
  purge(queue: string, selection: QuarantineSelection): Promise<number>;
}
