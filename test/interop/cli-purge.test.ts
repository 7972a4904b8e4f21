// `celeriac purge` against Python's `celery purge` on the same queues, on Redis (a private redis-server,
// so no other test's queue is ever touched) and RabbitMQ (unique queue names): the same lines, the same
// exit statuses, the same effect (every Redis priority sub-queue emptied; queues not named untouched),
// the same confirmation question without -f (answered on standard input, as click reads it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createBroker } from '../../src/brokers/index.ts';
import type { Broker } from '../../src/broker.ts';
import { celeriac, celery, missingPeers, publishWithPython, show } from '../helpers/cli-ops.ts';
import { deleteAmqpQueues, selectedBrokers } from '../helpers/matrix.ts';
import { AMQP_URL, uniqueName } from '../helpers/peers.ts';
import { startRedis, stopAll, type PrivateRedis } from '../helpers/private-redis.ts';

const QUESTION = (queues: string) => `WARNING:This will remove all tasks from ${queues}.\n` +
  '         There is no undo for this operation!\n\n(to skip this prompt use the -f option)\n' +
  'Are you sure you want to delete all tasks? [y/N]: ';

after(() => stopAll());

for (const name of selectedBrokers()) {
  describe(`[${name}] celeriac purge does what celery purge does`, () => {
    let redis: PrivateRedis | null = null;
    let broker: Broker;
    let env: Record<string, string>;
    let skip = false;
    const qa = uniqueName('ops.purge.a');
    const qb = uniqueName('ops.purge.b');
    const x = uniqueName('ops.purge.x');

    before(async () => {
      if (missingPeers({ python: true, redisServer: name === 'redis' })) {
        skip = true;
        return;
      }
      let url = AMQP_URL;
      if (name === 'redis') {
        redis = await startRedis({ prefix: 'cli-purge' });
        url = `redis://127.0.0.1:${redis.port}/0`;
      }
      env = { OPS_BROKER: url, OPS_QA: qa, OPS_QB: qb, OPS_X: x, ...(name === 'amqp' ? { OPS_MAXPRI: '10' } : {}) };
      broker = createBroker(url, {}, { onError: () => undefined });
      await broker.connect();
    });

    after(async () => {
      if (skip) return;
      await broker.close();
      if (name === 'amqp') await deleteAmqpQueues([qa, qb], [x, qa]);
    });

    /** 4 tasks on qa at priorities 0, 3, 6, 9 (four Redis sub-queues) and 2 on qb. */
    const fill = () => publishWithPython(env, [
      ...[0, 3, 6, 9].map((priority) => ({ task: 'ops.add', args: [priority, 1], queue: qa, priority })),
      { task: 'ops.mul', args: [2, 2], queue: qb },
      { task: 'ops.mul', args: [3, 3], queue: qb },
    ]);
    const lengths = async () => [await broker.queueLength(qa), await broker.queueLength(qb)];

    test('-f -Q: every priority level of the named queue, nothing else; the same line as Celery', async (t) => {
      if (skip) return t.skip('no peers');
      await fill();
      assert.deepEqual(await lengths(), [4, 2]);
      const py = await celery(['purge', '-f', '-Q', qa], env);
      assert.equal(py.code, 0, show(py));
      assert.deepEqual(await lengths(), [0, 2]);
      await fill();
      const ts = await celeriac(['purge', '-f', '-Q', qa], env);
      assert.equal(ts.code, 0, show(ts));
      assert.equal(ts.out, py.out);
      assert.equal(ts.out, 'Purged 4 messages from 1 known task queue.\n');
      assert.deepEqual(await lengths(), [0, 4]);
    });

    test('the app\'s queues minus -X; a queue that does not exist counts 0', async (t) => {
      if (skip) return t.skip('no peers');
      await broker.purge(qb);
      await fill();
      const py = await celery(['purge', '-f', '-X', qa], env);
      await fill();
      const ts = await celeriac(['purge', '-f', '-X', qa], env);
      assert.equal(ts.code, 0, show(ts));
      assert.equal(ts.out, py.out);
      assert.equal(ts.out, 'Purged 2 messages from 1 known task queue.\n');
      assert.deepEqual(await lengths(), [8, 0]);
      const missing = uniqueName('ops.purge.missing');
      const py2 = await celery(['purge', '-f', '-Q', `${qb},${missing}`], env);
      const ts2 = await celeriac(['purge', '-f', '-Q', `${qb},${missing}`], env);
      assert.equal(ts2.code, 0, show(ts2));
      assert.equal(ts2.out, py2.out);
      assert.equal(ts2.out, 'No messages purged from 2 queues.\n');
      assert.equal(ts2.err, '', 'the missing queue is not an error');
      assert.deepEqual(await lengths(), [8, 0]);
    });

    test('without -f: Celery\'s question on stdin; "n" or no answer aborts (exit 1), "y" purges', async (t) => {
      if (skip) return t.skip('no peers');
      await broker.purge(qa);
      await fill();
      for (const input of ['n\n', '']) {
        const py = await celery(['purge'], env, input);
        const ts = await celeriac(['purge'], env, input);
        assert.equal(py.code, 1, show(py));
        assert.equal(ts.code, 1, show(ts));
        assert.equal(ts.out, py.out);
        assert.equal(ts.out, QUESTION(`queues: ${[qa, qb].sort().join(', ')}`));
        assert.equal(ts.err, 'Aborted!\n');
        assert.equal(py.err.trim(), 'Aborted!');
      }
      assert.deepEqual(await lengths(), [4, 2]);
      // click asks again after an answer it does not know
      const py = await celery(['purge', '-Q', qa], env, 'maybe\ny\n');
      await fill();
      const ts = await celeriac(['purge', '-Q', qa], env, 'maybe\ny\n');
      assert.equal(ts.code, 0, show(ts));
      assert.equal(ts.out, py.out);
      assert.equal(ts.out, `${QUESTION(`queue: ${qa}`)}Error: invalid input\n${QUESTION(`queue: ${qa}`)}Purged 4 messages from 1 known task queue.\n`);
      assert.deepEqual(await lengths(), [0, 4]);
    });
  });
}
