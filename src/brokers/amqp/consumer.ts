/**
 * Consuming from RabbitMQ as Celery's task consumer does: one channel, `basic_qos(0, prefetch, global)`
 * (global — per channel — unless a quorum queue is consumed: per consumer, Celery's `qos_global`), one
 * `basic_consume` per queue, manual acks. After a connection loss the broker reconnects and
 * {@link AmqpConsumer.resume} opens a new channel and consumes again; deliveries of the lost channel
 * were requeued by RabbitMQ and come back (flagged redelivered), so nothing is lost.
 *
 * A message whose properties cannot be decoded is rejected without requeue (dead-lettered when the
 * queue has a dead-letter exchange) and reported as an {@link InvalidAmqpMessageError}.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { RawMessage } from '../../../protocol/types.ts';
import type { ConsumeOptions, Consumer, Delivery } from '../../broker.ts';
import { BrokerConnectionError, BrokerError } from '../errors.ts';
import { fromDelivery } from './message.ts';

/** A message that could not be mapped to a RawMessage; it was rejected (requeue=false). */
export class InvalidAmqpMessageError extends BrokerError {
  override name = 'InvalidAmqpMessageError';
  readonly queue: string;
  constructor(queue: string, detail: string, cause: unknown) {
    super(`queue ${JSON.stringify(queue)}: ${detail}; the message was rejected without requeue (dead-lettered if the queue has a dead-letter exchange)`, { cause });
    this.queue = queue;
  }
}

export interface ConsumerHost {
  readonly safeUrl: string;
  report(err: Error, onError?: (err: Error) => void): void;
  /** The live connection, reconnecting (with backoff) when needed; rejects when giving up. */
  recoverConnection(): Promise<ChannelModel>;
  consumerDone(c: AmqpConsumer): void;
  /** Celery's qos_global: false when quorum queues are in use. */
  readonly qosGlobal: boolean;
}

export class AmqpDelivery implements Delivery {
  readonly raw: RawMessage;
  readonly queue: string;
  private settled = false;
  constructor(private readonly consumer: AmqpConsumer, private readonly channel: Channel, private readonly msg: ConsumeMessage, raw: RawMessage, queue: string) {
    this.raw = raw;
    this.queue = queue;
  }
  private settle(what: string, op: () => void): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    if (!this.consumer.isLive(this.channel)) {
      return Promise.reject(new BrokerConnectionError(
        `cannot ${what} message ${String(this.raw.headers.id ?? this.raw.deliveryTag)} from ${JSON.stringify(this.queue)} on ${this.consumer.host.safeUrl}: ` +
          'its channel was closed (RabbitMQ requeued it; it will be delivered again)',
      ));
    }
    try {
      op();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(new BrokerConnectionError(`${what} on ${this.consumer.host.safeUrl} failed: ${(err as Error).message}`, { cause: err }));
    }
  }
  ack(): Promise<void> {
    return this.settle('ack', () => this.channel.ack(this.msg));
  }
  reject(requeue: boolean): Promise<void> {
    return this.settle('reject', () => this.channel.reject(this.msg, requeue));
  }
}

export class AmqpConsumer implements Consumer {
  private channel: Channel | null = null;
  private tags: string[] = [];
  private prefetch: number;
  private cancelled = false;
  private resuming: Promise<void> | null = null;

  constructor(
    readonly host: ConsumerHost,
    readonly queues: string[],
    private readonly onMessage: (d: Delivery) => void,
    private readonly options: ConsumeOptions,
  ) {
    this.prefetch = options.prefetch;
  }

  isLive(ch: Channel): boolean {
    return ch === this.channel;
  }

  private report(err: Error): void {
    this.host.report(err, this.options.onError);
  }

  /** (Re)connects and starts consuming; retried by the broker's reconnect policy. */
  resume(): Promise<void> {
    if (this.cancelled) return Promise.resolve();
    this.resuming ??= this.open().finally(() => (this.resuming = null));
    return this.resuming;
  }

  private async open(): Promise<void> {
    for (;;) {
      if (this.cancelled) return;
      let conn: ChannelModel;
      try {
        conn = await this.host.recoverConnection();
      } catch (err) {
        this.report(err as Error);
        return;
      }
      try {
        const ch = await conn.createChannel();
        this.channel = ch;
        ch.on('error', (err: Error) => this.report(new BrokerError(`consumer channel on ${this.host.safeUrl}: ${err.message}`, { cause: err })));
        ch.on('close', () => this.onChannelClosed(ch));
        await ch.prefetch(this.prefetch, this.host.qosGlobal);
        const tags: string[] = [];
        for (const q of this.queues) {
          const ok = await ch.consume(q, (m) => this.deliver(ch, q, m), { noAck: false });
          tags.push(ok.consumerTag);
        }
        this.tags = tags;
        return;
      } catch (err) {
        this.channel = null;
        this.report(new BrokerError(`cannot consume ${this.queues.join(', ')} on ${this.host.safeUrl}: ${(err as Error).message}`, { cause: err }));
        if (this.cancelled) return;
        await new Promise((r) => setTimeout(r, 2000).unref());
      }
    }
  }

  private onChannelClosed(ch: Channel): void {
    if (this.channel !== ch) return;
    this.channel = null;
    this.tags = [];
    if (!this.cancelled) void this.resume();
  }

  private deliver(ch: Channel, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // basic.cancel from the server (queue deleted, node down): consume again
      this.report(new BrokerError(`RabbitMQ cancelled the consumer of ${JSON.stringify(queue)} on ${this.host.safeUrl}; consuming again`));
      if (this.channel === ch) {
        this.channel = null;
        void ch.close().catch(() => undefined);
        setTimeout(() => void this.resume(), 1000).unref();
      }
      return;
    }
    let raw: RawMessage;
    try {
      raw = fromDelivery(msg);
    } catch (err) {
      try {
        ch.reject(msg, false);
      } catch {
        // channel gone: RabbitMQ requeues it
      }
      this.report(new InvalidAmqpMessageError(queue, (err as Error).message, err));
      return;
    }
    try {
      this.onMessage(new AmqpDelivery(this, ch, msg, raw, queue));
    } catch (err) {
      this.report(new BrokerError(`the message handler for ${JSON.stringify(queue)} threw: ${(err as Error).message}`, { cause: err }));
    }
  }

  setPrefetch(n: number): void {
    if (n === this.prefetch) return;
    this.prefetch = n;
    const ch = this.channel;
    if (ch) void ch.prefetch(n, this.host.qosGlobal).catch((err: Error) => this.report(new BrokerError(`basic.qos(${n}) failed: ${err.message}`, { cause: err })));
  }

  /** basic.cancel each consumer; held deliveries stay unacked on the channel until the broker closes. */
  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    await this.resuming?.catch(() => undefined);
    const ch = this.channel;
    if (ch) {
      for (const tag of this.tags) await ch.cancel(tag).catch(() => undefined);
    }
    this.host.consumerDone(this);
  }

  /** Closing the channel gives every unacked delivery back to RabbitMQ. */
  async close(): Promise<void> {
    this.cancelled = true;
    const ch = this.channel;
    this.channel = null;
    if (ch) await ch.close().catch(() => undefined);
  }
}
