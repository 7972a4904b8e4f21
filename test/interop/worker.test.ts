// Python sends, TypeScript runs: real Celery 5.6 (send_task / apply_async) sends tasks that a celeriac
// Worker in this process runs; Python's AsyncResult reads the outcome. One suite, run over each broker
// of the matrix (Redis db 12, RabbitMQ), results in Redis db 12.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import type { Celery } from '../../src/app.ts';
import { signals } from '../../src/signals.ts';
import { Worker } from '../../src/worker/worker.ts';
import { setTaskHooks, type BoundTask } from '../../src/worker/task.ts';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { DB, get as getWith, newApp, peer as peerWith, send as sendWith, sleep, testLogger, type Outcome, type PeerUrls } from '../helpers/worker.ts';

for (const b of brokerMatrix(DB)) workerSuite(b);

function workerSuite(b: BrokerCase): void {
const URLS: PeerUrls = { broker: b.brokerUrl, backend: b.backendUrl };
const peer = (ops: object[], conf: object = {}) => peerWith(ops, conf, URLS);
let releaseSlow: () => void = () => {};
const send = (name: string, args: unknown[] = [], options: object = {}, kwargs: object = {}) => sendWith(name, args, options, kwargs, URLS);
const get = (id: string, timeout = 10) => getWith(id, timeout, URLS);
const QUEUE = uniqueName('ts.worker');
const NODE = `${QUEUE}@%h`;
let app: Celery;
let worker: Worker;
let skip = false;
const hookCalls: string[] = [];
const signalCalls: string[] = [];
const disconnect: (() => void)[] = [];
let flakyAttempts = 0;

class CustomError extends Error {
  override name = 'CustomError';
}

describe(`[${b.name}] a TypeScript worker runs what Python Celery sent`, () => {
  before(async () => {
    const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
    if (!requirePython(probe as never)) return;
    app = newApp(QUEUE, { result_extended: true }, URLS);
    app.task('tsw.add', (x: number, y: number) => x + y);
    app.task('tsw.kw', (a: number, factor: number) => a * factor);  // factor arrives by keyword, as Python binds it
    app.task('tsw.fail', (msg: string) => {
      throw new RangeError(msg);
    });
    app.task('tsw.custom_fail', () => {
      throw new CustomError('custom boom');
    });
    app.task('tsw.flaky', (self: BoundTask, x: number) => {
      flakyAttempts++;
      if (self.request.retries < 1) return self.retry({ countdown: 0.2, exc: new Error('flaky once') });
      return x * 2;
    }, { bind: true });
    app.task('tsw.flaky_slow', (self: BoundTask, x: number) => {
      if (self.request.retries < 1) return self.retry({ countdown: 2, exc: new Error('flaky once') });
      return x * 2;
    }, { bind: true });
    app.task('tsw.always_retry', (self: BoundTask) => self.retry({ countdown: 0.05, exc: new TypeError('nope') }), { bind: true, maxRetries: 2 });
    app.task('tsw.auto', (n: number) => {
      flakyAttempts++;
      if (flakyAttempts % 2 === 1) throw new CustomError(`auto ${n}`);
      return n;
    }, { autoretryFor: [CustomError], retryBackoff: false, defaultRetryDelay: 0.1 });
    app.task('tsw.progress', async (self: BoundTask) => {
      await self.updateState('PROGRESS', { done: 1, total: 2 });
      // long enough for the Python peer (a new process) to see it on a loaded machine
      await sleep(4000);
      return 'done';
    }, { bind: true });
    app.task('tsw.slow', async (ms: number) => {
      // held until the test has seen STARTED (or ms at most), so a slow peer never misses the state
      await Promise.race([sleep(ms), new Promise<void>((resolve) => { releaseSlow = resolve; })]);
      return ms;
    }, { trackStarted: true });
    app.task('tsw.now', () => Date.now() / 1000);
    app.task('tsw.context', (self: BoundTask, ...rest: unknown[]) => {
      const r = self.request;
      return {
        id: r.id, task: r.task, retries: r.retries, root_id: r.root_id, parent_id: r.parent_id, headers: r.headers,
        routing_key: r.delivery_info.routing_key, exchange: r.delivery_info.exchange, hostname: r.hostname,
        args: r.args, kwargs: r.kwargs, group: r.group, correlation_id: r.correlation_id, reply_to: r.reply_to,
        origin: r.origin, is_eager: r.is_eager, ignore_result: r.ignore_result, rest: rest as never,
      };
    }, { bind: true, params: ['*args', '**kwargs'] });  // Python's (self, *args, **kwargs)
    app.task('tsw.hooked', (x: number) => {
      if (x < 0) throw new Error('negative');
      return x;
    });
    setTaskHooks(app, 'tsw.hooked', {
      beforeStart: (id) => void hookCalls.push(`before:${id}`),
      onSuccess: (retval, id) => void hookCalls.push(`success:${id}:${String(retval)}`),
      onFailure: (exc, id) => void hookCalls.push(`failure:${id}:${(exc as Error).message}`),
      afterReturn: (status, _r, id) => void hookCalls.push(`after:${id}:${status}`),
    });
    disconnect.push(signals.task_prerun.connect(({ task_id }) => void signalCalls.push(`prerun:${task_id}`), { sender: 'tsw.hooked' }));
    disconnect.push(signals.task_postrun.connect(({ task_id, state }) => void signalCalls.push(`postrun:${task_id}:${state}`), { sender: 'tsw.hooked' }));
    disconnect.push(signals.task_success.connect(({ request }) => void signalCalls.push(`success:${request.id}`), { sender: 'tsw.hooked' }));
    disconnect.push(signals.task_failure.connect(({ task_id }) => void signalCalls.push(`failure:${task_id}`), { sender: 'tsw.hooked' }));
    worker = new Worker(app, { queues: [QUEUE], concurrency: 4, hostname: NODE, logger: testLogger() });
    await worker.start();
  });

  after(async () => {
    for (const d of disconnect) d();
    if (!skip) await worker.stop();
    if (!skip) await app.close();
    if (b.name === 'amqp') await deleteAmqpQueues([QUEUE]);
  });

  test('SUCCESS values, args and kwargs', async (t) => {
    if (skip) return t.skip();
    const [a, b] = (await peer([
      { op: 'send', name: 'tsw.add', args: [2, 3], options: { queue: QUEUE } },
      { op: 'send', name: 'tsw.kw', args: [6], kwargs: { factor: 7 }, options: { queue: QUEUE } },
    ])) as string[];
    const [ra, rb] = (await peer([{ op: 'get_many', ids: [a, b] }]))[0] as Outcome[];
    assert.equal(ra!.state, 'SUCCESS');
    assert.equal(ra!.result, 5);
    assert.equal(rb!.result, 42);
    // result_extended fields as Celery stores them
    assert.equal(ra!.meta!.name, 'tsw.add');
    assert.deepEqual(ra!.meta!.args, [2, 3]);
    assert.equal(ra!.meta!.queue, QUEUE);
    assert.equal(ra!.meta!.worker, NODE.replace('%h', hostname()));
  });

  test('FAILURE: the exception with its message and a traceback', async (t) => {
    if (skip) return t.skip();
    const [a, b] = (await peer([
      { op: 'send', name: 'tsw.fail', args: ['bad value'], options: { queue: QUEUE } },
      { op: 'send', name: 'tsw.custom_fail', options: { queue: QUEUE } },
    ])) as string[];
    const [ra, rb] = (await peer([{ op: 'get_many', ids: [a, b] }]))[0] as Outcome[];
    assert.equal(ra!.state, 'FAILURE');
    assert.deepEqual(ra!.exception, { exc_type: 'ValueError', exc_module: 'builtins', args: ['bad value'] });
    assert.match(ra!.traceback!, /^Traceback \(most recent call last\):\n/);
    assert.match(ra!.traceback!, /worker\.test\.ts", line \d+, in /);
    assert.match(ra!.traceback!, /ValueError: bad value\n$/);
    assert.equal(rb!.state, 'FAILURE');
    assert.equal(rb!.exception!.exc_type, 'CustomError');
    assert.deepEqual(rb!.exception!.args, ['custom boom']);
    assert.match(rb!.traceback!, /celeriac\.CustomError: custom boom/);
  });

  test('RETRY then SUCCESS with the same id and retries=1', async (t) => {
    if (skip) return t.skip();
    flakyAttempts = 0;
    const id = await send('tsw.flaky', [21], { queue: QUEUE });
    const [seen, out] = (await peer([
      { op: 'wait_state', id, state: 'RETRY', timeout: 10 },
      { op: 'get', id, timeout: 10 },
    ])) as [{ state: string; info: unknown }, Outcome];
    assert.ok(['RETRY', 'SUCCESS'].includes(seen.state));
    assert.equal(out.state, 'SUCCESS');
    assert.equal(out.result, 42);
    assert.equal(out.meta!.retries, 1);
    assert.equal(flakyAttempts, 2);
  });

  test('RETRY state carries the causing exception', async (t) => {
    if (skip) return t.skip();
    const id = await send('tsw.flaky_slow', [1], { queue: QUEUE });
    const [seen] = (await peer([{ op: 'wait_state', id, state: 'RETRY', timeout: 10 }])) as [{ state: string; info: Outcome['exception'] }];
    assert.equal(seen.state, 'RETRY');
    assert.deepEqual(seen.info, { exc_type: 'Exception', exc_module: 'builtins', args: ['flaky once'] });
    assert.equal(((await get(id)) as Outcome).result, 2);
  });

  test('max_retries exceeded re-raises the exc; autoretry_for retries', async (t) => {
    if (skip) return t.skip();
    flakyAttempts = 0;
    const [a, b] = (await peer([
      { op: 'send', name: 'tsw.always_retry', options: { queue: QUEUE } },
      { op: 'send', name: 'tsw.auto', args: [9], options: { queue: QUEUE } },
    ])) as string[];
    const [ra, rb] = (await peer([{ op: 'get_many', ids: [a, b] }]))[0] as Outcome[];
    assert.equal(ra!.state, 'FAILURE');
    assert.deepEqual(ra!.exception, { exc_type: 'TypeError', exc_module: 'builtins', args: ['nope'] });
    assert.equal(ra!.meta!.retries, 2);
    assert.equal(rb!.state, 'SUCCESS');
    assert.equal(rb!.result, 9);
    assert.equal(rb!.meta!.retries, 1);
  });

  test('custom PROGRESS state via AsyncResult.info', async (t) => {
    if (skip) return t.skip();
    const id = await send('tsw.progress', [], { queue: QUEUE });
    const [seen, out] = (await peer([
      { op: 'wait_state', id, state: 'PROGRESS', timeout: 10 },
      { op: 'get', id },
    ])) as [{ state: string; info: unknown }, Outcome];
    assert.equal(seen.state, 'PROGRESS');
    assert.deepEqual(seen.info, { done: 1, total: 2 });
    assert.equal(out.result, 'done');
  });

  test('STARTED with track_started (pid + hostname)', async (t) => {
    if (skip) return t.skip();
    const id = await send('tsw.slow', [30_000], { queue: QUEUE });
    const [seen] = (await peer([{ op: 'wait_state', id, state: 'STARTED', timeout: 20 }])) as [{ state: string; info: Record<string, unknown> }];
    releaseSlow();
    const [out] = (await peer([{ op: 'get', id }])) as [Outcome];
    assert.equal(seen.state, 'STARTED');
    assert.equal(seen.info.pid, process.pid);
    assert.equal(seen.info.hostname, worker.hostname);
    assert.equal(out.result, 30_000);
  });

  test('unknown task name: FAILURE NotRegistered, message rejected', async (t) => {
    if (skip) return t.skip();
    const unknown: string[] = [];
    const onUnknown = (name: string) => unknown.push(name);
    worker.on('task-unknown', onUnknown);
    const id = await send('tsw.nope', [1], { queue: QUEUE });
    const out = await get(id);
    worker.off('task-unknown', onUnknown);
    assert.equal(out.state, 'FAILURE');
    assert.equal(out.exception!.exc_type, 'NotRegistered');
    assert.deepEqual(out.exception!.args, ['tsw.nope']);
    assert.equal(out.traceback, null);
    assert.deepEqual(unknown, ['tsw.nope']);
    assert.equal(await app.broker.queueLength(QUEUE), 0);
    // the record a Python worker stores for an unknown task (Consumer.on_unknown_task): children [], not null
    const [meta] = (await peer([{ op: 'meta', id }])) as [Record<string, unknown>];
    assert.deepEqual(
      { status: meta.status, result: meta.result, traceback: meta.traceback, children: meta.children },
      { status: 'FAILURE', result: { exc_type: 'NotRegistered', exc_module: 'celery.exceptions', args: ['tsw.nope'] }, traceback: null, children: [] },
    );
  });

  test('countdown and eta are respected without blocking other tasks', async (t) => {
    if (skip) return t.skip();
    const eta = new Date(Date.now() + 2500).toISOString();
    const sentAt = Date.now() / 1000;
    const [c, e, quick] = (await peer([
      { op: 'send', name: 'tsw.now', options: { queue: QUEUE, countdown: 2 } },
      { op: 'send', name: 'tsw.now', options: { queue: QUEUE, eta } },
      { op: 'send', name: 'tsw.now', options: { queue: QUEUE } },
    ])) as string[];
    const [rc, re, rq] = (await peer([{ op: 'get_many', ids: [quick, c, e], timeout: 15 }]))[0] as Outcome[];
    assert.equal(rc!.state, 'SUCCESS');
    assert.ok((rc!.result as number) < sentAt + 2, 'the plain task ran at once');
    assert.ok((re!.result as number) >= sentAt + 2 - 0.05, `countdown respected (${re!.result as number} vs ${sentAt})`);
    assert.ok((rq!.result as number) >= Date.parse(eta) / 1000 - 0.05, 'eta respected');
  });

  test('expired → REVOKED TaskRevokedError("expired"), at receipt and when due', async (t) => {
    if (skip) return t.skip();
    const past = new Date(Date.now() - 60_000).toISOString();
    const [a, b] = (await peer([
      { op: 'send', name: 'tsw.add', args: [1, 1], options: { queue: QUEUE, expires: past } },
      { op: 'send', name: 'tsw.add', args: [1, 1], options: { queue: QUEUE, countdown: 1.5, expires: 0.5 } },
    ])) as string[];
    const [ra, rb] = (await peer([{ op: 'get_many', ids: [a, b], timeout: 10 }]))[0] as Outcome[];
    for (const r of [ra!, rb!]) {
      assert.equal(r.state, 'REVOKED');
      assert.equal(r.exception!.exc_type, 'TaskRevokedError');
      assert.deepEqual(r.exception!.args, ['expired']);
    }
  });

  test('bound task context: id, retries, root/parent ids, custom headers, routing key, hostname', async (t) => {
    if (skip) return t.skip();
    const id = await send('tsw.context', [1, 'two'], {
      queue: QUEUE, headers: { 'x-tenant': 'acme', trace: [1, 2] }, root_id: 'root-1', parent_id: 'parent-1',
    }, { k: true });
    const out = await get(id);
    assert.equal(out.state, 'SUCCESS');
    const r = out.result as Record<string, unknown>;
    assert.equal(r.id, id);
    assert.equal(r.task, 'tsw.context');
    assert.equal(r.retries, 0);
    assert.equal(r.root_id, 'root-1');
    assert.equal(r.parent_id, 'parent-1');
    assert.deepEqual(r.headers, { 'x-tenant': 'acme', trace: [1, 2] });
    assert.equal(r.routing_key, QUEUE);
    assert.equal(r.hostname, worker.hostname);
    assert.deepEqual(r.args, [1, 'two']);
    assert.deepEqual(r.kwargs, { k: true });
    assert.deepEqual(r.rest, [1, 'two', { k: true }], 'declared **kwargs: the keywords as one last object, after the *args');
    assert.equal(r.is_eager, false);
    assert.equal(typeof r.correlation_id, 'string');
    assert.match(String(r.origin), /^gen\d+@/);
  });

  test('hooks and signals, in Celery order', async (t) => {
    if (skip) return t.skip();
    hookCalls.length = 0;
    signalCalls.length = 0;
    const [ok, bad] = (await peer([
      { op: 'send', name: 'tsw.hooked', args: [5], options: { queue: QUEUE } },
      { op: 'send', name: 'tsw.hooked', args: [-1], options: { queue: QUEUE } },
    ])) as string[];
    await peer([{ op: 'get_many', ids: [ok, bad] }]);
    await sleep(100);
    const of = (id: string, xs: string[]) => xs.filter((x) => x.includes(id!));
    assert.deepEqual(of(ok!, hookCalls), [`before:${ok}`, `success:${ok}:5`, `after:${ok}:SUCCESS`]);
    assert.deepEqual(of(bad!, hookCalls), [`before:${bad}`, `failure:${bad}:negative`, `after:${bad}:FAILURE`]);
    assert.deepEqual(of(ok!, signalCalls), [`prerun:${ok}`, `success:${ok}`, `postrun:${ok}:SUCCESS`]);
    assert.deepEqual(of(bad!, signalCalls), [`prerun:${bad}`, `failure:${bad}`, `postrun:${bad}:FAILURE`]);
  });

  test('chain continues and link callbacks get the result', async (t) => {
    if (skip) return t.skip();
    const [ids, linked] = (await peer([
      { op: 'chain', steps: [['tsw.add', [1, 1]], ['tsw.add', [10]], ['tsw.add', [100]]], options: { queue: QUEUE } },
      { op: 'link', name: 'tsw.add', args: [2, 2], link: ['tsw.add', [1000]], options: { queue: QUEUE } },
    ])) as [string[], string[]];
    const outs = (await peer([{ op: 'get_many', ids: [...ids, ...linked] }]))[0] as Outcome[];
    assert.deepEqual(outs.map((o) => o.result), [2, 12, 112, 4, 1004]);
    assert.equal(outs[1]!.meta!.parent_id, ids[0]);
    assert.equal(outs[2]!.meta!.parent_id, ids[1]);
    assert.equal(outs[4]!.meta!.parent_id, linked[0]);
  });
});
}
