// The Redis transport against real Redis and real Python Celery/kombu: same keys, same order, same
// unacked hash, restores both ways.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { RedisBroker } from '../../src/brokers/redis/broker.ts';
import { UnroutableError } from '../../src/brokers/errors.ts';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { URL, collect, dropPrefixes, ids, newPrefix, peer, rawClient, sleep, taskRaw, type PeerMessage } from '../helpers/redis-broker.ts';

after(dropPrefixes);

const SEP = '\x06\x16';

test('python send_task with priorities: kombu keys, and TypeScript consumes them in kombu order (lower number first)', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const q = uniqueName('rb.pri');
  const pris = [9, 0, 5, 3, 7, 1, 6, 2];
  await peer(pris.map((p, i) => ({ op: 'send', name: 't.add', args: [i], options: { queue: q, priority: p, task_id: `m${i}-p${p}` } })), { global_keyprefix: prefix });
  const redis = rawClient();
  t.after(() => redis.quit());
  assert.deepEqual(await redis.llen(`${prefix}${q}`), 3); // 0, 1, 2
  assert.deepEqual(await redis.llen(`${prefix}${q}${SEP}3`), 2); // 5, 3
  assert.deepEqual(await redis.llen(`${prefix}${q}${SEP}6`), 2); // 7, 6
  assert.deepEqual(await redis.llen(`${prefix}${q}${SEP}9`), 1);

  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  t.after(() => broker.close());
  assert.equal(await broker.queueLength(q), 8);
  const { deliveries } = await collect(broker, [q], 8);
  assert.deepEqual(ids(deliveries), ['m1-p0', 'm5-p1', 'm7-p2', 'm2-p5', 'm3-p3', 'm4-p7', 'm6-p6', 'm0-p9']);
  const d = deliveries[0]!;
  assert.equal(d.queue, q);
  assert.deepEqual(d.raw.deliveryInfo, { exchange: '', routing_key: q, redelivered: false });
  assert.equal(d.raw.properties.priority, 0);
  for (const x of deliveries) await x.ack();
  assert.equal(await redis.hlen(`${prefix}unacked`), 0);
  assert.equal(await redis.zcard(`${prefix}unacked_index`), 0);
});

test('python routes through a topic exchange: TypeScript reads kombu bindings and consumes the message', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const q = uniqueName('rb.topicq');
  const ex = uniqueName('rb.topic');
  await peer([{ op: 'send', name: 't.add', options: { queue: q, routing_key: 'rb.topic.foo', task_id: 'topic-1' }, queues: [{ name: q, exchange: ex, type: 'topic', routing_key: 'rb.topic.#' }] }], { global_keyprefix: prefix });
  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  t.after(() => broker.close());
  assert.deepEqual(await broker.bindings(ex), [{ routingKey: 'rb.topic.#', pattern: '^rb\\.topic\\..*?$', queue: q }]);
  // TypeScript routes to the same queue from the bindings python wrote (topic type inferred)
  assert.deepEqual(await broker.route(ex, 'rb.topic.bar.baz'), [q]);
  const { deliveries } = await collect(broker, [q], 1);
  assert.equal(deliveries[0]!.raw.headers.id, 'topic-1');
  assert.deepEqual(deliveries[0]!.raw.deliveryInfo, { exchange: ex, routing_key: 'rb.topic.foo', redelivered: false });
  await deliveries[0]!.ack();
});

test('TypeScript publishes; python kombu basic_get takes them from the same keys (priorities, bindings, prefix)', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const topts = { global_keyprefix: prefix };
  const q = uniqueName('rb.tsq');
  const tq = uniqueName('rb.tstopic');
  const tex = uniqueName('rb.tsex');
  const dq = uniqueName('rb.tsdirect');
  const dex = uniqueName('rb.tsdex');
  const broker = new RedisBroker(URL, topts);
  t.after(() => broker.close());
  for (const [i, p] of [9, 0, 5, 3, 1].entries()) await broker.publish(taskRaw(`ts${i}-p${p}`, p), { exchange: '', routingKey: q });
  await broker.publish(taskRaw('ts-topic'), {
    exchange: tex, routingKey: 'a.b.c', exchangeType: 'topic',
    declare: [{ name: tq, exchange: { name: tex, type: 'topic' }, routingKey: 'a.*.#' }],
  });
  // a queue python declared: TypeScript routes with python's binding
  await peer([{ op: 'declare', queue: dq, exchange: dex, type: 'direct', routing_key: 'rk.d' }], topts);
  await broker.publish(taskRaw('ts-direct'), { exchange: dex, routingKey: 'rk.d' });
  await assert.rejects(broker.publish(taskRaw('nowhere'), { exchange: dex, routingKey: 'rk.none' }), (err: unknown) => {
    assert.ok(err instanceof UnroutableError);
    assert.match(err.message, new RegExp(`exchange "${dex}" with routing key "rk.none" matches no queue`));
    return true;
  });

  const redis = rawClient();
  t.after(() => redis.quit());
  assert.deepEqual(await redis.smembers(`${prefix}_kombu.binding.${tex}`), [`a.*.#${SEP}^a\\..*?[^\\.]\\..*?$${SEP}${tq}`]);

  const [got, gotTopic, gotDirect] = (await peer([
    { op: 'get', queue: q, count: 10 }, { op: 'get', queue: tq, count: 10 }, { op: 'get', queue: dq, count: 10 },
  ], topts)) as PeerMessage[][];
  assert.deepEqual(got!.map((m) => m.headers.id), ['ts1-p0', 'ts4-p1', 'ts2-p5', 'ts3-p3', 'ts0-p9']);
  assert.deepEqual(got![0]!.body, [[1, 2], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
  assert.deepEqual(got![0]!.delivery_info, { exchange: '', routing_key: q });
  assert.deepEqual(gotTopic!.map((m) => [m.headers.id, m.delivery_info]), [['ts-topic', { exchange: tex, routing_key: 'a.b.c' }]]);
  assert.deepEqual(gotDirect!.map((m) => m.headers.id), ['ts-direct']);
});

test('the unacked hash TypeScript writes is byte-identical to what kombu basic_get(no_ack=False) writes', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const topts = { global_keyprefix: prefix };
  const q = uniqueName('rb.unacked');
  await peer([{ op: 'send', name: 't.add', options: { queue: q, priority: 4, task_id: 'hash-1' } }], topts);
  const redis = rawClient();
  t.after(() => redis.quit());
  const [element] = await redis.lrangeBuffer(`${prefix}${q}${SEP}3`, 0, -1);
  assert.ok(element);

  const broker = new RedisBroker(URL, topts);
  t.after(() => broker.close());
  const before = Date.now() / 1000;
  const { deliveries, consumer } = await collect(broker, [q], 1);
  const d = deliveries[0]! as { deliveryTag?: string } & (typeof deliveries)[0];
  const tag = d.raw.deliveryTag!;
  const tsValue = await redis.hget(`${prefix}unacked`, tag);
  const tsScore = Number(await redis.zscore(`${prefix}unacked_index`, tag));
  assert.ok(tsScore >= before - 1 && tsScore <= Date.now() / 1000 + 1);
  await d.ack();
  await consumer.cancel();
  assert.equal(await redis.hget(`${prefix}unacked`, tag), null);

  await redis.lpush(`${prefix}${q}${SEP}3`, element); // the very same element, now taken by kombu
  const [py] = (await peer([{ op: 'get_and_die', queue: q }], topts)) as Array<{ delivery_tag: string; unacked: string; index_score: number }>;
  assert.equal(py!.delivery_tag, tag);
  assert.equal(tsValue, py!.unacked);
  assert.ok(tsValue!.startsWith('[{"body": '));
  assert.ok(tsValue!.endsWith(`, "", "${q}"]`));
});

test('a TypeScript consumer dies holding a message; python kombu restore_visible gives it back, flagged redelivered', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const q = uniqueName('rb.tsdies');
  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  t.after(() => broker.close());
  await broker.publish(taskRaw('dies-1', 6), { exchange: '', routingKey: q });
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/redis-consume-and-die.ts', URL, prefix, q], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  const { tag } = JSON.parse(out) as { tag: string };
  assert.equal(await broker.queueLength(q), 0);
  await sleep(1100);
  const [left, msgs] = await peer([{ op: 'restore_visible' }, { op: 'get', queue: q, count: 5 }], { global_keyprefix: prefix, visibility_timeout: 1 });
  assert.equal(left, 0);
  const got = msgs as PeerMessage[];
  assert.equal(got.length, 1);
  assert.equal(got[0]!.headers.id, 'dies-1');
  assert.equal(got[0]!.delivery_tag, tag);
  assert.equal(got[0]!.headers.redelivered, true);
  assert.equal(got[0]!.delivery_info.redelivered, true);
  assert.equal(got[0]!.properties.priority, 6);
});

test('a python kombu consumer dies holding a message; TypeScript restores it (visibility timeout) exactly as kombu would, and consumes it redelivered', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const topts = { global_keyprefix: prefix };
  const q = uniqueName('rb.pydies');
  const [, , held] = (await peer([
    { op: 'send', name: 't.add', options: { queue: q, priority: 3, task_id: 'pydies-1' } },
    { op: 'send', name: 't.add', options: { queue: q, task_id: 'pydies-2' } },
    { op: 'get_and_die', queue: q },
  ], topts)) as [string, string, { delivery_tag: string; unacked: string; message: PeerMessage }];
  assert.equal(held.message.headers.id, 'pydies-2'); // priority 0 bucket first
  const [expected] = (await peer([{ op: 'kombu_restored', unacked: held.unacked }], topts)) as string[];

  const broker = new RedisBroker(URL, { ...topts, visibility_timeout: 1 });
  t.after(() => broker.close());
  assert.equal(await broker.queueLength(q), 1);
  assert.equal(await broker.restoreVisible(), 0); // not yet older than 1 s
  await sleep(1100);
  assert.equal(await broker.restoreVisible(), 1);
  const redis = rawClient();
  t.after(() => redis.quit());
  assert.deepEqual(await redis.lrange(`${prefix}${q}`, 0, -1), [expected]); // byte-identical to kombu's restore
  assert.equal(await redis.hlen(`${prefix}unacked`), 0);
  assert.equal(await redis.zcard(`${prefix}unacked_index`), 0);

  const { deliveries } = await collect(broker, [q], 2);
  assert.deepEqual(ids(deliveries), ['pydies-2', 'pydies-1']);
  const d = deliveries[0]!;
  assert.equal(d.raw.deliveryTag, held.delivery_tag);
  assert.equal(d.raw.deliveryInfo.redelivered, true);
  assert.equal(d.raw.headers.redelivered, true);
  assert.equal(deliveries[1]!.raw.deliveryInfo.redelivered, false);
  for (const x of deliveries) await x.ack();
});

test('a consumer restores visible messages when it starts, before its first BRPOP (kombu on_poll_init)', async (t) => {
  if (!requirePython(t)) return;
  const prefix = newPrefix();
  const q = uniqueName('rb.startrestore');
  const ts = new RedisBroker(URL, { global_keyprefix: prefix });
  t.after(() => ts.close());
  await ts.publish(taskRaw('sr-1', 3), { exchange: '', routingKey: q });
  await ts.publish(taskRaw('sr-2'), { exchange: '', routingKey: q });
  await peer([{ op: 'get_and_die', queue: q }], { global_keyprefix: prefix });
  await sleep(1100);
  const broker = new RedisBroker(URL, { global_keyprefix: prefix, visibility_timeout: 1 });
  t.after(() => broker.close());
  const { deliveries } = await collect(broker, [q], 2);
  assert.deepEqual(ids(deliveries), ['sr-2', 'sr-1']);
  assert.deepEqual(deliveries.map((d) => d.raw.deliveryInfo.redelivered), [true, false]);
  for (const x of deliveries) await x.ack();
});
