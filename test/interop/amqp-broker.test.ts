// The AMQP transport against real RabbitMQ and real Python Celery 5.6 (kombu pyamqp): tasks both ways,
// priorities, header values amqplib cannot decode, mixed declarations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { amqpApp, deleteEntities, pyPeer, pyWorker, sleep, tsWorker } from '../helpers/amqp.ts';

test('TypeScript sends over RabbitMQ, a real Python Celery worker runs it', async (t) => {
  if (!requirePython(t)) return;
  const q = uniqueName('amqp.tsq');
  t.after(() => deleteEntities([q], [q]));
  const conf = { task_default_queue: q };
  const py = await pyWorker([q], conf);
  t.after(() => py.stop());
  const app = amqpApp(conf);
  t.after(() => app.close());
  const r = await app.sendTask('amqp.add', [2, 3]);
  assert.equal(await r.get({ timeout: 15 }), 5);
  const info = await (await app.sendTask('amqp.info', [])).get({ timeout: 15 }) as Record<string, unknown>;
  assert.equal(info.lang, 'py');
  assert.equal(info.routing_key, q);
});

test('Python send_task over RabbitMQ, a TypeScript worker runs it', async (t) => {
  if (!requirePython(t)) return;
  const q = uniqueName('amqp.pyq');
  t.after(() => deleteEntities([q], [q]));
  const conf = { task_default_queue: q };
  const app = amqpApp(conf);
  const w = await tsWorker(app, [q]);
  t.after(() => w.stop());
  const [id] = await pyPeer([{ op: 'send', name: 'amqp.add', args: [20, 22] }], conf);
  const [out] = await pyPeer([{ op: 'get', id, timeout: 15 }], conf) as [{ state: string; result: unknown }];
  assert.equal(out.state, 'SUCCESS');
  assert.equal(out.result, 42);
});

test('priorities on an x-max-priority queue: Python sends, TypeScript consumes highest first; declarations agree', async (t) => {
  if (!requirePython(t)) return;
  const q = uniqueName('amqp.pri');
  t.after(() => deleteEntities([q], [q]));
  const conf = { task_default_queue: q, task_queue_max_priority: 10 };
  // Python declares the queue (x-max-priority 10) and sends 6 tasks with mixed priorities
  const pris = [1, 9, 5, 0, 7, 3];
  await pyPeer(pris.map((p, i) => ({ op: 'send', name: 'amqp.record', args: [i], options: { priority: p, task_id: `${q}-${i}-p${p}` } })), conf);
  const app = amqpApp(conf);
  const seen: number[] = [];
  // TypeScript declares the same queue: no PRECONDITION_FAILED; concurrency 1 + prefetch 1 keeps the order
  const w = await tsWorker(app, [q], (i) => seen.push(pris[i]!), 1);
  t.after(() => w.stop());
  const end = Date.now() + 15_000;
  while (seen.length < pris.length && Date.now() < end) await sleep(50);
  assert.deepEqual(seen.slice(0, 1), [9]);
  assert.deepEqual([...seen].sort((a, b) => b - a), [9, 7, 5, 3, 1, 0]);
});

test('a header py-amqp writes as L (int > 32 bits) that amqplib cannot decode: the TypeScript worker still runs the task', async (t) => {
  if (!requirePython(t)) return;
  const q = uniqueName('amqp.bigint');
  t.after(() => deleteEntities([q], [q]));
  const conf = { task_default_queue: q };
  const app = amqpApp(conf);
  const w = await tsWorker(app, [q]);
  t.after(() => w.stop());
  const [id] = await pyPeer([{ op: 'send', name: 'amqp.add', args: [1, 2], options: { headers: { big: 2 ** 40 } } }], conf);
  const [out] = await pyPeer([{ op: 'get', id, timeout: 15 }], conf) as [{ state: string; result: unknown }];
  assert.equal(out.state, 'SUCCESS');
  assert.equal(out.result, 3);
});
