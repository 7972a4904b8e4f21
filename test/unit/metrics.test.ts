// Metrics without a broker: celery-exporter's names and label rules (src/metrics/names.ts), the worker
// binding fed by a fake worker's events, the exporter's Exporter fed by synthetic events (merge rules,
// zero-instantiated counters, heartbeats, timeouts, purge, queue gauges), and the HTTP server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { utcoffset, type CeleryEvent } from '../../protocol/events.ts';
import { FAILURE, IGNORED, REJECTED, RETRY, SUCCESS } from '../../protocol/states.ts';
import { Exporter } from '../../src/metrics/exporter.ts';
import { counterName, exceptionClassName, nodeHost, parseBuckets, pyStr } from '../../src/metrics/names.ts';
import type { QueueProbe } from '../../src/metrics/queues.ts';
import { createCeleryMetrics, loadPromClient } from '../../src/metrics/registry.ts';
import { MetricsServerError, serveMetrics } from '../../src/metrics/server.ts';
import { bindWorkerMetrics } from '../../src/metrics/worker.ts';
import { parseSamples, parseTypes, sampleKey, sampleValue, scrape, type Sample } from '../helpers/prom.ts';

class BoomError extends Error {
  override name = 'BoomError';
}

/** The metric families and label names celery-exporter declares (its src/exporter.py). */
const CELERY_EXPORTER_FAMILIES: Record<string, [type: string, labels: string[]]> = {
  celery_task_sent_total: ['counter', ['name', 'hostname', 'queue_name']],
  celery_task_received_total: ['counter', ['name', 'hostname', 'queue_name']],
  celery_task_started_total: ['counter', ['name', 'hostname', 'queue_name']],
  celery_task_succeeded_total: ['counter', ['name', 'hostname', 'queue_name']],
  celery_task_failed_total: ['counter', ['name', 'hostname', 'exception', 'queue_name']],
  celery_task_rejected_total: ['counter', ['name', 'hostname', 'queue_name']],
  celery_task_revoked_total: ['counter', ['name', 'hostname', 'queue_name']],
  celery_task_retried_total: ['counter', ['name', 'hostname', 'queue_name']],
  celery_worker_up: ['gauge', ['hostname']],
  celery_worker_tasks_active: ['gauge', ['hostname']],
  celery_task_runtime: ['histogram', ['name', 'hostname', 'queue_name']],
  celery_task_queue_wait_time: ['histogram', ['name', 'hostname', 'queue_name']],
  celery_queue_length: ['gauge', ['queue_name']],
  celery_active_consumer_count: ['gauge', ['queue_name']],
  celery_active_worker_count: ['gauge', ['queue_name']],
  celery_active_process_count: ['gauge', ['queue_name']],
};

test('names: counters, hostname and exception label rules, buckets', () => {
  assert.equal(counterName('celery_', 'task-sent'), 'celery_task_sent_total');
  assert.equal(counterName('x_', 'task-retried'), 'x_task_retried_total');
  assert.equal(nodeHost('worker1@web-3'), 'web-3');
  assert.equal(nodeHost('gen4242@web-3.example.com'), 'web-3.example.com');
  assert.equal(nodeHost('plain'), 'plain');
  assert.equal(exceptionClassName("ValueError('boom')"), 'ValueError');
  assert.equal(exceptionClassName("NotRegistered('x.y')"), 'NotRegistered');
  assert.equal(exceptionClassName('boom'), 'UnknownException');
  assert.equal(exceptionClassName(null), 'UnknownException');
  assert.equal(pyStr(null), 'None');
  assert.equal(pyStr(true), 'True');
  assert.deepEqual(parseBuckets('0.1, 1,10,inf'), [0.1, 1, 10]);
  assert.throws(() => parseBuckets('1,0.5'), /increase/);
  assert.throws(() => parseBuckets('1,x'), /not a number/);
});

test('registry: every family celery-exporter declares, with its type and label names', async () => {
  const prom = await loadPromClient();
  const m = createCeleryMetrics(prom, { scope: 'exporter' });
  const types = parseTypes(await m.registry.metrics());
  for (const [name, [type]] of Object.entries(CELERY_EXPORTER_FAMILIES)) assert.equal(types.get(name), type, name);
  assert.equal(types.size, Object.keys(CELERY_EXPORTER_FAMILIES).length, [...types.keys()].join(' '));
  const json = await m.registry.getMetricsAsJSON();
  for (const metric of json) {
    const declared = (m.registry.getSingleMetric(metric.name) as unknown as { labelNames: string[] }).labelNames;
    assert.deepEqual(declared, CELERY_EXPORTER_FAMILIES[metric.name]![1], metric.name);
  }
  // prometheus_client's DEFAULT_BUCKETS, not prom-client's
  m.taskRuntime.observe({ name: 'a', hostname: 'h', queue_name: 'q' }, 0.3);
  const les = parseSamples(await m.registry.metrics()).filter((s) => s.name === 'celery_task_runtime_bucket').map((s) => s.labels.le);
  assert.deepEqual(les, ['0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.25', '0.5', '0.75', '1', '2.5', '5', '7.5', '10', '+Inf']);
  const worker = createCeleryMetrics(prom, { scope: 'worker', prefix: 'ts_' });
  assert.deepEqual([...parseTypes(await worker.registry.metrics()).keys()].sort(), [
    'ts_messages_refused_total', 'ts_task_failed_total', 'ts_task_received_total', 'ts_task_rejected_total', 'ts_task_retried_total', 'ts_task_revoked_total',
    'ts_task_runtime', 'ts_task_sent_total', 'ts_task_started_total', 'ts_task_succeeded_total', 'ts_worker_tasks_active', 'ts_worker_up',
  ]);
});

// ---- the worker binding --------------------------------------------------------------------------------

class FakeWorker extends EventEmitter {
  hostname = 'ts1@web-3';
  active = 0;
  revoked = new Set<string>();
}

let n = 0;
/** A request as the worker hands it over; `acknowledged` when its message was acked before it ran (not acks_late). */
function req(name: string, queue = 'q1', acknowledged = true): { id: string; name: string; delivery: { queue: string }; acknowledged: boolean } {
  return { id: `id-${++n}`, name, delivery: { queue }, acknowledged };
}
const tick = () => new Promise((r) => setImmediate(r));

test('worker binding: each lifecycle event counts as celery-exporter counts the matching Celery event', async () => {
  const prom = await loadPromClient();
  const m = createCeleryMetrics(prom, { scope: 'worker' });
  const w = new FakeWorker();
  const sent = new Set<(f: Record<string, unknown>) => void>();
  const unbind = bindWorkerMetrics(w as never, m, { app: { origin: 'gen77@client-host', events: { onTaskSent: sent as never } } });
  assert.equal(sampleValue(parseSamples(await m.registry.metrics()), 'celery_worker_up', { hostname: 'web-3' }), 0);
  w.emit('ready');
  const ok = req('t.add');
  w.emit('task-received', ok);
  w.emit('task-started', ok);
  w.emit('task-finished', ok, { state: SUCCESS, retval: 5, runtime: 0.2 });
  const bad = req('t.fail');
  w.emit('task-received', bad);
  w.emit('task-started', bad);
  w.emit('task-finished', bad, { state: FAILURE, retval: new BoomError('x'), runtime: 0.1 });
  const retry = req('t.retry');
  w.emit('task-received', retry);
  w.emit('task-started', retry);
  w.emit('task-finished', retry, { state: RETRY, retval: new Error('again'), runtime: 0.1 });
  // Reject: task-rejected (Celery's Request.reject) only when the message was not acked yet (acks_late)
  const rej = req('t.reject', 'q2', false);
  w.emit('task-received', rej);
  w.emit('task-started', rej);
  w.emit('task-finished', rej, { state: REJECTED, retval: null, runtime: 0.1 });
  const rejAcked = req('t.reject', 'q2');
  w.emit('task-received', rejAcked);
  w.emit('task-started', rejAcked);
  w.emit('task-finished', rejAcked, { state: REJECTED, retval: null, runtime: 0.1 });
  const ign = req('t.ignore');
  w.emit('task-started', ign);
  w.emit('task-finished', ign, { state: IGNORED, retval: null, runtime: 0.1 });
  // revoked at receipt: the worker adds the id to `revoked` right after task-received (no received count)
  const early = req('t.revoked');
  w.emit('task-received', early);
  w.revoked.add(early.id);
  w.emit('task-revoked', early, 'revoked');
  // revoked later (held for its eta): received, then revoked
  const held = req('t.revoked');
  w.emit('task-received', held);
  await tick();
  w.revoked.add(held.id);
  w.emit('task-revoked', held, 'revoked');
  const dup = req('t.add');
  w.emit('task-started', dup);
  w.emit('task-deduplicated', dup, 'already succeeded');
  w.emit('task-unknown', 't.nope', 'id-x');
  for (const cb of sent) cb({ name: 't.add', queue: 'q1' });
  w.active = 3;
  await tick();
  const s = parseSamples(await m.registry.metrics());
  const v = (name: string, labels: Record<string, string>) => sampleValue(s, name, { hostname: 'web-3', queue_name: 'q1', ...labels });
  assert.equal(v('celery_worker_up', {}), undefined); // worker_up has only hostname
  assert.equal(sampleValue(s, 'celery_worker_up', { hostname: 'web-3' }), 1);
  assert.equal(v('celery_task_received_total', { name: 't.add' }), 1);
  assert.equal(v('celery_task_started_total', { name: 't.add' }), 2);
  assert.equal(v('celery_task_succeeded_total', { name: 't.add' }), 2);
  assert.equal(v('celery_task_runtime_count', { name: 't.add' }), 1, 'a deduplicated task has no runtime');
  assert.equal(v('celery_task_runtime_sum', { name: 't.add' }), 0.2);
  assert.equal(v('celery_task_failed_total', { name: 't.fail', exception: 'BoomError' }), 1);
  assert.equal(v('celery_task_failed_total', { name: 't.add', exception: '' }), 0, 'zero-instantiated, exception ""');
  assert.equal(v('celery_task_retried_total', { name: 't.retry' }), 1);
  assert.equal(v('celery_task_succeeded_total', { name: 't.retry' }), 0);
  assert.equal(v('celery_task_rejected_total', { name: 't.reject', queue_name: 'q2' }), 1);
  assert.equal(v('celery_task_started_total', { name: 't.reject', queue_name: 'q2' }), 2);
  assert.equal(v('celery_task_started_total', { name: 't.ignore' }), 1);
  assert.equal(s.filter((x) => x.labels.name === 't.ignore' && x.value > 0).length, 1, 'IGNORED counts nothing but the start');
  assert.equal(v('celery_task_received_total', { name: 't.revoked' }), 1, 'only the one revoked after receipt was received');
  assert.equal(v('celery_task_revoked_total', { name: 't.revoked' }), 2);
  assert.equal(sampleValue(s, 'celery_task_failed_total', { name: 't.nope', exception: 'NotRegistered', queue_name: 'celery' }), 1);
  assert.equal(sampleValue(s, 'celery_task_sent_total', { name: 't.add', hostname: 'client-host', queue_name: 'q1' }), 1);
  assert.equal(s.filter((x) => x.name === 'celery_task_sent_total' && x.value === 0).length, 0, 'task_sent is never zero-instantiated');
  unbind();
  assert.equal(w.listenerCount('task-started'), 0);
  assert.equal(sent.size, 0);
});

test('worker binding: unknown tasks requeued are no failure', async () => {
  const prom = await loadPromClient();
  const m = createCeleryMetrics(prom, { scope: 'worker' });
  const w = new FakeWorker();
  bindWorkerMetrics(w as never, m, { unknownTasks: 'requeue' });
  w.emit('task-unknown', 't.nope', 'id-y');
  assert.equal(parseSamples(await m.registry.metrics()).filter((x) => x.name.startsWith('celery_task_')).length, 0);
});

// ---- the exporter ------------------------------------------------------------------------------------

const TS = 1_700_000_000;
function ev(type: string, fields: Record<string, unknown>): CeleryEvent {
  return { type, timestamp: TS, utcoffset: utcoffset(), local_received: TS, clock: 1, pid: 1, ...fields } as CeleryEvent;
}

async function samplesOf(e: Exporter): Promise<Sample[]> {
  return parseSamples(await e.metrics.registry.metrics());
}

test('exporter: task events, labels from the merged task (queue from task-sent, hostname part, None name)', async () => {
  const prom = await loadPromClient();
  const e = new Exporter({ metrics: createCeleryMetrics(prom, {}) });
  const h = e.handlers();
  h['task-sent']!(ev('task-sent', { uuid: 'a', hostname: 'gen1@client', name: 'p.add', queue: 'q1' }));
  h['task-received']!(ev('task-received', { uuid: 'a', hostname: 'w1@host1', name: 'p.add' }));
  h['task-started']!(ev('task-started', { uuid: 'a', hostname: 'w1@host1', timestamp: TS + 2 }));
  h['task-succeeded']!(ev('task-succeeded', { uuid: 'a', hostname: 'w1@host1', runtime: 0.4 }));
  // no task-sent seen: queue_name is the default queue; a revoked-at-receipt task has no name
  h['task-received']!(ev('task-received', { uuid: 'b', hostname: 'w2@host2', name: 'p.fail' }));
  h['task-failed']!(ev('task-failed', { uuid: 'b', hostname: 'w2@host2', exception: "ValueError('x')" }));
  h['task-revoked']!(ev('task-revoked', { uuid: 'c', hostname: 'w2@host2', expired: true }));
  // a task-sent arriving after the worker's events still sets the task's hostname (celery.events.state's rule)
  h['task-received']!(ev('task-received', { uuid: 'd', hostname: 'w1@host1', name: 'p.late' }));
  h['task-sent']!(ev('task-sent', { uuid: 'd', hostname: 'gen1@client', name: 'p.late', queue: 'q9' }));
  h['task-started']!(ev('task-started', { uuid: 'd', hostname: 'w1@host1' }));
  const s = await samplesOf(e);
  const v = (name: string, labels: Record<string, string>) => sampleValue(s, name, labels);
  assert.equal(v('celery_task_sent_total', { name: 'p.add', hostname: 'client', queue_name: 'q1' }), 1);
  assert.equal(v('celery_task_received_total', { name: 'p.add', hostname: 'host1', queue_name: 'q1' }), 1);
  assert.equal(v('celery_task_received_total', { name: 'p.add', hostname: 'client', queue_name: 'q1' }), 0, 'made visible by task-sent');
  assert.equal(v('celery_task_succeeded_total', { name: 'p.add', hostname: 'host1', queue_name: 'q1' }), 1);
  assert.equal(v('celery_task_runtime_sum', { name: 'p.add', hostname: 'host1', queue_name: 'q1' }), 0.4);
  assert.equal(v('celery_task_queue_wait_time_sum', { name: 'p.add', hostname: 'host1', queue_name: 'q1' }), 2);
  assert.equal(v('celery_task_failed_total', { name: 'p.fail', hostname: 'host2', queue_name: 'celery', exception: 'ValueError' }), 1);
  assert.equal(v('celery_task_revoked_total', { name: 'None', hostname: 'host2', queue_name: 'celery' }), 1);
  assert.equal(v('celery_task_started_total', { name: 'p.late', hostname: 'host1', queue_name: 'q9' }), 1);
  assert.equal(v('celery_task_received_total', { name: 'p.late', hostname: 'host1', queue_name: 'celery' }), 1);
});

test('exporter: queue wait time starts at the eta when later than the send; generic hostnames', async () => {
  const prom = await loadPromClient();
  const e = new Exporter({ metrics: createCeleryMetrics(prom, {}), genericHostnameWorkerTaskMetric: true, genericHostnameTaskSentMetric: true });
  const h = e.handlers();
  const eta = new Date((TS + 10) * 1000).toISOString();
  h['task-sent']!(ev('task-sent', { uuid: 'a', hostname: 'gen1@client', name: 'p.add', queue: 'q1', eta }));
  h['task-received']!(ev('task-received', { uuid: 'a', hostname: 'w1@host1', name: 'p.add', eta }));
  h['task-started']!(ev('task-started', { uuid: 'a', hostname: 'w1@host1', timestamp: TS + 13 }));
  const s = await samplesOf(e);
  assert.equal(sampleValue(s, 'celery_task_queue_wait_time_sum', { name: 'p.add', hostname: 'generic' }), 3);
  assert.equal(sampleValue(s, 'celery_task_sent_total', { name: 'p.add', hostname: 'generic' }), 1);
  assert.equal(s.filter((x) => x.labels.hostname && x.labels.hostname !== 'generic').length, 0);
});

test('exporter: worker up/active from online, heartbeat, offline and heartbeat timeout; purge', async () => {
  const prom = await loadPromClient();
  let now = TS;
  const e = new Exporter({ metrics: createCeleryMetrics(prom, {}), workerTimeout: 10, purgeOfflineWorkerMetrics: 60, now: () => now });
  const h = e.handlers();
  const up = async (host: string) => sampleValue(await samplesOf(e), 'celery_worker_up', { hostname: host });
  h['worker-online']!(ev('worker-online', { hostname: 'w1@host1', freq: 2 }));
  assert.equal(await up('host1'), 1);
  h['worker-heartbeat']!(ev('worker-heartbeat', { hostname: 'w1@host1', freq: 2, active: 3 }));
  assert.equal(sampleValue(await samplesOf(e), 'celery_worker_tasks_active', { hostname: 'host1' }), 3);
  // a heartbeat received more than 2 × freq ago is not alive
  now = TS + 5;
  h['worker-heartbeat']!(ev('worker-heartbeat', { hostname: 'w1@host1', freq: 2, active: 1 }));
  assert.equal(await up('host1'), 0);
  now = TS;
  h['worker-heartbeat']!(ev('worker-heartbeat', { hostname: 'w1@host1', freq: 2, active: 1, local_received: TS }));
  assert.equal(await up('host1'), 1);
  h['worker-offline']!(ev('worker-offline', { hostname: 'w1@host1' }));
  assert.equal(await up('host1'), 0);
  assert.equal(sampleValue(await samplesOf(e), 'celery_worker_tasks_active', { hostname: 'host1' }), 0);
  // no offline event: down after workerTimeout, at a scrape
  h['worker-heartbeat']!(ev('worker-heartbeat', { hostname: 'w2@host2', freq: 2, active: 0 }));
  h['task-received']!(ev('task-received', { uuid: 'z', hostname: 'w2@host2', name: 'p.add' }));
  now = TS + 9;
  await e.scrape();
  assert.equal(await up('host2'), 1);
  now = TS + 11;
  await e.scrape();
  assert.equal(await up('host2'), 0);
  assert.equal(sampleValue(await samplesOf(e), 'celery_task_received_total', { hostname: 'host2' }), 1);
  now = TS + 61;
  await e.scrape();
  const left = await samplesOf(e);
  assert.equal(left.filter((x) => Object.values(x.labels).includes('host2')).length, 0, 'purged');
  assert.equal(left.filter((x) => Object.values(x.labels).includes('host1')).length, 0, 'host1 was offline as long: purged too');
  assert.equal(e.workerLastSeen.size, 0);
});

test('exporter: queue gauges from the probe and from inspect stats / active_queues', async () => {
  const prom = await loadPromClient();
  const lengths: Record<string, number> = { q1: 5, q2: 0 };
  const probe: QueueProbe = {
    transport: 'amqp',
    async info(q) {
      return q in lengths ? { messages: lengths[q]!, consumers: q === 'q1' ? 2 : 0 } : null;
    },
    async close() {},
  };
  const e = new Exporter({
    metrics: createCeleryMetrics(prom, {}), queues: probe, initialQueues: ['q3'],
    inspect: {
      stats: async () => ({ 'py@a': { pool: { processes: [1, 2, 3] } }, 'ts@b': { pool: { processes: [9] } } }),
      activeQueues: async () => ({ 'py@a': [{ name: 'q1' }, { name: 'q2' }], 'ts@b': [{ name: 'q1' }] }),
    },
  });
  await e.scrape();
  const s = await samplesOf(e);
  const g = (name: string, q: string) => sampleValue(s, name, { queue_name: q });
  assert.deepEqual([g('celery_queue_length', 'q1'), g('celery_queue_length', 'q2'), g('celery_queue_length', 'q3')], [5, 0, 0]);
  assert.deepEqual([g('celery_active_consumer_count', 'q1'), g('celery_active_consumer_count', 'q3')], [2, 0]);
  assert.deepEqual([g('celery_active_worker_count', 'q1'), g('celery_active_worker_count', 'q2')], [2, 1]);
  assert.deepEqual([g('celery_active_process_count', 'q1'), g('celery_active_process_count', 'q2')], [4, 3]);
  // no consumer count on Redis, and nobody replying keeps the known queues
  const redis = new Exporter({ metrics: createCeleryMetrics(prom, {}), queues: { ...probe, transport: 'redis' }, initialQueues: ['q1'], inspect: { stats: async () => null, activeQueues: async () => null } });
  await redis.scrape();
  const r = await samplesOf(redis);
  assert.equal(sampleValue(r, 'celery_queue_length', { queue_name: 'q1' }), 5);
  assert.equal(r.filter((x) => x.name === 'celery_active_consumer_count').length, 0);
});

// ---- the server ------------------------------------------------------------------------------------

test('server: /metrics, a failed scrape is 500, a port in use is one MetricsServerError (exit status 69)', async () => {
  const prom = await loadPromClient();
  const m = createCeleryMetrics(prom, { scope: 'worker' });
  m.workerUp.set({ hostname: 'h' }, 1);
  let fail = false;
  const server = await serveMetrics({ registry: m.registry, port: 0, host: '127.0.0.1', beforeScrape: () => { if (fail) throw new Error('broker down'); } });
  try {
    const r = await scrape(server.url);
    assert.equal(r.status, 200);
    assert.match(r.type ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(r.text, /^# HELP celery_worker_up Indicates if a worker has recently sent a heartbeat\.$/m);
    assert.deepEqual(parseSamples(r.text).filter((s) => s.name === 'celery_worker_up').map(sampleKey), ['celery_worker_up{hostname="h"}']);
    fail = true;
    const bad = await scrape(server.url);
    assert.equal(bad.status, 500);
    assert.equal(bad.text, 'Failed to scrape metrics: broker down\n');
    assert.equal((await scrape(server.url.replace('/metrics', '/health'))).text, 'OK\n');
    assert.equal((await scrape(server.url.replace('/metrics', '/nope'))).status, 404);
    const err = await serveMetrics({ registry: m.registry, port: server.port, host: '127.0.0.1' }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof MetricsServerError, String(err));
    assert.equal(err.exitCode, 69);
    assert.equal(err.message, `metrics: port ${server.port} is already in use (127.0.0.1:${server.port}): stop what holds it or choose another port`);
  } finally {
    await server.close();
  }
  // the port is free again
  await new Promise<void>((resolve, reject) => {
    const s = createServer().once('error', reject).listen(server.port, '127.0.0.1', () => s.close(() => resolve()));
  });
});
