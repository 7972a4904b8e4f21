// The rpc:// result backend against real RabbitMQ and real Python Celery 5.6 (result_backend='rpc://'):
// a TypeScript caller reads every state a Python worker publishes to its reply queue, and a Python
// caller (Celery's own RPCBackend) reads what a TypeScript worker publishes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Celery } from '../../src/app.ts';
import { createBackend, RpcBackend, RpcReplyError } from '../../src/backends/index.ts';
import { ResultTimeoutError } from '../../src/backend.ts';
import { AsyncResult } from '../../src/result.ts';
import { Worker } from '../../src/worker/worker.ts';
import { PythonError } from '../../protocol/exceptions.ts';
import { ContentDisallowed } from '../../protocol/errors.ts';
import type { ResultMeta } from '../../protocol/result.ts';
import { AMQP_URL, redisUrl, requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { openAmqp, registerRpcTsTasks, sendTask, type RawAmqp } from '../helpers/rpc.ts';
import { testLogger } from '../helpers/worker.ts';

const PEER = 'test/python/rpc_peer.py';
/** The TypeScript worker of the second suite consumes from Redis db 3; replies go through RabbitMQ. */
const REDIS3 = redisUrl(3);
const statuses = (metas: ResultMeta[]) => metas.map((m) => m.status);

function skipper(): { skip: (why: string) => void; skipped: boolean } {
  const probe = { skipped: false, skip: (why: string) => { probe.skipped = true; console.log(`# skipped: ${why}`); } };
  return probe;
}

// ---------------------------------------------------------------------------------------------
describe('rpc://: a TypeScript caller reads a Python worker\'s replies over RabbitMQ', () => {
  const queue = uniqueName('rpcb.q');
  const probe = skipper();
  let worker: PythonWorker | null = null;
  let amqp: RawAmqp;
  let backend: RpcBackend;

  before(async () => {
    if (!requirePython(probe as never)) return;
    amqp = await openAmqp();
    amqp.cleanup.add(queue);
    backend = new RpcBackend({ broker_url: AMQP_URL, oid: uniqueName('rpcb.reply') });
    worker = await startPythonWorker(
      ['-A', 'rpc_tasks', 'worker', '-P', 'solo', '--without-mingle', '--without-gossip', '--without-heartbeat',
        '-Q', queue, '-n', `${queue}@%h`, '--loglevel=INFO'],
      { env: { CELERIAC_BROKER_URL: AMQP_URL, PYTHONPATH: 'test/python', PYTHONDONTWRITEBYTECODE: '1' }, timeoutMs: 40_000 },
    );
  });
  after(async () => {
    if (probe.skipped) return;
    await backend?.close();
    await worker?.stop();
    await amqp?.close();
  });

  /** What `apply_async` does with this backend: declare the reply queue (`on_task_call`), then send. */
  async function call(name: string, args: unknown[], b: RpcBackend = backend): Promise<string> {
    const id = randomUUID();
    await b.onTaskCall(id);
    await sendTask(amqp.ch, queue, name, args as never, { replyTo: b.oid, id });
    return id;
  }

  test('SUCCESS: every state arrives (STARTED, SUCCESS) matched by task id', async (t) => {
    if (probe.skipped) return t.skip();
    const id = await call('rpc_tasks.add', [2, 3]);
    const seen: ResultMeta[] = [];
    const meta = await backend.waitForReady(id, { timeout: 20, onMessage: (m) => seen.push(m) });
    assert.equal(meta.status, 'SUCCESS');
    assert.equal(meta.result, 5);
    assert.equal(meta.task_id, id);
    assert.deepEqual(meta.children, []);
    assert.deepEqual(statuses(seen), ['STARTED', 'SUCCESS']);
    assert.deepEqual(Object.keys(seen[0]!.result as object), ['pid', 'hostname']);
  });

  test('FAILURE: AsyncResult.get() throws the Python exception with its traceback; the reply can be read once', async (t) => {
    if (probe.skipped) return t.skip();
    const id = await call('rpc_tasks.fail', ['boom', 42]);
    const r = new AsyncResult(id, backend);
    await assert.rejects(r.get({ timeout: 20 }), (err: unknown) => {
      assert.ok(err instanceof PythonError);
      assert.equal(err.excType, 'CustomError');
      assert.equal(err.excModule, 'rpc_tasks');
      assert.deepEqual(err.excMessage, ['boom', 42]);
      assert.match(err.traceback ?? '', /Traceback \(most recent call last\)[\s\S]*rpc_tasks\.CustomError: \('boom', 42\)|CustomError/);
      return true;
    });
    assert.equal(await r.state(), 'FAILURE'); // cached on the AsyncResult that waited
    assert.match((await r.traceback()) ?? '', /Traceback/);
    // Celery's RPC backend only knows what is still on its queue: a fresh AsyncResult sees PENDING
    assert.equal(await new AsyncResult(id, backend).state(), 'PENDING');
  });

  test('RETRY then SUCCESS: the RETRY state carries the exception, the same task id succeeds', async (t) => {
    if (probe.skipped) return t.skip();
    const id = await call('rpc_tasks.retry_once', [7]);
    const seen: ResultMeta[] = [];
    const value = await new AsyncResult<number>(id, backend).get({ timeout: 20, onMessage: (m) => seen.push(m) });
    assert.equal(value, 14);
    assert.deepEqual(statuses(seen), ['STARTED', 'RETRY', 'STARTED', 'SUCCESS']);
    const retry = seen[1]!;
    assert.equal((retry.result as Record<string, unknown>)['exc_type'], 'CustomError');
    assert.deepEqual((retry.result as Record<string, unknown>)['exc_message'], ['first attempt', 7]);
    assert.match(retry.traceback ?? '', /Retry/);
  });

  test('custom PROGRESS states reach onMessage and getTaskMeta while the task runs', async (t) => {
    if (probe.skipped) return t.skip();
    const id = await call('rpc_tasks.progress', [3, 0.3]);
    let polled: ResultMeta | null = null;
    for (let i = 0; i < 100 && polled?.status !== 'PROGRESS'; i++) {
      polled = await backend.getTaskMeta(id);
      if (polled.status !== 'PROGRESS') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(polled?.status, 'PROGRESS');
    assert.equal((polled!.result as Record<string, unknown>)['total'], 3);
    const seen: ResultMeta[] = [];
    const meta = await backend.waitForReady(id, { timeout: 20, onMessage: (m) => seen.push(m) });
    assert.deepEqual(meta.result, { done: 3 });
    // the wait starts with the latest state that had arrived, then every later one
    const progress = seen.filter((m) => m.status === 'PROGRESS').map((m) => (m.result as Record<string, number>)['current']);
    assert.ok(progress.length >= 1 && progress[progress.length - 1] === 3, `PROGRESS states seen: ${JSON.stringify(progress)}`);
    assert.deepEqual(seen.map((m) => m.status).slice(-1), ['SUCCESS']);
  });

  test('replies for other tasks are kept until someone asks (Celery\'s pending buffer)', async (t) => {
    if (probe.skipped) return t.skip();
    const first = await call('rpc_tasks.sleep', [0.2]);
    const second = await call('rpc_tasks.add', [10, 20]);
    assert.equal((await backend.waitForReady(second, { timeout: 20 })).result, 30);
    // the solo worker ran `first` before `second`: its reply arrived while nobody waited for it
    const meta = await backend.getTaskMeta(first);
    assert.equal(meta.status, 'SUCCESS');
    assert.equal((await new AsyncResult<number>(first, backend).get({ timeout: 1 })), 0.2);
  });

  test('waitForReady gives up with TimeoutError; undecodable replies fail the wait with a specific error', async (t) => {
    if (probe.skipped) return t.skip();
    await assert.rejects(backend.waitForReady(randomUUID(), { timeout: 0.3 }), ResultTimeoutError);
    const bad = randomUUID();
    const wait = backend.waitForReady(bad, { timeout: 10 });
    amqp.ch.publish('', backend.oid, Buffer.from('{"status": '), { contentType: 'application/json', contentEncoding: 'utf-8', correlationId: bad });
    await assert.rejects(wait, (e: unknown) => e instanceof RpcReplyError && e.correlationId === bad && /cannot be decoded/.test((e as Error).message));
    // a reply in a content type outside result_accept_content, nobody waiting yet: the next read throws it
    const pickled = randomUUID();
    amqp.ch.publish('', backend.oid, Buffer.from([0x80, 0x04, 0x95]), { contentType: 'application/x-python-serialize', contentEncoding: 'binary', correlationId: pickled });
    await assert.rejects(backend.getTaskMeta(pickled), (e: unknown) => e instanceof RpcReplyError && e.cause instanceof ContentDisallowed);
  });

  test('the reply queue is declared exactly as Celery\'s RPCBackend.binding (Python re-declares it without a conflict)', async (t) => {
    if (probe.skipped) return t.skip();
    const b = new RpcBackend({ broker_url: AMQP_URL, oid: uniqueName('rpcb.decl') });
    try {
      await b.onTaskCall('x');
      // same name, Celery's arguments (durable=False, auto_delete=True, x-expires=86400000): RabbitMQ accepts
      await runPython(PEER, { amqp: AMQP_URL, ops: [{ op: 'declare', queue_name: b.oid }] });
      // control: other arguments are refused (406 PRECONDITION_FAILED), so the check above means something
      await assert.rejects(
        runPython(PEER, { amqp: AMQP_URL, conf: { result_expires: 60 }, ops: [{ op: 'declare', queue_name: b.oid }] }),
        /PRECONDITION_FAILED|inequivalent arg/,
      );
    } finally {
      await b.close();
    }
  });

  test('a lost connection is re-established: the wait goes on, the queue is consumed again, publishing retries', async (t) => {
    if (probe.skipped) return t.skip();
    const b = new RpcBackend({ broker_url: AMQP_URL, oid: uniqueName('rpcb.reconn') });
    const pub = new RpcBackend({ broker_url: AMQP_URL }); // a worker's side of the backend
    const drop = (x: RpcBackend) =>
      (x as unknown as { conn: { connection: { stream: { destroy(err: Error): void } } } }).conn.connection.stream.destroy(new Error('simulated network failure'));
    const success = (id: string, result: string): ResultMeta => ({ status: 'SUCCESS', result, traceback: null, children: [], date_done: null, task_id: id });
    try {
      assert.equal((await b.waitForReady(await call('rpc_tasks.add', [1, 1], b), { timeout: 20 })).result, 2);
      const id = randomUUID();
      const wait = b.waitForReady(id, { timeout: 30 });
      drop(b); // like a broker restart: the auto_delete reply queue goes with the consumer (as in Celery)
      await new Promise((r) => setTimeout(r, 300));
      await b.onTaskCall(id); // waits for the re-declared queue
      await sendTask(amqp.ch, queue, 'rpc_tasks.add', [5, 5], { replyTo: b.oid, id });
      assert.equal((await wait).result, 10);
      // worker side: a publish right after its connection dropped is retried on a new connection
      const first = randomUUID();
      const got1 = b.waitForReady(first, { timeout: 20 });
      await pub.storeResult(success(first, 'one'), { reply_to: b.oid });
      assert.equal((await got1).result, 'one');
      drop(pub);
      const second = randomUUID();
      const got2 = b.waitForReady(second, { timeout: 20 });
      await pub.storeResult(success(second, 'two'), { reply_to: b.oid });
      assert.equal((await got2).result, 'two');
    } finally {
      await b.close();
      await pub.close();
    }
  });

  test('app with result_backend rpc://: the reply queue is the app oid (its reply_to), app.AsyncResult().get() works', async (t) => {
    if (probe.skipped) return t.skip();
    const app = new Celery({ broker_url: AMQP_URL, result_backend: 'rpc://', env: {} });
    try {
      assert.ok(app.backend instanceof RpcBackend);
      assert.equal((app.backend as RpcBackend).oid, app.oid);
      const id = await call('rpc_tasks.add', [20, 22], app.backend as RpcBackend);
      assert.equal(await app.AsyncResult(id).get({ timeout: 20 }), 42);
    } finally {
      await app.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('rpc://: a Python caller (Celery\'s RPCBackend) reads a TypeScript worker\'s replies', () => {
  const queue = uniqueName('rpcts.q');
  const probe = skipper();
  let app: Celery;
  let worker: Worker;

  class CustomError extends Error {
    override name = 'CustomError';
  }

  before(async () => {
    if (!requirePython(probe as never)) return;
    app = new Celery({
      broker_url: REDIS3,
      result_backend: 'rpc://',
      task_default_queue: queue,
      task_track_started: true,
      env: {},
      // the worker consumes from Redis; rpc:// replies go through RabbitMQ
      createBackend: (url, o) => createBackend(url, { ...o, broker_url: AMQP_URL }),
    });
    registerRpcTsTasks(app);
    app.task('rpcts.custom_fail', () => {
      throw new CustomError('custom boom');
    });
    worker = new Worker(app, { queues: [queue], concurrency: 2, hostname: `${queue}@%h`, logger: testLogger() });
    await worker.start();
  });
  after(async () => {
    if (probe.skipped) return;
    await worker?.stop();
    await app?.close();
  });

  test('SUCCESS, FAILURE (with traceback), RETRY then SUCCESS, custom PROGRESS: Python reads them all', async (t) => {
    if (probe.skipped) return t.skip();
    const out = JSON.parse(await runPython(PEER, {
      amqp: AMQP_URL,
      redis: REDIS3,
      ops: [
        { op: 'call', name: 'rpcts.add', args: [2, 3], queue },
        { op: 'call', name: 'rpcts.fail', args: ['bad value'], queue },
        { op: 'call', name: 'rpcts.retry_once', args: [21], queue },
        { op: 'call', name: 'rpcts.progress', args: [2], queue },
        { op: 'call', name: 'rpcts.custom_fail', args: [], queue },
      ],
    })) as { id: string; state: string; value?: unknown; exception?: { type: string; module: string; args: unknown[] }; traceback: string | null; states: { status: string; result: unknown; task_id: string }[] }[];
    const [add, fail, retry, progress, custom] = out as [typeof out[0], typeof out[0], typeof out[0], typeof out[0], typeof out[0]];

    assert.equal(add.value, 5);
    assert.equal(add.state, 'SUCCESS');
    assert.deepEqual(add.states.map((s) => s.status), ['STARTED', 'SUCCESS']);
    assert.ok(add.states.every((s) => s.task_id === add.id));

    assert.equal(fail.state, 'FAILURE');
    assert.deepEqual(fail.exception, { type: 'ValueError', module: 'builtins', args: ['bad value'] });
    assert.match(fail.traceback ?? '', /ValueError: bad value/);

    assert.equal(retry.value, 42);
    assert.deepEqual(retry.states.map((s) => s.status), ['STARTED', 'RETRY', 'STARTED', 'SUCCESS']);
    // on_message gets the reply as published: the exception dict
    assert.deepEqual(retry.states[1]!.result, { exc_type: 'TypeError', exc_message: ['flaky once'], exc_module: 'builtins' });

    assert.deepEqual(progress.value, { done: 2 });
    assert.deepEqual(progress.states.map((s) => s.status), ['STARTED', 'PROGRESS', 'PROGRESS', 'SUCCESS']);
    assert.deepEqual(progress.states[2]!.result, { current: 2, total: 2 });

    assert.equal(custom.state, 'FAILURE');
    assert.equal(custom.exception?.type, 'CustomError');
    assert.deepEqual(custom.exception?.args, ['custom boom']);
  });
});
