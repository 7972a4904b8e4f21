/**
 * The RabbitMQ quarantine: the queue `<queue>.celeriac.invalid`, declared durable with RabbitMQ's own
 * bounds, `x-max-length` (`worker_quarantine_max_messages`; the oldest is dropped first, RabbitMQ's
 * default overflow) and `x-message-ttl` (`worker_quarantine_max_age`).
 *
 * - put: the refused message is published there through the default exchange on a confirm channel,
 *   body and properties as they were, its reason in `x-celeriac-*` headers (protocol/quarantine.ts);
 *   the caller acks the original only once RabbitMQ confirmed the copy. A per-message `expiration` and
 *   `user-id` are left out (the first would expire it early, the second is checked against our login).
 * - list / requeue / purge read the queue with basic.get (no consumer), settle what they take and give
 *   the rest back with one nack(requeue) at the end, so RabbitMQ keeps them in their order.
 * - A queue that already exists with other bounds (the settings changed) is used as it is, with one
 *   warning: RabbitMQ cannot change a queue's arguments; delete it (purge it first) to apply the new ones.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConfirmChannel, GetMessage, Options } from 'amqplib';
import {
  decodeQuarantineHeaders, quarantineHeaders, quarantineQueueName, withoutQuarantineHeaders, type QuarantinedMessage, type QuarantineReason,
} from '../../protocol/quarantine.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { toPublish } from '../brokers/amqp/message.ts';
import { selects, type QuarantineBounds, type QuarantinedDetail, type QuarantineSelection, type QuarantineStore } from './store.ts';

/** What a refused delivery is: its decoded message, or (properties that could not be read) only its body. */
export interface AmqpQuarantinePut extends QuarantineReason {
  queue: string;
  exchange: string;
  routingKey: string;
  raw?: RawMessage;
  body: Buffer;
}

export class AmqpQuarantine implements QuarantineStore {
  private channel: Promise<ConfirmChannel> | null = null;
  private readonly declared = new Set<string>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly connection: () => Promise<ChannelModel>,
    readonly bounds: QuarantineBounds,
    private readonly warn: (message: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  private confirmChannel(): Promise<ConfirmChannel> {
    if (!this.channel) {
      const p = this.connection().then((conn) => conn.createConfirmChannel()).then((ch) => {
        ch.on('error', () => undefined); // a channel error rejects the operation that caused it
        ch.on('close', () => {
          if (this.channel === p) this.channel = null;
          this.declared.clear();
        });
        return ch;
      });
      p.catch(() => {
        if (this.channel === p) this.channel = null;
      });
      this.channel = p;
    }
    return this.channel;
  }

  /** The quarantine queue's arguments for the bounds. */
  private get arguments(): Record<string, number> {
    const args: Record<string, number> = { 'x-max-length': this.bounds.maxMessages };
    if (this.bounds.maxAge !== null) args['x-message-ttl'] = Math.ceil(this.bounds.maxAge * 1000);
    return args;
  }

  /** Declares `<queue>.celeriac.invalid` (once per channel); with other bounds already, uses it as is. */
  private async declare(name: string): Promise<void> {
    if (this.declared.has(name)) return;
    const conn = await this.connection();
    const probe = await conn.createChannel();
    probe.on('error', () => undefined);
    try {
      await probe.assertQueue(name, { durable: true, arguments: this.arguments });
      await probe.close().catch(() => undefined);
    } catch (err) {
      if (!/PRECONDITION_FAILED/.test((err as Error).message)) throw err;
      if (!this.warned.has(name)) {
        this.warned.add(name);
        this.warn(`the quarantine queue ${JSON.stringify(name)} exists with other arguments than worker_quarantine_max_messages=${this.bounds.maxMessages} ` +
          `and worker_quarantine_max_age=${this.bounds.maxAge} ask for (${(err as Error).message}); it is used as it is. RabbitMQ cannot change a queue's arguments: ` +
          `purge and delete it to apply them`);
      }
    }
    this.declared.add(name);
  }

  /** Publishes a copy with the reason and waits for RabbitMQ's confirm. Returns the queue's name. */
  async put(p: AmqpQuarantinePut): Promise<string> {
    const name = quarantineQueueName(p.queue);
    await this.declare(name);
    const extra = quarantineHeaders({ ...p, id: randomUUID(), at: this.now() / 1000 });
    let body = p.body;
    let options: Options.Publish;
    try {
      if (!p.raw) throw new Error('no readable properties');
      const pub = toPublish({ ...p.raw, headers: { ...p.raw.headers } }, '', name);
      body = Buffer.from(pub.content);
      options = { ...(pub.options as Options.Publish) };
      options.headers = { ...(options.headers as object), ...extra };
    } catch {
      // properties that could not be read or written again: the body, with the reason
      options = { headers: extra, contentType: p.raw?.contentType ?? 'application/octet-stream', contentEncoding: p.raw?.contentEncoding ?? 'binary' };
    }
    delete options.expiration;
    delete options.userId;
    options.deliveryMode = 2;
    const ch = await this.confirmChannel();
    await new Promise<void>((resolve, reject) => {
      ch.publish('', name, body, options, (err) => (err ? reject(err instanceof Error ? err : new Error(`RabbitMQ refused the copy for ${name} (nack)`)) : resolve()));
    });
    return name;
  }

  /** Takes every message of the quarantine queue; `settle` says what to do with each; the rest go back. */
  private async sweep(queue: string, visit: (m: GetMessage, detail: QuarantinedDetail) => Promise<'ack' | 'keep'>): Promise<void> {
    const name = quarantineQueueName(queue);
    const conn = await this.connection();
    const ch: Channel = await conn.createChannel();
    ch.on('error', () => undefined);
    try {
      try {
        await ch.checkQueue(name);
      } catch (err) {
        if (/NOT_FOUND/.test((err as Error).message)) return; // nothing was ever quarantined here
        throw err;
      }
      let kept = 0;
      for (;;) {
        const m = await ch.get(name, { noAck: false });
        if (m === false) break;
        const detail: QuarantinedDetail = {
          ...decodeQuarantineHeaders(m.properties.headers, m.content, queue),
          envelope: m.content,
          properties: { ...m.properties },
        };
        if ((await visit(m, detail)) === 'ack') ch.ack(m);
        else kept++;
      }
      // the ones kept go back together, in their order (redelivered)
      if (kept > 0) ch.nackAll(true);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  async list(queue: string): Promise<QuarantinedDetail[]> {
    const out: QuarantinedDetail[] = [];
    await this.sweep(queue, async (_m, d) => {
      out.push(d);
      return 'keep';
    });
    return out;
  }

  async requeue(queue: string, selection: QuarantineSelection): Promise<QuarantinedMessage[]> {
    const done: QuarantinedMessage[] = [];
    const pub = await this.confirmChannel();
    await this.sweep(queue, async (m, d) => {
      if (!selects(selection, d)) return 'keep';
      const props = m.properties;
      const options: Options.Publish = {
        contentType: props.contentType, contentEncoding: props.contentEncoding, headers: withoutQuarantineHeaders(props.headers),
        deliveryMode: props.deliveryMode, priority: props.priority, correlationId: props.correlationId, replyTo: props.replyTo,
        messageId: props.messageId, timestamp: props.timestamp, type: props.type, appId: props.appId,
      };
      for (const k of Object.keys(options) as Array<keyof Options.Publish>) if (options[k] === undefined) delete options[k];
      // straight back to the queue it was taken from (not through its exchange: a fanout or topic would copy it to others)
      await new Promise<void>((resolve, reject) => {
        pub.publish('', d.queue, m.content, options, (err) => (err ? reject(err instanceof Error ? err : new Error(`RabbitMQ refused the message for ${d.queue} (nack)`)) : resolve()));
      });
      const { envelope: _, properties: __, ...entry } = d;
      done.push(entry);
      return 'ack';
    });
    return done;
  }

  async purge(queue: string, selection: QuarantineSelection): Promise<number> {
    let n = 0;
    await this.sweep(queue, async (_m, d) => {
      if (!selects(selection, d)) return 'keep';
      n++;
      return 'ack';
    });
    return n;
  }
}
