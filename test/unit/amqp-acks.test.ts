// Coalesced consumer acks (src/brokers/amqp/acks.ts): acks of one tick become one basic.ack(multiple=true)
// below the lowest unsettled delivery and single acks above it; rejects go out at once, after this tick's
// acks; acks are flushed before basic.cancel / channel.close; an ack whose channel closed first fails.
// First the exact frames against a scripted channel, then the outcome against the real RabbitMQ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import amqplib from 'amqplib';
import { AmqpBroker } from '../../src/brokers/amqp/broker.ts';
import { AmqpConsumer } from '../../src/brokers/amqp/consumer.ts';
import { BrokerConnectionError } from '../../src/brokers/errors.ts';
import type { Delivery } from '../../src/broker.ts';
import { AMQP_URL, amqplibUrl, uniqueName } from '../helpers/peers.ts';

type Frame = [string, ...unknown[]];

/** The amqplib Channel calls the consumer makes, recorded in order. */
class ScriptedChannel extends EventEmitter {
  frames: Frame[] = [];
  closed = false;
  private readonly consumers = new Map<string, (m: unknown) => void>();
  async prefetch(): Promise<void> {}
  async consume(q: string, cb: (m: unknown) => void): Promise<{ consumerTag: string }> {
    this.consumers.set(q, cb);
    return { consumerTag: `ctag-${q}` };
  }
  async cancel(tag: string): Promise<void> {
    this.frames.push(['cancel', tag]);
  }
  async close(): Promise<void> {
    this.frames.push(['close']);
    this.closed = true;
    setImmediate(() => this.emit('close'));
  }
  ack(m: { fields: { deliveryTag: number } }, multiple?: boolean): void {
    if (this.closed) throw new Error('Channel closed');
    this.frames.push(['ack', m.fields.deliveryTag, multiple === true]);
  }
  reject(m: { fields: { deliveryTag: number } }, requeue: boolean): void {
    if (this.closed) throw new Error('Channel closed');
    this.frames.push(['reject', m.fields.deliveryTag, requeue]);
  }
  deliver(tag: number, q = 'q'): void {
    this.consumers.get(q)!({
      content: Buffer.from('[[], {}, {}]'),
      fields: { deliveryTag: tag, exchange: '', routingKey: q, redelivered: false, consumerTag: `ctag-${q}` },
      properties: { contentType: 'application/json', contentEncoding: 'utf-8', headers: { id: `id-${tag}` } },
    });
  }
}

/** A consumer on a scripted channel with `n` deliveries (tags 1..n) handed over. */
async function scripted(n: number) {
  const channels: ScriptedChannel[] = [];
  const reported: Error[] = [];
  const host = {
    safeUrl: 'amqp://guest:**@h//',
    qosGlobal: true,
    report: (e: Error) => reported.push(e),
    recoverConnection: async () => ({ createChannel: async () => (channels.push(new ScriptedChannel()), channels.at(-1)!) }) as never,
    consumerDone: () => undefined,
    quarantine: { bounds: { maxMessages: 0, maxAge: null } } as never,
    deadLetterExchange: () => null,
  };
  const got: Delivery[] = [];
  const c = new AmqpConsumer(host, ['q'], (d) => got.push(d), { prefetch: 0 });
  await c.resume();
  const ch = channels[0]!;
  for (let tag = 1; tag <= n; tag++) ch.deliver(tag);
  const d = (tag: number) => got[tag - 1]!;
  return { c, ch, d, channels, reported };
}

const tick = () => new Promise((r) => setImmediate(r));

test('acks of one tick go out as one basic.ack(multiple=true) up to the highest tag', async () => {
  const { ch, d } = await scripted(4);
  const acks = [d(3).ack(), d(1).ack(), d(4).ack(), d(2).ack()];
  assert.deepEqual(ch.frames, [], 'nothing written before the flush');
  await Promise.all(acks);
  assert.deepEqual(ch.frames, [['ack', 4, true]]);
});

test('a lone ack is sent with multiple=false', async () => {
  const { ch, d } = await scripted(2);
  await d(1).ack();
  assert.deepEqual(ch.frames, [['ack', 1, false]]);
});

test('a held delivery is never covered: acks below it share one multiple ack, acks above it go one by one', async () => {
  const { ch, d } = await scripted(6);
  // 3 is held (an ETA task, acks_late still running)
  await Promise.all([d(1).ack(), d(2).ack(), d(4).ack(), d(5).ack()]);
  assert.deepEqual(ch.frames, [['ack', 2, true], ['ack', 4, false], ['ack', 5, false]]);
  // the next tick: 3 settled at last, 6 with it; one multiple ack again (4 and 5 are no longer outstanding)
  ch.frames = [];
  await Promise.all([d(6).ack(), d(3).ack()]);
  assert.deepEqual(ch.frames, [['ack', 6, true]]);
});

test('with the lowest delivery held, every ack is individual', async () => {
  const { ch, d } = await scripted(4);
  await Promise.all([d(4).ack(), d(2).ack(), d(3).ack()]);
  assert.deepEqual(ch.frames, [['ack', 4, false], ['ack', 2, false], ['ack', 3, false]]);
});

test("a reject is written at once, after this tick's pending acks (channel order kept)", async () => {
  const { ch, d } = await scripted(4);
  const a = d(1).ack();
  const r = d(2).reject(true);
  assert.deepEqual(ch.frames, [['ack', 1, false], ['reject', 2, true]], 'the reject flushed the ack first, synchronously');
  await Promise.all([a, r]);
  const b = [d(4).ack(), d(3).ack()];
  await Promise.all(b);
  assert.deepEqual(ch.frames.slice(2), [['ack', 4, true]]);
});

test('an ack whose channel closed before the flush fails with BrokerConnectionError (RabbitMQ requeued it)', async () => {
  const { ch, d, channels } = await scripted(3);
  const p = d(2).ack();
  ch.emit('close'); // connection lost before the flush
  await assert.rejects(p, (e: Error) => e instanceof BrokerConnectionError && /cannot ack message id-2 from "q".*channel was closed.*requeued/.test(e.message));
  assert.deepEqual(ch.frames, []);
  // after the close: rejected at once, like before
  await assert.rejects(d(3).ack(), BrokerConnectionError);
  await assert.rejects(d(1).reject(false), /cannot reject message id-1/);
  await tick();
  assert.ok(channels.length >= 2, 'the consumer opened a new channel');
});

test('an ack amqplib refuses at the flush (channel closing) fails with BrokerConnectionError', async () => {
  const { ch, d } = await scripted(2);
  const p = Promise.all([d(1).ack(), d(2).ack()]);
  ch.closed = true; // amqplib throws IllegalOperationError once the channel is closing
  await assert.rejects(p, (e: Error) => e instanceof BrokerConnectionError && /ack on amqp:\/\/guest:\*\*@h\/\/ failed: Channel closed/.test(e.message));
});

test('cancel() and close() write pending acks before basic.cancel and channel.close', async () => {
  const { c, ch, d } = await scripted(4);
  let acked = 0;
  void d(1).ack().then(() => acked++);
  void d(2).ack().then(() => acked++);
  await c.cancel();
  assert.deepEqual(ch.frames, [['ack', 2, true], ['cancel', 'ctag-q']]);
  assert.equal(acked, 2);
  // held deliveries can still be acked after cancel(); close() flushes them first
  const p = d(4).ack();
  await c.close();
  await p;
  assert.deepEqual(ch.frames.slice(2), [['ack', 4, false], ['close']]);
  await assert.rejects(d(3).ack(), BrokerConnectionError, 'closed: 3 goes back to RabbitMQ');
});

// ---- against RabbitMQ ------------------------------------------------------------------------------

async function withRabbit(n: number, fn: (ctx: { broker: AmqpBroker; got: Delivery[]; q: string; ready: () => Promise<number> }) => Promise<void>) {
  const q = uniqueName('test.acks');
  const conn = await amqplib.connect(amqplibUrl());
  const ch = await conn.createChannel();
  await ch.assertQueue(q, { durable: false });
  for (let i = 0; i < n; i++) ch.sendToQueue(q, Buffer.from(`[[${i}], {}, {}]`), { headers: { id: `m${i}` }, contentType: 'application/json', contentEncoding: 'utf-8' });
  const errors: Error[] = [];
  const broker = new AmqpBroker(AMQP_URL, {}, { onError: (e) => errors.push(e) });
  try {
    await broker.connect();
    const got: Delivery[] = [];
    broker.consume([q], (d) => got.push(d), { prefetch: n + 5 });
    for (let i = 0; got.length < n && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, n);
    await fn({ broker, got, q, ready: async () => (await ch.checkQueue(q)).messageCount });
    assert.deepEqual(errors.map((e) => e.message), [], 'RabbitMQ accepted every ack (no unknown delivery tag)');
  } finally {
    await broker.close();
    await ch.deleteQueue(q).catch(() => undefined);
    await conn.close();
  }
}

test('RabbitMQ: a mix of coalesced and single acks around a held message acks exactly the others', async () => {
  await withRabbit(12, async ({ broker, got, ready }) => {
    const held = got[3]!;
    await Promise.all(got.filter((d) => d !== held).map((d) => d.ack()));
    assert.equal(held.raw.headers.id, 'm3');
    await broker.close(); // the held message goes back
    assert.equal(await ready(), 1, 'only the held message is back in the queue');
  });
});

test('RabbitMQ: acks not yet flushed when close() is called are written, so finished tasks are not redelivered', async () => {
  await withRabbit(8, async ({ broker, got, ready }) => {
    const acks = got.slice(0, 5).map((d) => d.ack()); // 5..7 still running
    await broker.close();
    await Promise.all(acks);
    assert.equal(await ready(), 3);
  });
});
