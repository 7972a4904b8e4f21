// `celeriac migrate` against Python's `celery migrate`, on a private redis-server (source db 0; the
// destinations other dbs, so no other test's queue is touched) and RabbitMQ (unique queue names):
// - Redis -> Redis: the lines Celery prints; each message lands on the destination with its body,
//   headers and properties unchanged, in the sub-queue of its priority, and leaves the source (-a);
// - Redis -> RabbitMQ -> Redis: unchanged after the round trip; a Python worker runs tasks celeriac
//   migrated to RabbitMQ, and a celeriac worker runs tasks Python's `celery migrate` moved there;
// - nothing lost: an unreachable destination or a publish the destination refuses (exit 69) leaves
//   the messages on the source; -n, copy mode (no -a), -T and -Q renames.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { decodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { celeriac, celery, missingPeers, publishWithPython, show } from '../helpers/cli-ops.ts';
import { deleteAmqpQueues, selectedBrokers } from '../helpers/matrix.ts';
import { AMQP_URL, startPythonWorker, uniqueName } from '../helpers/peers.ts';
import { startRedis, stopAll } from '../helpers/private-redis.ts';

const SEP = '\x06\x16';
const LINE = /^Migrating task (\d+)\/(\d+|\?): (.*)$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

after(() => stopAll());

describe('celeriac migrate moves what celery migrate moves, and loses nothing', () => {
  const qa = uniqueName('ops.mig.a');
  const qb = uniqueName('ops.mig.b');
  const x = uniqueName('ops.mig.x');
  let port = 0;
  let skip: string | null = null;
  const dbs = new Map<number, Redis>();
  const url = (db: number) => `redis://127.0.0.1:${port}/${db}`;
  const env = (db = 0): Record<string, string> => ({ OPS_BROKER: url(db), OPS_QA: qa, OPS_QB: qb, OPS_X: x, OPS_MAXPRI: '10' });
  const redis = (db: number): Redis => {
    let r = dbs.get(db);
    if (!r) dbs.set(db, (r = new Redis({ host: '127.0.0.1', port, db })));
    return r;
  };
  const amqp = selectedBrokers().includes('amqp');

  before(async () => {
    skip = missingPeers({ python: true, redisServer: true });
    if (skip) return;
    port = (await startRedis({ prefix: 'cli-migrate' })).port;
  });
  after(async () => {
    for (const r of dbs.values()) r.disconnect();
    if (amqp && !skip) await deleteAmqpQueues([qa, qb, `${qa}.renamed`], [qa, x]);
  });

  /** Every message of a db's queue lists: key -> decoded envelopes (oldest first). */
  async function contents(db: number): Promise<Map<string, ReturnType<typeof decodeRedisEnvelope>[]>> {
    const out = new Map<string, ReturnType<typeof decodeRedisEnvelope>[]>();
    for (const key of (await redis(db).keys('*')).sort()) {
      if ((await redis(db).type(key)) !== 'list') continue;
      out.set(key, (await redis(db).lrange(key, 0, -1)).reverse().map((e) => decodeRedisEnvelope(e)));
    }
    return out;
  }
  const count = async (db: number) => [...(await contents(db)).values()].reduce((n, l) => n + l.length, 0);
  /** What must survive a migration: everything but the transport's delivery tag and redelivered flag. */
  const essence = (m: ReturnType<typeof decodeRedisEnvelope>) => ({
    body: Buffer.from(m.body).toString('base64'), contentType: m.contentType, contentEncoding: m.contentEncoding,
    headers: m.headers, properties: m.properties, exchange: m.deliveryInfo.exchange, routingKey: m.deliveryInfo.routing_key,
  });
  const byId = (c: Map<string, ReturnType<typeof decodeRedisEnvelope>[]>) => {
    const out = new Map<string, { key: string; m: ReturnType<typeof essence> }>();
    for (const [key, list] of c) for (const m of list) out.set(String(m.headers.id), { key, m: essence(m) });
    return out;
  };

  const ITEMS = [
    ...[0, 3, 6, 9].map((priority) => ({ task: 'ops.add', args: [priority, 1], kwargs: { note: `p${priority}` }, queue: qa, priority, headers: { 'x-trace': `t${priority}` } })),
    { task: 'ops.mul', args: [2, 21], queue: qb },
  ];

  test('Redis -> Redis: the lines celery migrate prints; every message unchanged, in its priority sub-queue', async (t) => {
    if (skip) return t.skip(skip);
    await publishWithPython(env(), ITEMS);
    const py = await celery(['migrate', url(0), url(1), '-a', '-t', '1'], env());
    assert.equal(py.code, 0, show(py));
    assert.equal(await count(0), 0, 'celery moved everything');
    await publishWithPython(env(), ITEMS);
    const source = byId(await contents(0));
    assert.equal(source.size, 5);
    const ts = await celeriac(['migrate', url(0), url(2), '-a'], env());
    assert.equal(ts.code, 0, show(ts));
    const pyLines = py.out.trim().split('\n');
    const tsLines = ts.out.trim().split('\n');
    assert.equal(tsLines.length, 5, show(ts));
    tsLines.forEach((l, i) => assert.match(l, new RegExp(`^Migrating task ${i + 1}/5: \\[`)));
    // the same bodies, printed the same way; the order is the consumer's (priority first; which of two
    // queues goes first at one priority depends on where the queue cycle stands)
    assert.deepEqual(tsLines.map((l) => LINE.exec(l)![3]).sort(), pyLines.map((l) => LINE.exec(l)![3]).sort());
    assert.equal(pyLines.length, 5);
    // on the destination: the same lists as Celery made, each message as it was on the source
    const celeryDest = await contents(1);
    const ours = await contents(2);
    assert.deepEqual([...ours.keys()], [...celeryDest.keys()]);
    assert.deepEqual([...ours.keys()].sort(), [qa, `${qa}${SEP}3`, `${qa}${SEP}6`, `${qa}${SEP}9`, qb].sort());
    for (const [id, { key, m }] of byId(ours)) assert.deepEqual({ key, m }, source.get(id), `message ${id}`);
    assert.equal(await count(0), 0);
    assert.equal(await redis(0).hlen('unacked'), 0, 'nothing left unacked on the source');
  });

  test('Redis -> RabbitMQ -> Redis unchanged; Python runs what celeriac moved, celeriac what celery moved', { skip: !amqp }, async (t) => {
    if (skip) return t.skip(skip);
    const ids = await publishWithPython(env(), ITEMS.slice(0, 4));
    const original = byId(await contents(0));
    let r = await celeriac(['migrate', url(0), AMQP_URL, '-a'], env());
    assert.equal(r.code, 0, show(r));
    assert.equal(r.out.trim().split('\n').length, 4, show(r));
    assert.equal(await count(0), 0);
    r = await celeriac(['migrate', AMQP_URL, url(3), '-a'], env());
    assert.equal(r.code, 0, show(r));
    const back = byId(await contents(3));
    assert.deepEqual([...back.keys()].sort(), [...ids].sort());
    for (const [id, v] of back) assert.deepEqual(v, original.get(id), `message ${id} after the round trip`);

    // a Python worker on RabbitMQ runs the tasks celeriac moved there
    const resultsDb = 4;
    const moved = await publishWithPython(env(), [{ task: 'ops.add', args: [40, 2], queue: qa }, { task: 'ops.mul', args: [6, 7], queue: qa, priority: 5 }]);
    r = await celeriac(['migrate', url(0), AMQP_URL, '-a'], env());
    assert.equal(r.code, 0, show(r));
    const workerEnv = { ...env(), OPS_BROKER: AMQP_URL, OPS_BACKEND: url(resultsDb) };
    const worker = await startPythonWorker(['-A', 'ops_peer', 'worker', '-P', 'solo', '-Q', qa, '-n', `${qa}@%h`, '--without-mingle', '--without-gossip', '-l', 'info'],
      { cwd: 'test/python', env: workerEnv });
    try {
      assert.deepEqual(await results(resultsDb, moved), [42, 42]);
    } finally {
      await worker.stop();
    }

    // celeriac's worker runs the tasks Python's celery migrate moved there
    const pyMoved = await publishWithPython(env(), [{ task: 'ops.add', args: [1, 2], queue: qa }, { task: 'ops.mul', args: [3, 3], queue: qa }]);
    const py = await celery(['migrate', url(0), AMQP_URL, '-a', '-t', '1'], env());
    assert.equal(py.code, 0, show(py));
    const tsWorker = spawn(process.execPath, [resolve('bin/celeriac.js'), 'worker', '-A', resolve('test/helpers/ops-app.ts'), '-Q', qa, '-c', '1', '-n', `ts.${qa}@%h`],
      { env: { ...process.env, CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', ...workerEnv }, stdio: 'ignore' });
    try {
      assert.deepEqual(await results(resultsDb, pyMoved), [3, 9]);
    } finally {
      const exited = new Promise((res) => tsWorker.once('exit', res));
      tsWorker.kill('SIGTERM');
      await exited;
    }
  });

  /** The results of `ids` in the Redis backend, waiting up to 40 s for all. */
  async function results(db: number, ids: string[]): Promise<unknown[]> {
    const end = Date.now() + 40_000;
    for (;;) {
      const metas = await Promise.all(ids.map((id) => redis(db).get(`celery-task-meta-${id}`)));
      if (metas.every((m) => m !== null)) {
        return metas.map((m) => {
          const meta = JSON.parse(m!) as { status: string; result: unknown };
          assert.equal(meta.status, 'SUCCESS', m!);
          return meta.result;
        });
      }
      if (Date.now() > end) throw new Error(`no result for ${ids.join(', ')}`);
      await sleep(200);
    }
  }

  test('nothing lost: an unreachable destination, or a publish it refuses, leaves the messages on the source', async (t) => {
    if (skip) return t.skip(skip);
    await redis(0).flushdb();
    await publishWithPython(env(), ITEMS.slice(0, 3));
    let r = await celeriac(['migrate', url(0), 'redis://127.0.0.1:1/0', '-a'], env());
    assert.equal(r.code, 69, show(r));
    assert.match(r.err, /^celeriac migrate: BrokerConnectionError: cannot connect to the Redis broker redis:\/\/127\.0\.0\.1:1\/0/);
    assert.equal(await count(0), 3);
    // the destination has no binding for this message's exchange: Redis cannot route it (kombu would drop it)
    // (the priority 6 one: taken after the other two)
    const [element] = await redis(0).rpop(`${qa}${SEP}6`, 1) as string[];
    const doc = JSON.parse(element!) as { properties: { delivery_info: Record<string, string> }; headers: { id: string } };
    const badId = doc.headers.id;
    doc.properties.delivery_info = { exchange: 'ops.nowhere', routing_key: 'zzz' };
    await redis(0).rpush(`${qa}${SEP}6`, JSON.stringify(doc));
    r = await celeriac(['migrate', url(0), url(5), '-a'], env());
    assert.equal(r.code, 69, show(r));
    assert.match(r.err, /UnroutableError: message to exchange "ops\.nowhere" with routing key "zzz" matches no queue/);
    const left = byId(await contents(0));
    assert.deepEqual([...left.keys()], [badId], 'the refused message is still on the source');
    assert.equal(await count(5), 2, 'the others were moved');
    assert.equal(r.out.trim().split('\n').length, 2);
    assert.equal(await redis(0).hlen('unacked'), 0);
  });

  test('-n stops after n; without -a a copy; -T only those tasks; -Q src:dest renames', async (t) => {
    if (skip) return t.skip(skip);
    await redis(0).flushdb();
    await redis(6).flushdb();
    await publishWithPython(env(), [1, 2, 3].map((i) => ({ task: 'ops.add', args: [i, i], queue: qa })));
    let r = await celeriac(['migrate', url(0), url(6), '-a', '-n', '2'], env());
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(r.out.trim().split('\n').map((l) => LINE.exec(l)!.slice(1, 3).join('/')), ['1/3', '2/3']);
    assert.deepEqual([await count(0), await count(6)], [1, 2]);
    r = await celeriac(['migrate', url(0), url(6)], env());
    assert.equal(r.code, 0, show(r));
    assert.deepEqual([await count(0), await count(6)], [1, 3], 'copied: still on the source');
    assert.equal(await redis(0).hlen('unacked'), 0, 'given back at once, not left for the visibility timeout');
    await publishWithPython(env(), [{ task: 'ops.mul', args: [5, 5], queue: qa }, { task: 'ops.other', args: [1], queue: qa }]);
    r = await celeriac(['migrate', url(0), url(7), '-a', '-T', 'ops.mul,ops.other'], env());
    assert.equal(r.code, 0, show(r));
    assert.equal(r.out.trim().split('\n').length, 2, show(r));
    assert.deepEqual([...(await contents(0)).values()].flat().map((m) => m.headers.task), ['ops.add']);
    r = await celeriac(['migrate', url(0), url(8), '-a', '-Q', `${qa}:${qa}.renamed`], env());
    assert.equal(r.code, 0, show(r));
    assert.deepEqual([...(await contents(8)).keys()], [`${qa}.renamed`]);
    assert.equal(await count(0), 0);
    r = await celeriac(['migrate', url(0), url(8), '-n', '0'], env());
    assert.equal(r.code, 64, show(r));
    assert.match(r.err, /-n\/--limit must be an integer >= 1/);
    r = await celeriac(['migrate', url(0), url(0)], env());
    assert.equal(r.code, 64, show(r));
    assert.match(r.err, /SOURCE and DESTINATION are the same broker/);
  });
});
