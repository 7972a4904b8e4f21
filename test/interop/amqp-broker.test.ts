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

/** A quorum queue on a topic exchange (native delayed delivery needs a non-direct exchange), both spellings. */
function quorumTopic(q: string): { py: Record<string, unknown>; ts: Record<string, unknown> } {
  const args = { 'x-queue-type': 'quorum' };
  return {
    py: { task_default_queue: q, task_queues: { [q]: { exchange: q, exchange_type: 'topic', routing_key: q, queue_arguments: args } } },
    ts: { task_default_queue: q, task_queues: [{ name: q, exchange: { name: q, type: 'topic' }, routing_key: q, queue_arguments: args }] },
  };
}

const BINARY_KEY = /^([01]\.){28}/;

test('quorum queue + countdown: TypeScript publishes through celery_delayed_27 as Celery does, a Python worker runs it after the delay', async (t) => {
  if (!requirePython(t)) return;
  const q = uniqueName('amqp.qdelay');
  t.after(() => deleteEntities([q], [q]));
  const { py, ts } = quorumTopic(q);
  const w = await pyWorker([q], py);
  t.after(() => w.stop());
  const app = amqpApp(ts);
  t.after(() => app.close());
  const t0 = Date.now();
  const r = await app.sendTask('amqp.info', [], {}, { countdown: 3 });
  const info = await r.get({ timeout: 30 }) as Record<string, unknown>;
  const elapsed = (Date.now() - t0) / 1000;
  assert.equal(info.lang, 'py');
  // the delivery came through the delayed-delivery exchanges: its routing key is the binary delay + queue key
  assert.match(String(info.routing_key), BINARY_KEY);
  assert.equal(String(info.routing_key), `${(3).toString(2).padStart(28, '0').split('').join('.')}.${q}`);
  assert.ok(elapsed >= 2.5, `ran after ${elapsed} s`);
  assert.doesNotMatch(w.log(), /PRECONDITION_FAILED/);
});

test('quorum queue + countdown: Python send_task through native delayed delivery, a TypeScript worker (its DelayedDelivery topology) runs it', async (t) => {
  if (!requirePython(t)) return;
  const q = uniqueName('amqp.qdelay2');
  t.after(() => deleteEntities([q], [q]));
  const { py, ts } = quorumTopic(q);
  const app = amqpApp(ts);
  const w = await tsWorker(app, [q]);
  t.after(() => w.stop());
  await sleep(500); // the DelayedDelivery bindings are made right after start
  const t0 = Date.now();
  const [id] = await pyPeer([{ op: 'send', name: 'amqp.info', args: [], options: { countdown: 3 } }], py);
  const [out] = await pyPeer([{ op: 'get', id, timeout: 30 }], py) as [{ state: string; result: Record<string, unknown> }];
  const elapsed = (Date.now() - t0) / 1000;
  assert.equal(out.state, 'SUCCESS');
  assert.equal(out.result.lang, 'ts');
  assert.match(String(out.result.routing_key), BINARY_KEY);
  assert.ok(elapsed >= 2.5, `ran after ${elapsed} s`);
});

test('mixed declarations never fight: TypeScript worker first then Python worker, and the reverse (quorum + x-max-priority queues)', async (t) => {
  if (!requirePython(t)) return;
  const q1 = uniqueName('amqp.mixq');
  const q2 = uniqueName('amqp.mixp');
  t.after(() => deleteEntities([q1, q2], [q1, q2]));
  // 1) quorum topic queue: TypeScript worker declares first (queue + delayed topology), then Python
  const c1 = quorumTopic(q1);
  const app1 = amqpApp(c1.ts);
  const ran: number[] = [];
  const w1 = await tsWorker(app1, [q1], (i) => ran.push(i));
  t.after(() => w1.stop());
  const p1 = await pyWorker([q1], c1.py);
  t.after(() => p1.stop());
  // 2) classic x-max-priority queue: Python worker declares first, then TypeScript
  const c2 = { task_default_queue: q2, task_queue_max_priority: 5 };
  const p2 = await pyWorker([q2], c2);
  t.after(() => p2.stop());
  const app2 = amqpApp(c2);
  const w2 = await tsWorker(app2, [q2], (i) => ran.push(i));
  t.after(() => w2.stop());
  const errors: string[] = [];
  w1.on('error', (e) => errors.push(e.message));
  w2.on('error', (e) => errors.push(e.message));
  // tasks sent from both languages to both queues all complete
  const ids = [...await pyPeer([0, 1, 2].map((i) => ({ op: 'send', name: 'amqp.add', args: [i, 1] })), c1.py),
    ...await pyPeer([3, 4, 5].map((i) => ({ op: 'send', name: 'amqp.add', args: [i, 1], options: { priority: 2 } })), c2)] as string[];
  const results = [...await Promise.all([6, 7].map(async (i) => (await app1.sendTask('amqp.add', [i, 1])).get({ timeout: 20 }))),
    ...await Promise.all([8, 9].map(async (i) => (await app2.sendTask('amqp.add', [i, 1], {}, { priority: 4 })).get({ timeout: 20 })))];
  assert.deepEqual(results, [7, 8, 9, 10]);
  const outs = await pyPeer([{ op: 'get_many', ids, timeout: 20 }], c1.py) as [{ state: string; result: unknown }[]];
  assert.deepEqual(outs[0]!.map((o) => o.result), [1, 2, 3, 4, 5, 6]);
  for (const log of [p1.log(), p2.log()]) assert.doesNotMatch(log, /PRECONDITION_FAILED|inequivalent/);
  assert.deepEqual(errors.filter((e) => /PRECONDITION|inequivalent/.test(e)), []);
});
