/**
 * Running one task and recording what happened: Celery's `build_tracer` (`celery/app/trace.py`).
 *
 * Order, as in Celery:
 *   task_prerun → STARTED (track_started, not ignore_result) → beforeStart → the function
 *   success: link callbacks + next chain step (before storing: like everything the task sent, they join
 *            its trail, `request.children`, stored as `children`) → SUCCESS →
 *            onSuccess → task_success → log "succeeded in Xs: repr"
 *   Retry:   RETRY stored with the causing error → onRetry → task_retry → log "retry: ..."
 *   Reject / Ignore: nothing stored (REJECTED / IGNORED); the worker rejects / acks
 *   error:   FAILURE (exception dict + Python-style traceback) → remaining chain steps FAILURE →
 *            errbacks → onFailure → task_failure → log "raised unexpected: ..."
 *   afterReturn (not for RETRY/IGNORED/REJECTED) → task_postrun
 * With `ignore_result` nothing is stored except errors when `store_errors_even_if_ignored`.
 * A result the backend cannot encode (EncodeError) turns the task into a FAILURE, as in Celery.
 */
import { bindArguments } from '../bind-args.ts';
import { performance } from 'node:perf_hooks';
import { EncodeError } from '../../protocol/errors.ts';
import { Ignore, Reject, Retry, Terminated, TimeLimitExceeded, WorkerLostError } from '../../protocol/exceptions.ts';
import { argsrepr, saferepr, type ReprValue } from '../../protocol/repr.ts';
import { asTuple, buildResultMeta } from '../../protocol/result.ts';
import { FAILURE, IGNORED, REJECTED, RETRY, REVOKED, STARTED, SUCCESS } from '../../protocol/states.ts';
import type { PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import type { ResultBackend } from '../backend.ts';
import { runInTaskContext, type SendTaskOptions } from '../producer.ts';
import { signals, type SignalRequest } from '../signals.ts';
import { tracingHooks } from '../tracing/hooks.ts';
import { callTaskErrbacks, chainElemRequest, onChordPartReturn } from '../canvas/chord.ts';
import { dispatchCallbacksAndChain } from './dispatch.ts';
import { logs, type WorkerLogger } from './log.ts';
import { toResultRequest, type Context } from './request.ts';
import { excRepr, retryTask, TaskRetry } from './retry.ts';
import { AsyncPool } from './pool/async.ts';
import type { TaskPool } from './pool/pool.ts';
import { BoundTask, type ErrorInfo, type RetryOptions, type TaskRuntime, type TaskSelfHost } from './task.ts';
import { formatTraceback } from './traceback.ts';
import { resolveTimeLimits } from './timelimit.ts';

/** How a task ended. */
export interface TraceResult {
  /** SUCCESS, FAILURE, RETRY, REJECTED, IGNORED; REVOKED when the pool terminated it (`retval`: billiard's `Terminated`). */
  state: string;
  /** The return value (SUCCESS) or the error. */
  retval: unknown;
  /** Seconds. */
  runtime: number;
}

export interface TracerOptions {
  app: Celery;
  backend: ResultBackend | null;
  hostname: string;
  logger: WorkerLogger;
  resultExtended: boolean;
  /** `resultrepr_maxsize` for the success log line. @default 1024 */
  resultReprMaxsize?: number;
  /** Where task functions run (src/worker/pool/). @default the async pool */
  pool?: TaskPool;
}

/**
 * The error a pool made when the task's slot was stopped (hard time limit) or died: Celery stores
 * these with no traceback (`Request.on_timeout` / `on_failure` call `mark_as_failure` without one).
 */
function slotError(err: unknown): boolean {
  return (err instanceof TimeLimitExceeded || err instanceof WorkerLostError) && err.traceback === null;
}

const IGNORE_STATES = new Set([IGNORED, RETRY, REJECTED]);

function reprValue(value: unknown, maxsize: number): string {
  try {
    return saferepr((value === undefined ? null : value) as ReprValue, maxsize);
  } catch {
    return String(value);
  }
}

/** The request as signal receivers see it. */
export function signalRequest(ctx: Context): SignalRequest {
  return ctx as unknown as SignalRequest;
}

/**
 * Calls a task's function with (args, kwargs) bound as Python binds them (src/bind-args.ts): a wrong
 * call rejects with Python's `TypeError` before the function runs (inside autoretry, as in Celery,
 * whose autoretry wraps the call).
 */
export function callTask(runtime: TaskRuntime, self: BoundTask, args: PyValue[], kwargs: Record<string, PyValue>): Promise<unknown> {
  const fn = runtime.fn as (...a: unknown[]) => unknown;
  let out: unknown;
  try {
    const bound = bindArguments(runtime.params, runtime.funcName, args, kwargs, { bound: runtime.bind });
    out = runtime.bind ? fn(self, ...bound) : fn(...bound);
  } catch (err) {
    return Promise.reject(err);
  }
  // Promise.resolve hands back a native promise as it is, and adopts a value or a foreign thenable
  return Promise.resolve(out);
}

export class Tracer implements TaskSelfHost {
  readonly app: Celery;
  readonly backend: ResultBackend | null;
  readonly hostname: string;
  readonly logger: WorkerLogger;
  readonly resultExtended: boolean;
  private readonly reprMax: number;
  readonly pool: TaskPool;

  constructor(o: TracerOptions) {
    this.pool = o.pool ?? new AsyncPool(() => 1);
    this.app = o.app;
    this.backend = o.backend;
    this.hostname = o.hostname;
    this.logger = o.logger;
    this.resultExtended = o.resultExtended;
    this.reprMax = o.resultReprMaxsize ?? 1024;
  }

  retry(self: BoundTask, options: RetryOptions): Promise<never | Error> {
    return retryTask(self, options, (name, args, kwargs, opts) => {
      const registered = this.app.tasks.get(name);
      const merged = registered ? ({ ...registered.sendDefaults, ...opts } as SendTaskOptions) : opts;
      // Task.retry applies a Signature, whose args are a tuple: argsrepr `(7,)`, as Celery's
      return this.app.sendTask(name, args, kwargs, { argsrepr: argsrepr(args), ...merged });
    }, (ret) => this.storeRetry(self, ret));
  }

  /** The RETRY record, stored before the retry is published (see retryTask); same rules as handleRetry. */
  private async storeRetry(self: BoundTask, ret: TaskRetry): Promise<void> {
    const ctx = self.request;
    const ignoreResult = ctx.ignore_result || (ctx.allHeaders['ignore_result'] === undefined && self.runtime.ignoreResult);
    const storeErrors = ignoreResult ? self.runtime.storeErrorsEvenIfIgnored : true;
    // Celery's retry() applies the retry signature (same id) before RETRY is stored, and that send lands
    // in the task's trail: Python's RETRY record lists the task itself among its children
    if (storeErrors) await this.store(ctx, RETRY, ret.exc ?? null, formatTraceback(ret), [...ctx.children, asTuple(ctx.id)]);
  }

  /** Stores a state of the task; `children` is its trail so far (`request.children`, as Celery stores it with every state). */
  private store(ctx: Context, state: string, result: unknown, traceback: string | null = null, children = ctx.children): Promise<void> {
    if (!this.backend) return Promise.resolve();
    try {
      return this.backend.storeResult(buildResultMeta({
        taskId: ctx.id, state, result, traceback, request: toResultRequest(ctx, children), extended: this.resultExtended,
      }), ctx);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Run a task: store its states, send its callbacks, call hooks and signals. Never throws.
   * `onReturned` is called once the task function has returned or thrown, before its result is stored
   * (the worker frees the concurrency slot then: see Worker.execute).
   */
  trace(runtime: TaskRuntime, ctx: Context, onReturned?: () => void): Promise<TraceResult> {
    const rootId = ctx.root_id || ctx.id;
    const inherit = this.app.conf.taskInheritParentPriority;
    // `children`: the trail (the request's own list), where what the task sends adds its result
    const run = () => runInTaskContext({ id: ctx.id, root_id: rootId, delivery_info: { priority: ctx.delivery_info.priority }, children: ctx.children }, () =>
      this.run(runtime, ctx, rootId, inherit ? ctx.delivery_info.priority : null, onReturned),
    );
    const tracing = tracingHooks();
    return tracing ? tracing.run(ctx, run) : run();
  }

  private async run(runtime: TaskRuntime, ctx: Context, rootId: string, priority: number | null, onReturned?: () => void): Promise<TraceResult> {
    const t0 = performance.now();
    const self = new BoundTask(runtime, ctx, this);
    const ignoreResult = ctx.ignore_result || (ctx.allHeaders['ignore_result'] === undefined && runtime.ignoreResult);
    const storeErrors = ignoreResult ? runtime.storeErrorsEvenIfIgnored : true;
    const publishResult = !ignoreResult;
    const hooks = runtime.hooks;
    const { id, args, kwargs } = ctx;
    const name = ctx.name;
    let state: string = FAILURE;
    let retval: unknown = null;
    let postrun = true;
    try {
      if (signals.task_prerun.hasReceivers) await signals.task_prerun.send({ sender: runtime.name, task_id: id, task: runtime.name, args, kwargs });
      if (runtime.trackStarted && !ignoreResult) {
        await this.store(ctx, STARTED, { pid: process.pid, hostname: this.hostname });
      }
      let ok = false;
      try {
        if (hooks.beforeStart) await hooks.beforeStart(id, args, kwargs, self);
        const limits = resolveTimeLimits(ctx.timelimit, runtime);
        retval = await this.pool.run({ runtime, self, args, kwargs, limits,
          onLimit: (kind, seconds) => this.logger.error(`${kind === 'soft' ? 'Soft' : 'Hard'} time limit (${seconds}s) exceeded for ${name}[${id}]`) });
        ok = true;
      } catch (err) {
        retval = err;
      }
      onReturned?.();
      if (retval instanceof Terminated) {
        // revoke(terminate=True): the slot was stopped; the worker records REVOKED (Request.terminate)
        postrun = false;
        return { state: REVOKED, retval, runtime: (performance.now() - t0) / 1000 };
      }
      if (retval instanceof WorkerLostError && runtime.acksLate && runtime.rejectOnWorkerLost) {
        // Request.on_failure: reject_on_worker_lost requeues the message; nothing stored, no task-failed
        this.logger.error(`Task ${name}[${id}] ${excRepr(retval)}: requeued (task_reject_on_worker_lost)`);
        postrun = false;
        return { state: REJECTED, retval: new Reject([excRepr(retval), true]), runtime: (performance.now() - t0) / 1000 };
      }
      if (ok) {
        try {
          // sent in this task's context, the callbacks and the next chain step join its trail after what
          // the task itself sent (Celery applies them while the task is still the current worker task)
          if (ctx.callbacks?.length || ctx.chain?.length) await dispatchCallbacksAndChain(this, retval, ctx.callbacks, ctx.chain, { parentId: id, rootId, priority });
          if (publishResult) await this.store(ctx, SUCCESS, retval, null);
          // mark_as_done: a chord member reports to its chord whether or not its result is stored
          if (ctx.chord) await onChordPartReturn(this.app, ctx, SUCCESS, retval);
          state = SUCCESS;
        } catch (err) {
          if (!(err instanceof EncodeError)) this.logger.error(`Task ${name}[${id}]: storing the result or sending callbacks failed: ${(err as Error)?.message ?? String(err)}`);
          retval = err;
        }
      }
      const T = (performance.now() - t0) / 1000;
      if (state === SUCCESS) {
        try {
          if (hooks.onSuccess) await hooks.onSuccess(retval, id, args, kwargs, self);
          if (signals.task_success.hasReceivers) await signals.task_success.send({ sender: runtime.name, result: retval, request: signalRequest(ctx) });
          if (logs(this.logger, 'info')) this.logger.info(`Task ${name}[${id}] succeeded in ${T}s: ${reprValue(retval, this.reprMax)}`);
        } catch (err) {
          this.logger.error(`Task ${name}[${id}] onSuccess handler raised: ${excRepr(err)}`);
        }
      } else if (retval instanceof Reject) {
        state = REJECTED;
        this.logger.warning(`Task ${name}[${id}] ${excRepr(retval)}`);
      } else if (retval instanceof Ignore) {
        state = IGNORED;
        this.logger.info(`Task ${name}[${id}] ignored`);
      } else if (retval instanceof Retry) {
        state = RETRY;
        await this.handleRetry(runtime, self, ctx, retval, storeErrors);
      } else {
        state = FAILURE;
        await this.handleFailure(runtime, self, ctx, retval, storeErrors, rootId);
      }
      if (!IGNORE_STATES.has(state) && hooks.afterReturn) {
        try {
          await hooks.afterReturn(state, retval, id, args, kwargs, null, self);
        } catch (err) {
          this.logger.error(`Task ${name}[${id}] afterReturn handler raised: ${excRepr(err)}`);
        }
      }
    } catch (err) {
      // an internal error (Celery's report_internal_error): the task is failed
      this.logger.critical(`Task ${name}[${id}] INTERNAL ERROR: ${formatTraceback(err)}`);
      state = FAILURE;
      retval = err;
      if (storeErrors) await this.store(ctx, FAILURE, err, formatTraceback(err)).catch(() => undefined);
    } finally {
      if (postrun && signals.task_postrun.hasReceivers) await signals.task_postrun.send({ sender: runtime.name, task_id: id, task: runtime.name, args, kwargs, retval, state });
    }
    return { state, retval, runtime: (performance.now() - t0) / 1000 };
  }

  private async handleRetry(runtime: TaskRuntime, self: BoundTask, ctx: Context, reason: Retry, storeErrors: boolean): Promise<ErrorInfo> {
    const exc = reason instanceof TaskRetry ? reason.exc : undefined;
    const traceback = formatTraceback(reason);
    const einfo: ErrorInfo = { exception: reason, traceback };
    try {
      // stored already when retry() published it (see retryTask)
      if (storeErrors && !(reason instanceof TaskRetry && reason.stored)) await this.store(ctx, RETRY, exc ?? null, traceback);
      if (runtime.hooks.onRetry) await runtime.hooks.onRetry(exc, ctx.id, ctx.args, ctx.kwargs, einfo, self);
    } catch (err) {
      this.logger.error(`Task ${ctx.name}[${ctx.id}] storing RETRY / onRetry failed: ${excRepr(err)}`);
    }
    await signals.task_retry.send({ sender: runtime.name, request: signalRequest(ctx), reason, einfo });
    this.logger.info(`Task ${ctx.name}[${ctx.id}] retry: ${reason.message}`);
    return einfo;
  }

  private async handleFailure(runtime: TaskRuntime, self: BoundTask, ctx: Context, exc: unknown, storeErrors: boolean, rootId: string): Promise<ErrorInfo> {
    const traceback = slotError(exc) ? null : formatTraceback(exc);
    const einfo: ErrorInfo = { exception: exc, traceback };
    try {
      if (storeErrors) {
        await this.store(ctx, FAILURE, exc, traceback);
        // mark_as_failure: every remaining chain step with a task id fails too
        for (const step of ctx.chain ?? []) {
          const stepId = step.options['task_id'];
          if (typeof stepId !== 'string' || !this.backend) continue;
          const group = step.options['group_id'];
          await this.backend.storeResult(buildResultMeta({
            taskId: stepId, state: FAILURE, result: exc, traceback,
            // Celery's Context(chain_elem): a step that never ran has retries 0
            request: { group: typeof group === 'string' ? group : null, parent_id: null, task: step.task, args: step.args, kwargs: step.kwargs, retries: 0 },
            extended: this.resultExtended,
          }));
        }
      }
      // mark_as_failure: the chord this task (or a remaining chain step) belongs to, then the errbacks
      if (ctx.chord) await onChordPartReturn(this.app, ctx, FAILURE, exc);
      for (const step of ctx.chain ?? []) {
        const part = chainElemRequest(step);
        if (part) await onChordPartReturn(this.app, part, FAILURE, exc);
      }
    } catch (err) {
      this.logger.error(`Task ${ctx.name}[${ctx.id}] storing FAILURE failed: ${excRepr(err)}`);
    }
    try {
      if (ctx.errbacks?.length) await callTaskErrbacks(this.app, { ...ctx, id: ctx.id, root_id: rootId }, exc, traceback);
    } catch (err) {
      // Celery: an errback that cannot be sent (its typing check, a broker error) escapes mark_as_failure
      // as an internal error, and on_error stores it over the task's FAILURE
      this.logger.critical(`Task ${ctx.name}[${ctx.id}] INTERNAL ERROR: sending errbacks failed: ${excRepr(err)}`);
      if (storeErrors) await this.store(ctx, FAILURE, err, formatTraceback(err)).catch(() => undefined);
    }
    try {
      if (runtime.hooks.onFailure) await runtime.hooks.onFailure(exc, ctx.id, ctx.args, ctx.kwargs, einfo, self);
    } catch (err) {
      this.logger.error(`Task ${ctx.name}[${ctx.id}] onFailure handler raised: ${excRepr(err)}`);
    }
    await signals.task_failure.send({ sender: runtime.name, task_id: ctx.id, exception: exc, args: ctx.args, kwargs: ctx.kwargs, traceback, einfo });
    this.logger.error(`Task ${ctx.name}[${ctx.id}] raised unexpected: ${excRepr(exc)}${traceback ? `\n${traceback.trimEnd()}` : ''}`);
    return einfo;
  }
}
