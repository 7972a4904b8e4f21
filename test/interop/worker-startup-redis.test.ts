// broker_connection_retry_on_startup on Redis: a TypeScript worker started while its (private) redis-server
// is down retries with Celery's backoff and log line, then runs tasks once Redis is up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { freePort } from '../helpers/net.ts';
import { uniqueName } from '../helpers/peers.ts';
import { portOpen, REDIS_SERVER, requireBinaries } from '../helpers/private-redis.ts';
import { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { createLogger } from '../../src/worker/log.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('worker started while Redis is down: retries on startup (Celery\'s log line), runs tasks once Redis is up', { timeout: 60_000 }, async (t) => {
  if (!requireBinaries(t)) return;
  const port = await freePort();
  const url = `redis://:sekrit-pw@127.0.0.1:${port}/0`;
  const q = uniqueName('startup.redis');
  const lines: string[] = [];
  const runs: number[] = [];
  const app = new Celery({ broker_url: url, task_default_queue: q, env: {} });
  app.task('startup.record', (i: number) => void runs.push(i));
  const w = new Worker(app, { queues: [q], concurrency: 1, logger: createLogger('info', (l) => lines.push(l)) });
  const started = w.start();
  started.catch(() => undefined);
  let server: ReturnType<typeof spawn> | null = null;
  t.after(async () => {
    await w.stop().catch(() => undefined);
    server?.kill('SIGKILL');
  });
  await sleep(2500);
  const errors = lines.filter((l) => l.includes('consumer: Cannot connect to'));
  assert.ok(errors.length >= 1, lines.join('\n'));
  assert.match(errors[0]!, new RegExp(`consumer: Cannot connect to redis://:\\*\\*@127\\.0\\.0\\.1:${port}/0: .*ECONNREFUSED.*\\.\\nTrying again in 2\\.00 seconds\\.\\.\\. \\(1/100\\)$`));
  assert.ok(!lines.join('\n').includes('sekrit-pw'));

  server = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', 'sekrit-pw'], { stdio: 'ignore' });
  while (!(await portOpen(port))) await sleep(50);
  await started;
  const producer = new Celery({ broker_url: url, task_default_queue: q, env: {} });
  t.after(() => producer.close());
  await producer.sendTask('startup.record', [7]);
  const end = Date.now() + 15_000;
  while (!runs.includes(7) && Date.now() < end) await sleep(50);
  assert.deepEqual(runs, [7]);
});

test('a first connection that fails stops ioredis\'s own retries: the caller\'s next try connects at once', { timeout: 30_000 }, async () => {
  // a server that accepts and drops every connection, counting them
  const { createServer } = await import('node:net');
  const { RedisBroker } = await import('../../src/brokers/redis/broker.ts');
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const reported: Error[] = [];
  const broker = new RedisBroker(`redis://127.0.0.1:${port}/0`, {}, { onError: (e) => reported.push(e) });
  try {
    await assert.rejects(broker.connect(), /cannot connect to the Redis broker/);
    const afterFirst = connections;
    assert.ok(afterFirst >= 1);
    // ioredis would reconnect in the background (50 ms, 100 ms, ...): nothing may connect meanwhile,
    // so the worker's "Trying again in 2.00 seconds" is when the next attempt really starts
    await sleep(1500);
    assert.equal(connections, afterFirst, 'no background reconnects after a failed first connect');
    assert.equal(broker.client.status, 'end');
    await assert.rejects(broker.connect(), /cannot connect to the Redis broker/);
    assert.ok(connections > afterFirst, 'the next connect() makes a new attempt');
    // the failure went to the caller; it is not reported a second time as a background error
    assert.deepEqual(reported.map((e) => e.message), []);
  } finally {
    broker.client.disconnect();
    server.close();
  }
});
