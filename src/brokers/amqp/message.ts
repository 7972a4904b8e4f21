/**
 * Messages between {@link RawMessage} and amqplib: kombu's exact properties and headers on publish
 * (protocol/envelope/amqp.ts; `delivery_mode` 2 — persistent — unless the message says otherwise, as
 * Celery's `task_default_delivery_mode`), and deliveries back to the RawMessage the worker expects.
 * Headers amqplib could not decode arrive pre-decoded by amqp-wire (see frames.ts).
 */
import type { ConsumeMessage } from 'amqplib';
import { fromAmqpMessage, toAmqpPublish, type AmqpPublish } from '../../../protocol/envelope/amqp.ts';
import { ProtocolError } from '../../../protocol/errors.ts';
import type { RawMessage } from '../../../protocol/types.ts';
import type { PyDict } from '../../../protocol/values.ts';
import { PREDECODED, UNDECODABLE } from './frames.ts';

/** The amqplib publish of `raw` to `exchange`/`routingKey` (delivery_info is set from them). */
export function toPublish(raw: RawMessage, exchange: string, routingKey: string): AmqpPublish {
  const p = toAmqpPublish({ ...raw, deliveryInfo: { exchange, routing_key: routingKey } });
  if (p.options.deliveryMode === undefined) p.options.deliveryMode = 2;
  return p;
}

/** A delivery → RawMessage; throws {@link ProtocolError} when its properties cannot be decoded. */
export function fromDelivery(msg: ConsumeMessage): RawMessage {
  const props = msg.properties as unknown as Record<string | symbol, unknown>;
  const bad = props[UNDECODABLE];
  if (bad !== undefined) {
    throw new ProtocolError('properties', `the message properties cannot be decoded: ${(bad as Error)?.message ?? String(bad)}`, { cause: bad });
  }
  if (props[PREDECODED]) {
    const headers = (props.headers ?? {}) as PyDict;
    const raw = fromAmqpMessage({ ...msg, properties: { ...msg.properties, headers: {} } } as never);
    raw.headers = headers;
    return raw;
  }
  return fromAmqpMessage(msg as never);
}
