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
import type { Celery } from '../../src/app.ts';
import type { BoundTask } from '../../src/worker/task.ts';
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

/**
 * The TypeScript tasks the rpc:// tests' Python callers run: `rpcts.add`, `rpcts.fail` (RangeError),
 * `rpcts.retry_once` (one RETRY, then x * 2) and `rpcts.progress` (n PROGRESS states, then `{done: n}`).
 */
export function registerRpcTsTasks(app: Celery): void {
  app.task('rpcts.add', (x: number, y: number) => x + y);
  app.task('rpcts.fail', (msg: string) => {
    throw new RangeError(msg);
  });
  app.task('rpcts.retry_once', (self: BoundTask, x: number) => {
    if (self.request.retries < 1) return self.retry({ countdown: 0.2, exc: new TypeError('flaky once') });
    return x * 2;
  }, { bind: true });
  app.task('rpcts.progress', async (self: BoundTask, n: number) => {
    for (let i = 1; i <= n; i++) await self.updateState('PROGRESS', { current: i, total: n });
    return { done: n };
  }, { bind: true });
}
