/**
 * The app a chaos-suite TypeScript worker runs (`celeriac worker -A test/chaos/chaos-app.ts`), the twin of
 * test/python/chaos_tasks.py: the same task names with the same effect, so the harness counts both the
 * same way.
 *
 * - `chaos.run(i, ms)` (early ack) and `chaos.run_late(i, ms)` (`acksLate`): sleep `ms`, then
 *   `HINCRBY <CHAOS_KEY> <i> 1` on the counter Redis. The count is written when the body has finished,
 *   so a task killed while running is not counted: it is lost unless its message comes back.
 * - `chaos.args(a, b)`: takes exactly two arguments (the storm's wrong-argument messages call it with
 *   others); with two it counts `i = a` like chaos.run.
 *
 * Environment: CHAOS_BROKER (broker URL), CHAOS_COUNTER (counter Redis URL, the shared server: it
 * outlives a broker restart), CHAOS_KEY (the hash), CHAOS_QUEUE, CHAOS_VISIBILITY (Redis
 * visibility_timeout, seconds), CHAOS_HEARTBEAT (AMQP broker_heartbeat, seconds).
 */
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';

const env = process.env;
const counter = new Redis(env.CHAOS_COUNTER ?? 'redis://127.0.0.1:6379/0', { maxRetriesPerRequest: null });
const key = env.CHAOS_KEY ?? 'chaos:runs';

const app = new Celery({
  broker_url: env.CHAOS_BROKER,
  task_default_queue: env.CHAOS_QUEUE ?? 'chaos',
  task_ignore_result: true,
  broker_connection_max_retries: null,
  broker_transport_options: {
    visibility_timeout: Number(env.CHAOS_VISIBILITY ?? 3600),
    restore_visible_interval: Number(env.CHAOS_RESTORE_INTERVAL ?? 1),
  },
  ...(env.CHAOS_HEARTBEAT ? { broker_heartbeat: Number(env.CHAOS_HEARTBEAT) } : {}),
});

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

async function record(i: number, ms: number): Promise<number> {
  await sleep(ms);
  await counter.hincrby(key, String(i), 1);
  return i;
}

app.task('chaos.run', record);
app.task('chaos.run_late', record, { acksLate: true });
app.task('chaos.args', (a: number, b: number) => record(a, b));

export default app;
