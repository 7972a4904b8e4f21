// The AMQP transport's pure parts: kombu URL rules, native delayed delivery names/keys/arguments, header
// frames amqplib cannot decode, and the rejection of undecodable deliveries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAmqpUrl, parseAmqpUrls, safeUrlOf, tlsSocketOptions } from '../../src/brokers/amqp/url.ts';
import { calculateRoutingKey, delayedQueueArguments, delayedTarget, delayedTopology, levelName } from '../../src/brokers/amqp/delayed.ts';
import { decodeHeaderFrameLeniently, PREDECODED, UNDECODABLE } from '../../src/brokers/amqp/frames.ts';
import { fromDelivery } from '../../src/brokers/amqp/message.ts';
import { AmqpConsumer } from '../../src/brokers/amqp/consumer.ts';
import { encodeBasicProperties } from '../../protocol/envelope/amqp-wire.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { createBroker } from '../../src/brokers/index.ts';
import { ConfigurationError } from '../../src/errors.ts';

test('kombu URL rules: vhosts, defaults, TLS port, failover, redaction', () => {
  assert.equal(parseAmqpUrl('amqp://u:p@h:5672//').vhost, '/');
  assert.equal(parseAmqpUrl('amqp://u:p@h:5672/').vhost, '/');
  assert.equal(parseAmqpUrl('amqp://h/foo').vhost, 'foo');
  assert.equal(parseAmqpUrl('amqp://h/%2Fbar').vhost, '/bar');
  const d = parseAmqpUrl('pyamqp://');
  assert.deepEqual([d.hostname, d.port, d.username, d.password, d.vhost, d.protocol], ['localhost', 5672, 'guest', 'guest', '/', 'amqp']);
  assert.equal(parseAmqpUrl('amqps://h').port, 5671);
  assert.equal(parseAmqpUrl('amqp://h', { cert_reqs: 0 }).protocol, 'amqps');
  assert.equal(parseAmqpUrl('amqp://h:1234//?heartbeat=30').heartbeat, 30);
  assert.equal(parseAmqpUrls('amqp://a//;amqp://b//').length, 2);
  assert.equal(safeUrlOf('amqp://user:s3cret@h:5672//'), 'amqp://user:**@h:5672//');
  assert.equal(safeUrlOf('amqp://u:s3cret@a//;amqp://u:s3cret@b//'), 'amqp://u:**@a//;amqp://u:**@b//');
  assert.equal(parseAmqpUrl('amqp://127.0.0.1').vhost, '/');
  assert.equal(parseAmqpUrl('amqp://h/prod').vhost, 'prod');
  assert.throws(() => parseAmqpUrl('amqp://u:p@h:99999//'), (e: Error) => e instanceof ConfigurationError && !e.message.includes(':p@'));
  assert.deepEqual(tlsSocketOptions({ cert_reqs: 'CERT_NONE' }, parseAmqpUrl('amqps://h')), { servername: 'h', rejectUnauthorized: false });
  assert.throws(() => tlsSocketOptions({ ca_cert: 'x' }, parseAmqpUrl('amqps://h')), /unknown key "ca_cert"/);
  assert.equal(createBroker('amqp://guest:secret@127.0.0.1:5672//').safeUrl, 'amqp://guest:**@127.0.0.1:5672//');
});

test('native delayed delivery: kombu routing keys, level arguments and topology order', () => {
  assert.equal(levelName(27), 'celery_delayed_27');
  // kombu: '.'.join(list(f'{countdown:028b}')) + f'.{routing_key}'
  assert.equal(calculateRoutingKey(5, 'tasks'), `${'0.'.repeat(25)}1.0.1.tasks`);
  assert.equal(calculateRoutingKey(5.9, 'rk').split('.').length, 29);
  assert.throws(() => calculateRoutingKey(0, 'rk'), /positive/);
  assert.deepEqual(delayedQueueArguments(3, 'quorum'), {
    'x-queue-type': 'quorum', 'x-overflow': 'reject-publish', 'x-message-ttl': 8000,
    'x-dead-letter-exchange': 'celery_delayed_2', 'x-dead-letter-strategy': 'at-least-once',
  });
  assert.equal(delayedQueueArguments(0, 'classic')['x-dead-letter-exchange'], 'celery_delayed_delivery');
  assert.equal(delayedQueueArguments(0, 'classic')['x-dead-letter-strategy'], undefined);
  const steps = delayedTopology('quorum');
  assert.equal(steps.filter((s) => s.kind === 'queue').length, 28);
  assert.deepEqual(steps.at(-1), { kind: 'exchange-bind', destination: 'celery_delayed_delivery', source: 'celery_delayed_0', routingKey: `${'*.'.repeat(27)}0.#` });
  const q27 = steps.find((s) => s.kind === 'queue');
  assert.equal(q27?.kind === 'queue' && q27.queue.routingKey, '1.#');
  const queue = { name: 'q', exchange: { name: 'ex', type: 'topic' as const }, routingKey: 'q.rk' };
  assert.deepEqual(delayedTarget(3, queue, 'topic', 'ignored'), { exchange: 'celery_delayed_27', routingKey: calculateRoutingKey(3, 'q.rk') });
  assert.equal(delayedTarget(3, { ...queue, exchange: { name: 'ex', type: 'direct' } }, 'direct', 'q'), null);
  assert.equal(delayedTarget(0, queue, 'topic', 'q'), null);
});

function headerFrame(props: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + props.length);
  b.writeUInt16BE(60, 0);
  b.writeBigUInt64BE(7n, 4);
  Buffer.from(props).copy(b, 12);
  return b;
}

test("header frames amqplib rejects ('L' ints from py-amqp) are decoded with py-amqp's rules; undecodable ones are marked", () => {
  const props = encodeBasicProperties({ content_type: 'application/json', content_encoding: 'utf-8', application_headers: { id: 'x1', big: 2 ** 40, huge: 2n ** 62n }, delivery_mode: 2, priority: 3 });
  const f = decodeHeaderFrameLeniently(headerFrame(props), 1);
  assert.equal(f.size, 7);
  assert.equal(f.fields[PREDECODED], true);
  assert.equal(f.fields.contentType, 'application/json');
  assert.deepEqual(f.fields.headers, { id: 'x1', big: 2 ** 40, huge: 2n ** 62n });
  const raw = fromDelivery({ content: Buffer.from('[]'), fields: { exchange: '', routingKey: 'q', redelivered: false, deliveryTag: 1, consumerTag: 'c' }, properties: f.fields } as never);
  assert.deepEqual(raw.headers, { id: 'x1', big: 2 ** 40, huge: 2n ** 62n });
  assert.deepEqual(raw.properties, { delivery_mode: 2, priority: 3 });
  // an unknown field tag: marked, and mapping it throws a ProtocolError
  const bad = Buffer.from(encodeBasicProperties({ application_headers: { k: 'v' } }));
  bad[bad.indexOf(0x53 /* 'S' */)] = 0x3f; // '?'
  const g = decodeHeaderFrameLeniently(headerFrame(bad), 1);
  assert.ok(g.fields[UNDECODABLE] instanceof ProtocolError);
  assert.throws(() => fromDelivery({ content: Buffer.alloc(0), fields: {}, properties: g.fields } as never), ProtocolError);
});

test('an undecodable delivery from a queue with a dead-letter exchange is rejected without requeue (dead-lettered) and reported, never handed to the worker', async () => {
  const reported: Error[] = [];
  const rejected: unknown[] = [];
  const host = {
    safeUrl: 'amqp://guest:**@h//', qosGlobal: true, report: (e: Error) => reported.push(e), recoverConnection: () => Promise.reject(new Error('no')), consumerDone: () => undefined,
    quarantine: { bounds: { maxMessages: 10, maxAge: null } } as never, deadLetterExchange: (q: string) => (q === 'q' ? 'dlx' : null),
  };
  const handed: unknown[] = [];
  const c = new AmqpConsumer(host, ['q'], (d) => handed.push(d), { prefetch: 1 });
  const ch = { reject: (m: { fields: { deliveryTag: number } }, requeue: boolean) => rejected.push([m.fields.deliveryTag, requeue]) };
  (c as unknown as { channel: unknown }).channel = ch;
  const msg = { content: Buffer.alloc(0), fields: { deliveryTag: 1 }, properties: { [UNDECODABLE]: new ProtocolError('properties', 'bad tag') } };
  (c as unknown as { deliver(ch: unknown, q: string, m: unknown): void }).deliver(ch, 'q', msg);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(handed, []);
  assert.deepEqual(rejected, [[1, false]]);
  assert.equal(reported.length, 1);
  assert.match(reported[0]!.message, /queue "q": .*bad tag.*rejected without requeue/);
});
