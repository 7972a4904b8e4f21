/**
 * Celery's monitoring events as they travel (`celery/events/event.py`, `dispatcher.py`, `receiver.py`):
 * pure construction and decoding, no I/O.
 *
 * - An event is a flat dict: `hostname, utcoffset, pid, clock` (Lamport), the type's own fields, then
 *   `timestamp` and `type` — in that order, as `Event(type, hostname=..., utcoffset=..., pid=...,
 *   clock=..., **fields)` builds it.
 * - It is published to the `celeryev` exchange (`event_exchange`: topic, but fanout on Redis — kombu
 *   turns a topic exchange into PUBLISH/PSUBSCRIBE there) with routing key = type with `-` → `.`
 *   (`task-succeeded` → `task.succeeded`); batched task events go as a JSON list with key `task.multi`.
 * - The message: header `hostname`, `delivery_mode` 1 (transient), priority 0, serializer
 *   `event_serializer` (json); the JSON text is what Python's `json.dumps` writes, floats included.
 * - A receiver adjusts its Lamport clock, localizes `timestamp` by the sender's `utcoffset` and sets
 *   `local_received` (`EventReceiver.event_from_message`).
 */
import { pyFloatRepr } from './repr.ts';
import { dumps, loads, stringifyKombuJson } from './serialization/index.ts';
import type { RawMessage } from './types.ts';
import type { PyValue } from './values.ts';

/** `celery.events.event.EVENT_EXCHANGE_NAME`. */
export const EVENT_EXCHANGE_NAME = 'celeryev';

/** An event: a flat dict with at least `type`. */
export type CeleryEvent = { type: string; [field: string]: PyValue };

/** kombu's `LamportClock`: `forward()` on send, `adjust(other)` on receipt. */
export class LamportClock {
  value: number;
  constructor(initial = 0) {
    this.value = initial;
  }
  forward(): number {
    return ++this.value;
  }
  adjust(other: number): number {
    this.value = Math.max(this.value, other) + 1;
    return this.value;
  }
}

/** `group_from('task-sent')` → `'task'`. */
export function groupFrom(type: string): string {
  return type.split('-', 1)[0]!;
}

/** The routing key of an event type: `type.replace('-', '.')` (every dash). */
export function eventRoutingKey(type: string): string {
  return type.replaceAll('-', '.');
}

/** `get_exchange(conn)`: topic, fanout on Redis (kombu "Issue #436"). */
export function eventExchangeType(transport: string): 'topic' | 'fanout' {
  return transport === 'redis' || transport === 'rediss' || transport === 'sentinel' || transport === 'gcpubsub' ? 'fanout' : 'topic';
}

/**
 * `celery.utils.time.utcoffset()`: hours WEST of UTC as Python's `time.timezone // 3600` (floor
 * division; `altzone` during DST) — 0 in UTC, -1 in Paris in winter, 5 in New York.
 */
export function utcoffset(date: Date = new Date()): number {
  return Math.floor(date.getTimezoneOffset() / 60);
}

/** `adjust_timestamp(ts, offset)`: the sender's timestamp in the receiver's local offset. */
export function adjustTimestamp(ts: number, offset: number, here: number = utcoffset()): number {
  return ts - (offset - here) * 3600;
}

/** Now as Python's `time.time()` (seconds, sub-millisecond). */
export function pyTime(): number {
  return (performance.timeOrigin + performance.now()) / 1000;
}

export interface EventSource {
  hostname: string;
  pid: number;
  /** The Lamport clock value, or null for a `blind` event. */
  clock: number | null;
  /** @default utcoffset() */
  utcoffset?: number;
  /** @default pyTime() */
  timestamp?: number;
}

/** `Event(type, hostname=..., utcoffset=..., pid=..., clock=..., **fields)` with Celery's key order. */
export function buildEvent(type: string, source: EventSource, fields: Record<string, PyValue> = {}): CeleryEvent {
  const e: Record<string, PyValue> = {
    hostname: source.hostname,
    utcoffset: source.utcoffset ?? utcoffset(),
    pid: source.pid,
    clock: source.clock,
  };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && k !== 'timestamp' && k !== 'type') e[k] = v;
  const ts = fields.timestamp;
  e.timestamp = typeof ts === 'number' ? ts : source.timestamp ?? pyTime();
  e.type = type;
  return e as CeleryEvent;
}

/** Fields Python sends as floats (so `2.0`, never `2`). */
const FLOAT_FIELDS = new Set(['timestamp', 'freq', 'runtime', 'local_received']);

function floatText(x: number): string {
  return Number.isFinite(x) ? pyFloatRepr(x) : stringifyKombuJson(x);
}

function fieldText(key: string, v: PyValue): string {
  if (typeof v === 'number' && FLOAT_FIELDS.has(key)) return floatText(v);
  if (key === 'loadavg' && Array.isArray(v)) return `[${v.map((x) => (typeof x === 'number' ? floatText(x) : stringifyKombuJson(x))).join(', ')}]`;
  return stringifyKombuJson(v);
}

/** One event as Python's `json.dumps` writes it (key order kept, floats as floats). */
export function stringifyEvent(e: CeleryEvent): string {
  return `{${Object.keys(e).map((k) => `${stringifyKombuJson(k)}: ${fieldText(k, e[k]!)}`).join(', ')}}`;
}

/** The body of an event message: one event, or a list of them (`<group>.multi`). */
export function stringifyEventBody(body: CeleryEvent | readonly CeleryEvent[]): string {
  return Array.isArray(body) ? `[${body.map(stringifyEvent).join(', ')}]` : stringifyEvent(body as CeleryEvent);
}

/**
 * The raw message `EventDispatcher._publish` sends: header `hostname`, `delivery_mode` 1, priority 0,
 * routed to `exchange` with `routingKey`.
 */
export function eventMessage(
  body: CeleryEvent | readonly CeleryEvent[],
  o: { hostname: string; exchange?: string; routingKey: string; serializer?: string; deliveryMode?: number },
): RawMessage {
  const serializer = o.serializer ?? 'json';
  let bytes: Uint8Array;
  let contentType = 'application/json';
  let contentEncoding = 'utf-8';
  if (serializer === 'json') {
    const b = Buffer.from(stringifyEventBody(body), 'utf8');
    bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } else {
    const d = dumps(body as PyValue, serializer);
    bytes = d.body;
    contentType = d.contentType;
    contentEncoding = d.contentEncoding;
  }
  return {
    body: bytes,
    contentType,
    contentEncoding,
    headers: { hostname: o.hostname },
    properties: { delivery_mode: o.deliveryMode ?? 1, priority: 0 },
    deliveryInfo: { exchange: o.exchange ?? EVENT_EXCHANGE_NAME, routing_key: o.routingKey },
  };
}

/** The events a message carries (a list body is a batch), decoded with `accept`. */
export function decodeEventMessage(raw: RawMessage, accept: readonly string[] = ['json']): CeleryEvent[] {
  const body = loads(raw.body, raw.contentType, raw.contentEncoding, accept);
  const list = Array.isArray(body) ? body : [body];
  return list.filter((e): e is CeleryEvent => e !== null && typeof e === 'object' && !Array.isArray(e) && typeof (e as Record<string, unknown>).type === 'string');
}

/** `CLIENT_CLOCK_SKEW` of the receiver. */
const CLIENT_CLOCK_SKEW = -1;

/**
 * `EventReceiver.event_from_message`: adjusts `clock` (a `task-sent` takes the receiver's clock - 1,
 * clients never sync), localizes `timestamp` by `utcoffset`, sets `local_received`. Mutates and returns `e`.
 */
export function receiveEvent(e: CeleryEvent, clock: LamportClock, o: { localize?: boolean; now?: number; here?: number } = {}): CeleryEvent {
  if (e.type === 'task-sent') {
    const c = (clock.value || 1) + CLIENT_CLOCK_SKEW;
    e.clock = c;
    clock.adjust(c);
  } else if (typeof e.clock === 'number') {
    clock.adjust(e.clock);
  } else if (!('clock' in e)) {
    e.clock = clock.forward();
  }
  if (o.localize !== false && typeof e.utcoffset === 'number' && typeof e.timestamp === 'number') {
    e.timestamp = adjustTimestamp(e.timestamp, e.utcoffset, o.here);
  }
  e.local_received = o.now ?? pyTime();
  return e;
}
