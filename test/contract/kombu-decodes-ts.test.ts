/**
 * Contract, the other direction: every message celeriac encodes, in every serializer and compression,
 * is put on real Redis and real RabbitMQ, taken off by real kombu, decoded the way a Celery worker does
 * (including building Celery's worker Request from it), and comes out equal to what TypeScript meant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import amqp from 'amqplib';
import { createTaskMessage, type CreateTaskOptions } from '../../protocol/task.ts';
import { encodeTaskMessage } from '../../protocol/message.ts';
import { encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { toAmqpPublish } from '../../protocol/envelope/amqp.ts';
import { parseKombuJson } from '../../protocol/serialization/index.ts';
import { signature, immutableSignature } from '../../protocol/canvas.ts';
import { PyDate, PyDateTime, PyTime, Decimal, UUID, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { TaskMessage } from '../../protocol/types.ts';
import { REDIS_HOST, REDIS_PORT, AMQP_URL, amqplibUrl, redisUrl, requirePython, runPython, uniqueName } from '../helpers/peers.ts';

const DB = 14;
const SERIALIZERS = ['json', 'msgpack', 'yaml'] as const;
const COMPRESSIONS = [null, 'zlib', 'gzip', 'bzip2', 'lzma', 'xz', 'brotli', 'zstd'] as const;

/** Values each serializer can carry, in the JS form celeriac documents. */
const VALUES: Record<(typeof SERIALIZERS)[number], { args: PyValue[]; kwargs: PyDict }> = {
  json: {
    args: [new PyDateTime('2024-02-29T12:30:45.123456+00:00'), new PyDateTime('2030-01-02T03:04:05.678901'),
      new PyDate('2024-02-29'), new PyTime('23:59:58.000500'), new Decimal('3.14159265358979323846'),
      new UUID('12345678-1234-5678-1234-567812345678'), new TextEncoder().encode('hello bytes'), Uint8Array.from([0, 255, 254, 128])],
    kwargs: { text: 'héllo wörld 🎉 日本', big: 2n ** 70n, negbig: -(2n ** 64n), f: 1.5, fbig: 1e300, none: null,
      nested: { a: [1, [2, [3]]], b: { c: true } }, empty: [] },
  },
  msgpack: {
    args: [Uint8Array.from([0, 255, 1]), 'ünïcode 🎉', 2n ** 63n, -(2n ** 63n), 2 ** 40],
    kwargs: { f: -0.25, t: true, none: null, nested: { a: [1, 'x', { b: 2 }] } },
  },
  yaml: {
    args: [new PyDateTime('2024-02-29T12:30:45.123456+00:00'), new PyDate('2024-02-29'), Uint8Array.from([1, 2, 250]), 2n ** 70n],
    kwargs: { text: 'naïve 🎉', f: 2.5, none: null, list: [1, 'two', [3]], n: 'n', yes: 'yes' },
  },
};

/** Options that vary by case, so every header and property Celery reads is exercised. */
function options(i: number, name: string): CreateTaskOptions {
  const base: CreateTaskOptions = { task: `ts.contract.${name}`, id: `ts-contract-${i}`, origin: 'gen1@celeriac',
    replyTo: 'c0ffee00-0000-3000-8000-000000000000', now: new Date('2026-01-02T03:04:05.678Z') };
  switch (i % 6) {
    case 0: return { ...base, countdown: 30, priority: 3 };
    case 1: return { ...base, expires: 600, timeLimit: 30, softTimeLimit: 20, headers: { 'x-tenant': 'acme', 'x-n': 7, 'x-null': null, 'x-nested': { a: [1, 2], b: { c: null } } } };
    case 2: return { ...base, eta: new Date('2030-05-06T07:08:09.123Z'), group: 'g-1', groupIndex: 2, retries: 3, shadow: 'shadowed' };
    case 3: return { ...base, rootId: 'root-1', parentId: 'parent-1', ignoreResult: true, stamps: { monitor: 'on' }, stampedHeaders: ['monitor'] };
    case 4: return { ...base, callbacks: [signature('ts.cb', [1], { k: 'v' }, { queue: 'q1' })], errbacks: [immutableSignature('ts.eb')],
      chain: [signature('ts.step3'), signature('ts.step2', [2])] };
    default: return { ...base, chord: signature('ts.body', [], {}, { task_id: 'body-1', group_id: 'g-2' }), group: 'g-2', groupIndex: 0, priority: 9 };
  }
}

interface Case { id: string; transport: 'redis' | 'amqp'; queue: string; msg: TaskMessage; compression: string | null; serializer: string }

/** kombu's Redis priority buckets: 0..2 -> queue, 3..5 -> queue\x06\x163, ... (a lower number is served first). */
function redisKey(queue: string, priority: number): string {
  const step = [0, 3, 6, 9].filter((s) => s <= Math.min(Math.max(priority, 0), 9)).pop() ?? 0;
  return step === 0 ? queue : `${queue}\x06\x16${step}`;
}

test('real kombu and Celery decode every message celeriac encodes, on Redis and RabbitMQ', async (t) => {
  if (!requirePython(t)) return;
  const cases: Case[] = [];
  let i = 0;
  for (const serializer of SERIALIZERS) {
    for (const compression of COMPRESSIONS) {
      for (const transport of ['redis', 'amqp'] as const) {
        const name = `${serializer}.${compression ?? 'plain'}.${transport}`;
        const msg = createTaskMessage({ ...options(i, name), ...VALUES[serializer] });
        cases.push({ id: `case-${i}`, transport, queue: uniqueName(`celeriac.contract.${name}`), msg, compression, serializer });
        i++;
      }
    }
  }

  const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB, lazyConnect: true });
  await redis.connect();
  const conn = await amqp.connect(amqplibUrl());
  const ch = await conn.createConfirmChannel();
  try {
    for (const c of cases) {
      const raw = encodeTaskMessage(c.msg, { serializer: c.serializer, compression: c.compression,
        deliveryInfo: { exchange: '', routing_key: c.queue } });
      if (c.transport === 'redis') {
        await redis.lpush(redisKey(c.queue, c.msg.properties.priority), encodeRedisEnvelope(raw));
      } else {
        await ch.assertQueue(c.queue, { durable: false, arguments: { 'x-expires': 120_000 } });
        const pub = toAmqpPublish(raw);
        ch.publish('', c.queue, Buffer.from(pub.content), pub.options as amqp.Options.Publish);
      }
    }
    await ch.waitForConfirms();

    const out = await runPython('test/python/kombu_check.py', {
      redis_url: redisUrl(DB), amqp_url: AMQP_URL, accept: ['json', 'msgpack', 'yaml'],
      messages: cases.map((c) => ({ id: c.id, transport: c.transport, queue: c.queue })),
    });
    const lines = out.trim().split('\n').map((l) => parseKombuJson(l) as PyDict);
    const versions = lines.pop()!.versions as PyDict;
    const byId = new Map(lines.map((l) => [l.id as string, l]));

    for (const c of cases) {
      const where = `${c.serializer}/${c.compression ?? 'plain'}/${c.transport}`;
      const got = byId.get(c.id);
      assert.ok(got, `${where}: no answer from python`);
      assert.equal(got.ok, true, `${where}: kombu failed: ${String(got.error)}\n${String(got.traceback)}`);
      assert.equal(got.request_error, undefined, `${where}: Celery's Request refused it: ${String(got.request_error)}`);
      const seen = got.message as PyDict;
      const expectedHeaders: PyDict = { ...(c.msg.headers as PyDict) };
      if (c.compression) expectedHeaders.compression = (seen.headers as PyDict).compression ?? 'missing';
      assert.deepEqual(seen.headers, expectedHeaders, `${where}: headers`);
      const [args, kwargs, embed] = seen.body as [PyValue[], PyDict, PyDict];
      assert.deepEqual(args, c.msg.body.args, `${where}: args`);
      assert.deepEqual(kwargs, c.msg.body.kwargs, `${where}: kwargs`);
      assert.deepEqual(embed, { ...c.msg.body.embed }, `${where}: embed`);
      const props = seen.properties as PyDict;
      for (const k of ['correlation_id', 'reply_to', 'delivery_mode', 'priority', 'expiration'] as const) {
        assert.deepEqual(props[k], c.msg.properties[k], `${where}: properties.${k}`);
      }
      const req = got.request as PyDict;
      const h = c.msg.headers;
      assert.equal(req.id, h.id);
      assert.equal(req.name, h.shadow ?? h.task);
      assert.equal(req.eta, h.eta, `${where}: eta as Celery parsed it`);
      assert.equal(req.expires, h.expires, `${where}: expires as Celery parsed it`);
      assert.deepEqual(req.time_limits, h.timelimit, `${where}: time limits`);
      assert.equal(req.argsrepr, h.argsrepr);
      assert.equal(req.group, h.group);
      assert.equal(req.root_id, h.root_id);
      assert.equal(req.parent_id, h.parent_id);
      assert.equal(req.ignore_result, h.ignore_result);
    }
    t.diagnostic(`celeriac-count: ts->python: ${cases.length} messages (${SERIALIZERS.length} serializers x ${COMPRESSIONS.length} compressions x 2 transports) decoded by real kombu ${String(versions.kombu)} / celery ${String(versions.celery)}`);
  } finally {
    await ch.close().catch(() => {});
    await conn.close().catch(() => {});
    redis.disconnect();
  }
});
