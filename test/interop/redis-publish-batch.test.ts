// Publishing through the batched LPUSH against real Redis: many publishes in flight at once (the first ones
// finding their queue undeclared) declare it once, and every list ends up holding exactly the envelopes
// encodeRedisEnvelope writes, in publish order, whatever the priorities split into separate batches.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRedisEnvelope, encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { RedisBroker } from '../../src/brokers/redis/broker.ts';
import type { PublishTarget } from '../../src/broker.ts';
import { uniqueName } from '../helpers/peers.ts';
import { URL, dropPrefixes, newPrefix, rawClient, taskRaw } from '../helpers/redis-broker.ts';

after(dropPrefixes);

const SEP = '\x06\x16';

test('concurrent publishes declare their queue once and land in publish order, byte for byte', async (t) => {
  const prefix = newPrefix();
  const q = uniqueName('rb.batch');
  const broker = new RedisBroker(URL, { global_keyprefix: prefix });
  t.after(() => broker.close());
  await broker.connect();
  let sadds = 0;
  const sadd = broker.client.sadd.bind(broker.client);
  broker.client.sadd = ((...args: Parameters<typeof sadd>) => (sadds++, sadd(...args))) as typeof sadd;

  const target: PublishTarget = { exchange: '', routingKey: q, declare: [{ name: q, exchange: { name: q, type: 'direct' }, routingKey: q }] };
  // runs of priority 0 and 5 (two lists, so several batches), and one big message among small ones
  const raws = Array.from({ length: 1500 }, (_, i) => {
    const raw = taskRaw(`m${i}`, Math.floor(i / 100) % 2 ? 5 : 0);
    if (i === 700) raw.headers.big = 'x'.repeat(200_000);
    return raw;
  });
  await Promise.all(raws.map((raw) => broker.publish(raw, target)));
  assert.equal(sadds, 1);

  const redis = rawClient();
  t.after(() => redis.quit());
  for (const [key, pri] of [[`${prefix}${q}`, 0], [`${prefix}${q}${SEP}3`, 5]] as const) {
    const stored = (await redis.lrange(key, 0, -1)).reverse(); // LPUSH: the first published is last
    const expected = raws.filter((r) => r.properties.priority === pri);
    assert.deepEqual(stored.map((s) => decodeRedisEnvelope(s).headers.id), expected.map((r) => r.headers.id));
    stored.forEach((s, i) => {
      const tag = decodeRedisEnvelope(s).deliveryTag!;
      assert.equal(s, encodeRedisEnvelope(expected[i]!, { deliveryTag: tag, deliveryInfo: { exchange: '', routing_key: q } }));
    });
  }
});
