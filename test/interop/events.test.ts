// Events across languages, on each broker of the matrix (results in Redis db 10): Celery's own
// EventReceiver + celery.events.state.State (what `celery events` and Flower use) captures while a
// TypeScript worker (-E) and a Python worker (-E) run the same tasks (success, failure, retry, revoked by
// expiry, revoked by remote control) sent by a TypeScript producer with task_send_sent_event. The State
// must hold the TypeScript worker and its tasks exactly as the Python ones: same states, same fields, same
// types; the TS worker alive with heartbeats, then offline. A TypeScript receiver sees the Python worker.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { CeleryEvent } from '../../protocol/events.ts';
import { Reject } from '../../protocol/exceptions.ts';
import { Celery } from '../../src/app.ts';
import type { EventReceiver } from '../../src/events/receiver.ts';
import { Worker } from '../../src/worker/worker.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { PYTHON, requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { testLogger } from '../helpers/worker.ts';

const DB = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class ValueError extends Error {
  override name = 'ValueError';
}

interface Capture {
  workers: Record<string, Record<string, unknown> & { types: Record<string, string>; alive: boolean; heartbeat_count: number }>;
  tasks: Record<string, Record<string, unknown> & { types: Record<string, string> }>;
  events: Record<string, Record<string, Record<string, string>>>;
  order: Record<string, string[]>;
  alive_seen: Record<string, boolean>;
  heartbeats_max: Record<string, number>;
}

/** celery.events.State fed by Celery's EventReceiver, in a Python process (test/python/events_capture.py). */
async function startCapture(broker: string, conf: object): Promise<{ stop(): Promise<Capture>; child: ChildProcess }> {
  const child = spawn(resolve(PYTHON), ['test/python/events_capture.py'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  child.stdin!.write(JSON.stringify({ broker, conf }) + '\n');
  const end = Date.now() + 20_000;
  while (!out.includes('ready')) {
    if (Date.now() > end || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`events_capture.py did not get ready:\n${out}\n${err}`);
    }
    await sleep(50);
  }
  return {
    child,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.end('stop\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(last) as Capture;
      } catch {
        throw new Error(`events_capture.py printed no state:\n${out}\n${err}`);
      }
    },
  };
}

for (const b of brokerMatrix(DB)) eventsSuite(b);

function eventsSuite(b: BrokerCase): void {
  const TSQ = uniqueName('ev.ts');
  const PYQ = uniqueName('ev.py');
  const TS_NODE = `${TSQ}@ts`;
  const PY_NODE = `${PYQ}@py`;
  const settings = { ...b.settings, worker_send_task_events: true, task_send_sent_event: true };
  let skip = false;
  let app: Celery;
  let wapp: Celery;
  let worker: Worker;
  let py: PythonWorker | null = null;
  let capture: Capture;
  let tsReceiver: EventReceiver;
  const tsSeen: CeleryEvent[] = [];
  /** scenario → [ts task id, py task id] */
  const ids: Record<string, [string, string]> = {};

  describe(`[${b.name}] events: celery.events.State sees a TypeScript worker as a Python one`, () => {
    before(async () => {
      if (!requirePython({ skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } } as never)) return;
      const base = { broker_url: b.brokerUrl, result_backend: b.backendUrl, env: {}, ...settings };
      app = new Celery(base); // the producer (task-sent)
      wapp = new Celery({ ...base, task_default_queue: TSQ });
      wapp.task('ev.add', (x: number, y: number) => x + y);
      wapp.task('ev.fail', (msg: string) => {
        throw new ValueError(msg);
      });
      wapp.task('ev.retry_once', (self: BoundTask, x: number) => {
        if (self.request.retries < 1) return self.retry({ countdown: 0.2, exc: new ValueError('again') });
        return x;
      }, { bind: true });
      // Request.reject sends task-rejected only for a message not acked yet (acks_late)
      wapp.task('ev.reject', (_x: number) => {
        throw new Reject(['no', false]);
      });
      wapp.task('ev.reject_late', (_x: number) => {
        throw new Reject(['no', false]);
      }, { acksLate: true });
      const cap = await startCapture(b.brokerUrl, b.settings);
      tsReceiver = app.events.receiver({ handlers: { '*': (e) => tsSeen.push(e) } });
      await tsReceiver.start();
      worker = new Worker(wapp, { hostname: TS_NODE, concurrency: 2, logger: testLogger(), withoutMingle: true });
      await worker.start();
      py = await startPythonWorker(['-A', 'events_tasks', 'worker', '-E', '-n', PY_NODE, '-Q', PYQ, '-c', '1', '-l', 'info', '--without-gossip', '--without-mingle'], {
        cwd: 'test/python',
        env: { CELERIAC_BROKER_URL: b.brokerUrl, CELERIAC_BACKEND_URL: b.backendUrl, CELERIAC_EXTRA_CONF: JSON.stringify(b.settings) },
      });
      const both = async (name: string, scenario: string, args: unknown[], options: object = {}) => {
        const t = await app.sendTask(name, args as never, {}, { queue: TSQ, ...options });
        const p = await app.sendTask(name, args as never, {}, { queue: PYQ, ...options });
        ids[scenario] = [t.id, p.id];
        return [t, p];
      };
      const results = [
        ...await both('ev.add', 'success', [2, 3]),
        ...await both('ev.fail', 'failure', ['boom']),
        ...await both('ev.retry_once', 'retry', [7]),
      ];
      await both('ev.reject', 'reject', [1]);
      await both('ev.reject_late', 'reject_late', [1]);
      await both('ev.add', 'expired', [1, 1], { expires: new Date(Date.now() - 60_000) });
      const [eta1, eta2] = await both('ev.add', 'revoked', [4, 4], { countdown: 3 });
      await sleep(800);
      await app.control.revoke([eta1!.id, eta2!.id]);
      for (const r of results) await r.get({ timeout: 20, propagate: false });
      for (const r of [eta1!, eta2!]) {
        const end = Date.now() + 15_000;
        while ((await r.state()) !== 'REVOKED' && Date.now() < end) await sleep(200);
      }
      await sleep(2500); // at least one heartbeat after the tasks
      await worker.stop();
      await py.stop();
      py = null;
      await sleep(1000);
      capture = await cap.stop();
    });

    after(async () => {
      await worker?.stop().catch(() => undefined);
      await py?.stop().catch(() => undefined);
      await tsReceiver?.stop().catch(() => undefined);
      await app?.close().catch(() => undefined);
      if (b.name === 'amqp' && !skip) await deleteAmqpQueues([TSQ, PYQ]);
    });

    test('the TypeScript worker is in the State: online, heartbeats, then offline; same fields and types as the Python worker', (t) => {
      if (skip) return t.skip('no python');
      const ts = capture.workers[TS_NODE];
      const pyw = capture.workers[PY_NODE];
      assert.ok(ts, `TS worker in State.workers: ${Object.keys(capture.workers).join(', ')}`);
      assert.ok(pyw, 'Python worker in State.workers');
      assert.equal(capture.alive_seen[TS_NODE], true, 'seen alive');
      // State keeps the heartbeats while the worker is alive (worker-offline clears them)
      assert.ok(capture.heartbeats_max[TS_NODE]! >= 3, `heartbeats: ${capture.heartbeats_max[TS_NODE]}`);
      // (a Python worker may flush task events after its worker-offline, which State counts as heartbeats again)
      assert.equal(ts.heartbeat_count, 0, `cleared by worker-offline: ${capture.order[TS_NODE]!.slice(-6).join(' ')}`);
      assert.equal(ts.alive, false, `offline after stop: ${capture.order[TS_NODE]!.slice(-6).join(' ')}`);
      assert.deepEqual(ts.types, pyw.types, 'Worker fields: same types');
      assert.equal(ts.freq, 2.0);
      assert.equal(ts.sw_ident, 'celeriac');
      assert.equal(ts.pid, process.pid);
      const order = capture.order[TS_NODE]!.filter((x) => x.startsWith('worker-'));
      assert.equal(order[0], 'worker-online');
      assert.equal(order.at(-1), 'worker-offline');
      for (const type of ['worker-online', 'worker-heartbeat', 'worker-offline']) {
        assert.deepEqual(capture.events[TS_NODE]![type], capture.events[PY_NODE]![type], `${type}: same fields, same types`);
      }
    });

    test('every task event type of the TS worker has the Python worker\'s fields and types', (t) => {
      if (skip) return t.skip('no python');
      for (const type of ['task-received', 'task-started', 'task-succeeded', 'task-failed', 'task-retried', 'task-revoked']) {
        const tsF = capture.events[TS_NODE]![type];
        const pyF = capture.events[PY_NODE]![type];
        assert.ok(tsF && pyF, `${type} from both workers`);
        assert.deepEqual(Object.keys(tsF).sort(), Object.keys(pyF).sort(), `${type}: same fields`);
        for (const k of Object.keys(pyF)) {
          if (k === 'eta' || k === 'expires') continue; // None for most tasks, str for some: compared per task below
          assert.equal(tsF[k], pyF[k], `${type}.${k}: same type`);
        }
      }
    });

    test('each task ends in the same State as its Python twin, field by field', (t) => {
      if (skip) return t.skip('no python');
      const expect: Record<string, string> = {
        success: 'SUCCESS', failure: 'FAILURE', retry: 'SUCCESS', expired: 'REVOKED', revoked: 'REVOKED',
        // Request.reject sends task-rejected only for a message not acked before it ran (acks_late);
        // State puts REJECTED before STARTED, so which of the two a task ends in depends on which event
        // arrived last: the rejected timestamp is what tells
        reject: 'STARTED', reject_late: '',
      };
      for (const [scenario, [tsId, pyId]] of Object.entries(ids)) {
        const tt = capture.tasks[tsId]!;
        const pt = capture.tasks[pyId]!;
        assert.ok(tt && pt, `${scenario}: both tasks in State.tasks`);
        if (expect[scenario]) {
          assert.equal(tt.state, expect[scenario], `${scenario}: TS state`);
          assert.equal(pt.state, expect[scenario], `${scenario}: Python state`);
        }
        if (scenario.startsWith('reject')) {
          const rejected = scenario === 'reject_late';
          assert.equal(typeof pt.rejected === 'number', rejected, `${scenario}: Python sent task-rejected: ${rejected}`);
          assert.equal(typeof tt.rejected === 'number', rejected, `${scenario}: TS sent task-rejected: ${rejected}`);
        }
        assert.equal(tt.worker, TS_NODE);
        assert.equal(tt.name, pt.name, `${scenario}: name`);
        assert.equal(tt.args, pt.args, `${scenario}: args`);
        assert.equal(tt.kwargs, pt.kwargs, `${scenario}: kwargs`);
        assert.equal(tt.result, pt.result, `${scenario}: result`);
        assert.equal(tt.exception, pt.exception, `${scenario}: exception`);
        assert.equal(tt.retries, pt.retries, `${scenario}: retries`);
        const set = (x: Record<string, unknown>) => Object.keys(x).filter((k) => k !== 'types' && x[k] !== null && !(Array.isArray(x[k]) && (x[k] as unknown[]).length === 0)).sort();
        assert.deepEqual(set(tt), set(pt), `${scenario}: the same fields are set`);
        for (const k of set(pt)) assert.equal(tt.types[k], pt.types[k], `${scenario}.${k}: same type`);
      }
      const ok = capture.tasks[ids.success![0]]!;
      assert.equal(ok.result, '5');
      assert.equal(ok.args, '[2, 3]'); // send_task(args=[2, 3]), as Python's
      assert.equal(typeof ok.runtime, 'number');
      assert.equal(capture.tasks[ids.failure![0]]!.exception, "ValueError('boom')");
      assert.match(String(capture.tasks[ids.failure![0]]!.traceback), /Traceback/);
      assert.equal(capture.tasks[ids.retry![0]]!.retries, 1);
    });

    test('task-sent from the TypeScript producer is in the State (sent, exchange, routing_key, client)', (t) => {
      if (skip) return t.skip('no python');
      for (const [tsId, pyId] of Object.values(ids)) {
        for (const id of [tsId, pyId]) {
          const task = capture.tasks[id]!;
          assert.equal(typeof task.sent, 'number', `${id} sent`);
          assert.equal(task.client, app.origin);
        }
      }
      assert.equal(capture.tasks[ids.success![0]]!.routing_key, TSQ);
    });

    test('a TypeScript receiver sees the Python worker (online, heartbeats, task events, offline) and the TS worker', (t) => {
      if (skip) return t.skip('no python');
      const types = (host: string) => new Set(tsSeen.filter((e) => e.hostname === host).map((e) => e.type));
      for (const host of [PY_NODE, TS_NODE]) {
        const seen = types(host);
        for (const type of ['worker-online', 'worker-heartbeat', 'task-received', 'task-started', 'task-succeeded', 'task-failed', 'task-retried', 'task-revoked', 'worker-offline']) {
          assert.ok(seen.has(type), `${host}: ${type} (${[...seen].join(', ')})`);
        }
      }
      const sent = tsSeen.filter((e) => e.type === 'task-sent' && e.uuid === ids.success![1]);
      assert.equal(sent.length, 1);
      const pySucceeded = tsSeen.find((e) => e.type === 'task-succeeded' && e.uuid === ids.success![1])!;
      assert.equal(pySucceeded.result, '5');
      assert.equal(typeof pySucceeded.local_received, 'number');
    });
  });
}
