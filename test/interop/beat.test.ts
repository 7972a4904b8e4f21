// celeriac beat beside Python's `celery beat`, on each broker of the matrix (Redis db 1 for records):
// both send the same entry to a real Python Celery worker, which records what it saw of each message,
// and the two are compared field by field; then celeriac beat drives a Python and a TypeScript worker
// at once, and the lateness of each run against its slot is reported.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { createBeat } from '../../src/beat/beat.ts';
import type { Claim } from '../../src/beat/store.ts';
import { Worker } from '../../src/worker/worker.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { PYTHON, REDIS_HOST, REDIS_PORT, redisUrl, requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { testLogger } from '../helpers/worker.ts';

const DB = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  runner: 'python' | 'typescript';
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  expires: string | null;
  headers?: Record<string, unknown> | null;
  periodic_task_name: string | null;
  x_team: string | null;
  priority: number | null;
  routing_key: string | null;
  exchange: string | null;
  received_at: number;
}

for (const b of brokerMatrix(DB)) beatSuite(b);

function beatSuite(b: BrokerCase): void {
  const PYQ = uniqueName('beat.py');
  const TSQ = uniqueName('beat.ts');
  const KEY = uniqueName('beat.records');
  const env = {
    CELERIAC_BROKER_URL: b.brokerUrl, CELERIAC_RECORD_URL: redisUrl(DB), CELERIAC_RECORD_KEY: KEY,
  };
  let redis: Redis;
  let py: PythonWorker | null = null;
  let worker: Worker | null = null;
  let app: Celery;
  let skip = false;

  const ENTRY = {
    task: 'beat_tasks.echo', schedule: 1, args: [1, 'a'], kwargs: { k: 'v' },
    options: { queue: PYQ, priority: 3, expires: 30, headers: { 'x-team': 'ops' } },
  };

  async function records(): Promise<Run[]> {
    return (await redis.lrange(KEY, 0, -1)).map((r) => JSON.parse(r) as Run);
  }

  async function runCeleriacBeat(schedule: Record<string, unknown>, ms: number, onSent?: (c: Claim, at: number) => void) {
    const beatApp = new Celery({ broker_url: b.brokerUrl, beat_schedule: schedule, env: {} });
    const beat = await createBeat(beatApp, {
      scheduler: 'file', schedule: join(mkdtempSync(join(tmpdir(), 'celeriac-beat-')), 'schedule.json'), maxInterval: 1,
      logger: testLogger(), ...(onSent ? { onSent } : {}),
    });
    await beat.service.start();
    await sleep(ms);
    await beat.service.stop();
    await beatApp.close();
    return beat;
  }

  describe(`[${b.name}] celeriac beat beside Python's celery beat`, () => {
    before(async () => {
      const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
      if (!requirePython(probe as never)) return;
      redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
      py = await startPythonWorker(['-A', 'beat_tasks', 'worker', '-P', 'threads', '-c', '4', '-Q', PYQ, '-n', `${PYQ}@%h`,
        '--without-mingle', '--without-gossip', '-l', 'info'], { cwd: 'test/python', env });
      app = new Celery({ broker_url: b.brokerUrl, env: {} });
      app.task('beat_tasks.ts_echo', async (self: BoundTask, ...args: unknown[]) => {
        const r = self.request;
        await redis.rpush(KEY, JSON.stringify({
          runner: 'typescript', id: r.id, task: r.task, args, kwargs: {}, expires: r.expires ?? null,
          periodic_task_name: r.headers?.periodic_task_name ?? null, x_team: null,
          priority: r.delivery_info.priority, routing_key: r.delivery_info.routing_key, exchange: r.delivery_info.exchange,
          received_at: Date.now() / 1000,
        }));
      }, { bind: true });
      worker = new Worker(app, { queues: [TSQ], concurrency: 4, hostname: `${TSQ}@%h`, logger: testLogger() });
      await worker.start();
    });

    after(async () => {
      await py?.stop();
      await worker?.stop();
      await app?.close();
      if (redis) {
        await redis.del(KEY, PYQ, TSQ, `_kombu.binding.${PYQ}`, `_kombu.binding.${TSQ}`);
        redis.disconnect();
      }
      if (b.name === 'amqp') await deleteAmqpQueues([PYQ, TSQ], [PYQ, TSQ]);
    });

    test("a slot from celeriac beat reaches a Python worker as one from Python's beat does", async (t) => {
      if (skip) return t.skip();
      // Python's beat, the reference
      const dir = mkdtempSync(join(tmpdir(), 'celery-beat-'));
      const child: ChildProcess = spawn(resolve(PYTHON), ['-m', 'celery', '-A', 'beat_tasks', 'beat', '-s', join(dir, 'schedule'), '--max-interval', '1', '-l', 'info'], {
        cwd: 'test/python', env: { ...process.env, ...env, CELERIAC_BEAT_SCHEDULE: JSON.stringify({ echo: ENTRY }) }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      child.stdout!.on('data', (d: Buffer) => (log += d));
      child.stderr!.on('data', (d: Buffer) => (log += d));
      const deadline = Date.now() + 30_000;
      while ((await records()).filter((r) => r.runner === 'python').length < 2) {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          assert.fail(`python beat sent nothing that ran:\n${log}`);
        }
        await sleep(200);
      }
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await sleep(500);
      const fromPython = await records();
      await redis.del(KEY);

      const sent = new Set<string>();
      await runCeleriacBeat({ echo: ENTRY }, 2600, (c) => sent.add(c.taskId));
      for (const end = Date.now() + 20_000; (await records()).length < sent.size && Date.now() < end;) await sleep(100);
      const fromCeleriac = await records();
      assert.ok(fromPython.length >= 2, `python beat: ${fromPython.length} runs`);
      assert.ok(fromCeleriac.length >= 2, `celeriac beat: ${fromCeleriac.length} runs`);
      const shape = (r: Run) => ({
        task: r.task, args: r.args, kwargs: r.kwargs, priority: r.priority, routing_key: r.routing_key, exchange: r.exchange,
        x_team: r.x_team, expires: r.expires !== null,
      });
      for (const r of [...fromPython, ...fromCeleriac]) assert.deepEqual(shape(r), shape(fromPython[0]!));
      assert.equal(shape(fromPython[0]!).x_team, 'ops');
      // expires is relative to the send: 30 s after it, within the time the run took to arrive
      for (const r of fromCeleriac) {
        const left = Date.parse(r.expires!) / 1000 - r.received_at;
        assert.ok(left > 25 && left <= 30.5, `expires ${r.expires} is ${left} s after the run`);
        assert.equal(r.periodic_task_name, 'echo');
      }
      for (const r of fromPython) assert.equal(r.periodic_task_name, null);
      assert.equal(new Set(fromCeleriac.map((r) => r.id)).size, fromCeleriac.length);
    });

    test('celeriac beat drives a Python and a TypeScript worker: every slot runs once, on time', async (t) => {
      if (skip) return t.skip();
      await redis.del(KEY);
      const slots = new Map<string, number>();
      await runCeleriacBeat({
        'to-python': ENTRY,
        'to-typescript': { task: 'beat_tasks.ts_echo', schedule: 0.5, args: [2], options: { queue: TSQ } },
      }, 4200, (c) => slots.set(c.taskId, c.slot));
      // every confirmed slot runs: wait for the workers to finish them (longer on a loaded machine)
      for (const end = Date.now() + 20_000; (await records()).length < slots.size && Date.now() < end;) await sleep(100);
      await sleep(300);
      const runs = await records();
      const byRunner = { python: runs.filter((r) => r.runner === 'python'), typescript: runs.filter((r) => r.runner === 'typescript') };
      assert.ok(byRunner.python.length >= 3, `python runs: ${byRunner.python.length}`);
      assert.ok(byRunner.typescript.length >= 7, `typescript runs: ${byRunner.typescript.length}`);
      assert.equal(runs.length, slots.size, 'every confirmed slot ran, and only once');
      assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
      const late = runs.map((r) => r.received_at * 1000 - slots.get(r.id)!).sort((x, y) => x - y);
      const q = (p: number) => late[Math.min(late.length - 1, Math.floor(p * late.length))]!.toFixed(1);
      console.log(`celeriac-count: beat lateness [${b.name}] slot -> task start: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms over ${late.length} runs (python ${byRunner.python.length}, typescript ${byRunner.typescript.length})`);
      assert.ok(late[0]! >= 0, 'no run starts before its slot');
    });
  });
}
