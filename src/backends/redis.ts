/**
 * Celery's Redis result backend (`celery/backends/redis.py:RedisBackend` + `BaseKeyValueStoreBackend`),
 * byte-compatible with Python Celery 5.6:
 *
 * - records live at `[global_keyprefix]celery-task-meta-<id>`, serialized with `result_serializer`
 *   (kombu JSON by default; no compression: Celery defines `result_compression` but never applies it);
 * - `storeResult` GETs the key first and leaves a stored SUCCESS alone (`_store_result`), then runs
 *   `MULTI; SETEX key result_expires value (SET when expires is 0/null); PUBLISH key value; EXEC` (`_set`);
 * - waiting subscribes to the key's channel on one shared subscriber connection (refcounted per key),
 *   then GETs once so a result stored before the subscription is not missed; after a reconnect it
 *   re-subscribes and MGETs every key still waited for (`ResultConsumer._reconnect_pubsub`);
 * - groups: `celery-taskset-meta-<gid>` = `{"result": <GroupResult tuple>}`.
 */
import { Backlog } from './backlog.ts';
import { Redis } from 'ioredis';
import type { WaitOptions, ResultBackend } from '../backend.ts';
import { abortReason, BackendStoreError, settleWait } from '../backend.ts';
import { parseRedisUrl, ConfigurationError, type RedisConnectOptions, type RedisUseSsl } from '../redis/url.ts';
import { connectRedis, guardRedisClient, isReplyError } from '../redis/client.ts';
import { StoreBatcher, type StoreReply } from './redis-store.ts';
import { RedisChord } from './redis-chord.ts';
import { CeleriacError } from '../../protocol/errors.ts';
import { OperationalError } from '../errors.ts';
import { dumps, loads, getSerializer } from '../../protocol/serialization/index.ts';
import { groupKey, parseResultMeta, taskKey, type ResultMeta } from '../../protocol/result.ts';
import { PENDING, READY_STATES, SUCCESS } from '../../protocol/states.ts';
import type { PyValue } from '../../protocol/values.ts';

/** `result_backend_transport_options` the Redis backend reads. */
export interface RedisBackendTransportOptions extends RedisConnectOptions {
  /** Prepended to every key (`_` added unless it ends in one of `:_-.`), as Celery does. */
  global_keyprefix?: string;
  /** Chord results kept in a ZSET scored by `group_index` (default true) or, when false, a list. */
  result_chord_ordered?: boolean;
}

/** Settings with Celery's names. */
export interface RedisBackendOptions {
  /** Seconds a record lives (`SETEX`); default 86400 (1 day). `0` or `null`: stored without expiry (`SET`). */
  result_expires?: number | null;
  /** `json` (default), `msgpack` or `yaml`. `pickle` cannot be written or read from TypeScript. */
  result_serializer?: string;
  /** Content types accepted when reading records; default `accept_content`, then `[result_serializer]`... */
  result_accept_content?: readonly string[] | null;
  /** Fallback for `result_accept_content` (Celery's precedence); default `['json']`. */
  accept_content?: readonly string[] | null;
  result_backend_transport_options?: RedisBackendTransportOptions;
  /**
   * `redis_backend_use_ssl`: `{ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ssl_keyfile}` as in Celery: with a
   * rediss:// URL (whose query parameters win) or a sentinel:// URL (TLS to the master); a redis:// URL
   * with it is refused, and TLS without `ssl_cert_reqs` too, with Celery's messages.
   */
  redis_backend_use_ssl?: RedisUseSsl;
}

/** Celery's `RedisBackend._MAX_STR_VALUE_SIZE` (512 MB). */
const MAX_VALUE_SIZE = 536870912;
const DEFAULT_EXPIRES = 86400;
/** Unread records kept for later waits: in all (Celery's `MESSAGE_BUFFER_MAX`), and per task. */
const MAX_BACKLOG = 8192;
const MAX_BACKLOG_PER_TASK = 64;

function storeError(key: string, err: unknown): unknown {
  return isReplyError(err) ? new BackendStoreError(`storing ${key} failed: ${(err as Error).message}`, { cause: err }) : err;
}

type Listener = (meta: ResultMeta | Error) => void;

export class RedisBackend implements ResultBackend {
  readonly safeUrl: string;
  /** Seconds, or null for no expiry (`SET`). */
  readonly expires: number | null;
  readonly serializer: string;
  readonly accept: readonly string[];
  /** The normalized global key prefix ('' when none). */
  readonly keyprefix: string;
  readonly client: Redis;
  /** Celery's native chord join on this Redis (`set_chord_size`, `on_chord_part_return`: redis-chord.ts). */
  readonly chords: RedisChord;

  private readonly contentType: string;
  private readonly contentEncoding: string;
  private subscriber: Redis | null = null;
  /** Channel (key) → number of holders (waits + early `onTaskCall` holds). */
  private readonly refs = new Map<string, number>();
  /** Channel → SUBSCRIBE in flight (or done) for the current holders. */
  private readonly subscribing = new Map<string, Promise<unknown>>();
  /** Channel → callbacks of the waits on it. */
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Channels held by `onTaskCall` until a READY state is seen. */
  private readonly early = new Set<string>();
  /**
   * Records that arrived on a channel held by `onTaskCall` while no wait listened (oldest first): a wait
   * that starts later replays them to its `onMessage`, as Celery's consumer hands a later
   * `get(on_message=...)` every state still unread on its pubsub connection (STARTED, RETRY, PROGRESS...
   * of a task that ran between the send and the wait). Dropped when the READY state arrives (the wait's
   * GET finds it) and bounded like Celery's message buffer.
   */
  private readonly backlog = new Backlog<ResultMeta>(MAX_BACKLOG_PER_TASK, MAX_BACKLOG);
  private connected = false;
  private closed = false;
  /** Stores go through the STORE_RESULT script; off once the server refused it (Celery's GET + MULTI then). */
  private scripting = true;
  /** How the script reads a stored record's status: 'json', 'msgpack', or '' (hand it back to decode here). */
  private readonly statusFormat: string;
  /** The STORE_RESULT script, first attempts of a tick in one call (redis-store.ts). */
  private readonly stores: StoreBatcher;
  /** Last connection error, for diagnostics (ioredis errors carry no credentials). */
  lastError: Error | null = null;

  constructor(url: string, options: RedisBackendOptions = {}) {
    const transport = options.result_backend_transport_options ?? {};
    const target = parseRedisUrl(url, transport, options.redis_backend_use_ssl, 'backend');
    this.safeUrl = target.safeUrl;
    const expires = options.result_expires === undefined ? DEFAULT_EXPIRES : options.result_expires;
    if (expires !== null && (typeof expires !== 'number' || !Number.isFinite(expires) || expires < 0)) {
      throw new ConfigurationError(`result_expires must be a number of seconds >= 0 or null (got ${String(expires)})`);
    }
    // Celery: expires_type=int, and `if self.expires: setex else set`.
    const whole = expires === null ? 0 : Math.trunc(expires);
    this.expires = whole > 0 ? whole : null;
    this.serializer = options.result_serializer ?? 'json';
    if (/pickle/.test(this.serializer)) {
      throw new ConfigurationError('result_serializer pickle can only be read and written by Python; use json, msgpack or yaml');
    }
    let ser;
    try {
      ser = getSerializer(this.serializer);
    } catch (err) {
      throw new ConfigurationError(this.serializer === 'auth'
        ? 'result_serializer auth signs results with the auth serializer: call app.setupSecurity() (security_key, security_certificate, security_cert_store) before the result backend is first used'
        : `unknown result_serializer ${JSON.stringify(this.serializer)}`, { cause: err });
    }
    this.contentType = ser.contentType;
    this.contentEncoding = ser.contentEncoding;
    this.accept = [...(options.result_accept_content ?? options.accept_content ?? ['json'])];
    const prefix = transport.global_keyprefix ?? '';
    this.keyprefix = prefix ? (':_-.'.includes(prefix[prefix.length - 1] ?? '') ? prefix : `${prefix}_`) : '';
    this.client = guardRedisClient(new Redis(target.options));
    this.client.on('error', (err: Error) => {
      this.lastError = err;
    });
    this.chords = new RedisChord({
      client: this.client, keyprefix: this.keyprefix, expires: this.expires, serializer: this.serializer,
      accept: this.accept, ordered: transport.result_chord_ordered !== false,
    });
    // the script reads the status itself only when this side would accept (and could decode) the record
    const accepted = this.accept.some((a) => a === this.serializer || a === this.contentType);
    this.statusFormat = accepted && (this.serializer === 'json' || this.serializer === 'msgpack') ? this.serializer : '';
    this.stores = new StoreBatcher(this.client, this.expires ?? 0, this.statusFormat);
  }

  // -------------------------------------------------------------------------------------------
  // keys and codec

  /** `get_key_for_task`: `[prefix]celery-task-meta-<id>`; also the pub/sub channel. */
  keyForTask(taskId: string): string {
    if (!taskId) throw new CeleriacError(`task_id must not be empty. Got ${JSON.stringify(taskId)} instead.`);
    return taskKey(taskId, this.keyprefix);
  }

  /** `get_key_for_group`: `[prefix]celery-taskset-meta-<gid>`. */
  keyForGroup(groupId: string): string {
    if (!groupId) throw new CeleriacError(`group_id must not be empty. Got ${JSON.stringify(groupId)} instead.`);
    return groupKey(groupId, this.keyprefix);
  }

  /** `Backend.encode`: the serialized record, as bytes. */
  encode(value: PyValue): Buffer {
    const { body } = dumps(value, this.serializer);
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }

  /** `Backend.decode`: read with the result serializer's content type, checked against `accept`. */
  decode(payload: Uint8Array): PyValue {
    return loads(payload, this.contentType, this.contentEncoding, this.accept);
  }

  private decodeMeta(payload: Uint8Array, taskId?: string): ResultMeta {
    return parseResultMeta(this.decode(payload), taskId);
  }

  private pendingMeta(taskId: string): ResultMeta {
    return { status: PENDING, result: null, traceback: null, children: null, date_done: null, task_id: taskId };
  }

  // -------------------------------------------------------------------------------------------
  // connection

  async connect(): Promise<void> {
    if (this.closed) throw new CeleriacError(`result backend ${this.safeUrl} is closed`);
    if (this.connected) return;
    try {
      await connectRedis(this.client);
    } catch (err) {
      throw new OperationalError(`cannot connect to the Redis result backend ${this.safeUrl}: ${(err as Error).message}`, { cause: err });
    }
    this.connected = true;
  }

  private async ensureConnected(): Promise<void> {
    if (!this.connected) await this.connect();
  }

  private getSubscriber(): Redis {
    if (this.closed) throw new CeleriacError(`result backend ${this.safeUrl} is closed`);
    if (this.subscriber) return this.subscriber;
    const sub = guardRedisClient(this.client.duplicate({ lazyConnect: false }));
    let first = true;
    sub.on('error', (err: Error) => {
      this.lastError = err;
    });
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      this.dispatch(channel.toString('utf8'), message);
    });
    sub.on('ready', () => {
      if (first) {
        first = false;
        return;
      }
      void this.afterReconnect(sub);
    });
    this.subscriber = sub;
    return sub;
  }

  /** Re-subscribe (confirmed) then MGET every key still waited for, as `_reconnect_pubsub` does. */
  private async afterReconnect(sub: Redis): Promise<void> {
    const keys = [...this.refs.keys()];
    if (keys.length === 0) return;
    try {
      await sub.subscribe(...keys);
      const values = await this.client.mgetBuffer(...keys);
      keys.forEach((key, i) => {
        const v = values[i];
        if (v) this.dispatch(key, v);
      });
    } catch (err) {
      this.lastError = err as Error;
    }
  }

  private dispatch(channel: string, payload: Uint8Array): void {
    let meta: ResultMeta | Error;
    try {
      meta = this.decodeMeta(payload);
    } catch (err) {
      meta = err as Error;
    }
    const set = this.listeners.get(channel);
    if (!(meta instanceof Error) && this.early.has(channel)) {
      if (READY_STATES.has(meta.status)) {
        this.backlog.take(channel);
        this.early.delete(channel);
        this.release(channel);
      } else if (!set) {
        this.backlog.push(channel, meta);
      }
    }
    if (!set) return;
    for (const fn of [...set]) fn(meta);
  }

  /** Holds a subscription on `channel`; resolves when Redis has confirmed it. */
  private async acquire(channel: string): Promise<void> {
    const sub = this.getSubscriber();
    const n = (this.refs.get(channel) ?? 0) + 1;
    this.refs.set(channel, n);
    let p = this.subscribing.get(channel);
    if (n === 1 || !p) {
      p = sub.subscribe(channel);
      this.subscribing.set(channel, p);
    }
    try {
      await p;
    } catch (err) {
      this.release(channel);
      throw err;
    }
  }

  private release(channel: string): void {
    const n = (this.refs.get(channel) ?? 0) - 1;
    if (n > 0) {
      this.refs.set(channel, n);
      return;
    }
    this.refs.delete(channel);
    this.subscribing.delete(channel);
    if (this.subscriber && !this.closed) this.subscriber.unsubscribe(channel).catch((err: Error) => (this.lastError = err));
  }

  /** Number of channels currently subscribed (for tests and diagnostics). */
  get subscribedCount(): number {
    return this.refs.size;
  }

  // -------------------------------------------------------------------------------------------
  // ResultBackend

  /**
   * Celery's `_store_result` + `_set` (GET; leave a stored SUCCESS alone; SETEX + PUBLISH), as ONE
   * script round trip instead of GET then MULTI/EXEC: the same key, value, expiry and PUBLISH, and the
   * check and the write are atomic (Celery's GET-then-write can race; this cannot). When the script
   * cannot read the stored record's status (a serializer it does not decode, or one outside
   * `result_accept_content`), it hands the record back; this side decodes it as Celery would (a record
   * it cannot decode makes the store fail, as in Celery), and, when it is not SUCCESS, writes only if
   * the record is still the one it read (compare-and-set, repeated if it changed meanwhile).
   */
  async storeResult(meta: ResultMeta): Promise<void> {
    if (!this.connected) await this.ensureConnected();
    const key = this.keyForTask(meta.task_id);
    const value = this.encode(meta as unknown as PyValue);
    if (value.length > MAX_VALUE_SIZE) throw new BackendStoreError(`value too large for Redis backend (key ${key})`);
    if (!this.scripting) return this.storeClassic(key, value, meta.task_id);
    let seen: Buffer | string = '';
    for (;;) {
      let reply: StoreReply;
      try {
        reply = await (seen === '' ? this.stores.store(key, value) : this.stores.storeSeen(key, value, seen));
      } catch (err) {
        if (!isReplyError(err) || !this.scripting) throw storeError(key, err);
        // scripting refused (disabled, ACL...): Celery's own GET + MULTI/EXEC from now on
        this.scripting = false;
        return this.storeClassic(key, value, meta.task_id);
      }
      if (typeof reply === 'number' || reply === null) return; // 1 stored, 0 SUCCESS kept
      if (this.decodeMeta(reply, meta.task_id).status === SUCCESS) return;
      seen = reply;
    }
  }

  /** What Celery does: GET, decode, and unless SUCCESS, SETEX + PUBLISH in a MULTI (used without scripting). */
  private async storeClassic(key: string, value: Buffer, taskId: string): Promise<void> {
    const current = await this.client.getBuffer(key);
    if (current && current.length > 0 && this.decodeMeta(current, taskId).status === SUCCESS) return;
    await this.set(key, value);
  }

  /** `RedisBackend._set`: SETEX (or SET) and PUBLISH in one MULTI/EXEC. */
  private async set(key: string, value: Buffer): Promise<void> {
    if (value.length > MAX_VALUE_SIZE) throw new BackendStoreError(`value too large for Redis backend (key ${key})`);
    const multi = this.client.multi();
    if (this.expires) multi.setex(key, this.expires, value);
    else multi.set(key, value);
    multi.publish(key, value);
    const replies = await multi.exec();
    for (const [err] of replies ?? []) if (err) throw new BackendStoreError(`storing ${key} failed: ${err.message}`, { cause: err });
  }

  async getTaskMeta(taskId: string): Promise<ResultMeta> {
    await this.ensureConnected();
    const raw = await this.client.getBuffer(this.keyForTask(taskId));
    if (!raw || raw.length === 0) return this.pendingMeta(taskId);
    return this.decodeMeta(raw, taskId);
  }

  async getMany(taskIds: readonly string[]): Promise<ResultMeta[]> {
    if (taskIds.length === 0) return [];
    await this.ensureConnected();
    const values = await this.client.mgetBuffer(...taskIds.map((id) => this.keyForTask(id)));
    return taskIds.map((id, i) => {
      const v = values[i];
      return v && v.length > 0 ? this.decodeMeta(v, id) : this.pendingMeta(id);
    });
  }

  onTaskCall(taskId: string): void {
    const channel = this.keyForTask(taskId);
    if (this.early.has(channel) || this.closed) return;
    this.early.add(channel);
    this.acquire(channel).catch((err: Error) => {
      this.lastError = err;
      this.early.delete(channel);
    });
  }

  async waitForReady(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    const { signal, onMessage } = options;
    const timeout = options.timeout ? options.timeout : null;
    if (signal?.aborted) throw abortReason(signal);
    await this.ensureConnected();
    const channel = this.keyForTask(taskId);

    return new Promise<ResultMeta>((resolve, reject) => {
      let held = false;
      let lastSeen: string | null = null;
      const listener: Listener = (meta) => {
        if (wait.done) return;
        if (meta instanceof Error) return finish(meta);
        // The GET and a PUBLISH can both report the same record; tell the caller once.
        const fingerprint = `${meta.status}\u0000${JSON.stringify(meta.result, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`;
        if (fingerprint !== lastSeen) {
          lastSeen = fingerprint;
          try {
            onMessage?.(meta);
          } catch (err) {
            return finish(err);
          }
        }
        if (READY_STATES.has(meta.status)) finish(undefined, meta);
      };
      const wait = settleWait(taskId, { timeout, signal }, resolve, reject, (meta) => {
        this.listeners.get(channel)?.delete(listener);
        if (this.listeners.get(channel)?.size === 0) this.listeners.delete(channel);
        if (held) this.release(channel);
        if (meta && this.early.delete(channel)) {
          this.backlog.take(channel);
          this.release(channel);
        }
      });
      const { finish } = wait;

      let set = this.listeners.get(channel);
      if (!set) this.listeners.set(channel, (set = new Set()));
      set.add(listener);
      // what the task went through since it was sent, before this wait listened
      const missed = this.backlog.take(channel);
      if (missed) for (const m of missed) if (!wait.done) listener(m);

      this.acquire(channel)
        .then(async () => {
          held = true;
          if (wait.done) {
            held = false;
            this.release(channel);
            return;
          }
          const raw = await this.client.getBuffer(channel);
          if (raw && raw.length > 0) listener(this.decodeMeta(raw, taskId));
        })
        .catch((err: unknown) => finish(err));
    });
  }

  async forget(taskId: string): Promise<void> {
    await this.ensureConnected();
    const channel = this.keyForTask(taskId);
    await this.client.del(channel);
    this.backlog.take(channel);
    if (this.early.delete(channel)) this.release(channel);
  }

  async saveGroup(groupId: string, resultTuple: PyValue): Promise<void> {
    await this.ensureConnected();
    await this.set(this.keyForGroup(groupId), this.encode({ result: resultTuple }));
  }

  /** The stored `GroupResult.as_tuple()` (the `result` field of the group record), or null. */
  async restoreGroup(groupId: string): Promise<PyValue | null> {
    await this.ensureConnected();
    const raw = await this.client.getBuffer(this.keyForGroup(groupId));
    if (!raw || raw.length === 0) return null;
    const meta = this.decode(raw);
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta) || !('result' in meta)) {
      throw new CeleriacError(`group record ${this.keyForGroup(groupId)} has no "result" field`);
    }
    return (meta as Record<string, PyValue>)['result'] ?? null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.ensureConnected();
    await this.client.del(this.keyForGroup(groupId));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new CeleriacError(`result backend ${this.safeUrl} closed while waiting`);
    for (const set of [...this.listeners.values()]) for (const fn of [...set]) fn(err);
    this.listeners.clear();
    this.refs.clear();
    this.subscribing.clear();
    this.early.clear();
    this.backlog.clear();
    const quit = async (r: Redis) => {
      if (r.status === 'wait' || r.status === 'end') return;
      try {
        await r.quit();
      } catch {
        r.disconnect();
      }
    };
    await Promise.all([quit(this.client), this.subscriber ? quit(this.subscriber) : Promise.resolve()]);
  }
}
