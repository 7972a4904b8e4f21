// A crontab entry (every minute, at second 0) from celeriac beat reaches a real Python Celery worker on
// each broker of the matrix, on time. Crontab's resolution is a minute, so the beats start a few seconds
// before a minute boundary (waiting for it at most once for the whole file) and run across it together.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { createBeat } from '../../src/beat/beat.ts';
import { crontab } from '../../src/beat/schedules/crontab.ts';
import { brokerMatrix, deleteAmqpQueues } from '../helpers/matrix.ts';
import { REDIS_HOST, REDIS_PORT, redisUrl, requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { testLogger } from '../helpers/worker.ts';

const DB = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cases = brokerMatrix(DB).map((b) => ({ b, queue: uniqueName(`beat.cron.${b.name}`), key: uniqueName('beat.cron.records') }));
const workers: PythonWorker[] = [];
let redis: Redis;
let skip = false;

before(async () => {
  const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
  if (!requirePython(probe as never)) return;
  redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
  for (const { b, queue, key } of cases) {
    workers.push(await startPythonWorker(['-A', 'beat_tasks', 'worker', '-P', 'threads', '-c', '2', '-Q', queue, '-n', `${queue}@%h`,
      '--without-mingle', '--without-gossip', '-l', 'info'], {
      cwd: 'test/python', env: { CELERIAC_BROKER_URL: b.brokerUrl, CELERIAC_RECORD_URL: redisUrl(DB), CELERIAC_RECORD_KEY: key },
    }));
  }
});

after(async () => {
  for (const w of workers) await w.stop();
  if (redis) {
    for (const { queue, key } of cases) await redis.del(key, queue, `_kombu.binding.${queue}`);
    redis.disconnect();
  }
  if (cases.some((c) => c.b.name === 'amqp')) await deleteAmqpQueues(cases.map((c) => c.queue), cases.map((c) => c.queue));
});

test('a crontab entry (every minute) runs at second 0 on Python workers, through each broker', async (t) => {
  if (skip) return t.skip();
  // start 6 s before the next minute boundary, so the first run is the boundary
  const msIntoMinute = Date.now() % 60_000;
  if (msIntoMinute < 54_000) await sleep(54_000 - msIntoMinute);
  const boundary = Math.ceil(Date.now() / 60_000) * 60_000;
  const slots = new Map<string, number>();
  const beats = await Promise.all(cases.map(async ({ b, queue }) => {
    const app = new Celery({
      broker_url: b.brokerUrl, env: {}, timezone: 'Asia/Kolkata', // +05:30: minute boundaries are the same instants
      beat_schedule: { minutely: { task: 'beat_tasks.echo', schedule: crontab({ minute: '*' }), args: [b.name], options: { queue } } },
    });
    const beat = await createBeat(app, {
      scheduler: 'file', schedule: join(mkdtempSync(join(tmpdir(), 'celeriac-beat-')), 'schedule.json'), maxInterval: 1,
      logger: testLogger(), onSent: (c) => slots.set(c.taskId, c.slot),
    });
    await beat.service.start();
    return { app, beat };
  }));
  await sleep(Math.max(0, boundary + 4000 - Date.now()));
  for (const { app, beat } of beats) {
    await beat.service.stop();
    await app.close();
  }
  for (const { b, key } of cases) {
    // the run may take a while to arrive on a loaded machine; a second one would need another minute
    for (const end = Date.now() + 20_000; (await redis.llen(key)) === 0 && Date.now() < end;) await sleep(100);
    const runs = (await redis.lrange(key, 0, -1)).map((r) => JSON.parse(r) as { id: string; args: string[]; received_at: number; periodic_task_name: string });
    assert.equal(runs.length, 1, `[${b.name}] one run across one minute boundary, got ${runs.length}`);
    const run = runs[0]!;
    assert.equal(slots.get(run.id), boundary, `[${b.name}] the slot is the minute boundary`);
    assert.deepEqual(run.args, [b.name]);
    assert.equal(run.periodic_task_name, 'minutely');
    const late = run.received_at * 1000 - boundary;
    assert.ok(late >= 0, `[${b.name}] ran ${late} ms before its slot`);
    console.log(`celeriac-count: beat crontab [${b.name}] minute boundary -> task start: ${late.toFixed(1)} ms`);
  }
});
