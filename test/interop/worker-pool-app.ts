/**
 * The app the pool tests run under `-P threads`: each pool thread imports this module itself (as a
 * prefork child imports the app), so its settings come from the environment the test sets before
 * the worker starts (POOL_TEST_BROKER, POOL_TEST_BACKEND, POOL_TEST_QUEUE).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import { Celery } from '../../src/app.ts';
import type { BoundTask } from '../../src/worker/task.ts';

/** The slot a task runs in: its thread id (-P threads) or its process id (-P processes). */
const slot = () => (isMainThread ? process.pid : threadId);

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
  return { thread: slot(), start, end: Date.now() };
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

app.task('pool.thread', () => slot());

/** Waits `ms` (its thread free meanwhile). */
app.task('pool.sleep', (ms: number) => new Promise((resolve) => setTimeout(() => resolve(ms), ms)));

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

/** Ends its thread the first time (the marker file does not exist yet), returns 'again' the next. */
app.task('pool.die_once', (marker: string) => {
  if (existsSync(marker)) return 'again';
  writeFileSync(marker, '');
  process.exit(3);
}, { acksLate: true, rejectOnWorkerLost: true });

/** Writes its slot's process id to `path`, then blocks (for a test that kills the process). */
app.task('pool.pid_block', (path: string) => {
  writeFileSync(path, String(process.pid));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});

export default app;
