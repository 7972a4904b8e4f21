// The worker's pure parts and its ack/reject/store rules, against an in-memory broker and backend.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTaskMessage, encodeTaskMessage } from '../../protocol/index.ts';
import { Reject, Ignore } from '../../protocol/exceptions.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { Celery } from '../../src/app.ts';
import { signals } from '../../src/signals.ts';
import { Context, customHeaders } from '../../src/worker/request.ts';
import { exponentialBackoff, retrySendOptions } from '../../src/worker/retry.ts';
import { formatTraceback } from '../../src/worker/traceback.ts';
import { expandNodename, Worker } from '../../src/worker/worker.ts';
import { silentLogger } from '../../src/worker/log.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { MemBackend, MemBroker } from '../helpers/mem-broker.ts';

function setup(settings: Record<string, unknown> = {}) {
  const broker = new MemBroker();
  const backend = new MemBackend();
  const app = new Celery({
    broker_url: 'redis://x', result_backend: 'redis://y', env: {}, ...settings,
    createBroker: () => broker, createBackend: () => backend,
  });
  return { app, broker, backend };
}

/** A message for `task`: t.add gets (2, 3); the others take no arguments (the worker binds them Python's way). */
function raw(task: string, id: string, extra: Record<string, unknown> = {}): RawMessage {
  const args = task === 't.add' ? [2, 3] : [];
  return encodeTaskMessage(createTaskMessage({ task, id, args, ...extra }), { deliveryInfo: { exchange: '', routing_key: 'q' } });
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await tick(5);
  }
}

// ---- pure parts ----------------------------------------------------------------------------------

describe('worker pure parts', () => {
  test('customHeaders drops Celery keys like Context._get_custom_headers', () => {
    assert.deepEqual(customHeaders({ id: 'x', task: 't', lang: 'py', argsrepr: '()', compression: 'zlib', retries: 0, 'x-a': 1, b: null }), { 'x-a': 1, b: null });
    assert.equal(customHeaders({ id: 'x', stamps: {}, timelimit: [null, null] }), null);
  });

  test('expandNodename: %h %n %d, default name celery', () => {
    assert.equal(expandNodename('w1@%h', 'box.example.com'), 'w1@box.example.com');
    assert.equal(expandNodename('%n-x@%d', 'box.example.com'), 'box-x@example.com');
    assert.equal(expandNodename('%h', 'box'), 'celery@box');
  });

  test('exponentialBackoff is Celery get_exponential_backoff_interval', () => {
    assert.equal(exponentialBackoff(1, 0, 600), 1);
    assert.equal(exponentialBackoff(2, 3, 600), 16);
    assert.equal(exponentialBackoff(1, 20, 600), 600);
    assert.equal(exponentialBackoff(1, 3, 600, true, () => 0.999), 8);
    assert.equal(exponentialBackoff(1, 3, 600, true, () => 0), 0);
  });

  test('retrySendOptions: signature_from_request options, queue from the routing key', () => {
    const msg = createTaskMessage({
      task: 't', id: 'i1', args: [1], rootId: 'r', parentId: 'p', group: 'g', groupIndex: 2, timeLimit: 10, softTimeLimit: 5,
      headers: { 'x-death': [1], tenant: 'a' }, stamps: { s: 1 }, stampedHeaders: ['s'], priority: 3,
    });
    const ctx = new Context(msg, 'celery@h', { exchange: '', routing_key: 'emails' });
    const o = retrySendOptions(ctx, { retries: 1, countdown: 3 } as never) as Record<string, unknown>;
    assert.equal(o.taskId, 'i1');
    assert.equal(o.rootId, 'r');
    assert.equal(o.parentId, 'p');
    assert.equal(o.groupId, 'g');
    assert.equal(o.groupIndex, 2);
    assert.equal(o.timeLimit, 10);
    assert.equal(o.softTimeLimit, 5);
    assert.deepEqual(o.headers, { tenant: 'a' });
    assert.deepEqual(o.stamps, { s: 1 });
    assert.equal(o.priority, 3);
    assert.equal(o.queue, 'emails');
    assert.equal(o.retries, 1);
    assert.equal(o.countdown, 3);
  });

  test('formatTraceback: Python layout, most recent call last', () => {
    function inner() {
      throw new RangeError('bad');
    }
    let err: unknown;
    try {
      inner();
    } catch (e) {
      err = e;
    }
    const tb = formatTraceback(err);
    const lines = tb.trimEnd().split('\n');
    assert.equal(lines[0], 'Traceback (most recent call last):');
    assert.equal(lines.at(-1), 'ValueError: bad');
    assert.match(lines.at(-3)!, /File ".*worker\.test\.ts", line \d+, in inner/);
    assert.equal(lines.at(-2), "throw new RangeError('bad');".padStart(4 + "throw new RangeError('bad');".length));
  });
});

// ---- worker rules --------------------------------------------------------------------------------

describe('worker ack / reject / store rules (in-memory broker)', () => {
  test('early ack before the task runs; SUCCESS stored; prefetch = concurrency × multiplier', async () => {
    const { app, broker, backend } = setup();
    const order: string[] = [];
    app.task('t.add', (x: number, y: number) => {
      order.push(`run (log: ${broker.log.join(',')})`);
      return x + y;
    });
    const w = new Worker(app, { concurrency: 3, logger: silentLogger, queues: ['q'] });
    await w.start();
    assert.deepEqual(broker.prefetch, [12]);
    broker.deliver(raw('t.add', 'a1'));
    await until(() => backend.states('a1').includes('SUCCESS'));
    assert.deepEqual(order, ['run (log: ack:a1)']);
    assert.equal((await backend.getTaskMeta('a1')).result, 5);
    await w.stop();
  });

  test('acks_late: ack after SUCCESS; FAILURE acked (acks_on_failure_or_timeout) or rejected', async () => {
    const { app, broker, backend } = setup();
    app.task('t.late', () => {
      broker.log.push('running');
      return 1;
    }, { acksLate: true });
    app.task('t.late_fail', () => {
      throw new Error('x');
    }, { acksLate: true });
    app.task('t.late_fail_reject', () => {
      throw new Error('x');
    }, { acksLate: true, acksOnFailureOrTimeout: false });
    const w = new Worker(app, { concurrency: 1, logger: silentLogger, queues: ['q'] });
    await w.start();
    broker.deliver(raw('t.late', 'l1'));
    broker.deliver(raw('t.late_fail', 'l2'));
    broker.deliver(raw('t.late_fail_reject', 'l3'));
    await until(() => broker.log.length >= 4);
    assert.deepEqual(broker.log, ['running', 'ack:l1', 'ack:l2', 'reject:l3']);
    assert.deepEqual(backend.states('l2'), ['FAILURE']);
    await w.stop();
  });

  test('Reject → reject(requeue), Ignore → ack, nothing stored', async () => {
    const { app, broker, backend } = setup();
    app.task('t.reject', () => {
      throw new Reject(['no', true]);
    }, { acksLate: true });
    app.task('t.ignore', () => {
      throw new Ignore();
    }, { acksLate: true });
    const w = new Worker(app, { concurrency: 2, logger: silentLogger, queues: ['q'] });
    await w.start();
    broker.deliver(raw('t.reject', 'r1'));
    broker.deliver(raw('t.ignore', 'r2'));
    await until(() => broker.log.length >= 2);
    assert.deepEqual([...broker.log].sort(), ['ack:r2', 'requeue:r1']);
    assert.deepEqual(backend.stored, []);
    await w.stop();
  });

  test('unknown task: rejected, FAILURE NotRegistered with a null traceback; the body is not decoded', async () => {
    const { app, broker, backend } = setup();
    const w = new Worker(app, { logger: silentLogger, queues: ['q'] });
    await w.start();
    const bad = raw('t.unknown', 'u1');
    bad.body = new TextEncoder().encode('{not json');
    broker.deliver(bad);
    await until(() => backend.stored.length > 0);
    assert.deepEqual(broker.log, ['reject:u1']);
    const m = backend.stored[0]!;
    assert.equal(m.status, 'FAILURE');
    assert.deepEqual(m.result, { exc_type: 'NotRegistered', exc_message: ['t.unknown'], exc_module: 'celery.exceptions' });
    assert.equal(m.traceback, null);
    await w.stop();
  });

  test('invalid messages: bad JSON acked (on_decode_error), disallowed content / bad eta rejected; nothing stored', async () => {
    const { app, broker, backend } = setup();
    app.task('t.add', (x: number, y: number) => x + y);
    const w = new Worker(app, { logger: silentLogger, queues: ['q'] });
    await w.start();
    const badJson = raw('t.add', 'i1');
    badJson.body = new TextEncoder().encode('{not json');
    broker.deliver(badJson);
    const yaml = raw('t.add', 'i2');
    yaml.contentType = 'application/x-yaml';
    broker.deliver(yaml);
    broker.deliver(raw('t.add', 'i3', { eta: 'not a date' }));
    await until(() => broker.log.length >= 3);
    assert.deepEqual([...broker.log].sort(), ['ack:i1', 'reject:i2', 'reject:i3']);
    assert.deepEqual(backend.stored, []);
    await w.stop();
  });

  test('eta: held unacked with prefetch raised by one, then run; warm stop gives back held messages', async () => {
    const { app, broker, backend } = setup();
    app.task('t.add', (x: number, y: number) => x + y);
    const w = new Worker(app, { concurrency: 1, prefetchMultiplier: 2, logger: silentLogger, queues: ['q'] });
    await w.start();
    broker.deliver(raw('t.add', 'e1', { countdown: 0.2 }));
    broker.deliver(raw('t.add', 'e2', { countdown: 60 }));
    await tick(30);
    assert.deepEqual(broker.prefetch, [2, 3, 4]);
    assert.equal(w.scheduled, 2);
    await until(() => backend.states('e1').includes('SUCCESS'));
    assert.deepEqual(broker.prefetch, [2, 3, 4, 3]);
    await w.stop();
    assert.ok(broker.closed);
    assert.deepEqual(broker.log, ['ack:e1', 'given-back:e2']);
  });

  test('expired at receipt → REVOKED TaskRevokedError(expired), acked, not run', async () => {
    const { app, broker, backend } = setup();
    let ran = false;
    app.task('t.add', () => (ran = true));
    const w = new Worker(app, { logger: silentLogger, queues: ['q'] });
    await w.start();
    broker.deliver(raw('t.add', 'x1', { expires: new Date(Date.now() - 1000) }));
    await until(() => broker.log.length > 0);
    assert.deepEqual(broker.log, ['ack:x1']);
    assert.deepEqual(backend.stored[0]!.result, { exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' });
    assert.equal(backend.stored[0]!.status, 'REVOKED');
    assert.equal(ran, false);
    await w.stop();
  });

  test('ignore_result: nothing stored; errors stored only with store_errors_even_if_ignored', async () => {
    const { app, broker, backend } = setup();
    app.task('t.ok', () => 1);
    app.task('t.bad', () => {
      throw new Error('x');
    });
    app.task('t.bad_store', () => {
      throw new Error('x');
    }, { storeErrorsEvenIfIgnored: true });
    const w = new Worker(app, { logger: silentLogger, queues: ['q'] });
    await w.start();
    for (const [t, id] of [['t.ok', 'n1'], ['t.bad', 'n2'], ['t.bad_store', 'n3']] as const) broker.deliver(raw(t, id, { ignoreResult: true }));
    await until(() => broker.log.length >= 3);
    await tick(30);
    assert.deepEqual(backend.stored.map((m) => `${m.task_id}:${m.status}`), ['n3:FAILURE']);
    await w.stop();
  });

  test('concurrency bounds running tasks; warm stop waits for them and gives back the queued ones', async () => {
    const { app, broker, backend } = setup();
    let running = 0;
    let peak = 0;
    app.task('t.slow', async () => {
      running++;
      peak = Math.max(peak, running);
      await tick(100);
      running--;
      return 'ok';
    });
    const w = new Worker(app, { concurrency: 2, logger: silentLogger, queues: ['q'] });
    await w.start();
    for (let i = 0; i < 5; i++) broker.deliver(raw('t.slow', `s${i}`));
    await tick(30);
    assert.equal(w.active, 2);
    await w.stop();
    assert.equal(peak, 2);
    assert.deepEqual(backend.stored.filter((m) => m.status === 'SUCCESS').map((m) => m.task_id).sort(), ['s0', 's1']);
    assert.deepEqual(broker.log.filter((l) => l.startsWith('given-back')).sort(), ['given-back:s2', 'given-back:s3', 'given-back:s4']);
  });

  test('retry publishes the same id with retries+1 to the original queue and stores RETRY', async () => {
    const { app, broker, backend } = setup();
    app.task('t.retry', (self: BoundTask) => self.retry({ countdown: 5, exc: new TypeError('later') }), { bind: true });
    const w = new Worker(app, { logger: silentLogger, queues: ['q'] });
    await w.start();
    const retried: unknown[] = [];
    const off = signals.task_retry.connect(({ reason }) => void retried.push((reason as Error).message));
    // RETRY is stored before the retry is published: a fast retried run can never have its final
    // state overwritten by this RETRY
    const order: string[] = [];
    const publish = broker.publish.bind(broker);
    broker.publish = async (r, t) => {
      if (t.exchange !== 'celeryev') order.push(`publish:${String(r.headers.id)}`);
      return publish(r, t);
    };
    const store = backend.storeResult.bind(backend);
    backend.storeResult = async (m) => {
      order.push(`store:${m.status}`);
      return store(m);
    };
    broker.deliver(raw('t.retry', 'rt1', { headers: { tenant: 'a' } }));
    await until(() => backend.stored.length > 0 && broker.published.length > 0);
    off();
    const sent = broker.published[0]!;
    assert.equal(sent.raw.headers.id, 'rt1');
    assert.equal(sent.raw.headers.retries, 1);
    assert.equal(sent.raw.headers.tenant, 'a');
    assert.equal(sent.raw.headers.parent_id, 'rt1');
    assert.equal(sent.target.routingKey, 'q');
    assert.ok(typeof sent.raw.headers.eta === 'string');
    assert.equal(backend.stored[0]!.status, 'RETRY');
    assert.deepEqual(backend.stored[0]!.result, { exc_type: 'TypeError', exc_message: ['later'], exc_module: 'builtins' });
    assert.deepEqual(retried, ["Retry in 5s: TypeError('later')"]);
    assert.deepEqual(order, ['store:RETRY', 'publish:rt1']);
    await w.stop();
  });

  test('cold stop does not wait: running acks_late message given back, early-acked one is gone', async () => {
    const { app, broker, backend } = setup();
    app.task('t.hang', () => new Promise(() => undefined));
    app.task('t.hang_late', () => new Promise(() => undefined), { acksLate: true });
    const w = new Worker(app, { concurrency: 2, logger: silentLogger, queues: ['q'] });
    await w.start();
    broker.deliver(raw('t.hang', 'c1'));
    broker.deliver(raw('t.hang_late', 'c2'));
    await until(() => w.active === 2 && broker.log.includes('ack:c1'));
    await w.stop({ cold: true });
    assert.deepEqual(broker.log, ['ack:c1', 'given-back:c2']);
    assert.deepEqual(backend.stored, []);
  });

  test('a second stop({cold}) during a warm stop stops waiting', async () => {
    const { app, broker } = setup();
    app.task('t.hang_late', () => new Promise(() => undefined), { acksLate: true });
    const w = new Worker(app, { concurrency: 1, logger: silentLogger, queues: ['q'] });
    await w.start();
    broker.deliver(raw('t.hang_late', 'c3'));
    await until(() => w.active === 1);
    const warm = w.stop();
    await tick(50);
    await w.stop({ cold: true });
    await warm;
    assert.deepEqual(broker.log, ['given-back:c3']);
  });
});
