/**
 * The Redis transport: kombu's exact layout (`kombu/transport/redis.py`), so TypeScript and Python
 * processes share queues, bindings and the unacked hash.
 *
 * Differences from kombu, all on the safe side:
 * - a publish that matches no binding throws {@link UnroutableError} (kombu drops it silently) unless
 *   `deadletter_queue` is set;
 * - a malformed list element is moved to `<queue>.celeriac.invalid` and reported, not lost;
 * - close() gives held messages back so they keep their original order (kombu reverses them);
 * - restoring one of our own deliveries whose exchange/routing key no longer reach a queue puts it back
 *   on the queue it came from (kombu would drop it).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { encodeRedisEnvelope } from '../../../protocol/index.ts';
import type { RawMessage } from '../../../protocol/types.ts';
import type {
  BindingRow, Broker, ConsumeOptions, Consumer, Delivery, ExchangeType, PublishTarget, QueueDeclaration,
} from '../../broker.ts';
import { parseRedisUrl, type RedisUseSsl } from '../../redis/url.ts';
import { connectRedis, corkUntilNextTick, guardRedisClient, isReplyError } from '../../redis/client.ts';
import { BrokerConnectionError, BrokerError, UnroutableError, reportError } from '../errors.ts';
import { RedisConsumer, type ConsumerHost, type RedisDelivery } from './consumer.ts';
import { RedisFanoutConsumer } from './fanout.ts';
import { inferExchangeType, lookupQueues, prepareBind, type Binding } from './exchange.ts';
import { messagePriority, RedisKeys } from './keys.ts';
import { resolveRedisOptions, type RedisTransportOptions, type ResolvedRedisOptions } from './options.ts';
import { execOk, UnackedStore } from './qos.ts';
import { PublishCommand, PushBatch } from './push-batch.ts';
import { uuid4 } from '../../uuid4.ts';
import { RedisQuarantine } from '../../quarantine/redis.ts';
import { quarantineBounds, type QuarantineStore } from '../../quarantine/store.ts';

type QuarantineSettings = Parameters<typeof quarantineBounds>[0];

/** Most values one batched LPUSH carries (see RedisBroker.pushBatched). */
const MAX_PUSH_BATCH = 1000;

export interface RedisBrokerOptions {
  /** Where problems no caller can receive go (connection drops, restore failures). Default: console.error. */
  onError?: (error: Error) => void;
}

export class RedisBroker implements Broker, ConsumerHost {
  readonly safeUrl: string;
  readonly db: number;
  readonly options: ResolvedRedisOptions;
  readonly keys: RedisKeys;
  readonly client: Redis;
  readonly store: UnackedStore;
  readonly quarantine: RedisQuarantine;
  private readonly redisOptions: RedisOptions;
  private readonly onError: ((error: Error) => void) | undefined;
  private readonly exchangeTypes = new Map<string, ExchangeType>();
  private readonly fanoutQueues = new Set<string>();
  private readonly declared = new Set<string>();
  /** Declarations already made, by object (the router hands out the same objects), with what was declared. */
  private readonly declaredObjects = new WeakMap<QueueDeclaration, readonly [string, string | undefined, string | undefined, string | undefined]>();
  /** Declarations in progress (see declareShared). */
  private readonly declaring = new Map<QueueDeclaration, Promise<void>>();
  /** The pending batched LPUSH (see pushBatched). */
  private pushBatch: PushBatch | undefined;
  private lastListKey: { queue: string; pri: number; key: string } | undefined;
  private pushScheduled = false;
  private readonly consumers = new Set<RedisConsumer>();
  private readonly fanoutConsumers = new Set<RedisFanoutConsumer>();
  /** Held deliveries of every consumer, in delivery order. */
  private readonly held = new Set<RedisDelivery>();
  private restoreTimer: NodeJS.Timeout | undefined;
  private restoring: Promise<unknown> | undefined;
  private closed = false;
  /** The main client has been ready once; before that, a failed {@link connect} stops its retries. */
  private everReady = false;
  /** connect() calls in flight: their failure is thrown to the caller, not reported as well. */
  private connecting = 0;
  /** The connection attempt publishes wait for (see reconnectNow). */
  private reconnecting: Promise<void> | undefined;
  private readonly settings: { brokerConnectionTimeout?: number | null } | undefined;

  constructor(url: string, transportOptions: RedisTransportOptions = {}, options: RedisBrokerOptions = {}) {
    // broker_use_ssl (kombu's Redis keys) arrives with the app's settings (createBroker passes them through)
    const target = parseRedisUrl(url, transportOptions, (options as { settings?: { brokerUseSsl?: RedisUseSsl } }).settings?.brokerUseSsl);
    this.safeUrl = target.safeUrl;
    this.db = target.db;
    this.options = resolveRedisOptions(transportOptions, target.db);
    this.keys = new RedisKeys(this.options);
    this.redisOptions = { ...target.options };
    if (typeof transportOptions.client_name === 'string') this.redisOptions.connectionName = transportOptions.client_name;
    this.onError = options.onError;
    this.settings = (options as { settings?: { brokerConnectionTimeout?: number | null } }).settings;
    this.client = this.newClient(this.redisOptions, (err) => {
      if (this.connecting === 0) this.report(err);
    });
    this.client.once('ready', () => (this.everReady = true));
    this.client.on('close', () => this.dropUnansweredPublishes());
    this.store = new UnackedStore(this.client, this.keys, this.options, (ex, rk) => this.route(ex, rk));
    this.quarantine = new RedisQuarantine(this.client, this.keys, quarantineBounds((options as { settings?: QuarantineSettings }).settings));
  }

  /** `celeriac quarantine`: the quarantine lists of this broker's queues. */
  quarantineStore(): QuarantineStore {
    return this.quarantine;
  }

  // ---- connections and error reporting -------------------------------------------------------------

  private newClient(options: RedisOptions, report: (err: Error) => void): Redis {
    const client = guardRedisClient(new Redis(options));
    let lastReport = 0;
    let quiet = false;
    client.on('ready', () => (quiet = false));
    client.on('error', (err: Error) => {
      // ioredis retries forever (with backoff) and emits one error per attempt: report the first of
      // each outage, then at most every 30 s
      const now = Date.now();
      if (quiet && now - lastReport < 30_000) return;
      quiet = true;
      lastReport = now;
      report(new BrokerConnectionError(`Redis broker ${this.safeUrl}: ${err.message} (reconnecting)`, { cause: err }));
    });
    return client;
  }

  newBlockingClient(report: (err: Error) => void): Redis {
    const o: RedisOptions = { ...this.redisOptions };
    // a blocking BRPOP must not trip the per-command timeout derived from socket_timeout
    if (o.commandTimeout !== undefined) o.commandTimeout = Math.max(o.commandTimeout, (this.options.brpopTimeout + 5) * 1000);
    return this.newClient(o, report);
  }

  report(err: Error, onError?: (err: Error) => void): void {
    reportError(err, onError ?? this.onError);
  }

  /**
   * Connects (once) and PINGs. A first connection that fails also stops ioredis's own reconnect loop:
   * the caller's retry policy decides when to try again (the worker's startup backoff, the producer's
   * publish retry), and that next try connects at once, so a retry happens when its message says.
   */
  async connect(): Promise<void> {
    if (this.closed) throw new BrokerError(`broker ${this.safeUrl} is closed`);
    this.connecting++;
    try {
      await connectRedis(this.client);
    } catch (err) {
      if (!this.everReady) this.client.disconnect();
      throw new BrokerConnectionError(`cannot connect to the Redis broker ${this.safeUrl}: ${(err as Error).message}`, { cause: err });
    } finally {
      this.connecting--;
    }
  }

  // ---- exchanges, bindings, routing ----------------------------------------------------------------

  /** kombu `Queue.declare` on Redis: remembers the exchange type and SADDs the binding (`_queue_bind`). */
  async declareQueue(queue: QueueDeclaration): Promise<void> {
    const ex = queue.exchange;
    if (!ex?.name) return; // kombu binds only to a named exchange; the default exchange needs nothing
    this.exchangeTypes.set(ex.name, ex.type);
    if (ex.type === 'fanout') this.fanoutQueues.add(queue.name);
    const b = prepareBind(ex.type, queue.routingKey ?? '', queue.name);
    this.flushPush();
    await this.client.sadd(this.keys.bindingKey(ex.name), this.keys.bindingMember(b.routingKey, b.pattern, b.queue));
  }

  private async maybeDeclare(queue: QueueDeclaration): Promise<void> {
    const id = JSON.stringify([queue.name, queue.exchange?.name, queue.exchange?.type, queue.routingKey]);
    if (this.declared.has(id)) return;
    await this.declareQueue(queue);
    this.declared.add(id);
  }

  /** Whether `queue` was declared already (same object, same fields): then publishing needs no await. */
  private isDeclared(queue: QueueDeclaration): boolean {
    const d = this.declaredObjects.get(queue);
    return d !== undefined && d[0] === queue.name && d[1] === queue.exchange?.name && d[2] === queue.exchange?.type && d[3] === queue.routingKey;
  }

  private async declareOnce(queue: QueueDeclaration): Promise<void> {
    const fields = [queue.name, queue.exchange?.name, queue.exchange?.type, queue.routingKey] as const;
    await this.maybeDeclare(queue);
    this.declaredObjects.set(queue, fields);
  }

  /** The binding table of an exchange (kombu `get_table`). */
  async bindings(exchange: string): Promise<Binding[]> {
    const members = await this.client.smembers(this.keys.bindingKey(exchange));
    const out: Binding[] = [];
    for (const m of members) {
      const b = this.keys.parseBindingMember(m);
      if (b) out.push(b);
    }
    return out;
  }

  /**
   * `celery list bindings` on Redis (kombu `list_bindings`/`get_table`): the members of each exchange's
   * `_kombu.binding.<exchange>` set; without `exchanges`, of every such set in the db (SCAN). Members
   * that are not `<routing key><sep><pattern><sep><queue>` are skipped (kombu fails on them).
   */
  async listBindings(exchanges?: readonly string[]): Promise<BindingRow[]> {
    let names = exchanges ? [...exchanges] : [];
    if (!exchanges) {
      const prefix = this.keys.bindingKey('');
      const found = new Set<string>();
      let cursor = '0';
      do {
        const [next, keys] = await this.client.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 500);
        cursor = next;
        for (const k of keys) found.add(k.slice(prefix.length));
      } while (cursor !== '0');
      names = [...found].sort();
    }
    const rows: BindingRow[] = [];
    for (const exchange of names) {
      for (const b of await this.bindings(exchange)) rows.push({ queue: b.queue, exchange, routingKey: b.routingKey });
    }
    return rows;
  }

  /**
   * kombu `Channel._lookup`: the queues a message to `exchange`/`routingKey` reaches. The default
   * exchange routes to the queue named by the routing key; otherwise the exchange type is the declared
   * one, else inferred from the bindings. No match: `[deadletter_queue]` or `[]`.
   */
  async route(exchange: string, routingKey: string, type?: ExchangeType): Promise<string[]> {
    let queues: string[];
    if (!exchange) queues = routingKey ? [routingKey] : [];
    else {
      const table = await this.bindings(exchange);
      queues = lookupQueues(type ?? this.exchangeTypes.get(exchange) ?? inferExchangeType(table), table, routingKey);
    }
    if (queues.length === 0 && this.options.deadletterQueue) queues = [this.options.deadletterQueue];
    return queues;
  }

  // ---- publishing ----------------------------------------------------------------------------------

  /**
   * kombu `basic_publish`: a fresh `delivery_tag`, `delivery_info` = the exchange and routing key, then
   * LPUSH to each queue's priority key (direct/topic/default exchange) or PUBLISH (fanout).
   */
  publish(raw: RawMessage, target: PublishTarget): Promise<void> {
    // not async: the usual publish (declared queue, default exchange) is one batched LPUSH, and its
    // promise is shared by the whole batch; every failure is still a rejection
    try {
      if (this.closed) throw new BrokerError(`broker ${this.safeUrl} is closed`);
      // not connected: connect now (once, for every publish waiting), then publish; a failed attempt
      // fails the publish, which never waits in ioredis's offline queue (see reconnectNow)
      if (this.notConnected()) return (this.everReady ? this.reconnectNow() : this.connect()).then(() => this.publish(raw, target));
      const declare = target.declare;
      if (declare) for (const q of declare) if (!this.isDeclared(q)) return this.declareAndPublish(raw, target);
      const { exchange, routingKey } = target;
      // the default exchange routes to the queue named by the routing key: no lookup (and no await) needed
      if (exchange || !routingKey) return this.publishRouted(raw, target);
      const envelope = encodeRedisEnvelope(raw, { deliveryTag: uuid4(), deliveryInfo: { exchange, routing_key: routingKey } });
      return this.pushBatched(this.listKey(routingKey, raw), envelope);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async declareAndPublish(raw: RawMessage, target: PublishTarget): Promise<void> {
    for (const q of target.declare!) {
      if (this.isDeclared(q)) continue;
      const down = this.notConnected();
      if (down) throw down;
      await this.declareShared(q);
    }
    await this.publish(raw, target);
  }

  /** {@link declareOnce}, shared by the publishes that find the queue undeclared while it is being declared. */
  private declareShared(queue: QueueDeclaration): Promise<void> {
    let declaring = this.declaring.get(queue);
    if (declaring === undefined) {
      declaring = this.declareOnce(queue);
      this.declaring.set(queue, declaring);
      const forget = () => this.declaring.delete(queue);
      declaring.then(forget, forget);
    }
    return declaring;
  }

  /** The publishes that are not to a queue by name through the default exchange. */
  private async publishRouted(raw: RawMessage, target: PublishTarget): Promise<void> {
    const { exchange, routingKey } = target;
    const type = exchange ? target.exchangeType ?? this.exchangeTypes.get(exchange) : 'direct';
    const envelope = encodeRedisEnvelope(raw, { deliveryTag: uuid4(), deliveryInfo: { exchange, routing_key: routingKey } });
    if (type === 'fanout') {
      this.flushPush();
      await this.sendPublish(new PublishCommand('publish', [this.keys.fanoutChannel(exchange, routingKey), envelope]), 'PUBLISH');
      return;
    }
    if (type === 'headers') {
      throw new BrokerError(`exchange ${JSON.stringify(exchange)}: headers exchanges are not supported on Redis (kombu routes direct, topic and fanout)`);
    }
    if (!exchange && !routingKey) throw new UnroutableError(exchange, routingKey, 'the default exchange needs the queue name as routing key');
    const down = this.notConnected(); // the binding lookup must not wait in the offline queue either
    if (down) throw down;
    const queues = exchange ? await this.route(exchange, routingKey, type) : [routingKey];
    if (queues.length === 0) {
      throw new UnroutableError(exchange, routingKey,
        `no binding in ${JSON.stringify(this.keys.bindingKey(exchange))} matches (declare the queue first, or set deadletter_queue); kombu would drop it silently`);
    }
    if (queues.length === 1) {
      await this.pushBatched(this.listKey(queues[0]!, raw), envelope);
    } else {
      const pri = messagePriority(raw.properties?.priority);
      this.flushPush(); // commands keep the order they were issued in
      const m = this.client.multi();
      for (const q of queues) m.lpush(this.keys.prefixed(this.keys.queueKey(q, pri)), envelope);
      const notSent = this.notConnected();
      if (notSent) throw notSent;
      execOk(await m.exec(), `publishing to ${queues.join(', ')}`);
    }
  }

  /** The (prefixed) list of `queue` for the priority of `raw`; the last one is remembered. */
  private listKey(queue: string, raw: RawMessage): string {
    const pri = messagePriority(raw.properties?.priority);
    const last = this.lastListKey;
    if (last !== undefined && last.queue === queue && last.pri === pri) return last.key;
    const key = this.keys.prefixed(this.keys.queueKey(queue, pri));
    this.lastListKey = { queue, pri, key };
    return key;
  }

  /**
   * Consecutive publishes to the same list within one tick become ONE `LPUSH key v1 v2 ... vn`: Redis
   * pushes the values in argument order, so the list ends up exactly as after n single LPUSHes (and
   * BRPOP/RPOP take v1 first). One command instead of n saves the client (command objects, promises,
   * reply parsing) and the server (command dispatch) most of the per-message work. A publish to
   * another key, or any other publishing command, sends the pending LPUSH first, so commands keep
   * their order. Every publish of the batch gets the same promise: the reply of that LPUSH.
   */
  private pushBatched(key: string, envelope: string): Promise<void> {
    let batch = this.pushBatch;
    if (batch === undefined || batch.key !== key || batch.count >= MAX_PUSH_BATCH) {
      this.flushPush();
      batch = this.pushBatch = new PushBatch(key);
      if (!this.pushScheduled) {
        this.pushScheduled = true;
        process.nextTick(this.flushPushTick);
      }
    }
    batch.add(envelope);
    return batch.done;
  }

  private readonly flushPushTick = (): void => {
    this.pushScheduled = false;
    this.flushPush();
  };

  private flushPush(): void {
    const batch = this.pushBatch;
    if (batch === undefined) return;
    this.pushBatch = undefined;
    batch.settle(this.sendPublish(batch.command(), batch.count > 1 ? `LPUSH of ${batch.count} messages` : 'LPUSH'));
  }

  /**
   * Why a publish cannot be sent now, or null. A publish is written only while the connection is ready:
   * ioredis would otherwise hold it in its offline queue until Redis comes back (forever, with
   * `maxRetriesPerRequest: null`), past any retry policy and after the caller was told it failed.
   */
  private notConnected(why?: string): BrokerConnectionError | null {
    const c = this.client;
    if (why === undefined && c.status === 'ready' && c.stream?.writable !== false) return null;
    const err = new BrokerConnectionError(`Redis broker ${this.safeUrl} is not connected (${why ?? c.status}): the message was not sent and will not be delivered`);
    return Object.assign(err, { delivery: 'not-sent' as const });
  }

  /**
   * One connection attempt now, as kombu's publish retry reconnects on each try (ioredis would wait
   * out its own backoff, up to 2 s): resolves once the client is ready; rejects with a "not sent"
   * error when the attempt fails, or after `broker_connection_timeout` seconds. Shared by the
   * publishes that find the client disconnected meanwhile.
   */
  private reconnectNow(): Promise<void> {
    this.reconnecting ??= new Promise<void>((resolve, reject) => {
      const c = this.client;
      const seconds = (this.settings?.brokerConnectionTimeout ?? 4) || 0;
      let last: Error | undefined;
      const onError = (err: Error) => (last = err);
      const onReady = () => done(null);
      const onClose = () => done(this.notConnected(last?.message ?? 'connection closed'));
      const timer = seconds > 0
        ? setTimeout(() => done(this.notConnected(`no connection within broker_connection_timeout (${seconds} s)${last ? `: ${last.message}` : ''}`)), seconds * 1000)
        : undefined;
      const done = (err: Error | null) => {
        clearTimeout(timer);
        c.off('ready', onReady).off('error', onError).off('close', onClose).off('end', onClose);
        this.reconnecting = undefined;
        if (err) reject(err);
        else resolve();
      };
      c.on('ready', onReady).on('error', onError).on('close', onClose).on('end', onClose);
      if (c.status === 'reconnecting' || c.status === 'end' || c.status === 'wait') {
        // waiting out ioredis's backoff: try now (the same call its timer would make)
        const internal = c as unknown as { reconnectTimeout?: NodeJS.Timeout | null };
        if (internal.reconnectTimeout) clearTimeout(internal.reconnectTimeout);
        internal.reconnectTimeout = null;
        c.connect().catch(() => undefined);
      } else if (c.status === 'ready' && c.stream?.writable !== false) {
        done(null);
      }
    });
    return this.reconnecting;
  }

  /**
   * Sends a publishing command, if connected (else rejects with {@link notConnected}'s error). Once
   * written, a failure other than Redis's own error reply (a socket_timeout, the connection closing
   * before the reply) leaves the outcome unknown: Redis may have read the command. That error says so
   * (`delivery: 'uncertain'`, not retried by the producer: a retry would deliver it twice), and ioredis
   * never resends the command (see {@link dropUnansweredPublishes}).
   */
  private sendPublish(command: PublishCommand, what: string): Promise<unknown> {
    const down = this.notConnected();
    if (down) return Promise.reject(down);
    corkUntilNextTick(this.client);
    return (this.client.sendCommand(command) as Promise<unknown>).catch((err: unknown) => {
      throw this.uncertain(err, what);
    });
  }

  private uncertain(err: unknown, what: string): unknown {
    if (isReplyError(err) || (err as { delivery?: unknown })?.delivery !== undefined) return err;
    const message = (err as Error)?.message ?? String(err);
    const timeout = this.redisOptions.commandTimeout;
    const why = message === 'Command timed out' && timeout !== undefined
      ? `no reply within socket_timeout (${timeout / 1000} s)`
      : message;
    const out = new BrokerError(
      `${what} to the Redis broker ${this.safeUrl} failed: ${why}; Redis may have received it, so the message may have been delivered (not retried, to avoid a duplicate)`,
      { cause: err },
    );
    return Object.assign(out, { delivery: 'uncertain' as const, recoverable: false });
  }

  /**
   * On a lost connection ioredis keeps the commands Redis did not answer and resends them after the
   * reconnect. A publish already reported as failed (its socket_timeout passed) is taken out of that
   * queue: resent, it would be delivered behind the caller's back, and twice if the caller retries.
   * The others are resent as before (Redis may have run them before the loss: at least once, as
   * kombu's retry), but wait for the reconnect no longer than `broker_connection_timeout`: then they
   * leave the queue too and fail as "uncertain".
   */
  private dropUnansweredPublishes(): void {
    type Queue = { length: number; peekAt(i: number): { command?: unknown } | undefined; remove(i: number, n: number): unknown };
    const internal = this.client as unknown as { prevCommandQueue?: Queue | null };
    const queue = internal.prevCommandQueue;
    if (!queue) return;
    const waiting: PublishCommand[] = [];
    for (let i = 0; i < queue.length;) {
      const command = queue.peekAt(i)?.command;
      if (command instanceof PublishCommand && command.isSettled) queue.remove(i, 1);
      else {
        if (command instanceof PublishCommand) waiting.push(command);
        i++;
      }
    }
    const seconds = (this.settings?.brokerConnectionTimeout ?? 4) || 0;
    if (waiting.length === 0 || seconds <= 0) return;
    setTimeout(() => {
      const q = internal.prevCommandQueue; // still waiting for the reconnect (resent ones left it)
      if (!q) return;
      for (let i = 0; i < q.length;) {
        const command = q.peekAt(i)?.command;
        if (command instanceof PublishCommand && waiting.includes(command)) {
          q.remove(i, 1);
          if (!command.isSettled) command.reject(new Error(`the connection was lost before Redis answered, and not back within broker_connection_timeout (${seconds} s)`));
        } else i++;
      }
    }, seconds * 1000).unref();
  }

  // ---- consuming -----------------------------------------------------------------------------------

  consume(queues: string[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Consumer {
    if (this.closed) throw new BrokerError(`broker ${this.safeUrl} is closed`);
    if (queues.length === 0) throw new BrokerError('consume() needs at least one queue');
    const fanout = queues.filter((q) => this.fanoutQueues.has(q));
    if (fanout.length) {
      throw new BrokerError(`queues bound to a fanout exchange (${fanout.join(', ')}) are not consumable yet on Redis (kombu uses PSUBSCRIBE for them)`);
    }
    const consumer = new RedisConsumer(this, queues, onMessage, options);
    this.consumers.add(consumer);
    return consumer;
  }

  /** kombu's fanout consuming: `_queue_bind` (SADD, as kombu) then PSUBSCRIBE on its own connection (see fanout.ts). */
  async consumeFanout(queue: QueueDeclaration, onMessage: (raw: RawMessage) => void, options: { onError?: (error: Error) => void } = {}): Promise<Consumer> {
    if (this.closed) throw new BrokerError(`broker ${this.safeUrl} is closed`);
    await this.declareQueue(queue);
    const report = (err: Error) => this.report(err, options.onError);
    const channel = this.keys.fanoutChannel(queue.exchange.name, (queue.routingKey ?? '').replaceAll('#', '*'));
    const c = new RedisFanoutConsumer(this.newClient(this.redisOptions, report), channel, onMessage, report);
    this.fanoutConsumers.add(c);
    await c.start();
    return c;
  }

  /** kombu restores visible messages when polling starts and then periodically while consuming. */
  async startRestoring(onError?: (err: Error) => void): Promise<void> {
    if (!this.restoreTimer && !this.closed) {
      const tick = () => {
        if (this.restoring || this.closed) return this.restoring;
        this.restoring = this.restoreVisible({ onError })
          .catch((err: Error) => this.report(new BrokerError(`restore_visible on ${this.safeUrl} failed: ${err.message}`, { cause: err }), onError))
          .finally(() => (this.restoring = undefined));
        return this.restoring;
      };
      this.restoreTimer = setInterval(tick, this.options.restoreVisibleInterval * 1000);
      this.restoreTimer.unref();
      await tick();
      return;
    }
    await this.restoring;
  }

  /**
   * kombu `QoS.restore_visible`: gives back (to the front of their queues, flagged redelivered) the
   * messages any consumer, Python or TypeScript, has held unacked for longer than `visibility_timeout`
   * seconds (or `options.visibilityTimeout`). Skipped while another process holds the `unacked_mutex`
   * lock. Per-message failures go to `options.onError` (those stay unacked). Returns how many.
   * Consumers run it when they start and every `restore_visible_interval` seconds.
   */
  async restoreVisible(options: { visibilityTimeout?: number; onError?: (err: Error) => void } = {}): Promise<number> {
    return this.store.restoreVisible((err) => this.report(err, options.onError), options.visibilityTimeout);
  }

  track(d: RedisDelivery): void {
    this.held.add(d);
  }

  untrack(d: RedisDelivery): void {
    this.held.delete(d);
  }

  consumerDone(c: RedisConsumer): void {
    this.consumers.delete(c);
    if (this.consumers.size === 0 && this.restoreTimer) {
      clearInterval(this.restoreTimer);
      this.restoreTimer = undefined;
    }
  }

  // ---- queues --------------------------------------------------------------------------------------

  /** kombu `_size`: LLEN of every priority key. */
  async queueLength(queue: string): Promise<number> {
    const p = this.client.pipeline();
    for (const k of this.keys.allQueueKeys(queue)) p.llen(k);
    const res = (await p.exec()) ?? [];
    return res.reduce((sum, [err, n]) => sum + (err ? 0 : Number(n)), 0);
  }

  /** kombu `_purge`: LLEN + DEL of every priority key; returns how many messages were removed. */
  async purge(queue: string): Promise<number> {
    const m = this.client.multi();
    for (const k of this.keys.allQueueKeys(queue)) m.llen(k).del(k);
    const res = await m.exec();
    execOk(res, `purging ${queue}`);
    return (res ?? []).reduce((sum, [, n], i) => sum + (i % 2 === 0 ? Number(n) : 0), 0);
  }

  /** kombu `Channel._delete`: SREM the queue's binding member, DEL every priority list of it. */
  async deleteQueue(queue: QueueDeclaration): Promise<void> {
    this.flushPush();
    const m = this.client.multi();
    const ex = queue.exchange;
    if (ex?.name) {
      const b = prepareBind(ex.type, queue.routingKey ?? '', queue.name);
      m.srem(this.keys.bindingKey(ex.name), this.keys.bindingMember(b.routingKey, b.pattern, b.queue));
    }
    for (const k of this.keys.allQueueKeys(queue.name)) m.del(k);
    execOk(await m.exec(), `deleting ${queue.name}`);
    this.fanoutQueues.delete(queue.name);
    this.declaredObjects.delete(queue);
    for (const id of this.declared) if (JSON.parse(id)[0] === queue.name) this.declared.delete(id);
  }

  // ---- shutdown ------------------------------------------------------------------------------------

  /**
   * Cancels the consumers, gives every held delivery back to the FRONT of its queue (flagged
   * redelivered, like kombu's `restore_unacked_once`; in their original order), then disconnects.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.restoreTimer) clearInterval(this.restoreTimer);
    this.restoreTimer = undefined;
    await Promise.all([...this.consumers, ...this.fanoutConsumers].map((c) => c.cancel()));
    await this.restoring;
    const connected = this.client.status === 'ready';
    // RPUSH one by one: the last pushed is consumed first, so push the latest delivery first
    for (const d of [...this.held].reverse()) {
      if (!connected) {
        // commands would queue until Redis comes back: leave it in the unacked hash for a visibility restore
        this.report(new BrokerError(`close(): Redis is unreachable; delivery ${d.deliveryTag} of ${JSON.stringify(d.queue)} stays in ${this.keys.unacked} until a visibility restore`));
        continue;
      }
      try {
        await d.giveBack();
      } catch (err) {
        this.report(new BrokerError(`close(): could not give back delivery ${d.deliveryTag} of ${JSON.stringify(d.queue)} (it stays in ${this.keys.unacked} until a visibility restore): ${(err as Error).message}`, { cause: err }));
      }
    }
    if (!connected) {
      this.client.disconnect();
      return;
    }
    try {
      // QUIT is queued, not failed, while ioredis reconnects: never wait for it longer than a moment
      await Promise.race([this.client.quit(), new Promise((_, reject) => setTimeout(() => reject(new Error('QUIT timed out')), 2000).unref())]);
    } catch {
      this.client.disconnect();
    }
  }
}
