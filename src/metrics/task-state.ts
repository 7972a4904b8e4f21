/**
 * The part of `celery.events.state.State` celery-exporter reads its labels from: per task id, the
 * fields of its events merged by Celery's rules (`Task.event`: a logically earlier event arriving late
 * only fills `name`, `args`... from `task-received`, never the state), and per worker node its
 * heartbeats (`Worker.alive`: a heartbeat within `freq * 2` seconds).
 */
import type { CeleryEvent } from '../../protocol/events.ts';
import { FAILURE, PENDING, precedence, RECEIVED, REJECTED, RETRY, REVOKED, STARTED, SUCCESS } from '../../protocol/states.ts';

/** `celery.events.state.TASK_EVENT_TO_STATE`. */
const TASK_EVENT_TO_STATE: Readonly<Record<string, string>> = {
  sent: PENDING, received: RECEIVED, started: STARTED, failed: FAILURE, retried: RETRY, succeeded: SUCCESS, revoked: REVOKED, rejected: REJECTED,
};

/** `Task.merge_rules`: fields kept from a `task-received` that arrives after a later state. */
const MERGE_RULES: Readonly<Record<string, readonly string[]>> = {
  [RECEIVED]: ['name', 'args', 'kwargs', 'parent_id', 'root_id', 'retries', 'eta', 'expires'],
};

/** A task's merged fields (`Task.__dict__`): event fields plus `state` and one timestamp per event. */
export type TaskRecord = Record<string, unknown> & { uuid: string; state: string };

/** `State.max_tasks_in_memory`. */
export const MAX_TASKS_IN_MEMORY = 10_000;

export class TaskStates {
  private readonly tasks = new Map<string, TaskRecord>();

  constructor(private readonly max = MAX_TASKS_IN_MEMORY) {}

  get size(): number {
    return this.tasks.size;
  }

  get(uuid: string): TaskRecord | undefined {
    return this.tasks.get(uuid);
  }

  /** `State.event` for a `task-*` event: the task's record after merging it. */
  event(e: CeleryEvent): TaskRecord {
    const uuid = String(e.uuid);
    let task = this.tasks.get(uuid);
    if (!task) {
      task = { uuid, state: PENDING };
      this.tasks.set(uuid, task);
      if (this.tasks.size > this.max) this.tasks.delete(this.tasks.keys().next().value!);
    }
    const subject = e.type.slice(e.type.indexOf('-') + 1);
    const timestamp = e.timestamp;
    let state = TASK_EVENT_TO_STATE[subject];
    if (state !== undefined) task[subject] = timestamp;
    else state = subject.toUpperCase();
    let fields: Record<string, unknown> = { ...e };
    if (state !== RETRY && task.state !== RETRY && precedence(state) > precedence(task.state)) {
      const keep = MERGE_RULES[state];
      if (keep) fields = Object.fromEntries(Object.entries(fields).filter(([k]) => keep.includes(k)));
    } else {
      fields.state = state;
      fields.timestamp = timestamp;
    }
    Object.assign(task, fields);
    return task;
  }
}

/** `HEARTBEAT_EXPIRE_WINDOW` (percent of `freq`). */
const HEARTBEAT_EXPIRE_WINDOW = 200;

export interface WorkerRecord {
  hostname: string;
  freq: number;
  active: number | null;
  /** `local_received` of the last heartbeat (seconds). */
  lastHeartbeat: number | null;
}

/** `State.workers` as far as `alive` and `active` go. */
export class WorkerStates {
  private readonly workers = new Map<string, WorkerRecord>();

  /** A `worker-*` event; offline clears the heartbeats. */
  event(e: CeleryEvent): WorkerRecord {
    const hostname = String(e.hostname);
    let w = this.workers.get(hostname);
    if (!w) {
      w = { hostname, freq: 60, active: null, lastHeartbeat: null };
      this.workers.set(hostname, w);
    }
    if (typeof e.freq === 'number') w.freq = e.freq;
    if (typeof e.active === 'number') w.active = e.active;
    if (e.type === 'worker-offline') w.lastHeartbeat = null;
    else if (typeof e.local_received === 'number' && e.local_received && e.timestamp) {
      w.lastHeartbeat = Math.max(w.lastHeartbeat ?? 0, e.local_received);
    }
    return w;
  }

  /** `Worker.alive`. */
  alive(w: WorkerRecord, now = Date.now() / 1000): boolean {
    return w.lastHeartbeat !== null && now < w.lastHeartbeat + w.freq * (HEARTBEAT_EXPIRE_WINDOW / 100);
  }
}
