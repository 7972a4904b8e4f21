/**
 * The fleet as the events tell it (`celery/events/state.py`: `State`, `Worker`, `Task`), what
 * `celery events`, Flower and the exporters keep in memory: workers by hostname, alive while their
 * heartbeats have not expired; tasks by uuid with Celery's state machine, so an event that arrives late
 * (a `task-started` after `task-succeeded`) never moves a task back.
 *
 *   const state = new State();
 *   app.events.receiver({ handlers: { '*': (e) => state.event(e) } }).start();
 *   for (const [uuid, task] of state.tasksByTime({ limit: 10 })) console.log(uuid, task.name, task.state);
 *
 * A pure module: it takes events (as the receiver hands them over, with `local_received`) and does no
 * I/O. It follows Python's code step by step, the odd parts included, so the same events give the same
 * State as Python's:
 * - a worker is alive while `now < heartbeats[-1] + freq * 2.0`; it keeps its last 4 heartbeats (times
 *   the events were received); `worker-offline` clears them. A task event also counts as a heartbeat of
 *   its worker, with the event's own timestamp (Python passes the two times swapped there).
 * - a task event sets `task.<subject> = timestamp`; the state moves only forward by `celery.states`
 *   precedence (RETRY always moves); an older RECEIVED event only fills in name, args, kwargs,
 *   parent_id, root_id, retries, eta and expires.
 * - at most `maxTasksInMemory` (10000) tasks and `maxWorkersInMemory` (5000) workers are kept, least
 *   recently used first out (a child's event touches its parent); `tasksByTime` reads a heap of
 *   (clock, timestamp, origin) entries of at most 4 × maxTasksInMemory events.
 * Differences: an event's fields are copied, not written into the caller's object (Python adds `state`
 * and `timestamp` to the event dict); a task event without `local_received`/`clock` is taken with them
 * unset instead of raising KeyError.
 */
import { precedence, READY_STATES, RETRY } from '../../protocol/states.ts';
import { pyTime, type CeleryEvent } from '../../protocol/events.ts';
import type { PyValue } from '../../protocol/values.ts';

/** `HEARTBEAT_EXPIRE_WINDOW`: percent of `freq` a worker may stay silent before it counts as offline. */
export const HEARTBEAT_EXPIRE_WINDOW = 200;
/** `HEARTBEAT_DRIFT_MAX`: seconds between an event's timestamp and its receipt before clocks look unsynchronized. */
export const HEARTBEAT_DRIFT_MAX = 16;

/** `TASK_EVENT_TO_STATE`: the state each task event subject means. */
export const TASK_EVENT_TO_STATE: Readonly<Record<string, string>> = Object.freeze({
  sent: 'PENDING', received: 'RECEIVED', started: 'STARTED', failed: 'FAILURE',
  retried: 'RETRY', succeeded: 'SUCCESS', revoked: 'REVOKED', rejected: 'REJECTED',
});

/** `heartbeat_expires(timestamp, freq=60, expire_window=200)`. */
export function heartbeatExpires(timestamp: number, freq = 60, expireWindow = HEARTBEAT_EXPIRE_WINDOW): number {
  return timestamp + freq * (expireWindow / 1e2);
}

/** `bisect.insort` (right): after any equal items. */
function insort<T>(list: T[], x: T, lt: (a: T, b: T) => boolean): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (lt(x, list[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  list.splice(lo, 0, x);
}

const truthy = (v: PyValue | undefined): boolean =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0));

const num = (v: PyValue | undefined): number | null => (typeof v === 'number' ? v : null);
const str = (v: PyValue | undefined): string | null => (typeof v === 'string' ? v : v === undefined || v === null ? null : String(v));

/** Python's `str()` of an id part (`None` for a missing pid). */
const pyStrId = (v: PyValue | undefined): string => (v === undefined || v === null ? 'None' : String(v));

/** The `Worker._fields`. */
export const WORKER_FIELDS = ['hostname', 'pid', 'freq', 'heartbeats', 'clock', 'active', 'processed', 'loadavg', 'sw_ident', 'sw_ver', 'sw_sys'] as const;

/** `celery.events.state.Worker`: one node, as its events describe it. */
export class WorkerState {
  static heartbeatMax = 4;
  static expireWindow = HEARTBEAT_EXPIRE_WINDOW;

  readonly hostname: string;
  /** The times of its last heartbeats (at most 4, ascending). */
  readonly heartbeats: number[] = [];
  /**
   * Every field its events carried (`pid`, `freq`, `active`, `processed`, `loadavg`, `sw_*`, `clock`,
   * and `type`, `timestamp`, `utcoffset`...), as Python sets them as attributes.
   */
  readonly attrs: Record<string, PyValue> = {};

  constructor(
    hostname: string,
    fields: Record<string, PyValue> = {},
    private readonly now: () => number = pyTime,
    private readonly onDrift?: (hostname: string, drift: number, localReceived: number, timestamp: number) => void,
  ) {
    this.hostname = hostname;
    this.update(fields);
  }

  get pid(): number | null { return num(this.attrs.pid); }
  /** Seconds between heartbeats. @default 60 */
  get freq(): number { return num(this.attrs.freq) ?? 60; }
  get clock(): number { return num(this.attrs.clock) ?? 0; }
  get active(): number | null { return num(this.attrs.active); }
  get processed(): number | null { return num(this.attrs.processed); }
  get loadavg(): number[] | null { return Array.isArray(this.attrs.loadavg) ? (this.attrs.loadavg as number[]) : null; }
  get sw_ident(): string | null { return str(this.attrs.sw_ident); }
  get sw_ver(): string | null { return str(this.attrs.sw_ver); }
  get sw_sys(): string | null { return str(this.attrs.sw_sys); }

  /** `Worker.update(fields)`: sets the fields (hostname and heartbeats are the worker's own). */
  update(fields: Record<string, PyValue>): void {
    for (const [k, v] of Object.entries(fields)) {
      if (k === 'hostname' || k === 'heartbeats') continue;
      this.attrs[k] = v;
    }
  }

  /**
   * `Worker.event(type_, timestamp, local_received, fields)`: `offline` clears the heartbeats; anything
   * else with both times records `local_received` as a heartbeat.
   */
  event(subject: string | null, timestamp: number | null | undefined, localReceived: number | null | undefined, fields?: Record<string, PyValue>): void {
    if (fields) this.update(fields);
    if (subject === 'offline') {
      this.heartbeats.length = 0;
      return;
    }
    if (!localReceived || !timestamp) return;
    const drift = Math.abs(Math.trunc(localReceived) - Math.trunc(timestamp));
    if (drift > HEARTBEAT_DRIFT_MAX) this.onDrift?.(this.hostname, drift, localReceived, timestamp);
    const hb = this.heartbeats;
    const hearts = hb.length;
    if (hearts > WorkerState.heartbeatMax - 1) hb.shift();
    if (hearts && localReceived > hb[hb.length - 1]!) hb.push(localReceived);
    else insort(hb, localReceived, (a, b) => a < b);
  }

  /** `heartbeat_expires`: the last heartbeat + freq × 2. Throws with no heartbeat, as Python's IndexError. */
  get heartbeatExpires(): number {
    const last = this.heartbeats[this.heartbeats.length - 1];
    if (last === undefined) throw new RangeError(`${this.hostname} has no heartbeat`);
    return heartbeatExpires(last, this.freq, WorkerState.expireWindow);
  }

  /** Has heartbeats, and the last one has not expired. */
  get alive(): boolean {
    return this.heartbeats.length > 0 && this.now() < this.heartbeatExpires;
  }

  /** `ONLINE` or `OFFLINE`. */
  get statusString(): 'ONLINE' | 'OFFLINE' {
    return this.alive ? 'ONLINE' : 'OFFLINE';
  }

  /** `hostname.pid`. */
  get id(): string {
    return `${this.hostname}.${pyStrId(this.attrs.pid)}`;
  }

  /** The `Worker._fields`, as plain data. */
  asDict(): Record<(typeof WORKER_FIELDS)[number], PyValue> {
    return {
      hostname: this.hostname, pid: this.pid, freq: this.freq, heartbeats: [...this.heartbeats], clock: this.clock,
      active: this.active, processed: this.processed, loadavg: this.loadavg, sw_ident: this.sw_ident, sw_ver: this.sw_ver, sw_sys: this.sw_sys,
    };
  }

  toString(): string {
    return `<Worker: ${this.hostname} (${this.statusString} clock:${this.clock})`;
  }
}

/** The `Task._fields`. */
export const TASK_FIELDS = [
  'uuid', 'name', 'state', 'received', 'sent', 'started', 'rejected', 'succeeded', 'failed', 'retried', 'revoked', 'args', 'kwargs',
  'eta', 'expires', 'retries', 'worker', 'result', 'exception', 'timestamp', 'runtime', 'traceback', 'exchange', 'routing_key',
  'clock', 'client', 'root', 'root_id', 'parent', 'parent_id', 'children',
] as const;

/** `Task._info_fields`: what `info()` shows by default. */
export const TASK_INFO_FIELDS = [
  'args', 'kwargs', 'retries', 'result', 'eta', 'runtime', 'expires', 'exception', 'exchange', 'routing_key', 'root_id', 'parent_id',
] as const;

/** `Task.merge_rules`: fields an out-of-order event of that state may still fill in. */
const MERGE_RULES: Readonly<Record<string, readonly string[]>> = {
  RECEIVED: ['name', 'args', 'kwargs', 'parent_id', 'root_id', 'retries', 'eta', 'expires'],
};

/** Attributes that are the Task's own, not an event's. */
const TASK_OWN = new Set(['worker', 'children', 'root', 'parent', 'cluster_state']);

/** `celery.events.state.Task`: one task, as its events describe it. */
export class TaskState {
  readonly uuid: string;
  /** The worker that sent its last worker-side event. */
  worker: WorkerState | null = null;
  /** The tasks whose `parent_id` is this one (that the State has seen). */
  readonly children = new Set<TaskState>();
  /**
   * Every field its events carried (`name`, `args`, `result`, `runtime`, `hostname`, `pid`...), plus
   * `state`, `timestamp` and the time of each event (`received`, `started`, ...), as Python's attributes.
   */
  readonly attrs: Record<string, PyValue> = {};

  constructor(uuid: string, private readonly cluster: State | null = null, fields: Record<string, PyValue> = {}) {
    this.uuid = uuid;
    for (const [k, v] of Object.entries(fields)) if (!TASK_OWN.has(k)) this.attrs[k] = v;
  }

  get name(): string | null { return str(this.attrs.name); }
  /** PENDING until an event says more. */
  get state(): string { return str(this.attrs.state) ?? 'PENDING'; }
  get clock(): number { return num(this.attrs.clock) ?? 0; }
  /** The timestamp of the event that set the state. */
  get timestamp(): number | null { return num(this.attrs.timestamp); }
  get sent(): number | null { return num(this.attrs.sent); }
  get received(): number | null { return num(this.attrs.received); }
  get started(): number | null { return num(this.attrs.started); }
  get succeeded(): number | null { return num(this.attrs.succeeded); }
  get failed(): number | null { return num(this.attrs.failed); }
  get retried(): number | null { return num(this.attrs.retried); }
  get revoked(): number | null { return num(this.attrs.revoked); }
  get rejected(): number | null { return num(this.attrs.rejected); }
  /** argsrepr, as the event carries it. */
  get args(): string | null { return str(this.attrs.args); }
  get kwargs(): string | null { return str(this.attrs.kwargs); }
  /** repr of the return value. */
  get result(): string | null { return str(this.attrs.result); }
  /** repr of the exception (`ValueError('boom')`). */
  get exception(): string | null { return str(this.attrs.exception); }
  get traceback(): string | null { return str(this.attrs.traceback); }
  get runtime(): number | null { return num(this.attrs.runtime); }
  get retries(): number | null { return num(this.attrs.retries); }
  get eta(): string | null { return str(this.attrs.eta); }
  get expires(): string | null { return str(this.attrs.expires); }
  get exchange(): string | null { return str(this.attrs.exchange); }
  get routing_key(): string | null { return str(this.attrs.routing_key); }
  get root_id(): string | null { return str(this.attrs.root_id); }
  get parent_id(): string | null { return str(this.attrs.parent_id); }
  /** The hostname of the producer that sent `task-sent`. */
  get client(): string | null { return str(this.attrs.client); }
  get id(): string { return this.uuid; }

  /** The worker's id (`hostname.pid`), or the client for a task no worker has reported. */
  get origin(): string | null {
    return this.worker === null ? this.client : this.worker.id;
  }

  /** SUCCESS, FAILURE or REVOKED. */
  get ready(): boolean {
    return READY_STATES.has(this.state);
  }

  /** Still in the State's memory (Python's weak references to dropped tasks die with them). */
  private isLive(t: TaskState): boolean {
    return this.cluster === null || this.cluster.tasks.get(t.uuid) === t;
  }

  get parent(): TaskState | null {
    const id = this.parent_id;
    return (id && this.cluster?.tasks.get(id)) || null;
  }

  get root(): TaskState | null {
    const id = this.root_id;
    return (id && this.cluster?.tasks.get(id)) || null;
  }

  /**
   * `Task.event(type_, timestamp, local_received, fields)`: records the event's time under its subject,
   * then moves the state forward, or (an event from before the current state) takes only what its merge
   * rule allows.
   */
  event(subject: string, timestamp: number | null | undefined, _localReceived: number | null | undefined, fields: Record<string, PyValue> = {}): void {
    let state = TASK_EVENT_TO_STATE[subject];
    if (state !== undefined) this.attrs[subject] = timestamp ?? null;
    else state = subject.toUpperCase(); // a custom state
    let take: Record<string, PyValue> = { ...fields };
    if (state !== RETRY && this.state !== RETRY && precedence(state) > precedence(this.state)) {
      // this state logically happens-before the current one: merge
      const keep = MERGE_RULES[state];
      if (keep) take = Object.fromEntries(Object.entries(fields).filter(([k]) => keep.includes(k)));
    } else {
      take.state = state;
      take.timestamp = timestamp ?? null;
    }
    for (const [k, v] of Object.entries(take)) if (!TASK_OWN.has(k) && k !== 'uuid') this.attrs[k] = v;
  }

  /** `Task.info(fields, extra)`: the fields (default `TASK_INFO_FIELDS`) that have a value, in order. */
  info(fields: readonly string[] = TASK_INFO_FIELDS, extra: readonly string[] = []): Record<string, PyValue> {
    const out: Record<string, PyValue> = {};
    for (const k of [...fields, ...extra]) {
      const v = this.field(k);
      if (v !== null && v !== undefined) out[k] = v;
    }
    return out;
  }

  /** One field by its Python name (`state`, `worker` as the hostname...). */
  field(key: string): PyValue {
    switch (key) {
      case 'uuid': return this.uuid;
      case 'state': return this.state;
      case 'clock': return this.clock;
      case 'worker': return this.worker?.hostname ?? null;
      case 'children': return [...this.children].filter((t) => this.isLive(t)).map((t) => t.uuid);
      case 'root': return this.root_id;
      case 'parent': return this.parent_id;
      default: return this.attrs[key] ?? null;
    }
  }

  /** `Task.as_dict()`: the `Task._fields` (worker as its hostname, children as ids). */
  asDict(): Record<(typeof TASK_FIELDS)[number], PyValue> {
    return Object.fromEntries(TASK_FIELDS.map((k) => [k, this.field(k)])) as Record<(typeof TASK_FIELDS)[number], PyValue>;
  }

  toString(): string {
    return `<Task: ${this.name ?? 'None'}(${this.uuid}) ${this.state} clock:${this.clock}>`;
  }
}

/** An entry of the task heap: kombu's `timetuple(clock, timestamp, origin, task)`. */
interface TimeTuple {
  clock: number | null;
  timestamp: number;
  origin: string;
  task: TaskState;
}

/** `timetuple.__lt__`: by Lamport clock when both have one (equal clocks: by origin), else by timestamp. */
function timeLess(a: TimeTuple, b: TimeTuple): boolean {
  if (a.clock && b.clock) return a.clock === b.clock ? a.origin < b.origin : a.clock < b.clock;
  return a.timestamp < b.timestamp;
}

/** Celery's `LRUCache` over a Map: `touch` is its `__getitem__` (moves the key to the end). */
class LRU<V> extends Map<string, V> {
  constructor(public limit: number) {
    super();
  }
  /** `__setitem__`: at the limit the oldest key goes first (a key already there keeps its place). */
  put(key: string, value: V): void {
    if (this.limit && this.size >= this.limit) this.delete(this.keys().next().value!);
    this.set(key, value);
  }
  touch(key: string): V | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    this.delete(key);
    this.set(key, v);
    return v;
  }
}

export interface StateOptions {
  /** @default 5000 */
  maxWorkersInMemory?: number;
  /** @default 10000 */
  maxTasksInMemory?: number;
  /** Called with every event before it is applied (Python's `callback`). */
  callback?: (state: State, event: CeleryEvent) => void;
  /** A worker appeared or sent `worker-online`. */
  onNodeJoin?: (worker: WorkerState) => void;
  /** A worker sent `worker-offline`; with this set, the State drops it (as Python does). */
  onNodeLeave?: (worker: WorkerState) => void;
  /** Once per hostname: its events arrive more than 16 s from their timestamps. */
  onDrift?: (hostname: string, drift: number, localReceived: number, timestamp: number) => void;
  /** Now, in seconds since the epoch (`time.time()`), for `alive`. @default the system clock */
  now?: () => number;
}

/** What {@link State.event} did. */
export type StateEventResult =
  | { kind: 'worker'; worker: WorkerState; created: boolean; subject: string }
  | { kind: 'task'; task: TaskState; created: boolean; subject: string }
  | { kind: 'custom'; value: unknown; subject: string }
  | null;

/** `celery.events.state.State`: the cluster at the time of the last event. */
export class State {
  /** Workers by hostname (least recently created first). */
  readonly workers: Map<string, WorkerState>;
  /** Tasks by uuid (least recently used first). */
  readonly tasks: Map<string, TaskState>;
  eventCount = 0;
  /** `task-received` events seen. */
  taskCount = 0;
  readonly maxWorkersInMemory: number;
  readonly maxTasksInMemory: number;
  static heapMultiplier = 4;
  /** Handlers by event group (`task`, `worker`, or your own), taking the group's events instead of the State. */
  readonly handlers: Record<string, (subject: string, event: CeleryEvent) => unknown> = {};
  /** Tasks by name, of the tasks whose first event had the name (`task-sent` / `task-received`). */
  readonly tasksByTypeIndex = new Map<string, Set<TaskState>>();
  /** Tasks by the hostname of their first event, likewise. */
  readonly tasksByWorkerIndex = new Map<string, Set<TaskState>>();

  private readonly workerLru: LRU<WorkerState>;
  private readonly taskLru: LRU<TaskState>;
  private readonly heap: TimeTuple[] = [];
  private readonly seenTypes = new Set<string>();
  private readonly toResolve = new Map<string, Set<TaskState>>();
  private readonly drifted = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: StateOptions = {}) {
    this.maxWorkersInMemory = options.maxWorkersInMemory ?? 5000;
    this.maxTasksInMemory = options.maxTasksInMemory ?? 10000;
    this.workerLru = new LRU(this.maxWorkersInMemory);
    this.taskLru = new LRU(this.maxTasksInMemory);
    this.workers = this.workerLru;
    this.tasks = this.taskLru;
    this.now = options.now ?? pyTime;
  }

  private newWorker(hostname: string): WorkerState {
    const onDrift = this.options.onDrift;
    return new WorkerState(hostname, {}, this.now, onDrift && ((h, d, l, t) => {
      if (this.drifted.has(h)) return;
      this.drifted.add(h);
      onDrift(h, d, l, t);
    }));
  }

  /** `get_or_create_worker(hostname, **fields)`. */
  getOrCreateWorker(hostname: string, fields: Record<string, PyValue> = {}): [WorkerState, boolean] {
    const w = this.workerLru.touch(hostname);
    if (w) {
      w.update(fields);
      return [w, false];
    }
    const worker = this.newWorker(hostname);
    worker.update(fields);
    this.workerLru.put(hostname, worker);
    return [worker, true];
  }

  /** `get_or_create_task(uuid)`. */
  getOrCreateTask(uuid: string): [TaskState, boolean] {
    const t = this.taskLru.touch(uuid);
    if (t) return [t, false];
    const task = new TaskState(uuid, this);
    this.taskLru.put(uuid, task);
    return [task, true];
  }

  /** Applies one event (as the receiver delivers it). */
  event(event: CeleryEvent): StateEventResult {
    this.eventCount += 1;
    this.options.callback?.(this, event);
    const type = String(event.type);
    const dash = type.indexOf('-');
    const group = dash < 0 ? type : type.slice(0, dash);
    const subject = dash < 0 ? '' : type.slice(dash + 1);
    const handler = this.handlers[group];
    if (handler) return { kind: 'custom', value: handler(subject, event), subject };
    if (group === 'worker') return this.workerEvent(subject, event);
    if (group === 'task') return this.taskEvent(subject, event);
    return null;
  }

  private workerEvent(subject: string, event: CeleryEvent): StateEventResult {
    if (!('hostname' in event && 'timestamp' in event && 'local_received' in event)) return null;
    const hostname = String(event.hostname);
    const isOffline = subject === 'offline';
    let worker = this.workerLru.get(hostname);
    let created = false;
    if (!worker) {
      worker = this.newWorker(hostname);
      if (!isOffline) {
        this.workerLru.put(hostname, worker);
        created = true;
      }
    }
    worker.event(subject, num(event.timestamp), num(event.local_received), event);
    if (this.options.onNodeJoin && (created || subject === 'online')) this.options.onNodeJoin(worker);
    if (this.options.onNodeLeave && isOffline) {
      this.options.onNodeLeave(worker);
      this.workerLru.delete(hostname);
    }
    return { kind: 'worker', worker, created, subject };
  }

  private taskEvent(subject: string, event: CeleryEvent): StateEventResult {
    const uuid = String(event.uuid);
    const hostname = String(event.hostname);
    const timestamp = num(event.timestamp);
    const localReceived = num(event.local_received);
    const clock = num(event.clock);
    const isClientEvent = subject === 'sent'; // sent by the producer, not a worker
    let task = this.taskLru.get(uuid);
    let created = false;
    if (!task) {
      task = new TaskState(uuid, this);
      this.taskLru.put(uuid, task);
      created = true;
    }
    let origin: string;
    if (isClientEvent) {
      task.attrs.client = hostname;
      origin = hostname;
    } else {
      let worker = this.workerLru.get(hostname);
      if (!worker) {
        worker = this.newWorker(hostname);
        this.workerLru.put(hostname, worker);
      }
      task.worker = worker;
      // (sic) Python passes (local_received, timestamp) as (timestamp, local_received)
      if (localReceived) worker.event(null, localReceived, timestamp);
      origin = worker.id;
    }

    const maxEvents = this.maxTasksInMemory * State.heapMultiplier;
    const heaps = this.heap.length;
    if (heaps + 1 > maxEvents) this.heap.shift();
    const tt: TimeTuple = { clock, timestamp: timestamp ?? 0, origin, task };
    if (heaps && timeLess(this.heap[this.heap.length - 1]!, tt)) this.heap.push(tt);
    else insort(this.heap, tt, timeLess);

    if (subject === 'received') this.taskCount += 1;
    task.event(subject, timestamp, localReceived, event);
    const name = task.name;
    if (name !== null) {
      this.seenTypes.add(name);
      if (created) {
        addTo(this.tasksByTypeIndex, name, task);
        addTo(this.tasksByWorkerIndex, hostname, task);
      }
    }
    const parentId = task.parent_id;
    if (parentId) {
      const parent = this.taskLru.touch(parentId);
      if (parent) parent.children.add(task);
      else addTo(this.toResolve, parentId, task);
    }
    const pending = this.toResolve.get(uuid);
    if (pending) {
      this.toResolve.delete(uuid);
      for (const c of pending) if (this.taskLru.get(c.uuid) === c) task.children.add(c);
    }
    return { kind: 'task', task, created, subject };
  }

  /**
   * `tasks_by_time(limit, reverse=True)`: `[uuid, task]` newest first (by Lamport clock, then
   * timestamp), each task once; `limit` counts heap entries, as Python's does.
   */
  *tasksByTime(o: { limit?: number; reverse?: boolean } = {}): Generator<[string, TaskState]> {
    const heap = this.heap;
    const reverse = o.reverse !== false;
    const seen = new Set<string>();
    const end = o.limit === undefined || o.limit === null ? heap.length : Math.min(o.limit, heap.length);
    for (let i = 0; i < end; i++) {
      const task = heap[reverse ? heap.length - 1 - i : i]!.task;
      if (this.taskLru.get(task.uuid) !== task) continue; // dropped from memory
      if (!seen.has(task.uuid)) {
        seen.add(task.uuid);
        yield [task.uuid, task];
      }
    }
  }

  /** `tasks_by_type(name, limit, reverse)`: that task name's tasks, ordered by time. */
  *tasksByType(name: string, o: { limit?: number; reverse?: boolean } = {}): Generator<[string, TaskState]> {
    let n = 0;
    for (const row of this.tasksByTime({ reverse: o.reverse ?? true })) {
      if (o.limit && n >= o.limit) return;
      if (row[1].name === name) {
        n++;
        yield row;
      }
    }
  }

  /** `tasks_by_worker(hostname, limit, reverse)`: that worker's tasks, ordered by time. */
  *tasksByWorker(hostname: string, o: { limit?: number; reverse?: boolean } = {}): Generator<[string, TaskState]> {
    let n = 0;
    for (const row of this.tasksByTime({ reverse: o.reverse ?? true })) {
      if (o.limit && n >= o.limit) return;
      if (row[1].worker?.hostname === hostname) {
        n++;
        yield row;
      }
    }
  }

  /** `itertasks(limit)`: in memory order. */
  *itertasks(limit?: number): Generator<[string, TaskState]> {
    let n = 0;
    for (const row of this.tasks) {
      yield row;
      if (limit && ++n >= limit) return;
    }
  }

  /** Every task name seen, sorted. */
  taskTypes(): string[] {
    return [...this.seenTypes].sort();
  }

  /** The workers that seem alive. */
  aliveWorkers(): WorkerState[] {
    return [...this.workers.values()].filter((w) => w.alive);
  }

  /** `clear_tasks(ready=True)`: drops the tasks (with `ready`, only the finished ones) and the time heap. */
  clearTasks(ready = true): void {
    const keep = ready ? [...this.taskLru].filter(([, t]) => !READY_STATES.has(t.state)) : [];
    this.taskLru.clear();
    for (const [k, t] of keep) this.taskLru.put(k, t);
    this.heap.length = 0;
  }

  /** `clear(ready=True)`: workers, tasks and the counters. */
  clear(ready = true): void {
    this.workerLru.clear();
    this.clearTasks(ready);
    this.eventCount = 0;
    this.taskCount = 0;
  }

  toString(): string {
    return `<State: events=${this.eventCount} tasks=${this.taskCount}>`;
  }
}

function addTo<V>(index: Map<string, Set<V>>, key: string, v: V): void {
  let s = index.get(key);
  if (!s) index.set(key, (s = new Set()));
  s.add(v);
}
