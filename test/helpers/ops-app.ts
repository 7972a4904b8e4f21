/**
 * The TypeScript twin of test/python/ops_peer.py for the operator-command tests (`celeriac -A
 * test/helpers/ops-app.ts purge|list bindings|migrate|report|shell`): the same settings from the same
 * environment variables (OPS_BROKER, OPS_BACKEND, OPS_QA, OPS_QB, OPS_X, OPS_MAXPRI, OPS_TRANSPORT (broker_transport_options as JSON), OPS_REPORT), the
 * same task names.
 */
import { Celery } from '../../src/app.ts';

const env = process.env;
const qa = env.OPS_QA ?? 'ops.qa';
const qb = env.OPS_QB ?? 'ops.qb';
// in the order ops_peer.py gives them (its Celery(broker=, backend=) first)
const settings: Record<string, unknown> = {
  broker_url: env.OPS_BROKER ?? 'redis://127.0.0.1:6379/0',
  ...(env.OPS_BACKEND ? { result_backend: env.OPS_BACKEND } : {}),
  task_default_queue: qa,
  task_queues: [{ name: qa }, { name: qb, exchange: { name: env.OPS_X ?? 'ops.x', type: 'topic' }, routing_key: 'b.#' }],
};
if (env.OPS_MAXPRI) settings.task_queue_max_priority = Number(env.OPS_MAXPRI);
if (env.OPS_TRANSPORT) settings.broker_transport_options = JSON.parse(env.OPS_TRANSPORT) as Record<string, unknown>;
if (env.OPS_REPORT) {
  Object.assign(settings, {
    broker_transport_options: { visibility_timeout: 30, password: 'hunter2' },
    result_expires: 3600,
    task_publish_retry_policy: { max_retries: 5, interval_start: 0, interval_step: 0.5, interval_max: 2 },
    accept_content: ['json', 'msgpack'],
    task_routes: { 'ops.*': { queue: qa }, 'other.task': 'elsewhere' },
    redbeat_key_prefix: 'rb:',
    worker_prefetch_multiplier: 1,
    task_acks_late: true,
    timezone: 'Europe/Paris',
    beat_schedule: { tick: { task: 'ops.add', schedule: 30, args: [1, 2] } },
  });
}
export const app = new Celery(settings);
app.task('ops.add', (x: number, y: number) => x + y);
app.task('ops.mul', (x: number, y: number) => x * y);
app.task('ops.other', (x: unknown) => x);
export default app;
