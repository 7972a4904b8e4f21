/**
 * celery-exporter's metrics (danihodovic/celery-exporter, `src/exporter.py`), as facts: names, help
 * texts, label names, default buckets, and the two label-value rules (`get_hostname`,
 * `get_exception_class_name`). Both the worker's own `/metrics` (src/metrics/worker.ts) and
 * `celeriac exporter` (src/metrics/exporter.ts) use these, so a dashboard or an alert written for
 * celery-exporter (celery-mixin) reads either.
 *
 * Nothing here loads prom-client.
 */

/** The task events celery-exporter counts, in its order; the counter is `<prefix><event>_total`. */
export const TASK_EVENT_TYPES = [
  'task-sent', 'task-received', 'task-started', 'task-succeeded', 'task-failed', 'task-rejected', 'task-revoked', 'task-retried',
] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

/** Help text of each task counter (celery-exporter's, verbatim). */
export const TASK_COUNTER_HELP: Readonly<Record<TaskEventType, string>> = {
  'task-sent': 'Sent when a task message is published.',
  'task-received': 'Sent when the worker receives a task.',
  'task-started': 'Sent just before the worker executes the task.',
  'task-succeeded': 'Sent if the task executed successfully.',
  'task-failed': 'Sent if the execution of the task failed.',
  'task-rejected': 'The task was rejected by the worker, possibly to be re-queued or moved to a dead letter queue.',
  'task-revoked': 'Sent if the task has been revoked.',
  'task-retried': 'Sent if the task failed, but will be retried in the future.',
};

/** Labels of the task counters and histograms; `task_failed` has `exception` after `hostname`. */
export const TASK_LABELS = ['name', 'hostname', 'queue_name'] as const;
export const FAILED_LABELS = ['name', 'hostname', 'exception', 'queue_name'] as const;
export const WORKER_LABELS = ['hostname'] as const;
export const QUEUE_LABELS = ['queue_name'] as const;

/** `celery_task_sent_total` for `task-sent` (prefix `celery_`). */
export function counterName(prefix: string, type: TaskEventType): string {
  return `${prefix}${type.replace('-', '_')}_total`;
}

/** The gauges and histograms (without the prefix), with celery-exporter's help texts. */
export const METRIC_HELP = {
  worker_up: 'Indicates if a worker has recently sent a heartbeat.',
  worker_tasks_active: 'The number of tasks the worker is currently processing',
  task_runtime: 'Histogram of task runtime measurements.',
  task_queue_wait_time: 'Histogram of the time tasks spend waiting in the queue before being executed, excluding deliberate ETA/countdown delay.',
  queue_length: 'The number of message in broker queue.',
  active_consumer_count: 'The number of active consumer in broker queue.',
  active_worker_count: 'The number of active workers in broker queue.',
  active_process_count: 'The number of active processes in broker queue.',
} as const;

/** prometheus_client's `Histogram.DEFAULT_BUCKETS` (celery-exporter's `--buckets` default), +Inf implied. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** celery-exporter's `DEFAULT_QUEUE_WAIT_BUCKETS` (`--queue-wait-buckets`), +Inf implied. */
export const DEFAULT_QUEUE_WAIT_BUCKETS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** celery-exporter's defaults: `--port`, `--host`, `--metric-prefix`, `--default-queue-name`, timeouts. */
export const EXPORTER_DEFAULTS = {
  port: 9808,
  host: '0.0.0.0',
  prefix: 'celery_',
  defaultQueueName: 'celery',
  workerTimeout: 5 * 60,
  purgeOfflineWorkerMetrics: 10 * 60,
  retryInterval: 0,
} as const;

/**
 * `get_hostname`: the host part of a node name (`celery.utils.nodesplit`), so `worker1@web-3` and
 * `gen4242@web-3` are both `web-3` (celery-exporter keeps the label's cardinality low this way).
 */
export function nodeHost(nodename: string): string {
  const at = nodename.indexOf('@');
  return at < 0 ? nodename : nodename.slice(at + 1);
}

/** `get_exception_class_name`: `ValueError('boom')` → `ValueError`; anything else `UnknownException`. */
export function exceptionClassName(repr: unknown): string {
  const m = typeof repr === 'string' ? /^([\p{L}\p{N}_]+)\(/u.exec(repr) : null;
  return m ? m[1]! : 'UnknownException';
}

/** Python's `str()` of a label value, as prometheus_client applies it (`None` → `"None"`). */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

/**
 * A bucket list as celery-exporter's `--buckets` takes it: comma-separated numbers, `inf` allowed (and
 * dropped: the +Inf bucket is always there). Throws a RangeError naming the bad part.
 */
export function parseBuckets(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    if (/^\+?inf(inity)?$/i.test(part)) continue;
    const n = Number(part);
    if (part === '' || !Number.isFinite(n)) throw new RangeError(`not a number: ${JSON.stringify(part)}`);
    out.push(n);
  }
  if (!out.length) throw new RangeError('no bucket besides +Inf');
  for (let i = 1; i < out.length; i++) if (out[i]! <= out[i - 1]!) throw new RangeError(`buckets must increase: ${out[i - 1]} then ${out[i]}`);
  return out;
}
