// `celeriac exporter` on each broker of the matrix (results in Redis db 13) against a fleet of one real
// Python Celery worker (-E, solo pool) and one TypeScript worker (-E), on the test's own event_exchange,
// control_exchange and queues. A TypeScript producer (task_send_sent_event) queues the same tasks for
// both before they start (success ×2, failure, retry, Reject with acks_late, expired); the exporter must then show, per
// task name and worker hostname, exactly the counters celery-exporter counts (its src/exporter.py rules),
// the runtime histogram, the queue lengths (a priority queue: every kombu priority sub-queue on Redis),
// workers and processes per queue (inspect stats / active_queues), consumers per queue on RabbitMQ,
// worker_up 1 for both, then 0 for the TypeScript worker at its worker-offline and 0 for the killed
// Python worker once its heartbeats stop for --worker-timeout. The metric families and label names are
// celery-exporter's.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Reject } from '../../protocol/exceptions.ts';
import { Celery } from '../../src/app.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { Worker } from '../../src/worker/worker.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { parseSamples, parseTypes, sampleKey, sampleValue, scrape, scrapeUntil, type Sample } from '../helpers/prom.ts';
import { testLogger } from '../helpers/worker.ts';

const DB = 13;
const BIN = resolve('bin/celeriac.js');
const dir = resolve('tmp', `metrics-exporter-${randomBytes(4).toString('hex')}`);
mkdirSync(dir, { recursive: true });
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

class BoomError extends Error {
  override name = 'BoomError';
}

/** celery-exporter's metric families and label names (src/exporter.py), in its text output. */
const CELERY_EXPORTER_FAMILIES: Record<string, string[]> = {
  celery_task_sent_total: ['name', 'hostname', 'queue_name'],
  celery_task_received_total: ['name', 'hostname', 'queue_name'],
  celery_task_started_total: ['name', 'hostname', 'queue_name'],
  celery_task_succeeded_total: ['name', 'hostname', 'queue_name'],
  celery_task_failed_total: ['name', 'hostname', 'exception', 'queue_name'],
  celery_task_rejected_total: ['name', 'hostname', 'queue_name'],
  celery_task_revoked_total: ['name', 'hostname', 'queue_name'],
  celery_task_retried_total: ['name', 'hostname', 'queue_name'],
  celery_worker_up: ['hostname'],
  celery_worker_tasks_active: ['hostname'],
  celery_task_runtime: ['name', 'hostname', 'queue_name'],
  celery_task_queue_wait_time: ['name', 'hostname', 'queue_name'],
  celery_queue_length: ['queue_name'],
  celery_active_consumer_count: ['queue_name'],
  celery_active_worker_count: ['queue_name'],
  celery_active_process_count: ['queue_name'],
};

function sorted(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [c]) => a.localeCompare(c)));
}

/** The task counters with a value. */
function counters(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (/^celery_task_\w+_total$/.test(s.name) && s.value !== 0) out[sampleKey(s)] = s.value;
  return sorted(out);
}

for (const b of brokerMatrix(DB)) exporterSuite(b);

function exporterSuite(b: BrokerCase): void {
  describe(`[${b.name}] celeriac exporter: a Python and a TypeScript worker`, () => {
    test('counters per task and worker, runtime, queue gauges, worker up then down', async (t) => {
      if (!requirePython(t)) return;
      const PYQ = uniqueName('mx.py');
      const TSQ = uniqueName('mx.ts');
      const PRIQ = uniqueName('mx.pri');
      const PY_HOST = `pyhost-${randomBytes(3).toString('hex')}`;
      const TS_HOST = `tshost-${randomBytes(3).toString('hex')}`;
      const exchanges = { event_exchange: uniqueName('mx.ev'), control_exchange: uniqueName('mx.ctl') };
      const conf = join(dir, `conf-${b.name}.mjs`);
      writeFileSync(conf, `export default ${JSON.stringify({ ...exchanges, ...b.settings })};\n`);

      const exporter = spawn(process.execPath, [BIN, '--config', conf, 'exporter', '--broker-url', b.brokerUrl, '--port', '0', '--host', '127.0.0.1',
        '-Q', `${PRIQ},${PYQ},${TSQ}`, '--worker-timeout', '4', '--purge-offline-worker-metrics', '0', '--log-level', 'warning'], {
        cwd: dir, env: { ...process.env, CELERY_BROKER_URL: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(exporter);
      let log = '';
      exporter.stdout!.on('data', (d: Buffer) => (log += d.toString('utf8')));
      exporter.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
      const exited = new Promise<number | null>((r) => exporter.on('exit', (code) => r(code)));

      const producer = new Celery({ broker_url: b.brokerUrl, result_backend: b.backendUrl, env: {}, task_send_sent_event: true, ...exchanges, ...b.settings });
      const wapp = new Celery({ broker_url: b.brokerUrl, result_backend: b.backendUrl, env: {}, task_default_queue: TSQ, ...exchanges, ...b.settings });
      wapp.task('mx.add', (x: number, y: number) => x + y);
      wapp.task('mx.fail', (msg: string) => {
        throw new BoomError(msg);
      });
      wapp.task('mx.retry_once', (self: BoundTask, x: number) => (self.request.retries < 1 ? self.retry({ countdown: 0.1, exc: new Error('again') }) : x), { bind: true });
      // acks_late: Celery's Request.reject sends task-rejected only for a message not acked yet
      wapp.task('mx.reject', () => {
        throw new Reject(['no', false]);
      }, { acksLate: true });
      let worker: Worker | null = null;
      let py: PythonWorker | null = null;
      try {
        const url = `${(/serving (http:\/\/\S+\/metrics)/.exec(await waitLog(() => log, /serving http:\/\/\S+\/metrics/, exited)) ?? [])[1]}`;
        // before any worker runs: the tasks (and their task-sent events), a priority queue nobody consumes
        const send = async (queue: string) => {
          for (const [name, args, options] of [
            ['mx.add', [2, 3], {}], ['mx.add', [4, 5], {}], ['mx.fail', ['boom'], {}], ['mx.retry_once', [7], {}], ['mx.reject', [], {}],
            ['mx.add', [0, 0], { expires: new Date(Date.now() - 60_000).toISOString() }],
          ] as const) {
            await producer.sendTask(name, [...args], {}, { queue, ...options });
          }
        };
        await send(PYQ);
        await send(TSQ);
        for (const priority of [0, 3, 6, 9, undefined]) await producer.sendTask('mx.add', [1, 1], {}, { queue: PRIQ, ...(priority === undefined ? {} : { priority }) });
        const me = hostname();
        const sentLabels = (name: string, queue: string) => sampleKey({ name: 'celery_task_sent_total', labels: { name, hostname: me, queue_name: queue } });
        let samples = await scrapeUntil(url, (s) => sampleValue(s, 'celery_task_sent_total', { name: 'mx.add', queue_name: PRIQ }) === 5
          && sampleValue(s, 'celery_task_sent_total', { name: 'mx.add', queue_name: TSQ }) === 3, 30_000, 'the task-sent events');
        assert.equal(sampleValue(samples, 'celery_queue_length', { queue_name: PRIQ }), 5, 'every priority sub-queue counted');
        assert.equal(sampleValue(samples, 'celery_queue_length', { queue_name: PYQ }), 6);
        assert.equal(sampleValue(samples, 'celery_queue_length', { queue_name: TSQ }), 6);
        assert.equal(sampleValue(samples, 'celery_active_worker_count', { queue_name: PYQ }), 0);

        worker = new Worker(wapp, { queues: [TSQ], hostname: `mxts@${TS_HOST}`, concurrency: 2, logger: testLogger(), withoutMingle: true,
          events: { taskEvents: true, heartbeatInterval: 1 } });
        await worker.start();
        py = await startPythonWorker(['-A', 'metrics_tasks', 'worker', '-E', '-P', 'solo', '-n', `mxpy@${PY_HOST}`, '-Q', PYQ, '-l', 'info',
          '--without-gossip', '--without-mingle'], {
          cwd: 'test/python',
          env: {
            CELERIAC_BROKER_URL: b.brokerUrl, CELERIAC_BACKEND_URL: b.backendUrl, CELERIAC_EVENT_EXCHANGE: exchanges.event_exchange,
            CELERIAC_CONTROL_EXCHANGE: exchanges.control_exchange, CELERIAC_EXTRA_CONF: JSON.stringify(b.settings),
          },
        });

        const expected: Record<string, number> = {};
        for (const [host, queue] of [[PY_HOST, PYQ], [TS_HOST, TSQ]] as const) {
          const k = (metric: string, name: string, extra: Record<string, string> = {}) =>
            sampleKey({ name: `celery_task_${metric}_total`, labels: { name, hostname: host, queue_name: queue, ...extra } });
          Object.assign(expected, {
            [sentLabels('mx.add', queue)]: 3, [sentLabels('mx.fail', queue)]: 1, [sentLabels('mx.retry_once', queue)]: 1, [sentLabels('mx.reject', queue)]: 1,
            [k('received', 'mx.add')]: 2, [k('started', 'mx.add')]: 2, [k('succeeded', 'mx.add')]: 2,
            // expired at receipt: revoked, not received; on RabbitMQ the message's `expiration` (0 ms, as
            // Celery sets it for a past expiry) makes the broker drop it before any worker sees it
            ...(b.name === 'redis' ? { [k('revoked', 'mx.add')]: 1 } : {}),
            [k('received', 'mx.fail')]: 1, [k('started', 'mx.fail')]: 1, [k('failed', 'mx.fail', { exception: 'BoomError' })]: 1,
            [k('received', 'mx.retry_once')]: 2, [k('started', 'mx.retry_once')]: 2, [k('retried', 'mx.retry_once')]: 1, [k('succeeded', 'mx.retry_once')]: 1,
            [k('received', 'mx.reject')]: 1, [k('started', 'mx.reject')]: 1, [k('rejected', 'mx.reject')]: 1,
          });
        }
        expected[sentLabels('mx.add', PRIQ)] = 5;
        samples = await scrapeUntil(url, (s) => JSON.stringify(counters(s)) === JSON.stringify(sorted(expected))
          && sampleValue(s, 'celery_worker_up', { hostname: PY_HOST }) === 1 && sampleValue(s, 'celery_worker_up', { hostname: TS_HOST }) === 1
          && sampleValue(s, 'celery_active_worker_count', { queue_name: PYQ }) === 1 && sampleValue(s, 'celery_queue_length', { queue_name: PYQ }) === 0,
        60_000, 'the fleet\'s counters').catch(async (err: Error) => {
          // the difference, readable
          const last = parseSamples((await scrape(url)).text);
          assert.deepEqual(counters(last), sorted(expected));
          throw err;
        });
        assert.deepEqual(counters(samples), sorted(expected));
        for (const [host, queue] of [[PY_HOST, PYQ], [TS_HOST, TSQ]] as const) {
          const l = { hostname: host, queue_name: queue };
          assert.equal(sampleValue(samples, 'celery_task_runtime_count', { ...l, name: 'mx.add' }), 2, host);
          assert.equal(sampleValue(samples, 'celery_task_runtime_count', { ...l, name: 'mx.retry_once' }), 1, host);
          assert.equal(sampleValue(samples, 'celery_task_queue_wait_time_count', { ...l, name: 'mx.add' }), 2, `${host}: sent → started`);
          assert.equal(sampleValue(samples, 'celery_task_failed_total', { ...l, name: 'mx.add', exception: '' }), 0, 'zero series');
          assert.equal(sampleValue(samples, 'celery_worker_tasks_active', { hostname: host }), 0);
          // inspect stats: the solo pool and the TypeScript worker each report one process
          assert.equal(sampleValue(samples, 'celery_active_worker_count', { queue_name: queue }), 1, queue);
          assert.equal(sampleValue(samples, 'celery_active_process_count', { queue_name: queue }), 1, queue);
          assert.equal(sampleValue(samples, 'celery_queue_length', { queue_name: queue }), 0, queue);
          assert.equal(sampleValue(samples, 'celery_active_consumer_count', { queue_name: queue }), b.name === 'amqp' ? 1 : undefined, queue);
        }
        assert.equal(sampleValue(samples, 'celery_queue_length', { queue_name: PRIQ }), 5);
        assert.equal(sampleValue(samples, 'celery_active_worker_count', { queue_name: PRIQ }), 0);

        // celery-exporter's families and label names, nothing else
        const text = (await scrape(url)).text;
        const types = parseTypes(text);
        assert.deepEqual([...types.keys()].sort(), Object.keys(CELERY_EXPORTER_FAMILIES).sort());
        for (const s of parseSamples(text)) {
          const family = types.has(s.name) ? s.name : s.name.replace(/_(bucket|count|sum)$/, '');
          const want = CELERY_EXPORTER_FAMILIES[family];
          assert.ok(want, s.name);
          assert.deepEqual(Object.keys(s.labels).filter((k) => k !== 'le').sort(), [...want].sort(), sampleKey(s));
        }

        // down: the TypeScript worker at its worker-offline, the killed Python worker when its heartbeats stop
        await worker.stop();
        worker = null;
        py.process.kill('SIGKILL');
        samples = await scrapeUntil(url, (s) => sampleValue(s, 'celery_worker_up', { hostname: TS_HOST }) === 0, 30_000, 'the TS worker down');
        samples = await scrapeUntil(url, (s) => sampleValue(s, 'celery_worker_up', { hostname: PY_HOST }) === 0, 30_000, 'the Python worker down');
        assert.equal(sampleValue(samples, 'celery_worker_tasks_active', { hostname: PY_HOST }), 0);
        assert.match(log, /^celeriac exporter: serving http:\/\/127\.0\.0\.1:\d+\/metrics$/m);
        exporter.kill('SIGTERM');
        assert.equal(await exited, 0, log);
      } finally {
        await worker?.stop().catch(() => undefined);
        await py?.stop().catch(() => undefined);
        exporter.kill('SIGKILL');
        await producer.close();
        await wapp.close().catch(() => undefined);
        if (b.name === 'amqp') await deleteAmqpQueues([PYQ, TSQ, PRIQ], [PYQ, TSQ, PRIQ]);
      }
    });
  });
}

describe('celeriac exporter: mistakes', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'exporter', ...args], {
    cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, CELERY_BROKER_URL: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '' },
  });
  test('a port in use, a broker that cannot be reached: one line, exit status 69; a bad option: 64', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as AddressInfo).port;
    try {
      let r = run(['--broker-url', 'redis://127.0.0.1:1/0', '--host', '127.0.0.1', '--port', String(port)]);
      assert.equal(r.status, 69, r.stderr);
      assert.equal(r.stderr, `celeriac exporter: MetricsServerError: metrics: port ${port} is already in use (127.0.0.1:${port}): stop what holds it or choose another port\n`);
      r = run(['--broker-url', 'redis://127.0.0.1:1/0', '--host', '127.0.0.1', '--port', '0']);
      assert.equal(r.status, 69, r.stderr);
      assert.equal(r.stderr, 'celeriac exporter: BrokerConnectionError: cannot connect to the Redis broker redis://127.0.0.1:1/0: connect ECONNREFUSED 127.0.0.1:1\n');
      r = run(['--buckets', '1,0.5']);
      assert.equal(r.status, 64, r.stderr);
      assert.match(r.stderr, /--buckets takes increasing numbers separated by commas \(e\.g\. 0\.1,1,10,inf\): buckets must increase: 1 then 0\.5/);
      r = run(['--static-label', 'nolabel']);
      assert.equal(r.status, 64, r.stderr);
      assert.match(r.stderr, /--static-label takes key=value, got "nolabel"/);
    } finally {
      holder.close();
    }
  });
});

async function waitLog(log: () => string, re: RegExp, exited: Promise<number | null>, ms = 40_000): Promise<string> {
  let done = false;
  void exited.then(() => (done = true));
  const end = Date.now() + ms;
  while (!re.test(log())) {
    if (done || Date.now() > end) throw new Error(`waiting for ${re}: got\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return log();
}
