/**
 * Sending tasks: Celery's `Celery.send_task` + `AMQP.send_task_message` + kombu's `Producer.publish`
 * (with `Connection.ensure` retries) over a {@link Broker}.
 *
 * The pure parts are exported for tests: {@link normalizeSendOptions} (apply_async options, snake_case
 * or camelCase, validated once) and {@link buildTaskMessage} (routing + message + encoding, no I/O).
 * {@link publishTask} does the I/O.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { hostname } from 'node:os';
import { v3 as uuidv3, v4 as uuid4 } from 'uuid';
import { encodeTaskMessage } from '../protocol/message.ts';
import { createTaskMessage, type CreateTaskOptions } from '../protocol/task.ts';
import type { RawMessage, TaskMessage } from '../protocol/types.ts';
import { isPlainObject, type PyDict, type PyValue } from '../protocol/values.ts';
import type { Broker, PublishTarget } from './broker.ts';
import type { ResultBackend } from './backend.ts';
import { resolveRetryPolicy, toSnakeCase, type RetryPolicy, type Settings } from './config.ts';
import { ConfigurationError, OperationalError, isConnectionError } from './errors.ts';
import { withCountdown, type RouteResult, type Router, type StaticRoute } from './routing.ts';
import { normalizeSendOptions, type NormalizedSendOptions, type SendTaskOptions } from './send-options.ts';
import { tracingHooks } from './tracing/hooks.ts';
import { uuid4 as fastUuid4 } from './uuid4.ts';

export { normalizeSendOptions };
export type { NormalizedSendOptions, SendTaskOptions };

/** The request of the task that is sending (Celery's `current_worker_task.request`). */
export interface TaskContext {
  /** The running task's id (becomes `parent_id`). */
  id: string;
  /** Its `root_id` (becomes `root_id`; the task's own id when null). */
  root_id?: string | null;
  rootId?: string | null;
  /** Its delivery info; `priority` is inherited with `task_inherit_parent_priority`. */
  delivery_info?: { priority?: number | null } | null;
  deliveryInfo?: { priority?: number | null } | null;
  /** Its trail (`request.children`): the sending app appends each result it adds to the parent (`add_to_parent`). */
  children?: unknown[];
}

const taskContext = new AsyncLocalStorage<TaskContext>();

/**
 * Runs `fn` as "inside task `ctx`": tasks sent from it (directly or in awaited code) get
 * `parent_id`/`root_id` from `ctx`, as Celery does for `current_worker_task`. Used by the worker.
 */
export function runInTaskContext<T>(ctx: TaskContext, fn: () => T): T {
  return taskContext.run(ctx, fn);
}

/** The task running in the current async context, if any. */
export function currentTaskContext(): TaskContext | undefined {
  return taskContext.getStore();
}

/** What the producer needs from its app. */
export interface ProducerContext {
  readonly settings: Settings;
  readonly router: Router;
  /** `gen<pid>@<hostname>` (Celery's `anon_nodename`). */
  readonly origin: string;
  /** The default `reply_to` (Celery's `app.thread_oid`). */
  readonly oid: string;
}

/** A message ready to publish. */
export interface PreparedTask {
  id: string;
  message: TaskMessage;
  raw: RawMessage;
  target: PublishTarget;
  route: RouteResult;
  ignoreResult: boolean;
  retry: boolean;
  retryPolicy: Readonly<RetryPolicy>;
}

/** The node name Celery puts in `origin` for a non-worker process: `gen<pid>@<hostname>`. */
export function anonNodename(host: string = hostname()): string {
  return `gen${process.pid}@${host}`;
}

/** kombu's `NAMESPACE_OID` (uuid3 namespace of `oid_from`). */
const NAMESPACE_OID = '6ba7b812-9dad-11d1-80b4-00c04fd430c8';

/** A uuid3 per app instance, like Celery's `app.oid` (node, pid, and a per-instance random part). */
export function generateOid(host: string = hostname()): string {
  return uuidv3(`${host}-${process.pid.toString(16)}-0-${uuid4()}`, NAMESPACE_OID);
}

function routeOptions(o: NormalizedSendOptions): Record<string, unknown> {
  // what Celery's router sees: the snake_case options (not the message-only ones)
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || k === 'parent' || k === 'addToParent' || k === 'link' || k === 'linkError' || k === 'chain' || k === 'chord') continue;
    out[toSnakeCase(k)] = v;
  }
  return out;
}

const NO_EXTRAS: NormalizedSendOptions = Object.freeze({});
const EXTRAS = new WeakMap<object, NormalizedSendOptions | null>();

/**
 * The normalized options a static route adds (`NO_EXTRAS` when none), or null when the general path
 * must decide: a key not in snake_case (it could clash with the caller's spelling of the same option)
 * or a value that does not validate (the caller's option may override it, or the error must come
 * from the general path).
 */
function normalizedExtras(extras: Readonly<Record<string, unknown>>, name: string): NormalizedSendOptions | null {
  let n = EXTRAS.get(extras);
  if (n === undefined) {
    n = null;
    const keys = Object.keys(extras);
    if (keys.length === 0) n = NO_EXTRAS;
    else if (keys.every((k) => k === toSnakeCase(k))) {
      try {
        n = Object.freeze(normalizeSendOptions(extras, `route option for ${name}`));
      } catch {
        n = null;
      }
    }
    EXTRAS.set(extras, n);
  }
  return n;
}

/** A {@link RouteResult} from a {@link StaticRoute}; `options` (rarely read) is computed on demand. */
class StaticRouteResult implements RouteResult {
  readonly queue: StaticRoute['queue'];
  readonly target: PublishTarget;
  readonly deliveryMode: number;
  readonly #extras: Readonly<Record<string, unknown>>;
  readonly #options: NormalizedSendOptions;
  #merged: Record<string, unknown> | undefined;
  constructor(fixed: StaticRoute, options: NormalizedSendOptions) {
    this.queue = fixed.queue;
    this.target = fixed.target as PublishTarget;
    this.deliveryMode = fixed.deliveryMode;
    this.#extras = fixed.extras;
    this.#options = options;
  }
  get options(): Record<string, unknown> {
    if (!this.#merged) {
      // what Router.route returns: lpmerge(route, options) without the addressing keys
      const out: Record<string, unknown> = { ...this.#extras };
      for (const [k, v] of Object.entries(routeOptions(this.#options))) {
        if (v !== null && v !== undefined && !ADDRESSING.has(k)) out[k] = v;
      }
      this.#merged = out;
    }
    return this.#merged;
  }
}
const ADDRESSING = new Set(['queue', 'exchange', 'routing_key', 'exchange_type', 'delivery_mode']);

/**
 * Route, build and encode one task message, without I/O (Celery's `send_task` up to the publish).
 * `argsAsTuple` shows args as `(2, 3)` in `argsrepr` (like `task.delay(2, 3)`), else as `[2, 3]`.
 */
export function buildTaskMessage(
  ctx: ProducerContext,
  name: string,
  args: readonly PyValue[] = [],
  kwargs: PyDict = {},
  options: SendTaskOptions | Record<string, unknown> = {},
  extra: { task?: unknown; argsAsTuple?: boolean; now?: Date } = {},
): PreparedTask {
  if (typeof name !== 'string' || name === '') throw new ConfigurationError('task name must be a non-empty string');
  if (!Array.isArray(args)) throw new ConfigurationError(`args of ${name} must be an array, got ${typeof args}`);
  if (!isPlainObject(kwargs)) throw new ConfigurationError(`kwargs of ${name} must be a plain object`);
  const { settings } = ctx;
  let o = normalizeSendOptions(options);
  // Task.apply_async: options.setdefault('priority', task_default_priority) before routing
  if (o.priority === undefined && settings.taskDefaultPriority) o.priority = settings.taskDefaultPriority;

  let route: RouteResult | undefined;
  const fixed = ctx.router.staticRoute?.(name, o.queue, o.exchange, o.routingKey, o.exchangeType, o.deliveryMode);
  if (fixed) {
    // the same outcome as below, remembered: `route.options` would be lpmerge(extras, options), and
    // normalizing it then letting the caller's options win leaves the extras the caller did not set
    const fromRoute = normalizedExtras(fixed.extras, name);
    if (fromRoute !== null) {
      route = new StaticRouteResult(fixed, o);
      if (fromRoute !== NO_EXTRAS) o = { ...fromRoute, ...o };
    }
  }
  if (route === undefined) {
    route = ctx.router.route(name, routeOptions(o), args, kwargs, extra.task);
    // a route may add priority, serializer, compression... (caller's options win: lpmerge)
    const fromRoute = normalizeSendOptions(route.options, `route option for ${name}`);
    o = { ...fromRoute, ...o };
  }

  const id = o.taskId ?? fastUuid4();
  let rootId = o.rootId;
  let parentId = o.parentId;
  let priority = o.priority;
  if (!rootId || !parentId) {
    const parent = o.parent ?? (o.parent === null ? undefined : currentTaskContext());
    if (parent) {
      rootId ||= parent.root_id || parent.rootId || parent.id;
      parentId ||= parent.id;
      if (settings.taskInheritParentPriority && priority === undefined) {
        const p = (parent.delivery_info ?? parent.deliveryInfo)?.priority;
        if (typeof p === 'number') priority = p;
      }
    }
  }
  const ignoreResult = o.ignoreResult ?? settings.taskIgnoreResult;
  const deliveryInfo = { exchange: route.target.exchange, routing_key: route.target.routingKey };

  const create: CreateTaskOptions = {
    task: name,
    id,
    args: [...args],
    kwargs,
    replyTo: o.replyTo ?? ctx.oid,
    origin: ctx.origin,
    ignoreResult,
    deliveryMode: route.deliveryMode,
    priority: priority ?? 0,
    argsAsTuple: extra.argsAsTuple ?? false,
    deliveryInfo,
  };
  if (extra.now) create.now = extra.now;
  if (o.countdown !== undefined) create.countdown = o.countdown;
  if (o.eta !== undefined) create.eta = o.eta;
  if (o.expires !== undefined) create.expires = o.expires;
  if (o.groupId !== undefined) create.group = o.groupId;
  if (o.groupIndex !== undefined) create.groupIndex = o.groupIndex;
  if (o.retries !== undefined) create.retries = o.retries;
  if (o.timeLimit !== undefined) create.timeLimit = o.timeLimit;
  if (o.softTimeLimit !== undefined) create.softTimeLimit = o.softTimeLimit;
  if (rootId) create.rootId = rootId;
  if (parentId) create.parentId = parentId;
  if (o.shadow !== undefined) create.shadow = o.shadow;
  if (o.replacedTaskNesting !== undefined) create.replacedTaskNesting = o.replacedTaskNesting;
  if (o.stamps !== undefined) create.stamps = o.stamps;
  if (o.stampedHeaders !== undefined) create.stampedHeaders = o.stampedHeaders;
  if (o.headers !== undefined) create.headers = o.headers;
  if (o.link !== undefined) create.callbacks = o.link;
  if (o.linkError !== undefined) create.errbacks = o.linkError;
  if (o.chain !== undefined) create.chain = o.chain;
  if (o.chord !== undefined) create.chord = o.chord;
  if (o.argsrepr !== undefined) create.argsrepr = o.argsrepr;
  if (o.kwargsrepr !== undefined) create.kwargsrepr = o.kwargsrepr;

  const message = createTaskMessage(create);
  const raw = encodeTaskMessage(message, {
    serializer: o.serializer ?? settings.taskSerializer,
    compression: o.compression ?? settings.taskCompression,
    deliveryInfo,
  });
  return {
    id,
    message,
    raw,
    // native delayed delivery (AMQP + quorum queues) needs the delay: see withCountdown in routing.ts
    target: o.countdown === undefined && o.eta === undefined ? route.target : withCountdown(route.target, o.countdown, o.eta, extra.now),
    route,
    ignoreResult,
    retry: o.retry ?? settings.taskPublishRetry,
    retryPolicy: resolveRetryPolicy('retry_policy', o.retryPolicy, settings.taskPublishRetryPolicy),
  };
}

/** kombu's `fxrange(start, max + start, step, repeatlast=True)`: the waits between publish retries. */
export function* retryIntervals(policy: Readonly<RetryPolicy>): Generator<number> {
  const stop = policy.intervalMax + policy.intervalStart;
  let cur = policy.intervalStart;
  for (;;) {
    if (!stop || cur <= stop + 1e-9) {
      yield cur;
      cur += policy.intervalStep;
    } else {
      yield cur - policy.intervalStep;
    }
  }
}

function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  if (seconds <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, seconds * 1000);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface PublishOptions {
  retry: boolean;
  retryPolicy: Readonly<RetryPolicy>;
  /** Called before each retry with the error and the wait in seconds (kombu's `errback`). */
  onRetry?: (err: unknown, interval: number, retries: number) => void;
  signal?: AbortSignal;
  /**
   * Called before each attempt (connects the broker; its connection errors are retried too). May return
   * nothing when the broker is known to be connected already.
   */
  connect?: () => Promise<void> | void;
}

/**
 * `broker.publish` with kombu's `ensure` semantics: a connection error is retried after the next
 * interval of the policy until `max_retries` retries were made (null: forever), then an
 * {@link OperationalError} carries the last error. Other errors (e.g. encoding, routing) are not retried.
 * Without `retry`, a connection error becomes an {@link OperationalError} at once.
 */
export function publishWithRetry(broker: Broker, raw: RawMessage, target: PublishTarget, options: PublishOptions): Promise<void> {
  return publishFirst(broker, raw, target, options.connect).then(undefined, (err: unknown) => retryPublish(err, broker, raw, target, options));
}

/** The first attempt, without an async frame (most publishes succeed at once); every failure is a rejection. */
function publishFirst(broker: Broker, raw: RawMessage, target: PublishTarget, connect: PublishOptions['connect']): Promise<void> {
  try {
    // nothing to wait for once connected (saves a tick per publish)
    const connecting = connect?.();
    return connecting ? connecting.then(() => broker.publish(raw, target)) : broker.publish(raw, target);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** The retry loop of {@link publishWithRetry} after the first attempt failed with `first`. */
async function retryPublish(first: unknown, broker: Broker, raw: RawMessage, target: PublishTarget, options: PublishOptions): Promise<void> {
  let intervals: Generator<number> | undefined;
  const max = options.retryPolicy.maxRetries;
  for (let retries = 0; ; retries++) {
    let err: unknown = first;
    if (retries > 0) {
      try {
        if (options.connect) {
          const connecting = options.connect();
          if (connecting) await connecting;
        }
        await broker.publish(raw, target);
        return;
      } catch (e) {
        err = e;
      }
    }
    // the transport's word on the message: 'uncertain' (maybe delivered) is never retried
    const delivery = (err as { delivery?: unknown } | null)?.delivery;
    const uncertain = delivery === 'uncertain';
    if (!uncertain && !isConnectionError(err)) throw err;
    if (uncertain || !options.retry || (max !== null && retries >= max)) {
      throw new OperationalError(
        `cannot publish to ${broker.safeUrl} (exchange ${JSON.stringify(target.exchange)}, routing key ${JSON.stringify(target.routingKey)})` +
          `${options.retry && !(uncertain && retries === 0) ? ` after ${retries} retries` : ''}: ${(err as Error).message}`,
        { cause: err, retries, delivery: uncertain || delivery === 'not-sent' ? delivery : undefined },
      );
    }
    intervals ??= retryIntervals(options.retryPolicy);
    const interval = intervals.next().value as number;
    options.onRetry?.(err, interval, retries);
    await sleep(interval, options.signal);
  }
}

function publishOptionsOf(prepared: PreparedTask, options: Pick<PublishOptions, 'onRetry' | 'signal' | 'connect'>): PublishOptions {
  return { ...options, retry: prepared.retry, retryPolicy: prepared.retryPolicy };
}

/** Publish a prepared task: `backend.onTaskCall` first (unless ignore_result), then the retried publish. */
export function publishTask(
  prepared: PreparedTask,
  broker: Broker,
  backend: ResultBackend | null,
  options: Pick<PublishOptions, 'onRetry' | 'signal' | 'connect'> = {},
): Promise<void> {
  return publishTaskThen(prepared, broker, backend, options, noop);
}

function noop(): void {}

/**
 * {@link publishTask}, resolving with `published()` once the message is published: one promise less
 * per send than `publishTask(...).then(published)`.
 */
export function publishTaskThen<T>(
  prepared: PreparedTask,
  broker: Broker,
  backend: ResultBackend | null,
  options: Pick<PublishOptions, 'onRetry' | 'signal' | 'connect'>,
  published: () => T,
): Promise<T> {
  const tracing = tracingHooks();
  if (tracing) return tracing.publish(prepared, () => publishUntraced(prepared, broker, backend, options, published));
  return publishUntraced(prepared, broker, backend, options, published);
}

function publishUntraced<T>(
  prepared: PreparedTask,
  broker: Broker,
  backend: ResultBackend | null,
  options: Pick<PublishOptions, 'onRetry' | 'signal' | 'connect'>,
  published: () => T,
): Promise<T> {
  // not async (one promise less per send), but still reports every failure as a rejection
  try {
    const declared = !prepared.ignoreResult && backend ? backend.onTaskCall?.(prepared.id) : undefined;
    // a promise (the RPC backend declaring its reply queue): publish once it is declared
    if (declared) return declared.then(() => publishWithRetry(broker, prepared.raw, prepared.target, publishOptionsOf(prepared, options))).then(published);
    const { raw, target } = prepared;
    // the first attempt needs none of the retry options: they are gathered only if it fails
    return publishFirst(broker, raw, target, options.connect).then(published, (err: unknown) =>
      retryPublish(err, broker, raw, target, publishOptionsOf(prepared, options)).then(published));
  } catch (err) {
    return Promise.reject(err);
  }
}
