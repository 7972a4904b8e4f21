// ETA/countdown and long acks_late tasks longer than the Redis visibility timeout (kombu #337, celery
// #2599, #3270, #4400, #5935, #6229). A worker that holds a message keeps its `unacked_index` score
// fresh, so neither kombu's own `QoS.restore_visible` (run from Python against the same db) nor ours
// takes live work; a worker killed with SIGKILL stops refreshing and its messages come back after the
// timeout and run once elsewhere. Each test has a private redis-server (test/helpers/private-redis.ts):
// a 3 s visibility timeout in a shared db would restore other tests' messages.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import type { Delivery } from '../../src/broker.ts';
import { RedisBroker } from '../../src/brokers/redis/broker.ts';
import type { RedisDelivery } from '../../src/brokers/redis/consumer.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { Worker } from '../../src/worker/worker.ts';
import { requirePython, runPython, uniqueName } from '../helpers/peers.ts';
import { cleanupDirs, requireBinaries, startRedis, stopAll } from '../helpers/private-redis.ts';
import { taskRaw } from '../helpers/redis-broker.ts';
import { newApp, sleep, testLogger } from '../helpers/worker.ts';

const VISIBILITY = 3;
const children: ChildProcess[] = [];

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await stopAll();
  cleanupDirs();
});

/** [a, 1, b, 2] -> [[a, 1], [b, 2]] (a WITHSCORES reply). */
function chunk2(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** Resolves once `cond()` holds; fails with `what()` after `ms`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what()}`);
    await sleep(100);
  }
}

test('countdown (8 s) and acks_late (6 s) tasks longer than visibility_timeout (3 s) run exactly once while kombu\'s restore_visible (Python) and ours scan every fraction of a second', async (t) => {
  if (!requireBinaries(t) || !requirePython(t)) return;
  const server = await startRedis({ prefix: 'vis' });
  const url = `redis://127.0.0.1:${server.port}/0`;
  const redis = new Redis({ port: server.port, host: '127.0.0.1' });
  t.after(() => redis.disconnect());
  const queue = uniqueName('vis.eta');
  const app = newApp(queue, {
    broker_transport_options: { visibility_timeout: VISIBILITY, restore_visible_interval: 0.5 },
    control_exchange: uniqueName('vis.ctl'), event_exchange: uniqueName('vis.ev'),
  }, { broker: url, backend: url });
  const runs = new Map<string, number>();
  const redelivered: string[] = [];
  const count = (self: BoundTask) => {
    runs.set(self.request.id, (runs.get(self.request.id) ?? 0) + 1);
    if (self.request.delivery_info.redelivered) redelivered.push(self.request.id);
  };
  app.task('vis.countdown', (self: BoundTask) => count(self), { bind: true });
  app.task('vis.late', async (self: BoundTask, ms: number) => {
    count(self);
    await sleep(ms);
  }, { bind: true, acksLate: true });

  // a message held by a consumer that died: kombu's restore (or ours) must still bring it back
  const deadQueue = uniqueName('vis.dead');
  await app.sendTask('vis.countdown', [], {}, { queue: deadQueue });
  const dead = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/redis-consume-and-die.ts', url, '', deadQueue], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(dead);
  let deadOut = '';
  dead.stdout!.on('data', (d: Buffer) => (deadOut += d.toString('utf8')));
  await new Promise((r) => dead.once('exit', r));
  const deadTag = (JSON.parse(deadOut) as { tag: string }).tag;

  const worker = new Worker(app, { queues: [queue], concurrency: 4, logger: testLogger(), hostname: `${queue}@%h` });
  await worker.start();
  t.after(() => worker.stop());
  // kombu's QoS.restore_visible from Python, every 0.25 s for the whole run, same db and visibility timeout
  const restorer = runPython('test/python/visibility_restorer.py', {
    redis_url: url, transport_options: { visibility_timeout: VISIBILITY }, seconds: 12, every: 0.25,
  });
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await app.sendTask('vis.countdown', [], {}, { countdown: 8 })).id);
  for (let i = 0; i < 2; i++) ids.push((await app.sendTask('vis.late', [6000])).id);

  // every task ran, nothing is held or queued any more: a message a restore took would have been
  // delivered again at once (ETA still ahead), held (unacked), and have run a second time by now
  await until(async () => ids.every((id) => runs.has(id)) && (await redis.hlen('unacked')) === 0 && (await redis.llen(queue)) === 0,
    40_000, () => `runs ${JSON.stringify([...runs])}`);
  const py = JSON.parse((await restorer).trim()) as { calls: number; eligible: string[]; restored: string[] };
  t.diagnostic(`kombu restore_visible calls: ${py.calls}; eligible: ${JSON.stringify(py.eligible)}; restored by Python: ${JSON.stringify(py.restored)}`);

  assert.deepEqual(ids.map((id) => runs.get(id)), [1, 1, 1, 1, 1, 1], 'each task ran exactly once');
  assert.deepEqual(redelivered, [], 'none was redelivered');
  assert.ok(py.calls >= 10, `kombu's restore ran (${py.calls} scans)`);
  // kombu's scans never found a held message old enough to take; only the dead consumer's
  assert.deepEqual(py.eligible.filter((tag) => tag !== deadTag), [], 'no held message was ever old enough for kombu');
  assert.equal(await redis.llen(deadQueue), 1, 'the dead consumer\'s message was restored to its queue');
  assert.equal(await redis.zcard('unacked_index'), 0);
});

test('a worker killed (SIGKILL) while holding countdown messages: kombu\'s restore_visible brings them back after visibility_timeout and they run once on another worker', async (t) => {
  if (!requireBinaries(t) || !requirePython(t)) return;
  const server = await startRedis({ prefix: 'vis' });
  const url = `redis://127.0.0.1:${server.port}/0`;
  const redis = new Redis({ port: server.port, host: '127.0.0.1' });
  t.after(() => redis.disconnect());
  const queue = uniqueName('vis.kill');
  const w1 = spawn(process.execPath, [
    'bin/celeriac.js', 'worker', '-A', 'test/helpers/worker-app.ts', '-Q', queue, '-l', 'info', '-n', `w1.${queue}@%h`,
    '--without-mingle', '--without-gossip', '--broker', url, '--result-backend', url,
  ], { env: { ...process.env, CELERIAC_TEST_QUEUE: queue, CELERIAC_TEST_VISIBILITY: String(VISIBILITY) }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(w1);
  let out = '';
  w1.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  w1.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  await until(() => /ready\./.test(out), 30_000, () => out);

  // w2 scans only when it starts (before the kill): the restore that brings w1's messages back is kombu's
  const app = newApp(queue, {
    broker_transport_options: { visibility_timeout: VISIBILITY, restore_visible_interval: 3600 },
    control_exchange: uniqueName('vis.ctl'), event_exchange: uniqueName('vis.ev'),
  }, { broker: url, backend: url });
  const runs = new Map<string, number>();
  const redelivered = new Set<string>();
  app.task('tscli.who', (self: BoundTask) => {
    runs.set(self.request.id, (runs.get(self.request.id) ?? 0) + 1);
    if (self.request.delivery_info.redelivered) redelivered.add(self.request.id);
    return 'w2';
  }, { bind: true });
  const ids: string[] = [];
  // countdown 6 s: time to start w2 and kill w1 before the ETA, on a slow machine too
  for (let i = 0; i < 3; i++) ids.push((await app.sendTask('tscli.who', [], {}, { countdown: 6 })).id);
  await until(() => ids.every((id) => out.includes(`tscli.who[${id}] received`)), 20_000, () => out);
  // w1 holds the three (ETA ahead); w2 consumes the same (now empty) queue
  const w2 = new Worker(app, { queues: [queue], concurrency: 2, logger: testLogger(), hostname: `w2.${queue}@%h`, withoutMingle: true });
  const receivedAt = new Map<string, number>();
  w2.on('task-received', (req) => receivedAt.set(req.id, Date.now()));
  await w2.start();
  t.after(() => w2.stop());
  const restorer = runPython('test/python/visibility_restorer.py', {
    redis_url: url, transport_options: { visibility_timeout: VISIBILITY }, seconds: 8, every: 0.25,
  });
  assert.equal(await redis.hlen('unacked'), 3, 'w1 holds the three messages');
  const scores = new Map<string, number>();
  for (const [tag, score] of chunk2(await redis.zrange('unacked_index', '0', '-1', 'WITHSCORES'))) scores.set(tag, Number(score));
  const exited = new Promise((r) => w1.once('exit', r));
  w1.kill('SIGKILL');
  const killedAt = Date.now();
  await exited;

  await until(async () => ids.every((id) => runs.has(id)) && (await redis.hlen('unacked')) === 0 && (await redis.llen(queue)) === 0,
    30_000, () => `runs ${JSON.stringify([...runs])}`);
  const back = ids.map((id) => (receivedAt.get(id)! - killedAt) / 1000);
  t.diagnostic(`w2 received them ${back.map((s) => s.toFixed(1)).join(', ')} s after the kill (visibility_timeout ${VISIBILITY} s)`);
  assert.deepEqual(ids.map((id) => runs.get(id)), [1, 1, 1], 'each ran exactly once, on w2');
  assert.deepEqual([...redelivered].sort(), [...ids].sort(), 'they came back through a restore (redelivered)');
  // restored only once the entry w1 last refreshed was visibility_timeout old
  assert.equal(scores.size, 3);
  const lastRefresh = Math.min(...scores.values()) * 1000;
  for (const id of ids) assert.ok(receivedAt.get(id)! >= lastRefresh + VISIBILITY * 1000, `${id} came back before its entry was ${VISIBILITY} s old`);
  assert.doesNotMatch(out, /succeeded/, 'w1 ran nothing');
  const py = JSON.parse((await restorer).trim()) as { calls: number; eligible: string[]; restored: string[] };
  t.diagnostic(`kombu restore_visible calls: ${py.calls}; restored by Python: ${JSON.stringify(py.restored)}`);
  assert.deepEqual([...py.restored].sort(), [...scores.keys()].sort(), 'kombu\'s restore took the dead worker\'s three messages');
});

test('the refresh: ZADD XX on held tags only (never re-creates an entry), a held entry taken by another process is reported, our restore re-checks the score it scanned', async (t) => {
  if (!requireBinaries(t)) return;
  const server = await startRedis({ prefix: 'vis' });
  const url = `redis://127.0.0.1:${server.port}/0`;
  const redis = new Redis({ port: server.port, host: '127.0.0.1' });
  t.after(() => redis.disconnect());
  const errors: Error[] = [];
  // the default visibility timeout (3600 s: refreshed every 60 s): the test calls refresh() itself
  const broker = new RedisBroker(url, { restore_visible_interval: 3600 }, { onError: (e) => errors.push(e) });
  t.after(() => broker.close());
  await broker.connect();
  const queue = uniqueName('vis.refresh');
  for (const id of ['h1', 'h2']) await broker.publish(taskRaw(id), { exchange: '', routingKey: queue });
  const got: Delivery[] = [];
  const consumer = broker.consume([queue], (d) => got.push(d), { prefetch: 0, onError: (e) => errors.push(e) });
  await until(() => got.length === 2, 10_000, () => `got ${got.length}`);
  await consumer.cancel(); // its deliveries stay held, and refreshed
  const [h1, h2] = got as [RedisDelivery, RedisDelivery];
  assert.deepEqual(broker.store.keptTags.sort(), [h1.deliveryTag, h2.deliveryTag].sort());
  const s0 = Number(await redis.zscore('unacked_index', h1.deliveryTag));
  await sleep(50);
  await broker.store.refresh();
  const s1 = Number(await redis.zscore('unacked_index', h1.deliveryTag));
  assert.ok(s1 > s0, `h1 re-scored (${s0} -> ${s1})`);
  assert.ok(Math.abs(s1 * 1000 - Date.now()) < 60_000, 'scored with the current unix time in seconds, as kombu');

  // another process restores h2 (as kombu's restore_by_tag): the refresh must not re-create it, and says so
  await redis.multi().zrem('unacked_index', h2.deliveryTag).hdel('unacked', h2.deliveryTag).exec();
  await broker.store.refresh();
  assert.ok(errors.some((e) => e.message.includes(`delivery ${h2.deliveryTag} is no longer in unacked_index`)), errors.map((e) => e.message).join('\n'));
  assert.equal(await redis.zscore('unacked_index', h2.deliveryTag), null, 'not re-created');
  assert.deepEqual(broker.store.keptTags, [h1.deliveryTag], 'h2 is no longer refreshed');
  assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));

  // our restore: a tag whose score is above the ceiling its scan used is left alone (refreshed meanwhile)
  assert.equal(await broker.store.restoreByTag(h1.deliveryTag, false, undefined, s1 - 1), false);
  assert.equal(await redis.hexists('unacked', h1.deliveryTag), 1);
  assert.equal(await redis.llen(queue), 0);
  // at or below the ceiling: restored as kombu's restore_by_tag would
  await redis.zadd('unacked_index', 'XX', String(s1 - 10), h1.deliveryTag);
  assert.equal(await broker.store.restoreByTag(h1.deliveryTag, false, undefined, s1 - 1), true);
  assert.equal(await redis.llen(queue), 1);
  assert.equal(await redis.hexists('unacked', h1.deliveryTag), 0);

  await h1.ack();
  assert.deepEqual(broker.store.keptTags, [], 'settled: no longer refreshed');
  assert.equal(await redis.zcard('unacked_index'), 0);
});
