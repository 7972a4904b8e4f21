// worker_deduplicate_successful_tasks over real Redis (db 1, queues of this run only) with Celery 5.6:
// - Python sends one task id twice with the header periodic_task_name (beat's duplicate slot) to a
//   TypeScript worker with the setting on: the task body runs once, SUCCESS is written once;
// - a redelivered copy of a task a Python worker ran goes to the TypeScript worker: skipped on the
//   backend's SUCCESS;
// - Python Celery's own worker (acks_late, the setting on, prefork) skips a redelivered copy, of its
//   own task and of one the TypeScript worker ran (it reads celeriac's SUCCESS record).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { ALREADY_SUCCEEDED } from '../../src/worker/dedup.ts';
import { redisUrl, requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { newApp, sleep, testLogger } from '../helpers/worker.ts';

const URL = redisUrl(1);
const PEER = 'test/python/dedup_peer.py';
const QTS = uniqueName('dedup.ts');
const QPY = uniqueName('dedup.py');
const PARK = uniqueName('dedup.park');

async function peer(ops: object[]): Promise<unknown[]> {
  const out = await runPython(PEER, { broker: URL, backend: URL, ops });
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; result?: unknown; error?: string; traceback?: string });
  for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
  return lines.map((l) => l.result);
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('worker_deduplicate_successful_tasks: a TypeScript worker and Python Celery over Redis', () => {
  let skip = false;
  let app: Celery;
  let worker: Worker;
  let py: PythonWorker | null = null;
  let redis: Redis;
  let sub: Redis;
  /** Runs of the TypeScript task body, per key. */
  const runs = new Map<string, number>();
  /** Deliveries the TypeScript worker skipped: id → reason. */
  const skipped = new Map<string, string>();
  /** PUBLISH count per result key (each result write publishes once). */
  const writes = new Map<string, number>();

  const run = (key: string) => {
    const n = (runs.get(key) ?? 0) + 1;
    runs.set(key, n);
    return n;
  };

  before(async () => {
    const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
    if (!requirePython(probe as never)) return;
    redis = new Redis(URL);
    sub = new Redis(URL);
    sub.on('message', (channel: string) => void writes.set(channel, (writes.get(channel) ?? 0) + 1));
    app = newApp(QTS, { worker_deduplicate_successful_tasks: true }, { broker: URL, backend: URL });
    app.task('dedup.count', (key: string) => run(key));
    app.task('dedup.slow', async (key: string) => {
      await sleep(600);
      return run(key);
    });
    worker = new Worker(app, { queues: [QTS], concurrency: 4, hostname: `${QTS}@%h`, logger: testLogger(), withoutMingle: true });
    worker.on('task-deduplicated', (req, reason) => void skipped.set(req.id, reason));
    const env = { DEDUP_BROKER: URL, DEDUP_BACKEND: URL };
    [py] = await Promise.all([
      // prefork: the task runs in a child, whose successful_requests stays empty: Celery reads the backend
      startPythonWorker(['-A', 'dedup_tasks', 'worker', '-Q', QPY, '-P', 'prefork', '-c', '1', '-n', `${QPY}@%h`,
        '--without-mingle', '--without-gossip', '-l', 'info'], { cwd: 'test/python', env }),
      worker.start(),
    ]);
  });

  after(async () => {
    if (skip) return;
    await py?.stop();
    await worker.stop();
    await app.close();
    await redis.del(QTS, QPY, PARK);
    await sub.quit();
    await redis.quit();
  });

  const subscribe = (id: string) => sub.subscribe(`celery-task-meta-${id}`);
  const written = (id: string) => writes.get(`celery-task-meta-${id}`) ?? 0;

  test('one id sent twice with periodic_task_name: runs once, SUCCESS written once, both messages consumed', async (t) => {
    if (skip) return t.skip();
    const id = uniqueName('slot');
    await subscribe(id);
    const options = { queue: QTS, task_id: id, headers: { periodic_task_name: 'dedup-every-minute' } };
    await peer([{ op: 'send', name: 'dedup.count', args: [id], options }]);
    const [first] = (await peer([{ op: 'get', id, timeout: 15 }])) as { state: string; result: unknown }[];
    assert.deepEqual(first, { state: 'SUCCESS', result: 1 });
    await peer([{ op: 'send', name: 'dedup.count', args: [id], options }]); // a NEW message, same id (not redelivered)
    await until(() => skipped.has(id) || (runs.get(id) ?? 0) > 1, 'the TypeScript worker to take the second message');
    assert.equal(runs.get(id), 1, 'the task body ran once');
    assert.equal(skipped.get(id), `${ALREADY_SUCCEEDED.slice(0, -1)} on this worker.`);
    const [again, qlen] = await peer([{ op: 'get', id, timeout: 5 }, { op: 'queue_len', queue: QTS }]);
    assert.deepEqual(again, { state: 'SUCCESS', result: 1 });
    assert.equal(qlen, 0);
    await sleep(200);
    assert.equal(written(id), 1, 'the result was written once');
  });

  test('the two copies sent back to back (the first still running): the second waits, then is skipped', async (t) => {
    if (skip) return t.skip();
    const id = uniqueName('slot2');
    await subscribe(id);
    const options = { queue: QTS, task_id: id, headers: { periodic_task_name: 'dedup-slow' } };
    await peer([{ op: 'send', name: 'dedup.slow', args: [id], options }, { op: 'send', name: 'dedup.slow', args: [id], options }]);
    await until(() => skipped.has(id) || (runs.get(id) ?? 0) > 1, 'the TypeScript worker to take the second copy');
    assert.equal(runs.get(id), 1, 'the task body ran once');
    const [res] = (await peer([{ op: 'get', id, timeout: 5 }])) as { state: string; result: unknown }[];
    assert.deepEqual(res, { state: 'SUCCESS', result: 1 });
    await sleep(200);
    assert.equal(written(id), 1);
  });

  test('a redelivered copy of a task Python ran: the TypeScript worker reads SUCCESS in the backend and skips it', async (t) => {
    if (skip) return t.skip();
    const key = uniqueName('pyran');
    const [id] = (await peer([{ op: 'send', name: 'dedup.count', args: [key], options: { queue: QPY } }])) as string[];
    const [res] = (await peer([{ op: 'get', id, timeout: 20 }])) as { state: string; result: unknown }[];
    assert.deepEqual(res, { state: 'SUCCESS', result: 1 });
    await peer([{ op: 'send_redelivered', name: 'dedup.count', args: [key], queue: QTS, park: PARK, options: { task_id: id } }]);
    await until(() => skipped.has(id!) || runs.has(key), 'the TypeScript worker to take the redelivered copy');
    assert.equal(runs.get(key), undefined, 'the TypeScript body never ran');
    assert.equal(skipped.get(id!), ALREADY_SUCCEEDED);
    assert.deepEqual(await peer([{ op: 'counter', key }, { op: 'queue_len', queue: QTS }]), [1, 0]);
  });

  test('Python Celery\'s worker (acks_late, the setting on) skips a redelivered copy: of its own task and of one celeriac ran', async (t) => {
    if (skip) return t.skip();
    const own = uniqueName('pyown');
    const [id] = (await peer([{ op: 'send', name: 'dedup.count', args: [own], options: { queue: QPY } }])) as string[];
    assert.deepEqual((await peer([{ op: 'get', id, timeout: 20 }]))[0], { state: 'SUCCESS', result: 1 });
    await peer([{ op: 'send_redelivered', name: 'dedup.count', args: [own], queue: QPY, park: PARK, options: { task_id: id } }]);
    await until(() => py!.log().includes(`Task dedup.count[${id}] Task already completed successfully.`), 'Celery to log the skip');

    const tsKey = uniqueName('tsran');
    const [tsId] = (await peer([{ op: 'send', name: 'dedup.count', args: [tsKey], options: { queue: QTS } }])) as string[];
    assert.deepEqual((await peer([{ op: 'get', id: tsId, timeout: 15 }]))[0], { state: 'SUCCESS', result: 1 });
    await peer([{ op: 'send_redelivered', name: 'dedup.count', args: [tsKey], queue: QPY, park: PARK, options: { task_id: tsId } }]);
    await until(() => py!.log().includes(`Task dedup.count[${tsId}] Task already completed successfully.`), 'Celery to skip the task celeriac ran');
    await until(async () => (await peer([{ op: 'queue_len', queue: QPY }]))[0] === 0, 'the queue to drain');
    assert.deepEqual(await peer([{ op: 'counter', key: own }, { op: 'counter', key: tsKey }]), [1, 0], 'Python ran its task once and never ran celeriac\'s');
    assert.equal(runs.get(tsKey), 1);
  });
});
