/**
 * A worker's own `/metrics` (`celeriac worker --metrics-port 9808`, setting `worker_metrics_port`):
 * celery-exporter's metric names and labels, counted from the worker's task lifecycle (the events a
 * {@link Worker} emits, the ones its event dispatcher turns into Celery events), so the numbers are
 * what celery-exporter would count from this worker's `-E` events, without `-E` and without an
 * exporter process:
 *
 * | metric                          | from                                                              |
 * |---------------------------------|-------------------------------------------------------------------|
 * | `celery_task_received_total`    | a task message accepted (not one revoked or expired at receipt)   |
 * | `celery_task_started_total`     | the task starts                                                   |
 * | `celery_task_succeeded_total`   | SUCCESS (and a `worker_deduplicate_successful_tasks` skip)        |
 * | `celery_task_failed_total`      | FAILURE, label `exception` = the class name; an unknown task: `NotRegistered` |
 * | `celery_task_retried_total`     | RETRY                                                             |
 * | `celery_task_rejected_total`    | `Reject` raised by a task whose message was not acked yet (`acks_late`): Celery's `Request.reject` sends `task-rejected` only then |
 * | `celery_task_revoked_total`     | revoked or expired, at receipt or before it ran                   |
 * | `celery_task_sent_total`        | tasks this worker's app sends with `task_send_sent_event` (as celery-exporter counts `task-sent`) |
 * | `celery_task_runtime`           | runtime of each SUCCESS (seconds), prometheus_client's buckets    |
 * | `celery_worker_up`              | 1 once the worker is ready, 0 from its shutdown                   |
 * | `celery_worker_tasks_active`    | the worker's running tasks, read at each scrape                   |
 * | `celery_messages_refused_total` | celeriac's own: a message refused (label `kind`: malformed, decode-error, invalid, signature, unknown-task) and quarantined |
 *
 * Labels: `hostname` is the host part of the node name (`ts1@web-3` → `web-3`, celery-exporter's
 * `get_hostname`), `queue_name` the queue the message came from (celery-exporter only knows it from a
 * `task-sent` event and says `celery` otherwise), `name` the task name. As celery-exporter does, one
 * task event also makes every other counter of the same labels visible at 0.
 */
import { FAILURE, REJECTED, RETRY, SUCCESS } from '../../protocol/states.ts';
import type { EventFields } from '../events/dispatcher.ts';
import type { Request } from '../worker/request.ts';
import { excRepr } from '../worker/retry.ts';
import type { TraceResult } from '../worker/trace.ts';
import { EXPORTER_DEFAULTS, exceptionClassName, nodeHost, pyStr } from './names.ts';
import { countTaskEvent, createCeleryMetrics, loadPromClient, type CeleryMetrics, type TaskLabels } from './registry.ts';
import { serveMetrics, type MetricsServer } from './server.ts';

type Listener = (...args: never[]) => void;

/** What the metrics read from a worker: its node name, running tasks, revoked ids, and its events. */
export interface MetricsWorker {
  readonly hostname: string;
  readonly active: number;
  readonly revoked: { has(id: string): boolean };
  on(event: 'ready', cb: () => void): unknown;
  on(event: 'shutdown', cb: (how: 'warm' | 'cold') => void): unknown;
  on(event: 'task-received' | 'task-started', cb: (req: Request) => void): unknown;
  on(event: 'task-finished', cb: (req: Request, result: TraceResult) => void): unknown;
  on(event: 'task-revoked' | 'task-deduplicated', cb: (req: Request, reason: string) => void): unknown;
  on(event: 'task-unknown', cb: (name: string, id: string) => void): unknown;
  on(event: 'message-refused', cb: (kind: string, queue: string) => void): unknown;
  off(event: string, cb: Listener): unknown;
}

/** The app side: the `task-sent` events it publishes (`app.events.onTaskSent`) and their node name. */
export interface MetricsApp {
  readonly origin: string;
  readonly events: { readonly onTaskSent: Set<(fields: EventFields) => void> };
}

export interface WorkerMetricsOptions {
  /** Count the `task-sent` events of this app (`task_send_sent_event`). */
  app?: MetricsApp;
  /** The worker's `unknownTasks`: with `requeue` an unknown task is not a failure (no event either). @default 'reject' */
  unknownTasks?: 'reject' | 'requeue';
  /** `queue_name` of an unknown task (its message is gone before a request exists). @default 'celery' */
  defaultQueueName?: string;
}

/** Counts a worker's task lifecycle into `metrics`; returns the function that stops counting. */
export function bindWorkerMetrics(worker: MetricsWorker, metrics: CeleryMetrics, o: WorkerMetricsOptions = {}): () => void {
  const hostname = nodeHost(worker.hostname);
  const c = metrics.counters;
  const labels = (req: Request): TaskLabels => ({ name: req.name, hostname, queue_name: req.delivery.queue });
  metrics.workerUp.set({ hostname }, 0);
  metrics.workerTasksActive.set({ hostname }, 0);
  /** Requests whose message was acked before the task ran (not acks_late). */
  const ackedEarly = new WeakSet<Request>();
  const on: [string, Listener][] = [
    ['ready', () => metrics.workerUp.set({ hostname }, 1)],
    ['shutdown', () => metrics.workerUp.set({ hostname }, 0)],
    ['task-received', (req: Request) => {
      // Celery sends no task-received for a task revoked or expired at receipt: the worker calls its
      // revoke (which adds the id to `revoked` first thing) right after this event, in the same turn
      queueMicrotask(() => {
        if (!worker.revoked.has(req.id)) countTaskEvent(c, 'task-received', labels(req));
      });
    }],
    ['task-started', (req: Request) => {
      if (req.acknowledged) ackedEarly.add(req); // the worker acks before it runs a task that is not acks_late
      countTaskEvent(c, 'task-started', labels(req));
    }],
    ['task-finished', (req: Request, r: TraceResult) => {
      const l = labels(req);
      switch (r.state) {
        case SUCCESS:
          countTaskEvent(c, 'task-succeeded', l);
          metrics.taskRuntime.observe({ ...l }, r.runtime);
          return;
        case FAILURE:
          countTaskEvent(c, 'task-failed', l, exceptionClassName(excRepr(r.retval)));
          return;
        case RETRY:
          countTaskEvent(c, 'task-retried', l);
          return;
        case REJECTED: // Request.reject: `if not self.acknowledged: ... send_event('task-rejected')`
          if (!ackedEarly.has(req)) countTaskEvent(c, 'task-rejected', l);
          return;
        default: // IGNORED: no event, nothing counted
      }
    }],
    ['task-revoked', (req: Request) => countTaskEvent(c, 'task-revoked', labels(req))],
    // Celery: task-succeeded with runtime None (no runtime observed)
    ['task-deduplicated', (req: Request) => countTaskEvent(c, 'task-succeeded', labels(req))],
    ['task-unknown', (name: string) => {
      if (o.unknownTasks === 'requeue') return;
      countTaskEvent(c, 'task-failed', { name, hostname, queue_name: o.defaultQueueName ?? EXPORTER_DEFAULTS.defaultQueueName }, 'NotRegistered');
    }],
    ['message-refused', (kind: string, queue: string) => metrics.messagesRefused?.inc({ hostname, queue_name: queue, kind })],
  ];
  for (const [event, fn] of on) worker.on(event as 'ready', fn as () => void);
  let sent: ((fields: EventFields) => void) | null = null;
  if (o.app) {
    const sender = nodeHost(o.app.origin);
    sent = (f) => countTaskEvent(c, 'task-sent', {
      name: pyStr(f.name), hostname: sender, queue_name: pyStr(f.queue),
    });
    o.app.events.onTaskSent.add(sent);
  }
  return () => {
    for (const [event, fn] of on) worker.off(event, fn);
    if (sent) o.app!.events.onTaskSent.delete(sent);
  };
}

export interface WorkerMetricsServerOptions extends WorkerMetricsOptions {
  port: number;
  /** @default '0.0.0.0' */
  host?: string;
  /** Node's process metrics (`process_*`, `nodejs_*`) besides Celery's. @default true */
  processMetrics?: boolean;
  /** `--metric-prefix`. @default 'celery_' */
  prefix?: string;
  /** Runtime histogram buckets. @default prometheus_client's */
  buckets?: readonly number[];
  onError?: (err: Error) => void;
}

export interface WorkerMetricsServer extends MetricsServer {
  readonly metrics: CeleryMetrics;
}

/**
 * Loads prom-client, counts the worker's tasks and serves `/metrics` on `port`. Rejects with a
 * MetricsServerError (exit status 69) when the port cannot be had.
 */
export async function serveWorkerMetrics(worker: MetricsWorker, o: WorkerMetricsServerOptions): Promise<WorkerMetricsServer> {
  const prom = await loadPromClient();
  const metrics = createCeleryMetrics(prom, { scope: 'worker', prefix: o.prefix, buckets: o.buckets, processMetrics: o.processMetrics ?? true });
  const hostname = nodeHost(worker.hostname);
  const server = await serveMetrics({
    registry: metrics.registry, port: o.port, host: o.host, onError: o.onError,
    beforeScrape: () => void metrics.workerTasksActive.set({ hostname }, worker.active),
  });
  const unbind = bindWorkerMetrics(worker, metrics, o);
  return {
    metrics, url: server.url, port: server.port,
    async close() {
      unbind();
      await server.close();
    },
  };
}
