/**
 * Celery's RPC result backend (`celery/backends/rpc.py:RPCBackend` + `ResultConsumer`), interoperable
 * with Python Celery 5.6: results travel as AMQP messages to the caller's reply queue.
 *
 * Worker side (`store_result`): every state (STARTED, RETRY, PROGRESS..., SUCCESS, FAILURE, REVOKED)
 * is published to the default exchange with routing key = the request's `reply_to` and
 * `correlation_id` = the request's `correlation_id` or the task id (see `rpc/reply.ts` for the exact
 * body and properties). No `reply_to`, no message (`destination_for`), as in Celery.
 *
 * Caller side: one reply queue per app, named after the app's oid (the `reply_to` every task message
 * carries), declared as Celery's `RPCBackend.binding`: `durable=False, auto_delete=True`,
 * `x-expires` = `result_expires` in ms (none when `result_expires` is null). It is declared before a task
 * is sent (`on_task_call`) and consumed with `no_ack` (`ResultConsumer`), so a reply can be read once:
 * - replies are matched by the body's `task_id` (Celery's `on_state_change`);
 * - a wait (`waitForReady`) takes its READY reply; every state it sees goes to `onMessage`;
 * - replies no wait is asking for are kept (latest state per task, at most 8192 tasks: Celery's
 *   `_pending_messages` / `_out_of_band` buffers) for a later wait or `getTaskMeta`;
 * - `getTaskMeta` reports the latest state that arrived, or PENDING: the backend knows nothing that did
 *   not arrive on its queue, and a READY reply a wait has taken is gone (a new `AsyncResult` for the
 *   same id sees PENDING; the one that waited keeps its cached result).
 * Groups, chords and `forget` are not supported (Celery raises `NotImplementedError`); so here.
 *
 * The connection is its own amqplib connection to the broker URL (Celery uses the app's broker
 * connection: `rpc://` means "the broker"), opened as the AMQP transport opens its own
 * (`brokers/amqp/connection.ts`: the same URL rules, `;` failover list, `broker_use_ssl` TLS options,
 * `broker_heartbeat` and `broker_connection_timeout`), re-established on loss with the reply queue
 * re-declared and re-consumed (`ResultConsumer._reconnect`).
 */
import { Backlog } from './backlog.ts';
import { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { randomUUID } from 'node:crypto';
import type { ResultBackend, StoreRequest, WaitOptions } from '../backend.ts';
import { abortReason, BackendNotImplementedError, settleWait } from '../backend.ts';
import { ConfigurationError, OperationalError, isConnectionError } from '../errors.ts';
import { CeleriacError } from '../../protocol/errors.ts';
import { toAmqpHeaders } from '../../protocol/envelope/amqp.ts';
import type { ResultMeta } from '../../protocol/result.ts';
import { getSerializer } from '../../protocol/serialization/index.ts';
import { PENDING, READY_STATES } from '../../protocol/states.ts';
import type { PyValue } from '../../protocol/values.ts';
import { decodeRpcReply, encodeRpcReply, RpcReplyError } from './rpc/reply.ts';
import { openFailover, type ConnectSettings } from '../brokers/amqp/connection.ts';
import { parseAmqpUrls, safeUrlOf, type AmqpEndpoint } from '../brokers/amqp/url.ts';

export { RpcReplyError } from './rpc/reply.ts';

/** Settings with Celery's names. */
export interface RpcBackendOptions {
  /** The AMQP broker the replies travel through (`rpc://` uses `broker_url`, `;` failover list included). Required. */
  broker_url?: string | null;
  /** `broker_use_ssl`: TLS to the broker as the transport uses it (true, or kombu's dict). */
  broker_use_ssl?: unknown;
  /** `broker_heartbeat` in seconds (the URL's `?heartbeat=` wins); 0 disables. @default 120 */
  broker_heartbeat?: number | null;
  /** `broker_connection_timeout` in seconds (the URL's `?connect_timeout=` wins); 0 = none. @default 4 */
  broker_connection_timeout?: number | null;
  /** The reply queue name: the app's oid, which the producer sends as `reply_to`. Default: a new uuid. */
  oid?: string;
  /** Seconds: the reply queue's `x-expires`; default 86400. `null`: no `x-expires`. */
  result_expires?: number | null;
  /** `delivery_mode` 2 for replies when true; default false (`RPCBackend.persistent`). */
  result_persistent?: boolean | null;
  /** `json` (default), `msgpack` or `yaml`. */
  result_serializer?: string;
  result_accept_content?: readonly string[] | null;
  accept_content?: readonly string[] | null;
}

/** Celery's `MESSAGE_BUFFER_MAX`: replies kept for tasks nobody waits for yet. */
export const MESSAGE_BUFFER_MAX = 8192;
/** Replies kept before tasks' latest ones, for later waits' `onMessage`: per task, and in all. */
const MAX_EARLIER = 64;
const MAX_EARLIER_TOTAL = MESSAGE_BUFFER_MAX;
const DEFAULT_EXPIRES = 86400;
/** `RPCBackend.retry_policy`: 20 retries, 0 s then 1 s apart. */
const PUBLISH_MAX_RETRIES = 20;
/** Re-declare the reply queue when sending if the last declaration is older than this (keeps x-expires fresh). */
const REDECLARE_MS = 60_000;
const RECONNECT_ATTEMPTS = 20;
const CLOSE_TIMEOUT_MS = 2000;

const E_NO_CHORD_SUPPORT =
  'The "rpc" result backend does not support chords!\n\nNote that a group chained with a task is also upgraded to be a chord,\n' +
  'as this pattern requires synchronization.\n\nResult backends that supports chords: Redis, Database, Memcached, and more.';

interface Waiter {
  state(meta: ResultMeta): void;
  error(err: Error): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RpcBackend implements ResultBackend {
  readonly safeUrl = 'rpc://';
  /** The reply queue (`RPCBackend.oid`). */
  readonly oid: string;
  /** Seconds, or null (no `x-expires`). */
  readonly expires: number | null;
  readonly persistent: boolean;
  readonly serializer: string;
  readonly accept: readonly string[];
  /** The broker endpoints (a `;` failover list is tried in turn, as the transport does). */
  readonly endpoints: readonly AmqpEndpoint[];
  /** The broker URL without its password. */
  readonly brokerSafeUrl: string;
  /** Last connection error, for diagnostics. */
  lastError: Error | null = null;

  private readonly connectSettings: ConnectSettings;
  private endpointIndex = 0;
  private conn: ChannelModel | null = null;
  private connecting: Promise<ChannelModel> | null = null;
  private channel: Channel | null = null;
  private pubChannel: Promise<ConfirmChannel> | null = null;
  private declaring: Promise<void> | null = null;
  private declaredAt = 0;
  private consuming: Promise<void> | null = null;
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Latest unclaimed reply (or undecodable reply) per task id, oldest first. */
  private readonly inbox = new Map<string, ResultMeta | RpcReplyError>();
  /**
   * The unclaimed replies before a task's latest one (oldest first, at most {@link MAX_EARLIER} per
   * task and {@link MAX_EARLIER_TOTAL} in all), for the wait that comes later: it replays them to its `onMessage` before the latest, as
   * Celery's consumer hands a later `get(on_message=...)` every state still unread on the queue
   * (STARTED, RETRY, PROGRESS... of a task that ran between the send and the wait).
   */
  private readonly earlier = new Backlog<ResultMeta>(MAX_EARLIER, MAX_EARLIER_TOTAL);
  private closed = false;
  private reconnecting = false;

  constructor(options: RpcBackendOptions = {}) {
    const url = options.broker_url;
    if (!url) throw new ConfigurationError('the rpc:// result backend sends results through the broker: set broker_url to an amqp:// URL');
    const useSsl = options.broker_use_ssl ?? false;
    this.endpoints = parseAmqpUrls(url, useSsl);
    this.brokerSafeUrl = this.endpoints.length === 1 ? this.endpoints[0]!.safeUrl : safeUrlOf(url);
    this.connectSettings = {
      heartbeat: options.broker_heartbeat ?? 120,
      connectTimeout: options.broker_connection_timeout ?? 4,
      useSsl,
      clientName: 'celeriac rpc backend',
    };
    this.oid = options.oid ?? randomUUID();
    const expires = options.result_expires === undefined ? DEFAULT_EXPIRES : options.result_expires;
    if (expires !== null && (typeof expires !== 'number' || !Number.isFinite(expires) || expires < 0)) {
      throw new ConfigurationError(`result_expires must be a number of seconds >= 0 or null (got ${String(expires)})`);
    }
    this.expires = expires;
    this.persistent = options.result_persistent ?? false;
    this.serializer = options.result_serializer ?? 'json';
    if (/pickle/.test(this.serializer)) {
      throw new ConfigurationError('result_serializer pickle can only be read and written by Python; use json, msgpack or yaml');
    }
    try {
      getSerializer(this.serializer);
    } catch (err) {
      throw new ConfigurationError(this.serializer === 'auth'
        ? 'result_serializer auth signs results with the auth serializer: call app.setupSecurity() (security_key, security_certificate, security_cert_store) before the result backend is first used'
        : `unknown result_serializer ${JSON.stringify(this.serializer)}`, { cause: err });
    }
    this.accept = [...(options.result_accept_content ?? options.accept_content ?? ['json'])];
  }

  /** `RPCBackend.binding`'s queue arguments: `x-expires` = int(expires * 1000) ms (kombu `maybe_s_to_ms`). */
  queueArguments(): Record<string, unknown> {
    if (this.expires === null) return {};
    const ms = Math.trunc(this.expires * 1000);
    if (ms <= 0) {
      throw new ConfigurationError(`result_expires ${this.expires} gives the rpc reply queue x-expires ${ms}, which RabbitMQ refuses; use null for no expiry`);
    }
    return toAmqpHeaders({ 'x-expires': ms });
  }

  // -------------------------------------------------------------------------------------------
  // connection

  async connect(): Promise<void> {
    await this.connection();
  }

  private assertOpen(): void {
    if (this.closed) throw new CeleriacError('result backend rpc:// is closed');
  }

  private connection(): Promise<ChannelModel> {
    this.assertOpen();
    if (this.conn) return Promise.resolve(this.conn);
    if (this.connecting) return this.connecting;
    const p = (async () => {
      let conn: ChannelModel;
      try {
        const opened = await openFailover([...this.endpoints], this.endpointIndex, this.connectSettings);
        this.endpointIndex = opened.index;
        conn = opened.conn;
      } catch (err) {
        throw new OperationalError(`rpc:// result backend: ${(err as Error).message}`, { cause: err });
      }
      if (this.closed) {
        await conn.close().catch(() => undefined);
        throw new CeleriacError('result backend rpc:// is closed');
      }
      conn.on('error', (err: Error) => (this.lastError = err));
      conn.on('close', () => this.onConnectionLost(conn));
      this.conn = conn;
      return conn;
    })();
    this.connecting = p;
    p.then(
      () => (this.connecting = null),
      () => (this.connecting = null),
    );
    return p;
  }

  private onConnectionLost(conn: ChannelModel): void {
    if (this.conn !== conn) return;
    this.conn = null;
    // the next attempt starts at the next failover URL (kombu round-robin), as the transport does
    this.endpointIndex = (this.endpointIndex + 1) % this.endpoints.length;
    this.channel = null;
    this.pubChannel = null;
    this.declaring = null;
    this.declaredAt = 0;
    this.consuming = null;
    if (!this.closed && this.waiters.size > 0) void this.reconnect();
  }

  /** `ResultConsumer._reconnect`: a fresh connection, the reply queue declared and consumed again. */
  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (let attempt = 0; attempt < RECONNECT_ATTEMPTS && !this.closed; attempt++) {
        try {
          await this.startConsuming();
          return;
        } catch (err) {
          this.lastError = err as Error;
          await sleep(1000);
        }
      }
      if (this.closed) return;
      const err = new OperationalError(
        `rpc:// result backend lost its connection to ${this.brokerSafeUrl} and could not reconnect: ${this.lastError?.message ?? 'unknown error'}`,
        { cause: this.lastError, retries: RECONNECT_ATTEMPTS },
      );
      for (const set of [...this.waiters.values()]) for (const w of [...set]) w.error(err);
    } finally {
      this.reconnecting = false;
    }
  }

  /** The channel used to declare and consume the reply queue. */
  private async consumerChannel(): Promise<Channel> {
    const conn = await this.connection();
    if (this.channel) return this.channel;
    const ch = await conn.createChannel();
    ch.on('error', (err: Error) => (this.lastError = err));
    ch.on('close', () => {
      if (this.channel !== ch) return;
      this.channel = null;
      this.declaring = null;
      this.declaredAt = 0;
      this.consuming = null;
      if (!this.closed && this.conn && this.waiters.size > 0) void this.reconnect();
    });
    this.channel = ch;
    return ch;
  }

  /** Declare the reply queue as `RPCBackend.binding` does (default exchange: no binding). */
  private declare(): Promise<void> {
    if (this.declaring) return this.declaring;
    const p = (async () => {
      const ch = await this.consumerChannel();
      await ch.assertQueue(this.oid, { durable: false, autoDelete: true, exclusive: false, arguments: this.queueArguments() });
      this.declaredAt = Date.now();
    })();
    this.declaring = p;
    p.catch((err: Error) => {
      this.lastError = err;
      if (this.declaring === p) this.declaring = null;
    });
    return p;
  }

  /** Declared and consumed (`ResultConsumer.start`, `no_ack=True`). */
  private startConsuming(): Promise<void> {
    if (this.consuming) return this.consuming;
    const p = (async () => {
      await this.declare();
      const ch = await this.consumerChannel();
      await ch.consume(this.oid, (msg) => this.onReply(msg), { noAck: true });
    })();
    this.consuming = p;
    p.catch(() => {
      if (this.consuming === p) this.consuming = null;
    });
    return p;
  }

  // -------------------------------------------------------------------------------------------
  // replies

  private onReply(msg: ConsumeMessage | null): void {
    if (msg === null) return; // consumer cancelled by the server (queue deleted): the channel 'close' path reconnects
    let meta: ResultMeta;
    try {
      meta = decodeRpcReply(msg, this.accept).meta;
    } catch (err) {
      const e = err as RpcReplyError;
      this.lastError = e;
      // never dropped silently: the wait for that task fails with it, or the next read of it does
      const id = e.correlationId;
      const set = id ? this.waiters.get(id) : undefined;
      if (set && set.size > 0) for (const w of [...set]) w.error(e);
      else if (id) this.keep(id, e);
      else for (const s of [...this.waiters.values()]) for (const w of [...s]) w.error(e);
      return;
    }
    this.dispatch(meta);
  }

  private dispatch(meta: ResultMeta): void {
    const id = meta.task_id;
    const set = this.waiters.get(id);
    const ready = READY_STATES.has(meta.status);
    if (set && set.size > 0) {
      if (ready) this.inbox.delete(id);
      else this.keep(id, meta);
      for (const w of [...set]) w.state(meta);
      return;
    }
    this.keep(id, meta);
  }

  /** Keep the latest reply of a task nobody waits for (bounded like Celery's `BufferMap`). */
  private keep(id: string, value: ResultMeta | RpcReplyError): void {
    const before = this.inbox.get(id);
    if (before && !(before instanceof Error) && !(value instanceof Error) && !this.waiters.get(id)?.size) {
      this.earlier.push(id, before);
    }
    this.inbox.delete(id);
    this.inbox.set(id, value);
    if (this.inbox.size > MESSAGE_BUFFER_MAX) {
      const oldest = this.inbox.keys().next().value;
      if (oldest !== undefined) {
        this.inbox.delete(oldest);
        this.earlier.take(oldest);
      }
    }
  }

  private pendingMeta(taskId: string): ResultMeta {
    return { status: PENDING, result: null, traceback: null, children: null, date_done: null, task_id: taskId };
  }

  // -------------------------------------------------------------------------------------------
  // ResultBackend: caller side

  /**
   * `on_task_call`: the reply queue is declared before the task is sent (the returned promise), so the
   * worker's reply has a queue to land in; it is also consumed from then on.
   */
  onTaskCall(_taskId: string): void | Promise<void> {
    if (this.closed) return;
    if (this.declaredAt && Date.now() - this.declaredAt < REDECLARE_MS) {
      if (!this.consuming) void this.startConsuming().catch((err: Error) => (this.lastError = err));
      return;
    }
    if (this.declaredAt) {
      // refresh the declaration (x-expires) without holding the send back
      this.declaring = null;
      void this.declare().catch(() => undefined);
      return;
    }
    return this.startConsuming();
  }

  async waitForReady(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    const { signal, onMessage } = options;
    const timeout = options.timeout ? options.timeout : null;
    if (signal?.aborted) throw abortReason(signal);
    this.assertOpen();
    const buffered = this.inbox.get(taskId);
    const earlier = this.earlier.take(taskId);
    if (buffered instanceof Error) {
      this.inbox.delete(taskId);
      throw buffered;
    }
    if (buffered) {
      if (earlier) for (const m of earlier) onMessage?.(m);
      onMessage?.(buffered);
      if (READY_STATES.has(buffered.status)) {
        this.inbox.delete(taskId);
        return buffered;
      }
    }
    return new Promise<ResultMeta>((resolve, reject) => {
      const waiter: Waiter = {
        state: (meta) => {
          try {
            onMessage?.(meta);
          } catch (err) {
            return finish(err);
          }
          if (READY_STATES.has(meta.status)) finish(undefined, meta);
        },
        error: (err) => finish(err),
      };
      const { finish } = settleWait(taskId, { timeout, signal }, resolve, reject, () => {
        const set = this.waiters.get(taskId);
        set?.delete(waiter);
        if (set?.size === 0) this.waiters.delete(taskId);
      });
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(waiter);
      this.startConsuming().catch((err: unknown) => finish(err));
    });
  }

  /**
   * The latest state that arrived for the task (PENDING when none did). Starts consuming the reply queue
   * and waits for the broker to hand over what is already in it, so a reply that is queued is seen.
   */
  async getTaskMeta(taskId: string): Promise<ResultMeta> {
    this.assertOpen();
    await this.startConsuming();
    // a round trip on the consuming channel: deliveries of messages queued before it arrive first
    const ch = await this.consumerChannel();
    await ch.checkQueue(this.oid);
    const got = this.inbox.get(taskId);
    if (got instanceof Error) {
      this.inbox.delete(taskId);
      throw got;
    }
    return got ?? this.pendingMeta(taskId);
  }

  /** Celery: `forget` is `_forget` → `NotImplementedError('backend does not implement forget.')`. */
  async forget(taskId: string): Promise<void> {
    this.inbox.delete(taskId);
    this.earlier.take(taskId);
    throw new BackendNotImplementedError('backend does not implement forget.');
  }

  async saveGroup(_groupId: string, _resultTuple: PyValue): Promise<void> {
    throw new BackendNotImplementedError('save_group is not supported by this backend.');
  }

  async restoreGroup(_groupId: string): Promise<PyValue | null> {
    throw new BackendNotImplementedError('restore_group is not supported by this backend.');
  }

  async deleteGroup(_groupId: string): Promise<void> {
    throw new BackendNotImplementedError('delete_group is not supported by this backend.');
  }

  /** `ensure_chords_allowed`: the RPC backend has no chord support. */
  ensureChordsAllowed(): never {
    throw new BackendNotImplementedError(E_NO_CHORD_SUPPORT);
  }

  // -------------------------------------------------------------------------------------------
  // ResultBackend: worker side

  private publisher(): Promise<ConfirmChannel> {
    if (this.pubChannel) return this.pubChannel;
    const p = (async () => {
      const conn = await this.connection();
      const ch = await conn.createConfirmChannel();
      ch.on('error', (err: Error) => (this.lastError = err));
      ch.on('close', () => {
        if (this.pubChannel === p) this.pubChannel = null;
      });
      return ch;
    })();
    this.pubChannel = p;
    p.catch(() => {
      if (this.pubChannel === p) this.pubChannel = null;
    });
    return p;
  }

  /**
   * `store_result`: publish the state to the request's `reply_to` (nothing without one), retried on
   * connection errors with `RPCBackend.retry_policy` (20 times, 1 s apart).
   */
  async storeResult(meta: ResultMeta, request?: StoreRequest | null): Promise<void> {
    const replyTo = request?.reply_to;
    if (!replyTo) return;
    this.assertOpen();
    const { content, options } = encodeRpcReply(meta, {
      serializer: this.serializer,
      persistent: this.persistent,
      correlationId: request?.correlation_id ?? null,
    });
    for (let retries = 0; ; retries++) {
      try {
        const ch = await this.publisher();
        await new Promise<void>((resolve, reject) => {
          ch.publish('', replyTo, content, options, (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
        });
        return;
      } catch (err) {
        this.lastError = err as Error;
        const retriable = err instanceof OperationalError || isConnectionError(err) || /closed|Channel ended/i.test((err as Error)?.message ?? '');
        if (!retriable || this.closed || retries >= PUBLISH_MAX_RETRIES) {
          throw new OperationalError(`rpc:// result backend could not publish the ${meta.status} reply of task ${meta.task_id} to ${JSON.stringify(replyTo)}: ${(err as Error)?.message ?? String(err)}`, { cause: err, retries });
        }
        this.pubChannel = null;
        await sleep(retries === 0 ? 0 : 1000);
      }
    }
  }

  // -------------------------------------------------------------------------------------------

  /** Number of tasks with a kept reply (for tests and diagnostics). */
  get bufferedCount(): number {
    return this.inbox.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new CeleriacError('result backend rpc:// closed while waiting');
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.error(err);
    this.waiters.clear();
    this.inbox.clear();
    this.earlier.clear();
    const pending = this.connecting;
    const conn = this.conn ?? (pending ? await pending.catch(() => null) : null);
    this.conn = null;
    if (!conn) return;
    // a dead socket never answers connection.close: give up on the handshake after a while
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      conn.close().then(() => false, () => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (gaveUp) (conn as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
}
