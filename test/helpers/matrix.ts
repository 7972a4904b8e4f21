/**
 * The broker matrix of the interop suites: the same tests run over Redis and over RabbitMQ (issue 4:
 * "one suite, parameterised by broker"). Results always go to the test file's own Redis db, so a
 * suite can read them the same way on both brokers.
 *
 * CELERIAC_TEST_BROKERS=redis (or amqp) narrows the matrix for a local run; CI runs both.
 */
import { AMQP_URL, IN_CI, amqplibUrl, redisUrl } from './peers.ts';

export type BrokerName = 'redis' | 'amqp';

export interface BrokerCase {
  name: BrokerName;
  /** The broker URL, as both Python and TypeScript are given it. */
  brokerUrl: string;
  /** The Redis result backend of the test file (its own db). */
  backendUrl: string;
  /**
   * Priority order the broker serves: Redis takes the LOWEST number first (kombu's priority steps),
   * RabbitMQ the HIGHEST first (an `x-max-priority` queue).
   */
  lowestPriorityFirst: boolean;
  /**
   * Settings both sides need on this broker so their declarations agree (no PRECONDITION_FAILED):
   * every queue gets `x-max-priority: 10` on RabbitMQ.
   */
  settings: Record<string, unknown>;
}

const ALL: BrokerName[] = ['redis', 'amqp'];

export function selectedBrokers(): BrokerName[] {
  const raw = process.env.CELERIAC_TEST_BROKERS;
  if (!raw || IN_CI) return ALL;
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!ALL.includes(n as BrokerName)) throw new Error(`CELERIAC_TEST_BROKERS: unknown broker ${n} (redis, amqp)`);
  return names as BrokerName[];
}

/** The cases a suite runs, each with the suite's own Redis db for results (and, on Redis, the broker). */
export function brokerMatrix(db: number): BrokerCase[] {
  const backendUrl = redisUrl(db);
  return selectedBrokers().map((name) =>
    name === 'redis'
      ? { name, brokerUrl: backendUrl, backendUrl, lowestPriorityFirst: true, settings: {} }
      : { name, brokerUrl: AMQP_URL, backendUrl, lowestPriorityFirst: false, settings: { task_queue_max_priority: 10 } },
  );
}

/** Deletes queues (and exchanges) a suite declared on the shared RabbitMQ; missing ones are fine. */
export async function deleteAmqpQueues(queues: string[], exchanges: string[] = []): Promise<void> {
  const amqp = await import('amqplib');
  const conn = await amqp.connect(amqplibUrl());
  try {
    for (const q of queues) {
      const ch = await conn.createChannel();
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    for (const x of exchanges) {
      const ch = await conn.createChannel();
      await ch.deleteExchange(x).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
  } finally {
    await conn.close();
  }
}
