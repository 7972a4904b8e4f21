/**
 * celery-exporter's metrics in a prom-client registry. prom-client is loaded on first use only
 * ({@link loadPromClient}): a worker without `--metrics-port`, and `import('celeriac')`, never load it.
 *
 *   const prom = await loadPromClient();
 *   const m = createCeleryMetrics(prom, { scope: 'worker' });
 *   m.counters['task-succeeded'].labels('proj.add', 'web-3', 'celery').inc();
 *   await m.registry.metrics();     // Prometheus text: celery_task_succeeded_total{name="proj.add",...} 1
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  counterName, DEFAULT_BUCKETS, DEFAULT_QUEUE_WAIT_BUCKETS, EXPORTER_DEFAULTS, FAILED_LABELS, METRIC_HELP, QUEUE_LABELS,
  TASK_COUNTER_HELP, TASK_EVENT_TYPES, TASK_LABELS, WORKER_LABELS, type TaskEventType,
} from './names.ts';

export type PromClient = typeof import('prom-client');

let loaded: Promise<PromClient> | null = null;

/** prom-client, imported once, when metrics are first asked for. */
export function loadPromClient(): Promise<PromClient> {
  loaded ??= import('prom-client').then((m) => ((m as { default?: PromClient }).default ?? m) as PromClient);
  return loaded;
}

export interface CeleryMetricsOptions {
  /**
   * `worker`: what one worker knows of itself (task counters, `task_runtime`, `worker_up`,
   * `worker_tasks_active`); `exporter`: all of celery-exporter's metrics (plus `task_queue_wait_time`
   * and the queue gauges). @default 'exporter'
   */
  scope?: 'worker' | 'exporter';
  /** `--metric-prefix`. @default 'celery_' */
  prefix?: string;
  /** `--buckets` of `task_runtime` (+Inf implied). @default prometheus_client's DEFAULT_BUCKETS */
  buckets?: readonly number[];
  /** `--queue-wait-buckets` (+Inf implied). @default celery-exporter's DEFAULT_QUEUE_WAIT_BUCKETS */
  queueWaitBuckets?: readonly number[];
  /** `--static-label key=value`: added to every sample. */
  staticLabels?: Record<string, string>;
  /** Node's process metrics (`process_*`, `nodejs_*`: prom-client's default collectors). @default false */
  processMetrics?: boolean;
  /** The registry to fill. @default a new one */
  registry?: Registry;
}

export type TaskCounters = Record<TaskEventType, Counter<string>>;

export interface CeleryMetrics {
  readonly registry: Registry;
  readonly prefix: string;
  /** One counter per task event type (`celery_task_<event>_total`). */
  readonly counters: TaskCounters;
  readonly taskRuntime: Histogram<string>;
  readonly workerUp: Gauge<string>;
  readonly workerTasksActive: Gauge<string>;
  /** Exporter scope only. */
  readonly taskQueueWaitTime: Histogram<string> | null;
  readonly queueLength: Gauge<string> | null;
  readonly activeConsumerCount: Gauge<string> | null;
  readonly activeWorkerCount: Gauge<string> | null;
  readonly activeProcessCount: Gauge<string> | null;
  /**
   * celeriac's own, worker scope only: messages the worker would not run, kept in the quarantine
   * (`<prefix>messages_refused_total{hostname, queue_name, kind}`; kinds as protocol/quarantine.ts).
   */
  readonly messagesRefused: Counter<string> | null;
}

/** The metrics, registered in `registry` (names and labels are celery-exporter's). */
export function createCeleryMetrics(prom: PromClient, o: CeleryMetricsOptions = {}): CeleryMetrics {
  const registry = o.registry ?? new prom.Registry();
  const prefix = o.prefix ?? EXPORTER_DEFAULTS.prefix;
  const registers = [registry];
  if (o.staticLabels && Object.keys(o.staticLabels).length) registry.setDefaultLabels(o.staticLabels);
  const counters = {} as TaskCounters;
  for (const type of TASK_EVENT_TYPES) {
    counters[type] = new prom.Counter({
      name: counterName(prefix, type), help: TASK_COUNTER_HELP[type],
      labelNames: type === 'task-failed' ? [...FAILED_LABELS] : [...TASK_LABELS], registers,
    });
  }
  const gauge = (name: keyof typeof METRIC_HELP, labelNames: readonly string[]) =>
    new prom.Gauge({ name: prefix + name, help: METRIC_HELP[name], labelNames: [...labelNames], registers });
  const workerUp = gauge('worker_up', WORKER_LABELS);
  const workerTasksActive = gauge('worker_tasks_active', WORKER_LABELS);
  const taskRuntime = new prom.Histogram({
    name: `${prefix}task_runtime`, help: METRIC_HELP.task_runtime, labelNames: [...TASK_LABELS], registers, buckets: [...(o.buckets ?? DEFAULT_BUCKETS)],
  });
  const exporter = (o.scope ?? 'exporter') === 'exporter';
  const taskQueueWaitTime = exporter
    ? new prom.Histogram({
      name: `${prefix}task_queue_wait_time`, help: METRIC_HELP.task_queue_wait_time, labelNames: [...TASK_LABELS], registers,
      buckets: [...(o.queueWaitBuckets ?? DEFAULT_QUEUE_WAIT_BUCKETS)],
    })
    : null;
  const queueLength = exporter ? gauge('queue_length', QUEUE_LABELS) : null;
  const activeConsumerCount = exporter ? gauge('active_consumer_count', QUEUE_LABELS) : null;
  const activeWorkerCount = exporter ? gauge('active_worker_count', QUEUE_LABELS) : null;
  const activeProcessCount = exporter ? gauge('active_process_count', QUEUE_LABELS) : null;
  const messagesRefused = exporter
    ? null
    : new prom.Counter({
      name: `${prefix}messages_refused_total`, registers, labelNames: ['hostname', 'queue_name', 'kind'],
      help: 'Messages the worker refused to run (malformed, undecodable, invalid, bad signature, unknown task), by kind',
    });
  if (o.processMetrics) prom.collectDefaultMetrics({ register: registry });
  return {
    registry, prefix, counters, taskRuntime, workerUp, workerTasksActive, taskQueueWaitTime, queueLength,
    activeConsumerCount, activeWorkerCount, activeProcessCount, messagesRefused,
  };
}

/** Labels of a task counter; `exception` only for `task_failed`. */
export interface TaskLabels {
  name: string;
  hostname: string;
  queue_name: string;
}

/**
 * celery-exporter's `track_task_event` counting: the event's counter +1, and every other counter but
 * `task_sent` made visible at 0 for the same labels (`task_failed` with `exception=""` unless it is the
 * failure itself).
 */
export function countTaskEvent(counters: TaskCounters, type: TaskEventType, labels: TaskLabels, exception?: string): void {
  for (const t of TASK_EVENT_TYPES) {
    const hit = t === type;
    if (!hit && t === 'task-sent') continue;
    // celery-exporter's label order (name, hostname, exception, queue_name), which prom-client prints
    const l = t === 'task-failed'
      ? { name: labels.name, hostname: labels.hostname, exception: hit ? exception ?? 'UnknownException' : '', queue_name: labels.queue_name }
      : { name: labels.name, hostname: labels.hostname, queue_name: labels.queue_name };
    counters[t].inc(l, hit ? 1 : 0);
  }
}
