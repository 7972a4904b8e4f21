// `celeriac worker --metrics-port` on each broker of the matrix (results in Redis db 13): a TypeScript
// worker started as a user starts it runs tasks that succeed, fail with an exception, retry, reject,
// are revoked (expired at receipt, and revoked by remote control while held for their eta), an unknown
// task, a task that sends a task (task_send_sent_event) and one that blocks; /metrics is scraped for the
// exact counters and labels celery-exporter would show (names from its src/exporter.py), the runtime
// histogram, worker_up and worker_tasks_active. Own event_exchange / control_exchange / queue names.
// A port in use is one line and exit status 69.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Celery } from '../../src/app.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { uniqueName } from '../helpers/peers.ts';
import { parseSamples, sampleKey, sampleValue, scrape, scrapeUntil, type Sample } from '../helpers/prom.ts';

const DB = 13;
const BIN = resolve('bin/celeriac.js');
const dir = resolve('tmp', `metrics-worker-${randomBytes(4).toString('hex')}`);
mkdirSync(dir, { recursive: true });
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const ENV = { CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '' };

/** The worker's app: tasks with every outcome, settings from the environment. */
const APP = `import { existsSync } from 'node:fs';
import { Celery } from ${JSON.stringify(resolve('src/app.ts'))};
import { Reject } from ${JSON.stringify(resolve('protocol/exceptions.ts'))};

class BoomError extends Error {
  override name = 'BoomError';
}
const env = process.env;
const app = new Celery({
  broker_url: env.MX_BROKER, result_backend: env.MX_BACKEND, task_default_queue: env.MX_QUEUE,
  event_exchange: env.MX_EVENT_EXCHANGE, control_exchange: env.MX_CONTROL_EXCHANGE, task_send_sent_event: true,
  ...JSON.parse(env.MX_EXTRA ?? '{}'),
});
app.task('mx.add', (x: number, y: number) => x + y);
app.task('mx.fail', (msg: string) => {
  throw new BoomError(msg);
});
app.task('mx.retry_once', (self: any, x: number) => (self.request.retries < 1 ? self.retry({ countdown: 0.1, exc: new Error('again') }) : x), { bind: true });
app.task('mx.reject', () => {
  throw new Reject(['no', false]);
});
app.task('mx.reject_late', () => {
  throw new Reject(['no', false]);
}, { acksLate: true });
app.task('mx.spawn', async () => (await app.sendTask('mx.add', [1, 1])).id);
app.task('mx.later', () => 'never runs');
app.task('mx.held', () => 'never runs');
app.task('mx.block', async (gate: string) => {
  while (!existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
  return 'opened';
});
export default app;
`;
writeFileSync(join(dir, 'mx-app.ts'), APP);

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
}

function celeriac(args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child, out: () => out, exited,
    async waitFor(re, ms = 40_000) {
      const end = Date.now() + ms;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (Date.now() > end || child.exitCode !== null || child.signalCode !== null) throw new Error(`waiting for ${re}: got\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Samples with a value, as `key → value` (zero-instantiated series checked separately). */
function nonzero(samples: Sample[], prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name.startsWith(prefix) && s.value !== 0) out[sampleKey(s)] = s.value;
  return out;
}

const key = (name: string, labels: Record<string, string>) => sampleKey({ name, labels });

for (const b of brokerMatrix(DB)) workerMetricsSuite(b);

function workerMetricsSuite(b: BrokerCase): void {
  describe(`[${b.name}] celeriac worker --metrics-port`, () => {
    test('counts what the worker ran, with celery-exporter\'s names and labels', async () => {
      const queue = uniqueName('mx.w');
      const host = `mxhost-${randomBytes(3).toString('hex')}`;
      const exchanges = { event_exchange: uniqueName('mx.ev'), control_exchange: uniqueName('mx.ctl') };
      const env = {
        MX_BROKER: b.brokerUrl, MX_BACKEND: b.backendUrl, MX_QUEUE: queue, MX_EVENT_EXCHANGE: exchanges.event_exchange,
        MX_CONTROL_EXCHANGE: exchanges.control_exchange, MX_EXTRA: JSON.stringify(b.settings),
      };
      const worker = celeriac(['worker', '-A', './mx-app.ts', '-n', `mxts@${host}`, '-c', '4', '--metrics-port', '0', '--metrics-host', '127.0.0.1',
        '--without-mingle', '-l', 'info'], env);
      const producer = new Celery({ broker_url: b.brokerUrl, result_backend: b.backendUrl, task_default_queue: queue, env: {}, ...exchanges, ...b.settings });
      try {
        const url = (await worker.waitFor(/\.> metrics: +(http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;
        await worker.waitFor(/ready\./);
        const up = await scrape(url);
        assert.equal(up.status, 200);
        assert.equal(sampleValue(parseSamples(up.text), 'celery_worker_up', { hostname: host }), 1);
        assert.ok(parseSamples(up.text).some((s) => s.name === 'process_resident_memory_bytes'), 'Node process metrics');

        // a task held for its eta, received, then revoked by remote control (discarded when due, as Celery does)
        const held = await producer.sendTask('mx.held', [], {}, { countdown: 10 });
        await scrapeUntil(url, (s) => sampleValue(s, 'celery_task_received_total', { name: 'mx.held' }) === 1, 30_000, 'mx.held received');
        await producer.control.revoke(held.id);
        const results = [
          await producer.sendTask('mx.add', [2, 3]),
          await producer.sendTask('mx.fail', ['boom']),
          await producer.sendTask('mx.retry_once', [7]),
          await producer.sendTask('mx.spawn', []),
        ];
        await producer.sendTask('mx.reject', []);
        await producer.sendTask('mx.reject_late', []);
        await producer.sendTask('mx.later', [], {}, { expires: new Date(Date.now() - 60_000).toISOString() });
        await producer.sendTask('mx.nope', []);
        for (const r of results) await r.get({ timeout: 30, propagate: false });
        // one running task: worker_tasks_active 1, then 0
        const gate = join(dir, `gate-${b.name}`);
        const blocked = await producer.sendTask('mx.block', [gate]);
        await scrapeUntil(url, (s) => sampleValue(s, 'celery_worker_tasks_active', { hostname: host }) === 1, 30_000, 'one active task');
        writeFileSync(gate, '');
        assert.equal(await blocked.get({ timeout: 30 }), 'opened');

        const l = (name: string, extra: Record<string, string> = {}) => ({ name, hostname: host, queue_name: queue, ...extra });
        const expected: Record<string, number> = {
          [key('celery_task_sent_total', { name: 'mx.add', hostname: hostname(), queue_name: queue })]: 1,
          [key('celery_task_sent_total', { name: 'mx.retry_once', hostname: hostname(), queue_name: queue })]: 1,
          [key('celery_task_received_total', l('mx.add'))]: 2,
          [key('celery_task_received_total', l('mx.fail'))]: 1,
          [key('celery_task_received_total', l('mx.retry_once'))]: 2,
          [key('celery_task_received_total', l('mx.spawn'))]: 1,
          [key('celery_task_received_total', l('mx.reject'))]: 1,
          [key('celery_task_received_total', l('mx.reject_late'))]: 1,
          [key('celery_task_received_total', l('mx.held'))]: 1,
          [key('celery_task_received_total', l('mx.block'))]: 1,
          [key('celery_task_started_total', l('mx.add'))]: 2,
          [key('celery_task_started_total', l('mx.fail'))]: 1,
          [key('celery_task_started_total', l('mx.retry_once'))]: 2,
          [key('celery_task_started_total', l('mx.spawn'))]: 1,
          [key('celery_task_started_total', l('mx.reject'))]: 1,
          [key('celery_task_started_total', l('mx.reject_late'))]: 1,
          [key('celery_task_started_total', l('mx.block'))]: 1,
          [key('celery_task_succeeded_total', l('mx.add'))]: 2,
          [key('celery_task_succeeded_total', l('mx.retry_once'))]: 1,
          [key('celery_task_succeeded_total', l('mx.spawn'))]: 1,
          [key('celery_task_succeeded_total', l('mx.block'))]: 1,
          [key('celery_task_failed_total', l('mx.fail', { exception: 'BoomError' }))]: 1,
          [key('celery_task_failed_total', { name: 'mx.nope', hostname: host, queue_name: 'celery', exception: 'NotRegistered' })]: 1,
          [key('celery_task_retried_total', l('mx.retry_once'))]: 1,
          // Celery sends task-rejected only for a message not acked yet: acks_late (Request.reject)
          [key('celery_task_rejected_total', l('mx.reject_late'))]: 1,
          [key('celery_task_revoked_total', l('mx.held'))]: 1,
          [key('celery_task_revoked_total', l('mx.later'))]: 1,
        };
        const samples = await scrapeUntil(url, (s) => JSON.stringify(countersOf(s)) === JSON.stringify(sorted(expected)), 30_000,
          'the exact counters');
        assert.deepEqual(countersOf(samples), sorted(expected));
        // the runtime histogram: one observation per success, prometheus_client's buckets
        for (const [name, count] of [['mx.add', 2], ['mx.retry_once', 1], ['mx.spawn', 1], ['mx.block', 1]] as const) {
          assert.equal(sampleValue(samples, 'celery_task_runtime_count', l(name)), count, name);
          assert.equal(sampleValue(samples, 'celery_task_runtime_bucket', l(name, { le: '+Inf' })), count, name);
        }
        assert.equal(samples.filter((s) => s.name === 'celery_task_runtime_bucket' && s.labels.name === 'mx.add').length, 15);
        // celery-exporter's zero series: every counter but task_sent, for each task seen
        assert.equal(sampleValue(samples, 'celery_task_failed_total', l('mx.add', { exception: '' })), 0);
        assert.equal(sampleValue(samples, 'celery_task_received_total', l('mx.later')), 0, 'expired at receipt: not received');
        assert.equal(sampleValue(samples, 'celery_task_sent_total', l('mx.fail')), undefined);
        assert.equal(sampleValue(samples, 'celery_worker_tasks_active', { hostname: host }), 0);
        assert.equal(sampleValue(samples, 'celery_worker_up', { hostname: host }), 1);
        // celeriac's own: the unknown task was refused (and quarantined), by kind and queue
        assert.equal(sampleValue(samples, 'celery_messages_refused_total', { hostname: host, queue_name: queue, kind: 'unknown-task' }), 1);
      } finally {
        await producer.close();
        worker.child.kill('SIGTERM');
        await worker.exited;
        if (b.name === 'amqp') await deleteAmqpQueues([queue], [queue]);
      }
    });
  });
}

function sorted(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [c]) => a.localeCompare(c)));
}

/** The task counters with a value, sorted. */
function countersOf(samples: Sample[]): Record<string, number> {
  return sorted(Object.fromEntries(Object.entries(nonzero(samples, 'celery_task_')).filter(([k]) => /_total\{/.test(k))));
}

describe('celeriac worker --metrics-port: mistakes', () => {
  test('a port in use: one line, exit status 69, before the worker connects', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as AddressInfo).port;
    try {
      // an unreachable broker: the metrics port is taken before any connection is tried
      const r = spawnSync(process.execPath, [BIN, 'worker', '-A', './mx-app.ts', '--metrics-port', String(port), '--metrics-host', '127.0.0.1'], {
        cwd: dir, encoding: 'utf8', timeout: 60_000,
        env: { ...process.env, ...ENV, MX_BROKER: 'redis://127.0.0.1:1/0', MX_QUEUE: 'mx.none', MX_EVENT_EXCHANGE: 'x', MX_CONTROL_EXCHANGE: 'y' },
      });
      assert.equal(r.status, 69, r.stderr);
      assert.equal(r.stderr, `celeriac worker: MetricsServerError: metrics: port ${port} is already in use (127.0.0.1:${port}): stop what holds it or choose another port\n`);
      // the setting worker_metrics_port does the same
      const bySetting = spawnSync(process.execPath, [BIN, 'worker', '-A', './mx-app.ts'], {
        cwd: dir, encoding: 'utf8', timeout: 60_000,
        env: { ...process.env, ...ENV, MX_BROKER: 'redis://127.0.0.1:1/0', MX_QUEUE: 'mx.none', MX_EVENT_EXCHANGE: 'x', MX_CONTROL_EXCHANGE: 'y',
          MX_EXTRA: JSON.stringify({ worker_metrics_port: port }) },
      });
      assert.equal(bySetting.status, 69, bySetting.stderr);
      assert.match(bySetting.stderr, new RegExp(`^celeriac worker: MetricsServerError: metrics: port ${port} is already in use \\(0\\.0\\.0\\.0:${port}\\)`));
      const noPort = spawnSync(process.execPath, [BIN, 'worker', '-A', './mx-app.ts', '--metrics-host', '127.0.0.1'], {
        cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...ENV, MX_BROKER: 'redis://127.0.0.1:1/0' },
      });
      assert.equal(noPort.status, 64, noPort.stderr);
      assert.match(noPort.stderr, /--metrics-host goes with --metrics-port \(or the worker_metrics_port setting\)/);
      const bad = spawnSync(process.execPath, [BIN, 'worker', '-A', './mx-app.ts', '--metrics-port', '70000'], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...ENV } });
      assert.equal(bad.status, 64, bad.stderr);
      assert.match(bad.stderr, /--metrics-port must be a port number \(0-65535\), got "70000"/);
    } finally {
      holder.close();
    }
    assert.ok(existsSync(join(dir, 'mx-app.ts')));
  });
});
