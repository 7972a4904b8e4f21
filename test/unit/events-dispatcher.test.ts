// EventDispatcher without a broker process: groups, task.multi batching, exchange per transport, dropped
// unroutable events, and the worker eventer's enable/disable (remote control) rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEventMessage, LamportClock } from '../../protocol/events.ts';
import type { RawMessage } from '../../protocol/types.ts';
import type { Broker, ExchangeDeclaration, PublishTarget } from '../../src/broker.ts';
import { UnroutableError } from '../../src/brokers/errors.ts';
import { EventDispatcher } from '../../src/events/dispatcher.ts';
import { transportOf } from '../../src/events/transport.ts';

function memBroker(opts: { unroutable?: boolean } = {}) {
  const published: { raw: RawMessage; target: PublishTarget }[] = [];
  const declared: ExchangeDeclaration[] = [];
  const broker = {
    safeUrl: 'memory://',
    async publish(raw: RawMessage, target: PublishTarget) {
      if (opts.unroutable) throw new UnroutableError(target.exchange, target.routingKey, 'no binding');
      published.push({ raw, target });
    },
    async declareExchange(ex: ExchangeDeclaration) {
      declared.push(ex);
    },
  } as unknown as Broker;
  return { broker, published, declared };
}

test('topic exchange declared once on AMQP; routing key = type with dots; header hostname', async () => {
  const m = memBroker();
  const d = new EventDispatcher(async () => m.broker, { hostname: 'w@h', clock: new LamportClock(), transport: 'amqp' });
  await d.send('worker-online', { freq: 2 });
  await d.send('worker-heartbeat', { freq: 2 });
  assert.deepEqual(m.declared, [{ name: 'celeryev', type: 'topic', durable: true, autoDelete: false }]);
  assert.deepEqual(m.published.map((p) => p.target.routingKey), ['worker.online', 'worker.heartbeat']);
  assert.equal(m.published[0]!.raw.headers.hostname, 'w@h');
  const [e] = decodeEventMessage(m.published[1]!.raw);
  assert.equal(e!.clock, 2);
  assert.equal(e!.hostname, 'w@h');
  assert.equal(e!.pid, process.pid);
});

test('groups filter (a worker without -E sends only worker events); task events batched as task.multi', async () => {
  const m = memBroker();
  const d = new EventDispatcher(async () => m.broker, { hostname: 'w@h', clock: new LamportClock(), transport: 'redis', groups: ['worker'], bufferGroups: ['task'] });
  await d.send('task-received', { uuid: 'x' });
  assert.equal(m.published.length, 0);
  d.groups.add('task');
  for (let i = 0; i < 3; i++) await d.send('task-started', { uuid: String(i) });
  await d.close();
  assert.equal(m.published.length, 1);
  assert.equal(m.published[0]!.target.routingKey, 'task.multi');
  assert.equal(m.published[0]!.target.exchangeType, 'fanout');
  assert.deepEqual(decodeEventMessage(m.published[0]!.raw).map((e) => e.uuid), ['0', '1', '2']);
});

test('a full buffer (24) is sent at once; the rest at the end of the tick', async () => {
  const m = memBroker();
  const d = new EventDispatcher(async () => m.broker, { hostname: 'w@h', clock: new LamportClock(), transport: 'redis', bufferGroups: ['task'] });
  for (let i = 0; i < 30; i++) void d.send('task-started', { uuid: String(i) });
  await new Promise((r) => setImmediate(r));
  await d.close();
  assert.deepEqual(m.published.map((p) => decodeEventMessage(p.raw).length), [24, 6]);
});

test('nobody listening (unroutable) is not an error, as kombu drops it', async () => {
  const m = memBroker({ unroutable: true });
  const errors: Error[] = [];
  const d = new EventDispatcher(async () => m.broker, { hostname: 'w@h', clock: new LamportClock(), transport: 'amqp', onError: (e) => errors.push(e) });
  await d.send('worker-heartbeat', {});
  assert.deepEqual(errors, []);
});

test('disabled: nothing sent, publish() still works (the producer task-sent)', async () => {
  const m = memBroker();
  const d = new EventDispatcher(async () => m.broker, { hostname: 'gen1@h', clock: new LamportClock(), transport: 'redis', enabled: false });
  await d.send('worker-online', {});
  await d.publish('task-sent', { uuid: 'a' });
  assert.deepEqual(m.published.map((p) => p.target.routingKey), ['task.sent']);
});

test('transport of a broker URL', () => {
  assert.equal(transportOf('redis://h/0'), 'redis');
  assert.equal(transportOf('rediss://h/0'), 'rediss');
  assert.equal(transportOf('amqp://g:g@h//'), 'amqp');
  assert.equal(transportOf('pyamqp://h;amqp://h2'), 'amqp');
  assert.equal(transportOf('sentinel://h:26379'), 'sentinel');
});
