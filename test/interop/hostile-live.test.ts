// Issue 15 item 5, live: malformed task messages that a worker might run, each crafted at the wire level
// and published once to a queue a real Python Celery 5.6.3 worker consumes and once to a queue a
// TypeScript worker consumes, on Redis and on RabbitMQ. The outcome on each side is read from the Redis
// result backend, the Python worker's log, `inspect scheduled`, and celeriac's quarantine.
//
// The cases, and what Celery 5.6.3 does with them (celery/worker/strategy.py, consumer/consumer.py,
// request.py; py-amqp serialization.py; kombu utils/json.py):
//
// - hybrid body: v2 headers with the body `{"args": []}`. strategy.task_message_handler sees 'args' in
//   the payload and takes hybrid_to_proto2: args [], kwargs {}, the headers as sent. The task runs with
//   no arguments: `add(x, y)` fails with TypeError, `echo(*args, **kwargs)` succeeds. A legitimate
//   protocol path (protocol 1 bodies under v2 headers), so celeriac does the same.
// - eta as a datetime: on RabbitMQ an AMQP timestamp ('T', whole seconds), which py-amqp decodes to a
//   naive UTC datetime; on Redis kombu JSON's `{"__type__": "datetime"}` without an offset. Request takes
//   it through maybe_iso8601 and maybe_make_aware(naive_as_utc=True): UTC, whatever the worker's TZ. A
//   past eta runs now; a future one is held until then. Both workers here run with TZ=Asia/Tokyo, so a
//   naive eta read as local time would be 9 hours off.
// - task name as bytes: on RabbitMQ a byte array ('x', py-amqp gives bytes; amqplib writes a Buffer as
//   'x'), on Redis kombu JSON's `{"__type__": "bytes"}`. Consumer.on_task_received looks up
//   strategies[b'hostile.add'], misses, and on_unknown_task logs "Received unregistered task of type
//   b'hostile.add'", rejects the message and stores FAILURE NotRegistered(b'hostile.add'). celeriac's
//   decoder refuses a non-string task name, so its worker quarantines the message with the reason.
process.env.TZ = 'Asia/Tokyo'; // before anything reads the clock's zone: a naive eta taken as local time shows

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Redis } from 'ioredis';
import amqplib from 'amqplib';
import { Celery } from '../../src/app.ts';
import type { Broker } from '../../src/broker.ts';
import { createBroker } from '../../src/brokers/index.ts';
import { Worker } from '../../src/worker/worker.ts';
import type { QuarantinedDetail } from '../../src/quarantine/store.ts';
import { missingPeers } from '../helpers/cli-ops.ts';
import { deleteAmqpQueues, selectedBrokers } from '../helpers/matrix.ts';
import { AMQP_URL, amqplibUrl, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { startRedis, stopAll, type PrivateRedis } from '../helpers/private-redis.ts';
import { testLogger } from '../helpers/worker.ts';

after(() => stopAll());

const WORKER_TZ = 'Asia/Tokyo';

async function until<T>(what: string, get: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How a header value is written on each broker's wire. */
type WireValue = string | null | { bytes: string } | { naiveUtc: number };

/** The protocol v2 headers Celery 5.6 writes, with the case's task and eta as wire values. */
function v2Headers(id: string, task: WireValue, eta: WireValue): Record<string, unknown> {
  return {
    lang: 'py', task, id, shadow: null, eta, expires: null, group: null, group_index: null, retries: 0,
    timelimit: [null, null], root_id: id, parent_id: null, argsrepr: '()', kwargsrepr: '{}', origin: 'hostile@live',
    ignore_result: false, replaced_task_nesting: 0, stamped_headers: null, stamps: {},
  };
}

const naiveIso = (secs: number) => new Date(secs * 1000).toISOString().replace(/\.\d+Z$/, '');

/** A header value as amqplib is told to write it (the field types py-amqp reads). */
function amqpField(v: unknown): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return { '!': 'int', value: v }; // 'I', as py-amqp writes ints
  if (Array.isArray(v)) return v.map(amqpField);
  const o = v as Record<string, unknown>;
  if ('bytes' in o) return Buffer.from(o.bytes as string, 'utf8'); // 'x' byte array -> bytes
  if ('naiveUtc' in o) return { '!': 'timestamp', value: o.naiveUtc }; // 'T' -> naive UTC datetime
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, amqpField(x)]));
}

/** A header value in kombu JSON (the Redis envelope is kombu JSON: `__type__` markers decode). */
function kombuField(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(kombuField);
  const o = v as Record<string, unknown>;
  if ('bytes' in o) return { __type__: 'bytes', __value__: o.bytes };
  if ('naiveUtc' in o) return { __type__: 'datetime', __value__: naiveIso(o.naiveUtc as number) };
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, kombuField(x)]));
}

interface Case {
  name: string;
  task: WireValue;
  eta: WireValue;
  body: string;
}

const V2_BODY = (args: unknown[]) => JSON.stringify([args, {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
const FUTURE = Math.floor(Date.now() / 1000) + 3600; // whole seconds: an AMQP timestamp has no fraction

const CASES: Case[] = [
  { name: 'hybrid-add', task: 'hostile.add', eta: null, body: '{"args": []}' },
  { name: 'hybrid-echo', task: 'hostile.echo', eta: null, body: '{"args": []}' },
  { name: 'eta-past', task: 'hostile.add', eta: { naiveUtc: Date.UTC(2020, 0, 1) / 1000 }, body: V2_BODY([1, 2]) },
  { name: 'eta-future', task: 'hostile.add', eta: { naiveUtc: FUTURE }, body: V2_BODY([3, 4]) },
  { name: 'bytes-task', task: { bytes: 'hostile.add' }, eta: null, body: V2_BODY([1, 2]) },
];

interface Meta {
  status: string;
  result: unknown;
}

for (const name of selectedBrokers()) {
  describe(`[${name}] malformed messages a worker might run: a Python worker and a TypeScript worker given the same bytes`, () => {
    let skip = false;
    let redis: PrivateRedis;
    let url = AMQP_URL;
    let backend: Redis;
    let app: Celery;
    let worker: Worker;
    let broker: Broker;
    let py: PythonWorker;
    const QP = uniqueName('hostile.py');
    const QT = uniqueName('hostile.ts');
    const PY_NODE = `hostilepy-${name}-${randomUUID().slice(0, 6)}@py`;
    const TS_NODE = `hostilets-${name}-${randomUUID().slice(0, 6)}@ts`;
    const ids: Record<string, { py: string; ts: string }> = {};
    const logged: string[] = [];

    /** Puts the case's message on `queue` exactly as the wire carries it. */
    async function publish(c: Case, queue: string, id: string): Promise<void> {
      const headers = v2Headers(id, c.task, c.eta);
      const properties = { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 };
      if (name === 'redis') {
        const envelope = {
          body: Buffer.from(c.body).toString('base64'), 'content-encoding': 'utf-8', 'content-type': 'application/json',
          headers: kombuField(headers),
          properties: { ...properties, delivery_info: { exchange: '', routing_key: queue }, body_encoding: 'base64', delivery_tag: randomUUID() },
        };
        const r = new Redis(url);
        await r.lpush(queue, JSON.stringify(envelope));
        await r.quit();
        return;
      }
      const conn = await amqplib.connect(amqplibUrl());
      const ch = await conn.createConfirmChannel();
      ch.publish('', queue, Buffer.from(c.body), {
        contentType: 'application/json', contentEncoding: 'utf-8', headers: amqpField(headers) as Record<string, unknown>,
        deliveryMode: 2, correlationId: id, replyTo: '', priority: 0,
      });
      await ch.waitForConfirms();
      await conn.close();
    }

    async function meta(id: string): Promise<Meta | null> {
      const s = await backend.get(`celery-task-meta-${id}`);
      return s === null ? null : (JSON.parse(s) as Meta);
    }

    async function scheduledEta(node: string, id: string): Promise<string | null> {
      const replies = await app.control.inspect({ destination: [node], timeout: 2 }).scheduled();
      const entry = replies?.[node]?.find((e) => e.request.id === id);
      return entry ? entry.eta : null;
    }

    async function quarantined(id: string): Promise<QuarantinedDetail | null> {
      return (await broker.quarantineStore!().list(QT)).find((e) => e.taskId === id) ?? null;
    }

    /** What the TypeScript worker did with the message: ran it (a result stored) or quarantined it. */
    async function celeriacOutcome(id: string): Promise<{ ran: Meta | null; kept: QuarantinedDetail | null }> {
      return until(`celeriac settles ${id}`, async () => {
        const [ran, kept] = await Promise.all([meta(id), quarantined(id)]);
        return ran || kept ? { ran, kept } : null;
      });
    }
    /** The result the TypeScript worker stored, failing with what it did instead when it did not run it. */
    async function celeriacRan(id: string): Promise<Meta> {
      const o = await celeriacOutcome(id);
      assert.ok(o.ran, `celeriac did not run ${id}: quarantined as ${o.kept?.kind}: ${o.kept?.reason}`);
      return o.ran;
    }

    const same = (a: Meta, b: Meta) => (a.status === b.status && isDeepStrictEqual(a.result, b.result) ? 'same' : 'DIFFERENT');
    const summary = (m: Meta | null) => (m === null ? 'nothing stored' : `${m.status} ${JSON.stringify(m.result)}`);
    const count = (c: string, pySide: string, tsSide: string, verdict: string) =>
      `celeriac-count: hostile-live [${name}] ${c}: python=${pySide} | celeriac=${tsSide} | ${verdict}`;

    before(async () => {
      if (missingPeers({ python: true, redisServer: true })) {
        skip = true;
        return;
      }
      redis = await startRedis({ prefix: 'hostile' });
      const backendUrl = `redis://127.0.0.1:${redis.port}/1`;
      if (name === 'redis') url = `redis://127.0.0.1:${redis.port}/0`;
      backend = new Redis(backendUrl);
      app = new Celery({ broker_url: url, result_backend: backendUrl, env: {} });
      app.task('hostile.add', (x: number, y: number) => x + y);
      app.task('hostile.echo', (...rest: unknown[]) => {
        const kwargs = rest.pop();
        return { args: rest, kwargs };
      }, { params: ['*args', '**kwargs'] });
      const log = testLogger();
      worker = new Worker(app, {
        queues: [QT], hostname: TS_NODE, concurrency: 1, withoutMingle: true, closeApp: false,
        logger: { ...log, error: (m: string) => (logged.push(m), log.error(m)), critical: (m: string) => (logged.push(m), log.critical(m)) },
      });
      await worker.start();
      broker = createBroker(url, {}, { settings: app.conf });
      await broker.connect();
      py = await startPythonWorker(['-A', 'hostile_tasks', 'worker', '-Q', QP, '-c', '1', '-n', PY_NODE, '--without-gossip', '--without-mingle', '-l', 'info'], {
        cwd: 'test/python', env: { CELERIAC_BROKER_URL: url, CELERIAC_BACKEND_URL: backendUrl, TZ: WORKER_TZ },
      });
      for (const c of CASES) {
        ids[c.name] = { py: `${c.name}-py-${randomUUID()}`, ts: `${c.name}-ts-${randomUUID()}` };
        await publish(c, QP, ids[c.name]!.py);
        await publish(c, QT, ids[c.name]!.ts);
      }
    });

    after(async () => {
      if (skip) return;
      await worker?.stop().catch(() => undefined);
      await py?.stop().catch(() => undefined);
      await app?.close().catch(() => undefined);
      await broker?.close().catch(() => undefined);
      backend?.disconnect();
      if (name === 'amqp') await deleteAmqpQueues([QP, QT, `${QT}.celeriac.invalid`]);
    });

    test('hybrid {"args": []} body: both run the task with no arguments; add(x, y) fails with the same TypeError', async (t) => {
      if (skip) return t.skip('no python or redis-server');
      const { py: pid, ts: tid } = ids['hybrid-add']!;
      const [p, s] = await Promise.all([until('python result', () => meta(pid)), celeriacRan(tid)]);
      t.diagnostic(count('hybrid-add', `ran ${summary(p)}`, `ran ${summary(s)}`, same(p, s)));
      assert.equal(p.status, 'FAILURE');
      assert.deepEqual(p.result, { exc_type: 'TypeError', exc_message: ["add() missing 2 required positional arguments: 'x' and 'y'"], exc_module: 'builtins' });
      assert.equal(s.status, p.status);
      assert.deepEqual(s.result, p.result);
      assert.match(py.log(), new RegExp(`Task hostile\\.add\\[${pid}\\] raised unexpected: TypeError`));

      const e = ids['hybrid-echo']!;
      const [pe, se] = await Promise.all([until('python result', () => meta(e.py)), celeriacRan(e.ts)]);
      t.diagnostic(count('hybrid-echo', `ran ${summary(pe)}`, `ran ${summary(se)}`, same(pe, se)));
      assert.deepEqual([pe.status, pe.result], ['SUCCESS', { args: [], kwargs: {} }]);
      assert.deepEqual([se.status, se.result], [pe.status, pe.result]);
    });

    test('eta as a naive datetime (AMQP timestamp / kombu JSON datetime) is UTC on both: a past one runs, a future one is held for that instant', async (t) => {
      if (skip) return t.skip('no python or redis-server');
      const past = ids['eta-past']!;
      const [p, s] = await Promise.all([until('python result', () => meta(past.py)), celeriacRan(past.ts)]);
      t.diagnostic(count('eta-past', `ran ${summary(p)}`, `ran ${summary(s)}`, same(p, s)));
      assert.deepEqual([p.status, p.result], ['SUCCESS', 3]);
      assert.deepEqual([s.status, s.result], [p.status, p.result]);

      const fut = ids['eta-future']!;
      const [pEta, sEta] = await Promise.all([
        until('python holds it', () => scheduledEta(PY_NODE, fut.py)),
        until('celeriac holds it', () => scheduledEta(TS_NODE, fut.ts)),
      ]);
      const verdict = Date.parse(pEta) !== Date.parse(sEta) ? 'DIFFERENT instants' : pEta === sEta ? 'same' : 'same instant, written differently';
      t.diagnostic(count('eta-future', `held eta=${pEta}`, `held eta=${sEta}`, verdict));
      assert.equal(Date.parse(pEta), FUTURE * 1000, `Python takes the naive eta as UTC (TZ=${WORKER_TZ})`);
      assert.equal(Date.parse(sEta), Date.parse(pEta), 'celeriac holds it for the same instant');
      assert.equal(sEta, pEta, 'and inspect scheduled writes it as Python does');
      assert.equal(await meta(fut.py), null);
      assert.equal(await meta(fut.ts), null);
    });

    test('task name as bytes: Celery refuses it as an unregistered task; celeriac refuses it and quarantines it with the reason', async (t) => {
      if (skip) return t.skip('no python or redis-server');
      const { py: pid, ts: tid } = ids['bytes-task']!;
      // Python: on_unknown_task, the message rejected, FAILURE NotRegistered(b'hostile.add') stored
      const block = await until('python refuses it', async () => {
        const log = py.log();
        const at = log.indexOf(`'id': '${pid}'`);
        return at >= 0 ? log.slice(log.lastIndexOf('Received unregistered task', at), at) : null;
      });
      const p = await until('python stores NotRegistered', () => meta(pid));
      // celeriac: refused before it runs, kept in <queue>.celeriac.invalid with the reason
      const o = await celeriacOutcome(tid);
      const notRegistered = (m: Meta) => m.status === 'FAILURE' && (m.result as { exc_type?: string }).exc_type === 'NotRegistered';
      const q = !o.ran || notRegistered(o.ran) ? o.kept ?? (await until('celeriac quarantines it', () => quarantined(tid))) : null;
      const s = await meta(tid);
      t.diagnostic(count('bytes-task', `refused (unregistered task b'hostile.add', rejected) ${summary(p)}`,
        q ? `refused (quarantined as ${q.kind}: ${q.reason}) ${summary(s)}` : `ran ${summary(s)}`, q ? 'both refuse' : 'CELERIAC RAN IT'));

      assert.match(block, /^Received unregistered task of type b'hostile\.add'\.\nThe message has been ignored and discarded\./);
      assert.equal(p.status, 'FAILURE');
      assert.deepEqual(p.result, { exc_type: 'NotRegistered', exc_message: [{ __type__: 'bytes', __value__: 'hostile.add' }], exc_module: 'celery.exceptions' });
      assert.doesNotMatch(py.log(), new RegExp(`Task hostile\\.add\\[${pid}\\] (received|succeeded)`));
      assert.ok(q, `celeriac ran it: ${summary(o.ran)}`);
      // as Celery: handled as an unregistered task, FAILURE NotRegistered(b'hostile.add') stored; and kept
      assert.equal(q.kind, 'unknown-task');
      assert.match(q.reason, /no task named b'hostile\.add' is registered/);
      assert.equal(q.hostname, TS_NODE);
      assert.equal(s?.status, 'FAILURE');
      assert.deepEqual(s?.result, p.result, 'the same NotRegistered as Celery stores');
      assert.ok(logged.some((l) => l.includes("Received unregistered task of type b'hostile.add'") && l.includes('quarantined in')), logged.join('\n'));
    });
  });
}
