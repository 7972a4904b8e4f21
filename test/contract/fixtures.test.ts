/**
 * Contract: every message and record captured from real Celery 5.6.3 / kombu 5.6.2 (fixtures/) decodes
 * with celeriac to the logical message kombu itself decoded from the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseKombuJson, loads } from '../../protocol/serialization/index.ts';
import { decodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { AMQP_PROPERTY_NAMES, fromAmqpMessage, type AmqpMessageLike } from '../../protocol/envelope/amqp.ts';
import { decodeBasicProperties } from '../../protocol/envelope/amqp-wire.ts';
import { decodeTaskMessage, decodeTaskHeaders } from '../../protocol/message.ts';
import { ContentDisallowed } from '../../protocol/errors.ts';
import { chordJoinKey, parseResultMeta, parseChordJoinMember, parseRpcReply, resultValue } from '../../protocol/result.ts';
import { PythonError } from '../../protocol/exceptions.ts';
import type { RawMessage } from '../../protocol/types.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';

const require = createRequire(import.meta.url);
// amqplib's exports map hides its codec; load the file by path (test-only).
const amqpDefs = require(join(dirname(require.resolve('amqplib')), 'lib/defs.js')) as { decode(id: number, buf: Buffer): Record<string, unknown> };

const ACCEPT = ['json', 'msgpack', 'yaml'];

interface Entry { folder: string; scenario: string; kind: string; file: string }
const manifest = parseKombuJson(readFileSync('fixtures/MANIFEST.json', 'utf8')) as PyDict;
const entries = manifest.scenarios as unknown as Entry[];

function load(entry: Entry): PyDict {
  return parseKombuJson(readFileSync(`fixtures/${entry.folder}/${entry.scenario}.json`, 'utf8')) as PyDict;
}

/**
 * An AMQP capture, decoded from the exact property bytes RabbitMQ delivered: with celeriac's own wire
 * codec, and cross-checked with amqplib's where amqplib can read them (it rejects py-amqp's `L` tag).
 */
function amqpRaw(c: PyDict): RawMessage {
  const block = Buffer.from(c.properties_raw_b64 as string, 'base64');
  const ours = decodeBasicProperties(block) as Record<string, unknown>;
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ours)) properties[AMQP_PROPERTY_NAMES[k] ?? k] = v;
  let viaAmqplib: RawMessage | undefined;
  try {
    viaAmqplib = fromAmqpMessage({ content: Buffer.alloc(0), fields: {}, properties: amqpDefs.decode(60, block) });
  } catch (err) {
    assert.match(String(err), /Unexpected type tag "L"/, 'amqplib fails only on the L tag');
  }
  const msg: AmqpMessageLike = {
    content: Buffer.from(c.body_b64 as string, 'base64'),
    fields: { exchange: c.exchange as string, routingKey: c.routing_key as string, redelivered: false, deliveryTag: 1 },
    properties: properties as AmqpMessageLike['properties'],
  };
  const raw = fromAmqpMessage(msg);
  if (viaAmqplib) assert.deepEqual(viaAmqplib.headers, raw.headers, 'amqplib and celeriac read the same headers');
  return raw;
}

function rawOf(c: PyDict): RawMessage {
  return typeof c.raw === 'string' ? decodeRedisEnvelope(c.raw) : amqpRaw(c);
}

/** The raw message matches what kombu saw: headers, properties, content type, delivery info. */
function checkRaw(raw: RawMessage, expected: PyDict, where: string): void {
  assert.deepEqual(raw.headers, expected.headers ?? {}, `${where}: headers`);
  assert.equal(raw.contentType, expected.content_type, `${where}: content_type`);
  assert.equal(raw.contentEncoding, expected.content_encoding, `${where}: content_encoding`);
  const exp = expected.properties as PyDict;
  for (const [k, v] of Object.entries(exp)) assert.deepEqual(raw.properties[k], v, `${where}: properties.${k}`);
  const info = expected.delivery_info as PyDict | undefined;
  if (info) {
    assert.equal(raw.deliveryInfo.exchange, info.exchange, `${where}: delivery_info.exchange`);
    assert.equal(raw.deliveryInfo.routing_key, info.routing_key, `${where}: delivery_info.routing_key`);
  }
}

function checkTask(raw: RawMessage, c: PyDict, where: string): void {
  const expected = c.expected as PyDict;
  checkRaw(raw, expected, where);
  if (expected.content_type === 'application/x-python-serialize') {
    assert.throws(() => decodeTaskMessage(raw, { accept: ACCEPT }), ContentDisallowed, `${where}: pickle refused`);
    assert.equal(decodeTaskHeaders(raw).headers?.task, (expected.headers as PyDict).task, `${where}: headers still readable`);
    return;
  }
  const msg = decodeTaskMessage(raw, { accept: ACCEPT });
  const v2 = (c.expected_v2 as PyDict | undefined) ?? { headers: expected.headers, body: expected.body };
  const [args, kwargs, embed] = v2.body as [PyValue[], PyDict, PyDict];
  assert.equal(msg.protocol, c.expected_v2 ? 1 : 2, `${where}: protocol`);
  // Celery's proto1_to_proto2 uses the whole v1 body as the request dict; the body-only keys are in the body.
  const V1_BODY_KEYS = new Set(['args', 'kwargs', 'callbacks', 'errbacks', 'chord', 'chain', 'taskset', 'headers', 'utc']);
  for (const [k, v] of Object.entries(v2.headers as PyDict)) {
    if (c.expected_v2 && V1_BODY_KEYS.has(k)) continue;
    // documented normalisation of v1 nulls in non-nullable v2 headers (protocol/message.ts)
    if (c.expected_v2 && v === null && (k === 'lang' || k === 'ignore_result')) continue;
    assert.deepEqual(msg.headers[k], v, `${where}: headers.${k}`);
  }
  assert.deepEqual(msg.body.args, args, `${where}: args`);
  assert.deepEqual(msg.body.kwargs, kwargs, `${where}: kwargs`);
  assert.deepEqual({ ...msg.body.embed }, { callbacks: null, errbacks: null, chain: null, chord: null, ...(embed ?? {}) }, `${where}: embed`);
  if (!c.expected_v2) assert.deepEqual(decodeTaskHeaders(raw).headers, msg.headers, `${where}: header-only decode`);
}

function checkResult(c: PyDict, where: string, all: PyDict[]): void {
  switch (c.type) {
    case 'string':
    case 'publish': {
      const value = parseKombuJson(c.raw as string);
      assert.deepEqual(value, c.expected, `${where}: stored value`);
      // a chord size (a bare integer) or a saved GroupResult ({"result": tuple}) is not a task meta
      if (typeof value !== 'object' || value === null || !('status' in value)) return;
      const meta = parseResultMeta(value);
      const v = resultValue(meta);
      // compared with what kombu/Celery decoded (the fixture's expected), not with celeriac's own parse
      const kombu = c.expected as PyDict;
      assert.equal(meta.status, kombu.status, `${where}: status`);
      assert.equal(meta.task_id, kombu.task_id, `${where}: task_id`);
      if (meta.status === 'FAILURE' || meta.status === 'REVOKED' || meta.status === 'RETRY') {
        const exc = kombu.result as PyDict;
        assert.ok(v instanceof PythonError, `${where}: ${meta.status} gives a typed error`);
        assert.equal(v.excType, exc.exc_type, `${where}: exc_type`);
        assert.equal(v.excModule, exc.exc_module, `${where}: exc_module`);
        assert.deepEqual(v.excMessage, exc.exc_message, `${where}: exc_message`);
      } else {
        assert.deepEqual(v, kombu.result, `${where}: result value`);
      }
      return;
    }
    case 'zset':
      for (const m of c.members as PyDict[]) {
        const part = parseChordJoinMember(parseKombuJson(m.raw as string));
        assert.deepEqual(parseKombuJson(m.raw as string), m.expected, `${where}: zset member`);
        assert.ok(part.taskId, `${where}: chord part task id`);
      }
      return;
    case 'message':
      checkTask(rawOf(c), c, where);
      return;
    case 'rpc-reply': {
      const raw = amqpRaw(c);
      checkRaw(raw, c.expected as PyDict, where);
      const body = loads(raw.body, raw.contentType, raw.contentEncoding, ACCEPT);
      const kombu = (c.expected as PyDict).body as PyDict;
      assert.deepEqual(body, kombu, `${where}: rpc body`);
      const reply = parseRpcReply(body);
      assert.deepEqual({ ...reply }, {
        task_id: kombu.task_id, status: kombu.status, result: kombu.result, traceback: kombu.traceback, children: kombu.children,
      }, `${where}: parsed rpc reply`);
      return;
    }
    case 'exists': {
      // Celery deleted the chord's .j after sending the body: the key is celeriac's chordJoinKey of the
      // group whose members were captured in the same fixture, and it no longer exists
      const m = /^celery-taskset-meta-(.+)\.j$/.exec(c.key as string);
      assert.ok(m, `${where}: a chord join key`);
      assert.equal(chordJoinKey(m[1]!), c.key, `${where}: chordJoinKey`);
      assert.ok(all.some((o) => o.type === 'zset' && o.key === c.key), `${where}: the .j whose members were captured`);
      assert.equal(c.value, false, `${where}: .j deleted after the body was sent`);
      return;
    }
    default:
      assert.fail(`${where}: unknown capture type ${String(c.type)}`);
  }
}

function checkBodyOnly(c: PyDict, where: string): void {
  const raw = rawOf(c);
  const expected = c.expected as PyDict;
  if ('headers' in expected && 'content_type' in expected) {
    checkRaw(raw, expected, where);
    const body = loads(raw.body, raw.contentType, raw.contentEncoding, ACCEPT);
    assert.deepEqual(body, expected.body, `${where}: body`);
  } else {
    const body = loads(raw.body, raw.contentType, raw.contentEncoding, ACCEPT);
    assert.deepEqual(body, expected, `${where}: body`);
  }
}

let files = 0;
let captures = 0;
for (const entry of entries) {
  test(`fixture ${entry.folder}/${entry.scenario} decodes as kombu decoded it`, () => {
    const fixture = load(entry);
    assert.ok(String((fixture.versions as PyDict).celery).startsWith('5.'), 'recorded from Celery 5');
    files++;
    for (const [i, c] of (fixture.captures as PyDict[]).entries()) {
      const where = `${entry.folder}/${entry.scenario}[${i}]`;
      captures++;
      if (fixture.kind === 'redis-message' || fixture.kind === 'amqp-message') checkTask(rawOf(c), c, where);
      else if (fixture.kind === 'result-record') checkResult(c, where, fixture.captures as PyDict[]);
      else checkBodyOnly(c, where);
    }
  });
}

test('fixture corpus is large enough and counted', (t) => {
  assert.ok(entries.length >= 40, `at least 40 scenarios (have ${entries.length})`);
  t.diagnostic(`celeriac-count: fixtures: ${files} files, ${captures} captures decoded (recorded with celery ${String((manifest.versions as PyDict).celery)})`);
});
