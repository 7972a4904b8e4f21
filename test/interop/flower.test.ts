// Real Flower (mher/flower, ../shared/peers/flower) watching a fleet of one TypeScript and one Python worker
// (Celery 5.6.3, prefork) with the same tasks and settings (issue 14): through Flower's HTTP API the TS worker
// and its tasks look as the Python worker and its tasks do — /api/workers (stats, pool, queues, registered,
// conf, timestamps), /api/tasks and /api/task/info (state, args, kwargs, result, runtime, traceback), the
// control endpoints (pool grow/shrink/autoscale/restart, add/cancel consumer, rate limit, time limit, revoke,
// shutdown) answered with Flower's own messages, /metrics with the flower_* series of both workers, and the
// pages. Masked: hostnames, queue names, pids, times, ids. Both brokers of the matrix; results in Redis db 13.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { requirePython, type PythonWorker } from '../helpers/peers.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { testLogger } from '../helpers/worker.ts';
import { requireFlower, startFlower, type Flower } from '../helpers/flower.ts';
import { fleetNames, peer, repliesApp, startPyWorker } from '../helpers/replies-fleet.ts';

const DB = 13;

for (const b of brokerMatrix(DB)) flowerSuite(b);

function kind(v: unknown): string {
  if (v === null) return 'null';
  return Array.isArray(v) ? 'list' : typeof v;
}

/** Keys and value kinds of a dict, sorted. */
function shape(d: Record<string, unknown>): string[] {
  return Object.entries(d).map(([k, v]) => `${k}:${kind(v)}`).sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function flowerSuite(b: BrokerCase): void {
  const { prefix: Q, settings: S } = fleetNames('flwr', b);
  const TSQ = `${Q}.ts`;
  const PYQ = `${Q}.py`;
  const TS = `ts@${Q}`;
  const PY = `py@${Q}`;
  let skip = false;
  let app: Celery;
  let worker: Worker | null = null;
  let py: PythonWorker | null = null;
  let flower: Flower | null = null;
  /** scenario → [TS-run task id, Python-run task id] */
  const ids: Record<string, [string, string]> = {};
  /** A value of the TS worker's with its node and queue names made the Python worker's. */
  const asPy = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(TSQ, PYQ).replaceAll(TS, PY)) as any;

  /** Polls a Flower API path until `ok` holds for its body. */
  async function until(path: string, ok: (body: any) => boolean, what: string, ms = 20_000): Promise<any> {
    const end = Date.now() + ms;
    for (;;) {
      const r = await flower!.api(path);
      if (r.status === 200 && ok(r.body)) return r.body;
      if (Date.now() > end) throw new Error(`${what}: ${path} answered ${r.status} ${JSON.stringify(r.body).slice(0, 400)}\n${flower!.log().slice(-2000)}`);
      await sleep(200);
    }
  }

  describe(`[${b.name}] Flower shows a TypeScript worker and its tasks as a Python worker's`, () => {
    before(async () => {
      const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
      if (!requirePython(probe as never) || !requireFlower(probe)) return;
      app = repliesApp(b, S);
      // task events on from the start (Flower's own enable_events comes every 5 s)
      worker = new Worker(app, { queues: [TSQ], concurrency: 2, hostname: TS, logger: testLogger(), events: { taskEvents: true } });
      [py, flower] = await Promise.all([
        startPyWorker(b, S, PY, PYQ, ['-c', '2', '-E', '--without-gossip', '--without-mingle']),
        startFlower(b, S),
        worker.start(),
      ]);
      const both = (scenario: string, name: string, args: unknown[], kwargs: object = {}) => [
        { op: 'send', name, args, kwargs, options: { queue: TSQ } },
        { op: 'send', name, args, kwargs, options: { queue: PYQ } },
      ].map((op) => ({ ...op, scenario }));
      const ops = [...both('success', 'rp.add', [2], { y: 3 }), ...both('failure', 'rp.fail', ['boom'])];
      const sent = await peer(b, S, ops);
      for (let i = 0; i < ops.length; i += 2) ids[ops[i]!.scenario] = [sent[i], sent[i + 1]];
      for (const [tsId, pyId] of Object.values(ids)) {
        for (const id of [tsId, pyId]) await until(`/api/task/info/${id}`, (t) => ['SUCCESS', 'FAILURE'].includes(t.state), `task ${id}`);
      }
    });

    after(async () => {
      await worker?.stop().catch(() => undefined);
      await py?.stop();
      await flower?.stop();
      const queues = [TSQ, PYQ, `${Q}.extra`];
      if (b.name === 'amqp' && !skip) await deleteAmqpQueues(queues, [...queues, `${Q}.ctl.pidbox`, `reply.${Q}.ctl.pidbox`, `${Q}.ev`]);
    });

    test('/api/workers: the TS worker\'s entry has the Python worker\'s keys and kinds, stats, queues, registered, conf', async (t) => {
      if (skip) return t.skip();
      const status = await until('/api/workers?status=1', (s) => s[TS] === true && s[PY] === true, 'both alive');
      assert.deepEqual(status, { [TS]: true, [PY]: true });
      // (a refresh joins an inspection already under way: wait for one made after the tasks ran)
      const ran = (e: any) => e?.stats?.total?.['rp.fail'] === 1;
      const workers = await until('/api/workers?refresh=1', (w) => ran(w[TS]) && ran(w[PY]), 'both inspected after the tasks');
      const [ts, pyw] = [workers[TS], workers[PY]];
      assert.deepEqual(shape(ts), shape(pyw), 'entry keys and kinds');
      assert.equal(typeof ts.timestamp, 'number');
      assert.deepEqual(shape(ts.stats), shape(pyw.stats), 'stats');
      assert.deepEqual(shape(ts.stats.pool), shape(pyw.stats.pool).map((k) => (k === 'writes:object' ? 'writes:string' : k)), 'stats.pool (writes: N/A)');
      assert.deepEqual(ts.stats.broker, pyw.stats.broker, 'stats.broker');
      assert.deepEqual(ts.stats.total, pyw.stats.total, 'stats.total');
      assert.deepEqual(ts.stats.total, { 'rp.add': 1, 'rp.fail': 1 });
      assert.equal(ts.stats.pool['max-concurrency'], pyw.stats.pool['max-concurrency']);
      assert.equal(ts.stats.prefetch_count, pyw.stats.prefetch_count);
      assert.deepEqual(asPy(ts.active_queues), pyw.active_queues, 'active_queues');
      assert.deepEqual(ts.registered, pyw.registered, 'registered');
      const { include: _a, ...tsConf } = ts.conf;
      const { include: _b, ...pyConf } = pyw.conf;
      assert.deepEqual(tsConf, pyConf, 'conf');
      for (const k of ['active', 'reserved', 'scheduled', 'revoked']) assert.deepEqual(ts[k], pyw[k], k);
    });

    test('/api/tasks and /api/task/info: a TS-run task has a Python-run task\'s fields and values', async (t) => {
      if (skip) return t.skip();
      const tasks = (await flower!.api('/api/tasks')).body;
      for (const [scenario, [tsId, pyId]] of Object.entries(ids)) {
        const [tt, pt] = [(await flower!.api(`/api/task/info/${tsId}`)).body, (await flower!.api(`/api/task/info/${pyId}`)).body];
        assert.deepEqual(shape(tt), shape(pt), `${scenario}: task info fields and kinds`);
        for (const k of ['name', 'state', 'args', 'kwargs', 'result', 'exception', 'retries', 'eta', 'expires']) assert.deepEqual(tt[k], pt[k], `${scenario}.${k}`);
        assert.equal(tt.worker, TS);
        assert.equal(tt.root_id, tsId);
        assert.deepEqual(shape(tasks[tsId]), shape(tasks[pyId]), `${scenario}: /api/tasks entry`);
        for (const k of ['received', 'started']) assert.equal(typeof tt[k], 'number', `${scenario}.${k}`);
      }
      const [ok, okPy] = [(await flower!.api(`/api/task/info/${ids.success![0]}`)).body, (await flower!.api(`/api/task/info/${ids.success![1]}`)).body];
      assert.equal(ok.state, 'SUCCESS');
      assert.equal(ok.args, '[2]');
      assert.equal(ok.kwargs, "{'y': 3}");
      assert.equal(ok.result, '5');
      assert.equal(typeof ok.runtime, 'number');
      assert.equal(typeof okPy.runtime, 'number');
      const [bad, badPy] = [(await flower!.api(`/api/task/info/${ids.failure![0]}`)).body, (await flower!.api(`/api/task/info/${ids.failure![1]}`)).body];
      assert.equal(bad.state, 'FAILURE');
      assert.equal(bad.exception, "ValueError('boom')");
      for (const tb of [bad.traceback, badPy.traceback]) assert.match(tb, /^Traceback \(most recent call last\):\n[\s\S]*\nValueError: boom\n$/);
      // the task list per worker and the task types Flower saw
      const mine = (await flower!.api(`/api/tasks?workername=${encodeURIComponent(TS)}`)).body;
      assert.deepEqual(Object.keys(mine).sort(), Object.values(ids).map(([id]) => id).sort());
      const types = (await flower!.api('/api/task/types')).body;
      for (const name of ['rp.add', 'rp.fail']) assert.ok(types['task-types'].includes(name), JSON.stringify(types));
    });

    test('control endpoints: the TS worker answers with the Python worker\'s replies and Flower\'s success messages', async (t) => {
      if (skip) return t.skip();
      const post = async (path: (node: string) => string, form: (node: string) => Record<string, string | number>) => {
        const r = { ts: await flower!.api(path(TS), form(TS)), py: await flower!.api(path(PY), form(PY)) };
        assert.equal(r.ts.status, r.py.status, `${path(TS)}: ${JSON.stringify(r)}`);
        assert.deepEqual(asPy(r.ts.body), r.py.body, path(TS));
        return r.ts;
      };
      const node = (p: string) => (n: string) => `${p}/${encodeURIComponent(n)}`;
      const none = () => ({});
      assert.deepEqual((await post(node('/api/worker/pool/grow'), () => ({ n: 1 }))).body, { message: `Growing '${TS}' worker's pool by 1` });
      assert.deepEqual((await post(node('/api/worker/pool/shrink'), () => ({ n: 1 }))).body, { message: `Shrinking '${TS}' worker's pool by 1` });
      // no autoscaler, no pool restarts: Flower's failure texts with the worker's error, as for a prefork worker
      assert.equal((await post(node('/api/worker/pool/autoscale'), () => ({ min: 1, max: 2 }))).status, 403);
      assert.equal((await post(node('/api/worker/pool/restart'), none)).status, 403);
      assert.deepEqual((await post(node('/api/worker/queue/add-consumer'), () => ({ queue: `${Q}.extra` }))).body, { message: `add consumer ${Q}.extra` });
      assert.deepEqual((await post(node('/api/worker/queue/cancel-consumer'), () => ({ queue: `${Q}.extra` }))).body, { message: `no longer consuming from ${Q}.extra` });
      const task = (p: string) => () => `${p}/rp.add`;
      assert.deepEqual((await post(task('/api/task/rate-limit'), (n) => ({ workername: n, ratelimit: '10/m' }))).body, { message: 'new rate limit set successfully' });
      assert.deepEqual((await post(task('/api/task/timeout'), (n) => ({ workername: n, soft: 5, hard: 10 }))).body, { message: 'time limits set successfully' });
      const revoked = (await post(() => '/api/task/revoke/no-such-task', none)).body;
      assert.deepEqual(revoked, { message: "Revoked 'no-such-task'" });
      // what the commands changed, as Flower shows it after a refresh
      const w = (await flower!.api(`/api/workers?refresh=1&workername=${encodeURIComponent(TS)}`)).body[TS];
      const p = (await flower!.api(`/api/workers?refresh=1&workername=${encodeURIComponent(PY)}`)).body[PY];
      assert.ok(w.registered.includes('rp.add [rate_limit=10/m]'), JSON.stringify(w.registered));
      assert.deepEqual(w.registered, p.registered);
      assert.equal(w.stats.pool['max-concurrency'], 2);
      assert.deepEqual(w.revoked, p.revoked);
      assert.ok(w.revoked.includes('no-such-task'));
      assert.deepEqual(asPy(w.active_queues), p.active_queues);
    });

    test('/metrics: the flower_* series carry the TS worker as they carry the Python worker', async (t) => {
      if (skip) return t.skip();
      const text = (await flower!.api('/metrics')).body as string;
      const series = (node: string) => text.split('\n')
        .filter((l) => l.startsWith('flower_') && l.includes(`worker="${node}"`))
        .map((l) => l.replace(/ [^ ]+$/, '').replace(node, 'NODE'))
        .sort();
      const [ts, pyS] = [series(TS), series(PY)];
      assert.ok(ts.length > 10, ts.join('\n'));
      assert.deepEqual(ts, pyS);
      for (const family of ['flower_events_total', 'flower_task_runtime_seconds_bucket', 'flower_worker_online', 'flower_worker_number_of_currently_executing_tasks', 'flower_task_prefetch_time_seconds']) {
        assert.ok(ts.some((l) => l.startsWith(family)), `${family} for the TS worker`);
      }
      const value = (line: string) => Number(text.split('\n').find((l) => l.startsWith(line))?.split(' ').pop());
      assert.equal(value(`flower_events_total{task="rp.add",type="task-succeeded",worker="${TS}"}`), 1);
      assert.equal(value(`flower_events_total{task="rp.fail",type="task-failed",worker="${TS}"}`), 1);
      assert.equal(value(`flower_worker_online{worker="${TS}"}`), 1);
    });

    test('pages: Workers, worker detail, Tasks and task detail render for the TS worker as for the Python one', async (t) => {
      if (skip) return t.skip();
      const page = async (path: string) => {
        const r = await fetch(flower!.base + path);
        return { status: r.status, html: await r.text() };
      };
      const list = await page('/workers');
      assert.equal(list.status, 200);
      const [wt, wp] = [await page(`/worker/${encodeURIComponent(TS)}`), await page(`/worker/${encodeURIComponent(PY)}`)];
      assert.equal(wt.status, 200, wt.html.slice(0, 500));
      assert.equal(wp.status, 200);
      // the same sections and table rows (the labels Flower writes), with the TS worker's values in them
      const labels = (html: string) => [...html.matchAll(/<t[hd][^>]*>\s*([A-Za-z_ -]{2,40}?)\s*<\/t[hd]>/g)].map((m) => m[1]).filter((x) => !/^\d/.test(x!)).sort();
      const missing = labels(wp.html).filter((l) => !labels(wt.html).includes(l));
      assert.deepEqual(missing, [], 'labels on the Python worker\'s page missing from the TS worker\'s');
      for (const text of ['rp.add', 'rp.limited [rate_limit=2/s]', TSQ, 'Worker pool options']) assert.ok(wt.html.includes(text), `worker page shows ${text}`);
      const [tt, tp] = [await page(`/task/${ids.failure![0]}`), await page(`/task/${ids.failure![1]}`)];
      assert.equal(tt.status, 200);
      assert.ok(tt.html.includes('ValueError: boom'));
      assert.deepEqual(labels(tt.html), labels(tp.html), 'task page rows');
      assert.equal((await page('/tasks')).status, 200);
    });

    test('/api/worker/shutdown: "Shutting down!", the TS worker stops and Flower sees it offline', async (t) => {
      if (skip) return t.skip();
      const stopped = new Promise<void>((r) => worker!.once('stopped', () => r()));
      const [r, rp] = [
        await flower!.api(`/api/worker/shutdown/${encodeURIComponent(TS)}`, {}),
        await flower!.api(`/api/worker/shutdown/${encodeURIComponent(PY)}`, {}),
      ];
      assert.deepEqual(r, { status: 200, body: { message: 'Shutting down!' } });
      assert.deepEqual(rp, r);
      await stopped;
      worker = null;
      await until('/api/workers?status=1', (s) => s[TS] === false && s[PY] === false, 'both offline');
      const text = (await flower!.api('/metrics')).body as string;
      assert.ok(text.includes(`flower_worker_online{worker="${TS}"} 0.0`), 'flower_worker_online 0');
    });
  });
}
