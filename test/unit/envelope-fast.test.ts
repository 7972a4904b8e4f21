// The Redis envelope written from remembered segments (encodeRedisEnvelope's fast path, pyshape.ts) is
// byte for byte the envelope the general kombu-JSON path writes: compared here against an envelope built
// as kombu's prepare_message does and written with stringifyKombuJson, for streams of messages the
// producer builds with varied options (so the segments are hit, missed and relearned), and for raw
// messages the fast path must decline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { stringifyKombuJson } from '../../protocol/serialization/json.ts';
import { signature } from '../../protocol/canvas.ts';
import type { DeliveryInfo, RawMessage } from '../../protocol/types.ts';
import { PyDateTime, type PyDict, type PyValue } from '../../protocol/values.ts';
import { resolveConfig } from '../../src/config.ts';
import { buildTaskMessage, type SendTaskOptions } from '../../src/producer.ts';
import { createRouter } from '../../src/routing.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300) / 3;
const TRANSPORT = new Set(['priority', 'delivery_info', 'body_encoding', 'delivery_tag']);

/** kombu's prepare_message + _inplace_augment_message, written by the general kombu-JSON writer. */
function reference(raw: RawMessage, di: PyDict | undefined, tag: string): string {
  const properties: PyDict = {};
  for (const [k, v] of Object.entries(raw.properties)) {
    if (v !== undefined && !TRANSPORT.has(k)) Object.defineProperty(properties, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  const deliveryInfo: PyDict = { exchange: di?.exchange ?? '', routing_key: di?.routing_key ?? '' };
  for (const [k, v] of Object.entries(di ?? {})) {
    if (v !== undefined && k !== 'exchange' && k !== 'routing_key' && !(k === 'redelivered' && v !== true)) deliveryInfo[k] = v;
  }
  properties.delivery_info = deliveryInfo;
  properties.priority = raw.properties.priority ?? 0;
  properties.body_encoding = 'base64';
  properties.delivery_tag = tag;
  return stringifyKombuJson({
    body: Buffer.from(raw.body).toString('base64'),
    'content-encoding': raw.contentEncoding,
    'content-type': raw.contentType,
    headers: raw.headers ?? {},
    properties,
  });
}

const conf = resolveConfig({ task_routes: { 'r.*': { queue: 'rq', priority: 3 } } }, { env: {} });
const ctx = { settings: conf, router: createRouter(conf), origin: 'gen1@host', oid: 'the-oid' };
const now = new PyDateTime('2026-01-02T03:04:05.123456+00:00');

const arg = fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constantFrom<PyValue>('ünï', null, 1.5, 1e-7, [1, [2]], { k: 'v' }));
const options: fc.Arbitrary<SendTaskOptions> = fc.record({
  queue: fc.constantFrom('q1', 'q2'),
  ignore_result: fc.boolean(),
  priority: fc.integer({ min: 0, max: 9 }),
  countdown: fc.constantFrom(0, 5, 1.5),
  expires: fc.constantFrom(60, '2030-01-01T00:00:00+00:00'),
  eta: fc.constant(new Date('2030-01-01T00:00:00Z')),
  time_limit: fc.constantFrom(10, 2.5),
  soft_time_limit: fc.constant(5),
  shadow: fc.constantFrom('shown', 'ß'),
  headers: fc.constantFrom<PyDict>({ custom: 1 }, { 'x-ü': 'é', other: [1, null] }, { retries: 4 }),
  group_id: fc.constant('g1'),
  group_index: fc.nat(3),
  parent_id: fc.constant('p'),
  root_id: fc.constant('r'),
  reply_to: fc.constantFrom('', 'other-oid'),
  link: fc.constant(signature('cb', [1])),
  stamps: fc.constant<PyDict>({ s: 'v' }),
  compression: fc.constantFrom('zlib', 'bzip2'),
  serializer: fc.constantFrom('json', 'msgpack', 'yaml'),
  retries: fc.nat(3),
}, { requiredKeys: [] });
const send = fc.record({
  name: fc.constantFrom('t.a', 't.b', 'r.routed'),
  args: fc.array(arg, { maxLength: 3 }),
  kwargs: fc.dictionary(fc.constantFrom('a', 'b', 'ü'), arg, { maxKeys: 2 }),
  options,
  plain: fc.boolean(),
});
const delivery = fc.constantFrom<PyDict | undefined>(undefined, { exchange: '', routing_key: 'q1' }, { exchange: 'ex', routing_key: 'rk' },
  { exchange: '', routing_key: 'q1', redelivered: false }, { exchange: '', routing_key: 'q1', redelivered: true }, { exchange: 'x', routing_key: 'y', extra: 1 });

test('the envelope of every message the producer builds is the one the general path writes', () => {
  fc.assert(fc.property(fc.array(fc.tuple(send, delivery, fc.uuid()), { minLength: 1, maxLength: 25 }), (sends) => {
    for (const [s, di, tag] of sends) {
      // half the sends are the usual ones: a few options only, so consecutive messages share a shape
      const opts = s.plain ? { queue: s.options.queue ?? 'q1', ignore_result: s.options.ignore_result ?? true } : s.options;
      const { raw } = buildTaskMessage(ctx, s.name, s.args, s.kwargs, opts, { now });
      const options = di === undefined ? { deliveryTag: tag } : { deliveryTag: tag, deliveryInfo: di as unknown as DeliveryInfo };
      assert.equal(encodeRedisEnvelope(raw, options), reference(raw, di ?? (raw.deliveryInfo as unknown as PyDict), tag));
    }
  }), { numRuns: RUNS });
});

test('raw messages the remembered segments cannot write take the general path, with the same text', () => {
  const { raw } = buildTaskMessage(ctx, 't.a', [], {}, { queue: 'q1' });
  const tag = 'tag';
  const variants: RawMessage[] = [
    raw,
    { ...raw, headers: { ...raw.headers, when: new PyDateTime('2026-01-02T03:04:05.000001') } },
    { ...raw, headers: { ...raw.headers, big: 10n } as never },
    { ...raw, headers: { ...raw.headers, gone: undefined } as never },
    { ...raw, headers: null as never },
    { ...raw, properties: { ...raw.properties, reply_to: undefined } as never },
    { ...raw, properties: { ...raw.properties, delivery_tag: 'old', body_encoding: 'utf-8', delivery_info: {} } },
    { ...raw, properties: { ...raw.properties, priority: null } },
    { ...raw, properties: {} },
    { ...raw, properties: Object.defineProperty({ ...raw.properties }, '__proto__', { value: 1, enumerable: true }) },
    { ...raw, headers: Object.assign(Object.create(null), raw.headers) },
    raw,
  ];
  for (const v of variants) {
    for (const di of [undefined, { exchange: '', routing_key: 'q1' }, { exchange: 'e', routing_key: 'k', redelivered: true }] as (PyDict | undefined)[]) {
      const options = di === undefined ? { deliveryTag: tag } : { deliveryTag: tag, deliveryInfo: di as DeliveryInfo };
      assert.equal(encodeRedisEnvelope(v, options), reference(v, di ?? (v.deliveryInfo as unknown as PyDict), tag));
    }
  }
});

test('a Redis envelope is ASCII, one byte per character', () => {
  const { raw } = buildTaskMessage(ctx, 't.ü', ['é', '\u{1F600}'], { 'ключ': 'значение' }, { headers: { 'x-ü': 'ß' } });
  const text = encodeRedisEnvelope(raw, { deliveryTag: 'tag' });
  assert.equal(Buffer.byteLength(text), text.length);
  assert.match(text, /^[\x20-\x7e]*$/);
});
