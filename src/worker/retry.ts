/**
 * `Task.retry` (`celery/app/task.py`), `signature_from_request`, autoretry (`celery/app/autoretry.py`)
 * and `get_exponential_backoff_interval` (`celery/utils/time.py`).
 *
 * A retry re-publishes the SAME task id with `retries + 1`, every execution option of the current
 * request (root/parent/group/chord/chain/link/link_error/expires/time limits/custom headers/stamps),
 * the message's priority, and the queue it came from; then the task ends in state RETRY with the
 * error that caused it. Past `max_retries` the original error (or `MaxRetriesExceededError`) is thrown
 * instead and the task fails.
 */
import { Ignore, MaxRetriesExceededError, PythonError, Reject, Retry, exceptionToInfo, exceptionArgs } from '../../protocol/exceptions.ts';
import { PyTuple, pyRepr } from '../../protocol/repr.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { SendTaskOptions } from '../producer.ts';
import type { Context } from './request.ts';
import type { BoundTask, RetryOptions, TaskRuntime } from './task.ts';

/** Celery's `get_exponential_backoff_interval(factor, retries, maximum, full_jitter)`, in seconds. */
export function exponentialBackoff(factor: number, retries: number, maximum: number, fullJitter = false, random: () => number = Math.random): number {
  let countdown = Math.min(maximum, factor * 2 ** retries);
  if (fullJitter) countdown = Math.floor(random() * (Math.floor(countdown) + 1));
  return Math.max(0, countdown);
}

/** Python's `repr(exc)` of any thrown value (`ValueError('x')`). */
export function excRepr(err: unknown): string {
  if (err instanceof PythonError) return err.message;
  const info = exceptionToInfo(err);
  return new PythonError(info.exc_type, exceptionArgs(info)).message;
}

/**
 * The control-flow error of a retry (Celery's `Retry(exc=..., when=..., sig=...)`). `exc` is the
 * error that caused it (stored with the RETRY state), `when` the countdown (s) or eta.
 */
export class TaskRetry extends Retry {
  readonly exc: unknown;
  /** The options the retry was published with. */
  readonly sent: SendTaskOptions | null;
  /** Set once the RETRY state was stored before the retry was published (see {@link retryTask}). */
  stored = false;

  constructor(exc: unknown, when: number | string | null, sent: SendTaskOptions | null, message: string | null = null) {
    const excs = exc === undefined || exc === null ? null : excRepr(exc);
    super([message, excs, when]);
    this.exc = exc;
    this.sent = sent;
    const humanize = typeof when === 'number' ? `in ${when}s` : `at ${when}`;
    this.message = message ?? (excs ? `Retry ${humanize}: ${excs}` : `Retry ${humanize}`);
  }
}

const X_DEATH = new Set(['x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason']);

/**
 * `signature_from_request` + the retry's extra options, as camelCase send options for
 * `app.sendTask`: `Context.as_execution_options()`, priority from `delivery_info`, and the queue
 * (the routing key when the message came through the default exchange, else exchange + routing key).
 */
export function retrySendOptions(req: Context, extra: SendTaskOptions): SendTaskOptions {
  const [hard, soft] = req.timelimit ?? [null, null];
  const o: Record<string, unknown> = {
    taskId: req.id,
    rootId: req.root_id,
    parentId: req.parent_id,
    groupId: req.group,
    groupIndex: req.group_index,
    shadow: req.shadow,
    chord: req.chord,
    chain: req.chain,
    link: req.callbacks,
    linkError: req.errbacks,
    expires: req.expires,
    softTimeLimit: soft,
    timeLimit: hard,
    replyTo: req.reply_to,
    replacedTaskNesting: req.replaced_task_nesting,
  };
  if (req.headers) {
    const h: PyDict = {};
    for (const [k, v] of Object.entries(req.headers)) if (!X_DEATH.has(k)) h[k] = v;
    if (Object.keys(h).length) o.headers = h;
  }
  if (req.stamps && req.stamped_headers) {
    o.stampedHeaders = req.stamped_headers;
    o.stamps = req.stamps;
  }
  const di = req.delivery_info;
  if (di.priority !== null) o.priority = di.priority;
  if (!extra.queue) {
    if (di.exchange === '' && di.routing_key) o.queue = di.routing_key;
    else {
      if (di.exchange) o.exchange = di.exchange;
      if (di.routing_key !== null) o.routingKey = di.routing_key;
    }
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) o[k] = v;
  for (const k of Object.keys(o)) if (o[k] === null || o[k] === undefined) delete o[k];
  return o as SendTaskOptions;
}

const RETRY_OWN = new Set(['args', 'kwargs', 'exc', 'throw', 'eta', 'countdown', 'maxRetries', 'max_retries']);

/**
 * Publishes a retry: what `BoundTask.retry` does (the worker passes `publish`).
 *
 * `storeRetry`, when given, stores the RETRY state BEFORE the retry message is published. Celery
 * publishes first and stores RETRY when the task has returned, so a retry with a short countdown can
 * run (here or on another worker) and store its FAILURE or SUCCESS before that RETRY lands, and the
 * stale RETRY then overwrites it (only SUCCESS is protected): the result stays RETRY forever. Storing
 * first makes the order of the records the order of the runs. A publish that fails afterwards fails
 * the task, which stores FAILURE over the RETRY.
 */
export async function retryTask(
  self: BoundTask,
  options: RetryOptions,
  publish: (name: string, args: PyValue[], kwargs: PyDict, options: SendTaskOptions) => Promise<unknown>,
  storeRetry?: (retry: TaskRetry) => Promise<void>,
): Promise<never | Error> {
  const req = self.request;
  const retries = req.retries + 1;
  let maxRetries = options.maxRetries ?? (options['max_retries'] as number | null | undefined);
  if (maxRetries !== undefined && maxRetries !== null) self.overrideMaxRetries = maxRetries;
  if (maxRetries === undefined || maxRetries === null) maxRetries = self.runtime.maxRetries;
  let countdown = options.countdown;
  const eta = options.eta;
  if (!eta && (countdown === undefined || countdown === null)) countdown = self.runtime.defaultRetryDelay;

  const args = options.args ?? req.args;
  const kwargs = options.kwargs ?? req.kwargs;
  const extra: Record<string, unknown> = { retries };
  if (countdown !== undefined) extra.countdown = countdown;
  if (eta !== undefined) extra.eta = eta;
  for (const [k, v] of Object.entries(options)) if (!RETRY_OWN.has(k)) extra[k] = v;
  const sendOptions = retrySendOptions(req, extra as SendTaskOptions);

  if (maxRetries !== null && retries > maxRetries) {
    if (options.exc !== undefined && options.exc !== null) throw options.exc;
    throw new MaxRetriesExceededError([
      `Can't retry ${self.name}[${req.id}] args:${pyRepr(new PyTuple(args))} kwargs:${pyRepr(kwargs)}`,
    ]);
  }
  const when = eta !== undefined ? (eta instanceof Date ? eta.toISOString() : eta) : (countdown ?? null);
  const ret = new TaskRetry(options.exc, when, sendOptions);
  if (storeRetry) {
    await storeRetry(ret);
    ret.stored = true;
  }
  try {
    await publish(self.name, args, kwargs, sendOptions);
  } catch (err) {
    throw new Reject([excRepr(err), false], { cause: err });
  }
  if (options.throw === false) return ret;
  throw ret;
}

/** Runs `call`; an error listed in `autoretryFor` becomes a retry (Celery's autoretry wrapper). */
export function withAutoretry(self: BoundTask, runtime: TaskRuntime, call: () => Promise<unknown>): Promise<unknown> {
  // not through an async function when there is nothing to catch: it would add promises to every task
  return runtime.autoretryFor.length === 0 ? call() : autoretrying(self, runtime, call);
}

async function autoretrying(self: BoundTask, runtime: TaskRuntime, call: () => Promise<unknown>): Promise<unknown> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof Ignore || err instanceof Retry) throw err;
    if (!runtime.autoretryFor.some((C) => err instanceof C)) throw err;
    const opts: RetryOptions = { exc: err };
    if (runtime.retryBackoff) {
      const factor = Math.trunc(Math.max(1, Number(runtime.retryBackoff)));
      opts.countdown = exponentialBackoff(factor, self.request.retries, Math.trunc(runtime.retryBackoffMax), runtime.retryJitter);
    }
    if (self.overrideMaxRetries !== undefined) opts.maxRetries = self.overrideMaxRetries;
    return self.retry(opts);
  }
}
