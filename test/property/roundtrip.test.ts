/**
 * Properties: for generated values and task messages, encode -> decode gives back what went in, for
 * every serializer, every compression and both transport envelopes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dumps, loads } from '../../protocol/serialization/index.ts';
import { createTaskMessage } from '../../protocol/task.ts';
import { encodeTaskMessage, decodeTaskMessage, decodeTaskHeaders } from '../../protocol/message.ts';
import { encodeRedisEnvelope, decodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { toAmqpPublish, fromAmqpMessage } from '../../protocol/envelope/amqp.ts';
import type { RawMessage, TaskMessage } from '../../protocol/types.ts';
import { pyValue, taskOptions } from './arbitraries.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);
const SERIALIZERS = ['json', 'msgpack', 'yaml'] as const;
const COMPRESSIONS = [null, 'zlib', 'bzip2', 'xz', 'brotli', 'zstd'] as const;
const ACCEPT = ['json', 'msgpack', 'yaml'];
let roundTrips = 0;

function viaRedis(raw: RawMessage): RawMessage {
  return decodeRedisEnvelope(encodeRedisEnvelope(raw));
}
function viaAmqp(raw: RawMessage): RawMessage {
  const pub = toAmqpPublish(raw);
  return fromAmqpMessage({
    content: pub.content,
    fields: { exchange: pub.exchange, routingKey: pub.routingKey, redelivered: false, deliveryTag: 1 },
    properties: { ...pub.options, headers: pub.options.headers as Record<string, unknown> },
  });
}

function assertSameMessage(got: TaskMessage, sent: TaskMessage, compression: string | null): void {
  const { compression: header, ...headers } = got.headers;
  assert.deepEqual(headers, { ...sent.headers });
  assert.equal(header !== undefined, compression !== null);
  assert.deepEqual(got.body.args, sent.body.args);
  assert.deepEqual(got.body.kwargs, sent.body.kwargs);
  assert.deepEqual(got.body.embed, sent.body.embed);
  for (const k of ['correlation_id', 'reply_to', 'delivery_mode', 'priority', 'expiration'] as const) {
    assert.deepEqual(got.properties[k], sent.properties[k], `properties.${k}`);
  }
}

for (const serializer of SERIALIZERS) {
  test(`${serializer}: any value Python's ${serializer} can carry survives dumps -> loads`, () => {
    fc.assert(
      fc.property(pyValue(serializer), (value) => {
        const { body, contentType, contentEncoding } = dumps(value, serializer);
        assert.deepEqual(loads(body, contentType, contentEncoding, ACCEPT), value);
        roundTrips++;
      }),
      { numRuns: RUNS * 3 },
    );
  });

  test(`${serializer}: generated task messages survive every compression and both envelopes`, () => {
    fc.assert(
      fc.property(taskOptions(serializer), fc.constantFrom(...COMPRESSIONS), fc.constantFrom('redis', 'amqp'), (opts, compression, transport) => {
        const sent = createTaskMessage(opts);
        const raw = encodeTaskMessage(sent, { serializer, compression, deliveryInfo: { exchange: '', routing_key: 'q' } });
        const back = transport === 'redis' ? viaRedis(raw) : viaAmqp(raw);
        assert.equal(decodeTaskHeaders(back).id, sent.headers.id);
        assertSameMessage(decodeTaskMessage(back, { accept: ACCEPT }), sent, compression);
        roundTrips++;
      }),
      { numRuns: RUNS },
    );
  });
}

test('round trips are counted', (t) => {
  assert.ok(roundTrips >= RUNS * 4 * SERIALIZERS.length);
  t.diagnostic(`celeriac-count: round trips: ${roundTrips} generated values and messages`);
});
