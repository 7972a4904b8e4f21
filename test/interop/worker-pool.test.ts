// -P threads and -P processes against real Python Celery (Redis): CPU-bound tasks in parallel, a hard
// time limit that stops a spinning task (stored as a Python prefork worker stores it), revoke(terminate=True)
// from Python, a slot that dies (WorkerLostError; requeued with task_reject_on_worker_lost), a process
// killed with SIGKILL, worker_max_tasks_per_child recycling slots.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { PYTHON, requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { peer, sleep, testLogger, URL, type Outcome } from '../helpers/worker.ts';

const APP = fileURLToPath(new globalThis.URL('./worker-pool-app.ts', import.meta.url));
for (const POOL of ['threads', 'processes'] as const) {
  const QUEUE = uniqueName(`ts.pool.${POOL}`);
  const PYQ = uniqueName('py.pool');
  let app: Celery;
  let worker: Worker;
  let py: PythonWorker | null = null;
  let skip = false;

  const send = (name: string, args: unknown[] = [], options: object = {}) => ({ op: 'send', name, args, options: { queue: QUEUE, ...options } });

  async function outcomes(ops: object[], timeout = 30): Promise<Outcome[]> {
    const ids = (await peer(ops)) as string[];
    return (await peer([{ op: 'get_many', ids, timeout }]))[0] as Outcome[];
  }

  /** Until the worker runs task `id` (the request is active). */
  async function untilActive(id: string): Promise<void> {
    for (let i = 0; i < 400; i++) {
      if (worker.requestsSnapshot().active.some((r) => r.id === id)) return;
      await sleep(25);
    }
    throw new Error(`task ${id} never became active`);
  }

  describe(`-P ${POOL} against Python Celery`, () => {
    before(async () => {
      const probe = { skip: () => { skip = true; } };
      if (!requirePython(probe as never)) return;
      Object.assign(process.env, { POOL_TEST_BROKER: URL, POOL_TEST_BACKEND: URL, POOL_TEST_QUEUE: QUEUE });
      app = ((await import('./worker-pool-app.ts')) as { app: Celery }).app;
      worker = new Worker(app, {
        pool: POOL, appModule: APP, concurrency: 2, maxTasksPerChild: 3, queues: [QUEUE], hostname: `${QUEUE}@%h`,
        withoutMingle: true, logger: testLogger(),
        closeApp: POOL === 'processes', // one app (the module's) for both runs: closed after the last
      });
      await worker.start();
    });
    after(async () => {
      await py?.stop();
      if (!skip) await worker.stop({ cold: true }); // cold: a task a failed test left spinning does not hold the run
    });

    test('worker_max_tasks_per_child: a slot is replaced after its tasks (more slot ids than slots)', async (t) => {
      if (skip) return t.skip();
      const outs = await outcomes(Array.from({ length: 8 }, () => send('pool.thread')));
      for (const o of outs) assert.equal(o.state, 'SUCCESS', JSON.stringify(o));
      const threads = new Set(outs.map((o) => o.result));
      // 8 tasks, 2 slots, 3 tasks per thread at most: at least 3 threads ran them
      assert.ok(threads.size >= 3, `thread ids ${[...threads].join(', ')}`);
    });

    test('two CPU-bound tasks at -c 2 run at the same time, in two slots', async (t) => {
      if (skip) return t.skip();
      const [a, b] = await outcomes([send('pool.spin', [250]), send('pool.spin', [250])]);
      const ra = a!.result as { thread: number; start: number; end: number };
      const rb = b!.result as { thread: number; start: number; end: number };
      assert.notEqual(ra.thread, rb.thread);
      assert.ok(ra.start < rb.end && rb.start < ra.end, `run intervals overlap: ${JSON.stringify([ra, rb])}`);
    });

    test('a task spinning past its hard time limit is stopped: FAILURE TimeLimitExceeded, as a Python prefork worker stores it', async (t) => {
      if (skip) return t.skip();
      if (POOL !== 'threads') {
        // the comparison with Python is made once (threads); here the same stored result
        const [ts] = await outcomes([send('pool.forever', [], { time_limit: 1 })]);
        assert.deepEqual(ts!.exception, { exc_type: 'TimeLimitExceeded', exc_module: 'billiard.exceptions', args: [1] });
        assert.equal(ts!.traceback, null);
        const [next] = await outcomes([send('pool.add', [2, 3])]);
        assert.equal(next!.result, 5);
        return;
      }
      py = await startPythonWorker(['-A', 'pool_tasks', 'worker', '-P', 'prefork', '-c', '1', '-Q', PYQ, '-n', `${PYQ}@%h`, '--without-mingle', '--without-gossip', '-l', 'info'], {
        cwd: resolve('test/python'), env: { POOL_TEST_BROKER: URL, POOL_TEST_BACKEND: URL },
      });
      const [ts, python] = await outcomes([send('pool.forever', [], { time_limit: 1 }), send('pool.forever', [], { time_limit: 1, queue: PYQ })]);
      await py.stop();
      py = null;
      assert.equal(ts!.state, 'FAILURE');
      assert.deepEqual(ts!.exception, { exc_type: 'TimeLimitExceeded', exc_module: 'billiard.exceptions', args: [1] });
      assert.equal(python!.state, 'FAILURE');
      assert.deepEqual(ts!.exception, python!.exception);
      assert.equal(ts!.exception_repr, python!.exception_repr);
      assert.equal(ts!.traceback, python!.traceback);
      // the worker carries on: a new thread took the stopped one's place
      const [after1, after2] = await outcomes([send('pool.add', [2, 3]), send('pool.add', [4, 5])]);
      assert.equal(after1!.result, 5);
      assert.equal(after2!.result, 9);
    });

    test('revoke(terminate=True) from Python and `celery control terminate` stop a running task: REVOKED kept', async (t) => {
      if (skip) return t.skip();
      const [id1] = (await peer([send('pool.block')])) as string[];
      await untilActive(id1!);
      const replies = (await runPython('test/python/pool_peer.py', { broker: URL, backend: URL, ops: [{ op: 'revoke_terminate', id: id1, destination: [worker.hostname] }] }))
        .trim().split('\n').map((l) => JSON.parse(l) as { result: unknown });
      assert.deepEqual(replies[0]!.result, [{ [worker.hostname]: { ok: `terminate: ${id1}` } }]);
      const [id2] = (await peer([send('pool.block')])) as string[];
      await untilActive(id2!);
      // not spawnSync: the worker runs in this process and must answer meanwhile
      const cli = await promisify(execFile)(PYTHON, ['-m', 'celery', '-b', URL, 'control', '-d', worker.hostname, '-t', '3', 'terminate', 'SIGKILL', id2!], { encoding: 'utf8' });
      assert.match(cli.stdout, new RegExp(`terminate: ${id2}`), cli.stdout + cli.stderr);
      const [o1, o2] = (await peer([{ op: 'get_many', ids: [id1, id2], timeout: 10 }]))[0] as Outcome[];
      for (const o of [o1!, o2!]) {
        assert.equal(o.state, 'REVOKED');
        assert.deepEqual(o.exception, { exc_type: 'TaskRevokedError', exc_module: 'celery.exceptions', args: ['terminated'] });
      }
      const [after] = await outcomes([send('pool.add', [1, 1])]);
      assert.equal(after!.result, 2);
    });

    test('in a slot: a failure stored as the async pool stores it, self.retry from inside the task, the soft time limit', async (t) => {
      if (skip) return t.skip();
      const [failed, retried, soft] = await outcomes([send('pool.fail', ['nope']), send('pool.retry_once'), send('pool.sleep', [3000], { soft_time_limit: 0.3, time_limit: 10 })]);
      assert.equal(soft!.state, 'FAILURE');
      assert.deepEqual(soft!.exception, { exc_type: 'SoftTimeLimitExceeded', exc_module: 'billiard.exceptions', args: [] });
      assert.equal(failed!.state, 'FAILURE');
      assert.deepEqual(failed!.exception, { exc_type: 'ValueError', exc_module: 'builtins', args: ['nope'] });
      assert.match(failed!.traceback!, /worker-pool-app\.ts", line \d+, in .*\n\s+throw new RangeError\(msg\);\nValueError: nope\n$/);
      assert.equal(retried!.state, 'SUCCESS');
      assert.equal(retried!.result, 1);
    });

    test('task_reject_on_worker_lost with acks_late: the message of a task whose slot died is requeued and runs again', async (t) => {
      if (skip) return t.skip();
      const marker = join(mkdtempSync(join(tmpdir(), 'pool-')), 'died');
      const [o] = await outcomes([send('pool.die_once', [marker])]);
      assert.ok(existsSync(marker), 'the first run died');
      assert.equal(o!.state, 'SUCCESS');
      assert.equal(o!.result, 'again');
    });

    test('a slot that dies under its task: FAILURE WorkerLostError, the worker carries on', async (t) => {
      if (skip) return t.skip();
      const [lost, next] = await outcomes([send('pool.die'), send('pool.add', [20, 22])]);
      assert.equal(lost!.state, 'FAILURE');
      assert.equal(lost!.exception!.exc_type, 'WorkerLostError');
      assert.equal(lost!.exception!.exc_module, 'billiard.exceptions');
      assert.match(String(lost!.exception!.args[0]), /^Worker exited prematurely: exitcode 3 Job: \d+\.$/);
      assert.equal(next!.result, 42);
    });

    test('a slot process killed with SIGKILL under its task: FAILURE WorkerLostError, the worker carries on', { skip: POOL !== 'processes' }, async (t) => {
      if (skip) return t.skip();
      const file = join(mkdtempSync(join(tmpdir(), 'pool-')), 'pid');
      const [id] = (await peer([send('pool.pid_block', [file])])) as string[];
      for (let i = 0; !existsSync(file) || !readFileSync(file, 'utf8'); i++) {
        if (i > 400) throw new Error('the task never ran');
        await sleep(25);
      }
      process.kill(Number(readFileSync(file, 'utf8')), 'SIGKILL');
      const [o] = (await peer([{ op: 'get_many', ids: [id], timeout: 10 }]))[0] as Outcome[];
      assert.equal(o!.state, 'FAILURE');
      assert.equal(o!.exception!.exc_type, 'WorkerLostError');
      assert.match(String(o!.exception!.args[0]), /^Worker exited prematurely: signal 9 \(SIGKILL\) Job: \d+\.$/);
      const [next] = await outcomes([send('pool.add', [1, 2])]);
      assert.equal(next!.result, 3);
    });
  });
}
