// The quarantine on both brokers: what a TypeScript worker refuses (a task it does not know, a body that
// does not decode, an invalid message, content it does not accept, on Redis a list element that is not
// an envelope) is kept in `<queue>.celeriac.invalid` with the reason, never left unacked, never dropped;
// `celeriac quarantine list|show|requeue|purge` reads and settles it, and a requeued message that only
// Python knows is run by a real Python Celery worker. The bounds (count and age) hold on both brokers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import amqplib from 'amqplib';
import { Celery } from '../../src/app.ts';
import type { Broker } from '../../src/broker.ts';
import { createBroker } from '../../src/brokers/index.ts';
import { Worker } from '../../src/worker/worker.ts';
import { encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { decodeQuarantineElement } from '../../protocol/quarantine.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { celeriacBare, missingPeers, type Run } from '../helpers/cli-ops.ts';
import { deleteAmqpQueues, selectedBrokers } from '../helpers/matrix.ts';
import { AMQP_URL, amqplibUrl, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { startRedis, stopAll, type PrivateRedis } from '../helpers/private-redis.ts';
import { testLogger } from '../helpers/worker.ts';

after(() => stopAll());

/** `celeriac -b <url> <args>` (async: the answering worker may run in this process). */
const celeriac = celeriacBare;
const show = (r: Run) => `exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`;

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A task message as Celery 5.6 writes it, with `change` applied. */
function taskRaw(queue: string, task: string, id: string, args: unknown[], change: (r: RawMessage) => void = () => undefined): RawMessage {
  const r: RawMessage = {
    body: Buffer.from(JSON.stringify([args, {}, { callbacks: null, errbacks: null, chain: null, chord: null }])),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {
      lang: 'py', task, id, shadow: null, eta: null, expires: null, group: null, group_index: null, retries: 0,
      timelimit: [null, null], root_id: id, parent_id: null, argsrepr: JSON.stringify(args), kwargsrepr: '{}', origin: 'test@quarantine', ignore_result: false,
    },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0, body_encoding: 'base64', delivery_tag: id },
    deliveryInfo: { exchange: '', routing_key: queue },
  };
  change(r);
  return r;
}

interface ListedEntry {
  id: string;
  kind: string;
  reason: string;
  task: string | null;
  taskId: string | null;
  hostname: string | null;
  queue: string;
  at: number | null;
  message: string;
}

async function listJson(env: Record<string, string>, url: string, queue: string): Promise<ListedEntry[]> {
  const r = await celeriac(['-b', url, 'quarantine', 'list', '-Q', queue, '--json'], env);
  assert.equal(r.code, 0, show(r));
  const doc = JSON.parse(r.out) as { queue: string; messages: ListedEntry[] };
  assert.equal(doc.queue, queue);
  return doc.messages;
}

for (const name of selectedBrokers()) {
  describe(`[${name}] the quarantine: refused messages kept with the reason, listed, requeued, purged`, () => {
    let redis: PrivateRedis | null = null;
    let url = AMQP_URL;
    let backendUrl = '';
    let skip = false;
    const Q = uniqueName('quar.q');
    const QB = uniqueName('quar.bounds');
    const maxpri = name === 'amqp' ? { task_queue_max_priority: 10 } : {};
    let app: Celery;
    let worker: Worker;
    let broker: Broker;
    let py: PythonWorker | null = null;
    const env: Record<string, string> = {};
    const ids: Record<string, string> = {};
    const logged: string[] = [];

    before(async () => {
      if (missingPeers({ python: true, redisServer: true })) {
        skip = true;
        return;
      }
      redis = await startRedis({ prefix: 'quarantine' });
      backendUrl = `redis://127.0.0.1:${redis.port}/1`;
      if (name === 'redis') url = `redis://127.0.0.1:${redis.port}/0`;
      app = new Celery({ broker_url: url, result_backend: backendUrl, task_default_queue: Q, ...maxpri, env: {} });
      app.task('q.add', (x: number, y: number) => x + y);
      const log = testLogger();
      const capture = (level: 'error' | 'critical') => (m: string) => {
        logged.push(m);
        log[level](m);
      };
      worker = new Worker(app, { hostname: 'quar@ts', concurrency: 1, logger: { ...log, error: capture('error'), critical: capture('critical') }, withoutMingle: true, closeApp: false });
      await worker.start();
      broker = createBroker(url, {}, { settings: app.conf });
      await broker.connect();
    });

    after(async () => {
      await worker?.stop().catch(() => undefined);
      await py?.stop().catch(() => undefined);
      await app?.close().catch(() => undefined);
      await broker?.close().catch(() => undefined);
      if (name === 'amqp' && !skip) await deleteAmqpQueues([Q, `${Q}.celeriac.invalid`, QB, `${QB}.celeriac.invalid`]);
    });

    test('every refused message is quarantined with its reason, none left unacked, the valid one runs', async (t) => {
      if (skip) return t.skip('no python or redis-server');
      const valid = await app.sendTask('q.add', [2, 3], {}, { queue: Q });
      const unknown = await app.sendTask('py.only', [4, 5], {}, { queue: Q });
      ids.unknown = unknown.id;
      ids.badJson = uniqueName('bad-json');
      ids.badEta = uniqueName('bad-eta');
      ids.yaml = uniqueName('yaml');
      const target = { exchange: '', routingKey: Q };
      await broker.publish(taskRaw(Q, 'q.add', ids.badJson, [], (r) => (r.body = Buffer.from('{not json'))), target);
      await broker.publish(taskRaw(Q, 'q.add', ids.badEta, [1, 1], (r) => (r.headers.eta = 'not a date')), target);
      await broker.publish(taskRaw(Q, 'q.add', ids.yaml, [1, 1], (r) => (r.contentType = 'application/x-yaml')), target);
      let expected = 4;
      if (name === 'redis') {
        const c = new Redis(url);
        await c.lpush(Q, 'not an envelope at all');
        await c.quit();
        expected = 5;
      }
      assert.equal(await valid.get({ timeout: 20 }), 5);
      const store = broker.quarantineStore!();
      await until(`${expected} quarantined`, async () => (await store.list(Q)).length >= expected);
      assert.deepEqual(worker.refusals.counts, { 'decode-error': 1, invalid: 2, signature: 0, 'unknown-task': 1 });

      const entries = await listJson(env, url, Q);
      assert.equal(entries.length, expected);
      const byTask = (id: string) => entries.find((e) => e.taskId === id)!;
      assert.equal(byTask(ids.unknown).kind, 'unknown-task');
      assert.equal(byTask(ids.unknown).task, 'py.only');
      assert.match(byTask(ids.unknown).reason, /no task named "py\.only" is registered in quar@ts/);
      assert.equal(byTask(ids.badJson).kind, 'decode-error');
      assert.match(byTask(ids.badJson).reason, /JSON/i);
      assert.equal(byTask(ids.badEta).kind, 'invalid');
      assert.match(byTask(ids.badEta).reason, /eta/);
      assert.equal(byTask(ids.yaml).kind, 'invalid');
      assert.match(byTask(ids.yaml).reason, /x-yaml/);
      for (const id of [ids.unknown, ids.badJson, ids.badEta, ids.yaml]) {
        assert.equal(byTask(id).hostname, 'quar@ts');
        assert.equal(byTask(id).queue, Q);
        assert.ok(typeof byTask(id).at === 'number' && Math.abs(byTask(id).at! * 1000 - Date.now()) < 120_000, 'quarantined now');
      }
      if (name === 'redis') {
        const bad = entries.find((e) => e.kind === 'malformed')!;
        assert.match(bad.reason, /JSON|envelope/i);
        assert.equal(bad.message, 'not an envelope at all', 'the element byte for byte');
        const c = new Redis(url);
        assert.equal(await c.hlen('unacked'), 0, 'nothing left unacked');
        assert.equal(await c.zcard('unacked_index'), 0);
        await c.quit();
      }
      // the worker logged each with where it went
      assert.ok(logged.some((l) => l.includes(`unregistered task of type "py.only" (id ${ids.unknown})`) && l.includes('quarantined in the')), logged.join('\n'));
      // Celery's on_unknown_task stores FAILURE NotRegistered, and so does celeriac
      const r = await unknown.get({ timeout: 10, propagate: false });
      assert.equal(await unknown.state(), 'FAILURE');
      assert.match(String(r), /NotRegistered|py\.only/);
    });

    test('show prints the reason and a line celeriac decode reads back to the task', async (t) => {
      if (skip) return t.skip('no python or redis-server');
      const r = await celeriac(['-b', url, 'quarantine', 'show', ids.unknown!, '-Q', Q], env);
      assert.equal(r.code, 0, show(r));
      assert.match(r.out, /^kind: +unknown-task$/m);
      assert.match(r.out, /^reason: +no task named "py\.only"/m);
      const line = r.out.trimEnd().split('\n').at(-1)!;
      const d = await celeriac(['decode'], env, line);
      assert.equal(d.code, 0, show(d));
      const msg = JSON.parse(d.out) as { headers: { task: string; id: string }; body: { args: unknown[] } };
      assert.equal(msg.headers.task, 'py.only');
      assert.equal(msg.headers.id, ids.unknown);
      assert.deepEqual(msg.body.args, [4, 5]);
      const missing = await celeriac(['-b', url, 'quarantine', 'show', 'no-such-id', '-Q', Q], env);
      assert.equal(missing.code, 64, show(missing));
      assert.match(missing.err, /no quarantined message "no-such-id"/);
      const neither = await celeriac(['-b', url, 'quarantine', 'requeue', '-Q', Q], env);
      assert.equal(neither.code, 64, show(neither));
      assert.match(neither.err, /or --all/);
    });

    test('requeue puts the unknown task back, and a Python worker that knows it runs it', async (t) => {
      if (skip) return t.skip('no python or redis-server');
      await worker.stop();
      py = await startPythonWorker(['-A', 'quarantine_tasks', 'worker', '-Q', Q, '-c', '1', '-n', `quarpy-${name}@py`, '--without-gossip', '--without-mingle', '-l', 'info'], {
        cwd: 'test/python', env: { CELERIAC_BROKER_URL: url, CELERIAC_BACKEND_URL: backendUrl, CELERIAC_MAXPRI: name === 'amqp' ? '10' : '0' },
      });
      const r = await celeriac(['-b', url, 'quarantine', 'requeue', '-Q', Q, ids.unknown!], env);
      assert.equal(r.code, 0, show(r));
      assert.match(r.out, new RegExp(`requeued \\S+ py\\.only\\[${ids.unknown}\\] to ${Q.replaceAll('.', '\\.')}`));
      assert.match(r.out, /Requeued 1 message from the quarantine/);
      const res = app.AsyncResult(ids.unknown!);
      await until('the Python worker ran it', async () => (await app.backend.getTaskMeta(ids.unknown!)).status === 'SUCCESS', 30_000);
      assert.equal(await res.get({ timeout: 5 }), 20);
      assert.equal((await listJson(env, url, Q)).length, name === 'redis' ? 4 : 3);
    });

    test('purge deletes by id, then --all; without -f it asks first', async (t) => {
      if (skip) return t.skip('no python or redis-server');
      const no = await celeriac(['-b', url, 'quarantine', 'purge', '-Q', Q, ids.badEta!], env, 'n\n');
      assert.equal(no.code, 1, show(no));
      assert.match(no.err, /Aborted!/);
      const one = await celeriac(['-b', url, 'quarantine', 'purge', '-Q', Q, ids.badEta!], env, 'y\n');
      assert.equal(one.code, 0, show(one));
      assert.match(one.out, /Purged 1 message from the quarantine/);
      const rest = await listJson(env, url, Q);
      assert.ok(!rest.some((e) => e.taskId === ids.badEta));
      const all = await celeriac(['-b', url, 'quarantine', 'purge', '-Q', Q, '--all', '-f'], env);
      assert.equal(all.code, 0, show(all));
      assert.match(all.out, new RegExp(`Purged ${rest.length} messages from the quarantine`));
      assert.deepEqual(await listJson(env, url, Q), []);
    });

    test('bounds: worker_quarantine_max_messages keeps the newest; worker_quarantine_max_age drops the old', async (t) => {
      if (skip) return t.skip('no python or redis-server');
      const bounded = new Celery({ broker_url: url, task_default_queue: QB, worker_quarantine_max_messages: 2, worker_quarantine_max_age: 1.5, ...maxpri, env: {} });
      const w = new Worker(bounded, { hostname: 'quarb@ts', concurrency: 1, logger: testLogger(), withoutMingle: true });
      await w.start();
      try {
        const sent: string[] = [];
        for (let i = 0; i < 4; i++) sent.push((await bounded.sendTask('py.only', [i, i], {}, { queue: QB })).id);
        const store = broker.quarantineStore!();
        await until('4 refused', () => w.refusals.counts['unknown-task'] === 4);
        // two kept: the last two to arrive (four refusals settle concurrently, so not always the last two sent)
        await until('two kept', async () => (await store.list(QB)).length === 2);
        assert.ok((await store.list(QB)).every((e) => sent.includes(e.taskId!)));
        // past the age: gone (Redis trims as it reads; RabbitMQ expires them by x-message-ttl)
        await new Promise((r) => setTimeout(r, 2000));
        assert.deepEqual(await store.list(QB), []);
        if (name === 'amqp') {
          const conn = await amqplib.connect(amqplibUrl());
          const ch = await conn.createChannel();
          const ok = await ch.checkQueue(`${QB}.celeriac.invalid`);
          assert.equal(ok.messageCount, 0);
          await conn.close();
        } else {
          const c = new Redis(url);
          const ttl = await c.pttl(`${QB}.celeriac.invalid`);
          assert.ok(ttl === -2 || ttl <= 1500, `the list expires with the age (${ttl})`);
          await c.quit();
        }
      } finally {
        await w.stop();
        await bounded.close();
      }
    });

    if (name === 'redis') {
      test('an element an earlier celeriac moved aside (bare bytes) lists as legacy and can be requeued', async (t) => {
        if (skip) return t.skip('no python or redis-server');
        const c = new Redis(url);
        const env2 = encodeRedisEnvelope(taskRaw(Q, 'q.add', 'legacy-1', [1, 2]));
        await c.lpush(`${Q}.celeriac.invalid`, Buffer.from(env2));
        const [entry] = await listJson(env, url, Q);
        assert.equal(entry!.kind, 'legacy');
        assert.equal(entry!.taskId, 'legacy-1');
        const d = decodeQuarantineElement(Buffer.from(env2), Q);
        assert.equal(d.message.id, entry!.id, 'a stable id from the bytes');
        const r = await celeriac(['-b', url, 'quarantine', 'requeue', '-Q', Q, '--all'], env);
        assert.equal(r.code, 0, show(r));
        assert.equal(await c.llen(`${Q}.celeriac.invalid`), 0);
        await c.quit();
      });
    }
  });
}
