/** Shared helpers of the Redis-broker tests: task messages, a delivery collector, the Python peer. */
import { Redis } from 'ioredis';
import { createTaskMessage, encodeTaskMessage } from '../../protocol/index.ts';
import type { RawMessage } from '../../protocol/types.ts';
import type { Consumer, Delivery } from '../../src/broker.ts';
import type { RedisBroker } from '../../src/brokers/redis/broker.ts';
import { REDIS_HOST, REDIS_PORT, redisUrl, runPython, uniqueName } from './peers.ts';

/** The Redis-broker tests use db 7; every test has its own global_keyprefix, so unacked keys never mix. */
export const DB = 7;
export const URL = redisUrl(DB);
export const PEER = 'test/python/redis_broker_peer.py';

const prefixes: string[] = [];

/** A fresh `global_keyprefix`; {@link dropPrefixes} deletes its keys at the end of the file. */
export function newPrefix(): string {
  const p = `${uniqueName('celeriac-rb')}:`;
  prefixes.push(p);
  return p;
}

/** Deletes every key of every prefix handed out (run with `after()` once the brokers are closed). */
export async function dropPrefixes(): Promise<void> {
  const redis = rawClient();
  try {
    for (const p of prefixes.splice(0)) {
      const keys = await redis.keys(`${p.replace(/[*?[\]\\]/g, '\\$&')}*`);
      if (keys.length) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

export function rawClient(): Redis {
  return new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB, lazyConnect: true });
}

export function taskRaw(id: string, priority?: number): RawMessage {
  return encodeTaskMessage(createTaskMessage({ task: 't.add', id, args: [1, 2], ...(priority === undefined ? {} : { priority }) }));
}

export interface PeerMessage {
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
  delivery_info: Record<string, unknown>;
  body: unknown;
  delivery_tag: string;
}

/** Runs ops in real kombu/Celery (test/python/redis_broker_peer.py); returns each op's result. */
export async function peer(ops: object[], transportOptions: object): Promise<unknown[]> {
  const out = await runPython(PEER, { redis_url: URL, transport_options: transportOptions, ops });
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; result?: unknown; error?: string; traceback?: string });
  for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
  return lines.map((l) => l.result);
}

/** Consumes until `n` deliveries arrived (rejects after `ms`). Deliveries stay unacked. */
export function collect(broker: RedisBroker, queues: string[], n: number, prefetch = 0, ms = 8000): Promise<{ deliveries: Delivery[]; consumer: Consumer }> {
  return new Promise((resolve, reject) => {
    const deliveries: Delivery[] = [];
    const timer = setTimeout(() => reject(new Error(`only ${deliveries.length} of ${n} deliveries within ${ms} ms`)), ms);
    const consumer = broker.consume(queues, (d) => {
      deliveries.push(d);
      if (deliveries.length === n) {
        clearTimeout(timer);
        resolve({ deliveries, consumer });
      }
    }, { prefetch, onError: (err) => reject(err) });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const ids = (ds: Delivery[]) => ds.map((d) => d.raw.headers.id);
