// RabbitMQ restarted while tasks flow: a TypeScript producer keeps publishing (retry_policy), a TypeScript
// worker and a real Python Celery worker reconnect and keep consuming. Afterwards every task is accounted
// for: none lost; duplicates (at-least-once) only, and counted. Uses a PRIVATE RabbitMQ node (test/helpers/
// private-rabbit.ts), never the shared one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { amqpApp, BACKEND, pyWorker, sleep, tsWorker } from '../helpers/amqp.ts';
import { privateRabbit, requireRabbit } from '../helpers/private-rabbit.ts';

test('broker restart while tasks flow: every task runs at least once (TypeScript producer, TypeScript + Python workers)', { timeout: 240_000 }, async (t) => {
  if (!requirePython(t)) return;
  if (!requireRabbit(t)) return;
  const rabbit = privateRabbit();
  // node:test runs after-hooks last-registered-last: this one is registered first, so make it wait for the
  // others by registering the real teardown at the end of the test body
  let destroyed = false;
  t.after(() => (destroyed ? undefined : rabbit.destroy()));
  await rabbit.start();
  const q = uniqueName('amqp.restart');
  const list = `${q}:py`;
  const redis = new Redis(BACKEND);
  t.after(async () => {
    await redis.del(list);
    redis.disconnect();
  });
  const conf = { task_default_queue: q, task_ignore_result: true, worker_prefetch_multiplier: 1 };

  const tsRuns: number[] = [];
  const workerApp = amqpApp(conf, rabbit.url);
  const w = await tsWorker(workerApp, [q], (i) => tsRuns.push(i), 2);
  t.after(() => w.stop());
  const py = await pyWorker([q], { ...conf, broker_connection_max_retries: null }, rabbit.url, { CELERIAC_LIST: list });
  t.after(() => py.stop());

  const stopAll = async () => {
    await Promise.allSettled([w.stop(), py.stop(), producer.close()]);
    destroyed = true;
    await rabbit.destroy();
  };
  const producer = amqpApp({ ...conf, task_publish_retry_policy: { max_retries: 200, interval_start: 0.2, interval_step: 0.2, interval_max: 1 } }, rabbit.url);
  t.after(() => producer.close());
  const N = 300;
  const restart = (async () => {
    while (tsRuns.length + (await redis.llen(list)) < 60) await sleep(50);
    await rabbit.stop();
    await sleep(1000);
    await rabbit.start();
  })();
  for (let i = 0; i < N; i++) {
    await producer.sendTask('amqp.record', [i], {}, { retry_policy: { max_retries: 200, interval_start: 0.2, interval_step: 0.2, interval_max: 1 } }).catch((err: Error) => {
      throw new Error(`publish ${i} failed: ${err.message}`);
    });
    if (i % 10 === 0) await sleep(30);
  }
  await restart;

  const counts = new Map<number, number>();
  const tally = async () => {
    counts.clear();
    for (const i of tsRuns) counts.set(i, (counts.get(i) ?? 0) + 1);
    for (const s of await redis.lrange(list, 0, -1)) {
      const i = (JSON.parse(s) as [number])[0];
      counts.set(i, (counts.get(i) ?? 0) + 1);
    }
  };
  const end = Date.now() + 120_000;
  for (;;) {
    await tally();
    if (counts.size >= N || Date.now() > end) break;
    await sleep(250);
  }
  const missing = Array.from({ length: N }, (_, i) => i).filter((i) => !counts.has(i));
  const runs = [...counts.values()].reduce((a, b) => a + b, 0);
  const dups = [...counts.entries()].filter(([, n]) => n > 1).map(([i]) => i);
  const pyRuns = await redis.llen(list);
  await stopAll();
  t.diagnostic(`celeriac-count: sent=${N} distinct_ran=${counts.size} runs=${runs} duplicates=${dups.length} (${dups.slice(0, 10).join(',')}) ts_runs=${tsRuns.length} py_runs=${pyRuns} missing=${missing.length}`);
  assert.deepEqual(missing, [], `lost tasks: ${missing.join(',')}\npython log tail:\n${py.log().slice(-2000)}`);
  assert.ok(tsRuns.length > 0 && pyRuns > 0, 'both workers ran tasks');
});
