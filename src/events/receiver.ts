/**
 * Capturing events (`celery/events/receiver.py:EventReceiver`), so a TypeScript app can monitor a fleet:
 *
 *   const recv = app.events.receiver({ handlers: { 'task-failed': (e) => alert(e), '*': (e) => log(e) } });
 *   await recv.start();
 *   for await (const e of recv) ...          // or only handlers
 *   await recv.stop();
 *
 * The queue is Python's: `<event_queue_prefix>.<uuid>` bound to `celeryev` with `routingKey` (`#`),
 * auto-deleted, `x-expires` / `x-message-ttl` from `event_queue_expires` / `event_queue_ttl` (AMQP); on
 * Redis kombu's PSUBSCRIBE on `/<db>.celeryev/*` (`#` → `*`). Each event goes through
 * `event_from_message` (Lamport clock, localized timestamp, `local_received`); a `task.multi` batch
 * yields its events one by one. With `wakeup` (default, as Celery) a `heartbeat` broadcast asks every
 * worker for a heartbeat now.
 */
import { randomUUID } from 'node:crypto';
import { decodeEventMessage, eventExchangeType, receiveEvent, type CeleryEvent } from '../../protocol/events.ts';
import type { RawMessage } from '../../protocol/types.ts';
import type { Celery } from '../app.ts';
import type { Consumer, QueueDeclaration } from '../broker.ts';
import { transportOf } from './transport.ts';

export type EventHandler = (event: CeleryEvent) => void;

export interface EventReceiverOptions {
  /** By event type; `'*'` gets the events no other handler takes. */
  handlers?: Record<string, EventHandler>;
  /** Binding key: `#` all, `task.#` task events only, `worker.heartbeat`... @default '#' */
  routingKey?: string;
  /** @default a uuid4 */
  nodeId?: string;
  /** @default event_queue_prefix */
  queuePrefix?: string;
  /** Seconds; @default event_queue_ttl */
  queueTtl?: number | null;
  /** Seconds; @default event_queue_expires */
  queueExpires?: number | null;
  queueExclusive?: boolean;
  queueDurable?: boolean;
  /** @default [event_serializer, 'json'] */
  accept?: string[];
  /** Broadcast `heartbeat` once consuming. @default true */
  wakeup?: boolean;
  /** Undecodable messages, broker problems. @default console.error */
  onError?: (err: Error) => void;
}

/** kombu `maybe_s_to_ms` for `x-expires` / `x-message-ttl`, in kombu's order. */
function queueArguments(expires: number | null, ttl: number | null): Record<string, unknown> | undefined {
  const a: Record<string, unknown> = {};
  if (expires) a['x-expires'] = Math.trunc(expires * 1000);
  if (ttl) a['x-message-ttl'] = Math.trunc(ttl * 1000);
  return Object.keys(a).length ? a : undefined;
}

export class EventReceiver implements AsyncIterable<CeleryEvent> {
  readonly queue: QueueDeclaration;
  readonly handlers: Record<string, EventHandler>;
  private readonly accept: string[];
  private consumer: Consumer | null = null;
  private readonly waiting: ((r: IteratorResult<CeleryEvent>) => void)[] = [];
  private readonly backlog: CeleryEvent[] = [];
  private iterating = false;
  private stopped = false;

  constructor(private readonly app: Celery, private readonly options: EventReceiverOptions = {}) {
    const c = app.conf;
    const durable = options.queueDurable ?? c.eventQueueDurable;
    const exclusive = options.queueExclusive ?? c.eventQueueExclusive;
    if (durable && exclusive) throw new Error('Queue cannot be both exclusive and durable, choose one or the other.');
    this.handlers = options.handlers ?? {};
    this.accept = options.accept ?? [...new Set([c.eventSerializer, 'json'])];
    this.queue = {
      name: `${options.queuePrefix ?? c.eventQueuePrefix}.${options.nodeId ?? randomUUID()}`,
      exchange: { name: c.eventExchange, type: eventExchangeType(transportOf(c.brokerUrl)), durable: true, autoDelete: false },
      routingKey: options.routingKey ?? '#',
      durable,
      exclusive,
      autoDelete: !durable,
      arguments: queueArguments(options.queueExpires !== undefined ? options.queueExpires : c.eventQueueExpires, options.queueTtl !== undefined ? options.queueTtl : c.eventQueueTtl),
    };
  }

  private report(err: Error): void {
    (this.options.onError ?? ((e: Error) => console.error(`[celeriac] event receiver: ${e.message}`)))(err);
  }

  /** Declares / subscribes; resolves once events are being received. */
  async start(): Promise<void> {
    if (this.consumer) return;
    const broker = this.app.broker;
    if (!broker.consumeFanout) throw new Error(`the transport of ${broker.safeUrl} cannot consume events`);
    await broker.connect();
    this.consumer = await broker.consumeFanout(this.queue, (raw) => this.receive(raw), { onError: (e) => this.report(e) });
    if (this.options.wakeup !== false) {
      await this.app.control.broadcast('heartbeat').catch((err: Error) => this.report(new Error(`wakeup (heartbeat broadcast) failed: ${err.message}`, { cause: err })));
    }
  }

  /** Stops consuming (the queue goes away with it); a pending iteration ends. */
  async stop(): Promise<void> {
    this.stopped = true;
    const c = this.consumer;
    this.consumer = null;
    await c?.cancel();
    for (const w of this.waiting.splice(0)) w({ value: undefined, done: true });
  }

  private receive(raw: RawMessage): void {
    let events: CeleryEvent[];
    try {
      events = decodeEventMessage(raw, this.accept);
    } catch (err) {
      this.report(new Error(`an event message could not be decoded (dropped): ${(err as Error).message}`, { cause: err }));
      return;
    }
    for (const e of events) this.process(receiveEvent(e, this.app.clock));
  }

  /** `EventReceiver.process`: the type's handler, else `'*'`; then any iterator. */
  private process(e: CeleryEvent): void {
    const handler = this.handlers[e.type] ?? this.handlers['*'];
    if (handler) {
      try {
        handler(e);
      } catch (err) {
        this.report(new Error(`the handler of ${e.type} threw: ${(err as Error).message}`, { cause: err }));
      }
    }
    if (!this.iterating) return;
    const w = this.waiting.shift();
    if (w) w({ value: e, done: false });
    else this.backlog.push(e);
  }

  /** The next event, or null when stopped or after `ms`. */
  private nextEvent(ms = Infinity): Promise<CeleryEvent | null> {
    this.iterating = true;
    const e = this.backlog.shift();
    if (e) return Promise.resolve(e);
    if (this.stopped || ms <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = (r: IteratorResult<CeleryEvent>) => {
        clearTimeout(timer);
        resolve(r.done ? null : r.value);
      };
      this.waiting.push(waiter);
      if (ms !== Infinity) {
        timer = setTimeout(() => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve(null);
        }, Math.min(ms, 2 ** 31 - 1));
      }
    });
  }

  /** The events, as they arrive (after the handlers); ends at stop(). */
  [Symbol.asyncIterator](): AsyncIterator<CeleryEvent> {
    this.iterating = true;
    return {
      next: async () => {
        const e = await this.nextEvent();
        return e ? { value: e, done: false } : { value: undefined, done: true };
      },
      return: async () => {
        await this.stop();
        return { value: undefined, done: true };
      },
    };
  }

  /** `capture(limit, timeout)`: the next `limit` events (or those that came within `timeout` seconds). */
  async capture(o: { limit?: number; timeout?: number } = {}): Promise<CeleryEvent[]> {
    const out: CeleryEvent[] = [];
    this.iterating = true;
    await this.start();
    const deadline = o.timeout !== undefined ? Date.now() + o.timeout * 1000 : Infinity;
    while (o.limit === undefined || out.length < o.limit) {
      const e = await this.nextEvent(deadline - Date.now());
      if (!e) break;
      out.push(e);
    }
    return out;
  }
}
