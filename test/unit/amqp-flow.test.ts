// AmqpBroker.publish and socket back-pressure: when amqplib's channel.publish() returns false (its write
// buffer is full), publish() resolves only once the channel emitted 'drain' (and the confirm came).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { AmqpBroker } from '../../src/brokers/amqp/broker.ts';
import type { RawMessage } from '../../protocol/types.ts';

class FakeChannel extends EventEmitter {
  published = 0;
  full = true;
  publish(_ex: string, _rk: string, _content: Buffer, _opts: unknown, cb: (err: Error | null) => void): boolean {
    this.published++;
    setImmediate(() => cb(null)); // confirmed at once: only the drain holds publish() back
    return !this.full;
  }
}

const raw: RawMessage = {
  body: new Uint8Array(Buffer.from('[[], {}, {}]')),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { lang: 'py', task: 't', id: 'x' },
  properties: { correlation_id: 'x', delivery_mode: 2, priority: 0, body_encoding: 'base64', delivery_info: { exchange: '', routing_key: 'q' }, delivery_tag: 'x' },
} as unknown as RawMessage;

function brokerWith(ch: FakeChannel): AmqpBroker {
  const b = new AmqpBroker('amqp://guest:guest@127.0.0.1:1//');
  const internals = b as unknown as { conn: unknown; pubChannel: Promise<unknown> };
  internals.conn = new EventEmitter();
  internals.pubChannel = Promise.resolve(ch);
  return b;
}

test("publish() returning false (write buffer full) waits for 'drain' before resolving", async () => {
  const ch = new FakeChannel();
  const b = brokerWith(ch);
  let done = false;
  const p = b.publish(raw, { exchange: '', routingKey: 'q' }).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ch.published, 1);
  assert.equal(done, false, 'still waiting for drain although confirmed');
  ch.full = false;
  ch.emit('drain');
  await p;
  assert.equal(done, true);
  assert.equal(ch.listenerCount('drain'), 0, 'the drain listener is removed');
  assert.equal(ch.listenerCount('close'), 0);
  // not full: resolves on the confirm alone
  await b.publish(raw, { exchange: '', routingKey: 'q' });
  assert.equal(ch.published, 2);
});

test("a channel closed while waiting for 'drain' does not leave publish() hanging", async () => {
  const ch = new FakeChannel();
  const b = brokerWith(ch);
  const p = b.publish(raw, { exchange: '', routingKey: 'q' });
  await new Promise((r) => setTimeout(r, 20));
  ch.emit('close');
  await p; // confirmed before the close: resolves
  assert.equal(ch.listenerCount('drain'), 0);
});
