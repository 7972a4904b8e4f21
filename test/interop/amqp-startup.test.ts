// broker_connection_retry_on_startup against a PRIVATE RabbitMQ node (test/helpers/private-rabbit.ts): a
// TypeScript worker and a real Python Celery worker are started while the node is down, both retry with
// Celery's backoff and log the same lines; the node is started; tasks sent then run on both. With
// retry_on_startup False the worker fails at once with an error naming the safe URL (never the password).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { amqpApp, pyWorker, sleep } from '../helpers/amqp.ts';
import { privateRabbit, requireRabbit } from '../helpers/private-rabbit.ts';
import { teardownStack } from '../helpers/teardown.ts';
import { Worker } from '../../src/worker/worker.ts';
import { createLogger } from '../../src/worker/log.ts';

test('worker started while RabbitMQ is down: retries on startup with Celery\'s backoff and log lines, runs tasks once it is up (TypeScript and Python)', { timeout: 180_000 }, async (t) => {
  if (!requirePython(t) || !requireRabbit(t)) return;
  const rabbit = privateRabbit();
  // teardown in reverse order of setup
  const cleanup = teardownStack(t, () => rabbit.destroy());
  const q = uniqueName('amqp.startup');
  const pq = `${q}.py`;
  const conf = { task_default_queue: q };

  const lines: string[] = [];
  const app = amqpApp(conf, rabbit.url);
  app.task('amqp.add', (x: number, y: number) => x + y);
  const w = new Worker(app, { queues: [q], concurrency: 2, logger: createLogger('info', (l) => lines.push(l)) });
  cleanup.push(() => w.stop());
  const started = w.start();
  started.catch(() => undefined);
  // the Python worker, also started with the node down (amqp_tasks.py sets broker_connection_retry_on_startup)
  const pyStarting = pyWorker([pq], conf, rabbit.url, {});
  pyStarting.catch(() => undefined);
  cleanup.push(async () => (await pyStarting).stop());

  await sleep(2500);
  const errors = lines.filter((l) => l.includes('consumer: Cannot connect to'));
  assert.ok(errors.length >= 1, `a retry was logged:\n${lines.join('\n')}`);
  assert.match(errors[0]!, new RegExp(`ERROR/MainProcess\\] consumer: Cannot connect to amqp://guest:\\*\\*@127\\.0\\.0\\.1:${rabbit.port}//: .*ECONNREFUSED.*\\.\\nTrying again in 2\\.00 seconds\\.\\.\\. \\(1/100\\)$`));

  await rabbit.start();
  await started;
  const py = await pyStarting;
  // Celery logs the same shape (consumer.py CONNECTION_ERROR + CONNECTION_RETRY_STEP)
  assert.match(py.log(), new RegExp(`consumer: Cannot connect to amqp://guest:\\*\\*@127\\.0\\.0\\.1:${rabbit.port}//: .*\\.\\nTrying again in 2\\.00 seconds\\.\\.\\. \\(1/100\\)`));
  const retriesTs = lines.filter((l) => l.includes('consumer: Cannot connect to')).length;
  t.diagnostic(`celeriac-count: ts_retries_logged=${retriesTs}`);
  assert.ok(lines.some((l) => /\(2\/100\)/.test(l) && /Trying again in 4\.00 seconds/.test(l)), 'second retry waits 4 s (kombu interval_step)');

  const producer = amqpApp(conf, rabbit.url);
  cleanup.push(() => producer.close());
  assert.equal(await (await producer.sendTask('amqp.add', [2, 3])).get({ timeout: 20 }), 5);
  assert.equal(await (await producer.sendTask('amqp.add', [40, 2], {}, { queue: pq })).get({ timeout: 20 }), 42);
  const info = await (await producer.sendTask('amqp.info', [], {}, { queue: pq })).get({ timeout: 20 }) as { lang: string };
  assert.equal(info.lang, 'py');
});

test('broker_connection_retry_on_startup=False: the worker fails at once with the safe URL, never the password', async (t) => {
  if (!requireRabbit(t)) return;
  // a port nothing listens on (a private node that is never started)
  const rabbit = privateRabbit();
  t.after(() => rabbit.destroy());
  const url = `amqp://guest:sekrit-pw@127.0.0.1:${rabbit.port}//`;
  const lines: string[] = [];
  const app = amqpApp({ broker_connection_retry_on_startup: false }, url);
  const w = new Worker(app, { queues: [uniqueName('amqp.nostart')], logger: createLogger('debug', (l) => lines.push(l)) });
  const t0 = Date.now();
  await assert.rejects(w.start(), (err: Error) => {
    assert.equal(err.name, 'BrokerConnectionError');
    assert.match(err.message, new RegExp(`^consumer: Cannot connect to amqp://guest:\\*\\*@127\\.0\\.0\\.1:${rabbit.port}//: .*ECONNREFUSED.*Not retrying: broker_connection_retry_on_startup is False$`));
    assert.ok(!JSON.stringify({ m: err.message, s: err.stack, c: String((err as { cause?: unknown }).cause) }).includes('sekrit-pw'));
    return true;
  });
  assert.ok(Date.now() - t0 < 5000, 'failed fast');
  assert.ok(!lines.join('\n').includes('sekrit-pw'));
  await w.stop();
});
