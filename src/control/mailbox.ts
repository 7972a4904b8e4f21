/**
 * The caller's side of kombu's process mailbox (`kombu/pidbox.py:Mailbox` as `celery/app/control.py`
 * configures it): a request goes to the `<control_exchange>.pidbox` fanout exchange with `clock` and
 * `expires` headers (`Mailbox._publish`); when replies are wanted it carries a `ticket` and `reply_to`
 * = the `reply.<ns>.pidbox` direct exchange with this mailbox's oid as routing key, and the replies
 * (`{hostname: reply}` each) are collected from `<oid>.reply.<ns>.pidbox` (`Mailbox._collect`):
 * until `limit` replies came (the number of destinations when they are named) or none came for
 * `timeout` seconds, which is how kombu's `drain_events(timeout=timeout)` loop ends.
 *
 * One reply queue per mailbox (kombu's oid is per process and thread too); calls running at the same
 * time share its consumer and take their replies by ticket.
 */
import { randomUUID } from 'node:crypto';
import { dumps, loads } from '../../protocol/serialization/index.ts';
import type { RawMessage } from '../../protocol/types.ts';
import type { PyDict } from '../../protocol/values.ts';
import type { Broker, Consumer, QueueDeclaration } from '../broker.ts';
import { UnroutableError } from '../brokers/errors.ts';
import { ConfigurationError } from '../errors.ts';
import { encodeJsonWithFloats, parseJsonWithFloats, plainNumbers, type FloatValue } from './float.ts';

/** The settings remote control reads (Celery's `control_*`, `accept_content`, `task_serializer`). */
export interface ControlSettings {
  /** `control_exchange` @default 'celery' */
  controlExchange: string;
  /** `control_queue_ttl` (s): `x-message-ttl` of the reply queue. @default 300 */
  controlQueueTtl?: number | null;
  /** `control_queue_expires` (s): `x-expires` of the reply queue. @default 10 */
  controlQueueExpires?: number | null;
  controlQueueDurable?: boolean;
  controlQueueExclusive?: boolean;
  /** Content types replies may have. @default ['json'] */
  acceptContent?: readonly string[];
  /** How requests are serialized. @default 'json' */
  taskSerializer?: string;
}

/** kombu's `LamportClock` as the mailbox uses it: `forward()` per request, `adjust()` per reply. */
export interface Clock {
  forward(): number;
  adjust(other: number): number;
}

/** `Control.broadcast`'s keyword arguments. */
export interface BroadcastOptions {
  /** Node names to address (`celery@host`); every node when null or empty. */
  destination?: string[] | null;
  /** Wait for and return the replies. @default false */
  reply?: boolean;
  /** Seconds to wait for a reply (kombu waits this long for each next one). @default 1 */
  timeout?: number;
  /** Stop after this many replies. @default the number of destinations, else no limit */
  limit?: number | null;
  /** Called with each reply (`{hostname: reply}`) as it arrives. */
  callback?: ((reply: PyDict) => void) | null;
  /** Address the nodes whose name matches (sent with `matcher` only, as Celery does). */
  pattern?: string | null;
  /** `glob` or `pcre`. */
  matcher?: string | null;
}

/** How requests are written and replies read; the CLI keeps Python floats with {@link encodeJsonWithFloats}. */
export interface MailboxCodec {
  encode(body: FloatValue, serializer: string): { body: Uint8Array; contentType: string; contentEncoding: string };
  decode(raw: RawMessage, accept: readonly string[]): unknown;
}

export const defaultCodec: MailboxCodec = {
  encode(body, serializer) {
    if (serializer === 'json') return { body: encodeJsonWithFloats(body), contentType: 'application/json', contentEncoding: 'utf-8' };
    return dumps(plainNumbers(body), serializer);
  },
  decode(raw, accept) {
    return loads(raw.body, raw.contentType ?? '', raw.contentEncoding ?? '', accept);
  },
};

/** How long the reply consumer waits for the next call after the last one ended (ms). */
const LINGER_MS = 2000;

/** {@link defaultCodec}, except that JSON replies keep Python's integral floats as {@link PyFloat} (what the CLI prints). */
export const floatCodec: MailboxCodec = {
  encode: defaultCodec.encode,
  decode(raw, accept) {
    if ((raw.contentType ?? '') !== 'application/json') return defaultCodec.decode(raw, accept);
    loads(new Uint8Array(0), raw.contentType ?? '', raw.contentEncoding ?? '', accept); // accept_content check
    return parseJsonWithFloats(new TextDecoder('utf-8', { fatal: true }).decode(raw.body));
  },
};

/** kombu's `x-expires` / `x-message-ttl` queue arguments of a pidbox queue, in ms. */
export function queueArguments(expires: number | null | undefined, ttl: number | null | undefined): Record<string, unknown> | undefined {
  const a: Record<string, unknown> = {};
  if (expires) a['x-expires'] = Math.trunc(expires * 1000); // kombu's maybe_s_to_ms
  if (ttl) a['x-message-ttl'] = Math.trunc(ttl * 1000);
  return Object.keys(a).length ? a : undefined;
}

/** `Mailbox.reply_queue`: `<oid>.reply.<ns>.pidbox` on the `reply.<ns>.pidbox` direct exchange, routing key = oid. */
export function replyQueueFor(conf: ControlSettings, oid: string): QueueDeclaration {
  const ns = conf.controlExchange;
  const durable = conf.controlQueueDurable ?? false;
  return {
    name: `${oid}.reply.${ns}.pidbox`,
    exchange: { name: `reply.${ns}.pidbox`, type: 'direct', durable: false, autoDelete: false },
    routingKey: oid,
    durable,
    exclusive: conf.controlQueueExclusive ?? false,
    autoDelete: !durable,
    arguments: queueArguments(conf.controlQueueExpires === undefined ? 10 : conf.controlQueueExpires, conf.controlQueueTtl === undefined ? 300 : conf.controlQueueTtl),
  };
}

/** kombu's `_broadcast` argument checks. */
function checkOptions(o: BroadcastOptions): void {
  if (o.destination !== undefined && o.destination !== null && !Array.isArray(o.destination)) {
    throw new TypeError(`destination must be a list of node names, not ${typeof o.destination} (${JSON.stringify(o.destination)})`);
  }
  if (o.timeout !== undefined && !(typeof o.timeout === 'number' && o.timeout >= 0)) throw new TypeError(`timeout must be seconds >= 0, got ${String(o.timeout)}`);
}

interface Pending {
  onReply(body: PyDict): void;
}

export class Mailbox {
  /** This mailbox's reply routing key (kombu's `oid`). */
  readonly oid = randomUUID();
  private readonly pending = new Map<string, Pending>();
  private consumer: Consumer | null = null;
  /** The reply queue the consumer reads, and where it was declared. */
  private replyQueue: { broker: Broker; queue: QueueDeclaration } | null = null;
  private users = 0;
  private lingering: NodeJS.Timeout | undefined;
  /** acquire/release of the reply consumer, one after the other. */
  private lifecycle: Promise<unknown> = Promise.resolve();
  private exchangeDeclared = false;

  constructor(
    private readonly broker: () => Promise<Broker>,
    private readonly settings: () => ControlSettings,
    private readonly clock: Clock,
    private readonly codec: MailboxCodec = defaultCodec,
  ) {}

  /**
   * `Mailbox._broadcast(command, arguments, destination, reply, timeout, limit, callback, pattern,
   * matcher)`: the replies (each `{hostname: reply}`) when `reply` is set, else undefined.
   */
  async broadcast(command: string, args: FloatValue = {}, options: BroadcastOptions = {}): Promise<PyDict[] | undefined> {
    checkOptions(options);
    const conf = this.settings();
    if (conf.controlQueueDurable && conf.controlQueueExclusive) {
      throw new ConfigurationError('control_queue_durable and control_queue_exclusive cannot both be True (exclusive queues are automatically deleted and cannot be durable).');
    }
    const destination = options.destination ?? null;
    const timeout = options.timeout ?? 1;
    const broker = await this.broker();
    if (!options.reply) {
      await this.publish(broker, conf, command, args, destination, timeout, options, null);
      return undefined;
    }
    const limit = options.limit ?? (destination && destination.length ? destination.length : null);
    const ticket = randomUUID();
    const replies: PyDict[] = [];
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let timer: NodeJS.Timeout | undefined;
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, timeout * 1000);
    };
    let callbackError: unknown = null;
    this.pending.set(ticket, {
      onReply: (body) => {
        replies.push(body);
        try {
          options.callback?.(body);
        } catch (err) {
          callbackError ??= err;
          finish();
        }
        if (limit !== null && replies.length >= limit) finish();
        else idle();
      },
    });
    let acquired = false;
    try {
      await this.acquire(broker, conf);
      acquired = true;
      const sent = await this.publish(broker, conf, command, args, destination, timeout, options, ticket);
      if (sent) {
        if (limit === null || replies.length < limit) idle();
        await finished;
      }
    } finally {
      clearTimeout(timer);
      this.pending.delete(ticket);
      if (acquired) this.release(broker, conf);
    }
    if (callbackError) throw callbackError;
    return replies;
  }

  /** `Mailbox._publish`. False when no node's queue is bound (RabbitMQ returned the request). */
  private async publish(broker: Broker, conf: ControlSettings, command: string, args: FloatValue, destination: string[] | null,
    timeout: number, options: BroadcastOptions, ticket: string | null): Promise<boolean> {
    const ns = conf.controlExchange;
    const exchange = `${ns}.pidbox`;
    const body: { [k: string]: FloatValue } = { method: command, arguments: args, destination, pattern: null, matcher: null };
    if (options.pattern && options.matcher) {
      body.pattern = options.pattern;
      body.matcher = options.matcher;
    }
    if (ticket) {
      body.ticket = ticket;
      body.reply_to = { exchange: `reply.${ns}.pidbox`, routing_key: this.oid };
    }
    const encoded = this.codec.encode(body, conf.taskSerializer ?? 'json');
    const raw: RawMessage = {
      body: encoded.body,
      contentType: encoded.contentType,
      contentEncoding: encoded.contentEncoding,
      headers: { clock: this.clock.forward(), expires: timeout ? Date.now() / 1000 + timeout : 0 },
      properties: { delivery_mode: 2, priority: 0 },
      deliveryInfo: { exchange, routing_key: '' },
    };
    if (!this.exchangeDeclared && broker.declareExchange) {
      await broker.declareExchange({ name: exchange, type: 'fanout', durable: false, autoDelete: false });
      this.exchangeDeclared = true;
    }
    try {
      await broker.publish(raw, { exchange, routingKey: '', exchangeType: 'fanout' });
    } catch (err) {
      if (err instanceof UnroutableError) return false; // no node listens: nothing will reply
      throw err;
    }
    return true;
  }

  /** One reply from the queue: to the call waiting for its ticket (kombu's `_collect.on_message`). */
  private onMessage(raw: RawMessage, accept: readonly string[]): void {
    const h = raw.headers;
    const clock = h.clock;
    this.clock.adjust(typeof clock === 'number' && Number.isFinite(clock) ? clock : 0);
    const expires = h.expires;
    if (typeof expires === 'number' && expires && Date.now() / 1000 > expires) return;
    let body: unknown;
    try {
      body = this.codec.decode(raw, accept);
    } catch {
      return; // kombu's consumer rejects what it cannot decode; nobody waits for it
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return;
    const ticket = typeof h.ticket === 'string' ? h.ticket : null;
    const target = ticket === null ? (this.pending.size === 1 ? [...this.pending.values()][0] : undefined) : this.pending.get(ticket);
    target?.onReply(body as PyDict);
  }

  /** Declares the reply queue and starts its consumer, unless a call in flight or just done has it. */
  private acquire(broker: Broker, conf: ControlSettings): Promise<void> {
    clearTimeout(this.lingering);
    this.lingering = undefined;
    const step = this.lifecycle.then(async () => {
      this.users++;
      if (this.consumer) return;
      const q = replyQueueFor(conf, this.oid);
      this.replyQueue = { broker, queue: q };
      try {
        await broker.declareQueue(q);
        const accept = conf.acceptContent ?? ['json'];
        this.consumer = broker.consume([q.name], (d) => {
          void d.ack().catch(() => undefined);
          this.onMessage(d.raw, accept);
        }, { prefetch: 0 });
      } catch (err) {
        this.users--;
        throw err;
      }
    });
    this.lifecycle = step.catch(() => undefined);
    return step;
  }

  /**
   * After the last call in flight, the consumer stays {@link LINGER_MS} for the next call (a script
   * asking several things in a row), then stops: late replies are dropped with the queue's content,
   * and RabbitMQ deletes the auto-delete queue.
   */
  private release(broker: Broker, conf: ControlSettings): void {
    if (--this.users > 0) return;
    clearTimeout(this.lingering);
    this.lingering = setTimeout(() => void this.stop(broker, conf), LINGER_MS);
    this.lingering.unref();
  }

  private stop(broker: Broker, conf: ControlSettings): Promise<void> {
    this.lingering = undefined;
    const step = this.lifecycle.then(async () => {
      if (this.users > 0 || !this.consumer) return;
      const c = this.consumer;
      this.consumer = null;
      await this.dropReplyQueue(c);
    });
    this.lifecycle = step.catch(() => undefined);
    return step;
  }

  /** Stops the reply consumer now (the app's broker stops it too when it closes). */
  async close(): Promise<void> {
    clearTimeout(this.lingering);
    this.lingering = undefined;
    const c = this.consumer;
    this.consumer = null;
    if (c) await this.dropReplyQueue(c);
  }

  /**
   * Stops the reply consumer, and the queue goes as kombu's `after_reply_message_received` has it: on
   * Redis (`deleteQueue`) its binding and list, which would otherwise pile up in
   * `_kombu.binding.reply.<ns>.pidbox`; elsewhere it is purged while the consumer still holds it
   * (RabbitMQ deletes the auto-delete queue when the consumer leaves; purging it after would be a
   * 404 channel error). Late replies go with it.
   */
  private async dropReplyQueue(c: Consumer): Promise<void> {
    const r = this.replyQueue;
    this.replyQueue = null;
    if (r && !r.broker.deleteQueue) await r.broker.purge(r.queue.name).catch(() => undefined);
    await c.cancel().catch(() => undefined);
    if (r?.broker.deleteQueue) await r.broker.deleteQueue(r.queue).catch(() => undefined);
  }
}
