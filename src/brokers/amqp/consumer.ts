/**
 * Consuming from RabbitMQ as Celery's task consumer does: one channel, `basic_qos(0, prefetch, global)`
 * (global — per channel — unless a quorum queue is consumed: per consumer, Celery's `qos_global`), one
 * `basic_consume` per queue, manual acks. After a connection loss the broker reconnects and
 * {@link AmqpConsumer.resume} opens a new channel and consumes again; deliveries of the lost channel
 * were requeued by RabbitMQ and come back (flagged redelivered), so nothing is lost.
 *
 * Acks are coalesced per tick into one `basic.ack(multiple=true)` where no unsettled delivery lies below
 * (acks.ts); rejects go out at once. Pending acks are flushed before cancel() and close(), so a warm
 * shutdown does not hand finished tasks back to RabbitMQ.
 *
 * A message whose properties cannot be decoded is rejected without requeue (dead-lettered when the
 * queue has a dead-letter exchange) and reported as an {@link InvalidAmqpMessageError}.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { RawMessage } from '../../../protocol/types.ts';
import type { ConsumeOptions, Consumer, Delivery } from '../../broker.ts';
import { BrokerConnectionError, BrokerError } from '../errors.ts';
import { ChannelAcks } from './acks.ts';
import { fromDelivery } from './message.ts';
import type { QuarantineReason } from '../../../protocol/quarantine.ts';
import type { AmqpQuarantine } from '../../quarantine/amqp.ts';

/** A message that could not be mapped to a RawMessage; it was rejected (requeue=false). */
export class InvalidAmqpMessageError extends BrokerError {
  override name = 'InvalidAmqpMessageError';
  readonly queue: string;
  constructor(queue: string, detail: string, cause: unknown, outcome = 'the message was rejected without requeue (dead-lettered if the queue has a dead-letter exchange)') {
    super(`queue ${JSON.stringify(queue)}: ${detail}; ${outcome}`, { cause });
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
  /** `<queue>.celeriac.invalid` (src/quarantine/amqp.ts). */
  readonly quarantine: AmqpQuarantine;
  /** The consumed queue's `x-dead-letter-exchange`, if any. */
  deadLetterExchange(queue: string): string | null;
}

export class AmqpDelivery implements Delivery {
  readonly raw: RawMessage;
  readonly queue: string;
  private settled = false;
  constructor(private readonly consumer: AmqpConsumer, private readonly acks: ChannelAcks, private readonly tag: number, raw: RawMessage, queue: string) {
    this.raw = raw;
    this.queue = queue;
  }
  /** The error of a settle that could not be written: `cause` null = the channel was closed first. */
  private failure(what: string, cause: unknown): BrokerConnectionError {
    if (cause === null) {
      return new BrokerConnectionError(
        `cannot ${what} message ${String(this.raw.headers.id ?? this.raw.deliveryTag)} from ${JSON.stringify(this.queue)} on ${this.consumer.host.safeUrl}: ` +
          'its channel was closed (RabbitMQ requeued it; it will be delivered again)',
      );
    }
    return new BrokerConnectionError(`${what} on ${this.consumer.host.safeUrl} failed: ${(cause as Error).message}`, { cause });
  }
  /** Resolves once the ack is written: coalesced with this tick's other acks (acks.ts). */
  ack(): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    if (!this.consumer.isLive(this.acks.channel)) return Promise.reject(this.failure('ack', null));
    return new Promise((resolve, reject) => {
      this.acks.ack({ tag: this.tag, resolve, fail: (cause) => reject(this.failure('ack', cause)) });
    });
  }
  /**
   * A message the worker will not run: a copy with the reason goes to `<queue>.celeriac.invalid`, and once
   * RabbitMQ confirmed it the original is acked. A queue with a dead-letter exchange rejects it there
   * instead (as Celery does); with `worker_quarantine_max_messages` 0 it is rejected (dropped). Resolves
   * with where it went, or null when dropped.
   */
  async quarantine(reason: QuarantineReason): Promise<string | null> {
    if (this.settled) return null;
    const host = this.consumer.host;
    const dlx = host.deadLetterExchange(this.queue);
    if (dlx !== null || host.quarantine.bounds.maxMessages === 0) {
      await this.reject(false);
      return dlx === null ? null : `the dead-letter exchange ${JSON.stringify(dlx)} of ${JSON.stringify(this.queue)}`;
    }
    const name = await host.quarantine.put({
      ...reason, queue: this.queue, exchange: this.raw.deliveryInfo.exchange, routingKey: this.raw.deliveryInfo.routing_key, raw: this.raw, body: Buffer.from(this.raw.body),
    });
    await this.ack();
    return `the RabbitMQ queue ${JSON.stringify(name)}`;
  }

  reject(requeue: boolean): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    if (!this.consumer.isLive(this.acks.channel)) return Promise.reject(this.failure('reject', null));
    try {
      this.acks.reject(this.tag, requeue);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(this.failure('reject', err));
    }
  }
}

/** `x-celeriac-*` reasons for a delivery whose properties could not be read. */
async function keepMalformed(host: ConsumerHost, msg: ConsumeMessage, queue: string, err: unknown): Promise<string | null> {
  const dlx = host.deadLetterExchange(queue);
  if (dlx !== null || host.quarantine.bounds.maxMessages === 0) return null;
  return host.quarantine.put({
    kind: 'malformed', reason: (err as Error).message, queue, exchange: msg.fields.exchange, routingKey: msg.fields.routingKey, body: msg.content,
  });
}

export class AmqpConsumer implements Consumer {
  private channel: Channel | null = null;
  /** The acks of {@link channel} (null with it). */
  private acks: ChannelAcks | null = null;
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

  /**
   * A delivery whose properties cannot be read: quarantined with the reason, then acked (rejected when
   * the queue has a dead-letter exchange, or when keeping it failed), and reported.
   */
  private async refuseMalformed(ch: Channel, acks: ChannelAcks, msg: ConsumeMessage, queue: string, err: unknown): Promise<void> {
    const tag = msg.fields.deliveryTag;
    acks.track(tag);
    let where: string | null = null;
    let failed: unknown;
    try {
      where = await keepMalformed(this.host, msg, queue, err);
    } catch (e) {
      failed = e;
    }
    if (this.channel !== ch) return; // channel gone meanwhile: RabbitMQ requeued it
    try {
      if (where) acks.ack({ tag, resolve: () => undefined, fail: () => undefined });
      else acks.reject(tag, false);
    } catch {
      // channel gone: RabbitMQ requeues it
    }
    this.report(new InvalidAmqpMessageError(queue, (err as Error).message, err, where ? `quarantined in the RabbitMQ queue ${JSON.stringify(where)}` : failed !== undefined
      ? `quarantining it failed (${(failed as Error)?.message ?? String(failed)}); it was rejected without requeue (dead-lettered if the queue has a dead-letter exchange)`
      : undefined));
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
        const acks = new ChannelAcks(ch, () => this.channel === ch);
        this.channel = ch;
        this.acks = acks;
        ch.on('error', (err: Error) => this.report(new BrokerError(`consumer channel on ${this.host.safeUrl}: ${err.message}`, { cause: err })));
        ch.on('close', () => this.onChannelClosed(ch));
        await ch.prefetch(this.prefetch, this.host.qosGlobal);
        const tags: string[] = [];
        for (const q of this.queues) {
          const ok = await ch.consume(q, (m) => this.deliver(ch, q, m, acks), { noAck: false });
          tags.push(ok.consumerTag);
        }
        this.tags = tags;
        return;
      } catch (err) {
        this.channel = null;
        this.acks = null;
        this.report(new BrokerError(`cannot consume ${this.queues.join(', ')} on ${this.host.safeUrl}: ${(err as Error).message}`, { cause: err }));
        if (this.cancelled) return;
        await new Promise((r) => setTimeout(r, 2000).unref());
      }
    }
  }

  private onChannelClosed(ch: Channel): void {
    if (this.channel !== ch) return;
    this.channel = null;
    this.acks = null;
    this.tags = [];
    if (!this.cancelled) void this.resume();
  }

  private deliver(ch: Channel, queue: string, msg: ConsumeMessage | null, acks?: ChannelAcks): void {
    if (msg === null) {
      // basic.cancel from the server (queue deleted, node down): consume again
      this.report(new BrokerError(`RabbitMQ cancelled the consumer of ${JSON.stringify(queue)} on ${this.host.safeUrl}; consuming again`));
      if (this.channel === ch) {
        acks?.flush(); // finished tasks stay finished: their acks go out before the channel closes
        this.channel = null;
        this.acks = null;
        void ch.close().catch(() => undefined);
        setTimeout(() => void this.resume(), 1000).unref();
      }
      return;
    }
    let raw: RawMessage;
    acks ??= new ChannelAcks(ch, () => this.channel === ch);
    try {
      raw = fromDelivery(msg);
    } catch (err) {
      void this.refuseMalformed(ch, acks, msg, queue, err);
      return;
    }
    const tag = msg.fields.deliveryTag;
    acks.track(tag);
    try {
      this.onMessage(new AmqpDelivery(this, acks, tag, raw, queue));
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

  /** Flushes pending acks, basic.cancel each consumer; held deliveries stay unacked on the channel until the broker closes. */
  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    await this.resuming?.catch(() => undefined);
    this.acks?.flush();
    const ch = this.channel;
    if (ch) {
      for (const tag of this.tags) await ch.cancel(tag).catch(() => undefined);
    }
    this.host.consumerDone(this);
  }

  /** Flushes pending acks; closing the channel gives every other unacked delivery back to RabbitMQ. */
  async close(): Promise<void> {
    this.cancelled = true;
    // acks asked for before close() are written before channel.close (same channel buffer, in order)
    this.acks?.flush();
    const ch = this.channel;
    this.channel = null;
    this.acks = null;
    if (ch) await ch.close().catch(() => undefined);
  }
}
