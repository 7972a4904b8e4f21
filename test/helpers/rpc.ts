/**
 * Helpers of the rpc:// backend tests: a plain amqplib connection to the shared RabbitMQ that sends
 * Celery task messages (protocol/ createTaskMessage + the AMQP mapping, as kombu publishes them) to a
 * Python worker's queue, publishes raw replies, and cleans up the queues a test created.
 */
import amqplib, { type Channel, type ChannelModel } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { toAmqpPublish } from '../../protocol/envelope/amqp.ts';
import { encodeTaskMessage } from '../../protocol/message.ts';
import { createTaskMessage } from '../../protocol/task.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import { amqplibUrl } from './peers.ts';

export interface RawAmqp {
  conn: ChannelModel;
  ch: Channel;
  /** Queues (and same-named exchanges) deleted by `close()`. */
  cleanup: Set<string>;
  close(): Promise<void>;
}

export async function openAmqp(): Promise<RawAmqp> {
  const conn = await amqplib.connect(amqplibUrl());
  const ch = await conn.createChannel();
  const cleanup = new Set<string>();
  return {
    conn,
    ch,
    cleanup,
    async close() {
      for (const name of cleanup) {
        await ch.deleteQueue(name).catch(() => undefined);
        await ch.deleteExchange(name).catch(() => undefined);
      }
      await conn.close().catch(() => undefined);
    },
  };
}

/** Send `name(*args, **kwargs)` to `queue` (default exchange) with `reply_to`; returns the task id. */
export async function sendTask(
  ch: Channel,
  queue: string,
  name: string,
  args: PyValue[],
  options: { replyTo: string; id?: string; kwargs?: PyDict },
): Promise<string> {
  const id = options.id ?? randomUUID();
  const msg = createTaskMessage({ task: name, id, args, kwargs: options.kwargs ?? {}, replyTo: options.replyTo });
  const raw = encodeTaskMessage(msg, { serializer: 'json', deliveryInfo: { exchange: '', routing_key: queue } });
  const pub = toAmqpPublish(raw);
  ch.publish(pub.exchange, pub.routingKey, Buffer.from(pub.content), pub.options as never);
  return id;
}
