/**
 * Consuming a queue bound to a fanout exchange on Redis, as kombu does (`kombu/transport/redis.py`:
 * `_subscribe`, `_get_subscribe_topic`, `_handle_message`): no list, a PSUBSCRIBE on the exchange's
 * channel `<global_keyprefix><fanout_prefix><exchange>[/<routing key>]` (`fanout_prefix` `/{db}.` by
 * default, the routing key only with `fanout_patterns`, `#` as `*`) on a connection of its own. A message
 * published while nobody listens is gone, as with kombu; ioredis re-subscribes after a reconnect.
 */
import type { Redis } from 'ioredis';
import { decodeRedisEnvelope } from '../../../protocol/envelope/redis.ts';
import type { RawMessage } from '../../../protocol/types.ts';
import type { Consumer } from '../../broker.ts';
import { BrokerError } from '../errors.ts';

export class RedisFanoutConsumer implements Consumer {
  private cancelled = false;

  constructor(
    private readonly client: Redis,
    readonly channel: string,
    private readonly onMessage: (raw: RawMessage) => void,
    private readonly report: (err: Error) => void,
  ) {
    client.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => this.deliver(message));
  }

  async start(): Promise<void> {
    await this.client.psubscribe(this.channel);
  }

  private deliver(message: Buffer): void {
    if (this.cancelled) return;
    let raw: RawMessage;
    try {
      raw = decodeRedisEnvelope(message);
    } catch (err) {
      this.report(new BrokerError(`a message on the fanout channel ${JSON.stringify(this.channel)} could not be decoded (dropped): ${(err as Error).message}`, { cause: err }));
      return;
    }
    try {
      this.onMessage(raw);
    } catch (err) {
      this.report(new BrokerError(`the handler of fanout channel ${JSON.stringify(this.channel)} threw: ${(err as Error).message}`, { cause: err }));
    }
  }

  setPrefetch(): void {
    // no acks, no prefetch: pub/sub
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    try {
      await Promise.race([
        this.client.punsubscribe(this.channel).then(() => this.client.quit()),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
      ]);
    } catch {
      this.client.disconnect();
    }
  }
}
