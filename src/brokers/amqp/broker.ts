/**
 * The AMQP transport (RabbitMQ) with amqplib, declaring and publishing exactly as Celery over kombu's
 * pyamqp transport does (see topology.ts, message.ts, delayed.ts), so Python and TypeScript share
 * queues in a mixed fleet.
 *
 * - Publishing: a ConfirmChannel (publisher confirms: `publish()` resolves when RabbitMQ took the message),
 *   flow control (`publish()` returning false waits for 'drain'), `mandatory` so a message no queue
 *   takes is an {@link UnroutableError} (kombu drops it silently). A lost connection is a
 *   {@link BrokerConnectionError}: the producer's retry_policy retries it, reconnecting on the next try.
 * - Consuming: see consumer.ts. The worker side reconnects with kombu's backoff
 *   (`broker_connection_retry`, `broker_connection_max_retries`), re-declares what was declared, and
 *   consumes again; unacked deliveries were requeued by RabbitMQ and run again.
 * - Native delayed delivery (Celery 5.5+, quorum queues): countdown/eta tasks go through the
 *   `celery_delayed_*` exchanges; the topology is declared as the Python DelayedDelivery bootstep does.
 * - close(): cancels consumers and closes their channels, which gives every unacked delivery back.
 */
import type { Channel, ChannelModel, ConfirmChannel, Message } from 'amqplib';
import type { RawMessage } from '../../../protocol/types.ts';
import type { BindingRow, Broker, ConsumeOptions, Consumer, Delivery, ExchangeDeclaration, PublishTarget, QueueDeclaration } from '../../broker.ts';
import { BrokerConnectionError, BrokerError, UnroutableError, reportError } from '../errors.ts';
import { openFailover, reconnectIntervals, type ConnectSettings, type RetrySettings } from './connection.ts';
import { AmqpConsumer, type ConsumerHost } from './consumer.ts';
import { bindQueueToDelayedDelivery, declareDelayedTopology, delayedTarget } from './delayed.ts';
import { managementBindings, managementTarget } from './management.ts';
import { toPublish } from './message.ts';
import { declareExchange, declareQueue, isQuorum } from './topology.ts';
import { AmqpQuarantine } from '../../quarantine/amqp.ts';
import { quarantineBounds, type QuarantineStore } from '../../quarantine/store.ts';
import { parseAmqpUrls, safeUrlOf, type AmqpEndpoint } from './url.ts';

/** The settings the AMQP transport reads (Celery names in camelCase; see src/config.ts). */
export interface AmqpBrokerSettings {
  brokerHeartbeat?: number;
  brokerUseSsl?: unknown;
  brokerConnectionTimeout?: number;
  workerQuarantineMaxMessages?: number;
  workerQuarantineMaxAge?: number | null;
  brokerConnectionRetry?: boolean;
  brokerConnectionRetryOnStartup?: boolean | null;
  brokerConnectionMaxRetries?: number | null;
  brokerNativeDelayedDeliveryQueueType?: 'classic' | 'quorum';
  workerDetectQuorumQueues?: boolean;
}

export interface AmqpBrokerOptions {
  onError?: (error: Error) => void;
  settings?: AmqpBrokerSettings;
  /** The app's known queues (Celery's `app.amqp.queues`): quorum detection and delayed-delivery bindings. */
  queues?: () => QueueDeclaration[];
  /** Reconnect schedule overrides (tests). */
  retry?: Partial<RetrySettings>;
}

interface Pending {
  key: string;
  returned: boolean;
}

export class AmqpBroker implements Broker, ConsumerHost {
  readonly safeUrl: string;
  readonly endpoints: AmqpEndpoint[];
  private readonly connectSettings: ConnectSettings;
  private readonly retry: RetrySettings;
  private readonly settings: AmqpBrokerSettings;
  private readonly knownQueues: () => QueueDeclaration[];
  private readonly onError: ((e: Error) => void) | undefined;
  /** `manager_hostname`, `manager_port`, `manager_userid`, `manager_password` (kombu's get_manager). */
  private readonly managerOptions: Record<string, unknown>;
  private endpointIndex = 0;
  private conn: ChannelModel | null = null;
  private connecting: Promise<ChannelModel> | null = null;
  private recovering: Promise<ChannelModel> | null = null;
  private pubChannel: Promise<ConfirmChannel> | null = null;
  private declChannel: Promise<Channel> | null = null;
  /** Declared on this connection (kombu's maybe_declare cache), by name. */
  private declaredNow = new Map<string, QueueDeclaration>();
  /** Declarations in flight (publish): concurrent sends to a new queue share one queue.declare. */
  private declaring = new Map<QueueDeclaration, Promise<void>>();
  /** Declared through declareQueue(): re-declared after a reconnect. */
  private readonly remembered = new Map<string, QueueDeclaration>();
  private delayedDeclared = false;
  private readonly consumers = new Set<AmqpConsumer>();
  private readonly pending = new Set<Pending>();
  private warnedDirect = new Set<string>();
  private closed = false;
  /** `<queue>.celeriac.invalid`: where refused messages are kept (src/quarantine/amqp.ts). */
  readonly quarantine: AmqpQuarantine;

  constructor(url: string, transportOptions: Record<string, unknown> = {}, options: AmqpBrokerOptions = {}) {
    const s = options.settings ?? {};
    this.settings = s;
    this.endpoints = parseAmqpUrls(url, s.brokerUseSsl ?? false);
    this.safeUrl = this.endpoints.length === 1 ? this.endpoints[0]!.safeUrl : safeUrlOf(url);
    this.connectSettings = {
      heartbeat: s.brokerHeartbeat ?? 120,
      connectTimeout: typeof transportOptions.connect_timeout === 'number' ? transportOptions.connect_timeout : s.brokerConnectionTimeout ?? 4,
      useSsl: s.brokerUseSsl ?? false,
    };
    this.retry = {
      retry: s.brokerConnectionRetry ?? true,
      retryOnStartup: s.brokerConnectionRetryOnStartup ?? null,
      maxRetries: s.brokerConnectionMaxRetries ?? 100,
      ...options.retry,
    };
    this.knownQueues = options.queues ?? (() => []);
    this.onError = options.onError;
    this.managerOptions = Object.fromEntries(Object.entries(transportOptions).filter(([k]) => k.startsWith('manager_')));
    this.quarantine = new AmqpQuarantine(() => this.ensureConnection(), quarantineBounds(s), (m) => this.report(new BrokerError(m)));
  }

  /** `celeriac quarantine`: the quarantine queues of this broker's queues. */
  quarantineStore(): QuarantineStore {
    return this.quarantine;
  }

  /**
   * The dead-letter exchange of a consumed queue (its `x-dead-letter-exchange` argument), if it has one:
   * a message refused from it is rejected there, as Celery does, rather than quarantined.
   */
  deadLetterExchange(queue: string): string | null {
    const q = this.remembered.get(queue) ?? this.knownQueues().find((k) => k.name === queue);
    const dlx = q?.arguments?.['x-dead-letter-exchange'];
    return typeof dlx === 'string' ? dlx : null;
  }

  // ---- connection ----------------------------------------------------------------------------------

  report(err: Error, onError?: (err: Error) => void): void {
    reportError(err, onError ?? this.onError);
  }

  /** Celery's qos_global: per-channel prefetch, except per-consumer when quorum queues are in use. */
  get qosGlobal(): boolean {
    return !(this.settings.workerDetectQuorumQueues !== false && this.quorumDetected());
  }

  private quorumDetected(extra: QueueDeclaration[] = []): boolean {
    return [...this.knownQueues(), ...this.remembered.values(), ...extra].some(isQuorum);
  }

  /** One connection attempt (each failover URL once). */
  async connect(): Promise<void> {
    await this.ensureConnection();
  }

  private ensureConnection(): Promise<ChannelModel> {
    if (this.closed) return Promise.reject(new BrokerError(`broker ${this.safeUrl} is closed`));
    if (this.conn) return Promise.resolve(this.conn);
    this.connecting ??= this.open().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async open(): Promise<ChannelModel> {
    const { conn, index } = await openFailover(this.endpoints, this.endpointIndex, this.connectSettings);
    this.endpointIndex = index;
    if (this.closed) {
      await conn.close().catch(() => undefined);
      throw new BrokerError(`broker ${this.safeUrl} is closed`);
    }
    conn.on('error', (err: Error) => this.report(new BrokerConnectionError(`AMQP connection to ${this.endpoints[index]!.safeUrl}: ${err.message}`, { cause: err })));
    conn.on('close', () => this.onConnectionLost(conn));
    conn.on('blocked', (reason: string) => this.report(new BrokerError(`RabbitMQ ${this.safeUrl} blocked publishing: ${reason}`)));
    this.conn = conn;
    // kombu `revive`: what was declared is declared again on the new connection
    for (const q of this.remembered.values()) await this.declareOn(q);
    if (this.delayedDeclared) {
      this.delayedDeclared = false;
      await this.setupDelayedDelivery();
    }
    return conn;
  }

  private onConnectionLost(conn: ChannelModel): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.pubChannel = null;
    this.declChannel = null;
    this.declaredNow = new Map();
    if (this.closed) return;
    this.report(new BrokerConnectionError(`lost the connection to the AMQP broker ${this.safeUrl}; reconnecting`));
    this.endpointIndex = (this.endpointIndex + 1) % this.endpoints.length;
    if (this.consumers.size) void this.recoverConnection().catch(() => undefined);
  }

  /**
   * The connection, reconnecting with kombu's backoff (`broker_connection_retry`,
   * `broker_connection_max_retries`) — what consumers use. Rejects once retries are exhausted.
   */
  recoverConnection(): Promise<ChannelModel> {
    if (this.conn) return Promise.resolve(this.conn);
    this.recovering ??= this.reconnectLoop().finally(() => (this.recovering = null));
    return this.recovering;
  }

  private async reconnectLoop(): Promise<ChannelModel> {
    const r = this.retry;
    const intervals = reconnectIntervals(r.intervalStartMs, r.intervalStepMs, r.intervalMaxMs);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ensureConnection();
      } catch (err) {
        if (this.closed) throw err;
        const max = r.maxRetries;
        // kombu's retry_over_time: `max_retries is not None and retries >= max_retries` (0 = no retry;
        // Celery's docs say 0 retries forever, its code does not)
        if (!r.retry || (max !== null && attempt >= max)) {
          const e = new BrokerConnectionError(`giving up on the AMQP broker ${this.safeUrl} after ${attempt} retries (broker_connection_max_retries): ${(err as Error).message}`, { cause: err });
          this.report(e);
          throw e;
        }
        const wait = intervals.next().value as number;
        this.report(new BrokerConnectionError(`${(err as Error).message}; trying again in ${wait / 1000} s (attempt ${attempt + 1})`, { cause: err }));
        // in slices, so close() does not wait for a long backoff
        for (let waited = 0; waited < wait && !this.closed; waited += 200) await new Promise((res) => setTimeout(res, Math.min(200, wait - waited)));
      }
    }
  }

  private channelFor<T extends Channel>(kind: 'pub' | 'decl'): Promise<T> {
    const cur = kind === 'pub' ? this.pubChannel : this.declChannel;
    if (cur) return cur as Promise<T>;
    const p = (async () => {
      const conn = await this.ensureConnection();
      let ch: Channel;
      try {
        ch = kind === 'pub' ? await conn.createConfirmChannel() : await conn.createChannel();
      } catch (err) {
        throw new BrokerConnectionError(`cannot open a channel on ${this.safeUrl}: ${(err as Error).message}`, { cause: err });
      }
      ch.on('error', (err: Error) => this.report(new BrokerError(`channel error on ${this.safeUrl}: ${err.message}`, { cause: err })));
      ch.on('close', () => {
        if (kind === 'pub' && (this.pubChannel as unknown) === p) this.pubChannel = null;
        if (kind === 'decl' && (this.declChannel as unknown) === p) this.declChannel = null;
      });
      if (kind === 'pub') ch.on('return', (m: Message) => this.onReturn(m));
      return ch as T;
    })();
    if (kind === 'pub') this.pubChannel = p as unknown as Promise<ConfirmChannel>;
    else this.declChannel = p as unknown as Promise<Channel>;
    p.catch(() => {
      if (kind === 'pub' && this.pubChannel === (p as unknown)) this.pubChannel = null;
      if (kind === 'decl' && (this.declChannel as unknown) === p) this.declChannel = null;
    });
    return p;
  }

  // ---- declaring -----------------------------------------------------------------------------------

  private async declareOn(q: QueueDeclaration): Promise<void> {
    const ch = await this.channelFor<Channel>('decl');
    try {
      await declareQueue(ch, q);
    } catch (err) {
      const e = err as Error;
      const cls = /closed|ECONN|socket/i.test(e.message) && !/PRECONDITION|NOT_FOUND|ACCESS/.test(e.message) ? BrokerConnectionError : BrokerError;
      throw new cls(`declaring queue ${JSON.stringify(q.name)} (exchange ${JSON.stringify(q.exchange?.name ?? '')}) on ${this.safeUrl} failed: ${e.message}`, { cause: err });
    }
    this.declaredNow.set(q.name, q);
  }

  /** {@link declareOn}, once for all the sends waiting on the same declaration. */
  private declareShared(q: QueueDeclaration): Promise<void> {
    let p = this.declaring.get(q);
    if (!p) {
      p = this.declareOn(q).finally(() => this.declaring.delete(q));
      this.declaring.set(q, p);
    }
    return p;
  }

  /** kombu `Exchange.declare` (durable, not auto-delete unless given; RabbitMQ keeps it across reconnects). */
  async declareExchange(exchange: ExchangeDeclaration): Promise<void> {
    await this.ensureConnection();
    await declareExchange(await this.channelFor<Channel>('decl'), exchange);
  }

  /** kombu `Queue.declare`: the exchange, the queue, the binding; remembered for reconnects. */
  async declareQueue(queue: QueueDeclaration): Promise<void> {
    await this.ensureConnection();
    await this.declareOn(queue);
    this.remembered.set(queue.name, queue);
  }

  /**
   * Celery's DelayedDelivery bootstep: declares the `celery_delayed_*` topology (queue type
   * `broker_native_delayed_delivery_queue_type`) and binds every known queue whose exchange is not direct
   * to `celery_delayed_delivery`. Done by consume() when quorum queues are in use; idempotent.
   */
  async setupDelayedDelivery(extra: QueueDeclaration[] = []): Promise<void> {
    if (!this.delayedDeclared) {
      const ch = await this.channelFor<Channel>('decl');
      try {
        await declareDelayedTopology(ch, this.settings.brokerNativeDelayedDeliveryQueueType ?? 'quorum');
      } catch (err) {
        throw new BrokerError(`declaring the native delayed delivery topology on ${this.safeUrl} failed: ${(err as Error).message}`, { cause: err });
      }
      this.delayedDeclared = true;
    }
    const seen = new Set<string>();
    for (const q of [...this.knownQueues(), ...this.remembered.values(), ...extra]) {
      if (seen.has(q.name)) continue;
      seen.add(q.name);
      // kombu logs a queue that fails to bind and goes on with the others
      try {
        await bindQueueToDelayedDelivery(await this.channelFor<Channel>('decl'), q);
      } catch (err) {
        this.report(new BrokerError(`binding queue ${JSON.stringify(q.name)} to celery_delayed_delivery on ${this.safeUrl} failed: ${(err as Error).message}`, { cause: err }));
      }
    }
  }

  // ---- publishing ----------------------------------------------------------------------------------

  private pendingKey(exchange: string, routingKey: string, correlationId: unknown): string {
    return `${exchange}\0${routingKey}\0${String(correlationId ?? '')}`;
  }

  private onReturn(m: Message): void {
    const key = this.pendingKey(m.fields.exchange, m.fields.routingKey, m.properties.correlationId);
    for (const p of this.pending) {
      if (p.key === key && !p.returned) {
        p.returned = true;
        break;
      }
    }
  }

  /** Publish with confirms; see the module notes. */
  async publish(raw: RawMessage, target: PublishTarget): Promise<void> {
    if (this.closed) throw new BrokerError(`broker ${this.safeUrl} is closed`);
    await this.ensureConnection();
    const declare = target.declare ?? [];
    for (const q of declare) if (this.declaredNow.get(q.name) !== q) await this.declareShared(q);
    let { exchange, routingKey } = target;
    const countdown = (target as PublishTarget & { countdown?: number }).countdown;
    if (countdown !== undefined && countdown > 0 && this.quorumDetected(declare)) {
      const queue = declare[0] ?? null;
      const type = queue ? queue.exchange.type : target.exchangeType ?? 'direct';
      const d = delayedTarget(countdown, queue, type, routingKey);
      if (d) {
        await this.setupDelayedDelivery(declare);
        ({ exchange, routingKey } = d);
      } else if (type === 'direct' && !this.warnedDirect.has(queue?.exchange.name ?? exchange)) {
        this.warnedDirect.add(queue?.exchange.name ?? exchange);
        this.report(new BrokerError(
          `Direct exchanges are not supported with native delayed delivery: ${JSON.stringify(queue?.exchange.name ?? exchange)} is a direct exchange; ` +
            'countdown/eta tasks to it are held by the worker until their eta (as in Celery)',
        ));
      }
    }
    const p = toPublish(raw, exchange, routingKey);
    const ch = await this.channelFor<ConfirmChannel>('pub');
    const content = Buffer.from(p.content.buffer, p.content.byteOffset, p.content.byteLength);
    const pending: Pending = { key: this.pendingKey(exchange, routingKey, p.options.correlationId), returned: false };
    this.pending.add(pending);
    try {
      await new Promise<void>((resolve, reject) => {
        let flowOk = true;
        const confirmed = new Promise<void>((res, rej) => {
          flowOk = ch.publish(exchange, routingKey, content, { ...(p.options as object), mandatory: true }, (err) => (err ? rej(err) : res()));
        });
        const drained = flowOk ? Promise.resolve() : new Promise<void>((res) => {
          const done = () => {
            ch.off('drain', done);
            ch.off('close', done);
            res();
          };
          ch.on('drain', done);
          ch.on('close', done);
        });
        Promise.all([confirmed, drained]).then(() => resolve(), reject);
      });
    } catch (err) {
      const e = err as Error;
      if (/nack/i.test(e.message)) throw new BrokerError(`RabbitMQ ${this.safeUrl} refused (nack) the message to exchange ${JSON.stringify(exchange)} routing key ${JSON.stringify(routingKey)}`, { cause: err });
      throw new BrokerConnectionError(`publishing to ${this.safeUrl} failed: ${e.message}`, { cause: err });
    } finally {
      this.pending.delete(pending);
    }
    if (pending.returned) {
      throw new UnroutableError(exchange, routingKey, `RabbitMQ ${this.safeUrl} returned it (mandatory): declare the queue or its binding first; kombu would drop it silently`);
    }
  }

  // ---- consuming -----------------------------------------------------------------------------------

  consume(queues: string[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Consumer {
    if (this.closed) throw new BrokerError(`broker ${this.safeUrl} is closed`);
    if (queues.length === 0) throw new BrokerError('consume() needs at least one queue');
    const c = new AmqpConsumer(this, queues, onMessage, options);
    this.consumers.add(c);
    const start = async () => {
      if (this.quorumDetected()) {
        await this.recoverConnection();
        await this.setupDelayedDelivery();
      }
    };
    start().catch((err: Error) => this.report(err, options.onError)).finally(() => void c.resume());
    return c;
  }

  /**
   * kombu's pidbox consumer (`Node.listen`, `no_ack=True`): the queue declared as given (exchange,
   * `auto_delete`, `x-expires`/`x-message-ttl`; re-declared after a reconnect), each delivery acked on
   * arrival (the same as no_ack for the sender) and handed over.
   */
  async consumeFanout(queue: QueueDeclaration, onMessage: (raw: RawMessage) => void, options: { onError?: (error: Error) => void } = {}): Promise<Consumer> {
    await this.declareQueue(queue);
    return this.consume([queue.name], (d) => {
      void d.ack().catch(() => undefined);
      onMessage(d.raw);
    }, { prefetch: 0, onError: options.onError });
  }

  consumerDone(c: AmqpConsumer): void {
    // cancelled: its channel stays open until close() so held deliveries can still be acked
    void c;
  }

  // ---- queues --------------------------------------------------------------------------------------

  async queueLength(queue: string): Promise<number> {
    const ch = await this.channelFor<Channel>('decl');
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } catch (err) {
      throw new BrokerError(`queue ${JSON.stringify(queue)} on ${this.safeUrl}: ${(err as Error).message}`, { cause: err });
    }
  }

  async purge(queue: string): Promise<number> {
    const ch = await this.channelFor<Channel>('decl');
    try {
      return (await ch.purgeQueue(queue)).messageCount;
    } catch (err) {
      throw new BrokerError(`purging ${JSON.stringify(queue)} on ${this.safeUrl}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * `celery list bindings` on RabbitMQ: AMQP cannot list bindings, so (as kombu through pyrabbit) this
   * asks the management API of the broker connected last (see management.ts); a
   * `ManagementUnavailableError` when it cannot.
   */
  async listBindings(exchanges?: readonly string[]): Promise<BindingRow[]> {
    const ep = this.endpoints[this.endpointIndex]!;
    return managementBindings(managementTarget(ep, this.managerOptions, this.connectSettings.connectTimeout * 1000 + 5000), exchanges);
  }

  /** Cancels consumers, closes their channels (RabbitMQ requeues unacked deliveries), disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.consumers) await c.cancel().catch(() => undefined);
    for (const c of this.consumers) await c.close();
    this.consumers.clear();
    const conn = this.conn ?? (await this.connecting?.catch(() => null)) ?? null;
    this.conn = null;
    if (conn) await conn.close().catch(() => undefined);
  }
}
