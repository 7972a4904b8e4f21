// Time limits: Python sends tasks with time_limit / soft_time_limit; a TypeScript worker enforces them
// and Python's AsyncResult sees billiard's TimeLimitExceeded / SoftTimeLimitExceeded, as from a Python worker.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { newApp, peer, sleep, testLogger, type Outcome } from '../helpers/worker.ts';

const QUEUE = uniqueName('ts.timelimit');
let app: Celery;
let worker: Worker;
let skip = false;
let cleanedUp = 0;

describe('a TypeScript worker enforces Celery time limits', () => {
  before(async () => {
    const probe = { skip: () => { skip = true; } };
    if (!requirePython(probe as never)) return;
    app = newApp(QUEUE);
    app.task('tstl.sleep', async (ms: number) => {
      await sleep(ms);
      return ms;
    });
    app.task('tstl.cooperative', (self: BoundTask, ms: number) => new Promise((resolve) => {
      const timer = setTimeout(() => resolve(ms), ms);
      self.signal.addEventListener('abort', () => { clearTimeout(timer); cleanedUp++; });
    }), { bind: true });
    app.task('tstl.own_limit', async (ms: number) => {
      await sleep(ms);
      return ms;
    }, { timeLimit: 0.3 });
    worker = new Worker(app, { queues: [QUEUE], concurrency: 2, logger: testLogger() });
    await worker.start();
  });
  after(async () => {
    if (!skip) await worker.stop();
  });

  test('hard limit → FAILURE TimeLimitExceeded(limit); soft limit → SoftTimeLimitExceeded; fast tasks unaffected', async (t) => {
    if (skip) return t.skip();
    const ids = (await peer([
      { op: 'send', name: 'tstl.sleep', args: [3000], options: { queue: QUEUE, time_limit: 0.4 } },
      { op: 'send', name: 'tstl.cooperative', args: [3000], options: { queue: QUEUE, soft_time_limit: 0.3, time_limit: 5 } },
      { op: 'send', name: 'tstl.sleep', args: [10], options: { queue: QUEUE, time_limit: 5, soft_time_limit: 4 } },
      { op: 'send', name: 'tstl.own_limit', args: [3000], options: { queue: QUEUE } },
    ])) as string[];
    const [hard, soft, fast, own] = (await peer([{ op: 'get_many', ids, timeout: 20 }]))[0] as Outcome[];
    assert.equal(hard!.state, 'FAILURE');
    assert.deepEqual(hard!.exception, { exc_type: 'TimeLimitExceeded', exc_module: 'billiard.exceptions', args: [0.4] });
    assert.equal(soft!.state, 'FAILURE');
    assert.equal(soft!.exception!.exc_type, 'SoftTimeLimitExceeded');
    assert.equal(soft!.exception!.exc_module, 'billiard.exceptions');
    assert.equal(cleanedUp, 1, 'the task saw its signal abort and cleaned up');
    assert.equal(fast!.state, 'SUCCESS');
    assert.equal(fast!.result, 10);
    assert.equal(own!.state, 'FAILURE', "the task's own time_limit applies when the message has none");
    assert.equal(own!.exception!.exc_type, 'TimeLimitExceeded');
  });
});
