/**
 * Task time limits, Celery's `time_limit` / `soft_time_limit` (`[hard, soft]` in the message's
 * `timelimit` header, else the task's own limits, else `task_time_limit` / `task_soft_time_limit`).
 *
 * JavaScript cannot interrupt running code the way Celery's pool kills a child process, so:
 * - at the soft limit the task's `self.signal` aborts (reason: `SoftTimeLimitExceeded`; abort
 *   listeners run at once, so a task can clean up there) and the task fails with
 *   `SoftTimeLimitExceeded`, which is what a Python task that does not catch it ends with;
 * - at the hard limit the task fails with `TimeLimitExceeded(hard)`.
 * Either way the worker stops waiting, records the failure and frees the slot; a task that ignores
 * its signal keeps running in the background, but nothing it returns is stored.
 *
 * That is the async pool (src/worker/pool/async.ts). Under `-P threads` / `-P processes` the soft limit
 * runs as here inside the slot, and the hard one stops the slot's thread or process
 * (src/worker/pool/threads.ts), as Celery's prefork pool kills its child.
 */
import { SoftTimeLimitExceeded, TimeLimitExceeded } from '../../protocol/exceptions.ts';

export interface TimeLimits {
  /** Seconds, or null for none. */
  hard: number | null;
  soft: number | null;
}

const positive = (v: unknown): number | null => (typeof v === 'number' && v > 0 ? v : null);

/**
 * Celery's precedence: the message's `timelimit`, then the task's limits (which already fall back to
 * the app's `task_time_limit` / `task_soft_time_limit`, see `resolveTask`).
 */
export function resolveTimeLimits(
  timelimit: readonly (number | null)[] | null | undefined,
  task: { timeLimit: number | null; softTimeLimit: number | null },
): TimeLimits {
  return {
    hard: positive(timelimit?.[0]) ?? positive(task.timeLimit),
    soft: positive(timelimit?.[1]) ?? positive(task.softTimeLimit),
  };
}

/**
 * Runs `fn` under the limits. `controllerOf` gives the task's AbortController (its signal is `self.signal`; made only when a limit is set).
 * `onLimit` is told which limit fired, for the worker's log line.
 */
export function runWithTimeLimits<T>(
  fn: () => Promise<T>,
  limits: TimeLimits,
  controllerOf: () => AbortController,
  onLimit: (kind: 'soft' | 'hard', seconds: number) => void,
): Promise<T> {
  if (limits.hard === null && limits.soft === null) return fn();
  const controller = controllerOf();
  return new Promise<T>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    const settle = (f: () => void) => {
      for (const t of timers) clearTimeout(t);
      f();
    };
    if (limits.soft !== null && (limits.hard === null || limits.soft < limits.hard)) {
      const soft = limits.soft;
      timers.push(setTimeout(() => {
        onLimit('soft', soft);
        const exc = new SoftTimeLimitExceeded([]);
        controller.abort(exc);
        settle(() => reject(exc));
      }, soft * 1000));
    }
    if (limits.hard !== null) {
      const hard = limits.hard;
      timers.push(setTimeout(() => {
        onLimit('hard', hard);
        const exc = new TimeLimitExceeded([hard]);
        if (!controller.signal.aborted) controller.abort(exc);
        settle(() => reject(exc));
      }, hard * 1000));
    }
    fn().then((v) => settle(() => resolve(v)), (e: unknown) => settle(() => reject(e)));
  });
}
