/**
 * The worker's execution pool: where a task's function runs (Celery's `-P/--pool`, `worker_pool`).
 *
 * - `async` (default): on the worker's own event loop, `concurrency` tasks interleaved (src/worker/pool/async.ts).
 *   Celery's `solo` is `async` at concurrency 1; `eventlet` and `gevent` are `async` (green threads
 *   are what an event loop is: `-c 1000` means 1000 tasks in flight).
 * - `threads`: each slot a `node:worker_threads` Worker that imports the app module itself, as a
 *   prefork child imports the app (src/worker/pool/threads.ts); `threads` is Celery's name too.
 * - `processes` (Celery's `prefork` maps here): each slot a child process running the same code
 *   (isolation, native code that is not thread-safe; more memory and a slower start per slot).
 *
 * The main thread keeps the broker, acks, results, events and remote control whatever the pool: a
 * pool only runs the function (with autoretry and the time limits) and answers what it returned or
 * threw. Stopping a running task (hard time limit, `revoke(terminate=True)`) is a pool's business:
 * `terminate` is false where it cannot (the async pool: JavaScript cannot interrupt the main thread).
 */
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import type { TimeLimits } from '../timelimit.ts';
import type { BoundTask, TaskRuntime } from '../task.ts';

/** One task function call, as the tracer hands it to the pool. */
export interface PoolJob {
  readonly runtime: TaskRuntime;
  /** The task's `self` on the main thread (request, retry, updateState, replace). */
  readonly self: BoundTask;
  readonly args: PyValue[];
  readonly kwargs: PyDict;
  readonly limits: TimeLimits;
  /** A time limit fired: the worker's log line. */
  onLimit(kind: 'soft' | 'hard', seconds: number): void;
}

export type PoolName = 'async' | 'threads' | 'processes';

export interface TaskPool {
  readonly name: PoolName;
  /** Slots (threads) running or ready; the async pool reports the worker's concurrency. */
  readonly size: number;
  /** Start the slots (the threads pool loads the app in each). */
  start(): Promise<void>;
  /** Run one call: resolves with the return value, rejects with what the task threw (or the pool's error). */
  run(job: PoolJob): Promise<unknown>;
  /**
   * Stop the running call of task `taskId` (Celery's `terminate_job`): its `run` rejects with
   * billiard's `Terminated(signum)`. False when the task is not running in a slot, or the pool cannot.
   */
  terminate(taskId: string, signum: number): boolean;
  /** `pool_grow` / `pool_shrink` / autoscale: the number of slots. */
  resize(size: number): void;
  /** What `inspect stats` shows as `pool` (Celery's `pool.info`). */
  info(): PyDict;
  /** Stop the slots; running calls are abandoned (the worker waits for them first on a warm shutdown). */
  stop(): Promise<void>;
}

const ALIASES: Record<string, PoolName> = {
  async: 'async', solo: 'async', eventlet: 'async', gevent: 'async',
  threads: 'threads', prefork: 'processes', processes: 'processes',
};

/**
 * Celery's pool name (`-P`, `worker_pool`; a class path like `celery.concurrency.prefork:TaskPool`
 * by its last part) → the pool that runs it; `solo` also means concurrency 1. Null for an unknown name.
 */
export function poolFromName(name: string): { pool: PoolName; solo: boolean } | null {
  const short = name.trim().toLowerCase().replace(/^celery\.concurrency\./, '').replace(/:.*$/, '');
  const pool = ALIASES[short];
  return pool ? { pool, solo: short === 'solo' } : null;
}
