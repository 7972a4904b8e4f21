/**
 * Queue lengths and consumer counts for `celeriac exporter` (celery-exporter's `queue_length` /
 * `rabbitmq_queue_consumer_count`):
 *
 * - Redis: the broker's `queueLength`, which sums kombu's priority lists (`queue`, `queue\x06\x163`,
 *   `queue\x06\x166`, `queue\x06\x169` with the default `priority_steps`, under `global_keyprefix`).
 *   celery-exporter LLENs the first only, so a task sent with a priority is not counted there.
 *   No consumer count (Redis has none to tell).
 * - AMQP: a passive `queue.declare` (amqplib's `checkQueue`) on a connection of its own: message
 *   count (ready messages, as kombu's `queue_declare(passive=True)`) and consumer count; a queue that
 *   does not exist is `null` (celery-exporter then reports 0).
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { Broker } from '../broker.ts';
import { openFailover } from '../brokers/amqp/connection.ts';
import { parseAmqpUrls } from '../brokers/amqp/url.ts';

export interface QueueInfo {
  messages: number;
  /** AMQP only. */
  consumers: number | null;
}

export interface QueueProbe {
  /** `redis` or `amqp`. */
  readonly transport: 'redis' | 'amqp';
  /** null when the queue does not exist (AMQP). */
  info(queue: string): Promise<QueueInfo | null>;
  close(): Promise<void>;
}

/** Redis: the broker's own `queueLength` (every priority sub-queue). */
export function redisQueueProbe(broker: () => Promise<Broker>): QueueProbe {
  return {
    transport: 'redis',
    async info(queue) {
      return { messages: await (await broker()).queueLength(queue), consumers: null };
    },
    async close() {},
  };
}

export interface AmqpProbeSettings {
  brokerUseSsl?: unknown;
  brokerHeartbeat?: number;
  brokerConnectionTimeout?: number;
}

/** AMQP: passive declares on a connection of its own, reopened after a failure. */
export function amqpQueueProbe(url: string, settings: AmqpProbeSettings = {}): QueueProbe {
  const endpoints = parseAmqpUrls(url, settings.brokerUseSsl ?? false);
  let conn: Promise<ChannelModel> | null = null;
  let channel: Promise<Channel> | null = null;
  const connection = () => {
    conn ??= openFailover(endpoints, 0, {
      heartbeat: settings.brokerHeartbeat ?? 120, connectTimeout: settings.brokerConnectionTimeout ?? 4, useSsl: settings.brokerUseSsl ?? false,
      clientName: 'celeriac exporter',
    }).then(({ conn: c }) => {
      c.on('error', () => undefined);
      c.on('close', () => {
        conn = null;
        channel = null;
      });
      return c;
    }, (err: unknown) => {
      conn = null;
      throw err;
    });
    return conn;
  };
  const openChannel = () => {
    const p = connection().then(async (c) => {
      const ch = await c.createChannel();
      ch.on('error', () => undefined); // a 404 closes the channel: the next call opens another
      ch.on('close', () => {
        if (channel === p) channel = null;
      });
      return ch;
    });
    p.catch(() => {
      if (channel === p) channel = null;
    });
    return p;
  };
  return {
    transport: 'amqp',
    async info(queue) {
      const p = (channel ??= openChannel());
      const ch = await p;
      try {
        const ok = await ch.checkQueue(queue);
        return { messages: ok.messageCount, consumers: ok.consumerCount };
      } catch (err) {
        if (channel === p) channel = null; // the broker closed the channel
        if (/NOT_FOUND|404/.test((err as Error)?.message ?? '')) return null;
        throw err;
      }
    },
    async close() {
      const c = conn;
      conn = null;
      channel = null;
      if (c) await (await c.catch(() => null))?.close().catch(() => undefined);
    },
  };
}
