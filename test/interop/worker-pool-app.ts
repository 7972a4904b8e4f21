/**
 * The app the pool tests run under `-P threads`: each pool thread imports this module itself (as a
 * prefork child imports the app), so its settings come from the environment the test sets before
 * the worker starts (POOL_TEST_BROKER, POOL_TEST_BACKEND, POOL_TEST_QUEUE).
 */
import { threadId } from 'node:worker_threads';
import { Celery } from '../../src/app.ts';
import type { BoundTask } from '../../src/worker/task.ts';

const env = process.env;
export const app = new Celery({
  broker_url: env.POOL_TEST_BROKER ?? 'redis://127.0.0.1:6379/12',
  result_backend: env.POOL_TEST_BACKEND ?? env.POOL_TEST_BROKER ?? 'redis://127.0.0.1:6379/12',
  task_default_queue: env.POOL_TEST_QUEUE ?? 'pool.test',
  env: {},
});

/** Busy arithmetic for `ms` milliseconds of wall time: holds its thread, as CPU-bound work does. */
function spin(ms: number): number {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) for (let i = 0; i < 1000; i++) x = (x * 31 + i) % 1000003;
  return x;
}

/** Runs `ms` of arithmetic; returns where and when it ran (thread id, start and end in ms since epoch). */
app.task('pool.spin', (ms: number) => {
  const start = Date.now();
  spin(ms);
  return { thread: threadId, start, end: Date.now() };
});

/** Spins for ever: only stopping its thread ends it. */
app.task('pool.forever', () => {
  for (;;) spin(1000);
});

/**
 * Never returns and never yields, without using a CPU (the tests run beside others): blocked in
 * Atomics.wait, its thread is held as by CPU-bound code, and only stopping the thread ends it.
 */
app.task('pool.block', () => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});

app.task('pool.thread', () => threadId);

app.task('pool.add', (a: number, b: number) => a + b);

app.task('pool.fail', (msg: string) => {
  throw new RangeError(msg);
});

/** Retries once (self.retry from inside a pool thread), then returns the retry count. */
app.task('pool.retry_once', (self: BoundTask) => {
  if (self.request.retries < 1) return self.retry({ countdown: 0.1, exc: new TypeError('again') });
  return self.request.retries;
}, { bind: true });

/** Ends its thread (a crash: what a prefork child's os._exit is). */
app.task('pool.die', () => {
  process.exit(3);
});

export default app;
