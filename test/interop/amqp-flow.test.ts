// Flow control against a PRIVATE RabbitMQ node: a memory alarm (vm_memory_high_watermark set to 1 byte
// with rabbitmqctl) makes RabbitMQ send connection.blocked and stop reading from publishing connections. The
// TypeScript producer reports the block, its publishes wait (none fails, none is lost, the process does not
// crash), and once the watermark is restored (connection.unblocked) every publish completes and every task
// runs exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../helpers/peers.ts';
import { amqpApp, sleep, tsWorker } from '../helpers/amqp.ts';
import { privateRabbit, requireRabbit } from '../helpers/private-rabbit.ts';
import { captureConsoleError, teardownStack } from '../helpers/teardown.ts';

test('connection.blocked (memory alarm): publishes wait, nothing is lost, all complete once unblocked', { timeout: 120_000 }, async (t) => {
  if (!requireRabbit(t)) return;
  const rabbit = privateRabbit();
  const cleanup = teardownStack(t, () => rabbit.destroy());
  await rabbit.start();
  const reported = captureConsoleError(cleanup);

  const q = uniqueName('amqp.flow');
  const conf = { task_default_queue: q, task_ignore_result: true };
  const runs: number[] = [];
  const w = await tsWorker(amqpApp(conf, rabbit.url), [q], (i) => runs.push(i), 4);
  cleanup.push(() => w.stop());
  const producer = amqpApp(conf, rabbit.url);
  cleanup.push(() => producer.close());
  await producer.sendTask('amqp.record', [0]);

  // memory alarm: RabbitMQ blocks every connection that publishes
  await rabbit.ctl('set_vm_memory_high_watermark', 'absolute', '1');
  cleanup.push(() => rabbit.ctl('set_vm_memory_high_watermark', '0.4'));
  const N = 50;
  const settled: (string | null)[] = Array.from({ length: N }, () => null);
  const sends = Array.from({ length: N }, (_, k) => producer.sendTask('amqp.record', [k + 1]).then(
    () => void (settled[k] = 'ok'),
    (err: Error) => void (settled[k] = `failed: ${err.message}`),
  ));
  await sleep(4000);
  assert.ok(reported.some((l) => /RabbitMQ amqp:\/\/guest:\*\*@127\.0\.0\.1:\d+\/\/ blocked publishing: .*memory/i.test(l)), `connection.blocked reported:\n${reported.join('\n')}`);
  assert.equal(settled.filter((s) => s !== null).length, 0, `publishes wait while blocked: ${JSON.stringify(settled.filter(Boolean))}`);
  assert.deepEqual(runs.filter((i) => i > 0), [], 'nothing was delivered while blocked');

  // the alarm clears: connection.unblocked, confirms arrive, every publish completes
  await rabbit.ctl('set_vm_memory_high_watermark', '0.4');
  await Promise.race([Promise.all(sends), sleep(30_000)]);
  assert.deepEqual(settled.filter((s) => s !== 'ok'), [], 'every publish completed after the unblock');
  const end = Date.now() + 30_000;
  while (runs.length < N + 1 && Date.now() < end) await sleep(50);
  const sorted = [...runs].sort((a, b) => a - b);
  assert.deepEqual(sorted, Array.from({ length: N + 1 }, (_, i) => i), 'every task ran exactly once');
  assert.ok(!reported.join('\n').includes('guest:guest'));
});
