// A TypeScript worker's remote-control replies and worker events compared field by field with a Python
// worker's (Celery 5.6.3) in the same fleet, with the same tasks and settings (issue 14): the Lamport clock
// after mingle, worker-offline sent when the shutdown starts, `inspect registered` with attributes and after
// `control time_limit` / `rate_limit`, `inspect conf` with and without defaults, `report`, `stats`, and
// every control command's reply. Masked: hostnames, pids, times, and what a Python worker has by nature
// (its `include` modules, its pool's class). Both brokers of the matrix; results in Redis db 13.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { requirePython, type PythonWorker } from '../helpers/peers.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { testLogger } from '../helpers/worker.ts';
import { byNode, fleetNames, peer, repliesApp, startEventLog, startPyWorker, type EventLog } from '../helpers/replies-fleet.ts';

const DB = 13;
/** The clock a neighbour has when the workers start (far above what a test's traffic reaches). */
const HIGH_CLOCK = 5000;
/** Task attributes of `celery.app.task.Task` a Python worker shows for a plain task. */
const ATTRIBUTES = [
  'time_limit', 'soft_time_limit', 'rate_limit', 'acks_late', 'max_retries', 'serializer', 'throws', 'typing', 'name', 'abstract',
  'priority', 'default_retry_delay', 'ignore_result', 'track_started', 'Request', 'Strategy', 'resultrepr_maxsize', 'send_events',
  'trail', 'store_errors_even_if_ignored', 'reject_on_worker_lost', 'acks_on_failure_or_timeout', 'store_eager_result', 'exchange',
  'routing_key', 'queue', 'expires', 'nonexistent',
];

for (const b of brokerMatrix(DB)) repliesSuite(b);

/** `{k: v}` without the keys given. */
function without<T extends Record<string, unknown>>(d: T, keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(d).filter(([k]) => !keys.includes(k))) as Partial<T>;
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  return Array.isArray(v) ? 'list' : typeof v;
}

function repliesSuite(b: BrokerCase): void {
  // settings both workers have, beyond the broker's: some with Celery forms of their own
  const names = fleetNames('rply', b, {
    result_expires: 3600,
    task_publish_retry_policy: { max_retries: 5, interval_start: 0, interval_max: 1, interval_step: 0.2 },
    broker_transport_options: { visibility_timeout: 7200, sentinel_kwargs: { password: 'secret' } },
    worker_prefetch_multiplier: 2,
    // given alone: task_default_exchange / task_default_routing_key stay None in the conf table
    task_default_queue: 'rply-default',
  });
  const S = names.settings;
  const Q = names.prefix;
  const TSQ = `${Q}.ts`;
  const PYQ = `${Q}.py`;
  const PY2Q = `${Q}.py2`;
  const TS = `ts@${Q}`;
  const PY = `py@${Q}`;
  const PY2 = `py2@${Q}`;
  let skip = false;
  let app: Celery;
  let worker: Worker | null = null;
  let py: PythonWorker | null = null;
  let py2: PythonWorker | null = null;
  let log: EventLog | null = null;
  const call = (ops: object[]) => peer(b, S, ops);
  const both = (op: object) => ({ destination: [TS, PY], timeout: 5, ...op });
  /** A reply of the TS worker with its queue, node and task names made the Python worker's. */
  const asPy = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(TSQ, PYQ).replaceAll(TS, PY)) as unknown;

  describe(`[${b.name}] a TypeScript worker answers and announces itself as a Python worker`, () => {
    before(async () => {
      if (!requirePython({ skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } } as never)) return;
      log = await startEventLog(b, S);
      // with gossip: its app.clock follows the events it receives
      py = await startPyWorker(b, S, PY, PYQ, ['-c', '2']);
      // the neighbour's clock, far ahead: a worker starting now takes it over through mingle
      await call([{ op: 'bump_clock', value: HIGH_CLOCK, destination: [PY] }]);
      app = repliesApp(b, S);
      worker = new Worker(app, { queues: [TSQ], concurrency: 2, hostname: TS, logger: testLogger() });
      [py2] = await Promise.all([
        // Celery orders its consumer's boot steps by a graph whose ties follow the hash seed: with seed 1
        // Heart (worker-online) starts after Mingle, as celeriac always does (with about half of the
        // seeds a Python worker sends worker-online before mingle, with the clock at 1)
        startPyWorker(b, S, PY2, PY2Q, ['-P', 'threads', '-c', '1', '-E', '--without-gossip'], { PYTHONHASHSEED: '1' }),
        worker.start(),
      ]);
    });

    after(async () => {
      await worker?.stop().catch(() => undefined);
      await py?.stop();
      await py2?.stop();
      await log?.stop();
      const queues = [TSQ, PYQ, PY2Q, `${Q}.added`];
      if (b.name === 'amqp' && !skip) await deleteAmqpQueues(queues, [...queues, `${Q}.ctl.pidbox`, `reply.${Q}.ctl.pidbox`, `${Q}.ev`]);
    });

    test('worker-online after mingle has the clock synced from the neighbours, as a Python worker\'s', async (t) => {
      if (skip) return t.skip();
      const online = async (host: string) => (await log!.waitFor((e) => e.type === 'worker-online' && e.hostname === host)).clock as number;
      const [tsClock, pyClock] = [await online(TS), await online(PY2)];
      // a worker alone starts at 1; after mingle both are past the neighbour's clock, within the few
      // ticks their own starts and the neighbour's heartbeats add
      const mingled = py2!.log().split('\n').filter((l) => l.includes('mingle')).join('\n');
      assert.ok(pyClock > HIGH_CLOCK && pyClock < HIGH_CLOCK + 200, `python worker-online clock ${pyClock}:\n${mingled}`);
      assert.ok(tsClock > HIGH_CLOCK && tsClock < HIGH_CLOCK + 200, `TS worker-online clock ${tsClock} (python's: ${pyClock})`);
      // remote control answers from the same clock: `inspect clock` after the event is ahead of it
      const [clock] = await call([{ op: 'inspect', method: 'clock', destination: [TS], timeout: 5 }]);
      assert.ok(clock[TS].clock > tsClock, JSON.stringify(clock));
    });

    test('inspect: ping, stats, registered (with attributes), conf (with and without defaults), report, queues', async (t) => {
      if (skip) return t.skip();
      const [ping, stats, registered, attrs, builtins, conf, confAll, report, queues, revoked, clock, active, reserved, scheduled, query, statsTypes, confTypes] = await call([
        both({ op: 'inspect', method: 'ping' }),
        both({ op: 'inspect', method: 'stats' }),
        both({ op: 'inspect', method: 'registered' }),
        both({ op: 'inspect', method: 'registered', posargs: ATTRIBUTES }),
        both({ op: 'broadcast', method: 'registered', arguments: { builtins: true, taskinfoitems: ['rate_limit', 'time_limit'] } }),
        both({ op: 'inspect', method: 'conf' }),
        both({ op: 'inspect', method: 'conf', args: { with_defaults: true } }),
        both({ op: 'inspect', method: 'report' }),
        both({ op: 'inspect', method: 'active_queues' }),
        both({ op: 'inspect', method: 'revoked' }),
        both({ op: 'inspect', method: 'clock' }),
        both({ op: 'inspect', method: 'active' }),
        both({ op: 'inspect', method: 'reserved' }),
        both({ op: 'inspect', method: 'scheduled' }),
        both({ op: 'inspect', method: 'query_task', posargs: ['no-such-id'] }),
        both({ op: 'inspect', method: 'stats', types: true }),
        both({ op: 'inspect', method: 'conf', args: { with_defaults: true }, types: true }),
      ]);
      // Python's types, leaf by leaf: a float stays a float (`heartbeat: 120.0`, `control_queue_ttl: 300.0`)
      const { pool: _tsPool, ...tsStatsTypes } = statsTypes[TS];
      const { pool: _pyPool, ...pyStatsTypes } = statsTypes[PY];
      assert.deepEqual(tsStatsTypes, pyStatsTypes, 'stats: the Python type of every value');
      assert.equal(statsTypes[TS].broker.heartbeat, 'float');
      assert.deepEqual(without(confTypes[TS], ['include']), without(confTypes[PY], ['include']), 'conf with_defaults: the Python type of every value');
      assert.deepEqual(ping[TS], ping[PY]);
      for (const r of [registered, attrs]) assert.deepEqual(r[TS], r[PY], `registered: ${JSON.stringify(r[TS])}`);
      assert.ok(attrs[TS].some((x: string) => x.startsWith('rp.limited [time_limit=10 rate_limit=2/s acks_late=True max_retries=5 serializer=json throws=()')), attrs[TS]);
      const bi = byNode(builtins);
      assert.deepEqual(bi[TS], bi[PY], 'registered builtins=True');

      // stats: the same keys and kinds; the broker, prefetch and totals equal; the pool is the TS worker's own
      const s = { ts: stats[TS], py: stats[PY] };
      assert.deepEqual(Object.keys(s.ts).sort(), Object.keys(s.py).sort());
      for (const k of Object.keys(s.py)) assert.equal(kind(s.ts[k]), kind(s.py[k]), `stats.${k}`);
      assert.deepEqual(s.ts.broker, s.py.broker, 'stats.broker');
      assert.equal(s.ts.prefetch_count, s.py.prefetch_count);
      assert.deepEqual(s.ts.total, s.py.total);
      assert.deepEqual(Object.keys(s.ts.pool).sort(), Object.keys(s.py.pool).sort(), 'stats.pool keys');
      assert.equal(s.ts.pool['max-concurrency'], s.py.pool['max-concurrency']);
      assert.deepEqual(Object.keys(s.ts.rusage).sort(), Object.keys(s.py.rusage).sort());

      // conf: every key; `include` lists a Python worker's modules, beat_schedule_filename is celeriac's own file
      assert.deepEqual(without(conf[TS], ['include']), without(conf[PY], ['include']), 'conf');
      assert.deepEqual(Object.keys(confAll[TS]).sort(), Object.keys(confAll[PY]).sort(), 'conf with_defaults: keys');
      assert.deepEqual(without(confAll[TS], ['include', 'beat_schedule_filename']), without(confAll[PY], ['include', 'beat_schedule_filename']), 'conf with_defaults');
      assert.equal(confAll[TS].result_expires, 3600);
      assert.deepEqual(conf[TS].task_publish_retry_policy, { max_retries: 5, interval_start: 0, interval_max: 1, interval_step: 0.2 });

      // report: the same layout; the settings part equal (but include)
      const [tsHead, tsSettings] = (report[TS].ok as string).split('\n\n');
      const [pyHead, pySettings] = (report[PY].ok as string).split('\n\n');
      const layout = (h: string) => h.split('\n').map((l) => (l.includes('->') ? l.split('->')[0] : l.replace(/^(\s+)\S.*$/, '$1')));
      assert.deepEqual(layout(tsHead!), layout(pyHead!), 'report head layout');
      assert.equal(tsHead!.split('\n').at(-1), pyHead!.split('\n').at(-1), 'settings -> transport results');
      const lines = (x: string) => x.replace(/include: \n.*\n/, '').split('\n').filter(Boolean).sort();
      assert.deepEqual(lines(tsSettings!), lines(pySettings!), 'report settings');

      assert.deepEqual(asPy(queues[TS]), queues[PY], 'active_queues');
      for (const r of [revoked, active, reserved, scheduled, query]) assert.deepEqual(r[TS], r[PY]);
      assert.deepEqual(Object.keys(clock[TS]), Object.keys(clock[PY]));
    });

    test('control commands: the same replies; time_limit and rate_limit show in `inspect registered`', async (t) => {
      if (skip) return t.skip();
      const cmd = (method: string, args: object = {}, floats: string[] = []) => both({ op: 'broadcast', method, arguments: args, float_args: floats });
      const commands: [string, object, string[]?][] = [
        ['rate_limit', { task_name: 'rp.add', rate_limit: '5/m' }],
        ['rate_limit', { task_name: 'rp.limited', rate_limit: null }],
        ['rate_limit', { task_name: 'rp.nope', rate_limit: '5/m' }],
        ['rate_limit', { task_name: 'rp.add', rate_limit: 'abc/m' }],
        ['rate_limit', { task_name: 'rp.add', rate_limit: '5/x' }],
        ['time_limit', { task_name: 'rp.add', soft: 5, hard: 10 }, ['soft', 'hard']],
        ['time_limit', { task_name: 'rp.fail', soft: 2.5, hard: 30 }],
        ['time_limit', { task_name: 'rp.nope', soft: 1 }],
        ['enable_events', {}], ['enable_events', {}], ['disable_events', {}], ['disable_events', {}], ['enable_events', {}],
        ['heartbeat', {}],
        ['pool_grow', { n: 1 }], ['pool_shrink', { n: 1 }], ['pool_restart', {}], ['autoscale', { max: 3, min: 1 }],
        ['revoke', { task_id: 'id-1' }], ['revoke', { task_id: ['id-2'], terminate: true, signal: 'SIGKILL' }],
        ['terminate', { task_id: 'id-3', signal: 'SIGTERM' }], ['terminate', { task_id: 'id-4' }],
        ['add_consumer', { queue: `${Q}.added` }], ['cancel_consumer', { queue: `${Q}.added` }], ['cancel_consumer', { queue: `${Q}.never` }],
        ['revoke_by_stamped_headers', { headers: { stamp: 'v' } }],
        ['no_such_command', {}],
        // Python's TypeError for a command called without its required arguments
        ['rate_limit', { task_name: 'rp.add' }], ['add_consumer', {}], ['query_task', {}], ['election', {}],
        ['election', { id: 'e-1', topic: 'topic', action: 'action' }],
      ];
      const results = await call([
        ...commands.map(([m, a, f]) => cmd(m, a, f)),
        both({ op: 'inspect', method: 'registered', posargs: ['time_limit', 'soft_time_limit', 'rate_limit'] }),
        both({ op: 'inspect', method: 'revoked' }),
      ]);
      commands.forEach(([method, args], i) => {
        const r = byNode(results[i]);
        assert.ok(TS in r && PY in r, `${method}: both replied ${JSON.stringify(results[i])}`);
        assert.deepEqual(r[TS], r[PY], `${method}(${JSON.stringify(args)})`);
      });
      const registered = results[commands.length];
      assert.deepEqual(registered[TS], registered[PY]);
      assert.ok(registered[TS].includes('rp.add [time_limit=10.0 soft_time_limit=5.0 rate_limit=5/m]'), registered[TS]);
      assert.ok(registered[TS].includes('rp.fail [time_limit=30 soft_time_limit=2.5]'), registered[TS]);
      assert.deepEqual([...results[commands.length + 1][TS]].sort(), [...results[commands.length + 1][PY]].sort());
    });

    test('worker-offline is sent when the shutdown starts, before the running task\'s task-succeeded, as Python\'s', async (t) => {
      if (skip) return t.skip();
      const eta = new Date(Date.now() + 60_000).toISOString();
      const [events, tsId, pyId, tsEta, pyEta] = await call([
        { op: 'broadcast', method: 'enable_events', destination: [TS], timeout: 5 }, // the Python worker has -E
        { op: 'send', name: 'rp.sleep', args: [5], kwargs: {}, options: { queue: TSQ, priority: 3 } },
        { op: 'send', name: 'rp.sleep', args: [5], kwargs: {}, options: { queue: PY2Q, priority: 3 } },
        { op: 'send', name: 'rp.add', args: [1, 2], options: { queue: TSQ, eta } },
        { op: 'send', name: 'rp.add', args: [1, 2], options: { queue: PY2Q, eta } },
      ]);
      assert.ok(events.length === 1, JSON.stringify(events));
      await log!.waitFor((e) => e.type === 'task-started' && e.uuid === tsId);
      await log!.waitFor((e) => e.type === 'task-started' && e.uuid === pyId);
      // while the task runs: active, scheduled, query_task and stats' total as the Python worker's
      const two = { destination: [TS, PY2], timeout: 5 };
      const inspected = await call([
        { op: 'inspect', method: 'active', ...two }, { op: 'inspect', method: 'active', args: { safe: true }, ...two },
        { op: 'inspect', method: 'scheduled', ...two }, { op: 'inspect', method: 'query_task', posargs: [tsId, pyId, tsEta, pyEta], ...two },
        { op: 'inspect', method: 'stats', ...two },
      ]);
      const mask = (v: unknown, ids: [string, string][]) => {
        let text = JSON.stringify(v).replaceAll(TSQ, 'QUEUE').replaceAll(PY2Q, 'QUEUE').replaceAll(TS, 'NODE').replaceAll(PY2, 'NODE');
        for (const [id, name] of ids) text = text.replaceAll(id, name);
        return JSON.parse(text, (k, x) => (['time_start', 'worker_pid'].includes(k) && x !== null ? typeof x : k === 'eta' ? typeof x : x)) as unknown;
      };
      for (const r of inspected.slice(0, 4)) {
        assert.deepEqual(mask(r[TS], [[tsId, 'RUNNING'], [tsEta, 'HELD']]), mask(r[PY2], [[pyId, 'RUNNING'], [pyEta, 'HELD']]));
      }
      assert.deepEqual(inspected[4][TS].total, { 'rp.sleep': 1 }, 'stats total counts a task when it starts');
      assert.deepEqual(inspected[4][TS].total, inspected[4][PY2].total);
      // terminate of a running task: what Celery's thread pool answers (it cannot kill a thread either)
      const [terminated] = await call([{ op: 'broadcast', method: 'terminate', arguments: { task_id: [tsId, pyId], signal: 'SIGTERM' }, ...two }]);
      const t2 = byNode(terminated);
      assert.equal(t2[TS].error?.replace('celeriac.worker.AsyncPool', 'POOL'), t2[PY2].error?.replace('celery.concurrency.thread.TaskPool', 'POOL'), JSON.stringify(t2));
      assert.match(t2[TS].error, /^NotImplementedError\(".* does not implement kill_job"\)$/);
      const stopped = Promise.all([worker!.stop(), py2!.stop()]);
      await stopped;
      await log!.waitFor((e) => e.type === 'task-succeeded' && e.uuid === tsId);
      await log!.waitFor((e) => e.type === 'task-succeeded' && e.uuid === pyId);
      const sequence = (host: string, id: string) => log!.events
        .filter((e) => e.hostname === host && (e.uuid === id || e.type === 'worker-offline'))
        .map((e) => e.type);
      const py2Seq = sequence(PY2, pyId);
      assert.deepEqual(py2Seq, ['task-received', 'task-started', 'worker-offline', 'task-succeeded'], 'the Python worker\'s order');
      assert.deepEqual(sequence(TS, tsId), py2Seq, 'the TS worker\'s order');
      // nothing after worker-offline but the task events of the tasks that were running
      const last = (host: string) => log!.events.filter((e) => e.hostname === host).map((e) => e.type).slice(-2);
      assert.deepEqual(last(TS), ['worker-offline', 'task-succeeded']);
      worker = null;
      py2 = null;
    });
  });
}
