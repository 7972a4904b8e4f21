/**
 * The worker: consumes task messages from one or more queues and runs the tasks registered on the app
 * (`app.task(name, fn, options)`), as a member of a Celery fleet (Celery's `WorkController` +
 * `Consumer` + `strategy.default` + `Request`).
 *
 *   const worker = new Worker(app, { queues: ['celery'], concurrency: 8 });
 *   await worker.start();
 *   ...
 *   await worker.stop();            // warm: finish running tasks, give back the rest
 *
 * Messages, in the order Celery handles them:
 * - headers are decoded first (`decodeTaskHeaders`); an unknown task name is handled without
 *   decoding the body: logged (queue + name), rejected without requeue and FAILURE `NotRegistered`
 *   stored (`Consumer.on_unknown_task`). Not silent, but the message is gone: a fleet must route tasks
 *   only to queues served by workers that know them (or use `unknownTasks: 'requeue'`).
 * - a body that does not decode (DecodeError) is logged and ACKED (`on_decode_error`); a disallowed
 *   content type or a malformed message/eta/expires is logged and REJECTED without requeue
 *   (`on_invalid_task`); nothing is stored in either case, as in Celery.
 * - expired at receipt or when about to run → REVOKED (`TaskRevokedError('expired')`), acked.
 * - eta/countdown in the future → held in a timer, unacked; prefetch is raised by one per held
 *   message (`qos.increment_eventually`) and lowered when it is due.
 * - running: at most `concurrency` tasks at once; prefetch = concurrency × `worker_prefetch_multiplier`
 *   (0 = unlimited). Early ack (default) when the task starts (`Request.on_accepted`); with `acksLate`
 *   after it finished (FAILURE: acked when `acksOnFailureOrTimeout`, the default, else rejected);
 *   `Reject` → reject(requeue), `Ignore` → ack.
 * - `worker_deduplicate_successful_tasks` on: before its ack and its run, a delivery whose task id
 *   already succeeded is acked and skipped; a copy of an id running here waits for it (src/worker/dedup.ts).
 *
 * Shutdown ({@link Worker.stop}): warm (default) stops consuming, gives back every message not yet
 * started (prefetched, waiting for a slot, ETA-held: unacked, so the broker's close() puts them back at
 * the front of their queues), waits for the running tasks, then closes the app. Cold
 * (`{cold: true}`, or a second stop while a warm one waits) does not wait: running tasks that were
 * acked early are lost (as in Celery), running `acksLate` tasks are given back and will run again;
 * under the async pool the JavaScript code of a running task cannot be interrupted, so it goes on until
 * the process exits (nothing it does after a cold stop is acked or stored by the worker); the threads
 * and processes pools (`-P`, src/worker/pool/) stop their slots.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism, hostname as osHostname } from 'node:os';
import { DecodeError } from '../../protocol/errors.ts';
import { SecurityError } from '../../protocol/security/errors.ts';
import { NotRegistered, Reject, TaskRevokedError, Terminated } from '../../protocol/exceptions.ts';
import { decodeBody, decodeTaskHeaders, taskMessageFromBody, type TaskHeadersInfo } from '../../protocol/message.ts';
import { decompressAsync } from '../../protocol/compression.ts';
import { buildResultMeta } from '../../protocol/result.ts';
import { FAILURE, REJECTED, IGNORED, RETRY, REVOKED, SUCCESS } from '../../protocol/states.ts';
import type { QuarantineKind } from '../../protocol/quarantine.ts';
import { pyBytesRepr } from '../../protocol/repr.ts';
import type { RawMessage, TaskMessage } from '../../protocol/types.ts';
import type { PyDict } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import type { ResultBackend } from '../backend.ts';
import type { Consumer, Delivery, QueueDeclaration } from '../broker.ts';
import { onChordPartReturn } from '../canvas/chord.ts';
import { signals } from '../signals.ts';
import { WorkerEventer, type WorkerEventsOptions } from '../events/worker.ts';
import { mingle } from './control/mingle.ts';
import { LimitedSet } from './control/revoked.ts';
import { isRevokedByStamps } from './control/stamps.ts';
import type { ControlledWorker } from './control/state.ts';
import { Pidbox } from './pidbox.ts';
import { RateLimiter } from './ratelimit.ts';
import { connectOnStartup } from './connect.ts';
import { createLogger, logs, type WorkerLogger } from './log.ts';
import { Deduplicator } from './dedup.ts';
import { Refusals } from './refusals.ts';
import { Request, toResultRequest } from './request.ts';
import { resolveTask, type TaskHooks, type TaskRuntime } from './task.ts';
import { signalRequest, Tracer, type TraceResult } from './trace.ts';
import { AsyncPool } from './pool/async.ts';
import { poolFromName, type PoolName, type TaskPool } from './pool/pool.ts';
import { Autoscaler } from './pool/autoscale.ts';

export interface WorkerOptions {
  /** Queues to consume. @default [task_default_queue] */
  queues?: string[];
  /** Tasks run at once. @default worker_concurrency, else os.availableParallelism() (Celery: CPU count) */
  concurrency?: number;
  /** @default worker_prefetch_multiplier (4); 0 = unlimited prefetch */
  prefetchMultiplier?: number;
  /** Node name; `%h` (hostname), `%n` (name part), `%d` (domain) are expanded. @default `celery@%h` */
  hostname?: string;
  /** @default a Celery-formatted logger at level `warning` on stderr */
  logger?: WorkerLogger;
  /** Lifecycle hooks per task name (see {@link TaskHooks}); merged over `setTaskHooks`. */
  hooks?: Record<string, TaskHooks>;
  /**
   * Unknown task names: `reject` (Celery: reject without requeue + FAILURE NotRegistered) or
   * `requeue` (put back for another worker; the message loops if no worker knows it). @default 'reject'
   */
  unknownTasks?: 'reject' | 'requeue';
  /** Close the app (broker + backend) when the worker stops; needed to give messages back. @default true */
  closeApp?: boolean;
  /** Celery's `--without-mingle`: do not ask the other workers for revoked ids at startup. @default false */
  withoutMingle?: boolean;
  /** Events: `taskEvents` (`-E`), `heartbeatInterval`, `withoutHeartbeat` (see src/events/worker.ts). */
  events?: WorkerEventsOptions;
  /**
   * Celery's `-P` / `worker_pool`: `async` (default), `threads`, or a Celery name mapped onto them
   * (src/worker/pool/pool.ts). `threads` needs `appModule`. @default worker_pool
   */
  pool?: string;
  /** The app module as `-A` names it: each `threads` slot imports it (as a prefork child imports the app). */
  appModule?: string;
  /** @default worker_max_tasks_per_child */
  maxTasksPerChild?: number | null;
  /** KiB. @default worker_max_memory_per_child */
  maxMemoryPerChild?: number | null;
  /** Celery's `--autoscale MAX,MIN`: the pool starts at MIN and follows the load (src/worker/pool/autoscale.ts). */
  autoscale?: [max: number, min: number];
}

/** Events a {@link Worker} emits. */
export interface WorkerEvents {
  ready: [];
  'task-received': [request: Request];
  'task-started': [request: Request];
  'task-finished': [request: Request, result: TraceResult];
  'task-revoked': [request: Request, reason: string];
  /** `worker_deduplicate_successful_tasks` skipped the delivery (acked, not run): see src/worker/dedup.ts. */
  'task-deduplicated': [request: Request, reason: string];
  'task-unknown': [name: string, id: string];
  'message-rejected': [error: unknown];
  /** A message it will not run, quarantined (or rejected): see src/worker/refusals.ts. */
  'message-refused': [kind: QuarantineKind, queue: string];
  'shutdown': [how: 'warm' | 'cold'];
  stopped: [];
  error: [error: Error];
}

/** Celery's `default_nodename` / `nodesplit` / `%h %n %d` expansion (`celery/utils/nodenames.py`). */
export function expandNodename(template: string, host: string = osHostname()): string {
  const name = template.includes('@') ? template : `celery@${template}`;
  const [shortHost, ...dom] = host.split('.');
  const at = name.indexOf('@');
  const namePart = name.slice(0, at);
  const expand = (s: string) => s.replace(/%%|%h|%n|%d/g, (m) =>
    m === '%%' ? '%' : m === '%h' ? host : m === '%n' ? (shortHost ?? host) : dom.join('.'));
  return `${expand(namePart)}@${expand(name.slice(at + 1))}`;
}

/** A task's concurrency slot, held while its function runs. */
interface Slot {
  held: boolean;
}

interface Held {
  request: Request;
  timer: NodeJS.Timeout;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class Worker extends EventEmitter<WorkerEvents> implements ControlledWorker {
  readonly app: Celery;
  readonly hostname: string;
  readonly queues: string[];
  /** Tasks run at once; changed by the `pool_grow` / `pool_shrink` control commands. */
  concurrency: number;
  readonly prefetchMultiplier: number;
  readonly logger: WorkerLogger;
  /** Ids revoked in this worker (expired ones are added), Celery's `worker_state.revoked` LimitedSet. */
  readonly revoked = new LimitedSet();
  /** The remote-control node (`celery.pidbox`), null when `worker_enable_remote_control` is off. */
  pidbox: Pidbox | null = null;
  /** Events sent by this worker (`worker-*` always, `task-*` with -E); `enable()` / `disable()` switch task events. */
  readonly events: WorkerEventer;
  startedAt = Date.now();
  /** The pool that runs the task functions (`-P`). */
  readonly poolName: PoolName;
  private pool: TaskPool | null = null;
  /** `--autoscale`; null without. */
  readonly autoscaler: Autoscaler | null = null;
  private readonly rateLimits = new Map<string, string | number | null>();
  private readonly rateLimiter: RateLimiter<Request>;

  private readonly options: WorkerOptions;
  private readonly runtimes = new Map<string, TaskRuntime>();
  private state: State = 'new';
  private consumer: Consumer | null = null;
  private backend: ResultBackend | null = null;
  /** The decompression in progress: compressed messages are inflated one at a time (see receive). */
  private inflating: Promise<unknown> = Promise.resolve();
  /** Messages it will not run: quarantined (or rejected), counted by kind. */
  readonly refusals: Refusals;
  private tracer: Tracer | null = null;
  /** `worker_deduplicate_successful_tasks`; null when off (nothing on the per-task path then). */
  private dedup: Deduplicator | null = null;
  private readonly pending: Request[] = [];
  private readonly held = new Set<Held>();
  /** Tasks started and not yet settled (running, or storing their result / acking). */
  private readonly running = new Map<Request, Promise<void>>();
  /** Tasks whose function is running: what `concurrency` bounds. */
  private executing = 0;
  private readonly inflight = new Set<Promise<void>>();
  private cold = false;
  private stopping: Promise<void> | null = null;
  private wakeCold: (() => void) | null = null;

  constructor(app: Celery, options: WorkerOptions = {}) {
    super();
    this.app = app;
    this.options = options;
    this.hostname = expandNodename(options.hostname ?? 'celery@%h');
    this.queues = options.queues?.length ? [...options.queues] : [app.conf.taskDefaultQueue];
    const pool = poolFromName(options.pool ?? app.conf.workerPool);
    if (!pool) throw new Error(`unknown pool ${JSON.stringify(options.pool ?? app.conf.workerPool)}: async, threads (Celery's prefork, processes, solo, eventlet, gevent, threads map onto them)`);
    this.poolName = pool.pool;
    if (pool.pool !== 'async' && !options.appModule) throw new Error(`the ${pool.pool} pool needs appModule (-A): each slot imports the app module`);
    this.concurrency = pool.solo ? 1 : (options.concurrency ?? app.conf.workerConcurrency ?? availableParallelism());
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new Error(`concurrency must be an integer >= 1, got ${this.concurrency}`);
    if (options.autoscale) {
      const [max, min] = options.autoscale;
      if (!(Number.isInteger(max) && Number.isInteger(min) && max >= 1 && min >= 0 && min <= max)) throw new Error(`autoscale must be MAX,MIN with 0 <= MIN <= MAX, MAX >= 1, got ${max},${min}`);
      this.concurrency = Math.max(1, min);
      this.autoscaler = new Autoscaler(this, max, min);
    }
    this.prefetchMultiplier = options.prefetchMultiplier ?? app.conf.workerPrefetchMultiplier;
    this.logger = options.logger ?? createLogger('warning');
    this.on('error', () => undefined); // reported through the logger; listeners are optional
    this.rateLimiter = new RateLimiter<Request>((name) => this.rateLimitOf(name), (req) => {
      this.pending.push(req);
      this.pump();
    }, app.conf.workerDisableRateLimits);
    this.on('task-started', (req) => this.pidbox?.taskAccepted(req.name)); // Celery counts at task_accepted
    this.refusals = new Refusals({
      hostname: this.hostname, logger: this.logger, backend: () => this.backend, requeueUnknown: options.unknownTasks === 'requeue',
      emit: (event: string, ...args: unknown[]) => void (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
    });
    this.events = new WorkerEventer(this, { ...options.events, unknownTasks: options.unknownTasks }, (err) => this.logger.error(err.message));
  }

  /** `concurrency × prefetch_multiplier` (0 = unlimited). */
  get basePrefetch(): number {
    // with --autoscale, as Celery: room for the most slots (max_concurrency × multiplier)
    const slots = this.autoscaler ? Math.max(this.autoscaler.max, this.concurrency) : this.concurrency;
    return this.prefetchMultiplier > 0 ? slots * this.prefetchMultiplier : 0;
  }

  /** Tasks executing now. */
  get active(): number {
    return this.running.size;
  }

  /** Messages held for their eta. */
  get scheduled(): number {
    return this.held.size;
  }

  /** Connect, declare the queues, start consuming. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`worker ${this.hostname} was already started`);
    this.state = 'starting';
    await signals.worker_init.send({ sender: this.hostname });
    const broker = this.app.broker;
    await connectOnStartup(broker, this.app.conf, { logger: this.logger, stopping: () => this.stopping !== null });
    this.backend = this.app.conf.resultBackend ? this.app.backend : null;
    if (this.backend) await this.backend.connect();
    for (const q of this.queues) await broker.declareQueue(this.app.router.queue(q));
    this.pool = await this.createPool();
    this.tracer = new Tracer({ app: this.app, backend: this.backend, hostname: this.hostname, logger: this.logger, resultExtended: this.app.conf.resultExtended, pool: this.pool });
    if (this.app.conf.workerDeduplicateSuccessfulTasks) this.dedup = new Deduplicator(this.app, this.backend, this.logger);
    if (this.app.conf.workerEnableRemoteControl) {
      this.pidbox = new Pidbox(this);
      this.events.attach(this.pidbox.state);
      const listening = await this.pidbox.start();
      if (listening && !this.options.withoutMingle) await mingle(this.pidbox.state);
    }
    this.startedAt = Date.now();
    this.autoscaler?.start();
    this.events.start();
    this.startConsumer();
    this.state = 'running';
    this.logger.info(`${this.hostname} ready.`);
    await signals.worker_ready.send({ sender: this.hostname });
    this.emit('ready');
  }

  private async createPool(): Promise<TaskPool> {
    if (this.poolName === 'async') return new AsyncPool(() => this.concurrency);
    const { ThreadPool } = await import('./pool/threads.ts');
    const c = this.app.conf;
    const pool = new ThreadPool({
      kind: this.poolName, appSpec: this.options.appModule!, size: this.concurrency, logger: this.logger,
      maxTasksPerChild: this.options.maxTasksPerChild !== undefined ? this.options.maxTasksPerChild : c.workerMaxTasksPerChild,
      maxMemoryPerChild: this.options.maxMemoryPerChild !== undefined ? this.options.maxMemoryPerChild : c.workerMaxMemoryPerChild,
    });
    await pool.start();
    return pool;
  }

  /** What `inspect stats` reports as `pool` (Celery's `pool.info`). */
  poolInfo(): PyDict {
    return this.pool?.info() ?? {};
  }

  private startConsumer(): void {
    this.consumer = this.app.broker.consume(this.queues, (d) => this.onMessage(d), {
      prefetch: this.basePrefetch === 0 ? 0 : this.basePrefetch + this.held.size,
      onError: (err) => {
        this.logger.error(err.message);
        this.emit('error', err);
      },
    });
  }

  /**
   * Warm shutdown (default): stop consuming, give back messages not started, wait for running tasks,
   * close the app. `{cold: true}`: do not wait for running tasks (see the module notes). Calling it
   * again with `cold` while a warm shutdown waits turns it cold.
   */
  stop(options: { cold?: boolean } = {}): Promise<void> {
    if (options.cold) {
      this.cold = true;
      this.wakeCold?.();
    }
    if (!this.stopping) this.stopping = this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const how = this.cold ? 'cold' : 'warm';
    const wasRunning = this.state === 'running' || this.state === 'starting';
    this.state = 'stopping';
    this.emit('shutdown', how);
    await signals.worker_shutting_down.send({ sender: this.hostname, sig: null, how: how === 'cold' ? 'Cold' : 'Warm', exitcode: 0 });
    if (wasRunning) this.logger.warning(`worker: ${how === 'cold' ? 'Cold' : 'Warm'} shutdown (MainProcess)`);
    try {
      await this.consumer?.cancel();
    } catch (err) {
      this.logger.error(`cancelling the consumer failed: ${(err as Error).message}`);
    }
    await this.pidbox?.stop();
    this.autoscaler?.stop();
    await this.events.offline(); // worker-offline now, before running tasks finish (Celery's order)
    // messages not started stay unacked: the broker's close() gives them back
    for (const h of this.held) clearTimeout(h.timer);
    const given = this.held.size + this.pending.length + this.rateLimiter.stop().length + (this.dedup?.parked().length ?? 0);
    this.held.clear();
    this.pending.length = 0;
    if (given) this.logger.info(`giving back ${given} message(s) that did not start`);
    if (!this.cold && this.running.size) {
      this.logger.info(`waiting for ${this.running.size} running task(s) to finish`);
      const coldRequested = new Promise<void>((resolve) => (this.wakeCold = resolve));
      await Promise.race([Promise.allSettled([...this.running.values()]), coldRequested]);
    }
    if (this.running.size) this.logger.warning(`cold shutdown: ${this.running.size} task(s) still running are abandoned (acks_late ones go back to the queue)`);
    this.cold = this.cold || this.running.size > 0;
    await Promise.allSettled([...this.inflight]);
    await this.pool?.stop();
    await this.events.stop();
    if (this.options.closeApp !== false) {
      try {
        await this.app.close();
      } catch (err) {
        this.logger.error(`closing the app failed: ${(err as Error).message}`);
      }
    }
    this.state = 'stopped';
    await signals.worker_shutdown.send({ sender: this.hostname });
    this.emit('stopped');
  }

  // ---- receiving ---------------------------------------------------------------------------------

  private onMessage(delivery: Delivery): void {
    if (this.state !== 'running') return; // stays unacked; given back on close
    let p: Promise<void> | undefined;
    try {
      p = this.receive(delivery);
    } catch (err) {
      this.receiveFailed(delivery, err);
      return;
    }
    if (p) this.track(p.then(undefined, (err: unknown) => this.receiveFailed(delivery, err)));
  }

  private receiveFailed(delivery: Delivery, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.logger.error(`handling a message from ${delivery.queue} failed: ${e.stack ?? e.message}`);
    this.emit('error', e);
  }

  /**
   * Keeps `p` (which never rejects) in `inflight` until it settles: shutdown waits for it. (`then`, not
   * `finally`: one promise per call instead of three, on the path every message takes.)
   */
  private track(p: Promise<void>): void {
    this.inflight.add(p);
    // inline arrows: a named closure made per message costs a defineProperty under tsx (keepNames)
    p.then(() => void this.inflight.delete(p), () => void this.inflight.delete(p));
  }

  private runtimeFor(name: string): TaskRuntime | null {
    let rt = this.runtimes.get(name);
    if (rt) return rt;
    const registered = this.app.tasks.get(name);
    if (!registered?.fn) return null;
    rt = resolveTask(this.app, registered, this.options.hooks?.[name]);
    this.runtimes.set(name, rt);
    return rt;
  }

  /**
   * Decodes and schedules a message. The usual path runs to the end without waiting for anything and
   * returns nothing; a path that has to wait (an unknown or invalid task, a revoked one, task_received
   * receivers) returns its promise, which the caller tracks.
   */
  private receive(delivery: Delivery): Promise<void> | undefined {
    const raw = delivery.raw;
    let info: TaskHeadersInfo;
    let known: boolean;
    try {
      info = decodeTaskHeaders(raw);
      known = info.protocol !== 2 || info.task === null || this.runtimeFor(info.task) !== null;
    } catch (err) {
      // a task name sent as bytes (an AMQP byte array, kombu JSON's bytes): Celery looks it up, finds no
      // such task and handles it as unregistered (FAILURE NotRegistered(b'...') stored); so does celeriac
      const task = raw.headers?.task;
      if (task instanceof Uint8Array) {
        const id = typeof raw.headers.id === 'string' ? raw.headers.id : '';
        return this.refusals.unknownTask(delivery, Buffer.from(task).toString('latin1'), id, { value: task, repr: pyBytesRepr(task) });
      }
      return this.refusals.invalidTask(delivery, err);
    }
    if (!known) return this.refusals.unknownTask(delivery, info.task!, info.id ?? '');
    const compression = raw.headers?.compression;
    if (typeof compression === 'string') {
      // inflated a chunk at a time with the output counted (decompression bombs), the loop free between
      // chunks, and one message at a time: ten bombs prefetched together stay within one limit of memory
      // (side by side they took ~10 x 256 MiB), at no cost in throughput on a single event loop
      const inflated = this.inflating.then(() => decompressAsync(raw.body, compression));
      this.inflating = inflated.catch(() => undefined);
      return inflated.then(
        (body) => {
          const { compression: _, ...headers } = raw.headers;
          return this.receiveDecompressed(delivery, { ...raw, body, headers }, info);
        },
        (err: unknown) => this.refusals.invalidTask(delivery, err),
      );
    }
    return this.receiveDecompressed(delivery, raw, info);
  }

  private receiveDecompressed(delivery: Delivery, raw: RawMessage, info: TaskHeadersInfo): Promise<void> | undefined {
    let msg: TaskMessage;
    try {
      // decodeTaskMessage, with the headers decoded above (not validated a second time)
      msg = taskMessageFromBody(raw, decodeBody(raw, { accept: this.app.conf.acceptContent }), info);
    } catch (err) {
      // a message that fails signature verification (auth) is refused as an invalid one: rejected, not acked (a dead-letter exchange keeps it)
      if (err instanceof DecodeError && !(err instanceof SecurityError)) return this.refusals.decodeError(delivery, err);
      return this.refusals.invalidTask(delivery, err);
    }
    if (!this.runtimeFor(msg.headers.task)) return this.refusals.unknownTask(delivery, msg.headers.task, msg.headers.id);
    let req: Request;
    try {
      req = new Request(msg, delivery, this.hostname, (err, what) => this.logger.error(`${what} failed: ${(err as Error).message}`));
    } catch (err) {
      return this.refusals.invalidTask(delivery, err);
    }
    if (logs(this.logger, 'info')) this.logger.info(`Task ${req.name}[${req.id}] received`);
    this.emit('task-received', req);
    if ((req.expires && req.isExpired()) || this.isRevoked(req)) {
      return this.revoke(req, req.isExpired() ? 'expired' : 'revoked');
    }
    this.events.taskReceived(req);
    if (signals.task_received.hasReceivers) {
      return signals.task_received.send({ sender: this.hostname, request: signalRequest(req.context) }).then(() => this.schedule(req));
    }
    this.schedule(req);
    return undefined;
  }

  /** A received request: held until its eta, or to the pool. */
  private schedule(req: Request): void {
    if (this.state !== 'running') return;
    const eta = req.eta?.getTime();
    if (eta !== undefined && eta > Date.now()) this.hold(req, eta);
    else this.enqueue(req);
  }

  /** `Request._announce_revoked`: REVOKED stored (unless results are ignored), acked, signal. */
  private async revoke(req: Request, reason: 'expired' | 'revoked' | 'terminated', signum: number | null = null): Promise<void> {
    this.revoked.add(req.id);
    this.logger.info(`Discarding revoked task: ${req.name}[${req.id}]`);
    const rt = this.runtimeFor(req.taskName);
    const storeErrors = !req.context.ignore_result || (rt?.storeErrorsEvenIfIgnored ?? false);
    if (this.backend && storeErrors) {
      try {
        await this.backend.storeResult(buildResultMeta({
          taskId: req.id, state: REVOKED, result: new TaskRevokedError([reason]), traceback: null,
          request: toResultRequest(req.context), extended: this.app.conf.resultExtended,
        }), req.context);
      } catch (err) {
        this.logger.error(`storing REVOKED for ${req.id} failed: ${(err as Error).message}`);
      }
    }
    // mark_as_revoked(request=...): a chord member reports to its chord, stored or not
    if (this.backend && req.context.chord) {
      await onChordPartReturn(this.app, req.context, REVOKED, new TaskRevokedError([reason]))
        .catch((err: Error) => this.logger.error(`chord part return of revoked ${req.id} failed: ${err.message}`));
    }
    await req.acknowledge();
    this.emit('task-revoked', req, reason);
    await signals.task_revoked.send({ sender: req.taskName, request: signalRequest(req.context), terminated: reason === 'terminated', signum: signum as unknown as string | null /* an int, as Celery sends it */, expired: reason === 'expired' });
  }

  // ---- scheduling --------------------------------------------------------------------------------

  private updatePrefetch(): void {
    const base = this.basePrefetch;
    this.consumer?.setPrefetch(base === 0 ? 0 : base + this.held.size);
  }

  private hold(req: Request, eta: number): void {
    const entry: Held = { request: req, timer: undefined as unknown as NodeJS.Timeout };
    const arm = () => {
      const wait = eta - Date.now();
      if (wait > 0) {
        entry.timer = setTimeout(arm, Math.min(wait, 2 ** 31 - 1));
        return;
      }
      this.held.delete(entry);
      this.updatePrefetch();
      if (this.state === 'running') this.enqueue(req);
    };
    this.held.add(entry);
    this.updatePrefetch();
    entry.timer = setTimeout(arm, Math.min(eta - Date.now(), 2 ** 31 - 1));
  }

  /** To the pool, through the task's rate-limit bucket when it has one (`limit_task`). */
  private enqueue(req: Request): void {
    this.rateLimiter.submit(req.taskName, req);
  }

  /**
   * A task holds its concurrency slot while its function runs; once the function has returned, the
   * slot goes to the next task while the result is stored (and, for acks_late, acked after the store:
   * the order per task is unchanged) in the background. Stores of many tasks then overlap (one round
   * trip each, pipelined on the backend connection) instead of each slot waiting for its own. At most
   * `maxFinishing` tasks may be in that phase: back-pressure that keeps memory bounded.
   */
  private get maxFinishing(): number {
    return Math.max(64, this.concurrency * 16);
  }

  private pump(): void {
    while (this.state === 'running' && this.executing < this.concurrency && this.running.size < this.concurrency + this.maxFinishing && this.pending.length > 0) {
      const req = this.pending.shift()!;
      this.executing++;
      const slot: Slot = { held: true };
      const p = this.execute(req, slot).then(() => this.finished(req, slot), (err: unknown) => {
        this.logger.error(`executing ${req.name}[${req.id}] failed: ${(err as Error)?.stack ?? String(err)}`);
        this.finished(req, slot);
      });
      this.running.set(req, p);
    }
  }

  /** The task's function returned (or threw): its concurrency slot goes to the next task. */
  private returned(slot: Slot): void {
    if (!slot.held) return;
    slot.held = false;
    this.executing--;
    this.pump();
  }

  /** The task is settled (result stored, acked): no longer running; its slot is freed if still held. */
  private finished(req: Request, slot: Slot): void {
    this.running.delete(req);
    if (this.dedup !== null) {
      // copies of this id that waited for it: checked again (skipped if it succeeded)
      const waiting = this.dedup.release(req);
      if (waiting.length && this.state === 'running') this.pending.unshift(...waiting);
    }
    if (slot.held) this.returned(slot);
    else this.pump();
  }

  private async execute(req: Request, slot: Slot): Promise<void> {
    const runtime = this.runtimeFor(req.taskName)!;
    if (this.isRevoked(req) || req.isExpired()) return this.revoke(req, req.isExpired() ? 'expired' : 'revoked');
    if (this.dedup !== null && !(await this.admit(req))) return;
    req.timeStart = Date.now();
    if (!runtime.acksLate) {
      // Request.on_accepted: the ack is issued before the task body runs, but the task does not wait
      // for Redis to apply it (the broker writes it with its next command, at the latest at the end
      // of this tick), as in Celery's prefork pool, where the child runs the task while the main
      // process acks. Tracked so shutdown waits for it before closing the broker.
      this.track(req.acknowledge());
    }
    this.emit('task-started', req);
    const result = await this.tracer!.trace(runtime, req.context, () => this.returned(slot));
    if (result.state === REVOKED && result.retval instanceof Terminated) {
      // Request.terminate: the pool stopped it; _announce_revoked('terminated', True, signum, False)
      if (this.cold) return;
      await this.revoke(req, 'terminated', result.retval.excMessage[0] as number);
      this.emit('task-finished', req, result);
      return;
    }
    if (this.dedup !== null && result.state === SUCCESS) this.dedup.recordSuccess(req.id);
    if (this.cold) return; // given back (acks_late) or lost (early ack) by the cold shutdown
    const settled = this.settle(req, runtime, result);
    if (settled) await settled;
    this.emit('task-finished', req, result);
  }

  /**
   * `worker_deduplicate_successful_tasks` (src/worker/dedup.ts): true when `req` runs (its id is then
   * claimed until it settles); false when it was skipped (acked), requeued (its callbacks could not
   * be sent) or parked behind the copy of its id running here.
   */
  private async admit(req: Request): Promise<boolean> {
    const dedup = this.dedup!;
    if (!dedup.claim(req)) {
      this.logger.info(`Task ${req.name}[${req.id}] waits: the same task id is running on this worker`);
      return false;
    }
    let verdict;
    try {
      verdict = await dedup.check(req);
    } catch (err) {
      // Celery: Reject(exc, requeue=True); the broker's dead-lettering / delivery limits end a loop
      this.logger.warning(`Task ${req.name}[${req.id}] requeued: ${(err as Error)?.message ?? String(err)}`);
      await req.reject(true);
      return false;
    }
    if (verdict.run) return true;
    // as Celery: task-started (on_accepted), then task-succeeded with result and runtime None; no signals
    this.logger.info(`Task ${req.name}[${req.id}] ${verdict.reason}`);
    req.timeStart = Date.now();
    this.emit('task-started', req);
    await req.acknowledge();
    if (this.events.taskEvents) void this.events.dispatcher.send('task-succeeded', { uuid: req.id, result: null, runtime: null });
    this.emit('task-deduplicated', req, verdict.reason);
    return false;
  }

  /** `Request.on_success` / `on_retry` / `on_failure` acknowledgement rules (nothing to wait for: undefined). */
  private settle(req: Request, runtime: TaskRuntime, r: TraceResult): Promise<void> | undefined {
    switch (r.state) {
      case REJECTED:
        return req.reject(r.retval instanceof Reject ? r.retval.requeue : false);
      case IGNORED:
        return req.acknowledge();
      case SUCCESS:
      case RETRY:
        if (runtime.acksLate) return req.acknowledge();
        return undefined;
      default:
        if (runtime.acksLate) {
          if (runtime.acksOnFailureOrTimeout) return req.acknowledge();
          return req.reject(false);
        }
        return undefined;
    }
  }

  // ---- remote control (src/worker/pidbox.ts drives these) ------------------------------------------

  /** `Request.revoked()`: by id, or by a revoked stamp (`revoke_by_stamped_headers`). */
  private isRevoked(req: Request): boolean {
    return this.revoked.has(req.id) || (this.pidbox !== null && isRevokedByStamps(req.context, this.pidbox.revokedStamps));
  }

  requestsSnapshot(): ReturnType<ControlledWorker['requestsSnapshot']> {
    return {
      active: [...this.running.keys()],
      reserved: [...this.pending, ...this.rateLimiter.waiting(), ...(this.dedup?.parked() ?? [])],
      scheduled: [...this.held].map((h) => ({ request: h.request, eta: h.request.eta!, priority: h.request.context.delivery_info.priority })),
    };
  }

  prefetchCount(): number {
    const base = this.basePrefetch;
    return base === 0 ? 0 : base + this.held.size;
  }

  /**
   * `Request.terminate`: stop task `taskId` where it runs (the pool terminates its slot); true when it
   * was running in a pool that can (threads); the worker then records REVOKED.
   */
  terminateTask(taskId: string, signum: number): boolean {
    return this.pool?.terminate(taskId, signum) ?? false;
  }

  /** Requests received and not finished (Celery's `state.reserved_requests`: what autoscale follows). */
  reservedCount(): number {
    return this.running.size + this.pending.length + this.rateLimiter.waiting().length;
  }

  /** `control autoscale`: new bounds, or null without --autoscale. */
  autoscale(max: number | null, min: number | null): [number, number] | null {
    if (!this.autoscaler) return null;
    const r = this.autoscaler.update(max, min);
    this.updatePrefetch();
    return r;
  }

  /** Whether running tasks can be stopped (`terminate`): not on the event loop (the async pool). */
  get canTerminate(): boolean {
    return this.poolName !== 'async';
  }

  resizePool(delta: number): void {
    this.concurrency = Math.max(1, this.concurrency + delta);
    this.pool?.resize(this.concurrency);
    this.updatePrefetch();
    this.pump();
  }

  /**
   * add_consumer / cancel_consumer take effect on the worker's queue list at once and in the order
   * they came (what `active_queues` reports, as Celery's call_soon has it); the broker side (declare
   * the queue, restart the consumer on the current list) runs one change after the other, so a cancel
   * that arrives while an add still declares its queue (an AMQP round trip) is not lost.
   */
  private consumerChanges: Promise<void> = Promise.resolve();

  addConsumer(queue: QueueDeclaration): Promise<void> {
    if (this.queues.includes(queue.name) || this.state !== 'running') return Promise.resolve();
    this.logger.info(`Started consuming from ${queue.name}`);
    this.queues.push(queue.name);
    return this.changeConsumers(async () => {
      if (!this.queues.includes(queue.name)) return; // cancelled meanwhile: its restart follows
      try {
        await this.app.broker.declareQueue(queue);
      } catch (err) {
        const i = this.queues.indexOf(queue.name);
        if (i >= 0) this.queues.splice(i, 1);
        throw err;
      }
      await this.restartConsumer();
    });
  }

  cancelConsumer(queue: string): Promise<void> {
    const i = this.queues.indexOf(queue);
    if (i < 0 || this.state !== 'running') return Promise.resolve();
    this.logger.info(`Canceling queue ${queue}`);
    this.queues.splice(i, 1);
    return this.changeConsumers(() => this.restartConsumer());
  }

  private changeConsumers(change: () => Promise<void>): Promise<void> {
    const next = this.consumerChanges.then(change);
    this.consumerChanges = next.catch(() => undefined);
    return next;
  }

  /** The consumer again, on the queue list as it is now. */
  private async restartConsumer(): Promise<void> {
    await this.consumer?.cancel();
    if (this.state !== 'running') return;
    if (this.queues.length) this.startConsumer();
    else this.consumer = null;
  }

  rateLimitOf(taskName: string): string | number | null {
    if (this.rateLimits.has(taskName)) return this.rateLimits.get(taskName)!;
    const v = this.app.tasks.get(taskName)?.workerOptions.rateLimit;
    return typeof v === 'string' || typeof v === 'number' ? v : null;
  }

  setRateLimit(taskName: string, limit: string | number | null): void {
    this.rateLimits.set(taskName, limit);
    this.rateLimiter.reset();
  }

  setTimeLimits(taskName: string, soft: number | null, hard: number | null): void {
    const rt = this.runtimeFor(taskName);
    if (rt) this.runtimes.set(taskName, { ...rt, softTimeLimit: soft, timeLimit: hard });
  }

  async markAsRevoked(taskId: string): Promise<void> {
    if (!this.backend) return;
    await this.backend.storeResult(buildResultMeta({ taskId, state: REVOKED, result: new TaskRevokedError(['revoked']), traceback: null }), {});
  }
}
