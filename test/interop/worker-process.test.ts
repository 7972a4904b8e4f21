// The worker as a process and in a fleet: `celeriac worker` subprocesses killed (acks_late messages come
// back through the visibility timeout) and stopped warm (running task finishes, the rest goes back); a
// Python worker and a TypeScript worker share one queue and run 200 tasks exactly once. Redis db 12.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { BoundTask } from '../../src/worker/task.ts';
import { Worker } from '../../src/worker/worker.ts';
import { PYTHON, REDIS_HOST, REDIS_PORT, requirePython, uniqueName } from '../helpers/peers.ts';
import { DB, URL, newApp, peer, sleep, testLogger, type Outcome } from '../helpers/worker.ts';

const children: ChildProcess[] = [];

interface Proc {
  child: ChildProcess;
  out: () => string;
  waitFor: (re: RegExp, ms?: number) => Promise<void>;
  exited: Promise<number | null>;
}

function track(child: ChildProcess): Proc {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    out: () => out,
    exited,
    waitFor: async (re, ms = 20_000) => {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > end || child.exitCode !== null || child.signalCode !== null) throw new Error(`waiting for ${re}: got\n${out}`);
        await sleep(50);
      }
    },
  };
}

function celeriacWorker(queue: string, extra: string[] = [], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [
    'bin/celeriac.js', 'worker', '-A', 'test/helpers/worker-app.ts', '-Q', queue, '-l', 'info', '-n', `${queue}@%h`,
    '--broker', URL, '--result-backend', URL, ...extra,
  ], { env: { ...process.env, CELERIAC_TEST_QUEUE: queue, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return track(child);
}

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('celeriac worker processes', () => {
  test('--without-mingle skips mingle (Celery\'s flag); --without-gossip is accepted', async () => {
    const queue = uniqueName('ts.nomingle');
    const plain = celeriacWorker(queue);
    await plain.waitFor(/ready\./);
    assert.match(plain.out(), /mingle: searching for neighbors/);
    plain.child.kill('SIGTERM');
    await plain.exited;
    const w = celeriacWorker(queue, ['--without-mingle', '--without-gossip']);
    await w.waitFor(/ready\./);
    assert.doesNotMatch(w.out(), /mingle:/);
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
  });

  test('acks_late + worker killed: the message is restored and run by a new worker', async (t) => {
    if (!requirePython(t)) return;
    const queue = uniqueName('ts.kill');
    const env = { CELERIAC_TEST_VISIBILITY: '2' };
    const w1 = celeriacWorker(queue, ['-c', '1'], env);
    await w1.waitFor(/ready\./);
    const [id] = (await peer([{ op: 'send', name: 'tscli.late_sleep', args: [1500], options: { queue } }])) as string[];
    await w1.waitFor(new RegExp(`tscli.late_sleep\\[${id}\\] received`));
    w1.child.kill('SIGKILL');
    await w1.exited;
    const w2 = celeriacWorker(queue, ['-c', '1'], env);
    await w2.waitFor(/ready\./);
    const [out] = (await peer([{ op: 'get', id, timeout: 20 }])) as Outcome[];
    assert.equal(out!.state, 'SUCCESS', w2.out());
    assert.equal(out!.result, w2.child.pid, 'run again by the second worker');
    w2.child.kill('SIGTERM');
    assert.equal(await w2.exited, 0);
  });

  test('SIGTERM: warm shutdown finishes the running task and puts prefetched ones back', async (t) => {
    if (!requirePython(t)) return;
    const queue = uniqueName('ts.warm');
    const w = celeriacWorker(queue, ['-c', '1', '--prefetch-multiplier', '4']);
    await w.waitFor(/ready\./);
    const ids = (await peer([
      { op: 'send', name: 'tscli.sleep', args: [1500], options: { queue } },
      { op: 'send', name: 'tscli.add', args: [1, 1], options: { queue } },
      { op: 'send', name: 'tscli.add', args: [2, 2], options: { queue } },
      { op: 'send', name: 'tscli.add', args: [3, 3], options: { queue } },
    ])) as string[];
    await w.waitFor(new RegExp(`tscli.add\\[${ids[3]}\\] received`));
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0, w.out());
    assert.match(w.out(), /Warm shutdown/);
    const outs = (await peer([{ op: 'get_many', ids, timeout: 1 }]))[0] as Outcome[];
    assert.equal(outs[0]!.state, 'SUCCESS', 'the running task finished');
    assert.deepEqual(outs.slice(1).map((o) => o.state), ['PENDING', 'PENDING', 'PENDING']);
    const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
    try {
      assert.equal(await redis.llen(queue), 3, 'prefetched messages are back in the queue');
    } finally {
      redis.disconnect();
    }
    // and a new worker runs them
    const w2 = celeriacWorker(queue, ['-c', '2']);
    const again = (await peer([{ op: 'get_many', ids: ids.slice(1), timeout: 20 }]))[0] as Outcome[];
    assert.deepEqual(again.map((o) => o.result), [2, 4, 6]);
    w2.child.kill('SIGTERM');
    await w2.exited;
  });

  test('fleet: a Python worker and a TypeScript worker share a queue; 200 tasks run exactly once', async (t) => {
    if (!requirePython(t)) return;
    const queue = uniqueName('ts.fleet');
    const py = track(spawn(resolve(PYTHON), [
      '-m', 'celery', '-A', 'worker_fleet_tasks', 'worker', '-P', 'threads', '-c', '4', '--without-mingle', '--without-gossip',
      '--without-heartbeat', '-Q', queue, '-n', `py.${queue}@%h`, '-l', 'info',
    ], { cwd: 'test/python', env: { ...process.env, CELERIAC_BROKER_URL: URL, CELERIAC_TEST_QUEUE: queue }, stdio: ['ignore', 'pipe', 'pipe'] }));
    const app = newApp(queue);
    const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
    let tsRuns = 0;
    app.task('fleet.who', async (self: BoundTask, _i: number) => {
      tsRuns++;
      await redis.rpush(`fleet:${queue}`, self.request.id);
      return 'ts';
    }, { bind: true });
    const worker = new Worker(app, { queues: [queue], concurrency: 4, logger: testLogger() });
    try {
      await py.waitFor(/ready\./, 40_000);
      await worker.start();
      const [ids] = (await peer([{ op: 'send_many', name: 'fleet.who', n: 200, options: { queue } }])) as [string[]];
      const outs = (await peer([{ op: 'get_many', ids, timeout: 30 }]))[0] as Outcome[];
      assert.equal(outs.filter((o) => o.state === 'SUCCESS').length, 200);
      const byWho = { py: outs.filter((o) => o.result === 'py').length, ts: outs.filter((o) => o.result === 'ts').length };
      assert.equal(byWho.py + byWho.ts, 200);
      assert.equal(byWho.ts, tsRuns);
      assert.ok(byWho.ts > 0 && byWho.py > 0, `both workers ran tasks (${JSON.stringify(byWho)})`);
      const ran = await redis.lrange(`fleet:${queue}`, 0, -1);
      assert.equal(ran.length, 200, 'each task ran once');
      assert.equal(new Set(ran).size, 200);
      assert.deepEqual(new Set(ran), new Set(ids));
    } finally {
      await worker.stop();
      await redis.del(`fleet:${queue}`);
      redis.disconnect();
      py.child.kill('SIGTERM');
      await py.exited;
    }
  });
});
