/**
 * A worker's events, as a Python worker sends them (`celery/worker/consumer/events.py`, `heart.py`,
 * `celery/worker/heartbeat.py`, `strategy.py`, `request.py`):
 *
 * - worker events always (Celery's gossip and heartbeat are on by default, so even a worker without
 *   `-E` sends them): `worker-online` at start, `worker-heartbeat` every `heartbeatInterval` (2 s),
 *   `worker-offline` at shutdown, each with `freq, active, processed, loadavg, sw_ident, sw_ver, sw_sys`;
 *   `withoutHeartbeat` (`--without-heartbeat`) sends none of them.
 * - task events with `worker_send_task_events` / `-E` (groups `null`, else `['worker']`), buffered and
 *   sent as `task.multi` batches: `task-received` (not for a task revoked or expired at receipt),
 *   `task-started`, `task-succeeded` (result repr, runtime), `task-failed` (exception repr,
 *   traceback), `task-retried`, `task-rejected` (requeue), `task-revoked` (terminated, signum, expired),
 *   `task-failed` `NotRegistered('name')` for an unknown task.
 * - `enable_events` / `disable_events` (remote control) add / remove the `task` group, as Celery.
 */
import { loadavg, type as osType } from 'node:os';
import { argsrepr, kwargsrepr, pyStrRepr, saferepr, type ReprValue } from '../../protocol/repr.ts';
import { FAILURE, REJECTED, RETRY, SUCCESS } from '../../protocol/states.ts';
import { Reject } from '../../protocol/exceptions.ts';
import type { Celery } from '../app.ts';
import type { Request } from '../worker/request.ts';
import { excRepr, TaskRetry } from '../worker/retry.ts';
import type { TraceResult } from '../worker/trace.ts';
import { formatTraceback } from '../worker/traceback.ts';
import { EventDispatcher } from './dispatcher.ts';
import { transportOf } from './transport.ts';

/** celeriac's version, sent as `sw_ver`. */
export const SW_VER = '0.1.0';

export interface WorkerEventsOptions {
  /** Task events (`-E`, `worker_send_task_events`). @default app.conf.workerSendTaskEvents */
  taskEvents?: boolean;
  /** Seconds between `worker-heartbeat` events (`--heartbeat-interval`). @default 2 */
  heartbeatInterval?: number;
  /** `--without-heartbeat`: no worker-online / heartbeat / offline. @default false */
  withoutHeartbeat?: boolean;
}

/** What the eventer reads from the worker. */
export interface EventedWorker {
  readonly app: Celery;
  readonly hostname: string;
  readonly active: number;
  on(event: 'task-started', cb: (req: Request) => void): unknown;
  on(event: 'task-finished', cb: (req: Request, result: TraceResult) => void): unknown;
  on(event: 'task-revoked', cb: (req: Request, reason: string) => void): unknown;
  on(event: 'task-unknown', cb: (name: string, id: string) => void): unknown;
}

/** `celery.utils.sysinfo.load_average`: each rounded up to 2 decimals. */
function loadAverage(): number[] {
  return loadavg().map((l) => Math.ceil(l * 1e2) / 1e2);
}

/** `platform.system()`. */
function swSys(): string {
  const t = osType();
  return t === 'Windows_NT' ? 'Windows' : t;
}

/** `maybe_make_aware(eta).isoformat()`: a naive time is UTC (`+00:00`). */
function awareIso(text: string | null): string | null {
  if (text === null) return null;
  return /(?:[+-]\d\d:?\d\d|Z)$/.test(text) || !text.includes('T') ? text : `${text}+00:00`;
}

export class WorkerEventer {
  readonly dispatcher: EventDispatcher;
  /** Tasks accepted so far (`all_total_count`). */
  processed = 0;
  private readonly interval: number;
  private readonly heart: boolean;
  private timer: NodeJS.Timeout | null = null;
  private readonly onError: (err: Error) => void;

  constructor(private readonly worker: EventedWorker, options: WorkerEventsOptions & { unknownTasks?: string } = {}, onError?: (err: Error) => void) {
    const app = worker.app;
    const taskEvents = options.taskEvents ?? app.conf.workerSendTaskEvents;
    this.interval = options.heartbeatInterval ?? 2;
    if (!(Number.isFinite(this.interval) && this.interval > 0)) throw new Error(`heartbeatInterval must be a number of seconds > 0, got ${String(options.heartbeatInterval)}`);
    this.heart = !options.withoutHeartbeat;
    this.onError = onError ?? ((err) => console.error(`[celeriac] ${err.message}`));
    this.dispatcher = new EventDispatcher(async () => app.broker, {
      hostname: worker.hostname,
      clock: app.clock,
      groups: taskEvents ? null : ['worker'],
      bufferGroups: ['task'],
      exchange: app.conf.eventExchange,
      serializer: app.conf.eventSerializer,
      transport: transportOf(app.conf.brokerUrl),
      onError: this.onError,
    });
    this.dispatcher.onEnabled.add(() => this.startHeart());
    this.dispatcher.onDisabled.add(() => void this.stopHeart());
    worker.on('task-started', (req) => this.taskStarted(req));
    worker.on('task-finished', (req, r) => this.taskFinished(req, r));
    worker.on('task-revoked', (req, reason) => void this.send('task-revoked', req, { terminated: false, signum: null, expired: reason === 'expired' }));
    worker.on('task-unknown', (name, id) => {
      if (options.unknownTasks !== 'requeue') void this.dispatcher.send('task-failed', { uuid: id, exception: `NotRegistered(${pyStrRepr(name)})` });
    });
  }

  /** Requests whose message was acked before the task ran: a Reject then sends no `task-rejected`. */
  private readonly ackedBeforeRun = new WeakSet<Request>();

  /** Whether task events are sent (the `task` group is on). */
  get taskEvents(): boolean {
    const g = this.dispatcher.groups;
    return this.dispatcher.enabled && (g.size === 0 || g.has('task'));
  }

  /** Remote control `enable_events`: true when task events were off and are now on. */
  enable(): boolean {
    const g = this.dispatcher.groups;
    if (g.size && !g.has('task')) {
      g.add('task');
      return true;
    }
    return false;
  }

  /** Remote control `disable_events`: true when the `task` group was on and is now off (Celery's rule). */
  disable(): boolean {
    const g = this.dispatcher.groups;
    if (g.has('task')) {
      g.delete('task');
      return true;
    }
    return false;
  }

  /**
   * Wires the remote-control panel: `enable_events` / `disable_events` switch the `task` group (with
   * `-E` Celery's `disable_events` answers "already disabled" and changes nothing; here it turns task
   * events off), `heartbeat` sends one now.
   */
  attach(panel: { taskEvents: boolean; onHeartbeatRequest?: () => void }): void {
    Object.defineProperty(panel, 'taskEvents', {
      configurable: true,
      enumerable: true,
      get: () => this.taskEvents,
      set: (on: boolean) => {
        const g = this.dispatcher.groups;
        if (on) {
          if (g.size) g.add('task');
        } else if (g.size === 0) {
          g.add('worker');
        } else {
          g.delete('task');
        }
      },
    });
    panel.onHeartbeatRequest = () => void this.heartbeat();
  }

  /** Heart.start: `worker-online`, then a heartbeat every interval. */
  start(): void {
    this.startHeart();
  }

  /**
   * Heart.stop: buffered task events out, then `worker-offline`. A worker sends it when its shutdown
   * starts (Celery stops the consumer's Heart step before the pool waits for running tasks), so the
   * task events of tasks still running follow it; the dispatcher stays open for them until {@link stop}.
   */
  async offline(): Promise<void> {
    await this.dispatcher.flush(); // buffered task events go before worker-offline
    const sent = this.stopHeart();
    await sent;
  }

  /** {@link offline} if not done yet, then waits for every publish in flight and closes. */
  async stop(): Promise<void> {
    await this.offline();
    await this.dispatcher.close();
  }

  /**
   * Remote control `heartbeat` (celery/worker/control.py): a `worker-heartbeat` now, with `freq=5` and
   * the software info only, as Celery's (a monitor then gives the worker 5 s more, not a full beat).
   */
  heartbeat(): Promise<void> {
    return this.dispatcher.send('worker-heartbeat', { freq: 5, sw_ident: 'celeriac', sw_ver: SW_VER, sw_sys: swSys() });
  }

  private startHeart(): void {
    if (!this.heart || this.timer || !this.dispatcher.enabled) return;
    void this.sendHeart('worker-online');
    this.timer = setInterval(() => void this.sendHeart('worker-heartbeat'), this.interval * 1000);
    this.timer.unref();
  }

  private stopHeart(): Promise<void> {
    if (!this.timer) return Promise.resolve();
    clearInterval(this.timer);
    this.timer = null;
    return this.sendHeart('worker-offline');
  }

  private sendHeart(type: string): Promise<void> {
    return this.dispatcher.send(type, {
      freq: this.interval, active: this.worker.active, processed: this.processed, loadavg: loadAverage(),
      sw_ident: 'celeriac', sw_ver: SW_VER, sw_sys: swSys(),
    });
  }

  private send(type: string, req: Request, fields: Record<string, ReprValue> = {}): Promise<void> {
    return this.dispatcher.send(type, { uuid: req.id, ...fields } as never);
  }

  /** strategy.default: `task-received`, after the revoked/expired check. */
  taskReceived(req: Request): void {
    if (!this.taskEvents) return; // the fields are not worth building for nothing
    const c = req.context;
    void this.send('task-received', req, {
      name: req.name, args: c.argsrepr ?? argsrepr(c.args), kwargs: c.kwargsrepr ?? kwargsrepr(c.kwargs),
      root_id: c.root_id, parent_id: c.parent_id, retries: c.retries, eta: awareIso(c.eta), expires: awareIso(c.expires),
    });
  }

  private taskStarted(req: Request): void {
    this.processed++;
    if (req.acknowledged) this.ackedBeforeRun.add(req); // not acks_late: acked as it starts
    if (this.taskEvents) void this.send('task-started', req);
  }

  private taskFinished(req: Request, r: TraceResult): void {
    if (!this.taskEvents) return; // (a repr and a traceback per task otherwise, filtered out by the dispatcher)
    switch (r.state) {
      case SUCCESS:
        void this.send('task-succeeded', req, { result: reprResult(r.retval), runtime: r.runtime });
        return;
      case RETRY: // Request.on_retry: safe_repr(exc_info.exception.exc), the error that caused the retry
        void this.send('task-retried', req, { exception: retryCause(r.retval), traceback: formatTraceback(r.retval) });
        return;
      case REJECTED: // Request.reject: `if not self.acknowledged: ... send_event('task-rejected')`
        if (this.ackedBeforeRun.has(req)) return;
        void this.send('task-rejected', req, { requeue: r.retval instanceof Reject ? r.retval.requeue : false });
        return;
      case FAILURE:
        void this.send('task-failed', req, { exception: excRepr(r.retval), traceback: formatTraceback(r.retval) });
        return;
      default: // IGNORED: nothing, as Celery
    }
  }
}

function retryCause(err: unknown): string {
  if (err instanceof TaskRetry) return err.exc === undefined || err.exc === null ? 'None' : excRepr(err.exc);
  return excRepr(err);
}

/** `saferepr(R, resultrepr_maxsize)` as the pool hands it back (`trace_task_ret`). */
function reprResult(value: unknown): string {
  try {
    return saferepr((value === undefined ? null : value) as ReprValue, 1024);
  } catch {
    return String(value);
  }
}
