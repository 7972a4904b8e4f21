// src/events/state.ts against Python's celery.events.state.State (test/python/events_state.py): the
// same events fed to both, the States compared field by field (workers with heartbeats and alive,
// tasks with every field, state, children, origin; the time order, the indexes, the counters). The
// events: hand-written scenarios (out-of-order delivery, retries, custom states, parent/child in both
// orders, clock ties, drift, offline, expired heartbeats, eviction past max_tasks_in_memory) and
// seeded random shuffles of task lifecycles across workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CeleryEvent } from '../../protocol/events.ts';
import type { PyValue } from '../../protocol/values.ts';
import { State, TaskState, WORKER_FIELDS, heartbeatExpires } from '../../src/events/state.ts';
import { requirePython, runPython } from '../helpers/peers.ts';
import { mulberry32 } from '../helpers/random.ts';

interface Run {
  events: CeleryEvent[];
  now: number;
  max_tasks?: number;
  max_workers?: number;
  node_leave?: boolean;
  steps?: number[];
}

const T0 = 1_700_000_000.25;

/** What test/python/events_state.py prints for a State, built from ours. */
function snapshot(state: State, left: string[]): unknown {
  const workers: Record<string, unknown> = {};
  for (const [host, w] of state.workers) {
    const d: Record<string, unknown> = {};
    for (const k of WORKER_FIELDS) d[k] = w.asDict()[k];
    d.alive = w.alive;
    d.status_string = w.statusString;
    d.id = w.id;
    d.repr = w.toString();
    workers[host] = d;
  }
  const tasks: Record<string, unknown> = {};
  for (const [uuid, t] of state.tasks) {
    const d: Record<string, unknown> = { ...t.asDict() };
    d.children = [...(d.children as string[])].sort();
    d.info = t.info(undefined, ['state']);
    d.ready = t.ready;
    d.origin = t.origin;
    d.repr = t.toString();
    tasks[uuid] = d;
  }
  const ids = (rows: Iterable<[string, TaskState]>) => [...rows].map(([u]) => u);
  const index = (m: Map<string, Set<TaskState>>) =>
    Object.fromEntries([...m].filter(([, s]) => [...s].some((t) => state.tasks.get(t.uuid) === t))
      .map(([k, s]) => [k, [...s].filter((t) => state.tasks.get(t.uuid) === t).map((t) => t.uuid).sort()]));
  return {
    workers,
    worker_order: [...state.workers.keys()],
    tasks,
    task_order: [...state.tasks.keys()],
    by_time: ids(state.tasksByTime()),
    by_time_5: ids(state.tasksByTime({ limit: 5 })),
    by_time_asc: ids(state.tasksByTime({ reverse: false })),
    task_types: state.taskTypes(),
    by_type: index(state.tasksByTypeIndex),
    by_worker: index(state.tasksByWorkerIndex),
    alive: state.aliveWorkers().map((w) => w.hostname).sort(),
    event_count: state.eventCount,
    task_count: state.taskCount,
    left: [...left],
    repr: state.toString(),
  };
}

function runTs(run: Run): unknown {
  const left: string[] = [];
  const state = new State({
    now: () => run.now,
    ...(run.max_tasks ? { maxTasksInMemory: run.max_tasks } : {}),
    ...(run.max_workers ? { maxWorkersInMemory: run.max_workers } : {}),
    ...(run.node_leave ? { onNodeLeave: (w) => left.push(w.hostname) } : {}),
  });
  const out: { steps: Record<string, unknown>; final?: unknown } = { steps: {} };
  const steps = new Set(run.steps ?? []);
  run.events.forEach((e, i) => {
    state.event(structuredClone(e));
    if (steps.has(i)) out.steps[String(i)] = snapshot(state, left);
  });
  out.final = snapshot(state, left);
  return out;
}

// ---- event builders (the fields Celery's workers send; `local_received` as the receiver adds it)

let clock = 0;
function ev(type: string, hostname: string, ts: number, fields: Record<string, PyValue> = {}, o: { lag?: number; clock?: number | null } = {}): CeleryEvent {
  return {
    hostname, utcoffset: 0, pid: 100 + hostname.length, clock: o.clock === undefined ? ++clock : o.clock, ...fields,
    timestamp: ts, type, local_received: ts + (o.lag ?? 0.01),
  } as CeleryEvent;
}
const workerFields = (freq = 2.0, extra: Record<string, PyValue> = {}) =>
  ({ freq, sw_ident: 'py-celery', sw_ver: '5.6.3', sw_sys: 'Linux', active: 0, processed: 0, loadavg: [0.5, 0.25, 0.1], ...extra });
const received = (uuid: string, name: string, extra: Record<string, PyValue> = {}) =>
  ({ uuid, name, args: '(2, 3)', kwargs: '{}', root_id: uuid, parent_id: null, eta: null, expires: null, retries: 0, ...extra });

function scenarios(): Run[] {
  clock = 0;
  const e: CeleryEvent[] = [];
  // workers: w1 beats 6 times (4 kept); w2 goes offline; w3 only through task events; w4 stopped beating long ago; w5 freq 30
  e.push(ev('worker-online', 'w1@h', T0, workerFields()));
  for (let i = 1; i <= 6; i++) e.push(ev('worker-heartbeat', 'w1@h', T0 + 2 * i, workerFields(2.0, { processed: i, active: i % 2 })));
  e.push(ev('worker-online', 'w2@h', T0 + 1, workerFields()));
  e.push(ev('worker-heartbeat', 'w2@h', T0 + 3, workerFields()));
  e.push(ev('worker-offline', 'w2@h', T0 + 4, workerFields()));
  e.push(ev('worker-online', 'w4@h', T0 - 500, workerFields()));
  e.push(ev('worker-online', 'w5@h', T0 + 5, workerFields(30.0)));
  // a heartbeat that arrives before an earlier one (insort) and one with drift
  e.push(ev('worker-heartbeat', 'w5@h', T0 + 9, workerFields(30.0), { lag: 0.5 }));
  e.push(ev('worker-heartbeat', 'w5@h', T0 + 8, workerFields(30.0), { lag: 0.2 }));
  e.push(ev('worker-heartbeat', 'w5@h', T0 + 10, workerFields(30.0), { lag: 40 }));
  // t1: sent by a client, then the normal life on w1
  e.push(ev('task-sent', 'gen1@client', T0 + 10, { uuid: 't1', name: 'proj.add', args: '(2, 3)', kwargs: '{}', retries: 0, eta: null, expires: null, queue: 'celery', exchange: '', routing_key: 'celery', root_id: 't1', parent_id: null }, { clock: 50 }));
  e.push(ev('task-received', 'w1@h', T0 + 10.1, received('t1', 'proj.add')));
  e.push(ev('task-started', 'w1@h', T0 + 10.2, { uuid: 't1' }));
  e.push(ev('task-succeeded', 'w1@h', T0 + 10.3, { uuid: 't1', result: '5', runtime: 0.1 }));
  // t2: out of order: succeeded, started, received (the received fills name and args only)
  e.push(ev('task-succeeded', 'w3@h', T0 + 11.3, { uuid: 't2', result: "'ok'", runtime: 0.2 }, { clock: 80 }));
  e.push(ev('task-started', 'w3@h', T0 + 11.2, { uuid: 't2' }, { clock: 79 }));
  e.push(ev('task-received', 'w3@h', T0 + 11.1, received('t2', 'proj.mul', { args: '(4,)', retries: 0 }), { clock: 78 }));
  // t3: retried then failed; a late RETRY always applies
  e.push(ev('task-received', 'w1@h', T0 + 12, received('t3', 'proj.flaky')));
  e.push(ev('task-started', 'w1@h', T0 + 12.1, { uuid: 't3' }));
  e.push(ev('task-retried', 'w1@h', T0 + 12.2, { uuid: 't3', exception: "ValueError('again')", traceback: 'Traceback (most recent call last):\nValueError: again\n' }));
  e.push(ev('task-received', 'w1@h', T0 + 12.5, received('t3', 'proj.flaky', { retries: 1 })));
  e.push(ev('task-started', 'w1@h', T0 + 12.6, { uuid: 't3' }));
  e.push(ev('task-failed', 'w1@h', T0 + 12.7, { uuid: 't3', exception: "ValueError('boom')", traceback: 'Traceback (most recent call last):\nValueError: boom\n' }));
  e.push(ev('task-retried', 'w1@h', T0 + 12.4, { uuid: 't3', exception: "ValueError('late')", traceback: 'late' }, { clock: 3 }));
  // t4: a custom state between started and succeeded, and one after success (ignored but fields merge)
  e.push(ev('task-received', 'w3@h', T0 + 13, received('t4', 'proj.progress')));
  e.push(ev('task-started', 'w3@h', T0 + 13.1, { uuid: 't4' }));
  e.push(ev('task-progress', 'w3@h', T0 + 13.2, { uuid: 't4', current: 1, total: 2 }));
  e.push(ev('task-succeeded', 'w3@h', T0 + 13.3, { uuid: 't4', result: 'None', runtime: 0.3 }));
  e.push(ev('task-progress', 'w3@h', T0 + 13.4, { uuid: 't4', current: 2, total: 2 }));
  // t5 revoked, t6 rejected, t7 only started (no name: not indexed)
  e.push(ev('task-received', 'w1@h', T0 + 14, received('t5', 'proj.add', { eta: '2023-11-14T22:13:40+00:00', expires: '2023-11-14T22:20:00+00:00' })));
  e.push(ev('task-revoked', 'w1@h', T0 + 14.1, { uuid: 't5', terminated: false, signum: null, expired: true }));
  e.push(ev('task-received', 'w3@h', T0 + 15, received('t6', 'proj.add')));
  e.push(ev('task-rejected', 'w3@h', T0 + 15.1, { uuid: 't6', requeue: false }));
  e.push(ev('task-started', 'w1@h', T0 + 16, { uuid: 't7' }));
  // parent/child: c1 before its parent p1; c2 after it; clock ties between two workers (origin breaks them)
  e.push(ev('task-received', 'w1@h', T0 + 17, received('c1', 'proj.child', { root_id: 'p1', parent_id: 'p1' }), { clock: 200 }));
  e.push(ev('task-received', 'w3@h', T0 + 17, received('p1', 'proj.parent'), { clock: 200 }));
  e.push(ev('task-received', 'w1@h', T0 + 17.5, received('c2', 'proj.child', { root_id: 'p1', parent_id: 'p1' }), { clock: 201 }));
  e.push(ev('task-received', 'w3@h', T0 + 17.6, received('p3', 'proj.parent'), { clock: 300 }));
  e.push(ev('task-received', 'w1@h', T0 + 17.6, received('c3', 'proj.child', { root_id: 'p3', parent_id: 'p3' }), { clock: 300 }));
  // no clock: ordered by timestamp
  e.push(ev('task-received', 'w1@h', T0 + 16.5, received('n1', 'proj.add'), { clock: 0 }));
  e.push(ev('task-succeeded', 'w1@h', T0 + 18, { uuid: 'n1', result: '5', runtime: 0.01 }, { clock: 0 }));
  // an unknown group and a worker event without local_received: counted, not applied
  e.push(ev('custom-thing', 'w1@h', T0 + 19, { x: 1 }));
  const noRecv = ev('worker-heartbeat', 'w6@h', T0 + 19, workerFields());
  delete noRecv.local_received;
  e.push(noRecv);

  const now = T0 + 20;
  const runs: Run[] = [
    { events: e, now, steps: [8, 20, 40] },
    { events: e, now: T0 + 100 }, // w1's and w3's heartbeats expired
    { events: e, now, node_leave: true }, // worker-offline drops the worker
    { events: e, now, max_tasks: 4, max_workers: 3 }, // eviction; a child's event touches its parent
  ];
  // eviction with parents: p2 stays (touched by its children's events) while older tasks go
  clock = 1000;
  const ev2: CeleryEvent[] = [ev('task-received', 'w1@h', T0, received('p2', 'proj.parent'))];
  for (let i = 0; i < 8; i++) {
    ev2.push(ev('task-received', 'w1@h', T0 + i, received(`x${i}`, 'proj.add')));
    ev2.push(ev('task-received', 'w1@h', T0 + i + 0.5, received(`k${i}`, 'proj.child', { parent_id: 'p2', root_id: 'p2' })));
    ev2.push(ev('task-succeeded', 'w1@h', T0 + i + 0.6, { uuid: `k${i}`, result: '1', runtime: 0.1 }));
  }
  runs.push({ events: ev2, now: T0 + 10, max_tasks: 5, steps: [3, 10] });
  return runs;
}

/** Seeded random runs: task lifecycles on several workers, each delivered shuffled in windows of a few events. */
function randomRuns(seed: number, count: number): Run[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const runs: Run[] = [];
  for (let r = 0; r < count; r++) {
    clock = Math.floor(rnd() * 5);
    const hosts = ['a@h', 'b@h', 'c@h'].slice(0, 1 + Math.floor(rnd() * 3));
    const events: CeleryEvent[] = [];
    let t = T0;
    for (const h of hosts) events.push(ev('worker-online', h, (t += rnd()), workerFields(pick([1.0, 2.0, 5.0]))));
    const nTasks = 2 + Math.floor(rnd() * 10);
    const ids: string[] = [];
    for (let i = 0; i < nTasks; i++) {
      const id = `r${r}t${i}`;
      const h = pick(hosts);
      const parent = ids.length && rnd() < 0.3 ? pick(ids) : null;
      ids.push(id);
      const life: CeleryEvent[] = [];
      if (rnd() < 0.3) life.push(ev('task-sent', 'gen@client', (t += rnd()), { uuid: id, name: 'proj.t', args: '()', kwargs: '{}', retries: 0, eta: null, expires: null, root_id: id, parent_id: parent }));
      life.push(ev('task-received', h, (t += rnd()), received(id, pick(['proj.a', 'proj.b']), { parent_id: parent })));
      if (rnd() < 0.8) life.push(ev('task-started', h, (t += rnd()), { uuid: id }));
      if (rnd() < 0.3) life.push(ev('task-retried', h, (t += rnd()), { uuid: id, exception: 'E()', traceback: 'tb' }));
      if (rnd() < 0.2) life.push(ev('task-progress', h, (t += rnd()), { uuid: id, n: i }));
      life.push(pick([
        () => ev('task-succeeded', h, (t += rnd()), { uuid: id, result: String(i), runtime: rnd() }),
        () => ev('task-failed', h, (t += rnd()), { uuid: id, exception: "KeyError('x')", traceback: 'tb' }),
        () => ev('task-revoked', h, (t += rnd()), { uuid: id, terminated: false, signum: null, expired: false }),
      ])());
      if (rnd() < 0.2) life.forEach((x) => (x.clock = rnd() < 0.5 ? 0 : x.clock ?? null));
      events.push(...life);
      if (rnd() < 0.3) events.push(ev('worker-heartbeat', h, (t += rnd()), workerFields(2.0, { processed: i })));
    }
    if (rnd() < 0.3) events.push(ev('worker-offline', hosts[0]!, (t += rnd()), workerFields()));
    // shuffle within windows: events of a task arrive out of order
    const w = 1 + Math.floor(rnd() * 4);
    for (let i = 0; i < events.length; i += w) {
      const win = events.slice(i, i + w);
      for (let j = win.length - 1; j > 0; j--) {
        const k = Math.floor(rnd() * (j + 1));
        [win[j], win[k]] = [win[k]!, win[j]!];
      }
      events.splice(i, win.length, ...win);
    }
    runs.push({ events, now: t + pick([0, 3, 30]), ...(rnd() < 0.3 ? { max_tasks: 3 + Math.floor(rnd() * 5) } : {}) });
  }
  return runs;
}

async function python(runs: Run[]): Promise<unknown[]> {
  return JSON.parse(await runPython('test/python/events_state.py', { runs })) as unknown[];
}

test('heartbeatExpires: timestamp + freq * 2', () => {
  assert.equal(heartbeatExpires(100, 2), 104);
  assert.equal(heartbeatExpires(100), 220);
});

test('the scenarios give the State Python gives, step by step', async (t) => {
  if (!requirePython(t)) return;
  const runs = scenarios();
  const py = await python(runs);
  runs.forEach((run, i) => assert.deepEqual(runTs(run), py[i], `scenario run ${i}`));
  // what the scenarios are about, stated (so a change in both would still be noticed)
  const s = runTs(runs[0]!) as { final: { tasks: Record<string, { state: string; name: string; args: string; children: string[]; retries: number }>; alive: string[]; workers: Record<string, { heartbeats: number[] }> } };
  assert.equal(s.final.tasks.t2!.state, 'SUCCESS');
  assert.equal(s.final.tasks.t2!.name, 'proj.mul');
  assert.equal(s.final.tasks.t3!.state, 'RETRY'); // the late RETRY event wins, as in Celery
  assert.equal(s.final.tasks.t4!.state, 'SUCCESS');
  assert.deepEqual(s.final.tasks.p1!.children, ['c1', 'c2']);
  assert.deepEqual(s.final.alive, ['w1@h', 'w3@h', 'w5@h']);
  assert.equal(s.final.workers['w1@h']!.heartbeats.length, 4);
});

test('seeded random deliveries give the State Python gives', async (t) => {
  if (!requirePython(t)) return;
  const seed = Number(process.env.CELERIAC_SEED ?? 14);
  const runs = randomRuns(seed, 60);
  const py = await python(runs);
  runs.forEach((run, i) => assert.deepEqual(runTs(run), py[i], `random run ${i} (seed ${seed})`));
});

test('a late event never moves a task back; RECEIVED merges only its fields', () => {
  const state = new State({ now: () => T0 + 5 });
  clock = 0;
  state.event(ev('task-succeeded', 'w@h', T0 + 2, { uuid: 'u', result: '1', runtime: 0.5 }));
  state.event(ev('task-started', 'w@h', T0 + 1, { uuid: 'u' }));
  state.event(ev('task-received', 'w@h', T0, received('u', 'proj.x')));
  const task = state.tasks.get('u')!;
  assert.equal(task.state, 'SUCCESS');
  assert.equal(task.name, 'proj.x');
  assert.equal(task.args, '(2, 3)');
  assert.equal(task.received, T0);
  assert.equal(task.runtime, 0.5);
  assert.equal(task.worker?.hostname, 'w@h');
  assert.deepEqual(task.info(), { args: '(2, 3)', kwargs: '{}', retries: 0, result: '1', runtime: 0.5, root_id: 'u' });
});
