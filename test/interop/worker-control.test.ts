// Remote control of TypeScript workers by real Celery 5.6: app.control.inspect()/broadcast/revoke and the
// `celery inspect` / `celery control` CLI, answered by a TS worker and a Python worker in the same fleet
// (reply shapes compared: same keys and types), revokes honoured for ETA-held and queued tasks (REVOKED
// stored), rate limits, mingle both ways, shutdown. Both brokers of the matrix; results in Redis db 8.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { PYTHON, requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { newApp, sleep, testLogger, type Outcome } from '../helpers/worker.ts';

const DB = 8;
const PEER = 'test/python/control_peer.py';

for (const b of brokerMatrix(DB)) controlSuite(b);

/** The JSON "type" of a value, for shape comparisons (int and float are both numbers on the wire). */
function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'dict' : typeof v;
}

/** Keys and value kinds of a dict, sorted: what "same shape" means here. */
function shape(d: unknown): string[] {
  assert.equal(kind(d), 'dict', `expected a dict, got ${JSON.stringify(d)}`);
  return Object.entries(d as Record<string, unknown>).map(([k, v]) => `${k}:${kind(v)}`).sort();
}

function controlSuite(b: BrokerCase): void {
  const Q = uniqueName('tsctl');
  const TSQ = `${Q}.ts`;
  const PYQ = `${Q}.py`;
  const TS_NODE = `ts.${Q}@%h`;
  const PY_NODE = `py.${Q}@%h`;
  const env = { CONTROL_BROKER: b.brokerUrl, CONTROL_BACKEND: b.backendUrl, CONTROL_CONF: JSON.stringify(b.settings) };
  let app: Celery;
  let worker: Worker;
  let py: PythonWorker | null = null;
  const extra: PythonWorker[] = [];
  const extraTs: Worker[] = [];
  let skip = false;
  let ts = '';
  let pyName = '';

  async function peer(ops: object[]): Promise<unknown[]> {
    const out = await runPython(PEER, { broker: b.brokerUrl, backend: b.backendUrl, conf: b.settings, ops });
    const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; result?: unknown; error?: string; traceback?: string });
    for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
    return lines.map((l) => l.result);
  }
  const inspect = async (method: string, destination: string[] | null, args: object = {}, timeout = 1.5) =>
    (await peer([{ op: 'inspect', method, destination, args, timeout }]))[0] as Record<string, unknown> | null;

  function celeryCli(args: string[]): Promise<string> {
    return new Promise((res, rej) => {
      const child = spawn(resolve(PYTHON), ['-m', 'celery', '-A', 'control_tasks', ...args], { cwd: 'test/python', env: { ...process.env, ...env } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', rej);
      child.on('close', () => res(out));
    });
  }

  const startPy = (name: string, queue: string, more: string[] = []) =>
    startPythonWorker(['-A', 'control_tasks', 'worker', '-n', name, '-Q', queue, '-c', '1', '-l', 'info', '--without-gossip', ...more], { cwd: 'test/python', env });

  describe(`[${b.name}] remote control of a TypeScript worker`, () => {
    before(async () => {
      const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
      if (!requirePython(probe as never)) return;
      app = newApp(TSQ, { ...b.settings }, { broker: b.brokerUrl, backend: b.backendUrl });
      app.task('tsc.ts_add', (x: number, y: number) => x + y);
      app.task('tsc.ts_sleep', async (ms: number) => {
        await sleep(ms);
        return ms;
      });
      app.task('tsc.ts_now', () => Date.now() / 1000, { rateLimit: '2/s' });
      worker = new Worker(app, { queues: [TSQ], concurrency: 1, hostname: TS_NODE, logger: testLogger() });
      await worker.start();
      ts = worker.hostname;
      py = await startPy(PY_NODE, PYQ, ['--without-mingle']);
      pyName = ts.replace(/^ts\./, 'py.');
    });

    after(async () => {
      for (const w of extraTs) await w.stop().catch(() => undefined);
      for (const p of extra) await p.stop();
      await py?.stop();
      if (!skip) await worker.stop().catch(() => undefined);
      if (b.name === 'amqp') await deleteAmqpQueues([TSQ, PYQ, `${TSQ}.added`]);
    });

    test('ping: a mixed fleet answers inspect().ping(); the CLI `celery inspect ping` reaches the TS worker', async (t) => {
      if (skip) return t.skip();
      const all = await inspect('ping', null);
      assert.deepEqual(all?.[ts], { ok: 'pong' });
      assert.deepEqual(all?.[pyName], { ok: 'pong' });
      const only = await inspect('ping', [ts]);
      assert.deepEqual(only, { [ts]: { ok: 'pong' } });
      const cli = await celeryCli(['inspect', 'ping', '-d', ts, '--timeout', '2']);
      assert.match(cli, new RegExp(`${ts.replace(/[.]/g, '\\.')}: OK\\s+pong`), cli);
    });

    test('stats, registered, revoked, clock, active_queues, conf: same shapes as the Python worker', async (t) => {
      if (skip) return t.skip();
      const [stats, registered, revoked, clock, queues, conf] = (await peer(['stats', 'registered', 'revoked', 'clock', 'active_queues', 'conf']
        .map((method) => ({ op: 'inspect', method, destination: [ts, pyName], timeout: 2 })))) as Record<string, any>[];
      const s = stats!;
      assert.deepEqual(shape(s[ts]), shape(s[pyName]), 'stats');
      const pool = (n: string) => Object.keys((s[n] as { pool: object }).pool).sort();
      assert.deepEqual(pool(ts), pool(pyName), 'stats.pool keys (prefork)');
      const broker = (n: string) => Object.keys((s[n] as { broker: object }).broker).sort();
      assert.deepEqual(broker(ts), broker(pyName), 'stats.broker keys');
      assert.deepEqual(Object.keys((s[ts] as { rusage: object }).rusage).sort(), Object.keys((s[pyName] as { rusage: object }).rusage).sort());
      assert.equal((s[ts] as { pool: Record<string, unknown> }).pool['max-concurrency'], 1);
      assert.ok(registered![ts] && Array.isArray(registered![ts]));
      assert.ok((registered![ts] as string[]).includes('tsc.ts_now [rate_limit=2/s]'), JSON.stringify(registered![ts]));
      assert.ok((registered![ts] as string[]).includes('tsc.ts_add'));
      assert.equal(kind(revoked![ts]), kind(revoked![pyName]));
      assert.deepEqual(shape(clock![ts]), shape(clock![pyName]));
      const q = (n: string) => (queues![n] as Record<string, unknown>[]);
      assert.equal(q(ts)[0]!.name, TSQ);
      assert.deepEqual(shape(q(ts)[0]), shape(q(pyName)[0]), 'active_queues entry');
      assert.deepEqual(shape((q(ts)[0] as { exchange: object }).exchange), shape((q(pyName)[0] as { exchange: object }).exchange));
      assert.equal(kind(conf![ts]), 'dict');
    });

    test('active, reserved, scheduled, query_task: same shapes as the Python worker', async (t) => {
      if (skip) return t.skip();
      const eta = new Date(Date.now() + 30_000).toISOString();
      const ids = (await peer([
        { op: 'send', name: 'tsc.ts_sleep', args: [2500], options: { queue: TSQ } },
        { op: 'send', name: 'tsc.ts_sleep', args: [10], options: { queue: TSQ } },
        { op: 'send', name: 'tsc.ts_add', args: [1, 2], options: { queue: TSQ, eta } },
        { op: 'send', name: 'tsc.py_sleep', args: [2.5], options: { queue: PYQ } },
        { op: 'send', name: 'tsc.py_sleep', args: [0.01], options: { queue: PYQ } },
        { op: 'send', name: 'tsc.py_add', args: [1, 2], options: { queue: PYQ, eta } },
      ])) as string[];
      await sleep(1000);
      const [active, reserved, scheduled, query] = (await peer([
        { op: 'inspect', method: 'active', destination: [ts, pyName], timeout: 2 },
        { op: 'inspect', method: 'reserved', destination: [ts, pyName], timeout: 2 },
        { op: 'inspect', method: 'scheduled', destination: [ts, pyName], timeout: 2 },
        { op: 'inspect', method: 'query_task', destination: [ts, pyName], posargs: [ids[0], ids[3]], timeout: 2 },
      ])) as Record<string, unknown[]>[];
      const one = (r: Record<string, unknown[]>, n: string) => {
        assert.equal(r[n]!.length, 1, `${n}: ${JSON.stringify(r[n])}`);
        return r[n]![0];
      };
      const a = one(active!, ts) as Record<string, unknown>;
      assert.equal(a.id, ids[0]);
      assert.deepEqual(a.args, [2500]);
      assert.deepEqual(shape(a), shape(one(active!, pyName)), 'active entry');
      assert.deepEqual(shape(a.delivery_info), shape((one(active!, pyName) as Record<string, unknown>).delivery_info));
      const r = one(reserved!, ts) as Record<string, unknown>;
      assert.equal(r.id, ids[1]);
      const pr = one(reserved!, pyName) as Record<string, unknown>;
      // time_start/worker_pid are null on both sides before a task starts
      assert.deepEqual(shape(r), shape(pr), 'reserved entry');
      const sc = one(scheduled!, ts) as Record<string, unknown>;
      const psc = one(scheduled!, pyName) as Record<string, unknown>;
      assert.deepEqual(shape(sc), shape(psc), 'scheduled entry');
      assert.deepEqual(shape(sc.request), shape(psc.request), 'scheduled request');
      assert.equal(sc.priority, psc.priority, "scheduled priority: Celery's timer entry priority (6)");
      assert.equal((sc.request as { id: string }).id, ids[2]);
      const qt = query! as unknown as Record<string, Record<string, unknown[]>>;
      assert.deepEqual(Object.keys(qt[ts]!), [ids[0]]);
      assert.equal(qt[ts]![ids[0]!]![0], 'active');
      assert.deepEqual(shape(qt[ts]![ids[0]!]![1]), shape(qt[pyName]![ids[3]!]![1]));
      // the ETA tasks are revoked so they do not run later
      await peer([{ op: 'revoke', ids: [ids[2], ids[5]] }]);
    });

    test('memsample, memdump, objgraph: answered as a Python worker answers them', async (t) => {
      if (skip) return t.skip();
      const [s1, s2, dump, graph] = (await peer([
        { op: 'inspect', method: 'memsample', destination: [ts, pyName], timeout: 2 },
        { op: 'inspect', method: 'memsample', destination: [ts], timeout: 2 },
        { op: 'inspect', method: 'memdump', destination: [ts], timeout: 2 },
        { op: 'inspect', method: 'objgraph', destination: [ts, pyName], timeout: 2 },
      ])) as Record<string, unknown>[];
      // celery.utils.debug.humanbytes of the RSS; the Python worker answers None without psutil (not installed here)
      assert.match(String(s1![ts]), /^\d+(\.\d+)?MB$/);
      assert.match(String(s2![ts]), /^\d+(\.\d+)?MB$/);
      assert.ok(pyName in s1!, 'the Python worker answered memsample');
      assert.match(String(dump![ts]), /^- rss \(sample\):\n(-    > \d+(\.\d+)?MB,\n)+- rss \(end\): \d+(\.\d+)?MB\.\n$/);
      // neither has the objgraph library: the same error reply, field by field
      assert.deepEqual(graph![ts], graph![pyName]);
      assert.deepEqual(graph![ts], { error: "ImportError('Requires the objgraph library')" });
    });

    test('a revoke broadcast from Python stops an ETA-held and a queued task: REVOKED (TaskRevokedError) stored', async (t) => {
      if (skip) return t.skip();
      const eta = new Date(Date.now() + 4000).toISOString();
      const [busy, queued, held] = (await peer([
        { op: 'send', name: 'tsc.ts_sleep', args: [6000], options: { queue: TSQ } },
        { op: 'send', name: 'tsc.ts_add', args: [2, 2], options: { queue: TSQ } },
        { op: 'send', name: 'tsc.ts_add', args: [3, 3], options: { queue: TSQ, eta } },
      ])) as string[];
      await sleep(400);
      const sched = await inspect('scheduled', [ts]);
      assert.ok((sched?.[ts] as { request: { id: string } }[]).some((e) => e.request.id === held), 'held for its eta');
      await peer([{ op: 'revoke', ids: [queued, held] }]);
      const [o1, o2, o3] = (await peer([{ op: 'get', id: busy }, { op: 'get', id: queued }, { op: 'get', id: held }])) as Outcome[];
      assert.equal(o1!.state, 'SUCCESS');
      for (const o of [o2!, o3!]) {
        assert.equal(o.state, 'REVOKED', JSON.stringify(o));
        assert.equal(o.exception?.exc_type, 'TaskRevokedError');
      }
      const revoked = (await inspect('revoked', [ts]))?.[ts] as string[];
      assert.ok(revoked.includes(queued!) && revoked.includes(held!));
    });

    test('a revoke from TypeScript app.control stops a queued task on the TS worker', async (t) => {
      if (skip) return t.skip();
      const [busy, queued] = (await peer([
        { op: 'send', name: 'tsc.ts_sleep', args: [1200], options: { queue: TSQ } },
        { op: 'send', name: 'tsc.ts_add', args: [5, 5], options: { queue: TSQ } },
      ])) as string[];
      await sleep(300);
      await app.control.revoke(queued!);
      const [o1, o2] = (await peer([{ op: 'get', id: busy }, { op: 'get', id: queued }])) as Outcome[];
      assert.equal(o1!.state, 'SUCCESS');
      assert.equal(o2!.state, 'REVOKED');
    });

    test('rate_limit 2/s holds tasks of that name; `celery control rate_limit` changes it at runtime', async (t) => {
      if (skip) return t.skip();
      const ids = (await peer([{ op: 'send', name: 'tsc.ts_now', args: [], options: { queue: TSQ } }, { op: 'send', name: 'tsc.ts_now', args: [], options: { queue: TSQ } },
        { op: 'send', name: 'tsc.ts_now', args: [], options: { queue: TSQ } }, { op: 'send', name: 'tsc.ts_now', args: [], options: { queue: TSQ } },
        { op: 'send', name: 'tsc.ts_add', args: [1, 1], options: { queue: TSQ } }])) as string[];
      const outs = (await peer(ids.map((id) => ({ op: 'get', id })))) as Outcome[];
      const times = outs.slice(0, 4).map((o) => o.result as number).sort();
      // 4 tasks at 2/s: the first at once, then one about every 0.5 s (loose: at least 1 s in all)
      assert.ok(times[3]! - times[0]! >= 1.0, `spacing ${times.map((x) => (x - times[0]!).toFixed(2)).join(' ')}`);
      assert.equal(outs[4]!.state, 'SUCCESS');
      const cli = await celeryCli(['control', 'rate_limit', 'tsc.ts_now', '1000/s', '-d', ts, '--timeout', '2']);
      assert.match(cli, /new rate limit set successfully/, cli);
      const reg = (await inspect('registered', [ts]))?.[ts] as string[];
      assert.ok(reg.includes('tsc.ts_now [rate_limit=1000/s]'), JSON.stringify(reg));
      const bad = await peer([{ op: 'broadcast', method: 'rate_limit', arguments: { task_name: 'no.such', rate_limit: '1/s' }, destination: [ts] }]);
      assert.deepEqual(bad[0], [{ [ts]: { error: 'unknown task' } }]);
    });

    test('control commands answer as Celery: time_limit, pool_grow/shrink, autoscale, events, add/cancel_consumer', async (t) => {
      if (skip) return t.skip();
      const call = async (method: string, args: object = {}) =>
        ((await peer([{ op: 'broadcast', method, arguments: args, destination: [ts] }]))[0] as Record<string, unknown>[])[0]?.[ts];
      assert.deepEqual(await call('time_limit', { task_name: 'tsc.ts_add', soft: 10, hard: 20 }), { ok: 'time limits set successfully' });
      assert.deepEqual(await call('pool_grow', { n: 2 }), { ok: 'pool will grow' });
      assert.equal(worker.concurrency, 3);
      assert.deepEqual(await call('pool_shrink', { n: 2 }), { ok: 'pool will shrink' });
      assert.equal(worker.concurrency, 1);
      assert.deepEqual(await call('autoscale', { max: 4, min: 1 }), { error: "ValueError('Autoscale not enabled')" });
      assert.deepEqual(await call('enable_events'), { ok: 'task events enabled' });
      assert.deepEqual(await call('disable_events'), { ok: 'task events disabled' });
      assert.deepEqual(await call('add_consumer', { queue: `${TSQ}.added` }), { ok: `add consumer ${TSQ}.added` });
      await sleep(500);
      const queues = ((await inspect('active_queues', [ts]))?.[ts] as { name: string }[]).map((q) => q.name);
      assert.deepEqual(queues.sort(), [TSQ, `${TSQ}.added`].sort());
      const [id] = (await peer([{ op: 'send', name: 'tsc.ts_add', args: [20, 22], options: { queue: `${TSQ}.added` } }])) as string[];
      assert.equal(((await peer([{ op: 'get', id }]))[0] as Outcome).result, 42);
      assert.deepEqual(await call('cancel_consumer', { queue: `${TSQ}.added` }), { ok: `no longer consuming from ${TSQ}.added` });
      await sleep(1500);
      assert.deepEqual(((await inspect('active_queues', [ts]))?.[ts] as { name: string }[]).map((q) => q.name), [TSQ]);
    });

    test('mingle: a Python worker started later learns what the TS worker revoked, and a TS worker started later learns the reverse', async (t) => {
      if (skip) return t.skip();
      const tsOnly = `never-sent-ts-${Q}`;
      const pyOnly = `never-sent-py-${Q}`;
      await app.control.revoke(tsOnly, { destination: [ts] });
      await peer([{ op: 'broadcast', method: 'revoke', arguments: { task_id: pyOnly }, destination: [pyName], reply: false }]);
      await sleep(300);
      const late = await startPy(`py2.${Q}@%h`, `${PYQ}.2`);
      extra.push(late);
      const py2 = ts.replace(/^ts\./, 'py2.');
      const seen = (await inspect('revoked', [py2]))?.[py2] as string[];
      assert.ok(seen.includes(tsOnly), `the Python worker learned ${tsOnly}: ${JSON.stringify(seen)}\n${late.log()}`);
      const w2 = new Worker(app, { queues: [TSQ], concurrency: 1, hostname: `ts2.${Q}@%h`, logger: testLogger(), closeApp: false });
      extraTs.push(w2);
      await w2.start();
      assert.ok(w2.revoked.has(pyOnly), 'the TS worker learned the id only the Python worker had revoked');
      assert.ok(w2.revoked.has(tsOnly));
    });

    test('shutdown via control stops a TS worker warm (no reply, as Celery)', async (t) => {
      if (skip) return t.skip();
      const w3 = new Worker(app, { queues: [TSQ], concurrency: 1, hostname: `ts3.${Q}@%h`, logger: testLogger(), closeApp: false, withoutMingle: true });
      await w3.start();
      const stopped = new Promise<void>((r) => w3.once('stopped', () => r()));
      const replies = await peer([{ op: 'broadcast', method: 'shutdown', destination: [w3.hostname], reply: true, timeout: 1 }]);
      assert.deepEqual(replies[0], []);
      await Promise.race([stopped, sleep(10_000).then(() => assert.fail('the worker did not stop'))]);
      assert.deepEqual(await inspect('ping', [w3.hostname], {}, 1), null);
    });
  });
}
