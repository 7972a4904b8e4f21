/**
 * Transports by URL scheme: `createBroker(broker_url, broker_transport_options)`.
 *
 *   redis://, rediss://, valkey://, valkeys://, sentinel://, redis+socket://, socket://, unix://  -> Redis
 *   amqp://, amqps://, pyamqp://, librabbitmq://                                                   -> AMQP (RabbitMQ)
 */
import type { Broker } from '../broker.ts';
import { ConfigurationError, safeUrl } from '../redis/url.ts';
import { RedisBroker, type RedisBrokerOptions } from './redis/broker.ts';
import type { RedisTransportOptions } from './redis/options.ts';
import { AmqpBroker, type AmqpBrokerOptions } from './amqp/broker.ts';
import { isAmqpUrl } from './amqp/url.ts';

export { RedisBroker } from './redis/broker.ts';
export type { RedisBrokerOptions } from './redis/broker.ts';
export type { RedisTransportOptions, QueueOrderStrategy } from './redis/options.ts';
export { REDIS_TRANSPORT_DEFAULTS } from './redis/options.ts';
export type { RedisDelivery, RedisConsumer } from './redis/consumer.ts';
export { AmqpBroker } from './amqp/broker.ts';
export type { AmqpBrokerOptions, AmqpBrokerSettings } from './amqp/broker.ts';
export { BrokerError, BrokerConnectionError, UnroutableError, InvalidMessageError } from './errors.ts';

const REDIS_SCHEMES = new Set(['redis', 'rediss', 'valkey', 'valkeys', 'sentinel', 'redis+socket', 'socket', 'unix']);

export interface CreateBrokerOptions extends RedisBrokerOptions, Pick<AmqpBrokerOptions, 'settings' | 'queues'> {}

/** The transport for a broker URL (`;`-separated failover lists: the first URL's scheme decides). */
export function createBroker(url: string, transportOptions: Record<string, unknown> = {}, options: CreateBrokerOptions = {}): Broker {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1]?.toLowerCase();
  if (scheme && REDIS_SCHEMES.has(scheme)) return new RedisBroker(url, transportOptions as RedisTransportOptions, options);
  if (isAmqpUrl(url)) return new AmqpBroker(url, transportOptions, options);
  throw new ConfigurationError(
    `unsupported broker URL ${safeUrl(url)}: celeriac supports redis://, rediss://, sentinel://, redis+socket://, amqp://, amqps:// and pyamqp://`,
  );
}
