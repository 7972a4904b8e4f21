/**
 * The `async` pool (default; Celery's `solo`, `eventlet`, `gevent` map here): every task function runs
 * on the worker's own event loop, `concurrency` of them interleaved at their awaits. I/O-bound tasks
 * are served best so; a CPU-bound task holds the loop, and nothing can stop running JavaScript there
 * (the time limits fail the task and free the slot, see src/worker/timelimit.ts; `terminate` cannot).
 */
import { callTask } from '../trace.ts';
import { withAutoretry } from '../retry.ts';
import { runWithTimeLimits } from '../timelimit.ts';
import type { PoolJob, TaskPool } from './pool.ts';
import type { PyDict } from '../../../protocol/values.ts';

export class AsyncPool implements TaskPool {
  readonly name = 'async' as const;
  constructor(private concurrency: () => number) {}

  get size(): number {
    return this.concurrency();
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  run(job: PoolJob): Promise<unknown> {
    const { runtime, self, args, kwargs } = job;
    return withAutoretry(self, runtime, () => runWithTimeLimits(() => callTask(runtime, self, args, kwargs), job.limits, () => self.abortController, job.onLimit));
  }

  terminate(): boolean {
    return false;
  }

  resize(): void {}

  info(): PyDict {
    return { 'max-concurrency': this.concurrency(), implementation: 'celeriac.worker:AsyncPool' };
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
