/**
 * kombu's process mailbox (`kombu/pidbox.py:Mailbox`) as Celery configures it (`celery/app/control.py`):
 * the `<control_exchange>.pidbox` fanout exchange, each node's `<hostname>.<ns>.pidbox` queue, replies
 * through the `reply.<ns>.pidbox` direct exchange to the caller's reply queue. The caller's side
 * (requests, reply collection), which mingle uses too, is src/control/mailbox.ts.
 */
import { dumps, encodeKombuJson } from '../../../protocol/serialization/index.ts';
import type { RawMessage } from '../../../protocol/types.ts';
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import { encodeJsonWithFloats, plainNumbers, type FloatValue } from '../../control/float.ts';
import { queueArguments } from '../../control/mailbox.ts';
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
export async function publishReply(broker: Broker, data: FloatValue, replyTo: { exchange: string; routing_key: string }, ticket: PyValue, clock: number, serializer = 'json'): Promise<void> {
  // Python floats (`PyFloat`) written with their point, as the Python worker's JSON has them; another
  // serializer (Celery's mailbox uses task_serializer: `auth` signs the reply) through the registry
  const base = jsonMessage(null, { ticket, clock }, 1, replyTo.exchange, replyTo.routing_key);
  let raw: RawMessage;
  if (serializer === 'json') raw = { ...base, body: encodeJsonWithFloats(data) };
  else {
    const enc = dumps(plainNumbers(data), serializer);
    raw = { ...base, body: enc.body, contentType: enc.contentType, contentEncoding: enc.contentEncoding };
  }
  try {
    await broker.publish(raw, { exchange: replyTo.exchange, routingKey: replyTo.routing_key, exchangeType: 'direct' });
  } catch (err) {
    if (!(err instanceof UnroutableError)) throw err;
  }
}
