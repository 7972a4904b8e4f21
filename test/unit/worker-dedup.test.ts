// worker_deduplicate_successful_tasks (src/worker/dedup.ts) against an in-memory broker and backend.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTaskMessage, encodeTaskMessage } from '../../protocol/index.ts';
import { signature } from '../../protocol/canvas.ts';
import { decodeTaskMessage } from '../../protocol/message.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { Celery } from '../../src/app.ts';
import { signals } from '../../src/signals.ts';
import type { WorkerLogger } from '../../src/worker/log.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { Worker } from '../../src/worker/worker.ts';
import { MemBackend, MemBroker } from '../helpers/mem-broker.ts';

function recordingLogger(): WorkerLogger & { lines: string[] } {
  const lines: string[] = [];
  const at = (lvl: string) => (m: string) => void lines.push(`${lvl}: ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warning: at('warning'), error: at('error'), critical: at('critical') };
}

function setup(dedup: boolean, settings: Record<string, unknown> = {}) {
  const broker = new MemBroker();
  const backend = new MemBackend();
  const app = new Celery({
    broker_url: 'redis://x', result_backend: 'redis://y', env: {}, worker_deduplicate_successful_tasks: dedup,
    worker_enable_remote_control: false, ...settings,
    createBroker: () => broker, createBackend: () => backend,
  });
  const logger = recordingLogger();
  const runs: string[] = [];
  app.task('t.count', (tag: string) => {
    runs.push(tag);
    return `ran ${tag}`;
  });
  const worker = new Worker(app, { concurrency: 4, logger, queues: ['q'] });
  const skipped: string[] = [];
  worker.on('task-deduplicated', (req, reason) => void skipped.push(`${req.id}:${reason}`));
  return { app, broker, backend, logger, runs, worker, skipped };
}

function raw(id: string, tag: string, extra: Record<string, unknown> = {}, redelivered = false): RawMessage {
  return encodeTaskMessage(createTaskMessage({ task: 't.count', id, args: [tag], ...extra }), {
    deliveryInfo: { exchange: '', routing_key: 'q', redelivered },
  });
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await tick(5);
  }
}

const settledAll = (b: MemBroker) => b.deliveries.every((d) => d.settled !== null);

describe('worker_deduplicate_successful_tasks', () => {
  test('the same id delivered twice: runs once with the setting on, acked twice, one SUCCESS stored', async () => {
    const { broker, backend, runs, worker, skipped, logger } = setup(true);
    await worker.start();
    broker.deliver(raw('d1', 'first'));
    await until(() => backend.states('d1').includes('SUCCESS') && settledAll(broker));
    broker.deliver(raw('d1', 'second')); // a NEW message (not redelivered), same id: beat sending a slot twice
    await until(() => settledAll(broker));
    await worker.stop();
    assert.deepEqual(runs, ['first']);
    assert.deepEqual(broker.log, ['ack:d1', 'ack:d1']);
    assert.deepEqual(backend.states('d1'), ['SUCCESS']);
    assert.equal(backend.reads, 0, 'a local hit reads nothing');
    assert.deepEqual(skipped, ['d1:Task already completed successfully on this worker.']);
    assert.ok(logger.lines.includes('info: Task t.count[d1] Task already completed successfully on this worker.'), logger.lines.join('\n'));
  });

  test('the same id delivered twice with the setting off: runs twice, no backend read', async () => {
    const { broker, backend, runs, worker, skipped } = setup(false);
    await worker.start();
    broker.deliver(raw('d2', 'first'));
    await until(() => backend.states('d2').includes('SUCCESS') && settledAll(broker));
    broker.deliver(raw('d2', 'second', {}, true));
    await until(() => backend.states('d2').length === 2 && settledAll(broker));
    await worker.stop();
    assert.deepEqual(runs, ['first', 'second']);
    assert.equal(backend.reads, 0);
    assert.deepEqual(skipped, []);
  });

  test('acks_late: the local check holds for any acks mode; the skipped copy is acked', async () => {
    const { broker, backend, runs, worker } = setup(true, { task_acks_late: true });
    await worker.start();
    broker.deliver(raw('d3', 'first'));
    await until(() => backend.states('d3').includes('SUCCESS') && settledAll(broker));
    broker.deliver(raw('d3', 'second'));
    await until(() => settledAll(broker));
    await worker.stop();
    assert.deepEqual(runs, ['first']);
    assert.deepEqual(broker.log, ['ack:d3', 'ack:d3']);
  });

  test('two copies at once: the second waits for the first (running here), then is skipped', async () => {
    const { app, broker, backend, worker, skipped } = setup(true);
    let runsSlow = 0;
    let release: () => void = () => {};
    app.task('t.slow', async () => {
      runsSlow++;
      await new Promise<void>((r) => (release = r));
      return 'slow';
    });
    await worker.start();
    const msg = () => encodeTaskMessage(createTaskMessage({ task: 't.slow', id: 's1' }), { deliveryInfo: { exchange: '', routing_key: 'q' } });
    broker.deliver(msg());
    await until(() => runsSlow === 1);
    broker.deliver(msg());
    await tick(30);
    assert.equal(runsSlow, 1, 'the copy does not start while the original runs');
    assert.equal(broker.deliveries[1]!.settled, null, 'the waiting copy stays unacked');
    assert.deepEqual(worker.requestsSnapshot().reserved.map((r) => r.id), ['s1']);
    release();
    await until(() => settledAll(broker));
    await worker.stop();
    assert.equal(runsSlow, 1);
    assert.deepEqual(backend.states('s1'), ['SUCCESS']);
    assert.equal(skipped.length, 1);
  });

  test('a copy that waited for a FAILED original runs', async () => {
    const { app, broker, backend, worker } = setup(true);
    let n = 0;
    let release: () => void = () => {};
    app.task('t.flaky', async () => {
      n++;
      if (n === 1) {
        await new Promise<void>((r) => (release = r));
        throw new Error('first fails');
      }
      return 'ok';
    });
    await worker.start();
    const msg = () => encodeTaskMessage(createTaskMessage({ task: 't.flaky', id: 'f1' }), { deliveryInfo: { exchange: '', routing_key: 'q' } });
    broker.deliver(msg());
    await until(() => n === 1);
    broker.deliver(msg());
    await tick(20);
    release();
    await until(() => settledAll(broker) && backend.states('f1').includes('SUCCESS'));
    await worker.stop();
    assert.equal(n, 2);
    assert.deepEqual(backend.states('f1'), ['FAILURE', 'SUCCESS']);
  });

  test('self.retry() with the same id is not taken for a duplicate', async () => {
    const { app, broker, backend, worker } = setup(true);
    broker.loopback = true;
    let n = 0;
    app.task('t.retry', (self: BoundTask) => {
      n++;
      if (self.request.retries < 1) return self.retry({ countdown: 0, exc: new Error('again') });
      return 'done';
    }, { bind: true });
    await worker.start();
    broker.deliver(encodeTaskMessage(createTaskMessage({ task: 't.retry', id: 'r1' }), { deliveryInfo: { exchange: '', routing_key: 'q' } }));
    await until(() => backend.states('r1').includes('SUCCESS') && settledAll(broker));
    await worker.stop();
    assert.equal(n, 2);
    assert.deepEqual(backend.states('r1'), ['RETRY', 'SUCCESS']);
  });

  test('redelivered + backend SUCCESS (stored by another worker): skipped, Celery\'s log line, nothing stored', async () => {
    const { broker, backend, runs, worker, logger, skipped } = setup(true);
    backend.put('b1', 'SUCCESS', 'elsewhere');
    await worker.start();
    broker.deliver(raw('b1', 'again', {}, true));
    await until(() => settledAll(broker));
    await worker.stop();
    assert.deepEqual(runs, []);
    assert.deepEqual(broker.log, ['ack:b1']);
    assert.equal(backend.reads, 1);
    assert.equal(backend.stored.length, 1, 'nothing stored');
    assert.deepEqual(skipped, ['b1:Task already completed successfully.']);
    assert.ok(logger.lines.includes('info: Task t.count[b1] Task already completed successfully.'), logger.lines.join('\n'));
  });

  test('redelivered + backend FAILURE: runs again', async () => {
    const { broker, backend, runs, worker } = setup(true);
    backend.put('b2', 'FAILURE', { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' });
    await worker.start();
    broker.deliver(raw('b2', 'again', {}, true));
    await until(() => backend.states('b2').includes('SUCCESS') && settledAll(broker));
    await worker.stop();
    assert.deepEqual(runs, ['again']);
    assert.equal(backend.reads, 1);
  });

  test('header periodic_task_name + backend SUCCESS: skipped; the same without the header (not redelivered): no read, runs', async () => {
    const { broker, backend, runs, worker } = setup(true);
    backend.put('p1', 'SUCCESS', 1);
    backend.put('p2', 'SUCCESS', 1);
    await worker.start();
    broker.deliver(raw('p1', 'beat', { headers: { periodic_task_name: 'every-minute' } }));
    broker.deliver(raw('p2', 'plain'));
    await until(() => settledAll(broker) && backend.states('p2').length === 2);
    await worker.stop();
    assert.deepEqual(runs, ['plain']);
    assert.equal(backend.reads, 1, 'one GET: the beat message only');
  });

  test('a backend read that fails: the task runs', async () => {
    const { broker, backend, runs, worker, logger } = setup(true);
    backend.failReads = true;
    await worker.start();
    broker.deliver(raw('e1', 'anyway', {}, true));
    await until(() => backend.states('e1').includes('SUCCESS') && settledAll(broker));
    await worker.stop();
    assert.deepEqual(runs, ['anyway']);
    assert.ok(logger.lines.some((l) => l.startsWith('warning: Task t.count[e1] deduplication: reading the stored state failed')));
  });

  test('stored SUCCESS without children: link callbacks and the next chain step are sent with the stored result', async () => {
    const { broker, backend, runs, worker } = setup(true);
    backend.put('c1', 'SUCCESS', 41, []);
    await worker.start();
    broker.deliver(raw('c1', 'x', {
      callbacks: [signature('t.cb', [], {}, { task_id: 'cb-1' })],
      chain: [signature('t.next', [], {}, { task_id: 'next-1' })],
      rootId: 'root-1',
    }, true));
    await until(() => settledAll(broker));
    await worker.stop();
    assert.deepEqual(runs, []);
    const sent = broker.published.map((p) => decodeTaskMessage(p.raw));
    assert.deepEqual(sent.map((m) => [m.headers.task, m.headers.id, m.body.args, m.headers.parent_id, m.headers.root_id]), [
      ['t.cb', 'cb-1', [41], 'c1', 'root-1'],
      ['t.next', 'next-1', [41], 'c1', 'root-1'],
    ]);
    assert.deepEqual(broker.log, ['ack:c1']);
  });

  test('stored SUCCESS with children: callbacks are not sent again', async () => {
    const { broker, backend, worker } = setup(true);
    backend.put('c2', 'SUCCESS', 41, [[['cb-2', null], null]]);
    await worker.start();
    broker.deliver(raw('c2', 'x', { callbacks: [signature('t.cb', [], {}, { task_id: 'cb-2' })] }, true));
    await until(() => settledAll(broker));
    await worker.stop();
    assert.deepEqual(broker.published, []);
    assert.deepEqual(broker.log, ['ack:c2']);
  });

  test('stored SUCCESS, callbacks that cannot be sent: the message is requeued (Celery: Reject(requeue=True))', async () => {
    const { broker, backend, runs, worker, logger } = setup(true);
    broker.failPublishOf.add('t.cb');
    backend.put('c3', 'SUCCESS', 1, []);
    await worker.start();
    broker.deliver(raw('c3', 'x', { callbacks: [signature('t.cb')] }, true));
    await until(() => settledAll(broker));
    await worker.stop();
    assert.deepEqual(runs, []);
    assert.deepEqual(broker.log, ['requeue:c3']);
    assert.ok(logger.lines.some((l) => l.startsWith('error: Failed to dispatch chain/callbacks for deduplicated task c3')));
  });

  test('events as Celery: task-received, task-started, task-succeeded (result and runtime None); no task signals', async () => {
    const { broker, backend, worker } = setup(true, { worker_send_task_events: true });
    const events: [string, unknown][] = [];
    const send = worker.events.dispatcher.send.bind(worker.events.dispatcher);
    worker.events.dispatcher.send = (type, fields = {}, options) => {
      if (type.startsWith('task-')) events.push([type, type === 'task-succeeded' ? { result: fields.result, runtime: fields.runtime } : null]);
      return send(type, fields, options);
    };
    const sigs: string[] = [];
    const off = [
      signals.task_prerun.connect(() => void sigs.push('prerun')),
      signals.task_success.connect(() => void sigs.push('success')),
      signals.task_postrun.connect(() => void sigs.push('postrun')),
      signals.task_received.connect(() => void sigs.push('received')),
    ];
    try {
      backend.put('v1', 'SUCCESS', 'x');
      await worker.start();
      broker.deliver(raw('v1', 'again', {}, true));
      await until(() => settledAll(broker));
      await worker.stop();
    } finally {
      for (const o of off) o();
    }
    assert.deepEqual(events, [['task-received', null], ['task-started', null], ['task-succeeded', { result: null, runtime: null }]]);
    assert.deepEqual(sigs, ['received']);
  });
});
