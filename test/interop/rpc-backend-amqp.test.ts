// Result backends over celeriac's own AMQP transport (src/brokers/amqp) and real Python Celery 5.6:
// app.sendTask -> Python worker -> rpc:// reply; the Redis result backend with the AMQP broker; and a
// TypeScript worker consuming from RabbitMQ that answers a Python caller through rpc://.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Celery } from '../../src/app.ts';
import { RpcBackend } from '../../src/backends/index.ts';
import { RedisBackend } from '../../src/backends/redis.ts';
import { Worker } from '../../src/worker/worker.ts';
import { PythonError } from '../../protocol/exceptions.ts';
import type { ResultMeta } from '../../protocol/result.ts';
import { AMQP_URL, redisUrl, requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { openAmqp, registerRpcTsTasks, type RawAmqp } from '../helpers/rpc.ts';
import { testLogger } from '../helpers/worker.ts';

const PEER = 'test/python/rpc_peer.py';
const REDIS3 = redisUrl(3);

function skipper(): { skip: (why: string) => void; skipped: boolean } {
  const probe = { skipped: false, skip: (why: string) => { probe.skipped = true; console.log(`# skipped: ${why}`); } };
  return probe;
}

function pythonWorker(queue: string, backendUrl: string): Promise<PythonWorker> {
  return startPythonWorker(
    ['-A', 'rpc_tasks', 'worker', '-P', 'solo', '--without-mingle', '--without-gossip', '--without-heartbeat',
      '-Q', queue, '-n', `${queue}@%h`, '--loglevel=INFO'],
    { env: { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_BACKEND_URL: backendUrl, PYTHONPATH: 'test/python', PYTHONDONTWRITEBYTECODE: '1' }, timeoutMs: 40_000 },
  );
}

for (const kind of ['rpc', 'redis'] as const) {
  describe(`AMQP broker + ${kind === 'rpc' ? 'rpc://' : 'Redis'} result backend: app.sendTask to a Python worker`, () => {
    const queue = uniqueName(`rpcamqp.${kind}`);
    const backendUrl = kind === 'rpc' ? 'rpc://' : REDIS3;
    const probe = skipper();
    let worker: PythonWorker | null = null;
    let app: Celery;
    let amqp: RawAmqp;

    before(async () => {
      if (!requirePython(probe as never)) return;
      amqp = await openAmqp();
      amqp.cleanup.add(queue);
      worker = await pythonWorker(queue, backendUrl);
      app = new Celery({ broker_url: AMQP_URL, result_backend: backendUrl, task_default_queue: queue, env: {} });
    });
    after(async () => {
      if (probe.skipped) return;
      await app?.close();
      await worker?.stop();
      await amqp?.close();
    });

    test('SUCCESS, FAILURE with traceback, RETRY then SUCCESS, PROGRESS', async (t) => {
      if (probe.skipped) return t.skip();
      assert.ok(kind === 'rpc' ? app.backend instanceof RpcBackend : app.backend instanceof RedisBackend);
      const add = await app.sendTask('rpc_tasks.add', [2, 3]);
      assert.equal(await add.get({ timeout: 20 }), 5);

      const fail = await app.sendTask('rpc_tasks.fail', ['boom', 7]);
      await assert.rejects(fail.get({ timeout: 20 }), (e: unknown) =>
        e instanceof PythonError && e.excType === 'CustomError' && /Traceback/.test(e.traceback ?? ''));

      const seen: ResultMeta[] = [];
      const retry = await app.sendTask('rpc_tasks.retry_once', [4]);
      assert.equal(await retry.get({ timeout: 20, onMessage: (m) => seen.push(m) }), 8);
      if (kind === 'rpc') assert.deepEqual(seen.map((m) => m.status), ['STARTED', 'RETRY', 'STARTED', 'SUCCESS']);
      else assert.equal(seen[seen.length - 1]?.status, 'SUCCESS'); // Redis: the states seen while subscribed

      const progress: ResultMeta[] = [];
      const p = await app.sendTask('rpc_tasks.progress', [2, 0.2]);
      assert.deepEqual(await p.get({ timeout: 20, onMessage: (m) => progress.push(m) }), { done: 2 });
      assert.ok(progress.some((m) => m.status === 'PROGRESS'), `states: ${progress.map((m) => m.status).join(',')}`);
    });
  });
}

describe('AMQP broker + rpc://: a Python caller reads a TypeScript worker consuming from RabbitMQ', () => {
  const queue = uniqueName('rpcamqp.ts');
  const probe = skipper();
  let app: Celery;
  let worker: Worker;
  let amqp: RawAmqp;

  before(async () => {
    if (!requirePython(probe as never)) return;
    amqp = await openAmqp();
    amqp.cleanup.add(queue);
    app = new Celery({ broker_url: AMQP_URL, result_backend: 'rpc://', task_default_queue: queue, task_track_started: true, env: {} });
    registerRpcTsTasks(app);
    worker = new Worker(app, { queues: [queue], concurrency: 2, hostname: `${queue}@%h`, logger: testLogger() });
    await worker.start();
  });
  after(async () => {
    if (probe.skipped) return;
    await worker?.stop();
    await app?.close();
    await amqp?.close();
  });

  test('SUCCESS, FAILURE, RETRY then SUCCESS, PROGRESS', async (t) => {
    if (probe.skipped) return t.skip();
    const out = JSON.parse(await runPython(PEER, {
      amqp: AMQP_URL,
      ops: [
        { op: 'call', name: 'rpcts.add', args: [2, 3], queue },
        { op: 'call', name: 'rpcts.fail', args: ['bad value'], queue },
        { op: 'call', name: 'rpcts.retry_once', args: [21], queue },
        { op: 'call', name: 'rpcts.progress', args: [2], queue },
      ],
    })) as { state: string; value?: unknown; exception?: unknown; traceback: string | null; states: { status: string }[] }[];
    const [add, fail, retry, progress] = out as [typeof out[0], typeof out[0], typeof out[0], typeof out[0]];
    assert.equal(add.value, 5);
    assert.deepEqual(add.states.map((s) => s.status), ['STARTED', 'SUCCESS']);
    assert.deepEqual(fail.exception, { type: 'ValueError', module: 'builtins', args: ['bad value'] });
    assert.match(fail.traceback ?? '', /ValueError: bad value/);
    assert.equal(retry.value, 42);
    assert.deepEqual(retry.states.map((s) => s.status), ['STARTED', 'RETRY', 'STARTED', 'SUCCESS']);
    assert.deepEqual(progress.value, { done: 2 });
    assert.deepEqual(progress.states.map((s) => s.status), ['STARTED', 'PROGRESS', 'PROGRESS', 'SUCCESS']);
  });
});
