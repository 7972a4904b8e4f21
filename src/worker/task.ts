/**
 * A registered task as the worker runs it: Celery's task attributes resolved from the task's options
 * and the app's settings (`acks_late = task option ?? task_acks_late`, ...), its lifecycle hooks, and
 * the object a bound task receives as `self`.
 *
 * Hooks (Celery's `Task.before_start`, `on_success`, `on_failure`, `on_retry`, `after_return`): the
 * app's `TaskOptions` has no field for them yet, so they are attached with {@link setTaskHooks}
 * (or the worker's `hooks` option); if the app ever forwards `beforeStart`/`onSuccess`/... in
 * `workerOptions`, those are used too.
 */
import { funcNameOf, paramsOf } from '../bind-args.ts';
import type { TaskParams } from '../task-params.ts';
import type { Celery, RegisteredTask } from '../app.ts';
import type { ResultBackend } from '../backend.ts';
import { buildResultMeta } from '../../protocol/result.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import { toResultRequest, type Context } from './request.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import { replaceTask } from '../canvas/replace.ts';

/** Celery's `ExceptionInfo` as hooks get it: the error and the Python-style traceback text. */
export interface ErrorInfo {
  exception: unknown;
  traceback: string | null;
}

/** Celery's task handler methods; each also gets the bound task (`self`) last. */
export interface TaskHooks {
  beforeStart?(taskId: string, args: PyValue[], kwargs: PyDict, self: BoundTask): unknown;
  onSuccess?(retval: unknown, taskId: string, args: PyValue[], kwargs: PyDict, self: BoundTask): unknown;
  onFailure?(exc: unknown, taskId: string, args: PyValue[], kwargs: PyDict, einfo: ErrorInfo, self: BoundTask): unknown;
  onRetry?(exc: unknown, taskId: string, args: PyValue[], kwargs: PyDict, einfo: ErrorInfo, self: BoundTask): unknown;
  afterReturn?(status: string, retval: unknown, taskId: string, args: PyValue[], kwargs: PyDict, einfo: ErrorInfo | null, self: BoundTask): unknown;
}

const HOOK_NAMES = ['beforeStart', 'onSuccess', 'onFailure', 'onRetry', 'afterReturn'] as const;
const appHooks = new WeakMap<Celery, Map<string, TaskHooks>>();

/** Attach lifecycle hooks to a task of `app` (merged over hooks attached before). */
export function setTaskHooks(app: Celery, name: string, hooks: TaskHooks): void {
  let m = appHooks.get(app);
  if (!m) appHooks.set(app, (m = new Map()));
  m.set(name, { ...m.get(name), ...hooks });
}

/** The hooks attached to a task: `workerOptions` first, then {@link setTaskHooks}, then `extra`. */
export function taskHooks(app: Celery, task: RegisteredTask, extra?: TaskHooks): TaskHooks {
  const out: TaskHooks = {};
  const wo = task.workerOptions as Record<string, unknown>;
  for (const n of HOOK_NAMES) if (typeof wo[n] === 'function') (out as Record<string, unknown>)[n] = wo[n];
  Object.assign(out, appHooks.get(app)?.get(task.name), extra);
  return out;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** The worker-side attributes of a task, Celery's defaults filled in. */
export interface TaskRuntime {
  readonly name: string;
  readonly fn: (...args: never[]) => unknown;
  readonly bind: boolean;
  /** What (args, kwargs) bind to, Python's way (src/bind-args.ts). */
  readonly params: TaskParams;
  /** The name Python's TypeError texts show: the task name's last dotted part. */
  readonly funcName: string;
  readonly acksLate: boolean;
  /** `acks_on_failure_or_timeout` (Celery default true). */
  readonly acksOnFailureOrTimeout: boolean;
  readonly rejectOnWorkerLost: boolean;
  readonly trackStarted: boolean;
  /** The task's `ignore_result` (the message's `ignore_result` header wins when present). */
  readonly ignoreResult: boolean;
  readonly storeErrorsEvenIfIgnored: boolean;
  /** `max_retries` (Celery default 3; null = forever). */
  readonly maxRetries: number | null;
  /** `default_retry_delay` in seconds (Celery default 180). */
  readonly defaultRetryDelay: number;
  readonly autoretryFor: readonly ErrorClass[];
  readonly retryBackoff: boolean | number;
  readonly retryBackoffMax: number;
  readonly retryJitter: boolean;
  /** The task's `time_limit` / `soft_time_limit`, else `task_time_limit` / `task_soft_time_limit` (seconds). */
  readonly timeLimit: number | null;
  readonly softTimeLimit: number | null;
  readonly hooks: TaskHooks;
}

function pick<T>(wo: Record<string, unknown>, key: string, fallback: T): T {
  const v = wo[key];
  return v === undefined ? fallback : (v as T);
}

/** Resolve a registered task's attributes (task option, else app setting, else Celery's default). */
export function resolveTask(app: Celery, task: RegisteredTask, extraHooks?: TaskHooks): TaskRuntime {
  if (!task.fn) throw new Error(`task ${task.name} has no implementation in this process`);
  const wo = task.workerOptions as Record<string, unknown>;
  const c = app.conf;
  return {
    name: task.name,
    fn: task.fn,
    bind: pick(wo, 'bind', false),
    params: paramsOf(task),
    funcName: funcNameOf(task.name),
    acksLate: pick(wo, 'acksLate', c.taskAcksLate),
    acksOnFailureOrTimeout: pick(wo, 'acksOnFailureOrTimeout', true),
    rejectOnWorkerLost: pick(wo, 'rejectOnWorkerLost', c.taskRejectOnWorkerLost ?? false),
    trackStarted: pick(wo, 'trackStarted', c.taskTrackStarted),
    ignoreResult: task.sendDefaults.ignoreResult ?? c.taskIgnoreResult,
    storeErrorsEvenIfIgnored: pick(wo, 'storeErrorsEvenIfIgnored', false),
    maxRetries: pick<number | null>(wo, 'maxRetries', 3),
    defaultRetryDelay: pick(wo, 'defaultRetryDelay', 180),
    autoretryFor: pick<readonly ErrorClass[]>(wo, 'autoretryFor', []),
    retryBackoff: pick<boolean | number>(wo, 'retryBackoff', false),
    retryBackoffMax: pick(wo, 'retryBackoffMax', 600),
    retryJitter: pick(wo, 'retryJitter', true),
    timeLimit: task.sendDefaults.timeLimit ?? c.taskTimeLimit,
    softTimeLimit: task.sendDefaults.softTimeLimit ?? c.taskSoftTimeLimit,
    hooks: taskHooks(app, task, extraHooks),
  };
}

/** What {@link BoundTask.retry} accepts (Celery's `Task.retry` arguments, plus send options). */
export interface RetryOptions {
  /** New positional args (default: the request's). */
  args?: PyValue[];
  /** New keyword args (default: the request's). */
  kwargs?: PyDict;
  /** The error that caused the retry: stored with RETRY, re-thrown when max retries are exceeded. */
  exc?: unknown;
  /** Throw the `Retry` (default true, like Celery); false: return it. */
  throw?: boolean;
  eta?: Date | string;
  /** Seconds; default `default_retry_delay` when neither eta nor countdown is given. */
  countdown?: number;
  /** Overrides the task's `max_retries` (null = forever). */
  maxRetries?: number | null;
  /** Any other `apply_async` option for the new message (queue, priority, ...). */
  [option: string]: unknown;
}

/** What a {@link BoundTask} needs from the worker (implemented in trace.ts / retry.ts). */
export interface TaskSelfHost {
  readonly app: Celery;
  readonly backend: ResultBackend | null;
  readonly resultExtended: boolean;
  retry(self: BoundTask, options: RetryOptions): Promise<never | Error>;
}

/**
 * The `self` of a bound task (`bind: true`): its request, `retry`, `updateState`, and the task's
 * attributes. `retry` publishes the retry and rejects with a `Retry` error, so write
 * `return self.retry({ exc, countdown: 5 })` or `await self.retry(...)` (Python: `raise self.retry(...)`).
 */
export class BoundTask {
  /** Set by `retry({maxRetries})` so autoretry keeps the override (Celery's `override_max_retries`). */
  overrideMaxRetries: number | null | undefined = undefined;
  #abortController: AbortController | undefined;
  /** Aborted at the soft time limit (reason `SoftTimeLimitExceeded`) or the hard one; made on first use. */
  get abortController(): AbortController {
    return (this.#abortController ??= new AbortController());
  }

  constructor(
    readonly runtime: TaskRuntime,
    readonly request: Context,
    private readonly host: TaskSelfHost,
  ) {}

  get name(): string {
    return this.runtime.name;
  }
  /** Aborts when the task hits a time limit: pass it to fetch, timers, child processes. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }
  get app(): Celery {
    return this.host.app;
  }
  get maxRetries(): number | null {
    return this.runtime.maxRetries;
  }
  get defaultRetryDelay(): number {
    return this.runtime.defaultRetryDelay;
  }

  /** `Task.retry`: re-send this task (same id, retries + 1) and throw `Retry` (unless `throw: false`). */
  retry(options: RetryOptions = {}): Promise<never | Error> {
    return this.host.retry(this, options);
  }

  /**
   * `Task.replace(sig)`: replace this task by a signature or a workflow that inherits its id,
   * callbacks, errbacks, chord, group and the rest of its chain (see src/canvas/replace.ts). Sends
   * it and rejects with `Ignore` (nothing is stored for this task): `return self.replace(sig)`.
   */
  replace(sig: SignatureDict): Promise<never> {
    return replaceTask(this.host.app, this.request, sig);
  }

  /** `Task.update_state`: store a state (e.g. a custom `PROGRESS`) with `meta` as its result. */
  async updateState(state: string, meta: PyValue = null, taskId?: string): Promise<void> {
    const backend = this.host.backend;
    if (!backend) return;
    await backend.storeResult(buildResultMeta({
      taskId: taskId ?? this.request.id,
      state,
      result: meta,
      request: toResultRequest(this.request),
      extended: this.host.resultExtended,
    }), this.request);
  }
}
