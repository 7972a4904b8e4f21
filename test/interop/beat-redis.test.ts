// celeriac beat on the Redis store (Redis db 1, a key prefix of its own): entries added, disabled and
// removed at run time by another process take effect without a restart, and wake a beat sleeping its
// max interval.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { createBeat, type Beat } from '../../src/beat/beat.ts';
import { entryFromConfig } from '../../src/beat/entries.ts';
import { REDIS_HOST, REDIS_PORT, redisUrl, uniqueName } from '../helpers/peers.ts';
import { testLogger } from '../helpers/worker.ts';

const DB = 1;
const PREFIX = `${uniqueName('t.beat')}:`;
const QUEUE = uniqueName('beat.redis');
const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function app() {
  return new Celery({
    broker_url: redisUrl(DB), env: {}, redbeat_key_prefix: PREFIX,
    beat_schedule: { every: { task: 'beat.every', schedule: 60, options: { queue: QUEUE } } },
  });
}

after(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length) await redis.del(...keys);
  await redis.del(QUEUE, `_kombu.binding.${QUEUE}`);
  redis.disconnect();
});

async function sentBy(task: string): Promise<number> {
  return (await redis.lrange(QUEUE, 0, -1)).filter((m) => (JSON.parse(m) as { headers: { task: string } }).headers.task === task).length;
}

test('run-time entries: add wakes a sleeping beat, disable stops it, remove drops it', async () => {
  const running = app();
  const beat: Beat = await createBeat(running, { scheduler: 'redis', maxInterval: 30, lockTimeout: 30, logger: testLogger() });
  await beat.service.start();
  const admin = app();
  const other = await createBeat(admin, { scheduler: 'redis', logger: testLogger() });
  try {
    await sleep(1000);
    // a half-second entry: without the wake-up it would wait for the next renewal (10 s): nothing else is due
    const t0 = Date.now();
    await other.store.save(entryFromConfig('dyn', { task: 'beat.dyn', schedule: 0.5, options: { queue: QUEUE } }));
    while ((await sentBy('beat.dyn')) < 3) {
      assert.ok(Date.now() - t0 < 8000, 'the added entry did not run three times within 8 s (the beat sleeps 10 s unless woken)');
      await sleep(50);
    }
    assert.equal(await other.store.setEnabled('dyn', false), true);
    await sleep(300);
    const atDisable = await sentBy('beat.dyn');
    await sleep(1500);
    assert.ok(await sentBy('beat.dyn') <= atDisable + 1, 'a disabled entry is not sent');
    const listed = await other.store.list();
    assert.deepEqual(listed.map((e) => [e.name, e.enabled]).sort(), [['dyn', false], ['every', true]]);
    assert.ok(listed.find((e) => e.name === 'dyn')!.totalRunCount >= 3);
    assert.equal(await other.store.remove('dyn'), true);
    assert.deepEqual((await other.store.list()).map((e) => e.name), ['every']);
    assert.equal(beat.service.isLeader, true);
  } finally {
    await beat.service.stop();
    await other.store.close();
    await running.close();
    await admin.close();
  }
});
