/**
 * The quarantine: where celeriac keeps a message it will not run, with the reason, instead of dropping it.
 *
 * Celery drops such messages: `on_invalid_task` rejects without requeue (gone on Redis, dead-lettered on
 * RabbitMQ only when the queue has a dead-letter exchange), `on_decode_error` acks, and an unknown task
 * is rejected. celeriac keeps each one, bounded (a count and an age), next to its queue, where an
 * operator can read why, put it back once the cause is fixed (`celeriac quarantine requeue`) or delete it:
 *
 * - Redis: the list `<queue>.celeriac.invalid` (with `global_keyprefix`), newest first; each element is a
 *   JSON record ({@link QuarantineRecord}) holding the envelope text exactly as the queue held it.
 *   Elements an earlier celeriac moved there are bare envelope bytes; they read as kind `legacy`.
 * - RabbitMQ: the queue `<queue>.celeriac.invalid`, bounded by RabbitMQ itself (`x-max-length`,
 *   `x-message-ttl`); each message is the original one (body and properties) with the reason in
 *   `x-celeriac-*` headers ({@link QUARANTINE_HEADERS}).
 *
 * Pure: no I/O. The stores are in src/quarantine/.
 */

/** Why a message is in quarantine. */
export type QuarantineKind =
  /** not a kombu envelope / AMQP properties that cannot be read: the transport refused it */
  | 'malformed'
  /** the body cannot be decoded (content type not accepted, bad JSON, bomb over the limit...): Celery's on_decode_error */
  | 'decode-error'
  /** headers or body are not a valid task message (wrong types, missing id...): Celery's on_invalid_task */
  | 'invalid'
  /** a signed message (auth serializer) that failed verification */
  | 'signature'
  /** no task of that name in this worker */
  | 'unknown-task'
  /** moved aside by an earlier celeriac, reason not recorded */
  | 'legacy';

export const QUARANTINE_KINDS: readonly QuarantineKind[] = ['malformed', 'decode-error', 'invalid', 'signature', 'unknown-task', 'legacy'];

/** `<queue>.celeriac.invalid` (unprefixed). */
export const QUARANTINE_SUFFIX = '.celeriac.invalid';

export function quarantineQueueName(queue: string): string {
  return `${queue}${QUARANTINE_SUFFIX}`;
}

/** What was refused, why, and by whom. */
export interface QuarantineReason {
  kind: QuarantineKind;
  /** One line (or a few) saying what is wrong, as the worker logged it. */
  reason: string;
  /** The task name and id, when the headers could be read. */
  task?: string | null;
  taskId?: string | null;
  /** The node that refused it (`celery@host`). */
  hostname?: string | null;
}

/** One quarantined message, as the stores list it. */
export interface QuarantinedMessage extends Required<QuarantineReason> {
  /** celeriac's id for the entry (a uuid; legacy entries get a digest of their bytes). */
  id: string;
  /** The queue it was taken from. */
  queue: string;
  /** Unix time (seconds) it was quarantined; null for legacy entries. */
  at: number | null;
  /** The message's exchange and routing key (as delivered). */
  exchange: string;
  routingKey: string;
  /** Size of the stored message (Redis: the envelope; AMQP: the body). */
  size: number;
}

// ---- Redis records ----------------------------------------------------------------------------------

/** The JSON object of one element of the Redis quarantine list. */
export interface QuarantineRecord {
  celeriac_quarantine: 1;
  id: string;
  /** unix time, seconds */
  at: number;
  queue: string;
  /** the list key it was taken from (unprefixed; a priority sub-queue's own key) */
  key: string;
  kind: QuarantineKind;
  reason: string;
  task: string | null;
  task_id: string | null;
  hostname: string | null;
  exchange: string;
  routing_key: string;
  /** the envelope text, when it is UTF-8 */
  envelope?: string;
  /** else its bytes, base64 */
  envelope_base64?: string;
}

export interface RecordInput extends QuarantineReason {
  id: string;
  at: number;
  queue: string;
  key: string;
  exchange?: string;
  routingKey?: string;
  /** the envelope exactly as the queue held it */
  envelope: Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function textOf(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** The list element for a refused message. */
export function encodeQuarantineRecord(input: RecordInput): string {
  const text = textOf(input.envelope);
  const record: QuarantineRecord = {
    celeriac_quarantine: 1,
    id: input.id,
    at: input.at,
    queue: input.queue,
    key: input.key,
    kind: input.kind,
    reason: input.reason,
    task: input.task ?? null,
    task_id: input.taskId ?? null,
    hostname: input.hostname ?? null,
    exchange: input.exchange ?? '',
    routing_key: input.routingKey ?? '',
    ...(text !== null ? { envelope: text } : { envelope_base64: Buffer.from(input.envelope).toString('base64') }),
  };
  return JSON.stringify(record);
}

/** One list element read back: the entry, and the envelope bytes to requeue. */
export interface DecodedQuarantineEntry {
  message: QuarantinedMessage;
  /** The list key (unprefixed) a requeue pushes the envelope back to. */
  key: string;
  envelope: Buffer;
}

/** FNV-1a 64 of the bytes, hex: a stable id for a legacy element (no uuid was recorded). */
function digestId(bytes: Uint8Array): string {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return `legacy-${h.toString(16).padStart(16, '0')}`;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * Reads one element of `<queue>.celeriac.invalid`. A record celeriac wrote is returned as written; any
 * other element (an earlier celeriac's bare envelope bytes) is a `legacy` entry whose envelope is the
 * element itself, to be pushed back to `queue`.
 */
export function decodeQuarantineElement(element: Uint8Array, queue: string): DecodedQuarantineEntry {
  const text = textOf(element);
  let parsed: unknown = null;
  if (text !== null && text.startsWith('{"celeriac_quarantine":')) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  const r = parsed as Partial<QuarantineRecord> | null;
  if (r && r.celeriac_quarantine === 1 && typeof r.id === 'string' && (typeof r.envelope === 'string' || typeof r.envelope_base64 === 'string')) {
    const envelope = typeof r.envelope === 'string' ? Buffer.from(r.envelope, 'utf8') : Buffer.from(r.envelope_base64!, 'base64');
    const kind = QUARANTINE_KINDS.includes(r.kind as QuarantineKind) ? (r.kind as QuarantineKind) : 'invalid';
    return {
      key: str(r.key) ?? queue,
      envelope,
      message: {
        id: r.id,
        queue: str(r.queue) ?? queue,
        at: typeof r.at === 'number' ? r.at : null,
        kind,
        reason: str(r.reason) ?? '',
        task: str(r.task),
        taskId: str(r.task_id),
        hostname: str(r.hostname),
        exchange: str(r.exchange) ?? '',
        routingKey: str(r.routing_key) ?? '',
        size: envelope.length,
      },
    };
  }
  const bytes = Buffer.from(element);
  const head = legacyHeaders(text);
  return {
    key: queue,
    envelope: bytes,
    message: {
      id: digestId(bytes),
      queue,
      at: null,
      kind: 'legacy',
      reason: 'moved aside by an earlier celeriac: not a kombu envelope (no reason was recorded)',
      task: head.task,
      taskId: head.id,
      hostname: null,
      exchange: '',
      routingKey: '',
      size: bytes.length,
    },
  };
}

function legacyHeaders(text: string | null): { task: string | null; id: string | null } {
  if (text === null) return { task: null, id: null };
  try {
    const env = JSON.parse(text) as { headers?: Record<string, unknown> };
    return { task: str(env?.headers?.task), id: str(env?.headers?.id) };
  } catch {
    return { task: null, id: null };
  }
}

// ---- AMQP headers -----------------------------------------------------------------------------------

/** The headers a message quarantined on RabbitMQ carries (added to its own). */
export const QUARANTINE_HEADERS = {
  id: 'x-celeriac-quarantine-id',
  at: 'x-celeriac-quarantined-at',
  queue: 'x-celeriac-queue',
  kind: 'x-celeriac-kind',
  reason: 'x-celeriac-reason',
  hostname: 'x-celeriac-hostname',
  exchange: 'x-celeriac-exchange',
  routingKey: 'x-celeriac-routing-key',
} as const;

const HEADER_NAMES: ReadonlySet<string> = new Set(Object.values(QUARANTINE_HEADERS));

/** The headers to add for a quarantined AMQP message. */
export function quarantineHeaders(input: QuarantineReason & { id: string; at: number; queue: string; exchange: string; routingKey: string }): Record<string, string | number> {
  const h: Record<string, string | number> = {
    [QUARANTINE_HEADERS.id]: input.id,
    [QUARANTINE_HEADERS.at]: input.at,
    [QUARANTINE_HEADERS.queue]: input.queue,
    [QUARANTINE_HEADERS.kind]: input.kind,
    [QUARANTINE_HEADERS.reason]: input.reason,
    [QUARANTINE_HEADERS.exchange]: input.exchange,
    [QUARANTINE_HEADERS.routingKey]: input.routingKey,
  };
  if (input.hostname) h[QUARANTINE_HEADERS.hostname] = input.hostname;
  return h;
}

/** The message's own headers, without the quarantine's (what a requeue publishes). */
export function withoutQuarantineHeaders<T>(headers: Record<string, T> | undefined): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (!HEADER_NAMES.has(k)) out[k] = v;
  return out;
}

/**
 * Reads an AMQP message of a quarantine queue. One published there by something other than celeriac
 * (no headers) is a `legacy` entry with an id from its bytes.
 */
export function decodeQuarantineHeaders(headers: Record<string, unknown> | undefined, body: Uint8Array, queue: string): QuarantinedMessage {
  const h = headers ?? {};
  const text = (k: string) => {
    const v = h[k];
    if (typeof v === 'string') return v;
    if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    return null;
  };
  const id = text(QUARANTINE_HEADERS.id);
  const kind = text(QUARANTINE_HEADERS.kind) as QuarantineKind | null;
  const at = h[QUARANTINE_HEADERS.at];
  return {
    id: id ?? digestId(body),
    queue: text(QUARANTINE_HEADERS.queue) ?? queue,
    at: typeof at === 'number' ? at : null,
    kind: id && kind && QUARANTINE_KINDS.includes(kind) ? kind : 'legacy',
    reason: text(QUARANTINE_HEADERS.reason) ?? 'no x-celeriac-reason header (not quarantined by celeriac)',
    task: text('task'),
    taskId: text('id'),
    hostname: text(QUARANTINE_HEADERS.hostname),
    exchange: text(QUARANTINE_HEADERS.exchange) ?? '',
    routingKey: text(QUARANTINE_HEADERS.routingKey) ?? queue,
    size: body.length,
  };
}
