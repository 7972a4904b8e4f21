/**
 * kombu's process mailbox (`kombu/pidbox.py:Mailbox`) as Celery configures it (`celery/app/control.py`):
 * the `<control_exchange>.pidbox` fanout exchange, each node's `<hostname>.<ns>.pidbox` queue, replies
 * through the `reply.<ns>.pidbox` direct exchange to the caller's `<oid>.reply.<ns>.pidbox` queue, and
 * `multiCall` (`Mailbox._broadcast(reply=True)` + `_collect`), which the worker's mingle uses.
 */
import { randomUUID } from 'node:crypto';
import { encodeKombuJson, decodeKombuJson } from '../../../protocol/serialization/index.ts';
import type { RawMessage } from '../../../protocol/types.ts';
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import type { LamportClock } from '../../../protocol/events.ts';
import { encodeJsonWithFloats, type FloatValue } from '../../control/float.ts';
import type { Broker, QueueDeclaration } from '../../broker.ts';
import type { Settings } from '../../config.ts';
import { UnroutableError } from '../../brokers/errors.ts';

/**
 * kombu's `LamportClock` is the app's (`app.clock`, protocol/events.ts): the worker's events, its
 * remote control and mingle share one clock, as Celery's do.
 */
export { LamportClock } from '../../../protocol/events.ts';

/** A `clock` header as a number (`message.headers.get('clock') or 0`). */
export function headerClock(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

type ControlConf = Pick<Settings, 'controlExchange' | 'controlQueueTtl' | 'controlQueueExpires' | 'controlQueueDurable' | 'controlQueueExclusive'>;

function queueArguments(expires: number | null, ttl: number | null): Record<string, unknown> | undefined {
  const a: Record<string, unknown> = {};
  // kombu's maybe_s_to_ms: int(seconds * 1000)
  if (expires) a['x-expires'] = Math.trunc(expires * 1000);
  if (ttl) a['x-message-ttl'] = Math.trunc(ttl * 1000);
  return Object.keys(a).length ? a : undefined;
}

/** `Mailbox.get_queue(hostname)`: bound to the fanout exchange (durable=False), auto-deleted unless durable. */
export function pidboxQueue(conf: ControlConf, hostname: string): QueueDeclaration {
  const ns = conf.controlExchange;
  return {
    name: `${hostname}.${ns}.pidbox`,
    exchange: { name: `${ns}.pidbox`, type: 'fanout', durable: false, autoDelete: false },
    routingKey: '',
    durable: conf.controlQueueDurable,
    exclusive: conf.controlQueueExclusive,
    autoDelete: !conf.controlQueueDurable,
    arguments: queueArguments(conf.controlQueueExpires, conf.controlQueueTtl),
  };
}

/** `Mailbox.get_reply_queue()`: `<oid>.reply.<ns>.pidbox`, routing key = oid. */
export function replyQueue(conf: ControlConf, oid: string): QueueDeclaration {
  const ns = conf.controlExchange;
  return {
    name: `${oid}.reply.${ns}.pidbox`,
    exchange: { name: `reply.${ns}.pidbox`, type: 'direct', durable: false, autoDelete: false },
    routingKey: oid,
    durable: conf.controlQueueDurable,
    exclusive: conf.controlQueueExclusive,
    autoDelete: !conf.controlQueueDurable,
    arguments: queueArguments(conf.controlQueueExpires, conf.controlQueueTtl),
  };
}

function jsonMessage(body: PyValue, headers: PyDict, deliveryMode: 1 | 2, exchange: string, routingKey: string): RawMessage {
  return {
    body: encodeKombuJson(body),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers,
    properties: { delivery_mode: deliveryMode, priority: 0 },
    deliveryInfo: { exchange, routing_key: routingKey },
  };
}

/**
 * `Mailbox._publish_reply`: `{hostname: reply}` to the caller's reply exchange, transient, headers
 * `ticket` and `clock`. A reply nobody waits for any more (reply queue gone) is dropped, as kombu does.
 */
export async function publishReply(broker: Broker, data: FloatValue, replyTo: { exchange: string; routing_key: string }, ticket: PyValue, clock: number): Promise<void> {
  // Python floats (`PyFloat`) written with their point, as the Python worker's JSON has them
  const raw = { ...jsonMessage(null, { ticket, clock }, 1, replyTo.exchange, replyTo.routing_key), body: encodeJsonWithFloats(data) };
  try {
    await broker.publish(raw, { exchange: replyTo.exchange, routingKey: replyTo.routing_key, exchangeType: 'direct' });
  } catch (err) {
    if (!(err instanceof UnroutableError)) throw err;
  }
}

export interface MultiCallOptions {
  /** Seconds to wait for replies. @default 1 */
  timeout?: number;
  destination?: string[] | null;
  clock?: LamportClock;
}

/** The body of a pidbox request (what `Mailbox._publish` sends). */
export function requestBody(method: string, args: PyDict, destination: string[] | null, reply?: { ticket: string; exchange: string; routingKey: string }): PyDict {
  const body: PyDict = { method, arguments: args, destination, pattern: null, matcher: null };
  if (reply) {
    body.ticket = reply.ticket;
    body.reply_to = { exchange: reply.exchange, routing_key: reply.routingKey };
  }
  return body;
}

/**
 * `Mailbox.multi_call`: declare a reply queue, broadcast `method` with a ticket, collect the replies
 * (each `{hostname: reply}`) for `timeout` seconds or until `destination.length` arrived.
 */
export async function multiCall(broker: Broker, conf: ControlConf, method: string, args: PyDict, options: MultiCallOptions = {}): Promise<PyDict[]> {
  const oid = randomUUID();
  const rq = replyQueue(conf, oid);
  await broker.declareQueue(rq);
  const ticket = randomUUID();
  const replies: PyDict[] = [];
  const limit = options.destination?.length ?? Infinity;
  const timeout = (options.timeout ?? 1) * 1000;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const consumer = broker.consume([rq.name], (d) => {
    void d.ack().catch(() => undefined);
    const h = d.raw.headers;
    options.clock?.adjust(headerClock(h.clock));
    if (typeof h.expires === 'number' && h.expires && Date.now() / 1000 > h.expires) return;
    if ((h.ticket ?? ticket) !== ticket) return;
    try {
      const body = decodeKombuJson(d.raw.body);
      if (body && typeof body === 'object' && !Array.isArray(body)) replies.push(body as PyDict);
    } catch {
      return;
    }
    if (replies.length >= limit) done();
  }, { prefetch: 0 });
  try {
    const ns = conf.controlExchange;
    const body = requestBody(method, args, options.destination ?? null, { ticket, exchange: rq.exchange.name, routingKey: oid });
    const clock = options.clock?.forward() ?? 0;
    const raw = jsonMessage(body, { clock, expires: Date.now() / 1000 + (options.timeout ?? 1) }, 2, `${ns}.pidbox`, '');
    try {
      await broker.publish(raw, { exchange: `${ns}.pidbox`, routingKey: '', exchangeType: 'fanout' });
    } catch (err) {
      if (err instanceof UnroutableError) return replies; // no node listens
      throw err;
    }
    const timer = setTimeout(done, timeout);
    await finished;
    clearTimeout(timer);
  } finally {
    // while our consumer keeps it alive (AMQP auto-deletes it after): late replies are not left behind
    await broker.purge(rq.name).catch(() => undefined);
    await consumer.cancel().catch(() => undefined);
  }
  return replies;
}
