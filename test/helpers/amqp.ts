/** Shared helpers of the AMQP-broker interop tests: RabbitMQ + results in Redis db 4. */
import amqplib from 'amqplib';
import { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { AMQP_URL, amqplibUrl, redisUrl, runPython, startPythonWorker, type PythonWorker } from './peers.ts';
import { testLogger } from './worker.ts';

export const DB = 4;
export const BACKEND = redisUrl(DB);
export const TASKS_MODULE = 'amqp_tasks';

export function amqpApp(settings: Record<string, unknown> = {}, brokerUrl = AMQP_URL): Celery {
  return new Celery({ broker_url: brokerUrl, result_backend: BACKEND, env: {}, ...settings });
}

/** A TypeScript worker with amqp.add / amqp.info / amqp.record, started. */
export async function tsWorker(app: Celery, queues: string[], record?: (i: number, id: string) => void, concurrency = 4): Promise<Worker> {
  app.task('amqp.add', (x: number, y: number) => x + y);
  app.task('amqp.info', (self: { request: { deliveryInfo?: Record<string, unknown>; delivery_info?: Record<string, unknown>; eta?: unknown; headers?: Record<string, unknown> } }) => {
    const r = self.request as Record<string, unknown>;
    const di = (r.delivery_info ?? r.deliveryInfo ?? {}) as Record<string, unknown>;
    return { lang: 'ts', priority: di.priority ?? null, routing_key: di.routing_key ?? null, eta: r.eta ?? null };
  }, { bind: true });
  app.task('amqp.record', (self: { request: { id: string } }, i: number) => {
    record?.(i, self.request.id);
    return i;
  }, { bind: true });
  const w = new Worker(app, { queues, concurrency, logger: testLogger() });
  await w.start();
  return w;
}

/** A real Python Celery worker on `queues` (amqp_tasks.py), with `conf` as Celery settings. */
export function pyWorker(queues: string[], conf: Record<string, unknown> = {}, brokerUrl = AMQP_URL, extra: NodeJS.ProcessEnv = {}): Promise<PythonWorker> {
  return startPythonWorker(
    ['-A', TASKS_MODULE, 'worker', '-Q', queues.join(','), '-P', 'threads', '-c', '4', '-l', 'info', '--without-heartbeat', '--without-mingle', '--without-gossip', '-n', `py-${process.pid}-${Date.now()}@%h`],
    { cwd: 'test/python', env: { CELERIAC_BROKER_URL: brokerUrl, CELERIAC_BACKEND_URL: BACKEND, CELERIAC_CONF: JSON.stringify(conf), ...extra } },
  );
}

/** Real Celery ops (test/python/worker_peer.py) against RabbitMQ + Redis db 4. */
export async function pyPeer(ops: object[], conf: Record<string, unknown> = {}, brokerUrl = AMQP_URL): Promise<unknown[]> {
  const out = await runPython('test/python/worker_peer.py', { broker: brokerUrl, backend: BACKEND, conf, ops });
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; result?: unknown; error?: string; traceback?: string });
  for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
  return lines.map((l) => l.result);
}

/** Deletes queues and exchanges a test declared (a raw amqplib connection). */
export async function deleteEntities(queues: string[], exchanges: string[] = [], url = amqplibUrl()): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    for (const q of queues) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    for (const e of exchanges) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteExchange(e).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
