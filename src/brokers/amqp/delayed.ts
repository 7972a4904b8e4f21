/**
 * Celery 5.5+ native delayed delivery on RabbitMQ (`kombu/transport/native_delayed_delivery.py`,
 * `celery/worker/consumer/delayed_delivery.py`, `Celery.send_task`).
 *
 * When any of the app's queues is a quorum queue, a task with a countdown/eta > 0 whose queue's exchange
 * is not `direct` is published to the topic exchange `celery_delayed_27` with the routing key
 * `b27.b26. ... .b0.<queue routing key>` (the whole seconds of the delay as 28 binary digits). 28 levels of
 * `celery_delayed_<n>` queues (TTL 2^n s, dead-lettering to the next level) let the message wait
 * 2^n seconds at each level whose bit is 1; level 0 dead-letters to `celery_delayed_delivery`, to which
 * the worker binds each task queue's exchange (`#.<routing key>`). The message still carries its `eta`
 * header, so a worker that gets it a little early holds it until the eta.
 */
import type { Channel } from 'amqplib';
import type { QueueDeclaration } from '../../broker.ts';
import { BrokerError } from '../errors.ts';

export const MAX_NUMBER_OF_BITS_TO_USE = 28;
export const MAX_LEVEL = MAX_NUMBER_OF_BITS_TO_USE - 1;
export const CELERY_DELAYED_DELIVERY_EXCHANGE = 'celery_delayed_delivery';

/** `celery_delayed_<level>`. */
export function levelName(level: number): string {
  if (!Number.isInteger(level) || level < 0) throw new RangeError('level must be a non-negative integer');
  return `celery_delayed_${level}`;
}

/** kombu `calculate_routing_key`: 28 binary digits of the countdown, dot-separated, then the routing key. */
export function calculateRoutingKey(countdown: number, routingKey: string): string {
  if (!(countdown >= 1)) throw new RangeError('countdown must be a positive number');
  if (!routingKey) throw new RangeError('routing_key must be non-empty');
  const bits = Math.trunc(countdown).toString(2).padStart(MAX_NUMBER_OF_BITS_TO_USE, '0');
  return `${bits.split('').join('.')}.${routingKey}`;
}

/** The arguments kombu gives `celery_delayed_<level>`. */
export function delayedQueueArguments(level: number, queueType: 'classic' | 'quorum'): Record<string, unknown> {
  const args: Record<string, unknown> = {
    'x-queue-type': queueType,
    'x-overflow': 'reject-publish',
    'x-message-ttl': 2 ** level * 1000,
    'x-dead-letter-exchange': level > 0 ? levelName(level - 1) : CELERY_DELAYED_DELIVERY_EXCHANGE,
  };
  if (queueType === 'quorum') args['x-dead-letter-strategy'] = 'at-least-once';
  return args;
}

/** Every declaration `declare_native_delayed_delivery_exchanges_and_queues` makes, in its order. */
export type DelayedStep =
  | { kind: 'exchange'; name: string }
  | { kind: 'queue'; queue: QueueDeclaration }
  | { kind: 'exchange-bind'; destination: string; source: string; routingKey: string };

export function delayedTopology(queueType: 'classic' | 'quorum'): DelayedStep[] {
  if (queueType !== 'classic' && queueType !== 'quorum') throw new BrokerError('queue_type must be either classic or quorum');
  const steps: DelayedStep[] = [];
  let rk = '1.#';
  for (let level = MAX_LEVEL; level >= 0; level--) {
    const name = levelName(level);
    steps.push({ kind: 'exchange', name });
    // Queue(current_level, queue_arguments=...) then bind_to(current_level, routing_key)
    steps.push({ kind: 'queue', queue: { name, exchange: { name, type: 'topic' }, routingKey: rk, arguments: delayedQueueArguments(level, queueType) } });
    rk = `*.${rk}`;
  }
  rk = '0.#';
  for (let level = MAX_LEVEL; level > 0; level--) {
    steps.push({ kind: 'exchange-bind', destination: levelName(level - 1), source: levelName(level), routingKey: rk });
    rk = `*.${rk}`;
  }
  steps.push({ kind: 'exchange', name: CELERY_DELAYED_DELIVERY_EXCHANGE });
  steps.push({ kind: 'exchange-bind', destination: CELERY_DELAYED_DELIVERY_EXCHANGE, source: levelName(0), routingKey: rk });
  return steps;
}

/**
 * Runs {@link delayedTopology} on a channel. kombu's `Queue(level)` has no exchange of its own but the
 * default one, so the queue is declared alone and then bound (`bind_to`), as kombu does.
 */
export async function declareDelayedTopology(ch: Channel, queueType: 'classic' | 'quorum'): Promise<void> {
  for (const step of delayedTopology(queueType)) {
    if (step.kind === 'exchange') await ch.assertExchange(step.name, 'topic', { durable: true, autoDelete: false, internal: false });
    else if (step.kind === 'queue') {
      const q = step.queue;
      await ch.assertQueue(q.name, { durable: true, exclusive: false, autoDelete: false, arguments: delayedArgumentsTable(q.arguments!) });
      await ch.bindQueue(q.name, q.exchange.name, q.routingKey);
    } else await ch.bindExchange(step.destination, step.source, step.routingKey);
  }
}

function delayedArgumentsTable(args: Record<string, unknown>): Record<string, unknown> {
  // py-amqp: x-message-ttl fits 32 bits up to level 21 (`I`), beyond that it is an `L`
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    out[k] = typeof v === 'number' ? (Math.abs(v) <= 2147483647 ? { '!': 'int', value: v } : { '!': 'int64', value: v }) : v;
  }
  return out;
}

/**
 * kombu `bind_queue_to_native_delayed_delivery_exchange`: the queue's exchange (when not direct) is bound
 * to `celery_delayed_delivery` and the queue to its exchange, both with `#.<routing key>` (or the key
 * itself when it starts with `#`). Returns false (and binds nothing) for a direct exchange, as kombu.
 */
export async function bindQueueToDelayedDelivery(ch: Channel, q: QueueDeclaration): Promise<boolean> {
  const ex = q.exchange;
  if (!ex?.name || ex.type === 'direct') return false;
  const rk = (q.routingKey ?? '').startsWith('#') ? q.routingKey : `#.${q.routingKey ?? ''}`;
  await ch.bindExchange(ex.name, CELERY_DELAYED_DELIVERY_EXCHANGE, rk);
  await ch.bindQueue(q.name, ex.name, rk);
  return true;
}

/**
 * `Celery.send_task`'s rewrite of the target for native delayed delivery, or null when it does not
 * apply (no delay, or a direct exchange: Celery then only warns). `countdown` is in seconds (for an
 * eta: eta - now); `int()` of it must be >= 1... Celery: `if countdown > 0` and then
 * `calculate_routing_key(int(countdown))`, which raises for 0 < countdown < 1: such a task is published
 * normally here instead (its eta header still holds it in the worker).
 */
export function delayedTarget(countdown: number, queue: QueueDeclaration | null, exchangeType: string, routingKey: string): { exchange: string; routingKey: string } | null {
  if (!(countdown > 0) || exchangeType === 'direct') return null;
  const rk = queue ? queue.routingKey : routingKey;
  if (Math.trunc(countdown) < 1 || !rk) return null;
  return { exchange: levelName(MAX_LEVEL), routingKey: calculateRoutingKey(countdown, rk) };
}
