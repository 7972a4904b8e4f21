/**
 * `celeriac exporter`'s core: celery-exporter's `Exporter` (danihodovic/celery-exporter,
 * `src/exporter.py`) over celeriac's event receiver, for a whole fleet, Python and TypeScript workers
 * alike. Same metric names, labels and rules:
 *
 * - every `task-*` event goes through celery.events.state's `State` (src/events/state.ts); its counter +1,
 *   the other counters but `task_sent` made visible at 0; labels `name`, `hostname` (the host part of
 *   the node name), `queue_name` (the `queue` of the task's `task-sent` event, else `default_queue_name`),
 *   `exception` (class name of the failure) on `task_failed`;
 * - `task_runtime` observes a `task-succeeded`'s runtime; `task_queue_wait_time` a `task-started`'s
 *   time since its `task-sent` (or its eta, when later);
 * - `worker_up` 1 on `worker-online`, `alive` on each heartbeat (with `worker_tasks_active` from it), 0
 *   on `worker-offline` or when no heartbeat came for `workerTimeout` seconds (checked at each scrape);
 *   a worker unseen for `purgeOfflineWorkerMetrics` seconds loses every series with its hostname;
 * - at each scrape: `inspect stats` + `inspect active_queues` (workers and processes per queue), and
 *   each known queue's length (+ consumer count on AMQP) from the broker.
 *
 * The transport-facing parts are narrow interfaces ({@link QueueProbe}, {@link FleetInspector}), so
 * this file needs neither an app nor a broker.
 */
import { adjustTimestamp, utcoffset, type CeleryEvent } from '../../protocol/events.ts';
import type { EventHandler } from '../events/receiver.ts';
import { State } from '../events/state.ts';
import { EXPORTER_DEFAULTS, exceptionClassName, nodeHost, pyStr, TASK_EVENT_TYPES, type TaskEventType } from './names.ts';
import type { QueueProbe } from './queues.ts';
import { countTaskEvent, type CeleryMetrics, type TaskLabels } from './registry.ts';

/** `app.control.inspect()`'s two calls the queue gauges need; null = nobody replied. */
export interface FleetInspector {
  stats(): Promise<Record<string, unknown> | null>;
  activeQueues(): Promise<Record<string, unknown> | null>;
}

export interface ExporterLogger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
}

export interface ExporterOptions {
  /** From {@link createCeleryMetrics} with scope `exporter`. */
  metrics: CeleryMetrics;
  /** `--worker-timeout` seconds; 0 = never. @default 300 */
  workerTimeout?: number;
  /** `--purge-offline-worker-metrics` seconds; 0 = never. @default 600 */
  purgeOfflineWorkerMetrics?: number;
  /** `--generic-hostname-task-sent-metric`. */
  genericHostnameTaskSentMetric?: boolean;
  /** `--generic-hostname-worker-task-metric`. */
  genericHostnameWorkerTaskMetric?: boolean;
  /** `-Q/--queues`: queues whose gauges are shown before any worker is seen consuming them. */
  initialQueues?: readonly string[];
  /** `--default-queue-name`. @default 'celery' */
  defaultQueueName?: string;
  /** Queue lengths; null: none (a transport celery-exporter does not measure). */
  queues?: QueueProbe | null;
  /** Workers and processes per queue; null: not measured. */
  inspect?: FleetInspector | null;
  log?: ExporterLogger;
  /** Seconds since the epoch. @default Date.now() / 1000 */
  now?: () => number;
}

interface LastSeen {
  ts: number;
  forgotten: boolean;
}

const nolog: ExporterLogger = { debug() {}, info() {}, warning() {} };

export class Exporter {
  readonly metrics: CeleryMetrics;
  /** Queues the gauges are kept for (`queue_cache`). */
  readonly queueCache: Set<string>;
  /** By hostname label. */
  readonly workerLastSeen = new Map<string, LastSeen>();
  /** The fleet as the events tell it (celery-exporter's `self.state`). */
  readonly state: State;
  private readonly o: ExporterOptions;
  private readonly log: ExporterLogger;
  private readonly now: () => number;

  constructor(o: ExporterOptions) {
    this.o = o;
    this.metrics = o.metrics;
    this.queueCache = new Set(o.initialQueues ?? []);
    this.log = o.log ?? nolog;
    this.now = o.now ?? (() => Date.now() / 1000);
    this.state = new State({ now: this.now });
  }

  private get workerTimeout(): number {
    return this.o.workerTimeout ?? EXPORTER_DEFAULTS.workerTimeout;
  }

  private get purgeAfter(): number {
    return this.o.purgeOfflineWorkerMetrics ?? EXPORTER_DEFAULTS.purgeOfflineWorkerMetrics;
  }

  /** The receiver's handlers (celery-exporter's `handlers` dict). */
  handlers(): Record<string, EventHandler> {
    const h: Record<string, EventHandler> = {
      'worker-heartbeat': (e) => this.trackWorkerHeartbeat(e),
      'worker-online': (e) => this.trackWorkerStatus(e, true),
      'worker-offline': (e) => this.trackWorkerStatus(e, false),
    };
    for (const type of TASK_EVENT_TYPES) h[type] = (e) => this.trackTaskEvent(e);
    return h;
  }

  /** `track_task_event`. */
  trackTaskEvent(e: CeleryEvent): void {
    const type = e.type as TaskEventType;
    const r = this.state.event(e);
    if (r?.kind !== 'task') return;
    const task = r.task;
    this.log.debug(`Received event='${type}' for task='${pyStr(task.name)}'`);
    const labels: TaskLabels = {
      name: pyStr(task.name),
      hostname: nodeHost(pyStr(task.attrs.hostname)),
      // getattr(task, "queue", default_queue_name): only a task-sent event carries the queue
      queue_name: 'queue' in task.attrs ? pyStr(task.attrs.queue) : this.o.defaultQueueName ?? EXPORTER_DEFAULTS.defaultQueueName,
    };
    if (type === 'task-sent') {
      if (this.o.genericHostnameTaskSentMetric) labels.hostname = 'generic';
    } else if (this.o.genericHostnameWorkerTaskMetric) {
      labels.hostname = 'generic';
    }
    countTaskEvent(this.metrics.counters, type, labels, type === 'task-failed' ? exceptionClassName(task.exception) : undefined);
    const m = this.metrics;
    if (type === 'task-started' && task.sent !== null && m.taskQueueWaitTime) {
      let baseline = task.sent;
      const eta = etaTimestamp(task.eta);
      if (eta !== null) {
        // localised like the receiver localised the event timestamps
        const etaTs = typeof e.utcoffset === 'number' ? adjustTimestamp(eta, e.utcoffset) : eta;
        baseline = Math.max(baseline, etaTs);
      }
      // clock skew between producer and worker can push this negative
      m.taskQueueWaitTime.observe({ ...labels }, Math.max(0, (task.started ?? 0) - baseline));
    }
    if (type === 'task-succeeded' && task.runtime !== null) m.taskRuntime.observe({ ...labels }, task.runtime);
  }

  /** `track_worker_status`: online → up 1 and last seen; offline → forgotten (up 0, active 0). */
  trackWorkerStatus(e: CeleryEvent, online: boolean): void {
    const hostname = nodeHost(pyStr(e.hostname));
    this.log.debug(`Received event='${online ? 'worker-online' : 'worker-offline'}' for hostname='${hostname}'`);
    if (online) {
      this.metrics.workerUp.set({ hostname }, 1);
      this.workerLastSeen.set(hostname, { ts: reverseAdjustTimestamp(e.timestamp, e.utcoffset), forgotten: false });
    } else {
      this.forgetWorker(hostname);
    }
  }

  /** `track_worker_heartbeat`: up = the worker is alive (heartbeat within 2 × freq), active = its `active`. */
  trackWorkerHeartbeat(e: CeleryEvent): void {
    const hostname = nodeHost(pyStr(e.hostname));
    this.workerLastSeen.set(hostname, { ts: reverseAdjustTimestamp(e.timestamp, e.utcoffset), forgotten: false });
    const r = this.state.event(e);
    const w = r?.kind === 'worker' ? r.worker : null;
    this.metrics.workerUp.set({ hostname }, w?.alive ? 1 : 0);
    this.metrics.workerTasksActive.set({ hostname }, w?.active ?? 0);
  }

  /** `forget_worker`. */
  forgetWorker(hostname: string): void {
    const seen = this.workerLastSeen.get(hostname);
    if (!seen) return;
    this.metrics.workerUp.set({ hostname }, 0);
    this.metrics.workerTasksActive.set({ hostname }, 0);
    seen.forgotten = true;
    if (this.purgeAfter === 0) this.workerLastSeen.delete(hostname);
  }

  /** `purge_worker_metrics`: every series with this hostname among its label values goes. */
  async purgeWorkerMetrics(hostname: string): Promise<void> {
    const m = this.metrics;
    const all = [m.workerTasksActive, m.workerUp, ...Object.values(m.counters), m.taskRuntime, ...(m.taskQueueWaitTime ? [m.taskQueueWaitTime] : [])];
    for (const metric of all) {
      const seen = new Set<string>();
      for (const v of (await metric.get()).values) {
        const { le: _le, ...labels } = v.labels as Record<string, string | number>;
        if (!Object.values(labels).includes(hostname)) continue;
        const key = JSON.stringify(labels);
        if (seen.has(key)) continue;
        seen.add(key);
        metric.remove(labels);
      }
    }
    this.workerLastSeen.delete(hostname);
  }

  /** `track_timed_out_workers`. */
  async trackTimedOutWorkers(): Promise<void> {
    const now = this.now();
    for (const [hostname, status] of [...this.workerLastSeen]) {
      const since = now - status.ts;
      if (this.workerTimeout > 0 && since > this.workerTimeout && !status.forgotten) {
        this.log.info(`Have not seen ${hostname} for ${since.toFixed(2)} seconds. Removing from metrics`);
        this.forgetWorker(hostname);
      }
      if (this.purgeAfter > 0 && since > this.purgeAfter) {
        this.log.info(`Have not seen ${hostname} for ${since.toFixed(2)} seconds. Purging worker metrics`);
        await this.purgeWorkerMetrics(hostname);
      }
    }
  }

  /** `track_queue_metrics`. */
  async trackQueueMetrics(): Promise<void> {
    const probe = this.o.queues;
    const m = this.metrics;
    if (!probe) return;
    const inspect = this.o.inspect;
    const processesPerWorker = new Map<string, number>();
    const workersPerQueue = new Map<string, number>();
    const processesPerQueue = new Map<string, number>();
    if (inspect) {
      for (const [worker, stats] of Object.entries((await inspect.stats()) ?? {})) {
        const processes = (stats as { pool?: { processes?: unknown } } | null)?.pool?.processes;
        processesPerWorker.set(worker, Array.isArray(processes) ? processes.length : 0);
      }
      for (const [worker, infos] of Object.entries((await inspect.activeQueues()) ?? {})) {
        for (const info of Array.isArray(infos) ? infos : []) {
          const name = (info as { name?: unknown } | null)?.name;
          if (typeof name !== 'string') continue;
          this.queueCache.add(name);
          workersPerQueue.set(name, (workersPerQueue.get(name) ?? 0) + 1);
          processesPerQueue.set(name, (processesPerQueue.get(name) ?? 0) + (processesPerWorker.get(worker) ?? 0));
        }
      }
    }
    for (const queue of this.queueCache) {
      const info = await probe.info(queue);
      if (probe.transport === 'amqp') m.activeConsumerCount?.set({ queue_name: queue }, info?.consumers ?? 0);
      m.activeProcessCount?.set({ queue_name: queue }, processesPerQueue.get(queue) ?? 0);
      m.activeWorkerCount?.set({ queue_name: queue }, workersPerQueue.get(queue) ?? 0);
      m.queueLength?.set({ queue_name: queue }, info?.messages ?? 0);
    }
  }

  /** What a scrape does first (`Exporter.scrape`). */
  async scrape(): Promise<void> {
    if (this.workerTimeout > 0 || this.purgeAfter > 0) await this.trackTimedOutWorkers();
    await this.trackQueueMetrics();
  }
}

/** `reverse_adjust_timestamp`: the sender's own timestamp back from the localised one. */
export function reverseAdjustTimestamp(ts: unknown, offset: unknown, here: number = utcoffset()): number {
  const t = typeof ts === 'number' ? ts : 0;
  return t + ((typeof offset === 'number' ? offset : 0) - here) * 3600;
}

/** `maybe_iso8601(eta).timestamp()`: an aware time as given, a naive one as local time (Python's rule). */
function etaTimestamp(eta: unknown): number | null {
  if (typeof eta !== 'string' || !eta) return null;
  const ms = Date.parse(eta);
  return Number.isNaN(ms) ? null : ms / 1000;
}
