/**
 * Declaring exchanges, queues and bindings exactly as kombu does (`kombu/entity.py`), so a Python and a
 * TypeScript process declaring the same entity never get PRECONDITION_FAILED from RabbitMQ:
 *
 * - `Exchange.declare`: skipped for the default exchange `""`; `durable=True`, `auto_delete=False`,
 *   `internal=False`, no arguments unless given.
 * - `Queue.declare`: the exchange first, then `queue_declare(durable=True, exclusive=False,
 *   auto_delete=False, arguments=queue_arguments)`, then `queue_bind(queue, exchange, routing_key)` when
 *   the exchange has a name.
 * - Arguments are encoded with py-amqp's field types (`I` for 32-bit ints, `L` beyond, `S` strings) via
 *   {@link toAmqpHeaders}, so RabbitMQ stores the very values Python declares.
 */
import type { Channel } from 'amqplib';
import { toAmqpHeaders } from '../../../protocol/envelope/amqp.ts';
import type { PyDict } from '../../../protocol/values.ts';
import type { ExchangeDeclaration, QueueDeclaration } from '../../broker.ts';

/** The AMQP table for declare arguments (py-amqp's types), or undefined when there are none. */
export function amqpArguments(args: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!args || Object.keys(args).length === 0) return undefined;
  return toAmqpHeaders(args as PyDict) as Record<string, unknown>;
}

export async function declareExchange(ch: Channel, ex: ExchangeDeclaration, args?: Record<string, unknown>): Promise<void> {
  if (!ex.name) return;
  const options: Record<string, unknown> = { durable: ex.durable ?? true, autoDelete: ex.autoDelete ?? false, internal: false };
  const a = amqpArguments(args);
  if (a) options.arguments = a;
  await ch.assertExchange(ex.name, ex.type, options);
}

/** kombu `Queue.declare`: exchange, queue, binding. */
export async function declareQueue(ch: Channel, q: QueueDeclaration): Promise<void> {
  if (q.exchange?.name) await declareExchange(ch, q.exchange);
  const options: Record<string, unknown> = {
    durable: q.durable ?? true,
    exclusive: q.exclusive ?? false,
    autoDelete: q.autoDelete ?? false,
  };
  const a = amqpArguments(q.arguments);
  if (a) options.arguments = a;
  await ch.assertQueue(q.name, options);
  if (q.exchange?.name) await ch.bindQueue(q.name, q.exchange.name, q.routingKey ?? '');
}

/** Whether a queue is a quorum queue (`x-queue-type: quorum`), as Celery's `detect_quorum_queues`. */
export function isQuorum(q: QueueDeclaration): boolean {
  return q.arguments?.['x-queue-type'] === 'quorum';
}
