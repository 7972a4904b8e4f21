/**
 * The app: Celery's `Celery` object in TypeScript. It holds the resolved settings, creates the broker
 * and the result backend lazily from their URLs, sends tasks (`sendTask`, task handles' `delay` /
 * `applyAsync`) and reads results (`AsyncResult`).
 *
 *   const app = new Celery({ broker_url: 'redis://localhost:6379/0', result_backend: 'redis://localhost:6379/1' });
 *   const add = app.task<[number, number], number>('tasks.add');   // a task implemented in Python
 *   const r = await add.delay(2, 3);
 *   console.log(await r.get({ timeout: 10 }));                      // 5
 *   await app.close();
 *
 * Tasks declared with an implementation (`app.task('ts.mul', (x: number, y: number) => x * y)`) are
 * registered in `app.tasks` for a worker on this app to run.
 */
import { chain as chainSig, chord as chordDict, chunks as chunksSig, cloneSignature, group as groupDict, immutableSignature, signature, xmap, xstarmap } from '../protocol/canvas.ts';
import { LamportClock } from '../protocol/events.ts';
import { asTuple, type ResultRef } from '../protocol/result.ts';
import type { SignatureDict } from '../protocol/types.ts';
import { isPlainObject, type PyDict, type PyValue } from '../protocol/values.ts';
import type { Broker, QueueDeclaration } from './broker.ts';
import type { ResultBackend } from './backend.ts';
import { createBackend as defaultCreateBackend, type BackendOptions } from './backends/index.ts';
import { createBroker as defaultCreateBroker } from './brokers/index.ts';
import { layerSettings, resolveConfig, toCamelCase, toSnakeCase, type Settings, type SettingsInput } from './config.ts';
import { configModuleSettings, settingsOf } from './config-module.ts';
import { checkTaskCall } from './bind-args.ts';
import { splitKwargs, type Kwargs } from './kwargs.ts';
import { parseParams, taskParams, type TaskParams } from './task-params.ts';
import { ConfigurationError } from './errors.ts';
import { withSecurity } from './security.ts';
import {
  anonNodename, buildTaskMessage, currentTaskContext, generateOid, normalizeSendOptions, publishTask, publishTaskThen,
  type NormalizedSendOptions, type PreparedTask, type SendTaskOptions, type TaskContext,
} from './producer.ts';
import { Control } from './control.ts';
import { AppEvents } from './events/index.ts';
import { AsyncResult, GroupResult, resultFromTuple } from './result.ts';
import { applyAsync as applyCanvas, chunksGroup } from './canvas/apply.ts';
import { linkError as linkErrorTo } from './canvas/freeze.ts';
import { registerBuiltins } from './worker/builtins.ts';
import { createRouter, type Router } from './routing.ts';

/** Options of {@link Celery} / {@link createApp}: any setting (snake_case or camelCase) plus these. */
export interface AppOptions extends SettingsInput {
  /** The app's name (Celery's `main`), used in logs. @default null */
  main?: string;
  /** Alias of `broker_url` (Celery's `Celery(broker=...)`). */
  broker?: string;
  /** Alias of `result_backend` (Celery's `Celery(backend=...)`). */
  backend?: string;
  /** Environment for `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND`. @default process.env */
  env?: Record<string, string | undefined>;
  /** Transport factory (tests, custom transports). @default createBroker from src/brokers */
  createBroker?: (url: string, transportOptions: Record<string, unknown>, context?: BrokerContext) => Broker;
  /** Result backend factory. @default createBackend from src/backends */
  createBackend?: (url: string | null, options: BackendOptions) => ResultBackend;
  /** Any other Celery setting (validated by {@link resolveConfig}). */
  [setting: string]: unknown;
}

/** What the app gives a transport factory besides the URL: its settings and known queues. */
export interface BrokerContext {
  settings: Settings;
  queues: () => QueueDeclaration[];
}

const APP_KEYS = new Set(['main', 'broker', 'backend', 'env', 'createBroker', 'createBackend']);

/** Worker-side task attributes (Celery's `Task` class attributes) a TypeScript task may declare. */
const WORKER_TASK_OPTIONS = [
  'acks_late', 'acks_on_failure_or_timeout', 'track_started', 'reject_on_worker_lost', 'max_retries',
  'default_retry_delay', 'rate_limit', 'bind', 'autoretry_for', 'retry_backoff', 'retry_backoff_max',
  'retry_jitter', 'store_errors_even_if_ignored', 'typing',
] as const;

/**
 * A task's defaults (Celery's task attributes): the send options that apply to every call
 * (`queue`, `priority`, `time_limit`, ...; call options override them) and worker-side attributes.
 */
export interface TaskOptions extends Pick<
  SendTaskOptions,
  | 'queue' | 'exchange' | 'exchangeType' | 'exchange_type' | 'routingKey' | 'routing_key' | 'priority' | 'expires'
  | 'serializer' | 'compression' | 'timeLimit' | 'time_limit' | 'softTimeLimit' | 'soft_time_limit'
  | 'deliveryMode' | 'delivery_mode' | 'ignoreResult' | 'ignore_result' | 'shadow' | 'retry' | 'retryPolicy' | 'retry_policy'
  | 'headers'
> {
  acksLate?: boolean;
  acks_late?: boolean;
  acksOnFailureOrTimeout?: boolean;
  acks_on_failure_or_timeout?: boolean;
  trackStarted?: boolean;
  track_started?: boolean;
  rejectOnWorkerLost?: boolean;
  reject_on_worker_lost?: boolean;
  maxRetries?: number | null;
  max_retries?: number | null;
  defaultRetryDelay?: number;
  default_retry_delay?: number;
  rateLimit?: string | number | null;
  rate_limit?: string | number | null;
  /** The implementation gets the task context as its first argument (Celery's `bind=True`). */
  bind?: boolean;
  autoretryFor?: readonly (abstract new (...args: never[]) => Error)[];
  autoretry_for?: readonly (abstract new (...args: never[]) => Error)[];
  retryBackoff?: boolean | number;
  retry_backoff?: boolean | number;
  retryBackoffMax?: number;
  retry_backoff_max?: number;
  retryJitter?: boolean;
  retry_jitter?: boolean;
  storeErrorsEvenIfIgnored?: boolean;
  store_errors_even_if_ignored?: boolean;
  /**
   * `typing` (Celery's, default true): `delay`/`applyAsync` check the arguments against the task's
   * parameters before sending, and throw Python's `TypeError` for a wrong call.
   */
  typing?: boolean;
  /**
   * The task's parameters as Python writes a signature, for a function whose parameter list cannot be
   * read (destructuring, bundled code) or to take keyword-only / `**kwargs` arguments, or for a task
   * implemented in Python (the producer then checks calls): `['x', 'y=', '*args', 'k=', '**kwargs']` or
   * `'x, y=, *args, k=, **kwargs'` (`name=` optional, `*` starts keyword-only ones; keyword-only values
   * and `**kwargs` extras reach the function as one trailing object). See src/task-params.ts.
   */
  params?: string | readonly string[];
}

/** A task registered on the app (the worker looks implementations up here). */
export interface RegisteredTask {
  readonly name: string;
  /** The implementation, when the task is implemented in TypeScript. */
  fn: ((...args: never[]) => unknown) | undefined;
  /** Send options applied to every call (validated, camelCase). */
  readonly sendDefaults: NormalizedSendOptions;
  /** Worker-side attributes (camelCase), e.g. `acksLate`, `maxRetries`. */
  readonly workerOptions: Readonly<Record<string, unknown>>;
  /** The parameters arguments bind to, Python's way (read from `fn`, or declared); null when unknown. */
  params: TaskParams | null;
}

/**
 * A typed handle to a task, declared in TypeScript, implemented here or in Python. `Args` types the
 * positional arguments, `R` the result, `Kw` the keyword arguments (by name, as Python callers pass them).
 */
export interface TaskHandle<Args extends unknown[] = unknown[], R = unknown, Kw extends PyDict = PyDict> {
  readonly name: string;
  readonly app: Celery;
  /** The implementation, when declared with one. */
  readonly fn: ((...args: Args) => R | Promise<R>) | undefined;
  /** `task.delay(*args)`: send with positional arguments and the task's defaults. */
  delay(...args: Args): Promise<AsyncResult<R>>;
  /** `task.delay(*args, **kwargs)`: keyword arguments as a last `kw({...})`, e.g. `add.delay(2, kw({ y: 3 }))`. */
  delay(...args: [...PyValue[], Kwargs<Partial<Kw>>]): Promise<AsyncResult<R>>;
  /** `task.apply_async(args, kwargs, **options)`. */
  applyAsync(args?: Args, kwargs?: Partial<Kw>, options?: SendTaskOptions): Promise<AsyncResult<R>>;
  /** `task.apply_async(args, kwargs, **options)` with some arguments by keyword: `add.applyAsync([2], { y: 3 })`. */
  applyAsync(args: Partial<Args>, kwargs: Partial<Kw>, options?: SendTaskOptions): Promise<AsyncResult<R>>;
  /** `task.s(*args)`: a signature (for link, chain, group, chord). */
  s(...args: Partial<Args>): SignatureDict;
  /** `task.s(*args, **kwargs)`: a partial signature with keywords, e.g. `add.s(kw({ y: 2 }))`. */
  s(...args: [...PyValue[], Kwargs<Partial<Kw>>]): SignatureDict;
  /** `task.si(*args)`: an immutable signature (ignores the parent's result). */
  si(...args: Args): SignatureDict;
  /** `task.si(*args, **kwargs)`. */
  si(...args: [...PyValue[], Kwargs<Partial<Kw>>]): SignatureDict;
  /** `task.signature(args, kwargs, options)`. */
  signature(args?: Partial<Args>, kwargs?: PyDict, options?: PyDict): SignatureDict;
  /** `task.map(it)`: one `celery.map` task calling this task for each item (in the worker that runs it). */
  map(it: readonly PyValue[]): SignatureDict;
  /** `task.starmap(it)`: `celery.starmap`, each item spread as arguments. */
  starmap(it: readonly PyValue[][]): SignatureDict;
  /** `task.chunks(it, n)`: applied, a group of `celery.starmap` tasks of `n` items each. */
  chunks(it: readonly PyValue[][], n: number): SignatureDict;
}

export class Celery {
  /** The resolved settings (Celery's `app.conf`); {@link configFromObject} replaces them. */
  get conf(): Settings {
    return this.settings;
  }
  readonly main: string | null;
  /** `gen<pid>@<hostname>`, sent as `origin`. */
  readonly origin: string;
  /** A uuid3 per app instance, the default `reply_to` (Celery's `app.thread_oid`). */
  readonly oid: string;
  /** Tasks declared on this app, by name. */
  readonly tasks = new Map<string, RegisteredTask>();
  /** The app's Lamport clock (Celery's `app.clock`): events, remote control. */
  readonly clock = new LamportClock();

  private readonly brokerFactory: NonNullable<AppOptions['createBroker']>;
  private readonly backendFactory: NonNullable<AppOptions['createBackend']>;
  private settings: Settings;
  /** The settings given to the constructor (Celery's `preconf`): above any config module. */
  private readonly ownSettings: Record<string, unknown>;
  private given: readonly string[] = [];
  private readonly env: Record<string, string | undefined>;
  private routerInstance: Router | null = null;
  private brokerInstance: Broker | null = null;
  private brokerConnecting: Promise<void> | null = null;
  /** `brokerConnecting` has resolved: publishing need not wait for it. */
  private brokerConnected = false;
  /** What every publish of `send` passes (connecting the broker first, unless it is connected). */
  private readonly publishOptions = {
    connect: (): Promise<void> | undefined => (this.brokerConnected ? undefined : this.connectBroker()),
  };
  private backendInstance: ResultBackend | null = null;
  private closed = false;
  private controlInstance: Control | null = null;
  private eventsInstance: AppEvents | null = null;

  constructor(options: AppOptions = {}) {
    if (!isPlainObject(options)) throw new ConfigurationError('Celery options must be an object');
    const settings: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) if (!APP_KEYS.has(k)) settings[k] = v;
    if (options.broker !== undefined) {
      if (settings.broker_url !== undefined || settings.brokerUrl !== undefined) throw new ConfigurationError('give broker or broker_url, not both');
      settings.broker_url = options.broker;
    }
    if (options.backend !== undefined) {
      if (settings.result_backend !== undefined || settings.resultBackend !== undefined) throw new ConfigurationError('give backend or result_backend, not both');
      settings.result_backend = options.backend;
    }
    this.ownSettings = settings;
    this.env = options.env ?? process.env;
    // CELERY_CONFIG_MODULE (the CLI's --config) is read when the app is created, as Celery's loader does
    const configModule = this.env.CELERY_CONFIG_MODULE;
    this.settings = configModule ? this.resolveWith(configModuleSettings(configModule), `config module ${configModule}`) : this.resolveWith({}, '');
    this.main = options.main ?? null;
    this.origin = anonNodename();
    this.oid = generateOid();
    this.brokerFactory = options.createBroker ?? defaultCreateBroker;
    this.backendFactory = options.createBackend ?? ((url, o) => defaultCreateBackend(url, o));
    registerBuiltins(this);
  }

  private resolveWith(base: Record<string, unknown>, source: string): Settings {
    const layers = [{ source, settings: base }, { source: '', settings: this.ownSettings }];
    const input = layerSettings(layers);
    const env = ['CELERY_BROKER_URL', 'CELERY_RESULT_BACKEND'].filter((k) => this.env[k]).map((k) => k.slice(7).toLowerCase());
    this.given = [...new Set([...Object.keys(input).map(toSnakeCase), ...env])];
    return withSecurity(resolveConfig(input, { env: this.env })); // task_serializer/accept_content 'auth': message signing
  }

  /** Celery's names of the settings given (constructor, config module, environment): `conf.without_defaults()`. */
  get changedSettings(): readonly string[] {
    return this.given;
  }

  /**
   * Celery's `app.config_from_object(obj)`: take settings from a module namespace or an object (see
   * src/config-module.ts for which exports count), below the settings given to the constructor and
   * the environment, replacing any earlier config object or `CELERY_CONFIG_MODULE`. Call it before the
   * app connects or sends.
   *
   *   app.configFromObject(await import('./celeryconfig.ts'));
   */
  configFromObject(source: object): this {
    if (this.brokerInstance || this.backendInstance) {
      throw new ConfigurationError('configFromObject(): the app already created its broker or result backend; configure it before it sends or connects');
    }
    this.settings = this.resolveWith(settingsOf(source, 'configFromObject()'), 'configFromObject()');
    this.routerInstance = null;
    return this;
  }

  /** The task router (queues from `task_queues`, routes from `task_routes`). */
  get router(): Router {
    return (this.routerInstance ??= createRouter(this.conf));
  }

  /** The broker (created on first use; connects on the first publish). */
  get broker(): Broker {
    this.assertOpen();
    // the AMQP transport also reads its settings and the known queues (quorum detection, delayed delivery)
    return (this.brokerInstance ??= this.brokerFactory(this.conf.brokerUrl, { ...this.conf.brokerTransportOptions }, { settings: this.conf, queues: () => this.router.queues() }));
  }

  /** The result backend (created on first use; `DisabledBackend` when `result_backend` is not set). */
  get backend(): ResultBackend {
    this.assertOpen();
    if (!this.backendInstance) {
      const c = this.conf;
      const options: BackendOptions = {
        result_expires: c.resultExpires,
        result_serializer: c.resultSerializer,
        result_accept_content: c.resultAcceptContent,
        accept_content: c.acceptContent,
        result_backend_transport_options: { ...c.resultBackendTransportOptions },
        redis_backend_use_ssl: c.redisBackendUseSsl,
        // rpc://: replies travel through the broker to the queue named after the app's oid (reply_to),
        // on a connection opened with the broker's settings (Celery's rpc backend uses the broker connection)
        broker_url: c.brokerUrl,
        broker_use_ssl: c.brokerUseSsl,
        broker_heartbeat: c.brokerHeartbeat,
        broker_connection_timeout: c.brokerConnectionTimeout,
        oid: this.oid,
        result_persistent: c.resultPersistent,
      };
      this.backendInstance = this.backendFactory(c.resultBackend, options);
    }
    return this.backendInstance;
  }

  private assertOpen(): void {
    if (this.closed) throw new ConfigurationError('this Celery app is closed');
  }

  /**
   * Connect the broker once, within `broker_connection_timeout`; a failed attempt is forgotten so the
   * next publish (or publish retry) tries again.
   */
  private connectBroker(): Promise<void> {
    if (!this.brokerConnecting) {
      this.brokerConnected = false;
      const broker = this.broker;
      const seconds = this.conf.brokerConnectionTimeout;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(
          new Error(`connecting to ${broker.safeUrl} timed out after ${seconds} s (broker_connection_timeout)`),
          { code: 'ETIMEDOUT' },
        )), seconds * 1000);
      });
      const p = seconds > 0 ? Promise.race([broker.connect(), timeout]) : broker.connect();
      void p.finally(() => clearTimeout(timer)).catch(() => undefined);
      this.brokerConnecting = p;
      p.then(
        () => {
          if (this.brokerConnecting === p) this.brokerConnected = true;
        },
        () => {
          if (this.brokerConnecting === p) this.brokerConnecting = null;
        },
      );
    }
    return this.brokerConnecting;
  }

  /** Route, build and encode a task message without sending it (what `sendTask` would publish). */
  prepareTask(name: string, args: readonly PyValue[] = [], kwargs: PyDict = {}, options: SendTaskOptions = {}, extra: { task?: unknown; argsAsTuple?: boolean } = {}): PreparedTask {
    return buildTaskMessage({ settings: this.conf, router: this.router, origin: this.origin, oid: this.oid }, name, args, kwargs, options, extra);
  }

  /**
   * Send a task by name (Celery's `app.send_task`): the worker that serves the routed queue runs it,
   * whatever language it is written in. Resolves once the broker accepted the message.
   */
  sendTask<R = unknown>(name: string, args: readonly PyValue[] = [], kwargs: PyDict = {}, options: SendTaskOptions = {}): Promise<AsyncResult<R>> {
    // not async itself: `send` is, so every failure is still a rejection (and there is one promise less)
    return this.send<R>(name, args, kwargs, options, {});
  }

  private send<R>(name: string, args: readonly PyValue[], kwargs: PyDict, options: SendTaskOptions, extra: { task?: unknown; argsAsTuple?: boolean }): Promise<AsyncResult<R>> {
    try {
      this.assertOpen();
      const prepared = this.prepareTask(name, args, kwargs, options, extra);
      const backend = prepared.ignoreResult || this.conf.resultBackend === null ? null : this.backend;
      const o = options as { addToParent?: boolean; add_to_parent?: boolean; parent?: TaskContext | null };
      if (this.conf.taskSendSentEvent || ((o.addToParent ?? o.add_to_parent) !== false && (o.parent ?? currentTaskContext()))) {
        return this.afterSend<R>(publishTask(prepared, this.broker, backend, this.publishOptions), prepared, o);
      }
      const id = prepared.id;
      return publishTaskThen(prepared, this.broker, backend, this.publishOptions, () => this.AsyncResult<R>(id));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async afterSend<R>(published: Promise<void>, prepared: PreparedTask, o: { addToParent?: boolean; add_to_parent?: boolean; parent?: TaskContext | null }): Promise<AsyncResult<R>> {
    await published;
    if (this.conf.taskSendSentEvent) await this.events.taskSent(prepared);
    // Celery's add_to_parent: the sending task's trail (its stored `children`) gets this result
    if ((o.addToParent ?? o.add_to_parent) !== false) {
      const parent = o.parent === undefined ? currentTaskContext() : o.parent;
      parent?.children?.push(asTuple(prepared.id));
    }
    return this.AsyncResult<R>(prepared.id);
  }

  /** A result handle for a task id (Celery's `app.AsyncResult(id)`). */
  AsyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this.backend, { control: this.control });
  }

  /** Remote control (Celery's `app.control`): `inspect()`, `ping`, `revoke`, every control command, `broadcast`. */
  get control(): Control {
    this.controlInstance ??= new Control(async () => {
      await this.connectBroker();
      return this.broker;
    }, () => this.conf, this.clock);
    return this.controlInstance;
  }

  /** Events (Celery's `app.events`): `Dispatcher`, `receiver`, the producer's `task-sent`. */
  get events(): AppEvents {
    return (this.eventsInstance ??= new AppEvents(this));
  }

  /** A signature of a task by name (Celery's `app.signature`). */
  signature(name: string, args: readonly PyValue[] = [], kwargs: PyDict = {}, options: PyDict = {}): SignatureDict {
    return signature(name, args, kwargs, options);
  }

  /** `chain(*sigs, **options)`: each step gets the previous step's result as its first argument. */
  chain(...steps: SignatureDict[]): SignatureDict {
    return chainSig(steps);
  }

  /** `group(sigs, **options)`: run in parallel; the result is a {@link GroupResult}. */
  group(tasks: readonly SignatureDict[], options: PyDict = {}): SignatureDict {
    return groupDict(tasks, options);
  }

  /** `chord(header, body)`: the body is called with the header's results, in header order. */
  chord(header: readonly SignatureDict[] | SignatureDict, body: SignatureDict, options: PyDict = {}): SignatureDict {
    return chordDict(header, body, options);
  }

  /**
   * `sig.link_error(errback)` / `sig.on_error(errback)` as Celery's signature classes do it (a group
   * links every member, a chord its body, and its header tasks with `task_allow_error_cb_on_chord_header`);
   * returns a new signature.
   */
  linkError(sig: SignatureDict, errback: SignatureDict): SignatureDict {
    const out = cloneSignature(sig);
    linkErrorTo(this, out, errback);
    return out;
  }

  /**
   * `sig.apply_async(args, kwargs, **options)` for any signature (task, chain, group, chord,
   * map/starmap/chunks), as Celery's canvas applies it. Options use Celery's names (`task_id`,
   * `queue`, `link`, ...). Resolves with an {@link AsyncResult} (a chain's last task, with `parent`
   * links back to the first; a chord's body, whose parent is the header's GroupResult) or a
   * {@link GroupResult}.
   */
  async applyAsync<R = unknown>(sig: SignatureDict, args: readonly PyValue[] = [], kwargs: PyDict = {}, options: PyDict = {}): Promise<AsyncResult<R> | GroupResult> {
    const s = sig.task === 'celery.chunks' && !sig.subtask_type ? chunksGroup(sig) : sig;
    return this.resultOf(await applyCanvas(this, s, args, kwargs, options, true)) as AsyncResult<R> | GroupResult;
  }

  /** `sig.delay(*args)`. */
  delay<R = unknown>(sig: SignatureDict, ...args: PyValue[]): Promise<AsyncResult<R> | GroupResult> {
    return this.applyAsync<R>(sig, args);
  }

  /** An AsyncResult/GroupResult (with parents) of a result reference or tuple (`result_from_tuple`). */
  resultOf(ref: ResultRef | PyValue): AsyncResult | GroupResult {
    return resultFromTuple(ref as ResultRef, this.backend, this.control);
  }

  /**
   * Declare a task. Without an implementation it is a typed handle to a task that runs elsewhere
   * (`app.task<[number, number], number>('tasks.add')`); with one, it is also registered for a worker
   * on this app. `options` are the task's defaults (Celery's task attributes).
   */
  task<Args extends unknown[] = unknown[], R = unknown, Kw extends PyDict = PyDict>(name: string, options?: TaskOptions): TaskHandle<Args, R, Kw>;
  task<Args extends unknown[], R, Kw extends PyDict = PyDict>(name: string, fn: (...args: Args) => R, options?: TaskOptions): TaskHandle<Args, Awaited<R>, Kw>;
  task(name: string, fnOrOptions?: ((...args: never[]) => unknown) | TaskOptions, maybeOptions?: TaskOptions): TaskHandle<unknown[], unknown> {
    if (typeof name !== 'string' || name === '') throw new ConfigurationError('task name must be a non-empty string');
    const fn = typeof fnOrOptions === 'function' ? fnOrOptions : undefined;
    const options = (typeof fnOrOptions === 'function' ? maybeOptions : fnOrOptions) ?? {};
    return this.handle(this.register(name, fn, options));
  }

  private handle(task: RegisteredTask): TaskHandle<unknown[], unknown> {
    const name = task.name;
    const send = (args: readonly unknown[], kwargs: PyDict, options: SendTaskOptions, argsAsTuple: boolean) => {
      // Task.apply_async with `typing` (Celery's default): a wrong call throws Python's TypeError, unsent
      try {
        checkTaskCall(task, args, kwargs);
      } catch (err) {
        return Promise.reject(err);
      }
      // Task.apply_async: dict(task exec options, **call options)
      const merged = { ...task.sendDefaults, ...normalizeSendOptions(options) } as SendTaskOptions;
      return this.send(name, args as PyValue[], kwargs, merged, { task: handle, argsAsTuple });
    };
    const handle: TaskHandle<unknown[], unknown> = {
      name,
      app: this,
      get fn() {
        return task.fn as ((...args: unknown[]) => unknown) | undefined;
      },
      delay: (...args: unknown[]) => {
        const [positional, kwargs] = splitKwargs(args);
        return send(positional, kwargs, {}, true);
      },
      applyAsync: (args: readonly unknown[] = [], kwargs: object = {}, options: SendTaskOptions = {}) => send(args, kwargs as PyDict, options, false),
      s: (...args: unknown[]) => signature(name, ...(splitKwargs(args) as [PyValue[], PyDict])),
      si: (...args: unknown[]) => immutableSignature(name, ...(splitKwargs(args) as [PyValue[], PyDict])),
      signature: (args = [], kwargs = {}, options = {}) => signature(name, args as PyValue[], kwargs, options),
      map: (it) => xmap(signature(name), it),
      starmap: (it) => xstarmap(signature(name), it),
      chunks: (it, n) => chunksSig(signature(name), it, n),
    };
    return handle;
  }

  private register(name: string, fn: RegisteredTask['fn'], options: TaskOptions): RegisteredTask {
    if (!isPlainObject(options)) throw new ConfigurationError(`options of task ${name} must be an object`);
    const send: Record<string, unknown> = {};
    const worker: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) {
      if (k === 'params') continue;
      const snake = toSnakeCase(k);
      if ((WORKER_TASK_OPTIONS as readonly string[]).includes(snake)) {
        if (v !== undefined) worker[toCamelCase(snake)] = v;
      } else send[k] = v;
    }
    const sendDefaults = normalizeSendOptions(send, `option of task ${name}`);
    const existing = this.tasks.get(name);
    if (existing) {
      if (fn && existing.fn && existing.fn !== fn) throw new ConfigurationError(`task ${name} is already registered with another implementation`);
      if (fn && !existing.fn) {
        // a handle declared first (no implementation) and implemented now: read its parameters unless declared
        existing.params ??= taskParams(fn, { task: name, bind: existing.workerOptions['bind'] === true });
        existing.fn = fn;
      }
      if (Object.keys(options).length === 0) return existing;
    }
    const implementation = fn ?? existing?.fn;
    const bind = (worker['bind'] ?? existing?.workerOptions['bind']) === true;
    // known at registration: a function whose parameters can be neither read nor found declared fails
    // here, not when a call arrives
    const declared = options.params as string | readonly string[] | undefined;
    let params: TaskParams | null;
    if (declared !== undefined) params = implementation ? taskParams(implementation, { task: name, bind, declared }) : parseParams(declared, { task: name });
    else if (existing?.params?.source === 'declared') params = existing.params;
    else params = implementation ? taskParams(implementation, { task: name, bind }) : null;
    const registered: RegisteredTask = { name, fn: implementation, sendDefaults, workerOptions: Object.freeze(worker), params };
    this.tasks.set(name, registered);
    return registered;
  }

  /** Close the broker and the backend (gives back unacked deliveries, drops subscriptions). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // the control client's reply queue goes before the broker does (kombu deletes it after each call)
    await this.controlInstance?.close().catch(() => undefined);
    const closing: Promise<void>[] = [];
    if (this.brokerInstance) closing.push(this.brokerInstance.close());
    if (this.backendInstance) closing.push(this.backendInstance.close());
    const results = await Promise.allSettled(closing);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** `new Celery(options)`. */
export function createApp(options: AppOptions = {}): Celery {
  return new Celery(options);
}
