// Redis envelope (protocol/envelope/redis.ts) and AMQP mapping (protocol/envelope/amqp.ts).
// Envelopes below are what kombu 5.6.2 LPUSHed for `app.send_task(...)` (captured with the venv's Python);
// the AMQP property blocks are what py-amqp 5.4.0 writes for the same messages. The AMQP tests go through
// amqplib's own codec (real AMQP table bytes).
import { test } from 'node:test';
import { throwsProtocolError } from '../helpers/assert.ts';

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { decodeRedisEnvelope, encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { amqpDecimalToPy, fromAmqpHeaders, fromAmqpMessage, toAmqpHeaders, toAmqpPublish } from '../../protocol/envelope/amqp.ts';
import { decodeTaskMessage, encodeTaskMessage } from '../../protocol/message.ts';
import { createTaskMessage } from '../../protocol/task.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { Decimal, PyDate, PyDateTime, UUID, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { RawMessage } from '../../protocol/types.ts';

const envelopeError = (fn: () => unknown, match?: RegExp) => throwsProtocolError(fn, 'envelope', match);

const require = createRequire(import.meta.url);
// amqplib's package "exports" hide lib/; load its codec by path (amqplib 2.x: lib/codec.js, lib/defs.js)
const amqplibDir = dirname(require.resolve('amqplib'));
const codec = require(join(amqplibDir, 'lib/codec.js')) as {
  encodeTable(buf: Buffer, val: unknown, offset: number): number;
  decodeFields(buf: Buffer): Record<string, unknown>;
};
const defs = require(join(amqplibDir, 'lib/defs.js')) as {
  decode(id: number, buf: Buffer): Record<string, unknown>;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  BasicProperties: number;
};

const PLAIN_ENVELOPE = "{\"body\": \"W1syLCAzXSwgeyJ6IjogNH0sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", \"headers\": {\"lang\": \"py\", \"task\": \"proj.add\", \"id\": \"11111111-2222-3333-4444-555555555555\", \"shadow\": null, \"eta\": null, \"expires\": null, \"group\": null, \"group_index\": null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \"11111111-2222-3333-4444-555555555555\", \"parent_id\": null, \"argsrepr\": \"(2, 3)\", \"kwargsrepr\": \"{'z': 4}\", \"origin\": \"gen1@host\", \"ignore_result\": false, \"replaced_task_nesting\": 0, \"stamped_headers\": null, \"stamps\": {}}, \"properties\": {\"correlation_id\": \"11111111-2222-3333-4444-555555555555\", \"reply_to\": \"rrrr\", \"origin\": \"gen1@host\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"capq\"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"2ecf913b-393a-4670-9a80-129be4681283\"}}";
const CUSTOM_ENVELOPE = "{\"body\": \"W1syLCAzXSwgeyJ6IjogNH0sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", \"headers\": {\"lang\": \"py\", \"task\": \"proj.add\", \"id\": \"22222222-2222-3333-4444-555555555555\", \"shadow\": null, \"eta\": null, \"expires\": \"2000-01-01T00:00:00+00:00\", \"group\": null, \"group_index\": null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \"22222222-2222-3333-4444-555555555555\", \"parent_id\": null, \"argsrepr\": \"(2, 3)\", \"kwargsrepr\": \"{'z': 4}\", \"origin\": \"gen1@host\", \"ignore_result\": false, \"replaced_task_nesting\": 0, \"stamped_headers\": null, \"stamps\": {}, \"x-int\": -1, \"x-int32\": 2147483647, \"x-float\": 1.5, \"x-none\": null, \"x-nested\": {\"a\": [1, 2, {\"b\": null}], \"c\": \"d\"}, \"x-bool\": true, \"x-str\": \"h\\u00e9llo\", \"x-dec\": {\"__type__\": \"decimal\", \"__value__\": \"3.14\"}, \"x-list\": [[], {}], \"x-neg-dec\": {\"__type__\": \"decimal\", \"__value__\": \"-0.5\"}}, \"properties\": {\"correlation_id\": \"22222222-2222-3333-4444-555555555555\", \"reply_to\": \"rrrr\", \"origin\": \"gen1@host\", \"delivery_mode\": 2, \"expiration\": \"0\", \"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"capq\"}, \"priority\": 3, \"body_encoding\": \"base64\", \"delivery_tag\": \"22590226-f016-4d85-a99b-817cf0c5ab63\"}}";
/** py-amqp's content-header property block for the PLAIN message (`amqp.basic_message.Message._serialize_properties()`). */
const PLAIN_AMQP_PROPS_B64 = "/gAQYXBwbGljYXRpb24vanNvbgV1dGYtOAAAAVcEbGFuZ1MAAAACcHkEdGFza1MAAAAIcHJvai5hZGQCaWRTAAAAJDExMTExMTExLTIyMjItMzMzMy00NDQ0LTU1NTU1NTU1NTU1NQZzaGFkb3dWA2V0YVYHZXhwaXJlc1YFZ3JvdXBWC2dyb3VwX2luZGV4VgdyZXRyaWVzSQAAAAAJdGltZWxpbWl0QQAAAAJWVgdyb290X2lkUwAAACQxMTExMTExMS0yMjIyLTMzMzMtNDQ0NC01NTU1NTU1NTU1NTUJcGFyZW50X2lkVghhcmdzcmVwclMAAAAGKDIsIDMpCmt3YXJnc3JlcHJTAAAACHsneic6IDR9Bm9yaWdpblMAAAAJZ2VuMUBob3N0DWlnbm9yZV9yZXN1bHR0ABVyZXBsYWNlZF90YXNrX25lc3RpbmdJAAAAAA9zdGFtcGVkX2hlYWRlcnNWBnN0YW1wc0YAAAAAAgAkMTExMTExMTEtMjIyMi0zMzMzLTQ0NDQtNTU1NTU1NTU1NTU1BHJycnI=";
/** ... and for the CUSTOM message (custom headers: ints, float, None, nested, bool, non-ASCII str, Decimals). */
const CUSTOM_AMQP_PROPS_B64 = "/wAQYXBwbGljYXRpb24vanNvbgV1dGYtOAAAAiAEbGFuZ1MAAAACcHkEdGFza1MAAAAIcHJvai5hZGQCaWRTAAAAJDIyMjIyMjIyLTIyMjItMzMzMy00NDQ0LTU1NTU1NTU1NTU1NQZzaGFkb3dWA2V0YVYHZXhwaXJlc1MAAAAZMjAwMC0wMS0wMVQwMDowMDowMCswMDowMAVncm91cFYLZ3JvdXBfaW5kZXhWB3JldHJpZXNJAAAAAAl0aW1lbGltaXRBAAAAAlZWB3Jvb3RfaWRTAAAAJDIyMjIyMjIyLTIyMjItMzMzMy00NDQ0LTU1NTU1NTU1NTU1NQlwYXJlbnRfaWRWCGFyZ3NyZXByUwAAAAYoMiwgMykKa3dhcmdzcmVwclMAAAAIeyd6JzogNH0Gb3JpZ2luUwAAAAlnZW4xQGhvc3QNaWdub3JlX3Jlc3VsdHQAFXJlcGxhY2VkX3Rhc2tfbmVzdGluZ0kAAAAAD3N0YW1wZWRfaGVhZGVyc1YGc3RhbXBzRgAAAAAFeC1pbnRJ/////wd4LWludDMySX////8HeC1mbG9hdGQ/+AAAAAAAAAZ4LW5vbmVWCHgtbmVzdGVkRgAAACEBYUEAAAASSQAAAAFJAAAAAkYAAAADAWJWAWNTAAAAAWQGeC1ib29sdAEFeC1zdHJTAAAABmjDqWxsbwV4LWRlY0QCAAABOgZ4LWxpc3RBAAAACkEAAAAARgAAAAAJeC1uZWctZGVjRAH////7AgMkMjIyMjIyMjItMjIyMi0zMzMzLTQ0NDQtNTU1NTU1NTU1NTU1BHJycnIBMA==";

/** The basic-properties block as amqplib would put it on the wire, then decoded by amqplib. */
function throughAmqpProperties(options: Record<string, unknown>, content: Uint8Array): Record<string, unknown> {
  const frame = defs.encodeProperties(defs.BasicProperties, 1, content.length, options);
  // frame: type(1) channel(2) size(4) | class(2) weight(2) body-size(8) | property block | frame-end(1)
  const block = frame.subarray(7 + 12, frame.length - 1);
  return defs.decode(defs.BasicProperties, block);
}

test('decodeRedisEnvelope on a real kombu envelope', () => {
  const raw = decodeRedisEnvelope(PLAIN_ENVELOPE);
  const env = JSON.parse(PLAIN_ENVELOPE);
  assert.equal(Buffer.from(raw.body).toString('base64'), env.body);
  assert.equal(raw.contentType, 'application/json');
  assert.equal(raw.contentEncoding, 'utf-8');
  assert.deepEqual(raw.headers, env.headers);
  assert.deepEqual(raw.properties, { correlation_id: env.headers.id, reply_to: 'rrrr', origin: 'gen1@host', delivery_mode: 2, priority: 0 });
  assert.deepEqual(raw.deliveryInfo, { exchange: '', routing_key: 'capq', redelivered: false });
  assert.equal(raw.deliveryTag, env.properties.delivery_tag);
  // bytes in (ioredis Buffers) work the same
  assert.deepEqual(decodeRedisEnvelope(Buffer.from(PLAIN_ENVELOPE)), raw);
  const msg = decodeTaskMessage(raw);
  assert.deepEqual(msg.body.args, [2, 3]);
});

test('encodeRedisEnvelope: kombu key layout, hyphenated content keys, base64 body, fresh uuid4 tag', () => {
  const raw = decodeRedisEnvelope(CUSTOM_ENVELOPE);
  const text = encodeRedisEnvelope({ ...raw, deliveryTag: undefined });
  const ours = JSON.parse(text);
  const theirs = JSON.parse(CUSTOM_ENVELOPE);
  assert.deepEqual(Object.keys(ours), ['body', 'content-encoding', 'content-type', 'headers', 'properties']);
  assert.deepEqual(Object.keys(ours.properties), Object.keys(theirs.properties));
  assert.match(ours.properties.delivery_tag, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  ours.properties.delivery_tag = theirs.properties.delivery_tag;
  assert.deepEqual(ours, theirs); // tagged decimals etc. written back exactly as kombu wrote them
  // the round trip keeps the delivery tag by default (a kombu restore keeps it too)
  assert.equal(JSON.parse(encodeRedisEnvelope(raw)).properties.delivery_tag, theirs.properties.delivery_tag);
  assert.deepEqual(decodeRedisEnvelope(encodeRedisEnvelope(raw)), raw);
});

test('redelivered: kombu restore flags (headers + delivery_info, or the virtual top-level key)', () => {
  const env = JSON.parse(PLAIN_ENVELOPE);
  env.headers.redelivered = true;
  env.properties.delivery_info.redelivered = true;
  const a = decodeRedisEnvelope(JSON.stringify(env));
  assert.equal(a.deliveryInfo.redelivered, true);
  assert.equal(a.headers.redelivered, true);
  const env2 = JSON.parse(PLAIN_ENVELOPE);
  env2.redelivered = true;
  assert.equal(decodeRedisEnvelope(JSON.stringify(env2)).deliveryInfo.redelivered, true);
  // written back only when true
  assert.equal(JSON.parse(encodeRedisEnvelope(a)).properties.delivery_info.redelivered, true);
  assert.equal('redelivered' in JSON.parse(encodeRedisEnvelope(decodeRedisEnvelope(PLAIN_ENVELOPE))).properties.delivery_info, false);
});

test('body_encoding absent / utf-8 means a text body; headers null means {}', () => {
  const env = JSON.parse(PLAIN_ENVELOPE);
  env.body = '[[1], {}, null]';
  delete env.properties.body_encoding;
  env.headers = { ...env.headers, 'x-\u00e9': '\u{1f389}' };
  const raw = decodeRedisEnvelope(JSON.stringify(env));
  assert.equal(new TextDecoder().decode(raw.body), '[[1], {}, null]');
  assert.equal(raw.headers['x-\u00e9'], '\u{1f389}');
  env.properties.body_encoding = 'UTF-8';
  env.headers = null;
  const raw2 = decodeRedisEnvelope(JSON.stringify(env));
  assert.deepEqual(raw2.headers, {});
  assert.equal(new TextDecoder().decode(raw2.body), '[[1], {}, null]');
});

test('malformed envelopes: ProtocolError part "envelope" saying what is wrong', () => {
  const good = JSON.parse(PLAIN_ENVELOPE);
  const mut = (f: (e: any) => void): string => {
    const e = structuredClone(good);
    f(e);
    return JSON.stringify(e);
  };
  const cases: Array<[unknown, RegExp]> = [
    ['', /JSON/],
    ['not json', /JSON/],
    ['{"body": ', /JSON/],
    ['[]', /must be a JSON object/],
    ['null', /must be a JSON object/],
    ['"str"', /must be a JSON object/],
    ['{"__type__": "datetime", "__value__": "2020-01-01T00:00:00"}', /must be a JSON object/],
    ['{"__type__": "nope", "__value__": 1}', /JSON/],
    [mut((e) => delete e.properties), /no "properties"/],
    [mut((e) => (e.properties = [])), /"properties" must be an object/],
    [mut((e) => delete e['content-type']), /no "content-type"/],
    [mut((e) => (e['content-type'] = 5)), /"content-type" must be a string/],
    [mut((e) => (e['content-encoding'] = {})), /"content-encoding" must be a string/],
    [mut((e) => delete e.body), /no "body"/],
    [mut((e) => (e.body = 5)), /"body" must be a string/],
    [mut((e) => (e.body = 'not base64!')), /not valid base64/],
    [mut((e) => (e.body = 'abc')), /not valid base64/],
    [mut((e) => (e.body = 'ab=c')), /not valid base64/],
    [mut((e) => (e.body = 'a===')), /not valid base64/],
    [mut((e) => (e.properties.body_encoding = 'rot13')), /unsupported body_encoding/],
    [mut((e) => (e.headers = 'x')), /"headers" must be an object/],
    [mut((e) => delete e.properties.delivery_tag), /delivery_tag/],
    [mut((e) => (e.properties.delivery_tag = {})), /delivery_tag/],
    [mut((e) => delete e.properties.delivery_info), /delivery_info/],
    [mut((e) => (e.properties.delivery_info = 'x')), /delivery_info/],
    [mut((e) => delete e.properties.delivery_info.exchange), /exchange/],
    [mut((e) => (e.properties.delivery_info.routing_key = 1)), /routing_key/],
    ['[' .repeat(200000), /JSON|envelope/],
    [new Uint8Array([0xff, 0xfe]), /UTF-8/],
    [5, /must be a string/],
  ];
  for (const [input, re] of cases) envelopeError(() => decodeRedisEnvelope(input as string), re);
});

test('fuzz: random and mutated envelopes only ever raise ProtocolError("envelope")', () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = '{}[]":,\\ 0123456789abcdefnulltrue-+.eE_=/\u00e9\ud83c';
  const samples = [PLAIN_ENVELOPE, CUSTOM_ENVELOPE];
  let ok = 0;
  for (let i = 0; i < 20000; i++) {
    let s = samples[i % 2] as string;
    const kind = rnd(4);
    if (kind === 0) {
      // random garbage
      s = Array.from({ length: rnd(60) }, () => alphabet[rnd(alphabet.length)]).join('');
    } else {
      for (let k = 0, n = 1 + rnd(4); k < n; k++) {
        const pos = rnd(s.length + 1);
        const op = rnd(3);
        if (op === 0) s = s.slice(0, pos) + s.slice(pos + 1 + rnd(8));
        else if (op === 1) s = s.slice(0, pos) + alphabet[rnd(alphabet.length)] + s.slice(pos);
        else s = s.slice(0, pos) + s.slice(rnd(s.length));
      }
    }
    let raw;
    try {
      raw = decodeRedisEnvelope(s);
    } catch (err) {
      assert.ok(err instanceof ProtocolError && err.part === 'envelope', `input ${JSON.stringify(s.slice(0, 200))} gave ${String(err)}`);
      continue;
    }
    ok++;
    // what was accepted survives a re-encode: the same message comes back
    const again = decodeRedisEnvelope(encodeRedisEnvelope(raw, { deliveryTag: raw.deliveryTag }));
    assert.deepEqual(again, raw, `input ${JSON.stringify(s.slice(0, 200))}`);
  }
  assert.ok(ok > 0);
});

test('AMQP: the property block py-amqp wrote decodes (via amqplib) to the same message as the Redis path', () => {
  for (const [envText, b64] of [[PLAIN_ENVELOPE, PLAIN_AMQP_PROPS_B64], [CUSTOM_ENVELOPE, CUSTOM_AMQP_PROPS_B64]] as const) {
    const viaRedis = decodeRedisEnvelope(envText);
    const props = defs.decode(defs.BasicProperties, Buffer.from(b64, 'base64'));
    const viaAmqp = fromAmqpMessage({
      content: Buffer.from(viaRedis.body),
      fields: { exchange: '', routingKey: 'capq', redelivered: false, deliveryTag: 7, consumerTag: 'ctag' },
      properties: props as never,
    });
    assert.deepEqual(viaAmqp.headers, viaRedis.headers);
    assert.deepEqual(Object.keys(viaAmqp.headers), Object.keys(viaRedis.headers));
    const { origin: _o, ...redisProps } = viaRedis.properties; // py-amqp drops unknown properties
    assert.deepEqual(viaAmqp.properties, redisProps);
    assert.deepEqual(viaAmqp.deliveryInfo, { exchange: '', routing_key: 'capq', redelivered: false, consumer_tag: 'ctag' });
    assert.equal(viaAmqp.deliveryTag, '7');
    assert.equal(viaAmqp.contentType, viaRedis.contentType);
    assert.ok(!(viaAmqp.body instanceof Buffer));
    const [a, r] = [decodeTaskMessage(viaAmqp), decodeTaskMessage(viaRedis)];
    assert.deepEqual([a.protocol, a.headers, a.body], [r.protocol, r.headers, r.body]);
  }
  const custom = decodeRedisEnvelope(CUSTOM_ENVELOPE).headers;
  assert.ok(custom['x-dec'] instanceof Decimal && custom['x-dec'].value === '3.14');
});

test('AMQP: toAmqpPublish -> real property bytes (amqplib) -> fromAmqpMessage round trip', () => {
  const msg = createTaskMessage({
    task: 'proj.add', id: 'rt-id', args: [1], replyTo: 'rq', origin: 'gen1@h', expires: 10, now: new Date(0),
    headers: {
      'x-null': null, 'x-neg': -1, 'x-small': 5, 'x-int32': 2147483647, 'x-int64': 2 ** 40, 'x-big': 2n ** 52n, 'x-float': 0.25, 'x-bool': false,
      'x-nested': { a: [1, { b: null, c: [[], {}] }], d: 'e' }, 'x-bytes': new Uint8Array([0, 255]), 'x-dec': new Decimal('-12.50'),
      'x-when': new PyDateTime('2024-01-02T03:04:05.678+00:00'), 'x-inf': Infinity,
    },
  });
  const raw = encodeTaskMessage(msg, { deliveryInfo: { exchange: 'ex', routing_key: 'rk' } });
  const pub = toAmqpPublish(raw);
  assert.equal(pub.exchange, 'ex');
  assert.equal(pub.routingKey, 'rk');
  assert.equal(pub.options.expiration, '10000');
  assert.equal(pub.options.correlationId, 'rt-id');
  assert.equal(pub.options.replyTo, 'rq');
  assert.equal(pub.options.deliveryMode, 2);
  assert.equal(pub.options.priority, 0);
  const props = throughAmqpProperties(pub.options as never, pub.content);
  const back = fromAmqpMessage({ content: pub.content, fields: { exchange: 'ex', routingKey: 'rk', redelivered: true, deliveryTag: 1 }, properties: props as never });
  const expected: PyDict = {
    ...raw.headers,
    'x-big': 2 ** 52,
    'x-dec': new Decimal('-12.5'), // py-amqp: Decimal(-1250) / Decimal(100)
    'x-when': new PyDateTime('2024-01-02T03:04:05'), // AMQP timestamps are whole seconds, naive UTC (py-amqp)
  };
  assert.deepEqual(back.headers, expected);
  assert.equal(back.deliveryInfo.redelivered, true);
  assert.deepEqual(decodeTaskMessage(back).body, msg.body);
});

test('AMQP: integer header encodings are the ones py-amqp reads correctly', () => {
  const t = toAmqpHeaders({ a: -1, b: 300, c: 2 ** 33, d: 1.5, e: -(2n ** 63n), f: null, g: true });
  assert.deepEqual(t.a, { '!': 'int', value: -1 }); // never amqplib's default 'b' (py-amqp reads 'b' unsigned)
  assert.deepEqual(t.c, { '!': 'int64', value: 2 ** 33 });
  assert.deepEqual(t.d, { '!': 'double', value: 1.5 });
  const buf = Buffer.alloc(1024);
  const n = codec.encodeTable(buf, t, 0);
  const bytes = buf.subarray(4, n);
  // tags: a -> I, b -> I, c -> l, d -> d, e -> l, f -> V, g -> t
  const tags = [...bytes.toString('latin1').matchAll(/\x01([a-g])(.)/gs)].map((m) => `${m[1]}${m[2]}`);
  assert.deepEqual(tags, ['aI', 'bI', 'cl', 'dd', 'el', 'fV', 'gt']);
  const decoded = codec.decodeFields(bytes);
  assert.deepEqual(fromAmqpHeaders(decoded), { a: -1, b: 300, c: 2 ** 33, d: 1.5, e: -(2 ** 63), f: null, g: true });
});

test('AMQP: null/void headers, x-delivery-count (uint64 from quorum queues), typed values', () => {
  assert.deepEqual(fromAmqpHeaders(null), {});
  assert.deepEqual(fromAmqpHeaders(undefined), {});
  // RabbitMQ's quorum queues add x-delivery-count as 'l'; amqplib decodes it to a Number
  const buf = Buffer.alloc(256);
  const n = codec.encodeTable(buf, { 'x-delivery-count': { '!': 'int64', value: 3 }, v: null, ts: { '!': 'timestamp', value: 1700000000 }, dec: { '!': 'decimal', value: { places: 2, digits: 314 } } }, 0);
  const decoded = codec.decodeFields(buf.subarray(4, n));
  assert.deepEqual(fromAmqpHeaders(decoded), { 'x-delivery-count': 3, v: null, ts: new PyDateTime('2023-11-14T22:13:20'), dec: new Decimal('3.14') });
  // a bigint from a codec that keeps 64-bit precision
  assert.deepEqual(fromAmqpHeaders({ big: 2n ** 60n, small: 5n }), { big: 2n ** 60n, small: 5 });
  const raw = fromAmqpMessage({ content: new Uint8Array(), fields: {}, properties: { headers: null } });
  assert.deepEqual(raw.headers, {});
  assert.deepEqual(raw.properties, {});
  assert.deepEqual(raw.deliveryInfo, { exchange: '', routing_key: '', redelivered: false });
  assert.equal(raw.contentType, '');
});

test('AMQP decimals read as py-amqp reads them: Decimal(n) / Decimal(10 ** d)', () => {
  // Python: str(Decimal(n) / Decimal(10 ** d))
  const cases: Array<[number, number, string]> = [
    [314, 2, '3.14'], [100, 1, '10'], [1000, 2, '10'], [10, 2, '0.1'], [0, 3, '0'], [1, 10, '1E-10'], [-5, 1, '-0.5'],
    [150, 2, '1.5'], [12345, 0, '12345'], [7, 7, '7E-7'], [-2147483648, 5, '-21474.83648'], [1, 6, '0.000001'], [1, 7, '1E-7'],
  ];
  for (const [n, d, s] of cases) assert.equal(amqpDecimalToPy(d, n >>> 0).value, s, `${n} / 10**${d}`);
});

test('AMQP: values py-amqp cannot send are refused with ProtocolError("headers")', () => {
  const bad: PyValue[] = [new UUID('12345678123456781234567812345678'), new PyDate('2024-01-01'), 2n ** 64n, { '!': 'x' }, new Date(-1000), new Decimal('1e40')];
  for (const v of bad) {
    assert.throws(() => toAmqpHeaders({ h: v }), (e: unknown) => e instanceof ProtocolError && e.part === 'headers', String(v));
  }
  assert.throws(() => toAmqpHeaders({ ['k'.repeat(256)]: 1 }), (e: unknown) => e instanceof ProtocolError && e.part === 'headers');
  const raw: RawMessage = { body: new Uint8Array(), contentType: 'a', contentEncoding: 'b', headers: {}, properties: { priority: 'hi' }, deliveryInfo: { exchange: '', routing_key: '' } };
  assert.throws(() => toAmqpPublish(raw), (e: unknown) => e instanceof ProtocolError && e.part === 'properties');
});
