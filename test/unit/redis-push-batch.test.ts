// The batched LPUSH written as RESP bytes (src/brokers/redis/push-batch.ts) is byte for byte what ioredis
// writes for `lpush(key, ...values)`, however the buffer grows or is reused; and the producer's uuid4 is
// a random version 4 UUID as crypto.randomUUID writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'ioredis';
import { PushBatch } from '../../src/brokers/redis/push-batch.ts';
import { uuid4 } from '../../src/uuid4.ts';

function ioredisBytes(key: string, values: string[]): Buffer {
  const w = new Command('lpush', [key, ...values]).toWritable({});
  return typeof w === 'string' ? Buffer.from(w, 'utf8') : w;
}

function batchBytes(batch: PushBatch): Buffer {
  return batch.command().toWritable({}) as Buffer;
}

test('a PushBatch writes the bytes ioredis writes for the same LPUSH', async () => {
  const cases: [string, string[]][] = [
    ['q', ['a']],
    ['celery', ['{"body": "x"}', '', 'y'.repeat(9), 'z'.repeat(10)]],
    ['ключ\x06\x163', ['{"a": "\\u00e9"}']],
    ['big', Array.from({ length: 300 }, (_, i) => 'v'.repeat(i * 37))], // grows past its first buffer
    ['q', Array.from({ length: 1000 }, (_, i) => `{"i": ${i}}`)],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [key, values] of cases) {
      const batch = new PushBatch(key);
      for (const v of values) batch.add(v);
      assert.equal(batch.count, values.length);
      const bytes = Buffer.from(batchBytes(batch)); // a copy: the buffer may serve the next batch
      assert.deepEqual(bytes, ioredisBytes(key, values));
      // answered: the buffer is free for the next batch, whose bytes must not carry any of these
      batch.settle(Promise.resolve(values.length));
      await batch.done;
    }
  }
});

test('every publish of a batch shares one promise, settled by the LPUSH reply', async () => {
  const ok = new PushBatch('k');
  ok.add('a');
  ok.command();
  ok.settle(Promise.resolve(1));
  assert.equal(await ok.done, undefined);
  const failed = new PushBatch('k');
  failed.add('a');
  failed.command();
  failed.settle(Promise.reject(new Error('connection lost')));
  await assert.rejects(failed.done, /connection lost/);
});

test('uuid4 gives random version 4 UUIDs', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const id = uuid4();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 2000);
});
