// `celeriac list bindings` against Python's `celery list bindings`.
// - Redis (a private redis-server): the same header and rows (in any order: SMEMBERS keeps none), a
//   binding another process stored in one of the app's exchanges included; `--all` adds the binding
//   sets of every other exchange.
// - RabbitMQ: Celery needs pyrabbit and the management plugin for this. On the shared broker (no
//   management API on 15672) celeriac fails as Celery's command does when it cannot list: "Your
//   transport cannot list bindings" (exit 64), with the reason. On a private node with the management
//   plugin started, it lists the app's bindings from the management API (`--all`: the default
//   exchange's too).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { celeriac, celery, missingPeers, show } from '../helpers/cli-ops.ts';
import { deleteAmqpQueues, selectedBrokers } from '../helpers/matrix.ts';
import { AMQP_URL, uniqueName } from '../helpers/peers.ts';
import { privateRabbit, type PrivateRabbit } from '../helpers/private-rabbit.ts';
import { portOpen, startRedis, stopAll } from '../helpers/private-redis.ts';

after(() => stopAll());

const HEADER = 'Queue                        Exchange                     Routing Key\n' +
  '----------------             ----------------             ----------------\n';
const line = (q: string, e: string, r: string) => `${q.padEnd(28)} ${e.padEnd(28)} ${r}\n`;


const brokers = selectedBrokers();

if (brokers.includes('redis')) {
  describe('[redis] celeriac list bindings prints the rows celery list bindings prints', () => {
    const qa = uniqueName('ops.list.a');
    const qb = uniqueName('ops.list.b');
    const x = uniqueName('ops.list.x');
    let env: Record<string, string>;
    let redis: Redis | null = null;

    before(async () => {
      if (missingPeers({ python: true, redisServer: true })) return;
      const server = await startRedis({ prefix: 'cli-list' });
      env = { OPS_BROKER: `redis://127.0.0.1:${server.port}/0`, OPS_QA: qa, OPS_QB: qb, OPS_X: x };
      redis = new Redis({ host: '127.0.0.1', port: server.port });
    });
    after(() => redis?.disconnect());

    test('the app\'s exchanges, with bindings other processes stored there; --all every exchange', async (t) => {
      if (!redis) return t.skip('no peers');
      // a queue another app bound to the exchange of qa, and an exchange the app does not use
      await redis.sadd(`_kombu.binding.${qa}`, `other.key\x06\x16\x06\x16${qa}.other`);
      await redis.sadd('_kombu.binding.foreign.x', 'fk\x06\x16\x06\x16foreign.q');
      const py = await celery(['list', 'bindings'], env);
      assert.equal(py.code, 0, show(py));
      const ts = await celeriac(['list', 'bindings'], env);
      assert.equal(ts.code, 0, show(ts));
      // the rows as Celery's; their order is SMEMBERS's, which Redis does not keep from one call to the next
      assert.ok(ts.out.startsWith(HEADER), ts.out);
      assert.ok(py.out.startsWith(HEADER), py.out);
      assert.deepEqual(ts.out.split('\n').sort(), py.out.split('\n').sort());
      const rows = ts.out.slice(HEADER.length).split('\n').filter(Boolean).sort();
      assert.deepEqual(rows, [line(qa, qa, qa), line(`${qa}.other`, qa, 'other.key'), line(qb, x, 'b.#')].map((l) => l.trimEnd()).sort());
      const all = await celeriac(['list', 'bindings', '--all'], env);
      assert.equal(all.code, 0, show(all));
      assert.ok(all.out.includes(line('foreign.q', 'foreign.x', 'fk')), all.out);
      assert.equal(all.out.split('\n').filter(Boolean).length, 2 + 4);
    });
  });
}

if (brokers.includes('amqp')) {
  describe('[amqp] celeriac list bindings asks the management API, or says it cannot list', () => {
    const qa = uniqueName('ops.list.a');
    const qb = uniqueName('ops.list.b');
    const x = uniqueName('ops.list.x');
    let rabbit: PrivateRabbit | null = null;
    let managementPort = 0;
    let skip = false;

    before(async () => {
      if (missingPeers({ rabbit: true })) {
        skip = true;
        return;
      }
      managementPort = 15600 + Math.floor(Math.random() * 90);
      rabbit = privateRabbit({ conf: [`management.tcp.port = ${managementPort}`, 'management.tcp.ip = 127.0.0.1'] });
      await rabbit.start();
      // the node starts without plugins (see private-rabbit.ts): start the management plugin in it
      await rabbit.ctl('eval', 'application:ensure_all_started(rabbitmq_management).');
    });
    after(async () => {
      await rabbit?.destroy();
      await deleteAmqpQueues([qa, qb], [qa, x]);
    });

    test('without the management plugin: "Your transport cannot list bindings", exit 64', async (t) => {
      if (skip) return t.skip('no rabbitmq');
      if (await portOpen(15672)) return t.skip('the shared RabbitMQ has a management API on 15672');
      const ts = await celeriac(['list', 'bindings'], { OPS_BROKER: AMQP_URL, OPS_QA: qa, OPS_QB: qb, OPS_X: x });
      assert.equal(ts.code, 64, show(ts));
      assert.equal(ts.out, '');
      assert.match(ts.err, /^celeriac list bindings: UsageError: Your transport cannot list bindings: RabbitMQ's management API \(http:\/\/127\.0\.0\.1:15672\/api\/bindings\/%2F\) did not answer \(ECONNREFUSED\)/);
      assert.equal(ts.err.trim().split('\n').length, 1, 'one line');
    });

    test('with the management plugin: the app\'s bindings; --all adds the default exchange\'s', async (t) => {
      if (skip || !rabbit) return t.skip('no rabbitmq');
      const env = { OPS_BROKER: rabbit.url, OPS_QA: qa, OPS_QB: qb, OPS_X: x, OPS_TRANSPORT: JSON.stringify({ manager_port: managementPort }) };
      const ts = await celeriac(['list', 'bindings'], env);
      assert.equal(ts.code, 0, show(ts));
      assert.ok(ts.out.startsWith(HEADER), ts.out);
      assert.deepEqual(ts.out.slice(HEADER.length).split('\n').filter(Boolean).sort(), [line(qa, qa, qa), line(qb, x, 'b.#')].map((l) => l.trimEnd()).sort());
      const all = await celeriac(['list', 'bindings', '--all'], env);
      assert.equal(all.code, 0, show(all));
      for (const l of [line(qa, qa, qa), line(qb, x, 'b.#'), line(qa, '', qa), line(qb, '', qb)]) assert.ok(all.out.includes(l), all.out);
      // wrong credentials: the API's answer, on one line
      const bad = await celeriac(['list', 'bindings'], { ...env, OPS_TRANSPORT: JSON.stringify({ manager_port: managementPort, manager_password: 'nope' }) });
      assert.equal(bad.code, 64, show(bad));
      assert.match(bad.err, /Your transport cannot list bindings: .* answered 401/);
    });
  });
}
