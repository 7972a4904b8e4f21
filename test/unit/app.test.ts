// The app object with a recording broker and backend: what sendTask / task handles publish, the
// backend hook, the task registry, and option aliases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RawMessage } from '../../protocol/types.ts';
import { decodeTaskMessage } from '../../protocol/message.ts';
import type { Broker, PublishTarget } from '../../src/broker.ts';
import type { ResultBackend } from '../../src/backend.ts';
import { Celery, createApp } from '../../src/app.ts';
import { ConfigurationError } from '../../src/errors.ts';

function recording() {
  const published: { raw: RawMessage; target: PublishTarget }[] = [];
  const calls: string[] = [];
  const broker = {
    safeUrl: 'redis://h/0', connects: 0,
    async connect() { broker.connects++; }, async declareQueue() {}, async close() { calls.push('broker.close'); },
    async publish(raw: RawMessage, target: PublishTarget) { calls.push('publish'); published.push({ raw, target }); },
    consume: () => { throw new Error('unused'); }, queueLength: async () => 0, purge: async () => 0,
  };
  const backend = {
    safeUrl: 'redis://h/1',
    onTaskCall(id: string) { calls.push(`onTaskCall ${id}`); },
    async close() { calls.push('backend.close'); },
  } as unknown as ResultBackend;
  const seen: { brokerUrl?: string; transport?: unknown; backendUrl?: string | null; backendOptions?: unknown } = {};
  const app = new Celery({
    broker_url: 'redis://h/0', result_backend: 'redis://h/1', env: {},
    broker_transport_options: { visibility_timeout: 10 }, result_expires: 60,
    createBroker: (url, transport) => { seen.brokerUrl = url; seen.transport = transport; return broker as unknown as Broker; },
    createBackend: (url, options) => { seen.backendUrl = url; seen.backendOptions = options; return backend; },
  });
  return { app, broker, published, calls, seen };
}

test('sendTask publishes the routed message, calls backend.onTaskCall first, returns an AsyncResult', async () => {
  const { app, published, calls, seen, broker } = recording();
  const r = await app.sendTask('tasks.add', [2, 3], { z: 1 }, { queue: 'math', task_id: 'id-1' });
  assert.equal(r.id, 'id-1');
  assert.deepEqual(calls, ['onTaskCall id-1', 'publish']);
  const { raw, target } = published[0]!;
  assert.deepEqual({ exchange: target.exchange, routingKey: target.routingKey }, { exchange: '', routingKey: 'math' });
  assert.equal(target.declare?.[0]?.name, 'math');
  const msg = decodeTaskMessage(raw, { accept: ['json'] });
  assert.deepEqual([msg.headers.task, msg.body.args, msg.body.kwargs, msg.headers.argsrepr], ['tasks.add', [2, 3], { z: 1 }, '[2, 3]']);
  assert.equal(msg.properties.reply_to, app.oid);
  assert.equal(msg.headers.origin, app.origin);
  assert.equal(seen.brokerUrl, 'redis://h/0');
  assert.deepEqual(seen.transport, { visibility_timeout: 10 });
  assert.equal(seen.backendUrl, 'redis://h/1');
  assert.deepEqual(seen.backendOptions, {
    result_expires: 60, result_serializer: 'json', result_accept_content: null, accept_content: ['json'], result_backend_transport_options: {},
    redis_backend_use_ssl: null,
    // what rpc:// needs: the broker and its connection settings, the reply queue
    broker_url: 'redis://h/0', broker_use_ssl: false, broker_heartbeat: 120, broker_connection_timeout: 4, oid: app.oid, result_persistent: null,
  });
  await app.sendTask('tasks.add');
  assert.equal(broker.connects, 1, 'the broker connects once');
  await app.close();
  assert.deepEqual(calls.slice(-2).sort(), ['backend.close', 'broker.close']);
  await assert.rejects(app.sendTask('x'), /closed/);
});

test('ignore_result skips onTaskCall; no result_backend skips it too', async () => {
  const { app, calls } = recording();
  await app.sendTask('t', [], {}, { ignoreResult: true, taskId: 'i' });
  assert.deepEqual(calls, ['publish']);
  const noBackend = new Celery({ env: {}, createBroker: () => recording().broker as unknown as Broker });
  assert.equal(noBackend.conf.resultBackend, null);
  await noBackend.sendTask('t');
});

test('task handles: delay shows args as a tuple, applyAsync merges the task defaults under call options', async () => {
  const { app, published } = recording();
  const add = app.task<[number, number], number>('tasks.add', { queue: 'math', time_limit: 10, priority: 2 });
  await add.delay(2, 3);
  await add.applyAsync([4, 5], { z: 1 }, { priority: 7 });
  const [a, b] = published.map((p) => ({ msg: decodeTaskMessage(p.raw, { accept: ['json'] }), target: p.target }));
  assert.equal(a!.msg.headers.argsrepr, '(2, 3)');
  assert.deepEqual(a!.msg.headers.timelimit, [10, null]);
  assert.equal(a!.msg.properties.priority, 2);
  assert.equal(a!.target.routingKey, 'math');
  assert.equal(b!.msg.properties.priority, 7);
  assert.deepEqual(add.s(1), { task: 'tasks.add', args: [1], kwargs: {}, options: {}, subtask_type: null, immutable: false });
  assert.equal(add.si(1, 2).immutable, true);
  assert.equal(add.name, 'tasks.add');
  assert.equal(add.fn, undefined);
});

test('tasks with an implementation are registered for the worker, with worker-side options', () => {
  const { app } = recording();
  const mul = app.task('ts.mul', (x: number, y: number) => x * y, { acks_late: true, maxRetries: 5, queue: 'ts' });
  assert.equal(mul.fn?.(2, 3), 6);
  const reg = app.tasks.get('ts.mul')!;
  assert.deepEqual(reg.workerOptions, { acksLate: true, maxRetries: 5 });
  assert.deepEqual(reg.sendDefaults, { queue: 'ts' });
  // a handle declared later without implementation keeps it
  assert.equal(app.task('ts.mul').fn, mul.fn);
  assert.throws(() => app.task('ts.mul', () => 0), /already registered with another implementation/);
  assert.throws(() => app.task('ts.x', { queu: 'x' } as never), /unknown option of task ts.x "queu"; did you mean "queue"/);
});

test('Celery(broker=..., backend=...) aliases, and unknown settings fail early', () => {
  const app = createApp({ broker: 'redis://b/0', backend: 'redis://r/1', env: {} });
  assert.equal(app.conf.brokerUrl, 'redis://b/0');
  assert.equal(app.conf.resultBackend, 'redis://r/1');
  assert.throws(() => createApp({ broker: 'redis://b/0', broker_url: 'redis://c/0', env: {} }), ConfigurationError);
  assert.throws(() => createApp({ task_default_qeue: 'x', env: {} }), /did you mean "task_default_queue"/);
});
