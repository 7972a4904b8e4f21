// The Redis transport's QoS, queue cycling, malformed messages, fanout and scheme registry, against real
// Redis (no Python needed).
import { decodeQuarantineElement } from '../../protocol/quarantine.ts';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../protocol/errors.ts';
import { AmqpBroker, createBroker } from '../../src/brokers/index.ts';
import { InvalidMessageError } from '../../src/brokers/errors.ts';
import { RedisBroker } from '../../src/brokers/redis/broker.ts';
import { ConfigurationError } from '../../src/redis/url.ts';
import type { Delivery } from '../../src/broker.ts';
import { requirePython, runPython, uniqueName } from '../helpers/peers.ts';
import { DB, URL, collect, dropPrefixes, ids, newPrefix, rawClient, sleep, taskRaw } from '../helpers/redis-broker.ts';

after(dropPrefixes);

/** What kombu's own QoS.append stores in the unacked hash for each envelope (test/python/kombu_qos_append.py). */
async function kombuAppend(envelopes: (string | Buffer)[]): Promise<Buffer[]> {
  const out = JSON.parse(await runPython('test/python/kombu_qos_append.py', envelopes.map((e) => e.toString()))) as string[];
  return out.map((b) => Buffer.from(b, 'base64'));
}

test('prefetch 2 holds exactly 2 unacked; ack frees a slot; reject(requeue) goes to the back; close() gives held ones back to the front', async (t) => {
  const prefix = newPrefix();
  const q = uniqueName('rb.qos');
  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  for (const id of ['m1', 'm2', 'm3', 'm4']) await broker.publish(taskRaw(id), { exchange: '', routingKey: q });
  const got: Delivery[] = [];
  const consumer = broker.consume([q], (d) => got.push(d), { prefetch: 2 });
  await sleep(400);
  assert.deepEqual(ids(got), ['m1', 'm2']);
  assert.equal(await broker.queueLength(q), 2);
  const redis = rawClient();
  t.after(() => redis.quit());
  assert.equal(await redis.hlen(`${prefix}unacked`), 2);
  assert.equal(await redis.zcard(`${prefix}unacked_index`), 2);

  await got[0]!.ack();
  await sleep(300);
  assert.deepEqual(ids(got), ['m1', 'm2', 'm3']);
  assert.equal(await redis.hlen(`${prefix}unacked`), 2);

  await got[1]!.reject(true); // m2 to the back: LPUSH
  await sleep(300);
  assert.deepEqual(ids(got), ['m1', 'm2', 'm3', 'm4']);
  const back = JSON.parse((await redis.lindex(`${prefix}${q}`, 0))!) as { headers: { id: string; redelivered: boolean } };
  assert.equal(back.headers.id, 'm2');
  assert.equal(back.headers.redelivered, true);

  consumer.setPrefetch(0); // unlimited: would take m2 now
  await sleep(300);
  assert.deepEqual(ids(got), ['m1', 'm2', 'm3', 'm4', 'm2']);
  assert.equal(got[4]!.raw.deliveryInfo.redelivered, true);
  await got[2]!.ack(); // m3 acked; m4 and m2 (again) still held

  await broker.close();
  assert.equal(await redis.hlen(`${prefix}unacked`), 0);
  assert.equal(await redis.zcard(`${prefix}unacked_index`), 0);
  // given back to the FRONT (RPUSH), in delivery order: m4 first, then m2
  const order = (await redis.lrange(`${prefix}${q}`, 0, -1)).reverse().map((e) => (JSON.parse(e) as { headers: { id: string } }).headers.id);
  assert.deepEqual(order, ['m4', 'm2']);
  await assert.rejects(got[3]!.ack(), /already given back to the queue by close\(\)/);
});

test('several queues: BRPOP keys priority-major, round_robin rotates the queue that delivered, priority keeps order, sorted sorts', async (t) => {
  for (const [strategy, expected] of [
    ['round_robin', ['a1', 'b1', 'a2', 'b2', 'b3', 'a-p9']],
    ['priority', ['a1', 'a2', 'b1', 'b2', 'b3', 'a-p9']],
    ['sorted', ['a1', 'a2', 'b1', 'b2', 'b3', 'a-p9']],
  ] as const) {
    const prefix = newPrefix();
    const [a, b] = [uniqueName('rb.a'), uniqueName('rb.b')];
    const broker = new RedisBroker(URL, { global_keyprefix: prefix, queue_order_strategy: strategy });
    t.after(() => broker.close());
    await broker.publish(taskRaw('a-p9', 9), { exchange: '', routingKey: a });
    for (const id of ['a1', 'a2']) await broker.publish(taskRaw(id), { exchange: '', routingKey: a });
    for (const id of ['b1', 'b2', 'b3']) await broker.publish(taskRaw(id), { exchange: '', routingKey: b });
    const { deliveries, consumer } = await collect(broker, strategy === 'sorted' ? [b, a] : [a, b], 6);
    await consumer.cancel();
    assert.deepEqual(ids(deliveries), expected, strategy);
    assert.equal(ids(deliveries).at(-1), 'a-p9', 'priority 9 is served last on Redis');
    for (const d of deliveries) await d.ack();
  }
});

test('a malformed list element is reported with the queue and a ProtocolError, moved aside byte for byte, and consuming goes on', async (t) => {
  const prefix = newPrefix();
  const q = uniqueName('rb.bad');
  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  t.after(() => broker.close());
  const redis = rawClient();
  t.after(() => redis.quit());
  const notUtf8 = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
  await redis.lpush(`${prefix}${q}`, 'not json at all');
  await redis.lpush(`${prefix}${q}`, notUtf8);
  await broker.publish(taskRaw('good-1'), { exchange: '', routingKey: q });
  const errors: Error[] = [];
  const got: Delivery[] = [];
  const consumer = broker.consume([q], (d) => got.push(d), { prefetch: 0, onError: (e) => errors.push(e) });
  await sleep(500);
  await consumer.cancel();
  assert.deepEqual(ids(got), ['good-1']);
  assert.equal(errors.length, 2);
  for (const e of errors) {
    assert.ok(e instanceof InvalidMessageError, String(e));
    assert.equal(e.queue, q);
    assert.ok(e.cause instanceof ProtocolError);
    assert.equal(e.movedTo, `${prefix}${q}.celeriac.invalid`);
    assert.match(e.message, new RegExp(`queue "${q.replaceAll('.', '\\.')}": a malformed message \\(\\d+ bytes\\) was not delivered: .*; its raw bytes were quarantined in the Redis list`));
  }
  assert.match(errors[1]!.message, /not valid UTF-8/);
  // quarantine records, newest first, each holding the element byte for byte with the reason
  const moved = (await redis.lrangeBuffer(`${prefix}${q}.celeriac.invalid`, 0, -1)).map((b) => decodeQuarantineElement(b, q));
  assert.deepEqual(moved.reverse().map((m) => m.envelope), [Buffer.from('not json at all'), notUtf8]);
  for (const [i, m] of moved.entries()) {
    assert.equal(m.message.kind, 'malformed');
    assert.equal(m.message.queue, q);
    assert.equal(m.key, q);
    assert.equal(m.message.reason, (errors[i]!.cause as Error).message);
  }
  await got[0]!.ack();
});

test('fanout publish goes to kombu\'s /<db>.<exchange>/<routing key> channel, with global_keyprefix', async (t) => {
  const prefix = newPrefix();
  const ex = uniqueName('rb.fan');
  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  t.after(() => broker.close());
  const sub = rawClient();
  t.after(() => sub.disconnect());
  const channel = `${prefix}/${DB}.${ex}/worker.heartbeat`;
  const got = new Promise<string>((resolve) => sub.on('message', (_c: string, m: string) => resolve(m)));
  await sub.subscribe(channel);
  await broker.publish(taskRaw('fan-1'), { exchange: ex, routingKey: 'worker.heartbeat', exchangeType: 'fanout' });
  const env = JSON.parse(await got) as { headers: { id: string }; properties: { delivery_info: unknown } };
  assert.equal(env.headers.id, 'fan-1');
  assert.deepEqual(env.properties.delivery_info, { exchange: ex, routing_key: 'worker.heartbeat' });
});

test('createBroker picks the transport by scheme; errors never show the password', () => {
  const b = createBroker('redis://user:s3cret@127.0.0.1:6379/7', { visibility_timeout: 10 });
  assert.ok(b instanceof RedisBroker);
  assert.equal(b.safeUrl, 'redis://user:**@127.0.0.1:6379/7');
  void b.close();
  const a = createBroker('pyamqp://guest:pw@localhost//;amqp://guest:pw@other//');
  assert.ok(a instanceof AmqpBroker);
  assert.equal(a.safeUrl, 'pyamqp://guest:**@localhost//;amqp://guest:**@other//');
  void a.close();
  assert.throws(() => createBroker('sqs://u:pw@x'), (e: unknown) => e instanceof ConfigurationError && /unsupported broker URL/.test(e.message) && !e.message.includes('pw@'));
  assert.throws(() => createBroker('redis://h/0', { queue_order_strategy: 'fifo' }), /queue_order_strategy must be "round_robin", "sorted" or "priority"/);
  assert.throws(() => createBroker('redis://h/0', { priority_steps: [3, 0] }), /priority_steps must be a non-empty ascending list/);
});

test('connect() to an unreachable Redis fails with the safe URL', async () => {
  const broker = new RedisBroker('redis://u:topsecret@127.0.0.1:1/0', { socket_connect_timeout: 0.5 }, { onError: () => {} });
  await assert.rejects(broker.connect(), (e: unknown) => {
    assert.match((e as Error).message, /cannot connect to the Redis broker redis:\/\/u:\*\*@127\.0\.0\.1:1\/0/);
    assert.ok(!(e as Error).message.includes('topsecret'));
    return true;
  });
  await broker.close();
});

test('close() of a broker whose Redis is unreachable returns instead of waiting for QUIT forever', async () => {
  const broker = new RedisBroker('redis://u:topsecret@127.0.0.1:1/0', { socket_connect_timeout: 0.2 }, { onError: () => {} });
  broker.connect().catch(() => {});
  await sleep(1000); // ioredis is now reconnecting in a loop
  const hung = sleep(10_000).then(() => 'hung');
  assert.equal(await Promise.race([broker.close().then(() => 'closed'), hung]), 'closed');
});

test('a killed connection reconnects: the consumer keeps consuming and held deliveries can still be acked', async (t) => {
  const prefix = newPrefix();
  const q = uniqueName('rb.reconnect');
  const name = uniqueName('celeriac-test').replaceAll('.', '-');
  const broker = new RedisBroker(URL, { global_keyprefix: prefix, client_name: name }, { onError: () => {} });
  t.after(() => broker.close());
  await broker.publish(taskRaw('r1'), { exchange: '', routingKey: q });
  const got: Delivery[] = [];
  broker.consume([q], (d) => got.push(d), { prefetch: 0 });
  await sleep(300);
  assert.deepEqual(ids(got), ['r1']);
  const redis = rawClient();
  t.after(() => redis.quit());
  const list = (await redis.client('LIST')) as string;
  const victims = list.split('\n').filter((l) => l.includes(` name=${name} `)).map((l) => /id=(\d+)/.exec(l)![1]!);
  assert.ok(victims.length >= 2, list); // the shared connection and the blocking one
  for (const id of victims) await redis.client('KILL', 'ID', id);
  await broker.publish(taskRaw('r2'), { exchange: '', routingKey: q });
  await got[0]!.ack();
  for (let i = 0; i < 30 && got.length < 2; i++) await sleep(100);
  assert.deepEqual(ids(got), ['r1', 'r2']);
  await got[1]!.ack();
  assert.equal(await redis.hlen(`${prefix}unacked`), 0);
});

test('batch fetch: waiting messages are taken in order, recorded as kombu QoS.append records them, never more than prefetch unacked', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const q = uniqueName('rb.batch');
  const redis = rawClient();
  t.after(() => redis.quit());
  const env = (id: string, ex: string, rk: string, tag: unknown) =>
    `{"body": "e30=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"id": ${JSON.stringify(id)}}, ` +
    `"properties": {"delivery_info": {"exchange": ${JSON.stringify(ex)}, "routing_key": ${JSON.stringify(rk)}}, "delivery_mode": 2, ` +
    `"priority": 0, "body_encoding": "base64", "delivery_tag": ${JSON.stringify(tag)}}}`;
  // the script records the plain ones; the others (non-ASCII routing key, numeric tag) take the BRPOP path
  const sent = [
    env('m1', '', q, 't1'), env('m2', 'a"b\\c/d', q, 't2'), env('m3', '', `${q}\u00e9`, 't3'), env('m4', '', q, 4),
    ...Array.from({ length: 30 }, (_, i) => env(`n${i}`, '', q, `tag-${i}`)),
  ];
  for (const e of sent) await redis.lpush(`${prefix}${q}`, e);
  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  const got: Delivery[] = [];
  let maxUnacked = 0;
  const consumer = broker.consume([q], (d) => {
    got.push(d);
    if (got.length <= 4) return; // m1..m4 stay held until checked
    void redis.hlen(`${prefix}unacked`).then((n) => (maxUnacked = Math.max(maxUnacked, n)));
    setImmediate(() => void d.ack());
  }, { prefetch: 8 });
  t.after(() => broker.close());
  const deadline = Date.now() + 8000;
  while (got.length < 8 && Date.now() < deadline) await sleep(20);
  assert.deepEqual(ids(got.slice(0, 4)), ['m1', 'm2', 'm3', 'm4']);
  // compared with what kombu's own QoS.append stores for the same envelopes: byte for byte, except
  // that kombu re-serializes the envelope with ensure_ascii while celeriac keeps it as it came, so for
  // m3 (a raw non-ASCII routing key, which no kombu producer writes) only the JSON value is the same
  const kombu = await kombuAppend(sent.slice(0, 4));
  for (const i of [0, 1, 2, 3]) {
    const stored = await redis.hgetBuffer(`${prefix}unacked`, String(['t1', 't2', 't3', 4][i]));
    assert.ok(stored, `${ids(got)[i]} recorded`);
    if (i === 2) {
      assert.deepEqual(JSON.parse(stored.toString('utf8')), JSON.parse(kombu[i]!.toString('utf8')), 'm3: the same JSON as kombu');
    } else {
      assert.deepEqual(stored, kombu[i], `${ids(got)[i]}: byte for byte as kombu's QoS.append`);
    }
  }
  for (const d of got.slice(0, 4)) await d.ack();
  while (got.length < sent.length && Date.now() < deadline) await sleep(20);
  await sleep(100);
  assert.deepEqual(ids(got), ['m1', 'm2', 'm3', 'm4', ...Array.from({ length: 30 }, (_, i) => `n${i}`)]);
  assert.ok(maxUnacked <= 8, `at most prefetch (8) unacked, saw ${maxUnacked}`);
  assert.equal(await redis.hlen(`${prefix}unacked`), 0);
  assert.equal(await redis.zcard(`${prefix}unacked_index`), 0);
  await consumer.cancel();
});

test('a BRPOP\'s message is recorded in the same script that takes what else waits: byte for byte as QoS.append, up to prefetch, in order', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const q = uniqueName('rb.brpop-more');
  const redis = rawClient();
  t.after(() => redis.quit());
  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  const got: Delivery[] = [];
  const consumer = broker.consume([q], (d) => got.push(d), { prefetch: 4 });
  t.after(() => broker.close());
  await sleep(300); // the consumer is now blocked in BRPOP on the empty queue
  const raws = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'].map((id) => taskRaw(id));
  const { encodeRedisEnvelope } = await import('../../protocol/index.ts');
  const envs = raws.map((r, i) => Buffer.from(encodeRedisEnvelope({ ...r, deliveryTag: `bt${i + 1}`, deliveryInfo: { exchange: '', routing_key: q } })));
  await redis.lpush(`${prefix}${q}`, ...envs); // one command: BRPOP wakes with b1, b2..b6 are already there
  const deadline = Date.now() + 5000;
  while (got.length < 4 && Date.now() < deadline) await sleep(20);
  await sleep(200);
  assert.deepEqual(ids(got), ['b1', 'b2', 'b3', 'b4'], 'one BRPOP + 3 more: the prefetch room');
  assert.equal(await redis.llen(`${prefix}${q}`), 2);
  const kombu = await kombuAppend(envs.slice(0, 4)); // kombu's own QoS.append of the same envelopes
  for (const i of [0, 1, 2, 3]) {
    assert.deepEqual(await redis.hgetBuffer(`${prefix}unacked`, `bt${i + 1}`), kombu[i], `b${i + 1}: byte for byte as kombu's QoS.append`);
  }
  assert.equal(await redis.zcard(`${prefix}unacked_index`), 4);
  for (const d of got) await d.ack();
  while (got.length < 6 && Date.now() < deadline) await sleep(20);
  assert.deepEqual(ids(got), ['b1', 'b2', 'b3', 'b4', 'b5', 'b6']);
  for (const d of got.slice(4)) await d.ack();
  await sleep(100);
  assert.equal(await redis.hlen(`${prefix}unacked`), 0, 'acks (sent through the script) removed every record');
  assert.equal(await redis.zcard(`${prefix}unacked_index`), 0);
  await consumer.cancel();
});
